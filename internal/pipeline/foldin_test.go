package pipeline

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/polecam/polecam/recommender"
	"github.com/polecam/polecam/store"
	"github.com/polecam/polecam/training/synth"
)

// TestServedFoldInReproducesTrainedUsers trains the default recipe on a
// generated shop log and checks that answering every trained user from a
// vector folded in at request time from their trained items alone (as a
// visitor's session is) reproduces, on average, at least 90 % of the top
// 10 their trained vector gets.
func TestServedFoldInReproducesTrainedUsers(t *testing.T) {
	ctx := context.Background()
	logFile := filepath.Join(t.TempDir(), "events.csv")
	g := synth.DefaultOptions()
	g.Users, g.Items, g.Events, g.Seed = 1500, 600, 60000, 9
	if err := synth.GenerateFile(logFile, g); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	o := options(t, dataDir, logFile)
	o.ALS = DefaultOptions().ALS
	o.Gate.Disabled = true
	m, err := Train(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	open := func(foldUsers bool) *recommender.Model {
		dir, err := store.OpenDir(dataDir)
		if err != nil {
			t.Fatal(err)
		}
		s, err := dir.Open(m.Version, store.DefaultOpenOptions())
		if err != nil {
			t.Fatal(err)
		}
		opts := recommender.DefaultModelOptions()
		opts.FoldInUsers = foldUsers
		mod, err := recommender.NewModelWithOptions(s, opts)
		if err != nil {
			s.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() { mod.Close() })
		return mod
	}
	trained, folded := open(false), open(true)
	x, _, err := ingest(ctx, o, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	shared, total := 0, 0
	for u := range x.NumUsers() {
		req := recommender.RecommendRequest{UserID: x.Users[u], N: 10}
		a, err := trained.Recommend(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if a.Fallback {
			continue
		}
		b, err := folded.Recommend(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		in := map[string]bool{}
		for _, it := range a.Items {
			in[it.ID] = true
		}
		for _, it := range b.Items {
			if in[it.ID] {
				shared++
			}
		}
		total += len(a.Items)
	}
	overlap := float64(shared) / float64(total)
	t.Logf("folded-in top 10 shares %.3f of the trained vectors' top 10 over %d users", overlap, total/10)
	if overlap < 0.9 {
		t.Errorf("folded-in vectors reproduce %.3f of the trained top 10, want at least 0.90", overlap)
	}
}
