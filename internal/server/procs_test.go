package server

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
)

// fakeProcs is a procGovernor whose GOMAXPROCS and runnable count are
// recorded and scripted instead of the runtime's.
func fakeProcs(max int) (*procGovernor, *[]int, *uint64) {
	var set []int
	var runnable uint64
	g := &procGovernor{
		max:      max,
		setProcs: func(n int) int { set = append(set, n); return 0 },
		runnable: func() uint64 { return runnable },
	}
	return g, &set, &runnable
}

func TestProcGovernorStep(t *testing.T) {
	tests := []struct {
		name      string
		cur       int
		quiet     int
		peak      int32
		runnable  uint64
		wantCur   int
		wantQuiet int
		wantSet   []int
	}{
		{"quiet, not yet long enough", 2, 0, 1, 0, 2, 1, nil},
		{"quiet long enough: one P", 2, procsQuietTicks - 1, 1, 0, 1, procsQuietTicks, []int{1}},
		{"already one P", 1, procsQuietTicks, 0, 0, 1, procsQuietTicks + 1, nil},
		{"overlap on one P: all of them", 1, 30, 2, 0, 4, 0, []int{4}},
		{"backlog on one P: all of them", 1, 30, 1, procsBacklog, 4, 0, []int{4}},
		{"a lone request's hand-overs are no backlog", 1, 30, 1, procsBacklog - 1, 1, 31, nil},
		{"overlap on all Ps: stay", 4, 5, 3, 0, 4, 0, nil},
	}
	for _, tt := range tests {
		g, set, runnable := fakeProcs(4)
		g.peak.Store(tt.peak)
		*runnable = tt.runnable
		cur, quiet := g.step(tt.cur, tt.quiet)
		if cur != tt.wantCur || quiet != tt.wantQuiet || !slices.Equal(*set, tt.wantSet) {
			t.Errorf("%s: step(%d, %d) = %d, %d, set GOMAXPROCS %v; want %d, %d, %v", tt.name, tt.cur, tt.quiet, cur, quiet, *set, tt.wantCur, tt.wantQuiet, tt.wantSet)
		}
		if p := g.peak.Load(); p != 0 {
			t.Errorf("%s: peak after step = %d, want the requests in flight (0)", tt.name, p)
		}
	}
}

func TestProcGovernorCountsRecommendationCalls(t *testing.T) {
	g, _, _ := fakeProcs(2)
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	handler := func(ctx context.Context, req any) (any, error) {
		started <- struct{}{}
		<-release
		return nil, nil
	}
	call := func(method string) chan struct{} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			g.unary(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: method}, handler)
		}()
		<-started
		return done
	}
	a := call(governedPrefix + "Recommend")
	b := call(governedPrefix + "SimilarItems")
	c := call("/grpc.health.v1.Health/Check")
	if got := g.inflight.Load(); got != 2 {
		t.Errorf("in flight = %d with two recommendation calls and a health check running, want 2", got)
	}
	if got := g.peak.Load(); got != 2 {
		t.Errorf("peak = %d, want 2", got)
	}
	close(release)
	<-a
	<-b
	<-c
	if got := g.inflight.Load(); got != 0 {
		t.Errorf("in flight = %d after every call returned, want 0", got)
	}
}

func TestProcGovernorRunRestores(t *testing.T) {
	g, _, _ := fakeProcs(2)
	sets := make(chan int, 4)
	g.setProcs = func(n int) int { sets <- n; return 0 }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.run(ctx)
	}()
	// With nothing in flight the governor goes down to one P after
	// procsQuietTicks ticks, and back to 2 when it stops.
	select {
	case n := <-sets:
		if n != 1 {
			t.Fatalf("first GOMAXPROCS setting with nothing in flight = %d, want 1", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the governor did not go down to one P within 10 s of quiet")
	}
	cancel()
	<-done
	select {
	case n := <-sets:
		if n != 2 {
			t.Errorf("GOMAXPROCS set to %d when the governor stopped, want 2 restored", n)
		}
	default:
		t.Error("the governor stopped without restoring GOMAXPROCS")
	}
}

// TestProcGovernorCountsBatchStreams checks that an open BatchRecommend
// stream counts as a call per P, so a lone batch runs on every P, and
// that other streams do not count.
func TestProcGovernorCountsBatchStreams(t *testing.T) {
	g, _, _ := fakeProcs(2)
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	handler := func(srv any, ss grpc.ServerStream) error {
		started <- struct{}{}
		<-release
		return nil
	}
	open := func(method string) chan struct{} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			g.stream(nil, nil, &grpc.StreamServerInfo{FullMethod: method}, handler)
		}()
		<-started
		return done
	}
	a := open(governedPrefix + "BatchRecommend")
	b := open("/grpc.health.v1.Health/Watch")
	if got := g.inflight.Load(); got != 2 {
		t.Errorf("in flight = %d with one batch stream and a health watch open, want 2 (one per P)", got)
	}
	if got := g.peak.Load(); got != 2 {
		t.Errorf("peak = %d, want 2", got)
	}
	close(release)
	<-a
	<-b
	if got := g.inflight.Load(); got != 0 {
		t.Errorf("in flight = %d after the streams closed, want 0", got)
	}
}
