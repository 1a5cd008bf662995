package recommender

import (
	"context"
	"errors"
	"fmt"

	"github.com/polecam/polecam/recommender/rules"
	"github.com/polecam/polecam/store"
)

// basketSnapshot is what a snapshot offers when it keeps the
// co-occurrence of items in carts and purchases apart from the views'.
type basketSnapshot interface {
	HasBasketNeighbors() bool
	BasketNeighbors(item int32, buf []store.Neighbor) ([]store.Neighbor, error)
}

// RecommendForBasket returns items that complete a basket: the items put
// in carts or bought together with the basket's (summed over the basket,
// each scaled by the shopper's taste when req.UserID has a vector), then
// the view co-occurrence neighbours, then the items nearest the basket in
// the factor space, then popular items. The basket is never returned;
// Because names the basket item each result comes from.
func (m *Model) RecommendForBasket(ctx context.Context, req BasketRequest) (Result, error) {
	if !m.acquire() {
		return Result{}, m.errClosed()
	}
	defer m.release()
	return m.basket(ctx, req, false, nil)
}

func (m *Model) basket(ctx context.Context, req BasketRequest, anonymous bool, rl *rules.Rules) (Result, error) {
	if len(req.Items) == 0 {
		return Result{}, fmt.Errorf("%w: item_ids is required: the basket", ErrInvalidArgument)
	}
	if len(req.Items) > MaxRecent {
		return Result{}, fmt.Errorf("%w: at most %d basket items, got %d", ErrInvalidArgument, MaxRecent, len(req.Items))
	}
	if err := validateN(req.N); err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	fetch := req.N
	if rl != nil {
		fetch = rl.Candidates(rules.ScopeBasket, ruledDepth(req.N))
	}
	sc := m.getScratch()
	defer m.putScratch(sc)
	sc.rules, sc.scope = rl, rules.ScopeBasket
	var err error
	if sc.filter, err = m.compileFilter(sc, req.Filter); err != nil {
		return Result{}, err
	}
	if err := m.resolveSeeds(sc, "", req.Items); err != nil {
		if !errorsIsNotFound(err) {
			return Result{}, err
		}
		// No basket item is known: popular items.
		sc.seeds = sc.seeds[:0]
	}
	var uq []float32
	if req.UserID != "" {
		if uq, _, err = m.resolveUser(sc, req.UserID, nil, anonymous, false); err != nil {
			return Result{}, err
		}
	}
	sc.blocked = append(sc.blocked, sc.seeds...)
	if err := m.block(sc, req.Items); err != nil {
		return Result{}, err
	}
	known := len(sc.seeds) > 0
	if known {
		if bs, ok := m.snap.(basketSnapshot); ok && bs.HasBasketNeighbors() {
			if _, err := m.neighbourTier(sc, sc.seeds, bs.BasketNeighbors, uq, fetch); err != nil {
				return Result{}, err
			}
			sc.addPicks(SourceBasket)
		}
		if need := fetch - len(sc.picks); need > 0 {
			sc.blockPicks()
			if _, err := m.neighbourTier(sc, sc.seeds, m.snap.Neighbors, uq, need); err != nil {
				return Result{}, err
			}
			sc.addPicks(SourceCoOccurrence)
		}
		if need := fetch - len(sc.picks); need > 0 && m.seedVector(sc) {
			if err := ctx.Err(); err != nil {
				return Result{}, err
			}
			sc.blockPicks()
			m.rankCosine(sc, sc.qv, need)
			m.nearestSeeds(sc)
			sc.addPicks(SourceFactors)
		}
	}
	if len(sc.picks) < fetch {
		m.fillPopular(sc, fetch)
	}
	if rl != nil {
		if err := m.applyRules(sc, rl, rules.ScopeBasket, ruledDepth(req.N)); err != nil {
			return Result{}, err
		}
	}
	res, err := m.result(sc, !known, req.ReturnAttributes, true)
	if err != nil {
		return Result{}, err
	}
	res.Exhausted = len(res.Items) < req.N
	return res, nil
}

// nearestSeeds sets sc.fromBuf to the seed nearest (cosine) each of
// sc.cands, so factor results can say which basket item they come from.
func (m *Model) nearestSeeds(sc *scratch) {
	sc.fromBuf = sc.fromBuf[:0]
	for _, c := range sc.cands {
		best, from := negInf, int32(-1)
		y := m.items.Row(int(c.Index))
		for _, s := range sc.seeds {
			if m.invNorm[s] == 0 {
				continue
			}
			if v := dotF(y, m.items.Row(int(s))) * m.invNorm[s]; v > best {
				best, from = v, s
			}
		}
		sc.fromBuf = append(sc.fromBuf, from)
	}
}

// Trending returns a non-personal list (see TrendingRequest), within the
// filter. A snapshot without the list asked for answers with popular
// items and Fallback set.
func (m *Model) Trending(ctx context.Context, req TrendingRequest) (Result, error) {
	if !m.acquire() {
		return Result{}, m.errClosed()
	}
	defer m.release()
	return m.trending(ctx, req, nil)
}

func (m *Model) trending(ctx context.Context, req TrendingRequest, rl *rules.Rules) (Result, error) {
	if err := validateN(req.N); err != nil {
		return Result{}, err
	}
	metric := req.Metric
	if metric == "" {
		metric = MetricTrending
	}
	src := SourcePopularity
	switch metric {
	case MetricTrending:
		src = SourceTrending
	case MetricBestsellers:
		src = SourceBestsellers
	case MetricPopular:
	default:
		return Result{}, fmt.Errorf("%w: metric %q: want %q, %q or %q", ErrInvalidArgument, req.Metric, MetricTrending, MetricBestsellers, MetricPopular)
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	qh := newQueryHash('t')
	qh.str(metric)
	qh.filter(req.Filter)
	pq, err := m.startPage(req.PageToken, qh.h, req.N, rl, rules.ScopeTrending)
	if err != nil {
		return Result{}, err
	}
	fetch := pq.fetch
	sc := m.getScratch()
	defer m.putScratch(sc)
	if sc.filter, err = m.compileFilter(sc, req.Filter); err != nil {
		return Result{}, err
	}
	l, ok := m.lists[metric]
	fallback := false
	if src == SourcePopularity || !ok {
		fallback = src != SourcePopularity
		l, src = scoreList{scores: m.pop, order: m.popOrder}, SourcePopularity
	}
	m.fillList(sc, l.scores, l.order, fetch, src)
	if rl != nil {
		if err := m.applyRules(sc, rl, rules.ScopeTrending, pq.depth); err != nil {
			return Result{}, err
		}
	}
	next := m.paginate(sc, pq, req.N)
	res, err := m.result(sc, fallback, req.ReturnAttributes, req.Explain)
	if err != nil {
		return Result{}, err
	}
	res.NextPageToken = next
	res.Exhausted = len(res.Items) < req.N
	return res, nil
}

func errorsIsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
