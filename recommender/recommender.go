package recommender

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
)

// MaxN is the largest number of items one request may ask for.
const MaxN = 1000

// Errors returned by this package, wrapped with a message a person can act
// on. Test with errors.Is.
var (
	// ErrInvalidArgument: the request is malformed (missing id, N out of range).
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNotFound: the item asked about is not in the model.
	ErrNotFound = errors.New("not found")
	// ErrUnavailable: no model is loaded, or the model has been closed.
	ErrUnavailable = errors.New("no model loaded")
	// ErrFailedPrecondition: the request cannot be answered by this model
	// version, e.g. a page token from another version.
	ErrFailedPrecondition = errors.New("failed precondition")
)

// Source says which model produced a recommended item.
type Source int8

const (
	// SourceFactors: scored by the matrix-factorisation model (iALS).
	SourceFactors Source = 1
	// SourceCoOccurrence: taken from the item co-occurrence model.
	SourceCoOccurrence Source = 2
	// SourcePopularity: taken from the popularity ranking (fallback or fill).
	SourcePopularity Source = 3
	// SourceBasket: taken from the co-occurrence of items in carts and
	// purchases.
	SourceBasket Source = 4
	// SourceTrending: taken from the trending list.
	SourceTrending Source = 5
	// SourceBestsellers: taken from the bestseller list.
	SourceBestsellers Source = 6
)

// String returns the source's name as used in logs and metrics labels.
func (s Source) String() string {
	switch s {
	case SourceFactors:
		return "factors"
	case SourceCoOccurrence:
		return "co_occurrence"
	case SourcePopularity:
		return "popularity"
	case SourceBasket:
		return "basket"
	case SourceTrending:
		return "trending"
	case SourceBestsellers:
		return "bestsellers"
	default:
		return fmt.Sprintf("Source(%d)", int8(s))
	}
}

// ScoredItem is one recommended item.
type ScoredItem struct {
	// ID is the shop's own item id.
	ID string
	// Score is higher for better items. Scores are comparable only between
	// items of the same Source.
	Score float32
	// Source names the model that produced the item.
	Source Source
	// Attributes are the catalogue values asked for with ReturnAttributes.
	Attributes map[string]string
	// Because are, with Explain, the one to three items of the user's
	// history, session or seeds that contributed most to this item.
	Because []string
	// Rules are, with Explain, the merchandising rules applied to it.
	Rules []string
}

// RecommendRequest asks for the top N items for one user.
type RecommendRequest struct {
	// UserID is the shop's own user id. Required.
	UserID string
	// N is how many items to return, 1 to MaxN.
	N int
	// Exclude lists item ids never to return. Ids the model does not know
	// are ignored.
	Exclude []string
	// IncludeSeen also returns items the user interacted with in training.
	IncludeSeen bool
	// Exact bypasses the approximate index, for audits and for measuring
	// its recall: the answer is the float scan's, bit for bit, whether the
	// float vectors are scanned or the int8 shortlist proves the same
	// answer (see the package documentation).
	Exact bool
	// Recent are the visitor's interactions in the current session,
	// newest last: folded into the user's vector at request time (see
	// the package documentation) and never returned. Unknown ids are
	// ignored.
	Recent []string
	// Filter restricts the items returned.
	Filter Filter
	// PageToken continues an earlier answer to the same request.
	PageToken string
	// ReturnAttributes names catalogue attributes to return with each
	// item.
	ReturnAttributes []string
	// Explain fills ScoredItem.Because.
	Explain bool
}

// SimilarRequest asks for the items most related to one item or several.
type SimilarRequest struct {
	// ItemID is the shop's own item id. ItemID and ItemIDs together are
	// the seeds: at least one is required and one must be known.
	ItemID string
	// ItemIDs are more seeds (a wishlist).
	ItemIDs []string
	// N is how many items to return, 1 to MaxN.
	N int
	// Exclude lists item ids never to return. Ids the model does not know
	// are ignored.
	Exclude []string
	// UserID, when set, personalises: the user's training items are left
	// out and the user's vector orders close candidates.
	UserID string
	// Filter, PageToken, ReturnAttributes and Explain are as in
	// RecommendRequest.
	Filter           Filter
	PageToken        string
	ReturnAttributes []string
	Explain          bool
}

// BasketRequest asks for items that complete a basket.
type BasketRequest struct {
	// Items is the basket: at least one id; unknown ids are ignored.
	Items []string
	// UserID, when set, leaves out the user's training items and orders
	// close candidates by the user's vector.
	UserID           string
	N                int
	Filter           Filter
	ReturnAttributes []string
}

// RankRequest asks to order a caller's candidates.
type RankRequest struct {
	UserID string
	Recent []string
	// Candidates are 1 to MaxRankCandidates item ids.
	Candidates       []string
	ReturnAttributes []string
	// Explain names, on each item, the merchandising rules applied to it.
	Explain bool
}

// MaxRankCandidates is the most candidates one Rank request may order.
const MaxRankCandidates = 10000

// RankResult is the answer to a RankRequest.
type RankResult struct {
	Result
	// Unknown are the candidates the model does not know, in request
	// order.
	Unknown []string
}

// TrendingRequest asks for a non-personal list.
type TrendingRequest struct {
	N int
	// Metric is MetricTrending (the default when empty), MetricBestsellers
	// or MetricPopular.
	Metric           string
	Filter           Filter
	PageToken        string
	ReturnAttributes []string
	// Explain fills ScoredItem.Rules.
	Explain bool
}

// The metrics of a TrendingRequest.
const (
	MetricTrending    = "trending"
	MetricBestsellers = "bestsellers"
	MetricPopular     = "popular"
)

