package serving

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/polecam/polecam/recommender"
	"github.com/polecam/polecam/store"
)

// Source is where a Watcher finds model versions; *store.Dir implements it.
// History (oldest first, the published version last) names the versions
// to fall back to; VersionStamp must change whenever a version's files do.
type Source interface {
	Published() (string, error)
	Open(version string, opts store.OpenOptions) (*store.Snapshot, error)
	History() ([]string, error)
	VersionStamp(version string) (string, error)
}

var _ Source = (*store.Dir)(nil)

// TombstoneSource is where a Watcher finds the users to forget. Stamp
// must change whenever the set changes and be cheap (it is read every
// poll); Forgotten reads the whole set.
type TombstoneSource interface {
	Stamp() (int64, error)
	Forgotten() (recommender.Forgotten, error)
}

// Options configures a Watcher.
type Options struct {
	// PollInterval is how often the published pointer and the tombstone
	// stamp are read.
	PollInterval time.Duration
	// VerifyChecksums checks the CRC of every vector and id file of a
	// version before serving it. It reads the files whole once per load.
	VerifyChecksums bool
	// Logger receives load and refusal messages. Nothing personal is
	// logged: versions, counts and errors only.
	Logger *slog.Logger
	// Registerer receives the metrics; nil disables them.
	Registerer prometheus.Registerer
	// OnLoad is called after every successful swap, with the version now
	// served (for example to turn health SERVING). It may be nil.
	OnLoad func(version string)
	// Tombstones, if set, supplies the forgotten users.
	Tombstones TombstoneSource
	// RetryBackoff is how long a refused version is left alone before it
	// is tried again, unless its files change first (then it is retried at
	// the next poll). It doubles with every further refusal of the same
	// files, up to MaxRetryBackoff.
	RetryBackoff    time.Duration
	MaxRetryBackoff time.Duration
	// Model configures every model loaded. Its Workers default is the
	// GOMAXPROCS of the DefaultOptions call, so models keep splitting scans
	// over that many cores if GOMAXPROCS is lowered later.
	Model recommender.ModelOptions
}

// DefaultOptions returns the options polecam serves with.
func DefaultOptions() Options {
	return Options{
		PollInterval:    5 * time.Second,
		VerifyChecksums: true,
		RetryBackoff:    30 * time.Second,
		MaxRetryBackoff: 10 * time.Minute,
		Logger:          slog.Default(),
		Model:           recommender.DefaultModelOptions(),
	}
}

// Validate reports whether the options can be used.
func (o Options) Validate() error {
	if o.PollInterval <= 0 {
		return fmt.Errorf("poll interval must be positive, got %v", o.PollInterval)
	}
	if o.RetryBackoff <= 0 || o.MaxRetryBackoff < o.RetryBackoff {
		return fmt.Errorf("retry back-off must be positive and at most the maximum, got %v and %v", o.RetryBackoff, o.MaxRetryBackoff)
	}
	if o.Logger == nil {
		return errors.New("logger is required")
	}
	if err := o.Model.Validate(); err != nil {
		return fmt.Errorf("model options: %w", err)
	}
	return nil
}

// Watcher keeps a Recommender serving the published version of a Source.
type Watcher struct {
	src  Source
	rec  *recommender.Recommender
	opts Options
	log  *slog.Logger
	m    *metrics

	mu          sync.Mutex          // serialises Check
	refused     map[string]*refusal // versions that failed to load, until they load
	stamp       int64               // tombstone stamp last installed
	haveForgets bool                // the tombstone set has been read once
	status      Status              // guarded by statusMu as well
	statusMu    sync.Mutex
	now         func() time.Time

	cancel  context.CancelFunc
	poll    sync.WaitGroup // the polling goroutine
	retire  sync.WaitGroup // goroutines closing swapped-out models
	closing sync.Once
	sink    atomic.Uint32 // keeps warm-up reads from being optimised away
}

