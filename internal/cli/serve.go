package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/polecam/polecam/internal/server"
	"github.com/polecam/polecam/internal/serving"
	"github.com/polecam/polecam/recommender"
	"github.com/polecam/polecam/recommender/rules"
	"github.com/polecam/polecam/store"
)

// ServeOptions configures Serve.
type ServeOptions struct {
	// DataDir is the data directory whose published snapshot is served.
	DataDir string
	// MetricsAddr is where Prometheus metrics are served over HTTP
	// (/metrics); empty disables them.
	MetricsAddr string
	// Pprof also serves the Go profiler's /debug/pprof/ endpoints on
	// MetricsAddr, for profiling a live server. Off by default: profiles
	// reveal internals, so expose them only where /metrics is private.
	Pprof bool
	// PollInterval is how often the published pointer and the tombstone
	// list are checked for changes.
	PollInterval time.Duration
	// VerifyChecksums checks every file checksum of a version before
	// serving it; a version that fails is refused and the previous one
	// keeps serving.
	VerifyChecksums bool
	// AdminTokenFile holds the bearer token of polecam.v1.ModelService.
	// Empty: the token comes from $POLECAM_ADMIN_TOKEN, if set.
	AdminTokenFile string
	// GCPercent is the garbage collector's target (as GOGC) while
	// serving. A request allocates little, but at thousands of requests a
	// second the default of 100 runs a collection every few milliseconds,
	// which shows in the latency tail; the mapped vectors are not on the
	// Go heap, so a higher target costs little memory. The GOGC
	// environment variable, when set, wins. 0 leaves the runtime's setting.
	// With a memory limit (MemoryLimit) a high target is safe: the
	// collector runs as often as it must to stay under the limit.
	GCPercent int
	// RulesFile is a merchandising rules file (YAML or JSON; see package
	// recommender/rules), re-read when it changes. Empty: no rules.
	RulesFile string
	// MemoryLimit is the Go runtime's soft memory limit while serving
	// (see memlimit.go): "auto" (90 % of the cgroup's memory limit when
	// there is one; GOMEMLIMIT in the environment wins), "none", or a
	// size such as 2GiB.
	MemoryLimit string
	// Server configures the gRPC server.
	Server server.Options
}

// DefaultServeOptions returns the options polecam serves with.
func DefaultServeOptions() ServeOptions {
	return ServeOptions{
		DataDir:         defaultDataDir,
		MetricsAddr:     "127.0.0.1:9464",
		PollInterval:    5 * time.Second,
		VerifyChecksums: true,
		GCPercent:       1000,
		MemoryLimit:     "auto",
		Server:          serverDefaults(),
	}
}

// serverDefaults are server.DefaultOptions with adaptive parallelism
// and memory trimming, which a whole process may use: polecam serve owns
// its process. A
// GOMAXPROCS set in the environment is the operator's choice and turns it
// off.
func serverDefaults() server.Options {
	o := server.DefaultOptions()
	o.AdaptiveProcs = os.Getenv("GOMAXPROCS") == ""
	o.TrimMemory = true
	return o
}

// Validate reports whether the options can be used.
func (o ServeOptions) Validate() error {
	if o.DataDir == "" {
		return errors.New("data directory is required")
	}
	if o.PollInterval <= 0 {
		return fmt.Errorf("poll interval must be positive, got %v", o.PollInterval)
	}
	if _, _, err := parseMemoryLimit(o.MemoryLimit); err != nil {
		return err
	}
	if o.Pprof && o.MetricsAddr == "" {
		return errors.New("pprof is served on the metrics address, which is empty")
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
			"picks up a newly published version within --poll-interval without dropping\n" +
			"requests (a version failing its checksums is refused and retried when its files\n" +
			"change; the old one keeps serving, or, with none, the newest good version of the\n" +
			"publish history, reported by polecam_serving_degraded),\n" +
			"applies forgotten users at once, and stops gracefully on SIGINT or SIGTERM.\n" +
			"polecam.v1.ModelService (list, publish, rollback, forget) requires the bearer token\n" +
			"from --admin-token-file or $POLECAM_ADMIN_TOKEN.",
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
	f.StringVar(&o.RulesFile, "rules", "", "merchandising rules file (YAML or JSON), re-read when it changes; a bad new file keeps the old rules")
	f.StringVar(addr, "addr", "127.0.0.1:50051", "gRPC listen address")
	f.StringVar(&o.MetricsAddr, "metrics-addr", o.MetricsAddr, "Prometheus /metrics listen address (empty disables)")
	f.BoolVar(&o.Pprof, "pprof", false, "also serve Go profiles under /debug/pprof/ on --metrics-addr")
	f.DurationVar(&o.PollInterval, "poll-interval", o.PollInterval, "how often to check for a newly published version and newly forgotten users")
	f.BoolVar(&o.VerifyChecksums, "verify-checksums", o.VerifyChecksums, "check every file checksum of a version before serving it")
	f.StringVar(&o.AdminTokenFile, "admin-token-file", "", "file holding the bearer token for polecam.v1.ModelService (default $"+adminTokenEnv+"; unset disables the admin service)")
	f.DurationVar(&o.Server.ShutdownTimeout, "shutdown-timeout", o.Server.ShutdownTimeout, "how long a graceful stop waits for requests in flight")
	f.BoolVar(&o.Server.AdaptiveProcs, "adaptive-procs", o.Server.AdaptiveProcs, "run on one core while requests come one at a time, on all as soon as two overlap (off when GOMAXPROCS is set)")
	f.IntVar(&o.Server.StreamWorkers, "stream-workers", o.Server.StreamWorkers, "long-lived goroutines that run requests (0: a new goroutine per request)")
	f.IntVar(&o.GCPercent, "gc-percent", o.GCPercent, "garbage-collection target while serving, as GOGC (GOGC in the environment wins; 0 keeps the runtime's)")
	f.StringVar(&o.MemoryLimit, "memory-limit", o.MemoryLimit, "Go runtime soft memory limit: auto (90 % of the cgroup's memory limit, if any; GOMEMLIMIT wins), none, or a size such as 2GiB")
	f.IntVar(&o.Server.MaxConnections, "max-connections", o.Server.MaxConnections, "connections served at once; more wait to be accepted")
	f.IntVar(&o.Server.MaxConcurrentStreams, "max-concurrent-streams", o.Server.MaxConcurrentStreams, "requests in flight on one connection")
	f.DurationVar(&o.Server.MaxConnectionIdle, "max-connection-idle", o.Server.MaxConnectionIdle, "close a connection without requests for this long (0: never)")
}

// setGCPercent applies the serving garbage-collection target unless the
// GOGC environment variable already chose one.
func setGCPercent(percent int, getenv func(string) string) bool {
	if percent == 0 || getenv("GOGC") != "" {
		return false
	}
	debug.SetGCPercent(percent)
	return true
}

func listenAndServe(ctx context.Context, addr string, o ServeOptions) error {
	tok, err := readAdminToken(o.AdminTokenFile, os.Getenv)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	o.Server.AdminToken = tok
	if setGCPercent(o.GCPercent, os.Getenv) {
		o.Server.Logger.Debug("set garbage-collection target", "gc_percent", o.GCPercent)
	}
	limit, why, err := memoryLimit(o.MemoryLimit, os.Getenv, rootFS)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	o.Server.Logger.Info("memory limit", "bytes", limit, "source", why)
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("serve: listen: %w", err)
	}
	return Serve(ctx, lis, o)
}

