package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/polecam/polecam/recommender"
	"github.com/polecam/polecam/store"
	"github.com/polecam/polecam/training"
	"github.com/polecam/polecam/training/eventlog"
)

// The quality gate.
//
// Train carves a holdout from the events it read, trains the models on the
// rest, writes them as a temporary version and measures that version on the
// holdout through the serving path (EvaluateServed). It then measures the
// published version on the same holdout, trains the models again on all
// the events, and writes that version with the holdout metrics in its
// manifest. The version is published only if its holdout figure is not
// worse than the published one's beyond the tolerance (and beyond the
// noise of the holdout, see GateOptions.Sigmas) and no figure is below its
// floor; otherwise Train returns a *GateError and the published version
// stays.
//
// Like with like. Both versions are measured on one holdout that neither
// trained on: the last Holdout of the log, or, when the published version
// was trained on events inside it (a nightly job on cumulative logs, whose
// newest event is earlier in the day than yesterday's), the events since
// the published version's data window ended, as long as they hold at least
// Options.Min.HoldoutUsers users. Each is measured as production serves
// it: the holdout version is written with the same int8 rows and ANN
// index the final version gets, so a catalogue large enough for an index
// is measured through one on both sides. When no such holdout exists (a
// rerun on the logs the published version was trained on), the figures
// the published manifest recorded are compared, but only if they were
// measured on the very same holdout (same cutoff and counts); otherwise
// the comparison is skipped, said so, and only the floors apply.
//
// Why retrain on everything rather than publish the model the holdout
// measured: the holdout is the most recent days of the log, the ones most
// like tomorrow's traffic, and a model that never saw them serves worse
// (new items, today's trends). The gate judges the recipe — code,
// parameters and data up to the holdout — and the published model is the
// same recipe on a superset of that data. A manifest is immutable once
// written, so the metrics must also be known before the published version
// is written. The price is a second training.

// Gate metrics, as named by GateOptions.Metric.
const (
	MetricNDCG      = "ndcg"
	MetricRecall    = "recall"
	MetricPrecision = "precision"
	MetricMAP       = "map"
)

// Holdout kinds.
const (
	HoldoutTime   = "time"
	HoldoutRandom = "random"
)

// ErrGateRefused is wrapped by the *GateError Train returns when the new
// version was written but not published.
var ErrGateRefused = errors.New("quality gate refused the new version")

// GateOptions configure the quality gate of Train.
type GateOptions struct {
	// Disabled skips the holdout: one training on all the events, no
	// metrics, published as asked.
	Disabled bool
	// Holdout is how much of the end of the log is held out: the
	// interactions first made in the last Holdout before the newest event
	// (training.HoldoutBuilder). When Holdout is 0 or more than half the
	// log's time span, the last HoldoutShare of the span is held out
	// instead. A log whose events all share one time, or a time split that
	// leaves no training or no test interactions, gets a random per-user
	// split (training.SplitRandom with RandomRatio and Seed) instead.
	Holdout      time.Duration
	HoldoutShare float64
	RandomRatio  float64
	Seed         int64
	// Metric is the figure compared with the published version's: ndcg,
	// recall, precision or map (training.Metrics.MAP), at K.
	Metric string
	K      int
	// Tolerance lets the new version through when its Metric is at least
	// (1 − Tolerance) times the published version's.
	Tolerance float64
	// Sigmas widens the tolerance by this many standard errors of the
	// mean per-user difference between the two versions on the holdout
	// (a paired comparison: both are measured on the same users). With a
	// few dozen holdout users two runs of one recipe differ by more than
	// 2 %; the gate refuses only a difference it can tell from that
	// noise. 0 compares the means alone.
	Sigmas float64
	// Floors: the new version is refused when a holdout figure at K is
	// below its floor, whatever the published version.
	MinNDCG, MinRecall, MinPrecision, MinMAP float64
	// Force publishes the new version even when the gate refuses it (the
	// refusal is still logged and recorded in the summary).
	Force bool
}

// DefaultGateOptions returns the gate polecam train uses: a one-day
// holdout, ndcg@10 within 2 % of the published version widened by two
// standard errors, no floors.
func DefaultGateOptions() GateOptions {
	return GateOptions{
		Holdout:      24 * time.Hour,
		HoldoutShare: 0.05,
		RandomRatio:  0.2,
		Seed:         42,
		Metric:       MetricNDCG,
		K:            10,
		Tolerance:    0.02,
		Sigmas:       2,
	}
}

