package training

import (
	"context"
	"testing"

	"github.com/polecam/polecam/training/synth"
)

// TestALSBeatsPopularity is the product requirement: on held-out items of a
// synthetic shop log, iALS must rank clearly better than popularity.
func TestALSBeatsPopularity(t *testing.T) {
	x := syntheticInteractions(t, synth.Options{Users: 2000, Items: 1000, Events: 150000, Seed: 7})
	train, test := SplitRandom(x, 0.2, 7)
	t.Logf("users %d, items %d, nnz %d (train %d, test %d)", x.NumUsers(), x.NumItems(), x.NNZ(), train.NNZ(), test.NNZ())

	opts := DefaultALSOptions()
	opts.Factors = 32
	opts.Iterations = 10
	f, err := TrainALS(context.Background(), train, opts, nil)
	if err != nil {
		t.Fatalf("TrainALS: %v", err)
	}
	const k = 10
	recallALS := RecallAtK(train, test, k, f.Scores)
	pop := Popularity(train)
	recallPop := RecallAtK(train, test, k, func(_ int32, dst []float32) { copy(dst, pop) })
	t.Logf("recall@%d: als %.4f, popularity %.4f (ratio %.2f)", k, recallALS, recallPop, recallALS/recallPop)
	if recallALS < 1.3*recallPop {
		t.Errorf("recall@%d: als %.4f < 1.3 × popularity %.4f", k, recallALS, recallPop)
	}
}
