package recommender

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/polecam/polecam/recommender/ann"
	"github.com/polecam/polecam/store"
)

// scratch is the per-request working memory of one Model, pooled so that
// a request allocates nothing proportional to the catalogue.
type scratch struct {
	scores  []float32 // one per item, allocated on first use
	job     scanJob
	qi      []int8 // the query quantised for an int8 scan
	row4    [4]float32
	dst     []ScoredItem // the caller's result buffer, or nil
	top     topN
	cands   []candidate
	picks   []pick
	seen    []int32
	blocked []int32 // items the current tier must not return, sorted
	nbrs    []store.Neighbor
	// ann is the approximate search's working memory (nil without an
	// index), annRes its answer, annFilter sc.notBlocked bound once.
	ann       *ann.Scratch
	annRes    []ann.Result
	annFilter ann.Filter
}

// pick is one chosen item with the source that chose it.
type pick struct {
	candidate
	src Source
}

func (m *Model) newScratch() any {
	sc := &scratch{job: scanJob{m: m, lanes: newLanes(m.workers), done: make(chan any, m.workers)}}
	if m.i8 != nil {
		sc.qi = make([]int8, m.i8.width)
	}
	if m.ann != nil {
		sc.ann = ann.NewScratch(m.ann)
		sc.annFilter = sc.notBlocked
	}
	return sc
}

func (m *Model) getScratch() *scratch {
	sc := m.scratch.Get().(*scratch)
	sc.picks = sc.picks[:0]
	sc.blocked = sc.blocked[:0]
	return sc
}

func (m *Model) putScratch(sc *scratch) {
	sc.dst = nil
	m.scratch.Put(sc)
}

// Recommend returns the top req.N items for req.UserID. A known user's
// items are ranked by the inner product of the user and item factor
// vectors; the user's training items are left out unless req.IncludeSeen,
// and req.Exclude always. Should fewer than req.N items be left, popular
// items fill the list. A user the model does not know, or whose factor
// vector is zero, gets the most popular items, with Result.Fallback set.
//
// It fails with ErrInvalidArgument for an empty user id or N outside
// [1, MaxN], and with ErrUnavailable once the model is closed.
func (m *Model) Recommend(ctx context.Context, req RecommendRequest) (Result, error) {
	if !m.acquire() {
		return Result{}, m.errClosed()
	}
	defer m.release()
	return m.recommend(ctx, req)
}

// RecommendInto is Recommend with the result items appended to dst[:0]:
// with cap(dst) >= req.N and the snapshot's id lookups allocation-free, a
// request allocates nothing. Result.Items aliases dst.
func (m *Model) RecommendInto(ctx context.Context, req RecommendRequest, dst []ScoredItem) (Result, error) {
	if !m.acquire() {
		return Result{}, m.errClosed()
	}
	defer m.release()
	return m.recommendInto(ctx, req, dst, false)
}

// SimilarItems returns the req.N items most related to req.ItemID: its
// co-occurrence neighbours first, then the items nearest to it by cosine
// similarity of the factor vectors, then popular items; req.ItemID itself
// and req.Exclude are never returned. Result.Fallback is set when the item
// has neither neighbours nor a factor vector.
//
// It fails with ErrInvalidArgument for an empty item id or N outside
// [1, MaxN], with ErrNotFound for an item the model does not know, and
// with ErrUnavailable once the model is closed.
func (m *Model) SimilarItems(ctx context.Context, req SimilarRequest) (Result, error) {
	if !m.acquire() {
		return Result{}, m.errClosed()
	}
	defer m.release()
	return m.similarItems(ctx, req)
}

func validateN(n int) error {
	if n < 1 || n > MaxN {
		return fmt.Errorf("%w: n must be between 1 and %d, got %d", ErrInvalidArgument, MaxN, n)
	}
	return nil
}

// recommend is Recommend for a caller holding a reference.
func (m *Model) recommend(ctx context.Context, req RecommendRequest) (Result, error) {
	return m.recommendInto(ctx, req, nil, false)
}

