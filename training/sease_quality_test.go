package training

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/polecam/polecam/internal/testenv"
)

// readML100K reads MovieLens-100K's u.data, every rating an interaction of
// weight 1, as benchmarks/quality.md does.
func readML100K(t *testing.T) *Interactions {
	t.Helper()
	path := testenv.ML100KRatings(t)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := NewBuilder()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 4 {
			t.Fatalf("%s: line %q, want 4 fields", path, sc.Text())
		}
		b.Add(fs[0], fs[1], 1)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return b.Build()
}

// TestSparseEASEQuality measures how far sparse EASE's item-only nDCG@10
// is from exact EASE's on MovieLens-100K for several K, on validation
// only: for each seed 42..46 the training part of the stratified test
// split is split again (same ratio, same seed) and the test part is never
// read. λ is chosen for exact EASE on the mean validation nDCG over a small
// grid and used for both. Run with POLECAM_SEASE_QUALITY=1 (a few minutes).
func TestSparseEASEQuality(t *testing.T) {
	if os.Getenv("POLECAM_SEASE_QUALITY") != "1" {
		t.Skip("set POLECAM_SEASE_QUALITY=1 to compare sparse and exact EASE on MovieLens-100K")
	}
	x := readML100K(t)
	type split struct{ fit, val *Interactions }
	var splits []split
	for seed := int64(42); seed <= 46; seed++ {
		train, _, err := SplitStratifiedItem(x, 0.25, seed)
		if err != nil {
			t.Fatal(err)
		}
		fit, val, err := SplitStratifiedItem(train, 0.25, seed)
		if err != nil {
			t.Fatal(err)
		}
		splits = append(splits, split{fit, val})
	}
	ctx := context.Background()
	const k = 10
	ndcg := func(s split, m ItemScorer) float64 {
		return Evaluate(s.fit, s.val, k, func(u int32, dst []float32) {
			items, _ := s.fit.UserRow(u)
			m.Scores(items, dst)
		}).NDCG
	}
	base := DefaultEASEOptions()
	var best float64
	var exact []float64
	for _, lambda := range []float64{100, 200, 300, 400, 566, 800} {
		o := base
		o.Lambda = lambda
		var per []float64
		mean := 0.0
		for _, s := range splits {
			m, err := TrainEASE(ctx, s.fit, o)
			if err != nil {
				t.Fatal(err)
			}
			v := ndcg(s, m)
			per = append(per, v)
			mean += v / float64(len(splits))
		}
		t.Logf("exact EASE λ %g ρ %g: validation nDCG@%d mean %.4f %v", lambda, o.DiagonalScale, k, mean, fmtFloats(per))
		if mean > best {
			best, exact, base.Lambda = mean, per, lambda
		}
	}
	t.Logf("λ %g chosen: exact EASE validation nDCG@%d mean %.4f", base.Lambda, k, best)
	for _, nb := range []int{64, 128, 256, 512} {
		o := base
		o.Neighbors = nb
		var rel []float64
		mean, worst, beyond := 0.0, 0.0, 0
		var took time.Duration
		for f, s := range splits {
			start := time.Now()
			m, err := TrainSparseEASE(ctx, s.fit, o)
			if err != nil {
				t.Fatal(err)
			}
			took += time.Since(start)
			r := (ndcg(s, m) - exact[f]) / exact[f]
			rel = append(rel, 100*r)
			mean += 100 * r / float64(len(splits))
			worst = min(worst, 100*r)
			if r < -0.02 {
				beyond++
			}
		}
		t.Logf("K %d: nDCG@%d vs exact, per split %%: %v; mean %+.2f %%, worst %+.2f %%, %d of %d beyond −2 %%; %.2f s per fit",
			nb, k, fmtFloats(rel), mean, worst, beyond, len(splits), took.Seconds()/float64(len(splits)))
	}
}

func fmtFloats(v []float64) string {
	s := make([]string, len(v))
	for i, f := range v {
		s[i] = fmt.Sprintf("%+.4f", f)
	}
	return "[" + strings.Join(s, " ") + "]"
}
