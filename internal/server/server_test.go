package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/testing/protocmp"

	polecamv1 "github.com/polecam/polecam/api/polecam/v1"
	"github.com/polecam/polecam/recommender"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeRecommender answers from fixed results and records requests.
type fakeRecommender struct {
	mu   sync.Mutex
	last any
	res  recommender.Result
	err  error
	boom bool
}

func (f *fakeRecommender) Recommend(_ context.Context, req recommender.RecommendRequest) (recommender.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.boom {
		panic("boom")
	}
	f.last = req
	return f.res, f.err
}

func (f *fakeRecommender) RecommendForBasket(_ context.Context, req recommender.BasketRequest) (recommender.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = req
	return f.res, f.err
}

func (f *fakeRecommender) Rank(_ context.Context, req recommender.RankRequest) (recommender.RankResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = req
	return recommender.RankResult{Result: f.res}, f.err
}

func (f *fakeRecommender) Trending(_ context.Context, req recommender.TrendingRequest) (recommender.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = req
	return f.res, f.err
}

func (f *fakeRecommender) SimilarItems(_ context.Context, req recommender.SimilarRequest) (recommender.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = req
	return f.res, f.err
}

// startServer serves rec over bufconn and returns a connected client
// connection and the server. Everything stops when the test ends.
func startServer(t *testing.T, rec Recommender) (*grpc.ClientConn, *Server) {
	t.Helper()
	return startServerWith(t, rec, func(*Options) {})
}

// startServerWith is startServer with options modified by modify.
func startServerWith(t *testing.T, rec Recommender, modify func(*Options)) (*grpc.ClientConn, *Server) {
	t.Helper()
	opts := DefaultOptions()
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	opts.Registry = NewRegistry()
	modify(&opts)
	srv, err := New(rec, opts)
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	lis := bufconn.Listen(1 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient() error = %v", err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve() = %v, want nil after cancel", err)
		}
	})
	return conn, srv
}

func TestRecommendTranslates(t *testing.T) {
	rec := &fakeRecommender{res: recommender.Result{
		Version:  "v1",
		Fallback: true,
		Items: []recommender.ScoredItem{
			{ID: "sku-2", Score: 3, Source: recommender.SourcePopularity},
			{ID: "sku-1", Score: 2, Source: recommender.SourceFactors},
			{ID: "sku-3", Score: 1, Source: recommender.SourceCoOccurrence},
		},
	}}
	conn, _ := startServer(t, rec)
	c := polecamv1.NewRecommendationServiceClient(conn)
	got, err := c.Recommend(context.Background(), &polecamv1.RecommendRequest{UserId: "u1", N: 3, ExcludeItemIds: []string{"sku-9"}, IncludeSeen: true, Exact: true})
	if err != nil {
		t.Fatalf("Recommend() error = %v", err)
	}
	want := &polecamv1.RecommendResponse{
		ModelVersion: "v1",
		Fallback:     true,
		Items: []*polecamv1.ScoredItem{
			{ItemId: "sku-2", Score: 3, Source: polecamv1.ItemSource_ITEM_SOURCE_POPULARITY},
			{ItemId: "sku-1", Score: 2, Source: polecamv1.ItemSource_ITEM_SOURCE_FACTORS},
			{ItemId: "sku-3", Score: 1, Source: polecamv1.ItemSource_ITEM_SOURCE_CO_OCCURRENCE},
		},
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("Recommend() response mismatch (-want +got):\n%s", diff)
	}
	wantReq := recommender.RecommendRequest{UserID: "u1", N: 3, Exclude: []string{"sku-9"}, IncludeSeen: true, Exact: true}
	if diff := cmp.Diff(wantReq, rec.last); diff != "" {
		t.Errorf("recommender request mismatch (-want +got):\n%s", diff)
	}

	sim, err := c.SimilarItems(context.Background(), &polecamv1.SimilarItemsRequest{ItemId: "sku-1", N: 3})
	if err != nil {
		t.Fatalf("SimilarItems() error = %v", err)
	}
	if len(sim.GetItems()) != 3 || sim.GetModelVersion() != "v1" {
		t.Errorf("SimilarItems() = %v, want 3 items from v1", sim)
	}
	if diff := cmp.Diff(recommender.SimilarRequest{ItemID: "sku-1", N: 3}, rec.last); diff != "" {
		t.Errorf("recommender request mismatch (-want +got):\n%s", diff)
	}
}

