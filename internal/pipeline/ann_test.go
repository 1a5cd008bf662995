package pipeline

import (
	"context"
	"testing"

	"github.com/polecam/polecam/recommender"
	"github.com/polecam/polecam/store"
)

// TestTrainWritesANNIndex checks that the ANN index is written for a
// catalogue of at least ANN.MinItems items, that the serving model takes
// it up, and that it is left out below the threshold or with MinItems 0.
func TestTrainWritesANNIndex(t *testing.T) {
	logFile := sampleLog(t) // 100 items
	tests := []struct {
		name     string
		minItems int
		want     bool
	}{
		{"above the threshold", 50, true},
		{"at every size", 1, true},
		{"below the threshold", 101, false},
		{"disabled", 0, false},
	}
	for _, tt := range tests {
		dataDir := t.TempDir()
		o := options(t, dataDir, logFile)
		o.ANN.MinItems = tt.minItems
		m, err := Train(context.Background(), o)
		if err != nil {
			t.Fatalf("%s: Train: %v", tt.name, err)
		}
		if m.Counts.Items < 50 || m.Counts.Items > 100 {
			t.Fatalf("%s: trained %d items, the test needs 50 to 100", tt.name, m.Counts.Items)
		}
		dir, err := store.OpenDir(dataDir)
		if err != nil {
			t.Fatal(err)
		}
		s, err := dir.Open(m.Version, store.DefaultOpenOptions())
		if err != nil {
			t.Fatalf("%s: Open(%s): %v", tt.name, m.Version, err)
		}
		if _, ok := s.File(recommender.ANNIndexFile); ok != tt.want {
			t.Errorf("%s: snapshot has %s = %v, want %v", tt.name, recommender.ANNIndexFile, ok, tt.want)
		}
		model, err := recommender.NewModel(s)
		if err != nil {
			s.Close()
			t.Fatalf("%s: NewModel: %v", tt.name, err)
		}
		if model.UsesANN() != tt.want {
			t.Errorf("%s: model UsesANN() = %v, want %v", tt.name, model.UsesANN(), tt.want)
		}
		if err := model.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

func TestANNOptionsValidate(t *testing.T) {
	bad := DefaultANNOptions()
	bad.Index.M = 1
	tests := []struct {
		name string
		o    ANNOptions
		ok   bool
	}{
		{"default", DefaultANNOptions(), true},
		{"disabled, index options unset", ANNOptions{}, true},
		{"negative min items", ANNOptions{MinItems: -1}, false},
		{"bad index options", bad, false},
	}
	for _, tt := range tests {
		if err := tt.o.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}