// CurveK is the largest k at which the gate measures both versions, for
// the report's metric@k curves.
const CurveK = 20

// Validate reports whether the options can be used.
func (g GateOptions) Validate() error {
	if g.Disabled {
		return nil
	}
	var errs []error
	if g.Holdout < 0 {
		errs = append(errs, fmt.Errorf("holdout %v, want ≥ 0", g.Holdout))
	}
	if !(g.HoldoutShare > 0 && g.HoldoutShare < 1) {
		errs = append(errs, fmt.Errorf("holdout share %v, want strictly between 0 and 1", g.HoldoutShare))
	}
	if !(g.RandomRatio > 0 && g.RandomRatio < 1) {
		errs = append(errs, fmt.Errorf("random holdout ratio %v, want strictly between 0 and 1", g.RandomRatio))
	}
	if _, err := metricOf(training.Metrics{}, g.Metric); err != nil {
		errs = append(errs, err)
	}
	if g.K < 1 || g.K > CurveK {
		errs = append(errs, fmt.Errorf("gate k %d, want 1 to %d", g.K, CurveK))
	}
	if !(g.Tolerance >= 0 && g.Tolerance <= 1) {
		errs = append(errs, fmt.Errorf("gate tolerance %v, want between 0 and 1", g.Tolerance))
	}
	if !(g.Sigmas >= 0 && g.Sigmas <= 10) {
		errs = append(errs, fmt.Errorf("gate sigmas %v, want between 0 and 10", g.Sigmas))
	}
	for _, f := range []float64{g.MinNDCG, g.MinRecall, g.MinPrecision, g.MinMAP} {
		if !(f >= 0 && f <= 1) {
			errs = append(errs, fmt.Errorf("metric floor %v, want between 0 and 1", f))
			break
		}
	}
	return errors.Join(errs...)
}

// metricOf returns the named metric of m.
func metricOf(m training.Metrics, name string) (float64, error) {
	switch name {
	case MetricNDCG:
		return m.NDCG, nil
	case MetricRecall:
		return m.Recall, nil
	case MetricPrecision:
		return m.Precision, nil
	case MetricMAP:
		return m.MAP, nil
	}
	return 0, fmt.Errorf("gate metric %q, want ndcg, recall, precision or map", name)
}

// Holdout describes the split the gate measured on.
type Holdout struct {
	Kind   string    `json:"kind"`             // HoldoutTime or HoldoutRandom
	Cutoff time.Time `json:"cutoff,omitzero"`  // time: the holdout starts here
	Span   string    `json:"span,omitempty"`   // time: the length held out
	Ratio  float64   `json:"ratio,omitempty"`  // random: share of each user's items
	Reason string    `json:"reason,omitempty"` // random: why not a time split
	// AfterPublished is set when the holdout starts where the published
	// version's data window ended (instead of Span before the newest
	// event), so that it holds nothing the published version trained on.
	AfterPublished bool `json:"after_published,omitempty"`
	// Counts of the two matrices.
	TrainInteractions int `json:"train_interactions"`
	TestInteractions  int `json:"test_interactions"`
	TestUsers         int `json:"test_users"`
}

