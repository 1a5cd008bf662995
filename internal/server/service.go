package server

import (
	"context"

	polecamv1 "github.com/polecam/polecam/api/polecam/v1"
	"github.com/polecam/polecam/recommender"
)

// Recommender is what the gRPC service needs from the serving core;
// *recommender.Recommender satisfies it.
type Recommender interface {
	Recommend(ctx context.Context, req recommender.RecommendRequest) (recommender.Result, error)
	SimilarItems(ctx context.Context, req recommender.SimilarRequest) (recommender.Result, error)
}

// recommendationService implements polecam.v1.RecommendationService.
type recommendationService struct {
	polecamv1.UnimplementedRecommendationServiceServer
	rec Recommender
}

var _ polecamv1.RecommendationServiceServer = (*recommendationService)(nil)

func (s *recommendationService) Recommend(ctx context.Context, req *polecamv1.RecommendRequest) (*polecamv1.RecommendResponse, error) {
	res, err := s.rec.Recommend(ctx, recommender.RecommendRequest{
		UserID:      req.GetUserId(),
		N:           int(req.GetN()),
		Exclude:     req.GetExcludeItemIds(),
		IncludeSeen: req.GetIncludeSeen(),
		Exact:       req.GetExact(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &polecamv1.RecommendResponse{
		Items:        toScoredItems(res.Items),
		ModelVersion: res.Version,
		Fallback:     res.Fallback,
	}, nil
}

func (s *recommendationService) SimilarItems(ctx context.Context, req *polecamv1.SimilarItemsRequest) (*polecamv1.SimilarItemsResponse, error) {
	res, err := s.rec.SimilarItems(ctx, recommender.SimilarRequest{
		ItemID:  req.GetItemId(),
		N:       int(req.GetN()),
		Exclude: req.GetExcludeItemIds(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &polecamv1.SimilarItemsResponse{
		Items:        toScoredItems(res.Items),
		ModelVersion: res.Version,
	}, nil
}

func toScoredItems(items []recommender.ScoredItem) []*polecamv1.ScoredItem {
	out := make([]*polecamv1.ScoredItem, len(items))
	backing := make([]polecamv1.ScoredItem, len(items))
	for i, it := range items {
		p := &backing[i]
		p.ItemId = it.ID
		p.Score = it.Score
		p.Source = toSource(it.Source)
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
	default:
		return polecamv1.ItemSource_ITEM_SOURCE_UNSPECIFIED
	}
}
