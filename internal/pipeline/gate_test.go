package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/polecam/polecam/store"
	"github.com/polecam/polecam/training"
	"github.com/polecam/polecam/training/eventlog"
	"github.com/polecam/polecam/training/synth"
)

// gateLogs writes a 30-day synthetic log and a copy that stops more than a
// day before its end, so a version trained on the copy has not seen the
// one-day holdout of the full log.
func gateLogs(t *testing.T) (early, full string) {
	t.Helper()
	dir := t.TempDir()
	full = filepath.Join(dir, "full.csv")
	g := synth.DefaultOptions()
	g.Users, g.Items, g.Events, g.Seed = 300, 120, 15000, 7
	if err := synth.GenerateFile(full, g); err != nil {
		t.Fatal(err)
	}
	end := g.Start.AddDate(0, 0, g.Days)
	early = filepath.Join(dir, "early.csv")
	copyBefore(t, full, early, end.Add(-50*time.Hour))
	return early, full
}

// copyBefore copies the header and the lines of src timestamped before
// cutoff into dst.
func copyBefore(t *testing.T, src, dst string, cutoff time.Time) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for first := true; sc.Scan(); first = false {
		line := sc.Text()
		if !first {
			ts, _, _ := strings.Cut(line, ",")
			tm, err := time.Parse(time.RFC3339, ts)
			if err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			if !tm.Before(cutoff) {
				continue
			}
		}
		out.WriteString(line + "\n")
	}
	if err := os.WriteFile(dst, []byte(out.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// gateOptions returns fast options: few factors and iterations; the
// rest of the recipe is the default one.
func gateOptions(t *testing.T, dataDir string, events ...string) Options {
	o := options(t, dataDir, events...)
	o.ALS.Factors, o.ALS.Iterations = 16, 4
	return o
}

// defaultRecipe returns options with the default recipe, unchanged.
func defaultRecipe(t *testing.T, dataDir string, events ...string) Options {
	o := DefaultOptions()
	o.DataDir, o.Events, o.Logger = dataDir, events, options(t, dataDir).Logger
	o.Tune.Budget = 0
	return o
}

// crippled makes o train a model that ranks almost at random: one
// factor, regularised to nothing, and no item-item model to make up for
// it.
func crippled(o Options) Options {
	o.ALS.Factors, o.ALS.Iterations, o.ALS.Regularization = 1, 1, 1e6
	o.Blend = 1
	return o
}

func TestGate(t *testing.T) {
	early, full := gateLogs(t)
	tests := []struct {
		name string
		// old, if set, trains the published version first (on the early log).
		old     func(Options) Options
		new     func(Options) Options
		publish bool // the new version ends up published
	}{
		{"first run", nil, func(o Options) Options { return o }, true},
		{"first run below a floor", nil, func(o Options) Options { o.Gate.MinNDCG = 0.99; return o }, false},
		{"first run below a floor forced", nil, func(o Options) Options { o.Gate.MinNDCG, o.Gate.Force = 0.99, true; return o }, true},
		{"better", crippled, func(o Options) Options { return o }, true},
		{"worse beyond the tolerance", func(o Options) Options { return o }, crippled, false},
		{"worse forced", func(o Options) Options { return o }, func(o Options) Options { o.Gate.Force = true; return crippled(o) }, true},
		{"worse within a large tolerance", func(o Options) Options { return o },
			func(o Options) Options { o.Gate.Tolerance = 1; return crippled(o) }, true},
		{"equal recipe", func(o Options) Options { return o }, func(o Options) Options { return o }, true},
		{"equal default recipe", func(o Options) Options { return defaultRecipe(t, o.DataDir, o.Events...) },
			func(o Options) Options { return defaultRecipe(t, o.DataDir, o.Events...) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dataDir := t.TempDir()
			var old store.Manifest
			if tt.old != nil {
				o := tt.old(gateOptions(t, dataDir, early))
				o.Gate.Force = true // whatever the floors
				var err error
				if old, err = Train(ctx, o); err != nil {
					t.Fatalf("training the published version: %v", err)
				}
			}
			var sum Summary
			o := tt.new(gateOptions(t, dataDir, full))
			o.Summary = func(s Summary) { sum = s }
			m, err := Train(ctx, o)
			g := sum.Gate
			if g == nil {
				t.Fatalf("Train() = %v and no gate result in the summary", err)
			}
			t.Logf("new %s", g.New)
			if g.Published != nil {
				t.Logf("published %s", g.Published)
			}
			if g.Holdout.Kind != HoldoutTime {
				t.Errorf("holdout kind = %q (%s), want %q", g.Holdout.Kind, g.Holdout.Reason, HoldoutTime)
			}
			if tt.old != nil && (g.Published == nil || g.PublishedVersion != old.Version) {
				t.Errorf("published version %q measured %v (skipped: %s), want %s measured", g.PublishedVersion, g.Published, g.Skipped, old.Version)
			}
			if m.Version == "" {
				t.Fatalf("Train() returned no manifest, error %v", err)
			}
			if len(m.Metrics) == 0 || m.Metrics["ndcg@10"] != g.New.NDCG {
				t.Errorf("manifest metrics = %v, want ndcg@10 = %v", m.Metrics, g.New.NDCG)
			}
			dir, err2 := store.OpenDir(dataDir)
			if err2 != nil {
				t.Fatal(err2)
			}
			pub, _ := dir.Published()
			vs, _ := dir.Versions()
			wantVersions := 1
			if tt.old != nil {
				wantVersions = 2 // the holdout models are removed
			}
			if len(vs) != wantVersions {
				t.Errorf("%d versions in the data directory, want %d", len(vs), wantVersions)
			}
			if tt.publish {
				if err != nil {
					t.Errorf("Train() error = %v, want nil", err)
				}
				if pub != m.Version {
					t.Errorf("published %q, want the new version %q", pub, m.Version)
				}
				return
			}
			var ge *GateError
			if !errors.Is(err, ErrGateRefused) || !errors.As(err, &ge) || ge.Version != m.Version || len(ge.Reasons) == 0 {
				t.Fatalf("Train() error = %v, want a *GateError for %s with reasons", err, m.Version)
			}
			if pub == m.Version || (tt.old != nil && pub != old.Version) {
				t.Errorf("published %q after a refusal, want %q", pub, old.Version)
			}
			if g.Pass {
				t.Errorf("gate result Pass = true for a refused version")
			}
		})
	}
}

// A rerun on the logs the published version was trained on cannot measure
// it fairly: the gate compares with the figures its manifest recorded, or
// applies only the floors when it recorded none.
func TestGateOverlappingPublished(t *testing.T) {
	_, full := gateLogs(t)
	ctx := context.Background()
	for _, recorded := range []bool{true, false} {
		dataDir := t.TempDir()
		o := gateOptions(t, dataDir, full)
		o.Gate.Disabled = !recorded
		first, err := Train(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		var sum Summary
		o = crippled(gateOptions(t, dataDir, full))
		o.Summary = func(s Summary) { sum = s }
		_, err = Train(ctx, o)
		g := sum.Gate
		if recorded {
			if !errors.Is(err, ErrGateRefused) || g == nil || !g.PublishedRecorded || g.Published.NDCG != first.Metrics["ndcg@10"] {
				t.Errorf("recorded figures: Train() = %v, gate %+v; want a refusal against the recorded ndcg@10 %v", err, g, first.Metrics["ndcg@10"])
			}
			continue
		}
		if err != nil || g == nil || g.Published != nil || !strings.Contains(g.Skipped, "inside the holdout") {
			t.Errorf("no recorded figures: Train() = %v, gate %+v; want the comparison skipped for the overlap", err, g)
		}
	}
}

// A log whose events share one time gets a random per-user holdout.
func TestGateRandomHoldout(t *testing.T) {
	var b strings.Builder
	b.WriteString("timestamp,user_id,item_id,event\n")
	for u := range 60 {
		for j := range 6 {
			i := (u*7 + j*3) % 40
			b.WriteString("2026-11-01T10:00:00Z,u" + strconv.Itoa(u) + ",sku-" + strconv.Itoa(i) + ",view\n")
		}
	}
	path := filepath.Join(t.TempDir(), "flat.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	var sum Summary
	o := gateOptions(t, t.TempDir(), path)
	o.Summary = func(s Summary) { sum = s }
	m, err := Train(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	g := sum.Gate
	if g.Holdout.Kind != HoldoutRandom || g.Holdout.TestUsers == 0 || g.Holdout.Reason == "" {
		t.Errorf("holdout = %+v, want a random holdout with test users and a reason", g.Holdout)
	}
	if m.Metrics["holdout_users"] != float64(g.Holdout.TestUsers) {
		t.Errorf("manifest holdout_users = %v, want %d", m.Metrics["holdout_users"], g.Holdout.TestUsers)
	}
}

func TestGateDecide(t *testing.T) {
	m := func(ndcg, recall float64) training.Metrics {
		return training.Metrics{K: 10, NDCG: ndcg, Recall: recall, Precision: 0.1, MAP: 0.1}
	}
	p := func(x training.Metrics) *training.Metrics { return &x }
	tests := []struct {
		name   string
		modify func(*GateOptions)
		new    training.Metrics
		pub    *training.Metrics
		pass   bool
		se     float64
	}{
		{"first run", nil, m(0.1, 0.1), nil, true, 0},
		{"better", nil, m(0.31, 0.2), p(m(0.3, 0.2)), true, 0},
		{"equal", nil, m(0.3, 0.2), p(m(0.3, 0.2)), true, 0},
		{"worse within tolerance", nil, m(0.295, 0.2), p(m(0.3, 0.2)), true, 0},
		{"worse beyond tolerance", nil, m(0.29, 0.2), p(m(0.3, 0.2)), false, 0},
		{"other metric decides", func(g *GateOptions) { g.Metric = MetricRecall }, m(0.1, 0.2), p(m(0.3, 0.2)), true, 0},
		{"recall worse", func(g *GateOptions) { g.Metric = MetricRecall }, m(0.3, 0.1), p(m(0.3, 0.2)), false, 0},
		{"below floor", func(g *GateOptions) { g.MinNDCG = 0.2 }, m(0.1, 0.1), nil, false, 0},
		{"above floors", func(g *GateOptions) { g.MinNDCG, g.MinRecall = 0.05, 0.05 }, m(0.1, 0.1), nil, true, 0},
		{"precision floor", func(g *GateOptions) { g.MinPrecision = 0.5 }, m(0.4, 0.4), p(m(0.3, 0.3)), false, 0},
		{"map floor", func(g *GateOptions) { g.MinMAP = 0.5 }, m(0.4, 0.4), p(m(0.3, 0.3)), false, 0},
		{"zero tolerance", func(g *GateOptions) { g.Tolerance = 0 }, m(0.2999, 0.2), p(m(0.3, 0.2)), false, 0},
		// 0.3 × 0.98 − 2 × 0.01 = 0.274
		{"worse within the noise", nil, m(0.28, 0.2), p(m(0.3, 0.2)), true, 0.01},
		{"worse beyond the noise", nil, m(0.27, 0.2), p(m(0.3, 0.2)), false, 0.01},
		{"noise ignored", func(g *GateOptions) { g.Sigmas = 0 }, m(0.28, 0.2), p(m(0.3, 0.2)), false, 0.01},
	}
	for _, tt := range tests {
		g := DefaultGateOptions()
		if tt.modify != nil {
			tt.modify(&g)
		}
		pass, reasons := g.decide(tt.new, tt.pub, tt.se)
		if pass != tt.pass || pass != (len(reasons) == 0) {
			t.Errorf("%s: decide() = %v, %q; want pass %v", tt.name, pass, reasons, tt.pass)
		}
	}
}

func TestGateOptionsValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*GateOptions)
	}{
		{"metric", func(g *GateOptions) { g.Metric = "auc" }},
		{"k", func(g *GateOptions) { g.K = 0 }},
		{"k above curves", func(g *GateOptions) { g.K = CurveK + 1 }},
		{"tolerance", func(g *GateOptions) { g.Tolerance = -0.1 }},
		{"floor", func(g *GateOptions) { g.MinRecall = 2 }},
		{"holdout", func(g *GateOptions) { g.Holdout = -time.Hour }},
		{"share", func(g *GateOptions) { g.HoldoutShare = 0 }},
		{"random ratio", func(g *GateOptions) { g.RandomRatio = 1 }},
		{"sigmas", func(g *GateOptions) { g.Sigmas = -1 }},
	}
	if err := DefaultGateOptions().Validate(); err != nil {
		t.Fatalf("defaults: Validate() = %v", err)
	}
	for _, tt := range tests {
		g := DefaultGateOptions()
		tt.modify(&g)
		if err := g.Validate(); err == nil {
			t.Errorf("%s: Validate() = nil, want an error", tt.name)
		}
	}
}

// The nightly job on cumulative logs: train on days 1–29 of a generated
// log, then on all 30 with the same, default, recipe. The second run's
// one-day holdout starts before the first run's last event; the gate
// holds out the events since the published version's data window
// instead, measures both versions on them and publishes. A worse recipe
// on the same 30 days is refused against the same holdout.
func TestGateNextDay(t *testing.T) {
	if testing.Short() {
		t.Skip("trains the default recipe six times")
	}
	dir := t.TempDir()
	full := filepath.Join(dir, "days-1-30.csv")
	g := synth.DefaultOptions()
	g.Users, g.Items, g.Events = 600, 200, 30000
	if err := synth.GenerateFile(full, g); err != nil {
		t.Fatal(err)
	}
	// Yesterday's run read up to 23 hours before today's last event: the
	// last event of a day is earlier today than it was yesterday.
	st, err := eventlog.Read(context.Background(), []string{full}, eventlog.DefaultOptions(), func(eventlog.Event) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	early := filepath.Join(dir, "days-1-29.csv")
	copyBefore(t, full, early, st.Last.Add(-23*time.Hour))

	ctx := context.Background()
	dataDir := t.TempDir()
	first, err := Train(ctx, defaultRecipe(t, dataDir, early))
	if err != nil {
		t.Fatalf("days 1-29: %v", err)
	}
	var sum Summary
	o := defaultRecipe(t, dataDir, full)
	o.Summary = func(s Summary) { sum = s }
	second, err := Train(ctx, o)
	r := sum.Gate
	if r == nil {
		t.Fatalf("days 1-30: %v, and no gate result", err)
	}
	t.Logf("holdout %+v", r.Holdout)
	t.Logf("new %s", r.New)
	if r.Published != nil {
		t.Logf("published %s, std err %.4f", r.Published, r.StdErr)
	}
	if oneDay := second.Window.To.Add(-24 * time.Hour); !first.Window.To.After(oneDay) {
		t.Fatalf("the first run's window ends %v, before the usual holdout (%v): the case this test is about does not arise", first.Window.To, oneDay)
	}
	if err != nil {
		t.Fatalf("days 1-30, same recipe: %v, want it published", err)
	}
	if !r.Holdout.AfterPublished || !r.Holdout.Cutoff.After(first.Window.To) {
		t.Errorf("holdout from %v (after published %v), want one starting after the published window's end %v",
			r.Holdout.Cutoff, r.Holdout.AfterPublished, first.Window.To)
	}
	if r.Published == nil || r.PublishedRecorded || r.PublishedVersion != first.Version || r.Published.Users != r.New.Users {
		t.Errorf("published %s measured %v (recorded %v, skipped %q), want it measured on the holdout's %d users",
			r.PublishedVersion, r.Published, r.PublishedRecorded, r.Skipped, r.New.Users)
	}
	d, err := store.OpenDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := d.Published(); v != second.Version {
		t.Errorf("published %q, want the rerun %q", v, second.Version)
	}

	// A worse recipe on the same 30 days: the rerun's holdout again, the
	// recorded figures measured on it, refused.
	sum = Summary{}
	o = crippled(defaultRecipe(t, dataDir, full))
	o.Summary = func(s Summary) { sum = s }
	_, err = Train(ctx, o)
	if !errors.Is(err, ErrGateRefused) {
		t.Fatalf("worse recipe on the same data: %v, want the gate's refusal", err)
	}
	if r := sum.Gate; r == nil || r.Published == nil || !r.PublishedRecorded {
		t.Errorf("worse recipe: gate %+v, want a comparison with the recorded figures of the same holdout", r)
	}
}

// The gate measures the new recipe as production serves it: with an ANN
// index when the final version gets one, as the published version is
// measured through its own.
func TestGateMeasuresThroughTheIndex(t *testing.T) {
	early, full := gateLogs(t)
	dataDir := t.TempDir()
	ctx := context.Background()
	var logs bytes.Buffer
	train := func(events string) (*GateResult, error) {
		o := gateOptions(t, dataDir, events)
		o.ANN.MinItems = 1 // every catalogue gets an index
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		var sum Summary
		o.Summary = func(s Summary) { sum = s }
		_, err := Train(ctx, o)
		return sum.Gate, err
	}
	if _, err := train(early); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), `msg="built ann index"`); n != 2 {
		t.Fatalf("%d ann indexes built by a training run, want 2: the holdout version's and the final one's", n)
	}
	r, err := train(full)
	if err != nil {
		t.Fatal(err)
	}
	if r.Published == nil || r.PublishedRecorded {
		t.Errorf("published version not measured: %+v", r)
	}
}

// pairedStdErr is the standard error of the mean per-user difference.
func TestPairedStdErr(t *testing.T) {
	b := training.NewBuilder()
	for _, u := range []string{"u0", "u1", "u2", "u3"} {
		b.Add(u, "a", 1)
	}
	test := b.Build() // every user's one test item is "a"
	a, _ := test.ItemIndex("a")
	hit, miss := []int32{a}, []int32{-1}
	// Per-user recall@1 differences: 1, 0, 0, -1 → mean 0, sample
	// variance 2/3, standard error sqrt(2/3/4).
	x := Evaluation{Recs: [][]int32{hit, hit, miss, miss}}
	y := Evaluation{Recs: [][]int32{miss, hit, miss, hit}}
	got := pairedStdErr(x, y, test, MetricRecall, 1)
	if want := math.Sqrt(2.0 / 3 / 4); math.Abs(got-want) > 1e-12 {
		t.Errorf("pairedStdErr = %v, want %v", got, want)
	}
	if got := pairedStdErr(x, x, test, MetricRecall, 1); got != 0 {
		t.Errorf("pairedStdErr of a version with itself = %v, want 0", got)
	}
}
