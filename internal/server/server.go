package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	polecamv1 "github.com/polecam/polecam/api/polecam/v1"
)

// Options configures a Server.
type Options struct {
	// Logger receives request logs and lifecycle messages. Requests that
	// succeed are logged at debug level, failures at info or above; no
	// request payload (user ids, item ids) is ever logged.
	Logger *slog.Logger
	// Registry receives the gRPC metrics. A nil Registry disables them.
	Registry *prometheus.Registry
	// ShutdownTimeout bounds the graceful stop: requests still running
	// after it are cancelled.
	ShutdownTimeout time.Duration
	// MaxRecvMsgSize bounds the size of one request message (see
	// limits.go for the limits on its fields).
	MaxRecvMsgSize int
	// MaxConcurrentStreams bounds the requests in flight on one
	// connection; a client's further requests wait for one to finish.
	MaxConcurrentStreams int
	// MaxConnections bounds the connections open at once; further ones
	// wait in the kernel's accept queue until one closes.
	MaxConnections int
	// MaxConnectionIdle closes a connection without a request for this
	// long (the client reconnects when it needs to); 0 never does.
	MaxConnectionIdle time.Duration
	// Models, if set, is served as polecam.v1.ModelService (list, get,
	// publish, roll back, forget).
	Models Models
	// AdminToken is the bearer token ModelService requires. When it is
	// empty, ModelService refuses every call with PermissionDenied and a
	// message saying how to configure one. Never log it.
	AdminToken string
	// StreamWorkers is how many long-lived goroutines run requests. They
	// are reused, so a request does not pay for growing a fresh
	// goroutine's stack (5 % of the CPU at thousands of requests a second,
	// benchmarks/serving.md); when all are busy a request gets a goroutine
	// of its own, as with 0, which starts one per request.
	StreamWorkers int
	// AdaptiveProcs lets Serve set GOMAXPROCS from the load: one P while
	// recommendation requests come one at a time, all of them (GOMAXPROCS
	// when New made the Server, restored when Serve returns) as soon as
	// two overlap. It changes process-wide
	// state, so only the process's owner should set it, and not while
	// another Server runs in the process. See procs.go for the figures.
	AdaptiveProcs bool
	// TrimMemory returns the memory of connections to the operating
	// system once a burst of them has closed (see limits.go). It forces a
	// collection, a process-wide act, so only the process's owner should
	// set it.
	TrimMemory bool
}

// DefaultOptions returns the options polecam serves with.
func DefaultOptions() Options {
	return Options{
		Logger:               slog.Default(),
		ShutdownTimeout:      10 * time.Second,
		MaxRecvMsgSize:       defaultMaxRecvMsgSize,
		MaxConcurrentStreams: defaultMaxStreams,
		MaxConnections:       defaultMaxConnections,
		MaxConnectionIdle:    defaultMaxConnIdle,
		StreamWorkers:        64,
	}
}

// Validate reports whether the options can be used.
func (o Options) Validate() error {
	if o.Logger == nil {
		return errors.New("logger is required")
	}
	if o.ShutdownTimeout <= 0 {
		return fmt.Errorf("shutdown timeout must be positive, got %v", o.ShutdownTimeout)
	}
	if o.MaxRecvMsgSize <= 0 {
		return fmt.Errorf("max receive message size must be positive, got %d", o.MaxRecvMsgSize)
	}
	if o.MaxConcurrentStreams <= 0 || o.MaxConcurrentStreams > 1<<20 {
		return fmt.Errorf("max concurrent streams must be between 1 and %d, got %d", 1<<20, o.MaxConcurrentStreams)
	}
	if o.MaxConnections <= 0 || o.MaxConnections > maxLimitsMaxConnections {
		return fmt.Errorf("max connections must be between 1 and %d, got %d", maxLimitsMaxConnections, o.MaxConnections)
	}
	if o.MaxConnectionIdle < 0 {
		return fmt.Errorf("max connection idle must not be negative, got %v", o.MaxConnectionIdle)
	}
	if o.StreamWorkers < 0 || o.StreamWorkers > maxStreamWorkers {
		return fmt.Errorf("stream workers must be between 0 and %d, got %d", maxStreamWorkers, o.StreamWorkers)
	}
	return nil
}

// maxStreamWorkers bounds Options.StreamWorkers.
const maxStreamWorkers = 1 << 16

// Server is a gRPC server for polecam's services.
type Server struct {
	opts   Options
	grpc   *grpc.Server
	health *health.Server
	procs  *procGovernor // nil unless Options.AdaptiveProcs
}

// serviceName is the health-checked name of the recommendation service.
var serviceName = polecamv1.RecommendationService_ServiceDesc.ServiceName