// GateResult is what the gate measured and decided.
type GateResult struct {
	Metric    string  `json:"metric"`
	K         int     `json:"k"`
	Tolerance float64 `json:"tolerance"`
	Sigmas    float64 `json:"sigmas"`
	Holdout   Holdout `json:"holdout"`
	// New are the holdout metrics of the new recipe, Evaluation its full
	// measurement.
	New        training.Metrics `json:"new"`
	Evaluation Evaluation       `json:"-"`
	// Published are those of the published version on the same holdout;
	// nil on the first run or when the comparison was skipped.
	PublishedVersion    string            `json:"published_version,omitempty"`
	Published           *training.Metrics `json:"published,omitempty"`
	PublishedEvaluation *Evaluation       `json:"-"`
	// PublishedRecorded is set when Published are not measured but the
	// holdout figures recorded in the published version's manifest: it was
	// trained on events inside this holdout, so measuring it here would be
	// unfair (it leaves the held-out items out as seen). They are used only
	// when they were measured on this very holdout (a rerun on the same
	// logs), so they compare exactly.
	PublishedRecorded bool `json:"published_recorded,omitempty"`
	// StdErr is the standard error of the mean per-user difference of
	// Metric@K between the two versions; 0 when not measured side by side.
	StdErr float64 `json:"std_err,omitempty"`
	// Skipped says why the published version was not compared at all.
	Skipped string `json:"comparison_skipped,omitempty"`
	// Pass reports whether the gate lets the new version through; Reasons
	// say why not (and are empty when it passes).
	Pass    bool     `json:"pass"`
	Reasons []string `json:"reasons,omitempty"`
	Forced  bool     `json:"forced,omitempty"`
	// Loss is the iALS objective after each iteration of the holdout
	// training (Holdout) and of the training on all events (Final).
	HoldoutLoss []float64 `json:"holdout_loss"`
	FinalLoss   []float64 `json:"final_loss"`
	// TrainPopularity[i] is the number of training users of item i of the
	// holdout's catalogue, for the long-tail plot.
	TrainPopularity []int `json:"-"`
}

// decide applies the tolerance and the floors to the new metrics and,
// when there are some, the published version's; se is the standard error
// of the per-user difference (0 when unknown).
func (g GateOptions) decide(newM training.Metrics, pub *training.Metrics, se float64) (pass bool, reasons []string) {
	for _, f := range []struct {
		name       string
		got, floor float64
	}{
		{MetricNDCG, newM.NDCG, g.MinNDCG},
		{MetricRecall, newM.Recall, g.MinRecall},
		{MetricPrecision, newM.Precision, g.MinPrecision},
		{MetricMAP, newM.MAP, g.MinMAP},
	} {
		if f.got < f.floor {
			reasons = append(reasons, fmt.Sprintf("%s@%d %.4f is below the floor %.4f", f.name, newM.K, f.got, f.floor))
		}
	}
	if pub != nil {
		n, _ := metricOf(newM, g.Metric)
		p, _ := metricOf(*pub, g.Metric)
		if need := p*(1-g.Tolerance) - g.Sigmas*se; n < need {
			noise := ""
			if se > 0 {
				noise = fmt.Sprintf(" and %g standard errors of %.4f", g.Sigmas, se)
			}
			reasons = append(reasons, fmt.Sprintf("%s@%d %.4f is worse than the published version's %.4f beyond the tolerance of %g %%%s (needs ≥ %.4f)",
				g.Metric, newM.K, n, p, g.Tolerance*100, noise, need))
		}
	}
	return len(reasons) == 0, reasons
}

// GateError reports a new version the gate kept from being published.
type GateError struct {
	Version   string // written, not published
	Published string // still published
	Reasons   []string
}

func (e *GateError) Error() string {
	return fmt.Sprintf("quality gate: kept %s published, wrote %s without publishing it: %s",
		e.Published, e.Version, strings.Join(e.Reasons, "; "))
}

// Unwrap returns ErrGateRefused.
func (e *GateError) Unwrap() error { return ErrGateRefused }

