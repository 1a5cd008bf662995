package training

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/polecam/polecam/training/synth"
)

// smallLog is a small synthetic problem for numerical tests.
func smallLog(t testing.TB) *Interactions {
	return syntheticInteractions(t, synth.Options{Users: 300, Items: 150, Events: 8000, Seed: 3})
}

func smallOptions() ALSOptions {
	o := DefaultALSOptions()
	o.Factors = 16
	o.Iterations = 8
	o.Regularization = 20
	o.Workers = 2
	return o
}

func train(t *testing.T, x *Interactions, o ALSOptions) (*Factors, []float64) {
	t.Helper()
	var losses []float64
	f, err := TrainALS(context.Background(), x, o, func(s IterationStats) {
		if s.Iteration != len(losses)+1 {
			t.Errorf("progress iteration %d after %d calls", s.Iteration, len(losses))
		}
		losses = append(losses, s.Loss)
	})
	if err != nil {
		t.Fatalf("TrainALS(%+v): %v", o, err)
	}
	return f, losses
}

// topK returns user u's k best items not in train.
func topK(f *Factors, x *Interactions, u int32, k int) []int32 {
	scores := make([]float32, x.NumItems())
	f.Scores(u, scores)
	excluded := make([]bool, x.NumItems())
	items, _ := x.UserRow(u)
	for _, i := range items {
		excluded[i] = true
	}
	return topItems(nil, scores, excluded, k)
}

// TestALSConjugateGradientMatchesExact compares the conjugate-gradient solver
// with the exact Cholesky solve, both trained for 15 iterations from the same
// start. With as many CG steps as factors, CG solves each system up to float32
// rounding, so the models must agree closely: loss within 1e-4 relative and
// at least 9.9 of each user's top 10 items in common on average. With the
// default 3 warm-started steps the loss must be within 0.5% and the top 10
// share at least 8.5 items.
func TestALSConjugateGradientMatchesExact(t *testing.T) {
	x := smallLog(t)
	o := smallOptions()
	o.Iterations = 15
	o.CGSteps = 0
	exact, exactLoss := train(t, x, o)
	tests := []struct {
		cgSteps    int
		maxRelLoss float64
		minOverlap float64
	}{
		{cgSteps: o.Factors, maxRelLoss: 1e-4, minOverlap: 9.9},
		{cgSteps: 3, maxRelLoss: 0.005, minOverlap: 8.5},
	}
	for _, tt := range tests {
		o.CGSteps = tt.cgSteps
		cg, cgLoss := train(t, x, o)
		le, lc := exactLoss[len(exactLoss)-1], cgLoss[len(cgLoss)-1]
		rel := math.Abs(lc-le) / le
		var common, users int
		for u := range int32(x.NumUsers()) {
			if items, _ := x.UserRow(u); len(items) == 0 {
				continue
			}
			a, b := topK(exact, x, u, 10), topK(cg, x, u, 10)
			for _, i := range a {
				if slices.Contains(b, i) {
					common++
				}
			}
			users++
		}
		overlap := float64(common) / float64(users)
		t.Logf("cg %d steps: final loss %.6g vs exact %.6g (relative %.2g), top-10 overlap %.3f", tt.cgSteps, lc, le, rel, overlap)
		if rel > tt.maxRelLoss {
			t.Errorf("cg %d steps: final loss %.6g, exact %.6g, relative difference %.2g > %g", tt.cgSteps, lc, le, rel, tt.maxRelLoss)
		}
		if overlap < tt.minOverlap {
			t.Errorf("cg %d steps: top-10 overlap with exact %.3f items per user, want at least %g", tt.cgSteps, overlap, tt.minOverlap)
		}
	}
}

func TestALSDeterministicAcrossWorkers(t *testing.T) {
	x := smallLog(t)
	for _, cgSteps := range []int{0, 3} {
		var ref *Factors
		for _, workers := range []int{1, 2, 5} {
			o := smallOptions()
			o.CGSteps, o.Workers, o.Iterations = cgSteps, workers, 3
			f, err := TrainALS(context.Background(), x, o, nil)
			if err != nil {
				t.Fatalf("TrainALS(cg %d, workers %d): %v", cgSteps, workers, err)
			}
			if ref == nil {
				ref = f
				continue
			}
			if !slices.Equal(f.User, ref.User) || !slices.Equal(f.Item, ref.Item) {
				t.Errorf("cg %d: factors with %d workers differ from 1 worker", cgSteps, workers)
			}
		}
	}
}

func TestALSLossDecreases(t *testing.T) {
	x := smallLog(t)
	for _, tt := range []struct {
		cgSteps  int
		exponent float32
	}{{0, 0}, {3, 0}, {0, 1}, {3, 1}} {
		cgSteps := tt.cgSteps
		o := smallOptions()
		o.CGSteps, o.RegularizationExponent = cgSteps, tt.exponent
		_, losses := train(t, x, o)
		t.Logf("cg %d, exponent %g: losses %.6g", cgSteps, tt.exponent, losses)
		// Each exact half-step minimises the objective, so the loss can only
		// fall (up to float32 rounding, tolerance 1e-5 relative); CG steps
		// from a warm start also reduce it.
		for i := 1; i < len(losses); i++ {
			if losses[i] > losses[i-1]*(1+1e-5) {
				t.Errorf("cg %d: loss rose from %.6g to %.6g at iteration %d", cgSteps, losses[i-1], losses[i], i+1)
			}
		}
		if losses[len(losses)-1] > 0.9*losses[0] {
			t.Errorf("cg %d: loss fell only from %.6g to %.6g", cgSteps, losses[0], losses[len(losses)-1])
		}
	}
}