// recommendInto is RecommendInto for a caller holding a reference. An
// anonymous request is answered as for a user the model does not know,
// without reading the user's vector or history (see SetForgotten).
func (m *Model) recommendInto(ctx context.Context, req RecommendRequest, dst []ScoredItem, anonymous bool) (Result, error) {
	if req.UserID == "" {
		return Result{}, fmt.Errorf("%w: user_id is required", ErrInvalidArgument)
	}
	if err := validateN(req.N); err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	var (
		u     int32
		known bool
		err   error
	)
	if !anonymous {
		if u, known, err = m.snap.UserIndex(req.UserID); err != nil {
			return Result{}, fmt.Errorf("look up user %q: %w", req.UserID, err)
		}
	}
	if known && (u < 0 || int(u) >= m.users.Rows) {
		return Result{}, fmt.Errorf("look up user %q: index %d outside the %d user factor rows", req.UserID, u, m.users.Rows)
	}
	var q []float32
	if known {
		if q = m.users.Row(int(u)); isZero(q) {
			q = nil
		}
	}

	sc := m.getScratch()
	defer m.putScratch(sc)
	sc.dst = dst
	if known && !req.IncludeSeen {
		if sc.seen, err = m.snap.Seen(u, sc.seen); err != nil {
			return Result{}, fmt.Errorf("read items seen by user %q: %w", req.UserID, err)
		}
		sc.blocked = append(sc.blocked, sc.seen...)
	}
	if err := m.block(sc, req.Exclude); err != nil {
		return Result{}, err
	}

	if q != nil && m.ii != nil {
		if err := m.rankItemItem(ctx, sc, u, q, req.N, req.IncludeSeen); err != nil {
			return Result{}, err
		}
		sc.addPicks(SourceFactors)
	} else if q != nil {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		m.rankFactors(sc, q, req.N, req.Exact)
		sc.addPicks(SourceFactors)
	}
	if len(sc.picks) < req.N {
		m.fillPopular(sc, req.N)
	}
	return m.result(sc, q == nil)
}

// similarItems is SimilarItems for a caller holding a reference.
func (m *Model) similarItems(ctx context.Context, req SimilarRequest) (Result, error) {
	if req.ItemID == "" {
		return Result{}, fmt.Errorf("%w: item_id is required", ErrInvalidArgument)
	}
	if err := validateN(req.N); err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	item, ok, err := m.snap.ItemIndex(req.ItemID)
	if err != nil {
		return Result{}, fmt.Errorf("look up item %q: %w", req.ItemID, err)
	}
	if !ok {
		return Result{}, fmt.Errorf("%w: item %q is not in model version %s", ErrNotFound, req.ItemID, m.version)
	}
	if item < 0 || int(item) >= m.n {
		return Result{}, fmt.Errorf("look up item %q: index %d outside the %d items", req.ItemID, item, m.n)
	}

	sc := m.getScratch()
	defer m.putScratch(sc)
	sc.blocked = append(sc.blocked, item)
	if err := m.block(sc, req.Exclude); err != nil {
		return Result{}, err
	}

	// Tier 1: co-occurrence neighbours, best first, each item once.
	if sc.nbrs, err = m.snap.Neighbors(item, sc.nbrs); err != nil {
		return Result{}, fmt.Errorf("read neighbours of item %q: %w", req.ItemID, err)
	}
	sc.cands = sc.cands[:0]
	for _, nb := range sc.nbrs {
		if nb.Item >= 0 && int(nb.Item) < m.n && !contains(sc.blocked, nb.Item) {
			sc.cands = append(sc.cands, candidate{Index: nb.Item, Score: nb.Score})
		}
	}
	sc.top.reset(req.N)
	for _, c := range dedupBest(sc.cands) {
		sc.top.push(c)
	}
	sc.cands = sc.top.appendSorted(sc.cands[:0])
	sc.addPicks(SourceCoOccurrence)

	// Tier 2: nearest items by cosine similarity, an exact scan.
	hasVector := m.invNorm[item] != 0
	if need := req.N - len(sc.picks); need > 0 && hasVector {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		sc.blockPicks()
		m.scan(sc, scanCosine, m.items.Row(int(item)), nil, 0, need)
		qInv := m.invNorm[item]
		for i := range sc.cands {
			sc.cands[i].Score *= qInv
		}
		sc.addPicks(SourceFactors)
	}

	// Tier 3: popularity.
	if len(sc.picks) < req.N {
		m.fillPopular(sc, req.N)
	}
	return m.result(sc, len(sc.nbrs) == 0 && !hasVector)
}