// holdoutSplit returns the training and test matrices the gate measures
// on: a time split at the end of the log read a second time with the same
// de-duplication, decay and forgotten users as x, or a random per-user
// split of x.
//
// pub is the published version's manifest (zero when none is published).
// When the usual holdout starts before its data window ends, the split is
// tried just after that end instead, and kept when its test matrix has at
// least opts.Min.HoldoutUsers users (and one); failing that, at the cutoff
// the published version's own gate recorded, so that its recorded figures
// can be compared when the logs are the same. Cutoffs are whole
// milliseconds, as manifests record them.
func holdoutSplit(ctx context.Context, opts Options, x *training.Interactions, st IngestStats, forgotten store.Tombstones, pub store.Manifest) (train, test *training.Interactions, h Holdout, err error) {
	g := opts.Gate
	span := st.Log.Last.Sub(st.Log.First)
	reason := "the events span no time"
	if span > 0 {
		hold := g.Holdout
		if hold <= 0 || hold > span/2 {
			hold = time.Duration(float64(span) * g.HoldoutShare)
		}
		cutoff := st.Log.Last.Add(-hold).Truncate(time.Millisecond)
		inLog := func(c time.Time) bool { return c.After(st.Log.First) && !c.After(st.Log.Last) }
		if pubTo := pub.Window.To; !pubTo.IsZero() && !cutoff.After(pubTo) {
			if after := pubTo.Truncate(time.Millisecond).Add(time.Millisecond); inLog(after) {
				train, test, err = timeSplit(ctx, opts, after, time.Time{}, st.Log.Last, forgotten)
				if err != nil {
					return nil, nil, Holdout{}, err
				}
				h = Holdout{Kind: HoldoutTime, Cutoff: after, Span: st.Log.Last.Sub(after).String(), AfterPublished: true}.count(train, test)
				if train.NNZ() > 0 && h.TestUsers >= max(opts.Min.HoldoutUsers, 1) {
					return train, test, h, nil
				}
				opts.Logger.Info("too few users since the published version's data window for a holdout",
					"published_window_to", pubTo, "test_users", h.TestUsers, "min_holdout_users", opts.Min.HoldoutUsers)
			}
			if ms, ok := pub.Metrics[metricHoldoutCutoff]; ok && inLog(time.UnixMilli(int64(ms))) {
				cutoff = time.UnixMilli(int64(ms)).UTC()
				hold = st.Log.Last.Sub(cutoff)
			}
		}
		train, test, err = timeSplit(ctx, opts, cutoff, time.Time{}, st.Log.Last, forgotten)
		if err != nil {
			return nil, nil, Holdout{}, err
		}
		if train.NNZ() > 0 && test.NNZ() > 0 {
			h = Holdout{Kind: HoldoutTime, Cutoff: cutoff, Span: hold.String()}
			return train, test, h.count(train, test), nil
		}
		reason = fmt.Sprintf("the last %v hold %d new interactions and leave %d for training", hold, test.NNZ(), train.NNZ())
	}
	train, test = training.SplitRandom(x, g.RandomRatio, g.Seed)
	h = Holdout{Kind: HoldoutRandom, Ratio: g.RandomRatio, Reason: reason}
	return train, test, h.count(train, test), nil
}

func (h Holdout) count(train, test *training.Interactions) Holdout {
	h.TrainInteractions, h.TestInteractions = train.NNZ(), test.NNZ()
	for u := range test.NumUsers() {
		if test.UserPtr[u+1] > test.UserPtr[u] {
			h.TestUsers++
		}
	}
	return h
}

// timeSplit reads the logs again into a training.HoldoutBuilder splitting
// at cutoff, applying what ingest applies: forgotten users, de-duplication,
// decay relative to last (the newest event) and the minimum-support
// filters, which are applied to the training matrix only. When until is
// set, the events at or after it are left out before anything else (the
// tuning's validation split reads nothing of the gate's holdout).
func timeSplit(ctx context.Context, opts Options, cutoff, until, last time.Time, forgotten store.Tombstones) (train, test *training.Interactions, err error) {
	in := opts.Ingest
	hb := training.NewHoldoutBuilder(cutoff)
	dd := newDedup(in.DedupWindow)
	lo := opts.Log
	lo.Progress = nil
	if _, err := eventlog.Read(ctx, opts.Events, lo, func(e eventlog.Event) error {
		if !until.IsZero() && !e.Time.Before(until) {
			return nil
		}
		if forgotten.Len() > 0 && forgotten.Has(e.User) {
			return nil
		}
		if dd != nil && dd.seen(e) {
			return nil
		}
		w := e.Weight
		if in.HalfLife > 0 {
			w *= float32(math.Exp2(e.Time.Sub(last).Seconds() / in.HalfLife.Seconds()))
		}
		if e.Type != "" && !e.Time.IsZero() {
			// The times, as ingest records them: the training part's
			// models see the same event times as those trained on all.
			hb.AddEvent(e.User, e.Item, e.Type, w, e.Time)
		} else {
			hb.Add(e.User, e.Item, w, e.Time)
		}
		return nil
	}); err != nil {
		return nil, nil, fmt.Errorf("read events for the holdout: %w", err)
	}
	train, test = hb.Build()
	if in.MinUserItems > 0 || in.MinItemUsers > 0 || in.HalfLife > 0 {
		train = train.Filter(max(in.MinUserItems, 1), max(in.MinItemUsers, 1))
	}
	return train, test, nil
}

