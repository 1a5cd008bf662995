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
type Source interface {
	Published() (string, error)
	Open(version string, opts store.OpenOptions) (*store.Snapshot, error)
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
		Logger:          slog.Default(),
		Model:           recommender.DefaultModelOptions(),
	}
}

// Validate reports whether the options can be used.
func (o Options) Validate() error {
	if o.PollInterval <= 0 {
		return fmt.Errorf("poll interval must be positive, got %v", o.PollInterval)
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

	mu          sync.Mutex      // serialises Check
	refused     map[string]bool // versions that failed to load; not retried
	stamp       int64           // tombstone stamp last installed
	haveForgets bool            // the tombstone set has been read once

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
	return &Watcher{src: src, rec: rec, opts: opts, log: opts.Logger, m: m, refused: map[string]bool{}}, nil
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

func (w *Watcher) checkPublished(ctx context.Context) error {
	v, err := w.src.Published()
	if errors.Is(err, store.ErrNoPublished) {
		return nil
	}
	if err != nil {
		w.log.Error("read published version", "err", err)
		return fmt.Errorf("read published version: %w", err)
	}
	if cur := w.rec.Current(); cur != nil && cur.Version() == v {
		return nil
	}
	if w.refused[v] {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	start := time.Now()
	m, err := w.load(ctx, v)
	if err != nil {
		if ctx.Err() != nil {
			return err // shutting down: not the version's fault
		}
		w.refused[v] = true
		w.m.failures.Inc()
		w.log.Error("refused snapshot; still serving the previous one", "version", v, "err", err)
		return err
	}
	elapsed := time.Since(start)
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
	return nil
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
	loadedAt, loadSeconds              prometheus.Gauge
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
	}
	if reg == nil {
		return m, nil
	}
	mapped := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "polecam_mapped_bytes",
		Help: "Bytes of snapshot files memory-mapped by this process (store.MappedBytes); during a swap both versions count.",
	}, func() float64 { return float64(store.MappedBytes()) })
	for _, c := range []prometheus.Collector{m.loads, m.failures, m.tombstoneFailures, m.served, m.loadedAt, m.loadSeconds, mapped} {
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
