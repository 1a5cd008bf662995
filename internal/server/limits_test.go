package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	polecamv1 "github.com/polecam/polecam/api/polecam/v1"
)

// TestRequestLimits checks that requests over the limits are refused with
// INVALID_ARGUMENT naming the field, before they reach the recommender:
// among them the 240,000-id exclude list that grew the server by
// gigabytes (it fits the 4 MiB message limit the server used to have).
func TestRequestLimits(t *testing.T) {
	rec := &fakeRecommender{}
	conn, _ := startServerWith(t, rec, func(o *Options) { o.MaxRecvMsgSize = 4 << 20 })
	c := polecamv1.NewRecommendationServiceClient(conn)
	ids := func(n, size int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%0*d", size, i)
		}
		return out
	}
	long := strings.Repeat("x", 100_000)
	tests := []struct {
		name string
		call func() error
		want string // in the message; "" for a request that passes
	}{
		{"240,000 exclude ids", func() error {
			_, err := c.Recommend(context.Background(), &polecamv1.RecommendRequest{UserId: "u1", N: 10, ExcludeItemIds: ids(240_000, 8)})
			return err
		}, "exclude_item_ids has 240000 entries, at most 10000"},
		{"10,000 exclude ids", func() error {
			_, err := c.Recommend(context.Background(), &polecamv1.RecommendRequest{UserId: "u1", N: 10, ExcludeItemIds: ids(MaxListLen, 8)})
			return err
		}, ""},
		{"long user id", func() error {
			_, err := c.Recommend(context.Background(), &polecamv1.RecommendRequest{UserId: long, N: 10})
			return err
		}, "user_id is 100000 bytes long, at most 1024"},
		{"long exclude id", func() error {
			_, err := c.SimilarItems(context.Background(), &polecamv1.SimilarItemsRequest{ItemId: "sku-1", N: 10, ExcludeItemIds: []string{"a", long}})
			return err
		}, "exclude_item_ids[1] is 100000 bytes long"},
		{"id at the limit", func() error {
			_, err := c.SimilarItems(context.Background(), &polecamv1.SimilarItemsRequest{ItemId: strings.Repeat("y", MaxIDLen), N: 10})
			return err
		}, ""},
	}
	for _, tt := range tests {
		rec.mu.Lock()
		rec.last = nil
		rec.mu.Unlock()
		err := tt.call()
		rec.mu.Lock()
		reached := rec.last != nil
		rec.mu.Unlock()
		if tt.want == "" {
			if err != nil || !reached {
				t.Errorf("%s: error %v, reached the recommender %v; want it answered", tt.name, err, reached)
			}
			continue
		}
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tt.want) {
			t.Errorf("%s: error %v, want INVALID_ARGUMENT saying %q", tt.name, err, tt.want)
		}
		if reached {
			t.Errorf("%s: the request reached the recommender", tt.name)
		}
	}
}

// TestDefaultMessageLimit checks that the default message limit refuses
// what the list limit would (a 240,000-id list) before it is decoded.
func TestDefaultMessageLimit(t *testing.T) {
	conn, _ := startServer(t, &fakeRecommender{})
	c := polecamv1.NewRecommendationServiceClient(conn)
	ex := make([]string, 240_000)
	for i := range ex {
		ex[i] = fmt.Sprintf("sku-%08d", i)
	}
	_, err := c.Recommend(context.Background(), &polecamv1.RecommendRequest{UserId: "u1", N: 10, ExcludeItemIds: ex})
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("Recommend with a %d-id exclude list = %v, want RESOURCE_EXHAUSTED (message too large)", len(ex), err)
	}
}