// gateSplit is the holdout the gate measures on, carved before anything
// is trained (the tuning reads only its training part), and the published
// version it compares with (zero Manifest when none is published).
type gateSplit struct {
	train, test *training.Interactions
	h           Holdout
	pub         store.Manifest
}

// carveHoldout carves the gate's holdout from the events and checks that it
// has enough users.
func carveHoldout(ctx context.Context, opts Options, x *training.Interactions, st IngestStats, forgotten store.Tombstones) (*gateSplit, error) {
	pub, err := publishedManifest(opts.DataDir)
	if err != nil {
		return nil, err
	}
	train, test, h, err := holdoutSplit(ctx, opts, x, st, forgotten, pub)
	if err != nil {
		return nil, fmt.Errorf("holdout: %w", err)
	}
	opts.Logger.Info("carved holdout", "kind", h.Kind, "cutoff", h.Cutoff, "span", h.Span, "reason", h.Reason, "after_published", h.AfterPublished,
		"train_interactions", h.TrainInteractions, "test_interactions", h.TestInteractions, "test_users", h.TestUsers)
	if err := opts.checkMin("the holdout's "+h.Kind+" split", size{"users", h.TestUsers, opts.Min.HoldoutUsers}); err != nil {
		return nil, err
	}
	return &gateSplit{train: train, test: test, h: h, pub: pub}, nil
}

// runGate measures the recipe of opts on the holdout gs and the published
// version on the same holdout, and decides. It writes the holdout model as
// a temporary version and removes it.
func runGate(ctx context.Context, opts Options, gs *gateSplit) (*GateResult, error) {
	g := opts.Gate
	log := opts.Logger
	start := time.Now()
	train, test, h, pub := gs.train, gs.test, gs.h, gs.pub
	r := &GateResult{Metric: g.Metric, K: g.K, Tolerance: g.Tolerance, Sigmas: g.Sigmas, Holdout: h}

	ho := opts
	ho.Publish = false
	ho.Logger = slog.New(&lossHandler{Handler: log.Handler(), loss: &r.HoldoutLoss})
	m, err := trainMatrix(ctx, train, ho, true)
	if err != nil {
		return nil, fmt.Errorf("holdout model: %w", err)
	}
	ev, err := evaluateServed(ctx, opts.DataDir, m.Version, test, CurveK, true, recommender.DefaultModelOptions())
	if rmErr := removeVersion(opts.DataDir, m.Version); err == nil && rmErr != nil {
		err = fmt.Errorf("remove the holdout model: %w", rmErr)
	}
	if err != nil {
		return nil, err
	}
	r.Evaluation, r.New = ev, ev.At(g.K)
	r.TrainPopularity = popularityIn(train, test)
	log.Info("measured the new recipe on the holdout", "metrics", r.New.String(), "elapsed", time.Since(start).Round(time.Millisecond))

	if err := comparePublished(ctx, opts, r, pub, test); err != nil {
		return nil, err
	}
	if r.PublishedEvaluation != nil {
		r.StdErr = pairedStdErr(r.Evaluation, *r.PublishedEvaluation, test, g.Metric, g.K)
	}
	r.Pass, r.Reasons = g.decide(r.New, r.Published, r.StdErr)
	return r, nil
}

// publishedManifest returns the manifest of the published version; the
// zero Manifest when none is published.
func publishedManifest(dataDir string) (store.Manifest, error) {
	dir, err := store.OpenDir(dataDir)
	if err != nil {
		return store.Manifest{}, err
	}
	pub, err := dir.Published()
	if errors.Is(err, store.ErrNoPublished) {
		return store.Manifest{}, nil
	}
	if err != nil {
		return store.Manifest{}, err
	}
	info, err := dir.Info(pub)
	if err != nil {
		return store.Manifest{}, err
	}
	m := info.Manifest
	m.Version = pub
	return m, nil
}

