package pipeline

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/polecam/polecam/recommender"
	"github.com/polecam/polecam/store"
	"github.com/polecam/polecam/training"
	"github.com/polecam/polecam/training/eventlog"
	"github.com/polecam/polecam/training/synth"
)

// tuneLog writes a 30-day synthetic log whose last day holds enough users
// for the gate's holdout and the tuning's time split just before it.
func tuneLog(t *testing.T) (string, synth.Options) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.csv")
	g := synth.DefaultOptions()
	g.Users, g.Items, g.Events, g.Seed = 400, 150, 20000, 11
	if err := synth.GenerateFile(path, g); err != nil {
		t.Fatal(err)
	}
	return path, g
}

// tuneOptions returns fast options that tune: 8 factors and 3 iterations
// (explicit, so not searched), at most 4 iALS configurations.
func tuneOptions(t *testing.T, dataDir string, events ...string) Options {
	o := options(t, dataDir, events...)
	o.Tune = DefaultTuneOptions()
	o.Tune.Search.Budget = 4
	return o
}

// tuningOf decodes the tuning recorded in a manifest.
func tuningOf(t *testing.T, m store.Manifest) (Params, *Tuning) {
	t.Helper()
	var p Params
	if err := json.Unmarshal(m.Params, &p); err != nil {
		t.Fatalf("manifest params %s: %v", m.Params, err)
	}
	if p.Tuning == nil {
		t.Fatalf("manifest params record no tuning: %s", m.Params)
	}
	return p, p.Tuning
}