func TestALSEmptyRowsGetZeroVectors(t *testing.T) {
	b := NewBuilder()
	b.Add("u0", "a", 1)
	b.Add("u0", "b", 2)
	b.Add("u1", "a", 1)
	b.Add("ghost", "c", 0) // user ghost and item c end up with no interactions
	x := b.Build()
	o := smallOptions()
	o.Factors = 4
	for _, cgSteps := range []int{0, 3} {
		o.CGSteps = cgSteps
		f, err := TrainALS(context.Background(), x, o, nil)
		if err != nil {
			t.Fatalf("TrainALS: %v", err)
		}
		ghost, _ := x.UserIndex("ghost")
		c, _ := x.ItemIndex("c")
		if v := f.UserVector(ghost); slices.ContainsFunc(v, func(e float32) bool { return e != 0 }) {
			t.Errorf("cg %d: user without interactions has vector %v, want zero", cgSteps, v)
		}
		if v := f.ItemVector(c); slices.ContainsFunc(v, func(e float32) bool { return e != 0 }) {
			t.Errorf("cg %d: item without interactions has vector %v, want zero", cgSteps, v)
		}
		u0, _ := x.UserIndex("u0")
		if v := f.UserVector(u0); !slices.ContainsFunc(v, func(e float32) bool { return e != 0 }) {
			t.Errorf("cg %d: active user has a zero vector", cgSteps)
		}
	}
}

func TestALSCancel(t *testing.T) {
	x := smallLog(t)
	t.Run("before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := TrainALS(ctx, x, smallOptions(), nil); !errors.Is(err, context.Canceled) {
			t.Errorf("TrainALS(cancelled) = %v, want context.Canceled", err)
		}
	})
	t.Run("during", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		calls := 0
		_, err := TrainALS(ctx, x, smallOptions(), func(IterationStats) {
			calls++
			cancel()
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("TrainALS(cancelled after iteration 1) = %v, want context.Canceled", err)
		}
		if calls != 1 {
			t.Errorf("progress called %d times after cancelling, want 1", calls)
		}
	})
}

func TestALSOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*ALSOptions)
		wantErr string
	}{
		{"default", func(*ALSOptions) {}, ""},
		{"exact solve", func(o *ALSOptions) { o.CGSteps = 0 }, ""},
		{"no factors", func(o *ALSOptions) { o.Factors = 0 }, "factors 0"},
		{"no iterations", func(o *ALSOptions) { o.Iterations = 0 }, "iterations 0"},
		{"negative regularization", func(o *ALSOptions) { o.Regularization = -1 }, "regularization -1"},
		{"frequency-scaled penalty", func(o *ALSOptions) { o.RegularizationExponent = 1 }, ""},
		{"negative regularization exponent", func(o *ALSOptions) { o.RegularizationExponent = -0.5 }, "regularization exponent -0.5"},
		{"NaN alpha", func(o *ALSOptions) { o.Alpha = float32(math.NaN()) }, "alpha NaN"},
		{"negative cg steps", func(o *ALSOptions) { o.CGSteps = -1 }, "cg steps -1"},
		{"no workers", func(o *ALSOptions) { o.Workers = 0 }, "workers 0"},
		{"zero init scale", func(o *ALSOptions) { o.InitScale = 0 }, "init scale 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultALSOptions()
			tt.mutate(&o)
			err := o.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
			if tt.wantErr != "" {
				if _, err := TrainALS(context.Background(), build([]event{{"u", "a", 1}}), o, nil); err == nil {
					t.Errorf("TrainALS accepted invalid options %+v", o)
				}
			}
		})
	}
}

// TestALSRowPenalties checks λ_r = λ·(W_r/W̄)^ν on a hand-made matrix:
// W_r = N_other + α·Σw, W̄ the mean over rows with interactions, and
// rows without interactions left out of the mean.
func TestALSRowPenalties(t *testing.T) {
	// Three rows over an other side of 4: weights {1, 1}, {}, {3}.
	ptr := []int64{0, 2, 2, 3}
	w := []float32{1, 1, 3}
	o := DefaultALSOptions()
	o.Regularization, o.Alpha = 10, 2
	// W = 4+2·2 = 8, —, 4+2·3 = 10; mean 9.
	tests := []struct {
		exponent float32
		want     []float64
	}{
		{0, []float64{10, 10, 10}},
		{1, []float64{10 * 8.0 / 9, 10 * 4.0 / 9, 10 * 10.0 / 9}},
		{0.5, []float64{10 * math.Sqrt(8.0/9), 10 * math.Sqrt(4.0/9), 10 * math.Sqrt(10.0/9)}},
	}
	for _, tt := range tests {
		o.RegularizationExponent = tt.exponent
		got := rowPenalties(ptr, w, 4, o)
		for r, want := range tt.want {
			if r == 1 {
				continue // an empty row's penalty is never used
			}
			if math.Abs(float64(got[r])-want) > 1e-4 {
				t.Errorf("rowPenalties(exponent %g)[%d] = %v, want %v", tt.exponent, r, got[r], want)
			}
		}
	}
}