// New returns a Server answering from rec. Its health is NOT_SERVING until
// SetServing(true) is called.
func New(rec Recommender, opts Options) (*Server, error) {
	if rec == nil {
		return nil, errors.New("new server: recommender is required")
	}
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("new server: %w", err)
	}
	log := opts.Logger
	recoveryOpt := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in request handler", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return status.Error(codes.Internal, "internal error")
	})
	logOpts := []logging.Option{
		logging.WithLogOnEvents(logging.FinishCall),
		logging.WithLevels(func(c codes.Code) logging.Level {
			switch c {
			case codes.OK:
				return logging.LevelDebug
			case codes.InvalidArgument, codes.NotFound, codes.Canceled, codes.DeadlineExceeded,
				codes.Unauthenticated, codes.PermissionDenied, codes.FailedPrecondition:
				return logging.LevelInfo
			case codes.Unavailable:
				return logging.LevelWarn
			default:
				return logging.LevelError
			}
		}),
	}
	var (
		unary   []grpc.UnaryServerInterceptor
		stream  []grpc.StreamServerInterceptor
		metrics *grpcprom.ServerMetrics
	)
	if opts.Registry != nil {
		metrics = grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
			grpcprom.WithHistogramBuckets([]float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .5, 1}),
		))
		if err := opts.Registry.Register(metrics); err != nil {
			return nil, fmt.Errorf("new server: register metrics: %w", err)
		}
		unary = append(unary, metrics.UnaryServerInterceptor())
		stream = append(stream, metrics.StreamServerInterceptor())
	}
	// Authorisation runs after logging, so refused calls are logged (at
	// info: Unauthenticated and PermissionDenied are callers' mistakes).
	auth := newAuthorizer(opts.AdminToken)
	var procs *procGovernor
	if opts.AdaptiveProcs {
		procs = newProcGovernor()
		unary = append(unary, procs.unary)
		stream = append(stream, procs.stream)
	}
	// The limits run after logging too, so refused requests are logged.
	unary = append(unary,
		logging.UnaryServerInterceptor(interceptorLogger(log), logOpts...),
		limitsUnary,
		auth.unary,
		recovery.UnaryServerInterceptor(recoveryOpt),
	)
	stream = append(stream,
		logging.StreamServerInterceptor(interceptorLogger(log), logOpts...),
		limitsStream,
		auth.stream,
		recovery.StreamServerInterceptor(recoveryOpt),
	)
	gs := grpc.NewServer(append(transportOptions(opts),
		grpc.NumStreamWorkers(uint32(opts.StreamWorkers)),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
	)...)
	polecamv1.RegisterRecommendationServiceServer(gs, &recommendationService{rec: rec, batchWorkers: batchWorkersFor()})
	if opts.Models != nil {
		polecamv1.RegisterModelServiceServer(gs, &modelService{models: opts.Models, log: log})
	}
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	hs.SetServingStatus(serviceName, healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs)
	if metrics != nil {
		metrics.InitializeMetrics(gs)
	}
	return &Server{opts: opts, grpc: gs, health: hs, procs: procs}, nil
}

// SetServing sets the health of the server and of the recommendation
// service: SERVING once a model is loaded.
func (s *Server) SetServing(ok bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if ok {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(serviceName, st)
}

// Serve accepts connections on lis, at most Options.MaxConnections at
// once, until ctx is done, then stops
// gracefully: health turns NOT_SERVING, new connections are refused and
// requests in flight finish, up to Options.ShutdownTimeout, after which
// they are cancelled. It returns nil after a shutdown caused by ctx.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	if s.procs != nil {
		pctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.procs.run(pctx)
		}()
		defer func() {
			stop()
			<-done
		}()
	}
	lis = limitListener(lis, s.opts.MaxConnections)
	if s.opts.TrimMemory {
		cl := &countingListener{Listener: lis}
		lis = cl
		tctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			trimAfterBursts(tctx, cl, time.Second, trimDelay, func() {
				debug.FreeOSMemory()
				s.opts.Logger.Debug("returned the memory of closed connections", "open_connections", cl.open.Load())
			})
		}()
		defer func() {
			stop()
			<-done
		}()
	}
	errc := make(chan error, 1)
	go func() { errc <- s.grpc.Serve(lis) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve grpc: %w", err)
	case <-ctx.Done():
	}
	s.health.Shutdown()
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	t := time.NewTimer(s.opts.ShutdownTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.opts.Logger.Warn("graceful shutdown timed out; cancelling requests in flight", "timeout", s.opts.ShutdownTimeout)
		s.grpc.Stop()
		<-done
	}
	<-errc
	return nil
}

// MetricsHandler returns an HTTP handler exposing reg in the Prometheus
// text format, with Go runtime and process collectors registered.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// NewRegistry returns a Prometheus registry with the Go runtime and
// process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// interceptorLogger adapts slog to go-grpc-middleware's logging interface.
// It drops the peer address the middleware always adds: a client's IP
// address is personal data (GDPR), and what a request log is for — which
// method, which code, how long — does not need it. Request payloads are
// never logged either (the middleware logs them only on the
// PayloadReceived/PayloadSent events, which are off).
func interceptorLogger(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		if !l.Enabled(ctx, slog.Level(lvl)) {
			return
		}
		l.Log(ctx, slog.Level(lvl), msg, dropPersonalFields(fields)...)
	})
}

// personalFields are the middleware's fields that identify a person.
var personalFields = map[string]bool{"peer.address": true}

// dropPersonalFields returns a copy of a key/value list without
// personalFields; the middleware owns (and reuses) fields.
func dropPersonalFields(fields []any) []any {
	out := make([]any, 0, len(fields))
	for i := 0; i+1 < len(fields); i += 2 {
		if k, ok := fields[i].(string); ok && personalFields[k] {
			continue
		}
		out = append(out, fields[i], fields[i+1])
	}
	return out
}