// New returns a Watcher that loads versions of src into rec. It does
// nothing until Start or Check.
func New(src Source, rec *recommender.Recommender, opts Options) (*Watcher, error) {
	if src == nil || rec == nil {
		return nil, errors.New("new watcher: source and recommender are required")
	}
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("new watcher: %w", err)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("new watcher: %w", err)
	}
	return &Watcher{src: src, rec: rec, opts: opts, log: opts.Logger, m: m, refused: map[string]*refusal{}, now: time.Now}, nil
}

// Start checks once, synchronously, so that a server starting on a
// healthy data directory serves at once, then polls every
// Options.PollInterval until ctx is done or Close is called.
func (w *Watcher) Start(ctx context.Context) {
	ctx, w.cancel = context.WithCancel(ctx)
	w.Check(ctx)
	w.poll.Go(func() {
		t := time.NewTicker(w.opts.PollInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				w.Check(ctx)
			}
		}
	})
}

// Close stops polling, waits for the goroutines the Watcher started, then
// unloads the model being served and closes it. It is idempotent.
func (w *Watcher) Close() error {
	var err error
	w.closing.Do(func() {
		if w.cancel != nil {
			w.cancel()
		}
		w.poll.Wait()
		w.mu.Lock()
		defer w.mu.Unlock()
		if m := w.rec.Swap(nil); m != nil {
			err = m.Close()
		}
		w.retire.Wait()
		w.m.served.Reset()
	})
	return err
}

// Check reads the tombstone stamp and the published pointer once and
// applies what changed: a new tombstone set, a new version. It returns the
// error of a refused version or unreadable tombstones, which it has also
// logged and counted; a caller polling may ignore it.
func (w *Watcher) Check(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.checkTombstones(); err != nil {
		w.m.tombstoneFailures.Inc()
		w.log.Error("read tombstones; keeping the previous set", "err", err)
		if !w.haveForgets {
			return err // never serve before the tombstones are known
		}
	}
	return w.checkPublished(ctx)
}

func (w *Watcher) checkTombstones() error {
	ts := w.opts.Tombstones
	if ts == nil {
		w.haveForgets = true
		return nil
	}
	stamp, err := ts.Stamp()
	if err != nil {
		return fmt.Errorf("read tombstone stamp: %w", err)
	}
	if w.haveForgets && stamp == w.stamp {
		return nil
	}
	set, err := ts.Forgotten()
	if err != nil {
		return fmt.Errorf("read tombstones: %w", err)
	}
	w.rec.SetForgotten(set)
	first := !w.haveForgets
	w.stamp, w.haveForgets = stamp, true
	if !first {
		w.log.Info("applied a new tombstone list")
	}
	return nil
}

// refusal remembers why and when a version was refused, and the stamp of
// its files then.
type refusal struct {
	stamp   string
	err     error
	next    time.Time     // not retried before, unless the stamp changes
	backoff time.Duration // the wait after the last refusal
}

// errNotDue marks a refused version whose retry is not due yet.
var errNotDue = errors.New("not retried yet")

// Status says what a Watcher serves.
type Status struct {
	// Published is the published version ("" if none or unreadable);
	// Served the version being served ("" if none).
	Published, Served string
	// Degraded is set while a version is published but another one, or
	// nothing, is served because the published one cannot be loaded;
	// Reason then says why.
	Degraded bool
	Reason   string
}

// Status returns what the Watcher serves now. It is safe to call at any
// time, also while Check runs.
func (w *Watcher) Status() Status {
	w.statusMu.Lock()
	defer w.statusMu.Unlock()
	return w.status
}

func (w *Watcher) setStatus(st Status) {
	w.statusMu.Lock()
	was := w.status
	w.status = st
	w.statusMu.Unlock()
	if st.Degraded {
		w.m.degraded.Set(1)
	} else {
		w.m.degraded.Set(0)
	}
	switch {
	case st.Degraded && (!was.Degraded || was.Served != st.Served || was.Published != st.Published):
		w.log.Warn("degraded: the published version cannot be loaded; serving an earlier one and retrying",
			"published", st.Published, "serving", orNothing(st.Served), "reason", st.Reason)
	case !st.Degraded && was.Degraded:
		w.log.Info("no longer degraded: serving the published version", "version", st.Served)
	}
}

