package server

import (
	"context"
	"errors"
	"io"
	"runtime"
	"sync"

	"google.golang.org/grpc/status"

	polecamv1 "github.com/polecam/polecam/api/polecam/v1"
	"github.com/polecam/polecam/recommender"
)

// Recommender is what the gRPC service needs from the serving core;
// *recommender.Recommender satisfies it.
type Recommender interface {
	Recommend(ctx context.Context, req recommender.RecommendRequest) (recommender.Result, error)
	SimilarItems(ctx context.Context, req recommender.SimilarRequest) (recommender.Result, error)
	RecommendForBasket(ctx context.Context, req recommender.BasketRequest) (recommender.Result, error)
	Rank(ctx context.Context, req recommender.RankRequest) (recommender.RankResult, error)
	Trending(ctx context.Context, req recommender.TrendingRequest) (recommender.Result, error)
}

var _ Recommender = (*recommender.Recommender)(nil)

// recommendationService implements polecam.v1.RecommendationService. Each
// method translates the request, calls the serving core and translates
// the answer; the rules live in package recommender.
type recommendationService struct {
	polecamv1.UnimplementedRecommendationServiceServer
	rec Recommender
	// batchWorkers is how many entries of one BatchRecommend stream are
	// answered at once.
	batchWorkers int
}

var _ polecamv1.RecommendationServiceServer = (*recommendationService)(nil)

func (s *recommendationService) Recommend(ctx context.Context, req *polecamv1.RecommendRequest) (*polecamv1.RecommendResponse, error) {
	resp, err := s.recommend(ctx, req)
	if err != nil {
		return nil, toStatus(err)
	}
	return resp, nil
}

func (s *recommendationService) recommend(ctx context.Context, req *polecamv1.RecommendRequest) (*polecamv1.RecommendResponse, error) {
	rr, err := fromRecommendRequest(req)
	if err != nil {
		return nil, err
	}
	res, err := s.rec.Recommend(ctx, rr)
	if err != nil {
		return nil, err
	}
	return toRecommendResponse(res), nil
}

// fromRecommendRequest translates a Recommend request.
func fromRecommendRequest(req *polecamv1.RecommendRequest) (recommender.RecommendRequest, error) {
	filter, err := fromFilter(req.GetFilter())
	if err != nil {
		return recommender.RecommendRequest{}, err
	}
	return recommender.RecommendRequest{
		UserID:           req.GetUserId(),
		N:                int(req.GetN()),
		Exclude:          req.GetExcludeItemIds(),
		IncludeSeen:      req.GetIncludeSeen(),
		Exact:            req.GetExact(),
		Recent:           req.GetRecentItemIds(),
		Filter:           filter,
		PageToken:        req.GetPageToken(),
		ReturnAttributes: req.GetReturnAttributes(),
		Explain:          req.GetExplain(),
	}, nil
}

func toRecommendResponse(res recommender.Result) *polecamv1.RecommendResponse {
	return &polecamv1.RecommendResponse{
		Items:         toScoredItems(res.Items),
		ModelVersion:  res.Version,
		Fallback:      res.Fallback,
		NextPageToken: res.NextPageToken,
		Exhausted:     res.Exhausted,
	}
}

