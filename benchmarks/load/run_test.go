package load_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/polecam/polecam/benchmarks/fixture"
	"github.com/polecam/polecam/benchmarks/load"
	"github.com/polecam/polecam/internal/cli"
	"github.com/polecam/polecam/store"
)

// TestRunAgainstServer loads a real server, started in-process on a tiny
// fixture, for about a second in each mode.
func TestRunAgainstServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	ctx := context.Background()
	dataDir := t.TempDir()
	d, err := store.OpenDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	fo := fixture.DefaultOptions()
	fo.Items, fo.Users, fo.Factors = 2000, 500, 16
	if _, err := fixture.Write(ctx, d, fo); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	so := cli.DefaultServeOptions()
	so.DataDir, so.MetricsAddr = dataDir, ""
	so.Server.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- cli.Serve(sctx, lis, so) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("Serve() = %v, want nil after cancel", err)
		}
	}()

	for _, tt := range []struct {
		name string
		edit func(*load.Options)
	}{
		{"closed", func(o *load.Options) { o.Concurrency, o.Connections = 4, 2 }},
		{"open", func(o *load.Options) { o.Rate, o.Concurrency = 300, 8 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := load.DefaultOptions(lis.Addr().String())
			o.Users, o.Items = fo.Users, fo.Items
			o.Warmup, o.Duration = 100*time.Millisecond, 700*time.Millisecond
			o.WaitServing = 20 * time.Second
			tt.edit(&o)
			start := time.Now()
			r, err := load.Run(ctx, o)
			if err != nil {
				t.Fatalf("Run() error = %v", err)
			}
			if took := time.Since(start); took > o.Warmup+o.Duration+o.Timeout+20*time.Second {
				t.Errorf("Run() took %v, want it to stop after about %v", took, o.Warmup+o.Duration)
			}
			if r.ErrorCount() != 0 || r.Unsent != 0 {
				t.Errorf("Run() errors %v, unsent %d; want none", r.Errors, r.Unsent)
			}
			if r.OK < 20 || r.Methods[load.MethodRecommend] == 0 || r.Methods[load.MethodSimilarItems] == 0 {
				t.Errorf("Run() ok %d, methods %v; want at least 20 requests of both kinds", r.OK, r.Methods)
			}
			if o.Rate > 0 {
				// An open loop sends what was scheduled: rate x duration.
				want := o.Rate * o.Duration.Seconds()
				if math.Abs(float64(r.Requests)-want) > 0.05*want+2 {
					t.Errorf("open loop sent %d requests, want about %.0f", r.Requests, want)
				}
				if r.SendLag == nil {
					t.Error("open loop result has no send lag")
				}
			}
			if r.Latency.P50Ms <= 0 || r.Latency.P50Ms > r.Latency.P99Ms || r.Latency.P99Ms > r.Latency.MaxMs {
				t.Errorf("latency %+v, want 0 < p50 <= p99 <= max", r.Latency)
			}
			var buf bytes.Buffer
			if err := load.Summary(&buf, r); err != nil || !strings.Contains(buf.String(), "QPS") {
				t.Errorf("Summary() = %q, %v", buf.String(), err)
			}
		})
	}
}