// Serve serves the published snapshot of o.DataDir on lis until ctx is
// done. Health stays NOT_SERVING until a model is loaded; a version
// published later is verified, warmed and swapped in while requests
// continue (see package serving), and users forgotten in the data
// directory are served as unknown visitors from the next poll on.
// polecam.v1.ModelService answers over the same data directory, behind
// o.Server.AdminToken.
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
	if o.RulesFile != "" {
		wo := rules.DefaultWatchOptions()
		wo.Interval = o.PollInterval
		wo.Logger = log
		rw, err := rules.Watch(ctx, o.RulesFile, wo)
		if err != nil {
			lis.Close()
			return fmt.Errorf("serve: %w", err)
		}
		defer rw.Close()
		rec.SetRules(rw)
		log.Info("applying merchandising rules", "file", o.RulesFile, "rules", len(rw.File().Rules))
	}
	if o.MetricsAddr != "" && o.Server.Registry == nil {
		o.Server.Registry = server.NewRegistry()
	}
	o.Server.Models = dir
	srv, err := server.New(rec, o.Server)
	if err != nil {
		lis.Close()
		return fmt.Errorf("serve: %w", err)
	}
	// Scans split over the cores the process started with, whatever
	// GOMAXPROCS adaptive parallelism has set when a version is loaded.
	wo := serving.DefaultOptions()
	wo.PollInterval = o.PollInterval
	wo.VerifyChecksums = o.VerifyChecksums
	wo.Logger = log
	wo.Tombstones = serving.DirTombstones(dir)
	wo.OnLoad = func(string) { srv.SetServing(true) }
	if o.Server.Registry != nil {
		wo.Registerer = o.Server.Registry
	}
	w, err := serving.New(dir, rec, wo)
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
		hs := &http.Server{Handler: metricsMux(o.Server.Registry, o.Pprof), ReadHeaderTimeout: 5 * time.Second}
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

	// The first load happens before the listener answers; the watcher is
	// closed (and the last model unmapped) after the gRPC server stopped.
	w.Start(ctx)
	defer func() {
		if err := w.Close(); err != nil {
			log.Warn("close model", "err", err)
		}
	}()
	if o.Server.AdminToken == "" {
		log.Info("admin service disabled: no admin token configured")
	}
	log.Info("serving gRPC", "addr", lis.Addr().String(), "data_dir", o.DataDir)
	err = srv.Serve(ctx, lis)
	cancel()
	log.Info("stopped")
	return err
}

// metricsMux serves reg's metrics on /metrics and, with withPprof, the Go
// profiles under /debug/pprof/.
func metricsMux(reg *prometheus.Registry, withPprof bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", server.MetricsHandler(reg))
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// readAdminToken returns the admin token from file, or else from the
// environment variable POLECAM_ADMIN_TOKEN (looked up with getenv), or ""
// when neither is set. Surrounding white space (a trailing newline) is
// dropped; a file that holds nothing else is an error.
func readAdminToken(file string, getenv func(string) string) (string, error) {
	if file == "" {
		return strings.TrimSpace(getenv(adminTokenEnv)), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read admin token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("read admin token: %s is empty", file)
	}
	return tok, nil
}

// adminTokenEnv is the environment variable holding the admin token when
// no --admin-token-file is given.
const adminTokenEnv = "POLECAM_ADMIN_TOKEN"
