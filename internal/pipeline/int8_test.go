package pipeline

import (
	"context"
	"testing"

	"github.com/polecam/polecam/recommender"
	"github.com/polecam/polecam/store"
)

// TestTrainWritesInt8Items checks that the int8 item vectors are written
// when asked for, that the serving model takes them up, and that they are
// left out otherwise.
func TestTrainWritesInt8Items(t *testing.T) {
	logFile := sampleLog(t)
	for _, int8 := range []bool{true, false} {
		dataDir := t.TempDir()
		o := options(t, dataDir, logFile)
		o.Int8 = int8
		m, err := Train(context.Background(), o)
		if err != nil {
			t.Fatalf("Train(Int8=%v): %v", int8, err)
		}
		dir, err := store.OpenDir(dataDir)
		if err != nil {
			t.Fatal(err)
		}
		s, err := dir.Open(m.Version, store.DefaultOpenOptions())
		if err != nil {
			t.Fatalf("Open(%s): %v", m.Version, err)
		}
		if _, ok := s.File(recommender.Int8ItemsFile); ok != int8 {
			t.Errorf("Int8=%v: snapshot has %s = %v", int8, recommender.Int8ItemsFile, ok)
		}
		model, err := recommender.NewModel(s)
		if err != nil {
			s.Close()
			t.Fatalf("Int8=%v: NewModel: %v", int8, err)
		}
		if model.UsesInt8() != int8 {
			t.Errorf("Int8=%v: model UsesInt8() = %v", int8, model.UsesInt8())
		}
		if err := model.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}