// pairedStdErr returns the standard error of the mean over the holdout's
// users of metric@k of a minus that of b, both measured on test (so their
// users line up).
func pairedStdErr(a, b Evaluation, test *training.Interactions, metric string, k int) float64 {
	n := min(len(a.Recs), len(b.Recs))
	if n < 2 {
		return 0
	}
	var sum, sumSq float64
	j := 0
	for u := range test.NumUsers() {
		want, _ := test.UserRow(int32(u))
		if len(want) == 0 {
			continue
		}
		if j == n {
			break
		}
		ma, _ := metricOf(training.UserMetrics(k, a.Recs[j], want), metric)
		mb, _ := metricOf(training.UserMetrics(k, b.Recs[j], want), metric)
		d := ma - mb
		sum += d
		sumSq += d * d
		j++
	}
	mean := sum / float64(n)
	v := (sumSq - float64(n)*mean*mean) / float64(n-1)
	return math.Sqrt(max(v, 0) / float64(n))
}

// comparePublished measures the published version pub, if any, on the
// holdout — unless it was trained on events of the holdout: it would then
// leave the held-out items out as seen, or rank them from having seen
// them, and no comparison would be fair. The figures its manifest
// recorded stand in for it when they were measured on this same holdout.
func comparePublished(ctx context.Context, opts Options, r *GateResult, pub store.Manifest, test *training.Interactions) error {
	if pub.Version == "" {
		r.Skipped = "no version is published"
		return nil
	}
	r.PublishedVersion = pub.Version
	if trainedInHoldout(pub, r.Holdout) {
		why := fmt.Sprintf("published version %s was trained on events up to %s, inside the holdout (from %s)",
			pub.Version, pub.Window.To.UTC().Format(time.RFC3339), holdoutStart(r.Holdout))
		pm, ok := recordedMetrics(pub.Metrics, r.Metric, r.K)
		if ok && sameHoldout(pub.Metrics, r.Holdout) {
			r.Published, r.PublishedRecorded = &pm, true
			opts.Logger.Warn("comparing with the holdout figures recorded in the published version's manifest, measured on the same holdout", "reason", why)
			return nil
		}
		if ok {
			r.Skipped = why + "; the figures its manifest records were measured on another holdout, and too few users are new since its data window; only the floors apply"
		} else {
			r.Skipped = why + ", and its manifest records no holdout " + r.Metric + fmt.Sprintf("@%d; only the floors apply", r.K)
		}
		opts.Logger.Warn("not comparing with the published version", "reason", r.Skipped)
		return nil
	}
	ev, err := evaluateServed(ctx, opts.DataDir, pub.Version, test, CurveK, true, recommender.DefaultModelOptions())
	if err != nil {
		return fmt.Errorf("published version: %w", err)
	}
	pm := ev.At(r.K)
	r.Published, r.PublishedEvaluation = &pm, &ev
	opts.Logger.Info("measured the published version on the holdout", "version", pub.Version, "metrics", pm.String())
	return nil
}

// trainedInHoldout reports whether pub was trained on events of the
// holdout h, so that the gate does not measure it on h.
func trainedInHoldout(pub store.Manifest, h Holdout) bool {
	start := h.Cutoff
	if h.Kind == HoldoutRandom {
		start = time.Time{} // the random holdout spans the whole log
	}
	to := pub.Window.To
	return !to.IsZero() && !to.Before(start)
}

// sameHoldout reports whether the holdout a manifest's metrics were
// measured on is h: same kind of split, cutoff (when recorded) and counts.
func sameHoldout(rec map[string]float64, h Holdout) bool {
	if c, ok := rec[metricHoldoutCutoff]; ok && (h.Kind != HoldoutTime || c != float64(h.Cutoff.UnixMilli())) {
		return false
	}
	return rec["holdout_users"] == float64(h.TestUsers) && rec["holdout_interactions"] == float64(h.TestInteractions)
}

// metricHoldoutCutoff names the time holdout's cutoff, in Unix
// milliseconds, among a manifest's metrics.
const metricHoldoutCutoff = "holdout_cutoff_unix_ms"

// recordedMetrics returns the holdout metrics at k a manifest recorded,
// and whether they include the gate metric.
func recordedMetrics(rec map[string]float64, metric string, k int) (training.Metrics, bool) {
	at := func(name string) float64 { return rec[fmt.Sprintf("%s@%d", name, k)] }
	m := training.Metrics{K: k, Users: int(rec["holdout_users"]), NDCG: at(MetricNDCG), Recall: at(MetricRecall),
		Precision: at(MetricPrecision), MAP: at(MetricMAP), MAPAtK: at("map_at_k"), HitRate: at("hit_rate"), Coverage: at("coverage")}
	_, ok := rec[fmt.Sprintf("%s@%d", metric, k)]
	return m, ok
}