// TestTrainTunesAndContinues trains twice into one data directory with
// tuning on: the recipe and its validation figures land in the manifest,
// the models are trained with it, and the second run's search starts from
// the recipe the first one chose (its first trial).
func TestTrainTunesAndContinues(t *testing.T) {
	logFile, _ := tuneLog(t)
	dataDir := t.TempDir()
	ctx := context.Background()
	var sum Summary
	o := tuneOptions(t, dataDir, logFile)
	o.Summary = func(s Summary) { sum = s }
	m1, err := Train(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	p1, tu1 := tuningOf(t, m1)
	r1 := tu1.Result
	if tu1.Split.Kind != SplitTime || sum.Gate == nil || !tu1.Split.End.Equal(sum.Gate.Holdout.Cutoff) {
		t.Errorf("validation split %+v, want a time split ending where the gate's holdout starts (%+v)", tu1.Split, sum.Gate)
	}
	if sum.Tuning == nil || sum.Tuning.Result.Chosen.String() != r1.Chosen.String() {
		t.Errorf("summary tuning %+v, want the manifest's", sum.Tuning)
	}
	if len(r1.Trials) < 2 || r1.Trials[0].Model != "start" || r1.Validation.NDCG < r1.StartValidation.NDCG {
		t.Errorf("trials %+v, validation %v from start %v; want a search from the start, no worse than it", r1.Trials, r1.Validation.NDCG, r1.StartValidation.NDCG)
	}
	// Explicit values are kept; the rest of the chosen recipe is what was
	// trained.
	if p1.ALS.Factors != 8 || p1.ALS.Iterations != 3 || p1.ALS.Alpha != r1.Chosen.ALS.Alpha ||
		p1.ALS.RegularizationExponent != r1.Chosen.ALS.RegularizationExponent || p1.Blend != blendTrained(r1.Chosen) {
		t.Errorf("trained %+v blend %v, want the chosen %s with 8 factors and 3 iterations", p1.ALS, p1.Blend, r1.Chosen)
	}
	if m1.Metrics["ndcg@10"] <= 0 {
		t.Errorf("holdout metrics %v, want the gate's figures", m1.Metrics)
	}
	// The recency chosen on the time split is what the snapshot serves:
	// its popularity list counted with the half-life, the weight in the
	// item-item parameters.
	if p1.Recency != r1.Chosen.Recency || len(tu1.Result.Popularity) == 0 {
		t.Errorf("trained recency %+v (%d popularity lists measured), want the chosen %+v", p1.Recency, len(tu1.Result.Popularity), r1.Chosen.Recency)
	}
	if snap := openVersion(t, dataDir, m1); p1.Blend < 1 {
		raw, ok := snap.File(recommender.ItemItemParams)
		var cfg recommender.ItemItemConfig
		if !ok || json.Unmarshal(raw, &cfg) != nil || cfg.Recency != p1.Recency.Weight {
			t.Errorf("%s = %s (%v), want recency %v", recommender.ItemItemParams, raw, ok, p1.Recency.Weight)
		}
	}

	o = tuneOptions(t, dataDir, logFile)
	o.Gate.Force = true // the same logs: the gate compares recorded figures
	m2, err := Train(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	_, tu2 := tuningOf(t, m2)
	if d := cmp.Diff(r1.Chosen, tu2.Result.Start); d != "" {
		t.Errorf("run 2 started from another recipe than run 1 chose (-chosen +start):\n%s", d)
	}
	if got := tu2.Result.Trials[0]; got.Model != "start" || got.Params != r1.Chosen.String() {
		t.Errorf("run 2's first trial = %+v, want run 1's choice %s", got, r1.Chosen)
	}
}

// blendTrained is the blend a snapshot records for a recipe: 1 without
// an item-item model.
func blendTrained(r training.Recipe) float32 {
	if (r.EASE == nil && r.RP3 == nil) || r.Blend >= 1 {
		return 1
	}
	return r.Blend
}

// TestTuneNeverReadsTheHoldout tunes on a log and on the same log with
// its holdout (the gate's last day) replaced by noise: random users and
// items at the same times. The tuning reads only the training part, so
// the validation data, every trial and the choice are the same.
func TestTuneNeverReadsTheHoldout(t *testing.T) {
	logFile, g := tuneLog(t)
	st, err := eventlog.Read(context.Background(), []string{logFile}, eventlog.DefaultOptions(), func(eventlog.Event) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	cutoff := st.Last.Add(-DefaultGateOptions().Holdout).Truncate(time.Millisecond)
	noisy := withNoiseFrom(t, logFile, cutoff, g)
	tests := []struct {
		name   string
		ingest IngestOptions
	}{
		{"plain", IngestOptions{}},
		{"decay, de-duplication and minimum support", IngestOptions{HalfLife: 240 * time.Hour, DedupWindow: time.Minute, MinUserItems: 2, MinItemUsers: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tune := func(events string) (*Tuning, *GateResult) {
				var sum Summary
				o := tuneOptions(t, t.TempDir(), events)
				o.Ingest = tt.ingest
				o.Publish = false
				o.Summary = func(s Summary) { sum = s }
				m, err := Train(context.Background(), o)
				if err != nil {
					t.Fatal(err)
				}
				_, tu := tuningOf(t, m)
				return tu, sum.Gate
			}
			a, gateA := tune(logFile)
			b, gateB := tune(noisy)
			if a.Split.Kind != SplitTime || !a.Split.End.Equal(cutoff) {
				t.Errorf("validation split %+v, want a time split ending at the holdout's cutoff %v", a.Split, cutoff)
			}
			if gateA.New == gateB.New {
				t.Errorf("the gate measured %v on both logs; want the noise to change the holdout", gateA.New)
			}
			if d := cmp.Diff(a.Split, b.Split); d != "" {
				t.Errorf("validation data differ with a noisy holdout (-log +noisy):\n%s", d)
			}
			if d := cmp.Diff(a.Result.Trials, b.Result.Trials); d != "" {
				t.Errorf("trials differ with a noisy holdout (-log +noisy):\n%s", d)
			}
			if d := cmp.Diff(a.Result.Chosen, b.Result.Chosen); d != "" {
				t.Errorf("chosen recipe differs with a noisy holdout (-log +noisy):\n%s", d)
			}
		})
	}
}

// withNoiseFrom copies src with every event at or after cutoff replaced by
// one of a random user on a random item of the same type at the same
// time.
func withNoiseFrom(t *testing.T, src string, cutoff time.Time, g synth.Options) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var out strings.Builder
	replaced := 0
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for first := true; sc.Scan(); first = false {
		line := sc.Text()
		if !first {
			f := strings.Split(line, ",")
			tm, err := time.Parse(time.RFC3339, f[0])
			if err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			if !tm.Before(cutoff) {
				f[1], f[2] = g.UserID(rng.IntN(g.Users)), g.ItemID(rng.IntN(g.Items))
				line = strings.Join(f, ",")
				replaced++
			}
		}
		out.WriteString(line + "\n")
	}
	if replaced == 0 {
		t.Fatalf("no event of %s at or after %v", src, cutoff)
	}
	dst := filepath.Join(t.TempDir(), "noisy.csv")
	if err := os.WriteFile(dst, []byte(out.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestTuneRecipeBudget checks the time budget without measuring time: a
// budget of 1ns measures the starting recipe only, and chooses it.
func TestTuneRecipeBudget(t *testing.T) {
	logFile, _ := tuneLog(t)
	x, _, err := Ingest(context.Background(), options(t, "", logFile))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		budget      time.Duration
		v           Validation
		wantStopped string
		wantTrials  func(n int) bool
	}{
		{"1ns, stratified", time.Nanosecond, Validation{Kind: SplitStratifiedItem}, training.TuneStoppedTime, func(n int) bool { return n == 1 }},
		{"1ns, time", time.Nanosecond, Validation{Kind: SplitTime, End: lastDayOf(t, logFile), Span: 48 * time.Hour}, training.TuneStoppedTime, func(n int) bool { return n == 1 }},
		{"10m", 10 * time.Minute, Validation{Kind: SplitStratifiedItem}, training.TuneStoppedCount, func(n int) bool { return n > 10 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tuneOptions(t, "", logFile)
			o.Tune.Budget = tt.budget
			o.Tune.Search.Folds = 2
			tu, err := TuneRecipe(context.Background(), o, x, tt.v, nil)
			if err != nil {
				t.Fatal(err)
			}
			r := tu.Result
			if r.Stopped != tt.wantStopped || !tt.wantTrials(len(r.Trials)) {
				t.Errorf("TuneRecipe(budget %v) stopped %q after %d trials, want %q", tt.budget, r.Stopped, len(r.Trials), tt.wantStopped)
			}
			if tu.Split.Kind != tt.v.Kind {
				t.Errorf("validation %+v, want a %s split", tu.Split, tt.v.Kind)
			}
			if tt.budget == time.Nanosecond {
				if d := cmp.Diff(r.Start, r.Chosen); d != "" {
					t.Errorf("a 1ns budget chose another recipe than the start (-start +chosen):\n%s", d)
				}
			}
		})
	}
}

// lastDayOf returns the time of the last event of a log file, less a day.
func lastDayOf(t *testing.T, logFile string) time.Time {
	st, err := eventlog.Read(context.Background(), []string{logFile}, eventlog.DefaultOptions(), func(eventlog.Event) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return st.Last.Add(-24 * time.Hour)
}

// TestTuneStart checks where the search starts: the data-scaled defaults
// of the training part, or the published recipe for what is not set
// explicitly.
func TestTuneStart(t *testing.T) {
	x, _, err := Ingest(context.Background(), options(t, "", sampleLog(t)))
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.Logger = options(t, "").Logger
	prevEASE := training.EASEOptions{Lambda: 77, DiagonalScale: 0.5, MaxItems: 10000}
	prev := &training.Recipe{ALS: o.ALS, EASE: &prevEASE, Blend: 0.6}
	prev.ALS.Factors, prev.ALS.Iterations, prev.ALS.Alpha, prev.ALS.Regularization = 24, 7, 3, 11
	prevRP3 := &training.Recipe{ALS: prev.ALS, RP3: &training.RP3Options{Alpha: 0.6, Beta: 0.2, TopK: 50, MaxUserItems: 500}, Blend: 0.4}
	scaled := ScaledDefaults(x.NumUsers(), x.NumItems(), x.NNZ())
	tests := []struct {
		name   string
		modify func(*Options)
		prev   *training.Recipe
		want   func(r *training.Recipe)
	}{
		{"scaled defaults", func(*Options) {}, nil, func(r *training.Recipe) {
			r.ALS.Factors, r.ALS.Iterations, r.Blend = scaled.Factors, scaled.Iterations, scaled.Blend
			e := o.EASE
			e.Lambda = scaled.EASELambda
			r.EASE = &e
		}},
		{"published", func(*Options) {}, prev, func(r *training.Recipe) { *r = *prev }},
		{"published, explicit factors and blend", func(o *Options) {
			o.ALS.Factors, o.Blend = 12, 0.9
		}, prev, func(r *training.Recipe) {
			*r = *prev
			r.ALS.Factors, r.Blend = 12, 0.9
		}},
		{"published, explicit alpha", func(o *Options) {
			o.ALS.Alpha, o.Tune.Fixed.Alpha = 5, true
		}, prev, func(r *training.Recipe) {
			*r = *prev
			r.ALS.Alpha = 5
		}},
		{"factors only", func(o *Options) { o.Blend = 1 }, prev, func(r *training.Recipe) {
			*r = *prev
			r.EASE, r.Blend = nil, 1
		}},
		{"published rp3beta", func(*Options) {}, prevRP3, func(r *training.Recipe) { *r = *prevRP3 }},
		{"published rp3beta, explicit ease", func(o *Options) { o.ItemModel = ItemModelEASE }, prevRP3, func(r *training.Recipe) {
			*r = *prevRP3
			e := o.EASE
			e.Lambda = scaled.EASELambda
			r.EASE, r.RP3, r.Blend = &e, nil, scaled.Blend
		}},
		{"ease beyond its exact size: sparse", func(o *Options) { o.ItemModel, o.EASE.MaxItems = ItemModelEASE, 10 }, nil, func(r *training.Recipe) {
			r.ALS.Factors, r.ALS.Iterations, r.Blend = scaled.Factors, scaled.Iterations, scaled.Blend
			e := o.EASE
			e.Lambda, e.MaxItems = scaled.EASELambda, 10
			r.EASE = &e
		}},
		{"rp3beta asked for", func(o *Options) { o.ItemModel = ItemModelRP3 }, nil, func(r *training.Recipe) {
			r.ALS.Factors, r.ALS.Iterations, r.Blend = scaled.Factors, scaled.Iterations, scaled.Blend
			r.RP3 = new(training.DefaultRP3Options())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oo := o
			tt.modify(&oo)
			got, fx, sw := oo.tuneStart(x, tt.prev)
			want := training.Recipe{ALS: o.ALS}
			tt.want(&want)
			want.ALS.Workers = o.ALS.Workers
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("tuneStart (-want +got):\n%s", d)
			}
			// Both item-item models are candidates, whatever the size of
			// the catalogue (EASE is sparse beyond EASE.MaxItems), unless
			// one was asked for.
			if sw.EASE == nil || sw.RP3 == nil || fx.ItemModel != (oo.ItemModel != ItemModelAuto) {
				t.Errorf("switch %+v, fixed item model %v, for item model %q", sw, fx.ItemModel, oo.ItemModel)
			}
		})
	}
}

// TestTimeValidationFolds carves earlier spans as further time folds
// while the folds score fewer than Tune.TimeValidationUsers users, up to
// Search.Folds, each fitted on everything before its span.
func TestTimeValidationFolds(t *testing.T) {
	logFile, _ := tuneLog(t)
	x, _, err := Ingest(context.Background(), options(t, "", logFile))
	if err != nil {
		t.Fatal(err)
	}
	end := lastDayOf(t, logFile)
	tests := []struct {
		name      string
		users     int
		folds     int
		wantFolds int
	}{
		{"enough users in one span", 1, 4, 1},
		{"too few: up to the folds", 1 << 30, 3, 3},
		{"off", 0, 4, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tuneOptions(t, "", logFile)
			o.Tune.TimeValidationUsers, o.Tune.Search.Folds = tt.users, tt.folds
			splits, info, err := carveValidation(context.Background(), o, x, Validation{Kind: SplitTime, End: end, Span: 24 * time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if len(splits) != tt.wantFolds || info.Folds != tt.wantFolds {
				t.Fatalf("%d splits, info %+v; want %d folds", len(splits), info, tt.wantFolds)
			}
			sum := 0
			for k, s := range splits {
				// Fold k validates on the day ending k days before end:
				// its fitting part has nothing from that day on.
				span := ValidationInfo{}.count(s.Fit, s.Val)
				if span.ValidationUsers == 0 {
					t.Errorf("fold %d scores no users", k)
				}
				sum += span.ValidationUsers
				if k > 0 && s.Fit.NNZ() >= splits[k-1].Fit.NNZ() {
					t.Errorf("fold %d fits on %d interactions, fold %d on %d: want an earlier, smaller fitting part", k, s.Fit.NNZ(), k-1, splits[k-1].Fit.NNZ())
				}
			}
			if info.TimeValidationUsers != sum {
				t.Errorf("time validation users %d, want the folds' sum %d", info.TimeValidationUsers, sum)
			}
		})
	}
}

// TestTuneStartHugeCatalogue: beyond easeItems the search starts from
// RP3beta and never switches to EASE, whose sparse fit would not fit a
// nightly run, unless EASE is asked for.
func TestTuneStartHugeCatalogue(t *testing.T) {
	b := training.NewBuilder()
	for i := range easeItems + 1 {
		b.Add(fmt.Sprintf("u%d", i%5000), fmt.Sprintf("i%d", i), 1)
		b.Add(fmt.Sprintf("u%d", (i+1)%5000), fmt.Sprintf("i%d", i), 1)
	}
	x := b.Build()
	o := DefaultOptions()
	r, _, sw := o.tuneStart(x, nil)
	if r.RP3 == nil || r.EASE != nil || sw.EASE != nil || sw.RP3 == nil {
		t.Errorf("%d items: start %v, switch to EASE %v, to RP3beta %v; want RP3beta and no switch to EASE", x.NumItems(), r, sw.EASE, sw.RP3)
	}
	o.ItemModel = ItemModelEASE
	if r, _, _ := o.tuneStart(x, nil); r.EASE == nil {
		t.Errorf("EASE asked for: start %v, want EASE", r)
	}
}

// TestTrainRunBudget checks that the run budget bounds Train's search: with
// no time left after reading the events, only the starting recipe is
// measured, and the run still trains, gates and publishes it.
func TestTrainRunBudget(t *testing.T) {
	logFile, _ := tuneLog(t)
	o := tuneOptions(t, t.TempDir(), logFile)
	o.Tune.RunBudget = time.Nanosecond
	m, err := Train(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	_, tu := tuningOf(t, m)
	if r := tu.Result; r.Stopped != training.TuneStoppedTime || len(r.Trials) != 1 {
		t.Errorf("a spent run budget: the search stopped %q after %d trials, want %q after the start only", r.Stopped, len(r.Trials), training.TuneStoppedTime)
	}
	if tu.Result.Cost.Fit <= 0 || tu.Result.Cost.FitInteractions <= 0 {
		t.Errorf("chosen recipe's cost %+v, want its measured training time and fitting interactions", tu.Result.Cost)
	}
	if m.Metrics["ndcg@10"] <= 0 {
		t.Errorf("holdout metrics %v, want the gate's figures", m.Metrics)
	}
}

func TestAfterTuningEstimate(t *testing.T) {
	c := training.TrialCost{Fit: 10 * time.Second, Score: 2 * time.Second, FitInteractions: 1000, ScoredUsers: 100}
	tests := []struct {
		name string
		a    afterTuning
		c    training.TrialCost
		want time.Duration
	}{
		{"write only", afterTuning{write: 10 * time.Second}, c, 11 * time.Second},
		// Two models of 1,500 interactions: 30 s; 400 holdout users: 8 s.
		{"gate and publish", afterTuning{trainInteractions: 3000, scoredUsers: 400, write: 2 * time.Second}, c, 44 * time.Second},
		// The same, scoring on 4 workers: 2 s.
		{"scored on 4 workers", afterTuning{trainInteractions: 3000, scoredUsers: 400, workers: 4, write: 2 * time.Second}, c, 374 * time.Second / 10},
		{"nothing measured", afterTuning{trainInteractions: 3000, scoredUsers: 400}, training.TrialCost{}, 0},
	}
	for _, tt := range tests {
		if got := tt.a.estimate(tt.c); got != tt.want {
			t.Errorf("%s: estimate = %v, want %v", tt.name, got, tt.want)
		}
	}
}