func TestErrorsBecomeCodes(t *testing.T) {
	rec := &fakeRecommender{err: fmt.Errorf("%w: n must be between 1 and 1000, got 0", recommender.ErrInvalidArgument)}
	conn, _ := startServer(t, rec)
	c := polecamv1.NewRecommendationServiceClient(conn)
	_, err := c.Recommend(context.Background(), &polecamv1.RecommendRequest{UserId: "u1"})
	if got := status.Code(err); got != codes.InvalidArgument {
		t.Errorf("Recommend() code = %v, want %v (err %v)", got, codes.InvalidArgument, err)
	}
}

func TestPanicIsRecovered(t *testing.T) {
	rec := &fakeRecommender{boom: true}
	conn, _ := startServer(t, rec)
	c := polecamv1.NewRecommendationServiceClient(conn)
	_, err := c.Recommend(context.Background(), &polecamv1.RecommendRequest{UserId: "u1", N: 1})
	if got := status.Code(err); got != codes.Internal {
		t.Errorf("Recommend() code = %v, want %v", got, codes.Internal)
	}
	// The server still answers after a panic.
	rec.mu.Lock()
	rec.boom = false
	rec.mu.Unlock()
	if _, err := c.Recommend(context.Background(), &polecamv1.RecommendRequest{UserId: "u1", N: 1}); err != nil {
		t.Errorf("Recommend() after a panic error = %v", err)
	}
}

func TestHealthFollowsServing(t *testing.T) {
	conn, srv := startServer(t, &fakeRecommender{})
	h := healthpb.NewHealthClient(conn)
	check := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		for _, svc := range []string{"", "polecam.v1.RecommendationService"} {
			got, err := h.Check(context.Background(), &healthpb.HealthCheckRequest{Service: svc})
			if err != nil {
				t.Fatalf("Check(%q) error = %v", svc, err)
			}
			if got.GetStatus() != want {
				t.Errorf("Check(%q) = %v, want %v", svc, got.GetStatus(), want)
			}
		}
	}
	check(healthpb.HealthCheckResponse_NOT_SERVING)
	srv.SetServing(true)
	check(healthpb.HealthCheckResponse_SERVING)
}

func TestReflectionListsServices(t *testing.T) {
	conn, _ := startServer(t, &fakeRecommender{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatalf("ServerReflectionInfo() error = %v", err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatalf("Send() error = %v", err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("Recv() error = %v", err)
	}
	stream.CloseSend()
	found := map[string]bool{}
	for _, s := range resp.GetListServicesResponse().GetService() {
		found[s.GetName()] = true
	}
	for _, want := range []string{"polecam.v1.RecommendationService", "grpc.health.v1.Health"} {
		if !found[want] {
			t.Errorf("reflection lists %v, want it to include %s", found, want)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Options)
		ok     bool
	}{
		{"defaults", func(*Options) {}, true},
		{"no logger", func(o *Options) { o.Logger = nil }, false},
		{"zero timeout", func(o *Options) { o.ShutdownTimeout = 0 }, false},
		{"zero message size", func(o *Options) { o.MaxRecvMsgSize = 0 }, false},
		{"negative stream workers", func(o *Options) { o.StreamWorkers = -1 }, false},
		{"no stream workers", func(o *Options) { o.StreamWorkers = 0 }, true},
		{"too many stream workers", func(o *Options) { o.StreamWorkers = maxStreamWorkers + 1 }, false},
	}
	for _, tt := range tests {
		o := DefaultOptions()
		tt.modify(&o)
		if err := o.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}