func orNothing(v string) string {
	if v == "" {
		return "nothing"
	}
	return v
}

func (w *Watcher) served() string {
	if cur := w.rec.Current(); cur != nil {
		return cur.Version()
	}
	return ""
}

// checkPublished loads the published version if it is not served. When it
// cannot be loaded, the model being served keeps serving; with none, the
// newest version of the publish history that loads is served instead.
// Either way the Watcher is degraded until the published version loads,
// which it retries when its files change or its back-off has passed.
func (w *Watcher) checkPublished(ctx context.Context) error {
	v, err := w.src.Published()
	if errors.Is(err, store.ErrNoPublished) {
		return nil
	}
	if err != nil {
		w.log.Error("read published version", "err", err)
		return fmt.Errorf("read published version: %w", err)
	}
	if w.served() == v {
		w.setStatus(Status{Published: v, Served: v})
		return nil
	}
	err = w.tryLoad(ctx, v)
	if err == nil {
		w.setStatus(Status{Published: v, Served: v})
		return nil
	}
	if ctx.Err() != nil {
		return err // shutting down: not the version's fault
	}
	if w.served() == "" {
		w.fallBack(ctx, v)
	}
	reason := err
	if errors.Is(err, errNotDue) {
		reason = w.refused[v].err
		err = nil // nothing was tried in this call
	}
	w.setStatus(Status{Published: v, Served: w.served(), Degraded: true, Reason: reason.Error()})
	return err
}

// fallBack loads the newest version below pub in the publish history that
// loads, if any.
func (w *Watcher) fallBack(ctx context.Context, pub string) {
	h, err := w.src.History()
	if err != nil {
		w.log.Error("read publish history to fall back on", "err", err)
		return
	}
	for i := len(h) - 1; i >= 0; i-- {
		if h[i] == pub {
			continue
		}
		if err := w.tryLoad(ctx, h[i]); err == nil || ctx.Err() != nil {
			return
		}
	}
}

// tryLoad loads version v and swaps it in, unless v was refused before and
// neither its files changed since nor its back-off has passed (errNotDue).
func (w *Watcher) tryLoad(ctx context.Context, v string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	stamp, _ := w.src.VersionStamp(v) // a missing version fails to load below
	r := w.refused[v]
	if r != nil && stamp == r.stamp && w.now().Before(r.next) {
		return fmt.Errorf("version %s: %w", v, errNotDue)
	}
	start := time.Now()
	m, err := w.load(ctx, v)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		switch {
		case r == nil || stamp != r.stamp:
			r = &refusal{backoff: w.opts.RetryBackoff}
		default:
			r.backoff = min(2*r.backoff, w.opts.MaxRetryBackoff)
		}
		r.stamp, r.err, r.next = stamp, err, w.now().Add(r.backoff)
		w.refused[v] = r
		w.m.failures.Inc()
		w.log.Error("refused snapshot", "version", v, "serving", orNothing(w.served()), "retry_in", r.backoff, "err", err)
		return err
	}
	delete(w.refused, v)
	w.swapIn(v, m, time.Since(start))
	return nil
}

// swapIn serves m (version v) and retires the model it replaces.
func (w *Watcher) swapIn(v string, m *recommender.Model, elapsed time.Duration) {
	old := w.rec.Swap(m)
	w.m.loads.Inc()
	w.m.served.Reset()
	w.m.served.WithLabelValues(v).Set(1)
	w.m.loadedAt.SetToCurrentTime()
	w.m.loadSeconds.Set(elapsed.Seconds())
	if w.opts.OnLoad != nil {
		w.opts.OnLoad(v)
	}
	w.log.Info("loaded snapshot", "version", v, "items", m.NumItems(), "elapsed", elapsed.Round(time.Microsecond))
	if old != nil {
		w.retire.Go(func() {
			if err := old.Close(); err != nil {
				w.log.Warn("close previous snapshot", "version", old.Version(), "err", err)
			}
		})
	}
}

