package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	polecamv1 "github.com/polecam/polecam/api/polecam/v1"
	"github.com/polecam/polecam/recommender"
)

// echoRecommender answers Recommend with one item named after the user,
// fails for user "bad", and counts requests in flight.
type echoRecommender struct {
	fakeRecommender
	inFlight, maxInFlight atomic.Int32
	// overlapped is closed once two requests were in flight together; a
	// request waits for it (up to a second), so a batch that answers
	// entries concurrently shows it.
	overlapped chan struct{}
	once       sync.Once
}

func newEcho() *echoRecommender { return &echoRecommender{overlapped: make(chan struct{})} }

func (e *echoRecommender) Recommend(_ context.Context, req recommender.RecommendRequest) (recommender.Result, error) {
	n := e.inFlight.Add(1)
	defer e.inFlight.Add(-1)
	for {
		m := e.maxInFlight.Load()
		if n <= m || e.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	if n >= 2 {
		e.once.Do(func() { close(e.overlapped) })
	}
	select {
	case <-e.overlapped:
	case <-time.After(time.Second):
	}
	if req.UserID == "bad" {
		return recommender.Result{}, fmt.Errorf("%w: user_id is bad", recommender.ErrInvalidArgument)
	}
	return recommender.Result{Version: "v1", Items: []recommender.ScoredItem{{ID: "for-" + req.UserID, Score: float32(req.N), Source: recommender.SourceFactors}}}, nil
}

// TestBatchRecommend checks that a batch is answered in order, each entry
// with its own answer or its in-band error, and that the stream goes on
// after a bad entry.
func TestBatchRecommend(t *testing.T) {
	rec := newEcho()
	conn, _ := startServer(t, rec)
	c := polecamv1.NewRecommendationServiceClient(conn)
	stream, err := c.BatchRecommend(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const entries = 500
	sendErr := make(chan error, 1)
	go func() {
		for i := range entries {
			user := fmt.Sprintf("u%d", i)
			if i%97 == 3 {
				user = "bad"
			}
			if err := stream.Send(&polecamv1.BatchRecommendRequest{RequestId: fmt.Sprint(i), Request: &polecamv1.RecommendRequest{UserId: user, N: int32(i%5 + 1)}}); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- stream.CloseSend()
	}()
	for i := range entries {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("Recv %d: %v", i, err)
		}
		if resp.GetRequestId() != fmt.Sprint(i) {
			t.Fatalf("answer %d has request id %q: answers out of order", i, resp.GetRequestId())
		}
		if i%97 == 3 {
			want := &polecamv1.BatchError{Code: int32(codes.InvalidArgument), Message: "invalid argument: user_id is bad"}
			if diff := cmp.Diff(want, resp.GetError(), protocmp.Transform()); diff != "" || resp.GetResponse() != nil {
				t.Errorf("entry %d: error (-want +got):\n%s", i, diff)
			}
			continue
		}
		items := resp.GetResponse().GetItems()
		if len(items) != 1 || items[0].GetItemId() != fmt.Sprintf("for-u%d", i) || items[0].GetScore() != float32(i%5+1) {
			t.Errorf("entry %d: answer %v", i, resp.GetResponse())
		}
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("after the last answer: Recv = %v, want EOF", err)
	}
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	if rec.maxInFlight.Load() < 2 && batchWorkersFor() > 1 {
		t.Errorf("at most %d entries were answered at once, want the batch to overlap them", rec.maxInFlight.Load())
	}
}

// TestBatchRecommendCancelled checks that a client that goes away ends
// the stream and every goroutine it started (goleak in TestMain).
func TestBatchRecommendCancelled(t *testing.T) {
	conn, _ := startServer(t, newEcho())
	c := polecamv1.NewRecommendationServiceClient(conn)
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := c.BatchRecommend(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if err := stream.Send(&polecamv1.BatchRecommendRequest{RequestId: fmt.Sprint(i), Request: &polecamv1.RecommendRequest{UserId: "u", N: 1}}); err != nil {
			break
		}
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	for {
		if _, err := stream.Recv(); err != nil {
			if status.Code(err) != codes.Canceled {
				t.Errorf("Recv after cancel = %v, want Canceled", err)
			}
			break
		}
	}
}

// TestNewRPCsTranslate checks the translation of filters, pages and the
// new RPCs' fields.
func TestNewRPCsTranslate(t *testing.T) {
	rec := &fakeRecommender{res: recommender.Result{Version: "v1", NextPageToken: "tok", Exhausted: true,
		Items: []recommender.ScoredItem{{ID: "a", Score: 1, Source: recommender.SourceBasket, Attributes: map[string]string{"brand": "x"}, Because: []string{"b"}}}}}
	conn, _ := startServer(t, rec)
	c := polecamv1.NewRecommendationServiceClient(conn)
	ctx := context.Background()
	lo := 5.0
	filter := &polecamv1.ItemFilter{Categories: []string{"shoes"}, ExcludeCategories: []string{"shoes/kids"}, Attributes: []*polecamv1.AttributeCondition{
		{Name: "brand", Condition: &polecamv1.AttributeCondition_Equals{Equals: "x"}},
		{Name: "colour", Condition: &polecamv1.AttributeCondition_NotEquals{NotEquals: "red"}},
		{Name: "size", Condition: &polecamv1.AttributeCondition_AnyOf{AnyOf: &polecamv1.StringList{Values: []string{"40", "41"}}}},
		{Name: "price", Condition: &polecamv1.AttributeCondition_Range{Range: &polecamv1.Range{Min: &lo}}},
	}}
	wantFilter := recommender.Filter{Categories: []string{"shoes"}, ExcludeCategories: []string{"shoes/kids"}, Attributes: []recommender.AttributeCondition{
		{Name: "brand", Op: recommender.OpEquals, Value: "x"},
		{Name: "colour", Op: recommender.OpNotEquals, Value: "red"},
		{Name: "size", Op: recommender.OpAnyOf, Values: []string{"40", "41"}},
		{Name: "price", Op: recommender.OpRange, Min: &lo},
	}}
	got, err := c.Recommend(ctx, &polecamv1.RecommendRequest{UserId: "u", N: 2, RecentItemIds: []string{"r"}, Filter: filter, PageToken: "p", ReturnAttributes: []string{"brand"}, Explain: true})
	if err != nil {
		t.Fatal(err)
	}
	wantReq := recommender.RecommendRequest{UserID: "u", N: 2, Recent: []string{"r"}, Filter: wantFilter, PageToken: "p", ReturnAttributes: []string{"brand"}, Explain: true}
	if diff := cmp.Diff(wantReq, rec.last); diff != "" {
		t.Errorf("Recommend request (-want +got):\n%s", diff)
	}
	wantItems := []*polecamv1.ScoredItem{{ItemId: "a", Score: 1, Source: polecamv1.ItemSource_ITEM_SOURCE_BASKET, Attributes: map[string]string{"brand": "x"}, BecauseItemIds: []string{"b"}}}
	if diff := cmp.Diff(&polecamv1.RecommendResponse{Items: wantItems, ModelVersion: "v1", NextPageToken: "tok", Exhausted: true}, got, protocmp.Transform()); diff != "" {
		t.Errorf("Recommend response (-want +got):\n%s", diff)
	}
	if _, err := c.RecommendForBasket(ctx, &polecamv1.RecommendForBasketRequest{ItemIds: []string{"a"}, UserId: "u", N: 3, Filter: filter}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(recommender.BasketRequest{Items: []string{"a"}, UserID: "u", N: 3, Filter: wantFilter}, rec.last); diff != "" {
		t.Errorf("basket request (-want +got):\n%s", diff)
	}
	if _, err := c.Rank(ctx, &polecamv1.RankRequest{UserId: "u", RecentItemIds: []string{"r"}, CandidateItemIds: []string{"a", "b"}, Explain: true}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(recommender.RankRequest{UserID: "u", Recent: []string{"r"}, Candidates: []string{"a", "b"}, Explain: true}, rec.last); diff != "" {
		t.Errorf("rank request (-want +got):\n%s", diff)
	}
	tr, err := c.Trending(ctx, &polecamv1.TrendingRequest{N: 4, Metric: "bestsellers", Filter: filter, PageToken: "p"})
	if err != nil || tr.GetNextPageToken() != "tok" {
		t.Fatalf("Trending = %v, %v", tr, err)
	}
	if diff := cmp.Diff(recommender.TrendingRequest{N: 4, Metric: "bestsellers", Filter: wantFilter, PageToken: "p"}, rec.last); diff != "" {
		t.Errorf("trending request (-want +got):\n%s", diff)
	}
	sim, err := c.SimilarItems(ctx, &polecamv1.SimilarItemsRequest{ItemIds: []string{"a", "b"}, UserId: "u", N: 4, Filter: filter})
	if err != nil || !sim.GetExhausted() {
		t.Fatalf("SimilarItems = %v, %v", sim, err)
	}
	if diff := cmp.Diff(recommender.SimilarRequest{ItemIDs: []string{"a", "b"}, UserID: "u", N: 4, Filter: wantFilter}, rec.last); diff != "" {
		t.Errorf("similar request (-want +got):\n%s", diff)
	}
}

// batchEcho answers like echoRecommender, through RecommendBatch, and
// records the largest group it was given.
type batchEcho struct {
	fakeRecommender
	maxGroup atomic.Int32
}

func (b *batchEcho) RecommendBatch(_ context.Context, reqs []recommender.RecommendRequest) ([]recommender.BatchResult, error) {
	for {
		m := b.maxGroup.Load()
		if int32(len(reqs)) <= m || b.maxGroup.CompareAndSwap(m, int32(len(reqs))) {
			break
		}
	}
	out := make([]recommender.BatchResult, len(reqs))
	for i, req := range reqs {
		if req.UserID == "bad" {
			out[i].Err = fmt.Errorf("%w: user_id is bad", recommender.ErrInvalidArgument)
			continue
		}
		out[i].Result = recommender.Result{Version: "v1", Items: []recommender.ScoredItem{{ID: "for-" + req.UserID, Score: float32(req.N), Source: recommender.SourceFactors}}}
	}
	return out, nil
}

// TestBatchRecommendGroups checks that a Recommender that answers
// batches gets the entries that have arrived in groups, and that the
// answers still come in order with their in-band errors.
func TestBatchRecommendGroups(t *testing.T) {
	rec := &batchEcho{}
	conn, _ := startServer(t, rec)
	c := polecamv1.NewRecommendationServiceClient(conn)
	stream, err := c.BatchRecommend(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const entries = 2000
	for i := range entries {
		req := &polecamv1.RecommendRequest{UserId: fmt.Sprintf("u%d", i), N: int32(i%5 + 1)}
		if i%101 == 7 {
			req.UserId = "bad"
		}
		if err := stream.Send(&polecamv1.BatchRecommendRequest{RequestId: fmt.Sprint(i), Request: req}); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	for i := range entries {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("Recv %d: %v", i, err)
		}
		if resp.GetRequestId() != fmt.Sprint(i) {
			t.Fatalf("answer %d has request id %q: answers out of order", i, resp.GetRequestId())
		}
		if i%101 == 7 {
			if resp.GetError().GetCode() != int32(codes.InvalidArgument) || resp.GetResponse() != nil {
				t.Errorf("entry %d: %v, want an in-band InvalidArgument", i, resp)
			}
			continue
		}
		if items := resp.GetResponse().GetItems(); len(items) != 1 || items[0].GetItemId() != fmt.Sprintf("for-u%d", i) {
			t.Errorf("entry %d: answer %v", i, resp.GetResponse())
		}
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("after the last answer: Recv = %v, want EOF", err)
	}
	if g := rec.maxGroup.Load(); g < 2 || g > maxBatchGroup {
		t.Errorf("largest group %d, want 2 to %d: entries sent ahead are answered together", g, maxBatchGroup)
	}
}
