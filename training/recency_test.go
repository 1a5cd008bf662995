package training

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/polecam/polecam/training/synth"
)

func TestRecentPopularity(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	timed := NewBuilder()
	timed.AddEvent("u1", "a", "view", 1, t0)                       // newest event of the matrix
	timed.AddEvent("u2", "a", "view", 1, t0.Add(-24*time.Hour))    // one half-life old
	timed.AddEvent("u2", "a", "purchase", 1, t0.Add(-1*time.Hour)) // … but its latest is 1 h old
	timed.AddEvent("u1", "b", "view", 1, t0.Add(-48*time.Hour))    // two half-lives
	timed.Add("u3", "b", 1)                                        // no time: counts 1
	timed.AddEvent("u3", "c", "view", 1, t0.Add(-24*time.Hour))
	untimed := NewBuilder()
	untimed.Add("u1", "a", 1)
	untimed.Add("u2", "a", 1)
	untimed.Add("u1", "b", 1)
	tests := []struct {
		name     string
		x        *Interactions
		halfLife time.Duration
		want     []float32 // by item a, b, c
	}{
		{"all time", timed.Build(), 0, []float32{2, 2, 1}},
		{"half-life a day", timed.Build(), 24 * time.Hour, []float32{1 + float32(math.Exp2(-1.0/24)), 0.25 + 1, 0.5}},
		{"no times: all time", untimed.Build(), 24 * time.Hour, []float32{2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RecentPopularity(tt.x, tt.halfLife)
			if len(got) != len(tt.want) {
				t.Fatalf("RecentPopularity = %v, want %v", got, tt.want)
			}
			for i := range got {
				if math.Abs(float64(got[i]-tt.want[i])) > 1e-6 {
					t.Fatalf("RecentPopularity = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestRecencyScorer(t *testing.T) {
	negInf := float32(math.Inf(-1))
	base := func(_ int32, dst []float32) { copy(dst, []float32{1, 0.5, negInf, -0.2}) }
	pop := []float32{0, 4, 8, 2}
	tests := []struct {
		name   string
		pop    []float32
		weight float32
		want   []float32
	}{
		{"weight 0", pop, 0, []float32{1, 0.5, negInf, -0.2}},
		{"no positive popularity", []float32{0, 0, 0, 0}, 1, []float32{1, 0.5, negInf, -0.2}},
		{"half of max(pop)", pop, 0.5, []float32{1, 0.75, negInf, -0.075}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := make([]float32, 4)
			RecencyScorer(base, tt.pop, tt.weight)(0, dst)
			if !slices.Equal(dst, tt.want) {
				t.Fatalf("scores %v, want %v", dst, tt.want)
			}
		})
	}
}

func TestRecencyOptionsValidate(t *testing.T) {
	for _, o := range []RecencyOptions{{HalfLifeHours: -1}, {HalfLifeHours: math.NaN()}, {Weight: -0.1}, {Weight: float32(math.NaN())}, {Weight: 101}} {
		if o.Validate() == nil {
			t.Errorf("%+v: Validate() = nil, want an error", o)
		}
	}
	if err := (RecencyOptions{HalfLifeHours: 24, Weight: 0.4}).Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
}

// TestHoldoutBuilderEventTimes checks that AddEvent gives the training
// part the latest time of each kind before the cutoff, as Builder.AddEvent
// records them for all the events, and the test part none.
func TestHoldoutBuilderEventTimes(t *testing.T) {
	cut := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	h := NewHoldoutBuilder(cut)
	h.AddEvent("u1", "a", "view", 1, cut.Add(-2*time.Hour))
	h.AddEvent("u1", "a", "view", 1, cut.Add(-time.Hour))
	h.AddEvent("u1", "a", "view", 1, cut.Add(time.Hour)) // after the cutoff: not a training time
	h.AddEvent("u1", "b", "purchase", 1, cut.Add(time.Hour))
	h.Add("u2", "a", 1, cut.Add(-3*time.Hour)) // no kind: no time
	train, test := h.Build()
	if !train.HasTimes() || test.HasTimes() {
		t.Fatalf("HasTimes: train %v, test %v; want true, false", train.HasTimes(), test.HasTimes())
	}
	if !slices.Equal(train.EventKinds, []string{"view"}) { // the purchase came after the cutoff
		t.Fatalf("train kinds %v, want [view]", train.EventKinds)
	}
	u1, _ := train.UserIndex("u1")
	u2, _ := train.UserIndex("u2")
	a, _ := train.ItemIndex("a")
	times := func(u, i int32) []uint32 {
		items, _ := train.UserRow(u)
		k, ok := slices.BinarySearch(items, i)
		if !ok {
			t.Fatalf("pair (%d, %d) not in training", u, i)
		}
		nk := len(train.EventKinds)
		e := int(train.UserPtr[u]) + k
		return train.EventTimes[e*nk : (e+1)*nk]
	}
	if got, want := times(u1, a), []uint32{uint32(cut.Add(-time.Hour).Unix())}; !slices.Equal(got, want) {
		t.Errorf("times of (u1, a) = %v, want %v", got, want)
	}
	if got := times(u2, a); !slices.Equal(got, []uint32{0}) {
		t.Errorf("times of (u2, a) = %v, want none", got)
	}
	if test.NNZ() != 1 {
		t.Errorf("test has %d pairs, want (u1, b) only", test.NNZ())
	}
}

// timeFold builds one time validation fold from a synth log: the last day
// validation, everything before it fitting, with the event times the
// pipeline records.
func timeFold(t testing.TB, o synth.Options) ValidationSplit {
	t.Helper()
	var buf bytes.Buffer
	if err := synth.Generate(&buf, o); err != nil {
		t.Fatal(err)
	}
	cr := csv.NewReader(&buf)
	cr.FieldsPerRecord = 4
	if _, err := cr.Read(); err != nil {
		t.Fatal(err)
	}
	cut := synth.DefaultStart.AddDate(0, 0, o.Days-1)
	h := NewHoldoutBuilder(cut)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		at, err := time.Parse(time.RFC3339, rec[0])
		if err != nil {
			t.Fatal(err)
		}
		h.AddEvent(rec[1], rec[2], rec[3], testEventWeights[rec[3]], at)
	}
	fit, val := h.Build()
	return ValidationSplit{Fit: fit, Val: val}
}

// TestTuneRecency checks the recency search: on a time fold of a drifting
// log (synth.Options.ItemLifetime) Tune counts the popularity list by
// recency and gives it a share, and the choice is better on validation
// than the same search without it; on stratified folds (no times) it
// searches neither and records no recency.
func TestTuneRecency(t *testing.T) {
	ctx := context.Background()
	drift := timeFold(t, synth.Options{Users: 3000, Items: 300, Events: 60000, Seed: 4, Days: 20, ItemLifetime: 72 * time.Hour})
	opts := DefaultTuneOptions()
	opts.Fixed = TuneFixed{Factors: true, Iterations: true, Regularization: true, Alpha: true, RegularizationExponent: true, ItemModel: true}
	got, err := Tune(ctx, []ValidationSplit{drift}, tuneStart(), opts)
	if err != nil {
		t.Fatal(err)
	}
	rc := got.Chosen.Recency
	if rc.HalfLifeHours <= 0 || rc.Weight <= 0 || len(got.Popularity) != len(halfLives) || trialKinds(got)["recency"] == 0 {
		t.Fatalf("drifting log: chose %+v after %d popularity and %d recency trials; want a half-life and a weight", rc, len(got.Popularity), trialKinds(got)["recency"])
	}
	off := opts
	off.Fixed.PopularityHalfLife, off.Fixed.RecencyWeight = true, true
	without, err := Tune(ctx, []ValidationSplit{drift}, tuneStart(), off)
	if err != nil {
		t.Fatal(err)
	}
	if without.Chosen.Recency != (RecencyOptions{}) || trialKinds(without)["recency"] != 0 || len(without.Popularity) != 0 {
		t.Fatalf("recency fixed at zero: chose %+v, %d recency trials, %d popularity lists", without.Chosen.Recency, trialKinds(without)["recency"], len(without.Popularity))
	}
	t.Logf("validation nDCG@10 with recency %.4f (%+v), without %.4f", got.Validation.NDCG, rc, without.Validation.NDCG)
	if got.Validation.NDCG <= without.Validation.NDCG*1.05 {
		t.Errorf("validation nDCG@10 with recency %.4f, without %.4f: want at least 5 %% better on a drifting log", got.Validation.NDCG, without.Validation.NDCG)
	}

	start := tuneStart()
	start.Recency = RecencyOptions{HalfLifeHours: 24, Weight: 0.4} // e.g. a published recipe's
	x := syntheticInteractions(t, synth.Options{Users: 300, Items: 120, Events: 8000, Seed: 5})
	opts.Folds = 2
	splits, err := StratifiedSplits(x, opts)
	if err != nil {
		t.Fatal(err)
	}
	strat, err := Tune(ctx, splits, start, opts)
	if err != nil {
		t.Fatal(err)
	}
	if strat.Chosen.Recency != (RecencyOptions{}) || trialKinds(strat)["recency"] != 0 || len(strat.Popularity) != 0 {
		t.Fatalf("stratified folds: chose %+v, %d recency trials, %d popularity lists; want none", strat.Chosen.Recency, trialKinds(strat)["recency"], len(strat.Popularity))
	}
}

// TestTuneRecencyStopsEarly checks that on a stationary log, where the
// popularity list adds nothing to the blend, the weight search stops
// after two weights that are not better instead of scoring the whole grid.
func TestTuneRecencyStopsEarly(t *testing.T) {
	still := timeFold(t, synth.Options{Users: 3000, Items: 300, Events: 60000, Seed: 4, Days: 20})
	opts := DefaultTuneOptions()
	opts.Fixed = TuneFixed{Factors: true, Iterations: true, Regularization: true, Alpha: true, RegularizationExponent: true,
		ItemModel: true, EASELambda: true, EASEDiagonalScale: true, Blend: true}
	got, err := Tune(context.Background(), []ValidationSplit{still}, tuneStart(), opts)
	if err != nil {
		t.Fatal(err)
	}
	var ws []string
	for _, tr := range got.Trials {
		if tr.Model == "recency" {
			ws = append(ws, tr.Params[strings.LastIndex(tr.Params, "=")+1:])
		}
	}
	t.Logf("weights tried %v; chose %+v", ws, got.Chosen.Recency)
	if len(ws) == 0 || len(ws) >= len(recencyWeights)-1 {
		t.Errorf("tried %d recency weights %v, want the search to stop early on a stationary log", len(ws), ws)
	}
}
