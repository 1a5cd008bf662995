package training

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/polecam/polecam/training/synth"
)

// tuneStart returns a small starting recipe: 8 factors, 3 iterations,
// EASE at λ 50 and blend 0.5.
func tuneStart() Recipe {
	als := DefaultALSOptions()
	als.Factors, als.Iterations, als.Workers = 8, 3, 2
	ease := DefaultEASEOptions()
	ease.Lambda = 50
	return Recipe{ALS: als, EASE: &ease, Blend: 0.5}
}

func TestTune(t *testing.T) {
	x := syntheticInteractions(t, synth.Options{Users: 300, Items: 120, Events: 8000, Seed: 5})
	opts := DefaultTuneOptions()
	opts.Folds = 2
	splits, err := StratifiedSplits(x, opts)
	if err != nil {
		t.Fatal(err)
	}
	fixed := TuneFixed{Factors: true, Iterations: true}
	var costs []TrialCost // what After was asked, in the deadline case
	fitNNZ := 0
	for _, s := range splits {
		fitNNZ += s.Fit.NNZ() / len(splits)
	}
	tests := []struct {
		name string
		// modify changes the default options of the test.
		modify      func(o *TuneOptions)
		start       func() Recipe
		wantStopped string
		// check looks at the result beyond what every case checks.
		check func(t *testing.T, r TuneResult)
	}{
		{
			name:        "whole grid",
			modify:      func(o *TuneOptions) { o.Fixed = fixed },
			start:       tuneStart,
			wantStopped: TuneStoppedGrid,
			check: func(t *testing.T, r TuneResult) {
				kinds := map[string]int{}
				for _, tr := range r.Trials {
					kinds[tr.Model]++
					if !strings.HasPrefix(tr.Params, "factors=8 iterations=3 ") {
						t.Errorf("trial %q moved a fixed parameter (factors 8, iterations 3)", tr.Params)
					}
				}
				if kinds["als"] < 10 || kinds["ease"] < 5 || kinds["blend"] < 5 {
					t.Errorf("trials by model = %v, want every group searched", kinds)
				}
			},
		},
		{
			name:        "a budget of 1ns measures the starting recipe only",
			modify:      func(o *TuneOptions) { o.TimeBudget = time.Nanosecond },
			start:       tuneStart,
			wantStopped: TuneStoppedTime,
			check: func(t *testing.T, r TuneResult) {
				if len(r.Trials) != 1 {
					t.Errorf("Tune ran %d trials, want 1", len(r.Trials))
				}
				if d := cmp.Diff(r.Start, r.Chosen); d != "" {
					t.Errorf("Tune chose another recipe than the start (-start +chosen):\n%s", d)
				}
			},
		},
		{
			name:        "count budget",
			modify:      func(o *TuneOptions) { o.Budget, o.Fixed = 3, fixed },
			start:       tuneStart,
			wantStopped: TuneStoppedCount,
			check: func(t *testing.T, r TuneResult) {
				n := 0
				for _, tr := range r.Trials {
					if tr.Model == "als" || tr.Model == "start" {
						n++
					}
				}
				if n != 3 {
					t.Errorf("Tune trained %d iALS configurations, want the budget 3", n)
				}
			},
		},
		{
			name: "factors only",
			modify: func(o *TuneOptions) {
				o.Budget, o.Fixed = 6, fixed
			},
			start: func() Recipe {
				r := tuneStart()
				r.EASE, r.Blend = nil, 0.5 // the blend is set to 1 without EASE
				return r
			},
			wantStopped: TuneStoppedCount,
			check: func(t *testing.T, r TuneResult) {
				if r.Chosen.EASE != nil || r.Chosen.Blend != 1 || r.Start.Blend != 1 {
					t.Errorf("Tune without EASE chose %s from %s; want factors only", r.Chosen, r.Start)
				}
			},
		},
		{
			name: "switch from EASE to RP3beta",
			modify: func(o *TuneOptions) {
				o.Fixed, o.Switch.RP3 = fixed, new(DefaultRP3Options())
			},
			start:       tuneStart,
			wantStopped: TuneStoppedGrid,
			check: func(t *testing.T, r TuneResult) {
				kinds := trialKinds(r)
				if kinds["ease"] < 5 || kinds["rp3"] < 10 || kinds["als"] < 10 {
					t.Errorf("trials by model = %v, want EASE, RP3beta and iALS searched", kinds)
				}
			},
		},
		{
			name: "switch from RP3beta to EASE",
			modify: func(o *TuneOptions) {
				o.Fixed, o.Switch.EASE = fixed, tuneStart().EASE
			},
			start: func() Recipe {
				r := tuneStart()
				r.EASE, r.RP3 = nil, new(DefaultRP3Options())
				return r
			},
			wantStopped: TuneStoppedGrid,
			check: func(t *testing.T, r TuneResult) {
				kinds := trialKinds(r)
				if kinds["ease"] < 5 || kinds["rp3"] < 10 {
					t.Errorf("trials by model = %v, want both item-item models searched", kinds)
				}
			},
		},
		{
			name: "item model fixed: no switch",
			modify: func(o *TuneOptions) {
				o.Fixed, o.Switch.RP3 = fixed, new(DefaultRP3Options())
				o.Fixed.ItemModel = true
			},
			start:       tuneStart,
			wantStopped: TuneStoppedGrid,
			check: func(t *testing.T, r TuneResult) {
				if kinds := trialKinds(r); kinds["rp3"] != 0 || r.Chosen.RP3 != nil {
					t.Errorf("trials by model = %v, chosen %s: want no RP3beta", kinds, r.Chosen)
				}
			},
		},
		{
			name: "factors only may gain an item-item model",
			modify: func(o *TuneOptions) {
				o.Budget, o.Fixed, o.Switch.RP3 = 2, fixed, new(DefaultRP3Options())
			},
			start: func() Recipe {
				r := tuneStart()
				r.EASE = nil
				return r
			},
			wantStopped: TuneStoppedCount,
			check: func(t *testing.T, r TuneResult) {
				if kinds := trialKinds(r); kinds["rp3"] < 10 {
					t.Errorf("trials by model = %v, want RP3beta searched", kinds)
				}
			},
		},
		{
			name: "a deadline the work after the search does not leave room before measures the start only",
			modify: func(o *TuneOptions) {
				o.Deadline = time.Now().Add(time.Hour)
				o.After = func(c TrialCost) time.Duration {
					costs = append(costs, c)
					return 2 * time.Hour
				}
			},
			start:       tuneStart,
			wantStopped: TuneStoppedTime,
			check: func(t *testing.T, r TuneResult) {
				if len(r.Trials) != 1 {
					t.Errorf("Tune ran %d trials, want 1", len(r.Trials))
				}
				if len(costs) == 0 {
					t.Fatal("Tune never asked After for the time after the search")
				}
				for _, c := range costs {
					if !(c.Fit > 0 && c.Score > 0) || c.FitInteractions != fitNNZ || !(c.ScoredUsers > 0 && c.ScoredUsers <= x.NumUsers()) {
						t.Errorf("After got %+v, want positive times, %d fitting interactions, 1..%d scored users", c, fitNNZ, x.NumUsers())
					}
				}
			},
		},
		{
			name: "a trial training past its end is stopped and left out",
			modify: func(o *TuneOptions) {
				calls := 0
				o.Fixed = fixed
				o.Deadline = time.Now().Add(30 * time.Minute)
				// The first iALS trial's start check asks After twice (the best
				// recipe, the trial's); from its training context on, the time
				// after the search moves the trial's end an hour back.
				o.After = func(TrialCost) time.Duration {
					if calls++; calls <= 2 {
						return 0
					}
					return time.Hour
				}
			},
			start: func() Recipe {
				r := tuneStart()
				r.EASE = nil
				return r
			},
			wantStopped: TuneStoppedTime,
			check: func(t *testing.T, r TuneResult) {
				if len(r.Trials) != 1 {
					t.Errorf("Tune recorded %d trials, want the start only: %+v", len(r.Trials), r.Trials)
				}
			},
		},
		{
			name: "a distant deadline leaves the search whole",
			modify: func(o *TuneOptions) {
				o.Fixed = fixed
				o.Deadline = time.Now().Add(24 * time.Hour)
				o.After = func(TrialCost) time.Duration { return time.Minute }
			},
			start:       tuneStart,
			wantStopped: TuneStoppedGrid,
			check: func(t *testing.T, r TuneResult) {
				if kinds := trialKinds(r); kinds["als"] < 10 || kinds["ease"] < 5 || kinds["blend"] < 5 {
					t.Errorf("trials by model = %v, want every group searched", kinds)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := opts
			tt.modify(&opts)
			start := tt.start()
			r, err := Tune(context.Background(), splits, start, opts)
			if err != nil {
				t.Fatal(err)
			}
			if r.Stopped != tt.wantStopped {
				t.Errorf("Tune stopped: %q, want %q", r.Stopped, tt.wantStopped)
			}
			if len(r.Trials) == 0 || r.Trials[0].Model != "start" || r.Trials[0].Params != r.Start.String() {
				t.Fatalf("first trial %+v, want the starting recipe %s", r.Trials[0], r.Start)
			}
			best := math.Inf(-1)
			for _, tr := range r.Trials {
				best = max(best, tr.NDCG)
			}
			if r.Validation.NDCG != best {
				t.Errorf("Tune chose validation ndcg %v, best trial %v", r.Validation.NDCG, best)
			}
			if err := r.Chosen.Validate(); err != nil {
				t.Errorf("chosen recipe %s: %v", r.Chosen, err)
			}
			tt.check(t, r)
		})
	}
}

func trialKinds(r TuneResult) map[string]int {
	kinds := map[string]int{}
	for _, tr := range r.Trials {
		kinds[tr.Model]++
	}
	return kinds
}

// TestTuneDeterministic runs one search twice: the same trials and the
// same choice.
func TestTuneDeterministic(t *testing.T) {
	x := syntheticInteractions(t, synth.Options{Users: 200, Items: 80, Events: 5000, Seed: 7})
	opts := DefaultTuneOptions()
	opts.Folds, opts.Budget, opts.Fixed = 1, 8, TuneFixed{Factors: true, Iterations: true}
	splits, err := StratifiedSplits(x, opts)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Tune(context.Background(), splits, tuneStart(), opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Tune(context.Background(), splits, tuneStart(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(a.Trials, b.Trials); d != "" {
		t.Errorf("two runs of Tune differ (-first +second):\n%s", d)
	}
}

// TestTuneResultFor checks the scaling of the chosen λs to the matrix a
// model is trained on, and that fixed ones stay.
func TestTuneResultFor(t *testing.T) {
	x := syntheticInteractions(t, synth.Options{Users: 300, Items: 120, Events: 8000, Seed: 5})
	opts := DefaultTuneOptions()
	opts.Folds, opts.TimeBudget = 2, time.Nanosecond
	splits, err := StratifiedSplits(x, opts)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Tune(context.Background(), splits, tuneStart(), opts)
	if err != nil {
		t.Fatal(err)
	}
	logFit, nnz := 0.0, 0.0
	for _, s := range splits {
		logFit += math.Log(meanRowWeight(s.Fit, r.Chosen.ALS.Alpha)) / 2
		nnz += float64(s.Fit.NNZ()) / 2
	}
	got := r.For(x)
	wantALS := float64(r.Chosen.ALS.Regularization) * meanRowWeight(x, r.Chosen.ALS.Alpha) / math.Exp(logFit)
	if g := float64(got.ALS.Regularization); !(g > float64(r.Chosen.ALS.Regularization)) || math.Abs(g-wantALS) > 1e-4*wantALS {
		t.Errorf("For scaled iALS λ %v to %v, want %v (> the validation λ)", r.Chosen.ALS.Regularization, g, wantALS)
	}
	wantEASE := r.Chosen.EASE.Lambda * float64(x.NNZ()) / nnz
	if g := got.EASE.Lambda; math.Abs(g-wantEASE) > 1e-9*wantEASE {
		t.Errorf("For scaled EASE λ %v to %v, want %v", r.Chosen.EASE.Lambda, g, wantEASE)
	}
	if r.Chosen.EASE.Lambda != 50 {
		t.Errorf("For changed the chosen recipe: EASE λ %v, want 50", r.Chosen.EASE.Lambda)
	}
	r.Fixed = TuneFixed{Regularization: true, EASELambda: true}
	if got := r.For(x); got.ALS.Regularization != r.Chosen.ALS.Regularization || got.EASE.Lambda != r.Chosen.EASE.Lambda {
		t.Errorf("For with fixed λs = %s, want %s", got, r.Chosen)
	}
	for _, bad := range []TuneOptions{{Budget: -1, ValidationRatio: 0.2, Folds: 1, K: 10}, {TimeBudget: -1, ValidationRatio: 0.2, Folds: 1, K: 10}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", bad)
		}
	}
}