func (s *recommendationService) SimilarItems(ctx context.Context, req *polecamv1.SimilarItemsRequest) (*polecamv1.SimilarItemsResponse, error) {
	filter, err := fromFilter(req.GetFilter())
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := s.rec.SimilarItems(ctx, recommender.SimilarRequest{
		ItemID:           req.GetItemId(),
		ItemIDs:          req.GetItemIds(),
		N:                int(req.GetN()),
		Exclude:          req.GetExcludeItemIds(),
		UserID:           req.GetUserId(),
		Filter:           filter,
		PageToken:        req.GetPageToken(),
		ReturnAttributes: req.GetReturnAttributes(),
		Explain:          req.GetExplain(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &polecamv1.SimilarItemsResponse{
		Items:         toScoredItems(res.Items),
		ModelVersion:  res.Version,
		NextPageToken: res.NextPageToken,
		Exhausted:     res.Exhausted,
		Fallback:      res.Fallback,
	}, nil
}

func (s *recommendationService) RecommendForBasket(ctx context.Context, req *polecamv1.RecommendForBasketRequest) (*polecamv1.RecommendForBasketResponse, error) {
	filter, err := fromFilter(req.GetFilter())
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := s.rec.RecommendForBasket(ctx, recommender.BasketRequest{
		Items:            req.GetItemIds(),
		UserID:           req.GetUserId(),
		N:                int(req.GetN()),
		Filter:           filter,
		ReturnAttributes: req.GetReturnAttributes(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &polecamv1.RecommendForBasketResponse{
		Items:        toScoredItems(res.Items),
		ModelVersion: res.Version,
		Exhausted:    res.Exhausted,
		Fallback:     res.Fallback,
	}, nil
}

func (s *recommendationService) Rank(ctx context.Context, req *polecamv1.RankRequest) (*polecamv1.RankResponse, error) {
	res, err := s.rec.Rank(ctx, recommender.RankRequest{
		UserID:           req.GetUserId(),
		Recent:           req.GetRecentItemIds(),
		Candidates:       req.GetCandidateItemIds(),
		ReturnAttributes: req.GetReturnAttributes(),
		Explain:          req.GetExplain(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &polecamv1.RankResponse{
		Items:          toScoredItems(res.Items),
		ModelVersion:   res.Version,
		UnknownItemIds: res.Unknown,
		Fallback:       res.Fallback,
	}, nil
}

func (s *recommendationService) Trending(ctx context.Context, req *polecamv1.TrendingRequest) (*polecamv1.TrendingResponse, error) {
	filter, err := fromFilter(req.GetFilter())
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := s.rec.Trending(ctx, recommender.TrendingRequest{
		N:                int(req.GetN()),
		Metric:           req.GetMetric(),
		Filter:           filter,
		PageToken:        req.GetPageToken(),
		ReturnAttributes: req.GetReturnAttributes(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &polecamv1.TrendingResponse{
		Items:         toScoredItems(res.Items),
		ModelVersion:  res.Version,
		NextPageToken: res.NextPageToken,
		Exhausted:     res.Exhausted,
		Fallback:      res.Fallback,
	}, nil
}

// batchRecommender is a Recommender that answers several Recommend
// requests together (recommender.Recommender does, sharing one catalogue
// scan among them).
type batchRecommender interface {
	RecommendBatch(ctx context.Context, reqs []recommender.RecommendRequest) ([]recommender.BatchResult, error)
}

// maxBatchGroup is how many entries of a stream are answered together by
// a batchRecommender.
const maxBatchGroup = 16

// BatchRecommend answers the stream's entries in order. The entries
// already received are taken in groups of up to maxBatchGroup (only those
// that have arrived: a slow sender gets groups of one and no wait), and
// batchWorkers groups are answered at a time, each in one
// RecommendBatch call when the Recommender has it. Memory stays bounded:
// at most (batchWorkers+2)·maxBatchGroup entries are read ahead of the
// answers sent, and sending blocks under the client's flow control,
// which stops the reading. A bad entry is answered with its error; only
// a failure of the stream itself ends it.
func (s *recommendationService) BatchRecommend(stream polecamv1.RecommendationService_BatchRecommendServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	workers := max(1, s.batchWorkers)
	type group struct {
		reqs []*polecamv1.BatchRecommendRequest
		done chan []*polecamv1.BatchRecommendResponse
	}
	// recv carries entries from the receiving goroutine to the grouping
	// one; order carries groups in arrival order to the sender; work to
	// the workers. All are bounded.
	recv := make(chan *polecamv1.BatchRecommendRequest, maxBatchGroup)
	order := make(chan group, workers)
	work := make(chan group, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for g := range work {
				g.done <- s.batchGroup(ctx, g.reqs)
			}
		}()
	}
	readErr := make(chan error, 1)
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer close(recv)
		for {
			req, err := stream.Recv()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				readErr <- err
				return
			}
			select {
			case recv <- req:
			case <-ctx.Done():
				readErr <- ctx.Err()
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		defer close(order)
		defer close(work)
		for first := range recv {
			g := group{reqs: []*polecamv1.BatchRecommendRequest{first}, done: make(chan []*polecamv1.BatchRecommendResponse, 1)}
		more:
			for len(g.reqs) < maxBatchGroup {
				select {
				case req, ok := <-recv:
					if !ok {
						break more
					}
					g.reqs = append(g.reqs, req)
				default:
					break more
				}
			}
			select {
			case order <- g:
			case <-ctx.Done():
				return
			}
			select {
			case work <- g:
			case <-ctx.Done():
				return
			}
		}
	}()
	var sendErr error
	for g := range order {
		var resps []*polecamv1.BatchRecommendResponse
		select {
		case resps = <-g.done:
		case <-ctx.Done():
		}
		for _, resp := range resps {
			if sendErr != nil {
				break // drain: the reader and workers stop on ctx
			}
			if err := stream.Send(resp); err != nil {
				sendErr = err
				cancel()
			}
		}
	}
	cancel()
	wg.Wait()
	if sendErr != nil {
		return sendErr
	}
	if err := <-readErr; err != nil {
		return toStatus(err)
	}
	return nil
}

// batchGroup answers a group of entries of a batch in order, each error
// in-band: in one RecommendBatch call when the Recommender has it, else
// one by one.
func (s *recommendationService) batchGroup(ctx context.Context, es []*polecamv1.BatchRecommendRequest) []*polecamv1.BatchRecommendResponse {
	out := make([]*polecamv1.BatchRecommendResponse, len(es))
	br, ok := s.rec.(batchRecommender)
	if !ok {
		for i, e := range es {
			out[i] = s.batchEntry(ctx, e)
		}
		return out
	}
	var reqs []recommender.RecommendRequest
	var at []int // the entry of each of reqs
	for i, e := range es {
		out[i] = &polecamv1.BatchRecommendResponse{RequestId: e.GetRequestId()}
		rr, err := fromRecommendRequest(e.GetRequest())
		if err != nil {
			out[i].Error = batchError(err)
			continue
		}
		reqs, at = append(reqs, rr), append(at, i)
	}
	res, err := br.RecommendBatch(ctx, reqs)
	for k, i := range at {
		switch {
		case err != nil:
			out[i].Error = batchError(err)
		case res[k].Err != nil:
			out[i].Error = batchError(res[k].Err)
		default:
			out[i].Response = toRecommendResponse(res[k].Result)
		}
	}
	return out
}

// batchEntry answers one entry of a batch, its error in-band.
func (s *recommendationService) batchEntry(ctx context.Context, e *polecamv1.BatchRecommendRequest) *polecamv1.BatchRecommendResponse {
	out := &polecamv1.BatchRecommendResponse{RequestId: e.GetRequestId()}
	req := e.GetRequest()
	if req == nil {
		req = &polecamv1.RecommendRequest{}
	}
	resp, err := s.recommend(ctx, req)
	if err != nil {
		out.Error = batchError(err)
		return out
	}
	out.Response = resp
	return out
}

// batchError is the in-band error of a batch entry.
func batchError(err error) *polecamv1.BatchError {
	st, _ := status.FromError(toStatus(err))
	return &polecamv1.BatchError{Code: int32(st.Code()), Message: st.Message()}
}

// fromFilter translates a request's filter. A condition without a
// comparison is InvalidArgument, named.
func fromFilter(f *polecamv1.ItemFilter) (recommender.Filter, error) {
	if f == nil {
		return recommender.Filter{}, nil
	}
	out := recommender.Filter{Categories: f.GetCategories(), ExcludeCategories: f.GetExcludeCategories()}
	for _, c := range f.GetAttributes() {
		rc := recommender.AttributeCondition{Name: c.GetName()}
		switch v := c.GetCondition().(type) {
		case *polecamv1.AttributeCondition_Equals:
			rc.Op, rc.Value = recommender.OpEquals, v.Equals
		case *polecamv1.AttributeCondition_NotEquals:
			rc.Op, rc.Value = recommender.OpNotEquals, v.NotEquals
		case *polecamv1.AttributeCondition_AnyOf:
			rc.Op, rc.Values = recommender.OpAnyOf, v.AnyOf.GetValues()
		case *polecamv1.AttributeCondition_Range:
			rc.Op = recommender.OpRange
			if v.Range.Min != nil {
				x := v.Range.GetMin()
				rc.Min = &x
			}
			if v.Range.Max != nil {
				x := v.Range.GetMax()
				rc.Max = &x
			}
		}
		out.Attributes = append(out.Attributes, rc)
	}
	return out, nil
}

func toScoredItems(items []recommender.ScoredItem) []*polecamv1.ScoredItem {
	out := make([]*polecamv1.ScoredItem, len(items))
	backing := make([]polecamv1.ScoredItem, len(items))
	for i, it := range items {
		p := &backing[i]
		p.ItemId = it.ID
		p.Score = it.Score
		p.Source = toSource(it.Source)
		p.Attributes = it.Attributes
		p.BecauseItemIds = it.Because
		p.Rules = it.Rules
		out[i] = p
	}
	return out
}

func toSource(s recommender.Source) polecamv1.ItemSource {
	switch s {
	case recommender.SourceFactors:
		return polecamv1.ItemSource_ITEM_SOURCE_FACTORS
	case recommender.SourceCoOccurrence:
		return polecamv1.ItemSource_ITEM_SOURCE_CO_OCCURRENCE
	case recommender.SourcePopularity:
		return polecamv1.ItemSource_ITEM_SOURCE_POPULARITY
	case recommender.SourceBasket:
		return polecamv1.ItemSource_ITEM_SOURCE_BASKET
	case recommender.SourceTrending:
		return polecamv1.ItemSource_ITEM_SOURCE_TRENDING
	case recommender.SourceBestsellers:
		return polecamv1.ItemSource_ITEM_SOURCE_BESTSELLERS
	case recommender.SourcePinned:
		return polecamv1.ItemSource_ITEM_SOURCE_PINNED
	default:
		return polecamv1.ItemSource_ITEM_SOURCE_UNSPECIFIED
	}
}

// batchWorkersFor is how many entries of a batch are answered at once:
// one per P.
func batchWorkersFor() int { return runtime.GOMAXPROCS(0) }