// block adds the known items among ids to sc.blocked and sorts it.
// Unknown ids are ignored.
func (m *Model) block(sc *scratch, ids []string) error {
	for _, id := range ids {
		if id == "" {
			continue
		}
		i, ok, err := m.snap.ItemIndex(id)
		if err != nil {
			return fmt.Errorf("look up excluded item %q: %w", id, err)
		}
		if ok {
			sc.blocked = append(sc.blocked, i)
		}
	}
	slices.Sort(sc.blocked)
	sc.blocked = slices.Compact(sc.blocked)
	return nil
}

// mask sets the score of every listed item to -Inf, so selection skips it.
// Indices outside the catalogue are ignored.
func (m *Model) mask(scores []float32, items []int32) {
	for _, i := range items {
		if i >= 0 && int(i) < len(scores) {
			scores[i] = negInf
		}
	}
}

// fillPopular appends the most popular items that are neither blocked nor
// already picked until sc.picks holds n items or the catalogue runs out.
func (m *Model) fillPopular(sc *scratch, n int) {
	sc.blockPicks()
	start := len(sc.picks)
	for _, i := range m.popOrder {
		if len(sc.picks) == n {
			return
		}
		if !contains(sc.blocked, i) {
			sc.picks = append(sc.picks, pick{candidate{Index: i, Score: m.pop[i]}, SourcePopularity})
		}
	}
	if len(sc.picks) == n || len(m.popOrder) == m.n {
		return
	}
	// The exclusions swallowed the precomputed head of the ranking: rank
	// the whole catalogue. The head is a prefix of this ranking, so redo
	// the fill from scratch.
	sc.picks = sc.picks[:start]
	if sc.scores == nil {
		sc.scores = make([]float32, m.n)
	}
	scores := sc.scores[:m.n]
	copy(scores, m.pop)
	m.mask(scores, sc.blocked)
	sc.top.reset(n - start)
	sc.top.pushScores(scores, 0)
	sc.cands = sc.top.appendSorted(sc.cands[:0])
	sc.addPicks(SourcePopularity)
}

// result turns sc.picks into a Result, resolving item ids. The items go
// into sc.dst when the caller gave a buffer.
func (m *Model) result(sc *scratch, fallback bool) (Result, error) {
	items := sc.dst[:0]
	if items == nil || cap(items) < len(sc.picks) {
		items = make([]ScoredItem, 0, len(sc.picks))
	}
	for _, p := range sc.picks {
		id, err := m.snap.ItemID(p.Index)
		if err != nil {
			return Result{}, fmt.Errorf("resolve item %d: %w", p.Index, err)
		}
		items = append(items, ScoredItem{ID: id, Score: p.Score, Source: p.src})
	}
	return Result{Items: items, Version: m.version, Fallback: fallback}, nil
}

// addPicks appends sc.cands to sc.picks with source src.
func (sc *scratch) addPicks(src Source) {
	for _, c := range sc.cands {
		sc.picks = append(sc.picks, pick{c, src})
	}
}

// blockPicks adds the picked items to sc.blocked, keeping it sorted, so the
// next tier does not repeat them.
func (sc *scratch) blockPicks() {
	for _, p := range sc.picks {
		sc.blocked = append(sc.blocked, p.Index)
	}
	slices.Sort(sc.blocked)
	sc.blocked = slices.Compact(sc.blocked)
}

// contains reports whether the sorted list holds i.
func contains(sorted []int32, i int32) bool {
	_, ok := slices.BinarySearch(sorted, i)
	return ok
}

// dedupBest sorts cands by index and keeps the best score of each item,
// in place.
func dedupBest(cands []candidate) []candidate {
	slices.SortFunc(cands, func(a, b candidate) int {
		if c := cmp.Compare(a.Index, b.Index); c != 0 {
			return c
		}
		return compareRank(a, b)
	})
	return slices.CompactFunc(cands, func(a, b candidate) bool { return a.Index == b.Index })
}

// isZero reports whether every element of v is zero.
func isZero(v []float32) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}
