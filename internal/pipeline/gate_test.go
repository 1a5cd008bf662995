package pipeline

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/polecam/polecam/store"
	"github.com/polecam/polecam/training"
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

// gateOptions returns fast options: factors only (no EASE) so a crippled
// model is clearly worse.
func gateOptions(t *testing.T, dataDir string, events ...string) Options {
	o := options(t, dataDir, events...)
	o.ALS.Factors, o.ALS.Iterations = 16, 4
	// Pinned so that the cases do not move with the tuned defaults: with
	// 30 holdout users "equal recipe" is within the 2 % tolerance for
	// these values but not for every recipe.
	o.ALS.Regularization, o.ALS.RegularizationExponent, o.ALS.Alpha = 100, 0, 16
	o.Blend = 1
	return o
}

// crippled makes o train a model that ranks almost at random.
func crippled(o Options) Options {
	o.ALS.Factors, o.ALS.Iterations, o.ALS.Regularization = 1, 1, 1e6
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
	}{
		{"first run", nil, m(0.1, 0.1), nil, true},
		{"better", nil, m(0.31, 0.2), p(m(0.3, 0.2)), true},
		{"equal", nil, m(0.3, 0.2), p(m(0.3, 0.2)), true},
		{"worse within tolerance", nil, m(0.295, 0.2), p(m(0.3, 0.2)), true},
		{"worse beyond tolerance", nil, m(0.29, 0.2), p(m(0.3, 0.2)), false},
		{"other metric decides", func(g *GateOptions) { g.Metric = MetricRecall }, m(0.1, 0.2), p(m(0.3, 0.2)), true},
		{"recall worse", func(g *GateOptions) { g.Metric = MetricRecall }, m(0.3, 0.1), p(m(0.3, 0.2)), false},
		{"below floor", func(g *GateOptions) { g.MinNDCG = 0.2 }, m(0.1, 0.1), nil, false},
		{"above floors", func(g *GateOptions) { g.MinNDCG, g.MinRecall = 0.05, 0.05 }, m(0.1, 0.1), nil, true},
		{"precision floor", func(g *GateOptions) { g.MinPrecision = 0.5 }, m(0.4, 0.4), p(m(0.3, 0.3)), false},
		{"map floor", func(g *GateOptions) { g.MinMAP = 0.5 }, m(0.4, 0.4), p(m(0.3, 0.3)), false},
		{"zero tolerance", func(g *GateOptions) { g.Tolerance = 0 }, m(0.2999, 0.2), p(m(0.3, 0.2)), false},
	}
	for _, tt := range tests {
		g := DefaultGateOptions()
		if tt.modify != nil {
			tt.modify(&g)
		}
		pass, reasons := g.decide(tt.new, tt.pub)
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