// TestConnectionCap opens more loopback connections than the cap and
// checks that no more than the cap are served at once, and that a waiting
// one is served once another closes.
func TestConnectionCap(t *testing.T) {
	const cap, extra = 8, 4
	opts := DefaultOptions()
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	opts.MaxConnections = cap
	srv, err := New(&fakeRecommender{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetServing(true)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve() = %v", err)
		}
	}()

	check := func(conn *grpc.ClientConn, wait time.Duration) error {
		cctx, ccancel := context.WithTimeout(context.Background(), wait)
		defer ccancel()
		_, err := healthpb.NewHealthClient(conn).Check(cctx, &healthpb.HealthCheckRequest{})
		return err
	}
	conns := make([]*grpc.ClientConn, cap+extra)
	for i := range conns {
		c, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	// The first cap connections are served.
	for i := range cap {
		if err := check(conns[i], 5*time.Second); err != nil {
			t.Fatalf("connection %d of %d under the cap: %v", i+1, cap, err)
		}
	}
	// The others wait: their calls time out, all at once.
	var wg sync.WaitGroup
	served := make([]bool, extra)
	for i := range extra {
		wg.Go(func() { served[i] = check(conns[cap+i], 300*time.Millisecond) == nil })
	}
	wg.Wait()
	for i, ok := range served {
		if ok {
			t.Errorf("connection %d beyond the cap of %d was served", cap+i+1, cap)
		}
	}
	// Closing one lets one of them in, and only one.
	conns[0].Close()
	for i := range extra {
		wg.Go(func() { served[i] = check(conns[cap+i], 3*time.Second) == nil })
	}
	wg.Wait()
	n := 0
	for _, ok := range served {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d waiting connections served after one of %d closed, want 1", n, cap)
	}
}

// TestTrimAfterBursts checks that memory is returned once after a burst
// of connections closed, and not for a small drop.
func TestTrimAfterBursts(t *testing.T) {
	l := &countingListener{}
	ctx, cancel := context.WithCancel(context.Background())
	frees := make(chan struct{}, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		trimAfterBursts(ctx, l, time.Millisecond, 20*time.Millisecond, func() { frees <- struct{}{} })
	}()
	defer func() { cancel(); <-done }()
	settle := func() { time.Sleep(100 * time.Millisecond) }

	l.open.Store(2000)
	settle()
	l.open.Store(2000 - trimDrop + 1) // a small drop
	settle()
	if len(frees) != 0 {
		t.Fatalf("memory returned %d times after a drop of %d connections, want none", len(frees), trimDrop-1)
	}
	l.open.Store(10) // the burst closed
	select {
	case <-frees:
	case <-time.After(5 * time.Second):
		t.Fatal("memory not returned after 1990 connections closed")
	}
	settle()
	if len(frees) != 0 {
		t.Errorf("memory returned again with no new burst")
	}
}

// FuzzCheckRequest feeds arbitrary wire bytes decoded as requests to
// checkRequest: it must not panic, and what it lets through must be
// within the limits.
func FuzzCheckRequest(f *testing.F) {
	for _, m := range []proto.Message{
		&polecamv1.RecommendRequest{UserId: "u1", N: 10, ExcludeItemIds: []string{"a", "b"}},
		&polecamv1.RecommendRequest{UserId: strings.Repeat("x", MaxIDLen+1)},
		&polecamv1.SimilarItemsRequest{ItemId: "sku-1", N: 5},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, m := range []proto.Message{&polecamv1.RecommendRequest{}, &polecamv1.SimilarItemsRequest{}} {
			if proto.Unmarshal(b, m) != nil {
				continue
			}
			if checkRequest(m) != nil {
				continue
			}
			switch r := m.(type) {
			case *polecamv1.RecommendRequest:
				if len(r.GetUserId()) > MaxIDLen || len(r.GetExcludeItemIds()) > MaxListLen {
					t.Errorf("checkRequest let %d-byte user id and %d excludes through", len(r.GetUserId()), len(r.GetExcludeItemIds()))
				}
				for _, id := range r.GetExcludeItemIds() {
					if len(id) > MaxIDLen {
						t.Errorf("checkRequest let a %d-byte exclude id through", len(id))
					}
				}
			case *polecamv1.SimilarItemsRequest:
				if len(r.GetItemId()) > MaxIDLen {
					t.Errorf("checkRequest let a %d-byte item id through", len(r.GetItemId()))
				}
			}
		}
	})
}