// Result is the answer to a request.
type Result struct {
	// Items are the recommended items, best first. There are fewer than N
	// only when the catalogue minus the exclusions is smaller than N.
	Items []ScoredItem
	// Version is the snapshot version of the model that answered.
	Version string
	// Fallback is true when the model knows nothing specific about the
	// user (Recommend) or item (SimilarItems), so every item comes from
	// the popularity ranking.
	Fallback bool
	// NextPageToken continues the answer with the next page; empty on the
	// last page.
	NextPageToken string
	// Exhausted is true when the filter and exclusions left fewer than N
	// items.
	Exhausted bool
}

// Recommender serves requests from the current Model, which can be
// replaced at any time with Swap. Its methods are safe for concurrent use;
// the request path takes no lock. The zero value is ready to use and has
// no model.
type Recommender struct {
	cur       atomic.Pointer[Model]
	rules     atomic.Pointer[rulesHolder]  // see SetRules
	forgotten atomic.Pointer[forgottenSet] // see SetForgotten
}

// New returns a Recommender with no model: requests fail with
// ErrUnavailable until the first Swap.
func New() *Recommender { return &Recommender{} }

// Swap makes m the current model and returns the previous one (nil if
// there was none). Requests that already started keep using the old
// model; the caller should Close it, which waits for them. Swap(nil)
// unloads the model.
func (r *Recommender) Swap(m *Model) (old *Model) {
	if m != nil {
		// Compile the rules for the new catalogue before it serves, so no
		// request pays for it.
		m.rulesFor(r.rulesSource())
	}
	return r.cur.Swap(m)
}

// rulesHolder boxes a RulesSource for an atomic pointer.
type rulesHolder struct{ src RulesSource }

// SetRules makes src the merchandising rules of every later request
// (nil: none). Rules apply to Recommend, SimilarItems, RecommendForBasket
// and Trending, each by its scope; Rank orders the caller's list as it
// is.
func (r *Recommender) SetRules(src RulesSource) {
	if src == nil {
		r.rules.Store(nil)
		return
	}
	r.rules.Store(&rulesHolder{src})
	if m := r.cur.Load(); m != nil {
		m.rulesFor(src)
	}
}

func (r *Recommender) rulesSource() RulesSource {
	if h := r.rules.Load(); h != nil {
		return h.src
	}
	return nil
}

// Current returns the current model, or nil before the first Swap. The
// returned model may be swapped out and closed at any time; to query it,
// use the Recommender's methods, or the Model's own, which fail with
// ErrUnavailable once it is closed.
func (r *Recommender) Current() *Model { return r.cur.Load() }

// Recommend answers req from the current model. See Model.Recommend.
func (r *Recommender) Recommend(ctx context.Context, req RecommendRequest) (Result, error) {
	m, err := r.acquire()
	if err != nil {
		return Result{}, err
	}
	defer m.release()
	return m.recommendWith(ctx, req, nil, r.isForgotten(req.UserID), m.rulesFor(r.rulesSource()))
}

// RecommendInto is Recommend with the result items appended to dst[:0]
// (see Model.RecommendInto).
func (r *Recommender) RecommendInto(ctx context.Context, req RecommendRequest, dst []ScoredItem) (Result, error) {
	m, err := r.acquire()
	if err != nil {
		return Result{}, err
	}
	defer m.release()
	return m.recommendInto(ctx, req, dst, r.isForgotten(req.UserID))
}

// SimilarItems answers req from the current model. See Model.SimilarItems.
// A forgotten viewer is served as unknown.
func (r *Recommender) SimilarItems(ctx context.Context, req SimilarRequest) (Result, error) {
	m, err := r.acquire()
	if err != nil {
		return Result{}, err
	}
	defer m.release()
	return m.similarItems(ctx, req, m.rulesFor(r.rulesSource()), r.isForgotten(req.UserID))
}

// acquire returns the current model with a reference held for one request.
// If the model it loaded was swapped out and closed before the reference
// was taken, it retries with the new current model, so a Swap followed by
// Close of the old model never fails a request.
func (r *Recommender) acquire() (*Model, error) {
	for {
		m := r.cur.Load()
		if m == nil {
			return nil, ErrUnavailable
		}
		if m.acquire() {
			return m, nil
		}
		if r.cur.Load() == m {
			return nil, fmt.Errorf("%w: model version %s was closed while still current", ErrUnavailable, m.version)
		}
	}
}

// RecommendForBasket answers req from the current model. See
// Model.RecommendForBasket. A forgotten user is served as unknown.
func (r *Recommender) RecommendForBasket(ctx context.Context, req BasketRequest) (Result, error) {
	m, err := r.acquire()
	if err != nil {
		return Result{}, err
	}
	defer m.release()
	return m.basket(ctx, req, r.isForgotten(req.UserID), m.rulesFor(r.rulesSource()))
}

// Rank answers req from the current model. See Model.Rank. A forgotten
// user is served as unknown.
func (r *Recommender) Rank(ctx context.Context, req RankRequest) (RankResult, error) {
	m, err := r.acquire()
	if err != nil {
		return RankResult{}, err
	}
	defer m.release()
	return m.rank(ctx, req, r.isForgotten(req.UserID), m.rulesFor(r.rulesSource()))
}

// Trending answers req from the current model. See Model.Trending.
func (r *Recommender) Trending(ctx context.Context, req TrendingRequest) (Result, error) {
	m, err := r.acquire()
	if err != nil {
		return Result{}, err
	}
	defer m.release()
	return m.trending(ctx, req, m.rulesFor(r.rulesSource()))
}
