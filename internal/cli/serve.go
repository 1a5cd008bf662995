package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/polecam/polecam/internal/server"
	"github.com/polecam/polecam/recommender"
	"github.com/polecam/polecam/store"
)

// ServeOptions configures Serve.
type ServeOptions struct {
	// DataDir is the data directory whose published snapshot is served.
	DataDir string
	// MetricsAddr is where Prometheus metrics are served over HTTP
	// (/metrics); empty disables them.
	MetricsAddr string
	// PollInterval is how often the published pointer is checked for a new
	// version.
	PollInterval time.Duration
	// Server configures the gRPC server.
	Server server.Options
}

// DefaultServeOptions returns the options polecam serves with.
func DefaultServeOptions() ServeOptions {
	return ServeOptions{
		DataDir:      defaultDataDir,
		MetricsAddr:  "127.0.0.1:9464",
		PollInterval: 5 * time.Second,
		Server:       server.DefaultOptions(),
	}
}

// Validate reports whether the options can be used.
func (o ServeOptions) Validate() error {
	if o.DataDir == "" {
		return errors.New("data directory is required")
	}
	if o.PollInterval <= 0 {
		return fmt.Errorf("poll interval must be positive, got %v", o.PollInterval)
	}
	return o.Server.Validate()
}

func newServeCmd(e *env) *cobra.Command {
	o := DefaultServeOptions()
	var addr string
	cmd := &cobra.Command{
		Use:   "serve --data-dir DIR --addr HOST:PORT",
		Short: "Serve recommendations over gRPC from the published snapshot",
		Long: "serve opens the published snapshot read-only, memory-maps its vectors and answers\n" +
			"polecam.v1.RecommendationService on --addr, with gRPC health and reflection. It\n" +
			"picks up a newly published version without dropping requests, and stops gracefully\n" +
			"on SIGINT or SIGTERM.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := e.logger()
			if err != nil {
				return err
			}
			o.Server.Logger = log
			return listenAndServe(cmd.Context(), addr, o)
		},
	}
	addServeFlags(cmd, &o, &addr)
	return cmd
}

func addServeFlags(cmd *cobra.Command, o *ServeOptions, addr *string) {
	f := cmd.Flags()
	f.StringVar(&o.DataDir, "data-dir", o.DataDir, "data directory holding the snapshots")
	f.StringVar(addr, "addr", "127.0.0.1:50051", "gRPC listen address")
	f.StringVar(&o.MetricsAddr, "metrics-addr", o.MetricsAddr, "Prometheus /metrics listen address (empty disables)")
	f.DurationVar(&o.PollInterval, "poll-interval", o.PollInterval, "how often to check for a newly published version")
	f.DurationVar(&o.Server.ShutdownTimeout, "shutdown-timeout", o.Server.ShutdownTimeout, "how long a graceful stop waits for requests in flight")
}

func listenAndServe(ctx context.Context, addr string, o ServeOptions) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("serve: listen: %w", err)
	}
	return Serve(ctx, lis, o)
}

// Serve serves the published snapshot of o.DataDir on lis until ctx is
// done. Health stays NOT_SERVING until a model is loaded; a version
// published later is loaded and swapped in while requests continue.
func Serve(ctx context.Context, lis net.Listener, o ServeOptions) error {
	if err := o.Validate(); err != nil {
		lis.Close()
		return fmt.Errorf("serve: %w", err)
	}
	log := o.Server.Logger
	dir, err := store.OpenDir(o.DataDir)
	if err != nil {
		lis.Close()
		return fmt.Errorf("serve: %w", err)
	}
	rec := recommender.New()
	if o.MetricsAddr != "" && o.Server.Registry == nil {
		o.Server.Registry = server.NewRegistry()
	}
	srv, err := server.New(rec, o.Server)
	if err != nil {
		lis.Close()
		return fmt.Errorf("serve: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()

	if o.MetricsAddr != "" {
		mlis, err := net.Listen("tcp", o.MetricsAddr)
		if err != nil {
			lis.Close()
			return fmt.Errorf("serve: metrics listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", server.MetricsHandler(o.Server.Registry))
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		wg.Go(func() {
			if err := hs.Serve(mlis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server stopped", "err", err)
			}
		})
		wg.Go(func() {
			<-ctx.Done()
			sctx, scancel := context.WithTimeout(context.Background(), time.Second)
			defer scancel()
			hs.Shutdown(sctx)
		})
		log.Info("serving metrics", "addr", mlis.Addr().String())
	}

	w := &watcher{dir: dir, rec: rec, log: log, onLoad: func() { srv.SetServing(true) }}
	w.check(ctx)
	wg.Go(func() { w.run(ctx, o.PollInterval) })
	defer w.close()

	log.Info("serving gRPC", "addr", lis.Addr().String(), "data_dir", o.DataDir)
	err = srv.Serve(ctx, lis)
	cancel()
	log.Info("stopped")
	return err
}

// watcher loads the published version of a data directory into a
// recommender and swaps in every version published later.
type watcher struct {
	dir    *store.Dir
	rec    *recommender.Recommender
	log    *slog.Logger
	onLoad func()

	failed string // the last version that failed to load, not retried
}

func (w *watcher) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.check(ctx)
		}
	}
}

// check loads the published version if it is not the one being served.
func (w *watcher) check(ctx context.Context) {
	v, err := w.dir.Published()
	if errors.Is(err, store.ErrNoPublished) {
		return
	}
	if err != nil {
		w.log.Error("read published version", "err", err)
		return
	}
	if cur := w.rec.Current(); (cur != nil && cur.Version() == v) || v == w.failed {
		return
	}
	if ctx.Err() != nil {
		return
	}
	start := time.Now()
	snap, err := w.dir.Open(v, store.OpenOptions{})
	if err != nil {
		w.failed = v
		w.log.Error("refused snapshot; still serving the previous one", "version", v, "err", err)
		return
	}
	m, err := recommender.NewModel(snap)
	if err != nil {
		snap.Close()
		w.failed = v
		w.log.Error("refused snapshot; still serving the previous one", "version", v, "err", err)
		return
	}
	old := w.rec.Swap(m)
	w.onLoad()
	w.log.Info("loaded snapshot", "version", v, "items", snap.NumItems(), "users", snap.NumUsers(),
		"elapsed", time.Since(start).Round(time.Microsecond))
	if old != nil {
		if err := old.Close(); err != nil {
			w.log.Warn("close previous snapshot", "version", old.Version(), "err", err)
		}
	}
}

// close closes the model being served; called once serving has stopped.
func (w *watcher) close() {
	if m := w.rec.Swap(nil); m != nil {
		m.Close()
	}
}