func holdoutStart(h Holdout) string {
	if h.Kind == HoldoutRandom {
		return "the start of the log: a random holdout"
	}
	return h.Cutoff.UTC().Format(time.RFC3339)
}

func removeVersion(dataDir, version string) error {
	dir, err := store.OpenDir(dataDir)
	if err != nil {
		return err
	}
	return dir.Remove(version)
}

// popularityIn returns, for every item of test's catalogue, its number of
// users in train (matched by id).
func popularityIn(train, test *training.Interactions) []int {
	pop := make([]int, test.NumItems())
	for i, id := range test.Items {
		if j, ok := train.ItemIndex(id); ok {
			pop[i] = int(train.ItemPtr[j+1] - train.ItemPtr[j])
		}
	}
	return pop
}

// lossHandler passes records on to Handler and collects the loss of the
// "als iteration" records trainModels logs, whatever the log level.
type lossHandler struct {
	slog.Handler
	loss *[]float64
}

func (h *lossHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.Handler.Enabled(ctx, l)
}

func (h *lossHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == alsIterationMsg {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "loss" && a.Value.Kind() == slog.KindFloat64 {
				*h.loss = append(*h.loss, a.Value.Float64())
				return false
			}
			return true
		})
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h *lossHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &lossHandler{Handler: h.Handler.WithAttrs(as), loss: h.loss}
}

func (h *lossHandler) WithGroup(name string) slog.Handler {
	return &lossHandler{Handler: h.Handler.WithGroup(name), loss: h.loss}
}

// alsIterationMsg is the message trainModels logs after every iALS
// iteration with its "loss".
const alsIterationMsg = "als iteration"

// capture returns opts with a logger that also collects the iALS loss of
// the final training into r; opts itself when r is nil.
func (r *GateResult) capture(opts Options) Options {
	if r == nil {
		return opts
	}
	opts.Logger = slog.New(&lossHandler{Handler: opts.Logger.Handler(), loss: &r.FinalLoss})
	return opts
}

// metrics returns the holdout metrics to record in the manifest, named
// NAME@K, with the holdout's size; nil when r is nil.
func (r *GateResult) metrics() map[string]float64 {
	if r == nil {
		return nil
	}
	n, k := r.New, r.K
	at := func(name string) string { return fmt.Sprintf("%s@%d", name, k) }
	m := map[string]float64{
		at(MetricNDCG):         n.NDCG,
		at(MetricRecall):       n.Recall,
		at(MetricPrecision):    n.Precision,
		at(MetricMAP):          n.MAP,
		at("map_at_k"):         n.MAPAtK,
		at("hit_rate"):         n.HitRate,
		at("coverage"):         n.Coverage,
		"holdout_users":        float64(r.Holdout.TestUsers),
		"holdout_interactions": float64(r.Holdout.TestInteractions),
		"fallback_users":       float64(r.Evaluation.Fallback),
	}
	if r.Holdout.Kind == HoldoutTime {
		m[metricHoldoutCutoff] = float64(r.Holdout.Cutoff.UnixMilli())
	}
	return m
}

// check returns the *GateError that keeps version from being published,
// or nil when the gate passes, is forced, or nothing is to be published.
func (r *GateResult) check(opts Options, version string, log *slog.Logger) error {
	if r == nil {
		return nil
	}
	if r.Pass {
		log.Info("quality gate passed", "metric", fmt.Sprintf("%s@%d", r.Metric, r.K), "new", r.New.String(),
			"published_version", r.PublishedVersion, "comparison_skipped", r.Skipped)
		return nil
	}
	if r.Forced = opts.Gate.Force && opts.Publish; r.Forced {
		log.Warn("quality gate refused the new version; publishing it anyway (forced)", "reasons", strings.Join(r.Reasons, "; "))
		return nil
	}
	if !opts.Publish {
		log.Warn("quality gate would refuse the new version", "reasons", strings.Join(r.Reasons, "; "))
		return nil
	}
	pub := r.PublishedVersion
	if pub == "" {
		pub = "no version"
	}
	return &GateError{Version: version, Published: pub, Reasons: r.Reasons}
}
