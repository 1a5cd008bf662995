package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/polecam/polecam/training"
	"github.com/polecam/polecam/training/synth"
)

// TestScaledDefaultsSweep measures candidate recipes on validation splits
// carved from training parts only, to choose the constants of
// ScaledDefaults (benchmarks/quality.md, "Data-scaled defaults"). It runs
// only with POLECAM_SWEEP=1: it trains dozens of models.
//
// Data sets: the quick start's synthetic log and a sparse synthetic shop
// log (their last day is set aside as a test part never read here; the
// validation part is the two days before it), and MovieLens-100K's
// training part of the stratified split of seed 42 (test ratio 0.25),
// from which a stratified validation part of 0.15 is carved with seed 1.
func TestScaledDefaultsSweep(t *testing.T) {
	if os.Getenv("POLECAM_SWEEP") == "" {
		t.Skip("set POLECAM_SWEEP=1 to run the defaults sweep")
	}
	ctx := context.Background()
	type dataset struct {
		name     string
		fit, val *training.Interactions
	}
	var sets []dataset
	for _, g := range []struct {
		name                 string
		users, items, events int
	}{
		{"synth-quickstart", 5000, 2000, 300000},
		{"synth-sparse", 20000, 4000, 120000},
	} {
		path := filepath.Join(t.TempDir(), "events.csv")
		gen := synth.DefaultOptions()
		gen.Users, gen.Items, gen.Events = g.users, g.items, g.events
		if err := synth.GenerateFile(path, gen); err != nil {
			t.Fatal(err)
		}
		trainPart := dropLastDay(t, path)
		fit, val, _, err := IngestSplit(ctx, options(t, "", trainPart), SplitOptions{Kind: SplitTime, Holdout: 48 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		sets = append(sets, dataset{g.name, fit, val})
	}
	if dir := ml100kDir(); dir == "" {
		t.Log("MovieLens-100K not found (POLECAM_ML100K): sweeping the synthetic logs only")
	} else {
		o := options(t, t.TempDir(), filepath.Join(dir, "u.data"))
		o.Log.Format = "movielens"
		train, _, _, err := IngestSplit(ctx, o, SplitOptions{Kind: SplitStratifiedItem, TestRatio: 0.25, Seed: 42})
		if err != nil {
			t.Fatal(err)
		}
		fit, val, err := training.SplitStratifiedItem(train, 0.15, 1)
		if err != nil {
			t.Fatal(err)
		}
		sets = append(sets, dataset{"ml-100k-seed42-train", fit, val})
	}
	for _, d := range sets {
		x := d.fit
		t.Logf("%s: fit %d users, %d items, %d interactions (%.1f per user, %.1f per item); validation %d",
			d.name, x.NumUsers(), x.NumItems(), x.NNZ(), float64(x.NNZ())/float64(x.NumUsers()), float64(x.NNZ())/float64(x.NumItems()), d.val.NNZ())
		pop := training.Popularity(x)
		m := training.Evaluate(x, d.val, 10, func(_ int32, dst []float32) { copy(dst, pop) })
		t.Logf("%s popularity: ndcg@10 %.4f", d.name, m.NDCG)
		var eases []*training.ItemItem
		lambdas := []float64{}
		for _, scale := range []float64{0.5, 1, 2} {
			eo := DefaultEASEOptions()
			eo.Lambda = scaledEASELambda(x) * scale
			start := time.Now()
			ii, err := training.TrainEASE(ctx, x, eo)
			if err != nil {
				t.Fatal(err)
			}
			eases = append(eases, ii)
			lambdas = append(lambdas, eo.Lambda)
			m := training.Evaluate(x, d.val, 10, func(u int32, dst []float32) {
				seen, _ := x.UserRow(u)
				ii.Scores(seen, dst)
			})
			t.Logf("%s ease λ %.1f (%.1fs): ndcg@10 %.4f", d.name, eo.Lambda, time.Since(start).Seconds(), m.NDCG)
		}
		for _, factors := range []int{32, 64, 128, 256} {
			if factors > 64 && x.NNZ()/x.NumUsers() < 10 {
				continue // a sparse log: the small ones tell
			}
			ao := DefaultALSOptions()
			ao.Factors, ao.Iterations = factors, 15
			start := time.Now()
			f, err := training.TrainALS(ctx, x, ao, nil)
			if err != nil {
				t.Fatal(err)
			}
			el := time.Since(start)
			line := fmt.Sprintf("%s als %d factors (%.1fs):", d.name, factors, el.Seconds())
			for _, blend := range []float32{1, 0.8, 0.5, 0.3} {
				for e, ii := range eases {
					if blend == 1 && e > 0 {
						continue
					}
					m := training.Evaluate(x, d.val, 10, training.BlendScorer(x, f, ii, blend))
					line += fmt.Sprintf("  b%.1f/λ%.0f %.4f", blend, lambdas[e], m.NDCG)
				}
			}
			t.Log(line)
		}
	}
}

// ml100kDir returns the MovieLens-100K directory, or "" when it is absent.
func ml100kDir() string {
	dir := os.Getenv("POLECAM_ML100K")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "data", "ml-100k")
	}
	if _, err := os.Stat(filepath.Join(dir, "u.data")); err != nil {
		return ""
	}
	return dir
}

// dropLastDay writes the events of the CSV log at path older than one day
// before its newest event into a new file: the training part.
func dropLastDay(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var last time.Time
	times := make([]time.Time, len(lines))
	for k, l := range lines[1:] {
		ts, _, _ := strings.Cut(l, ",")
		tm, err := time.Parse(time.RFC3339, ts)
		if err != nil {
			t.Fatalf("line %d: %v", k+2, err)
		}
		times[k+1] = tm
		if tm.After(last) {
			last = tm
		}
	}
	cut := last.Add(-24 * time.Hour)
	var b strings.Builder
	b.WriteString(lines[0] + "\n")
	for k, l := range lines[1:] {
		if times[k+1].Before(cut) {
			b.WriteString(l + "\n")
		}
	}
	out := filepath.Join(t.TempDir(), "train.csv")
	if err := os.WriteFile(out, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}
