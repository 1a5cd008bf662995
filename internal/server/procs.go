package server

import (
	"context"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
)

// Adaptive parallelism. A request that arrives alone is answered fastest
// on one P: its goroutines (the connection's reader, the handler, the
// writer) then hand over to each other on one thread, while with two Ps
// every hand-over may wake the other P's thread on another core, and on a
// virtual machine waking an idle core is slow. On 100k x 64 with one
// sequential client, GOMAXPROCS 1 gave p50 0.32 ms and p99 0.70-0.74 ms
// against 0.44 and 0.99-1.00 ms with 2; on 1M items p99 1.78-1.97 against
// 2.38-2.45 ms. Requests that overlap need every core (5,900 against
// 8,700 requests a second with 64 in flight on 2 cores), so the governor
// gives the process all its Ps as soon as requests overlap, and one P
// again after a quiet spell (benchmarks/serving.md).
//
// On one P, requests cannot be seen to overlap by counting them in an
// interceptor: a handler runs to its end before the next starts, and the
// others wait as runnable goroutines. So the governor also samples the
// runtime's count of runnable goroutines.
const (
	// procsTick is how often the governor looks at the requests.
	procsTick = 10 * time.Millisecond
	// procsQuietTicks is how many ticks without overlapping requests it
	// waits before going down to one P.
	procsQuietTicks = 20
	// procsBacklog is how many runnable goroutines, sampled at a tick,
	// mean work is waiting for a P: a lone request's hand-overs (reader,
	// handler, writer) make fewer.
	procsBacklog = 4
)

// runnableMetric is the runtime's count of goroutines waiting for a P.
const runnableMetric = "/sched/goroutines/runnable:goroutines"

// procGovernor counts the recommendation requests in flight and sets
// GOMAXPROCS from them (see Options.AdaptiveProcs).
type procGovernor struct {
	max      int          // GOMAXPROCS when the governor started
	inflight atomic.Int32 // recommendation requests running now
	peak     atomic.Int32 // most in flight since the last tick
	// setProcs is runtime.GOMAXPROCS and runnable reads runnableMetric;
	// tests replace them.
	setProcs func(int) int
	runnable func() uint64
}

func newProcGovernor() *procGovernor {
	sample := []metrics.Sample{{Name: runnableMetric}}
	return &procGovernor{
		max:      runtime.GOMAXPROCS(0),
		setProcs: runtime.GOMAXPROCS,
		runnable: func() uint64 {
			// Called from the governor's goroutine only, so the sample
			// slice is reused without a lock.
			metrics.Read(sample)
			if sample[0].Value.Kind() != metrics.KindUint64 {
				return 0 // an older runtime without the metric
			}
			return sample[0].Value.Uint64()
		},
	}
}

// governedPrefix selects the calls the governor counts: the
// recommendation service's, not health checks or admin calls.
var governedPrefix = "/" + serviceName + "/"

// unary counts the calls of the recommendation service in flight.
func (g *procGovernor) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !strings.HasPrefix(info.FullMethod, governedPrefix) {
		return handler(ctx, req)
	}
	n := g.inflight.Add(1)
	defer g.inflight.Add(-1)
	// Record the peak; the next tick acts on it, so a request never
	// waits for a switch.
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	return handler(ctx, req)
}

// stream counts a stream of the recommendation service (BatchRecommend)
// as a call per P while it is open: its entries are answered several at
// a time, so it needs every P, as overlapping calls do.
func (g *procGovernor) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if !strings.HasPrefix(info.FullMethod, governedPrefix) {
		return handler(srv, ss)
	}
	w := int32(max(g.max, 2))
	n := g.inflight.Add(w)
	defer g.inflight.Add(-w)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	return handler(srv, ss)
}

// run sets GOMAXPROCS every procsTick until ctx is done, then restores
// the value it started with. Server.Serve runs it and waits for it.
func (g *procGovernor) run(ctx context.Context) {
	if g.max <= 1 {
		<-ctx.Done()
		return
	}
	cur, quiet := g.max, 0
	defer func() {
		if cur != g.max {
			g.setProcs(g.max)
		}
	}()
	t := time.NewTicker(procsTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur, quiet = g.step(cur, quiet)
	}
}

// step is one tick: it reads and resets the peak and returns the new
// GOMAXPROCS and quiet-tick count.
func (g *procGovernor) step(cur, quiet int) (int, int) {
	peak := g.peak.Swap(g.inflight.Load())
	if peak > 1 || g.runnable() >= procsBacklog {
		if cur != g.max {
			g.setProcs(g.max)
		}
		return g.max, 0
	}
	if quiet++; quiet >= procsQuietTicks && cur != 1 {
		g.setProcs(1)
		return 1, quiet
	}
	return cur, quiet
}