// load opens, verifies, builds and warms version v.
func (w *Watcher) load(ctx context.Context, v string) (*recommender.Model, error) {
	snap, err := w.src.Open(v, store.OpenOptions{VerifyChecksums: w.opts.VerifyChecksums})
	if err != nil {
		return nil, fmt.Errorf("load version %s: %w", v, err)
	}
	m, err := recommender.NewModelWithOptions(snap, w.opts.Model)
	if err != nil {
		snap.Close()
		return nil, fmt.Errorf("load version %s: %w", v, err)
	}
	if err := w.warm(ctx, m, snap); err != nil {
		m.Close()
		return nil, fmt.Errorf("load version %s: warm up: %w", v, err)
	}
	return m, nil
}

// pageFloats is the number of float32 values in a 4 KiB page.
const pageFloats = 4096 / 4

// warm faults in every page of the mapped factor matrices and answers one
// query through the whole SimilarItems path (id lookup, neighbours, a
// cosine scan of the catalogue, id resolution).
func (w *Watcher) warm(ctx context.Context, m *recommender.Model, snap *store.Snapshot) error {
	var sum float32
	for _, data := range [][]float32{snap.ItemFactors().Data, snap.UserFactors().Data} {
		for i := 0; i < len(data); i += pageFloats {
			sum += data[i]
		}
	}
	w.sink.Store(math.Float32bits(sum))
	id, err := snap.ItemID(0)
	if err != nil {
		return err
	}
	_, err = m.SimilarItems(ctx, recommender.SimilarRequest{ItemID: id, N: min(10, m.NumItems())})
	return err
}

// metrics are the Watcher's Prometheus metrics.
type metrics struct {
	loads, failures, tombstoneFailures prometheus.Counter
	served                             *prometheus.GaugeVec
	loadedAt, loadSeconds, degraded    prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		loads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "polecam_model_loads_total",
			Help: "Model versions loaded, verified, warmed and swapped in.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "polecam_model_load_failures_total",
			Help: "Published model versions refused because they failed to open, verify or warm up.",
		}),
		tombstoneFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "polecam_tombstones_load_failures_total",
			Help: "Failed reads of the tombstone list of forgotten users.",
		}),
		served: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "polecam_model_info",
			Help: "1 for the model version being served.",
		}, []string{"version"}),
		loadedAt: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "polecam_model_loaded_timestamp_seconds",
			Help: "Unix time at which the served model version was swapped in.",
		}),
		loadSeconds: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "polecam_model_load_duration_seconds",
			Help: "Seconds spent opening, verifying and warming the served model version.",
		}),
		degraded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "polecam_serving_degraded",
			Help: "1 while a version is published but cannot be loaded, so an earlier one (or nothing) is served; 0 otherwise.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	mapped := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "polecam_mapped_bytes",
		Help: "Bytes of snapshot files memory-mapped by this process (store.MappedBytes); during a swap both versions count.",
	}, func() float64 { return float64(store.MappedBytes()) })
	for _, c := range []prometheus.Collector{m.loads, m.failures, m.tombstoneFailures, m.served, m.loadedAt, m.loadSeconds, m.degraded, mapped} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

// DirTombstones returns the TombstoneSource of a data directory: the
// stamp is store.Dir.TombstonesStamp, the set store.Dir.Tombstones.
func DirTombstones(d *store.Dir) TombstoneSource { return dirTombstones{d} }

type dirTombstones struct{ d *store.Dir }

func (t dirTombstones) Stamp() (int64, error) { return t.d.TombstonesStamp() }

func (t dirTombstones) Forgotten() (recommender.Forgotten, error) {
	ts, err := t.d.Tombstones()
	if err != nil {
		return nil, err
	}
	if ts.Len() == 0 {
		return nil, nil // nobody forgotten: no per-request lookup at all
	}
	return ts, nil
}
