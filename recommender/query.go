package recommender

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/polecam/polecam/recommender/ann"
	"github.com/polecam/polecam/recommender/rules"
	"github.com/polecam/polecam/store"
)

// scratch is the per-request working memory of one Model, pooled so that
// a request allocates nothing proportional to the catalogue.
type scratch struct {
	scores  []float32 // one per item, allocated on first use
	job     scanJob
	qi      []int8 // the query quantised for an int8 scan
	gather  gatherScratch
	row4    [4]float32
	dst     []ScoredItem // the caller's result buffer, or nil
	top     topN
	cands   []candidate
	picks   []pick
	tier    uint8 // the tier the next addPicks adds
	seen    []int32
	session []int32 // the request's recent items, resolved, newest last
	hist    []int32 // seen ∪ session, ascending: the history of the query
	blocked []int32 // items the current tier must not return, sorted
	nbrs    []store.Neighbor
	qv      []float32 // a folded-in or combined query vector
	fold    foldScratch
	// filter is the request's compiled filter (rs), or nil.
	filter *rowSet
	rs     rowSet
	// ann is the approximate search's working memory (nil without an
	// index), annRes its answer, annFilter sc.allowed bound once.
	ann       *ann.Scratch
	annRes    []ann.Result
	annFilter ann.Filter
	seeds     []int32
	acc       map[int32]accum
	fromBuf   []int32 // the item each of sc.cands came from, see addPicks
	rcands    []rules.Candidate
	rout      rules.Output
	// rules and scope are the request's merchandising rules (nil for
	// none) and its scope, set before resolveUser: exclusion windows
	// decide which of a user's trained items come back (readmitted,
	// ascending by row, with the rules' names in readmitNames).
	rules        *rules.Rules
	scope        rules.Scope
	events       []store.SeenEvent // the user's latest event times, with rules
	readmitted   []readmitted
	readmitNames []string
}

// readmitted is a trained item that exclusion windows let back, with the
// span of scratch.readmitNames naming the rules.
type readmitted struct {
	row    int32
	lo, hi int32
}

// pick is one chosen item with the source that chose it and the tier of
// the answer it came from (tiers are numbered in the order they fill it).
type pick struct {
	candidate
	src  Source
	tier uint8
	from int32 // the seed or history item it came from, or -1
	// rules are the merchandising rules applied to it.
	rules []string
}

// accum sums the co-occurrence scores of a candidate over several seeds.
type accum struct {
	score float32
	best  float32
	from  int32
}

func (m *Model) newScratch() any {
	sc := &scratch{job: scanJob{m: m, lanes: newLanes(m.workers), done: make(chan any, m.workers)}}
	if m.i8 != nil {
		sc.qi = make([]int8, m.i8.width)
	}
	if m.ann != nil {
		sc.ann = ann.NewScratch(m.ann)
		sc.annFilter = func(i int32) bool { return m.allowed(sc, i) }
	}
	return sc
}

func (m *Model) getScratch() *scratch {
	sc := m.scratch.Get().(*scratch)
	sc.picks = sc.picks[:0]
	sc.blocked = sc.blocked[:0]
	sc.seen = sc.seen[:0]
	sc.session = sc.session[:0]
	sc.hist = sc.hist[:0]
	sc.filter = nil
	sc.tier = 0
	sc.rules = nil
	sc.events = sc.events[:0]
	sc.readmitted = sc.readmitted[:0]
	sc.readmitNames = sc.readmitNames[:0]
	return sc
}

func (m *Model) putScratch(sc *scratch) {
	sc.dst = nil
	sc.filter = nil
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
	return m.similarItems(ctx, req, nil, false)
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

// MaxRecent is the most session items one request may carry; older ones
// beyond it are ignored.
const MaxRecent = 200

// MaxExclude is the longest exclusion list one request may carry.
const MaxExclude = 10000

// recommendInto is RecommendInto for a caller holding a reference. An
// anonymous request is answered as for a user the model does not know,
// without reading the user's vector or history (see SetForgotten); its
// session items still make the answer personal.
func (m *Model) recommendInto(ctx context.Context, req RecommendRequest, dst []ScoredItem, anonymous bool) (Result, error) {
	return m.recommendWith(ctx, req, dst, anonymous, nil)
}

// recommendWith is recommendInto with merchandising rules (rl may be nil).
func (m *Model) recommendWith(ctx context.Context, req RecommendRequest, dst []ScoredItem, anonymous bool, rl *rules.Rules) (Result, error) {
	var rq recQuery
	if err := m.prepareRecommend(ctx, &rq, req, dst, anonymous, rl); err != nil {
		return Result{}, err
	}
	defer m.putScratch(rq.sc)
	if err := m.rankRecommend(ctx, &rq); err != nil {
		return Result{}, err
	}
	return m.finishRecommend(&rq)
}

// recQuery is one Recommend request between its phases: resolved
// (prepareRecommend), ranked (rankRecommend, or a joint scan of a batch)
// and answered (finishRecommend). Its scratch is the caller's to put back.
type recQuery struct {
	req    RecommendRequest
	rl     *rules.Rules
	sc     *scratch
	pq     pageQuery
	tokens bool
	q      []float32 // the query vector, nil without one
}

// prepareRecommend validates req and resolves who asks into the query
// rq: the user's vector, the items to exclude, the filter. On success the
// caller owns rq.sc and puts it back.
func (m *Model) prepareRecommend(ctx context.Context, rq *recQuery, req RecommendRequest, dst []ScoredItem, anonymous bool, rl *rules.Rules) error {
	if req.UserID == "" {
		return fmt.Errorf("%w: user_id is required", ErrInvalidArgument)
	}
	if err := validateN(req.N); err != nil {
		return err
	}
	if len(req.Exclude) > MaxExclude {
		return fmt.Errorf("%w: at most %d exclude ids, got %d", ErrInvalidArgument, MaxExclude, len(req.Exclude))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Page tokens are issued to Recommend, and to RecommendInto when it
	// is asked for a later page (issuing one allocates).
	*rq = recQuery{req: req, rl: rl, tokens: dst == nil || req.PageToken != ""}
	var h uint64
	if rq.tokens {
		qh := newQueryHash('r')
		qh.str(req.UserID)
		qh.strs(req.Recent)
		qh.sortedStrs(req.Exclude)
		qh.bool(req.IncludeSeen)
		qh.bool(req.Exact)
		qh.filter(req.Filter)
		h = qh.h
	}
	var err error
	if rq.pq, err = m.startPage(req.PageToken, h, req.N, rl, rules.ScopeRecommend); err != nil {
		return err
	}
	sc := m.getScratch()
	sc.dst = dst
	sc.rules, sc.scope = rl, rules.ScopeRecommend
	if sc.filter, err = m.compileFilter(sc, req.Filter); err == nil {
		if rq.q, _, err = m.resolveUser(sc, req.UserID, req.Recent, anonymous, req.IncludeSeen); err == nil {
			err = m.block(sc, req.Exclude)
		}
	}
	if err != nil {
		m.putScratch(sc)
		return err
	}
	rq.sc = sc
	return nil
}

// rankRecommend ranks a prepared query by its personal tier: the blend
// with the item-item model when the snapshot has one, else the factors.
func (m *Model) rankRecommend(ctx context.Context, rq *recQuery) error {
	sc, q := rq.sc, rq.q
	if q == nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if m.ii != nil {
		if err := m.rankItemItem(ctx, sc, q, sc.hist, rq.pq.fetch); err != nil {
			return err
		}
	} else {
		m.rankFactors(sc, q, rq.pq.fetch, rq.req.Exact)
	}
	sc.addPicks(SourceFactors)
	return nil
}

// finishRecommend answers a ranked query: the popular fill, the rules,
// the page and the result.
func (m *Model) finishRecommend(rq *recQuery) (Result, error) {
	sc, req, pq, q := rq.sc, rq.req, rq.pq, rq.q
	if len(sc.picks) < pq.fetch {
		m.fillPopular(sc, pq.fetch)
	}
	if rq.rl != nil {
		if err := m.applyRules(sc, rq.rl, rules.ScopeRecommend, pq.depth); err != nil {
			return Result{}, err
		}
	}
	next := ""
	if rq.tokens {
		next = m.paginate(sc, pq, req.N)
	}
	res, err := m.result(sc, q == nil, req.ReturnAttributes, req.Explain)
	if err != nil {
		return Result{}, err
	}
	if req.Explain && q != nil {
		m.explainFactors(sc, res.Items)
	}
	res.NextPageToken = next
	res.Exhausted = len(res.Items) < req.N
	return res, nil
}

// resolveUser resolves who asks: the user's row and trained vector, the
// items they were trained on (sc.seen), the session's items (sc.session)
// and the history both make (sc.hist). Seen items are blocked unless
// includeSeen, session items always. With session items and the
// snapshot's fold-in parameters, the returned vector is folded in (see
// foldIn); a user without a vector and without a usable session gets nil.
func (m *Model) resolveUser(sc *scratch, userID string, recent []string, anonymous, includeSeen bool) ([]float32, int32, error) {
	u, known := int32(-1), false
	var err error
	if userID != "" && !anonymous {
		if u, known, err = m.snap.UserIndex(userID); err != nil {
			return nil, -1, fmt.Errorf("look up user %q: %w", userID, err)
		}
		if !known {
			u = -1
		}
	}
	if known && (u < 0 || int(u) >= m.users.Rows) {
		return nil, -1, fmt.Errorf("look up user %q: index %d outside the %d user factor rows", userID, u, m.users.Rows)
	}
	var q []float32
	if known {
		if q = m.users.Row(int(u)); isZero(q) {
			q = nil
		}
		if sc.seen, err = m.snap.Seen(u, sc.seen); err != nil {
			return nil, -1, fmt.Errorf("read items seen by user %q: %w", userID, err)
		}
		if sc.rules != nil && m.events != nil {
			if sc.events, err = m.events(u, sc.events); err != nil {
				return nil, -1, fmt.Errorf("read the event times of user %q: %w", userID, err)
			}
		}
		if !includeSeen {
			m.blockSeen(sc)
		}
	}
	if len(recent) > MaxRecent {
		recent = recent[len(recent)-MaxRecent:]
	}
	for _, id := range recent {
		if id == "" {
			continue
		}
		i, ok, err := m.snap.ItemIndex(id)
		if err != nil {
			return nil, -1, fmt.Errorf("look up recent item %q: %w", id, err)
		}
		if ok && i >= 0 && int(i) < m.n && !slices.Contains(sc.session, i) {
			sc.session = append(sc.session, i)
		}
	}
	sc.blocked = append(sc.blocked, sc.session...)
	sc.hist = append(append(sc.hist[:0], sc.seen...), sc.session...)
	slices.Sort(sc.hist)
	sc.hist = slices.Compact(sc.hist)
	switch {
	case m.foldUsers && known && m.fold != nil:
		// Stand the fold-in in for training: the whole history, from
		// scratch.
		if m.fold.seenW != nil {
			q = m.foldIn(sc, u, nil, sc.seen, sc.session)
		} else {
			q = m.foldIn(sc, -1, nil, nil, sc.hist)
		}
		if q == nil {
			return nil, u, nil
		}
	case len(sc.session) > 0 && m.fold != nil:
		if fq := m.foldIn(sc, u, q, sc.seen, sc.session); fq != nil {
			q = fq
		}
	}
	return q, u, nil
}

// similarItems is SimilarItems for a caller holding a reference, with
// merchandising rules (rl may be nil).
func (m *Model) similarItems(ctx context.Context, req SimilarRequest, rl *rules.Rules, anonymous bool) (Result, error) {
	if req.ItemID == "" && len(req.ItemIDs) == 0 {
		return Result{}, fmt.Errorf("%w: item_id is required", ErrInvalidArgument)
	}
	if err := validateN(req.N); err != nil {
		return Result{}, err
	}
	if len(req.ItemIDs) > MaxRecent {
		return Result{}, fmt.Errorf("%w: at most %d seed items, got %d", ErrInvalidArgument, MaxRecent, len(req.ItemIDs))
	}
	if len(req.Exclude) > MaxExclude {
		return Result{}, fmt.Errorf("%w: at most %d exclude ids, got %d", ErrInvalidArgument, MaxExclude, len(req.Exclude))
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	qh := newQueryHash('s')
	qh.str(req.ItemID)
	qh.strs(req.ItemIDs)
	qh.sortedStrs(req.Exclude)
	qh.str(req.UserID)
	qh.filter(req.Filter)
	pq, err := m.startPage(req.PageToken, qh.h, req.N, rl, rules.ScopeSimilar)
	if err != nil {
		return Result{}, err
	}
	fetch := pq.fetch

	sc := m.getScratch()
	defer m.putScratch(sc)
	sc.rules, sc.scope = rl, rules.ScopeSimilar
	if sc.filter, err = m.compileFilter(sc, req.Filter); err != nil {
		return Result{}, err
	}
	if err := m.resolveSeeds(sc, req.ItemID, req.ItemIDs); err != nil {
		return Result{}, err
	}
	var uq []float32
	if req.UserID != "" {
		if uq, _, err = m.resolveUser(sc, req.UserID, nil, anonymous, false); err != nil {
			return Result{}, err
		}
	}
	sc.blocked = append(sc.blocked, sc.seeds...)
	if err := m.block(sc, req.Exclude); err != nil {
		return Result{}, err
	}

	// Tier 1: co-occurrence neighbours of the seeds, best first.
	hasNbrs, err := m.neighbourTier(sc, sc.seeds, m.snap.Neighbors, uq, fetch)
	if err != nil {
		return Result{}, err
	}
	sc.addPicks(SourceCoOccurrence)

	// Tier 2: nearest items to the seeds by cosine similarity.
	hasVector := m.seedVector(sc)
	if need := fetch - len(sc.picks); need > 0 && hasVector {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		sc.blockPicks()
		m.rankCosine(sc, sc.qv, need)
		sc.addPicks(SourceFactors)
	}

	// Tier 3: popularity.
	if len(sc.picks) < fetch {
		m.fillPopular(sc, fetch)
	}
	if rl != nil {
		if err := m.applyRules(sc, rl, rules.ScopeSimilar, pq.depth); err != nil {
			return Result{}, err
		}
	}
	next := m.paginate(sc, pq, req.N)
	res, err := m.result(sc, !hasNbrs && !hasVector, req.ReturnAttributes, req.Explain)
	if err != nil {
		return Result{}, err
	}
	if req.Explain {
		sc.hist = append(sc.hist[:0], sc.seeds...)
		m.explainFactors(sc, res.Items)
	}
	res.NextPageToken = next
	res.Exhausted = len(res.Items) < req.N
	return res, nil
}

// resolveSeeds resolves the seed items of a SimilarItems or basket
// request into sc.seeds. Unknown seeds are ignored; none known is
// ErrNotFound.
func (m *Model) resolveSeeds(sc *scratch, first string, more []string) error {
	sc.seeds = sc.seeds[:0]
	var firstUnknown string
	add := func(id string) error {
		if id == "" {
			return nil
		}
		i, ok, err := m.snap.ItemIndex(id)
		if err != nil {
			return fmt.Errorf("look up item %q: %w", id, err)
		}
		if !ok {
			if firstUnknown == "" {
				firstUnknown = id
			}
			return nil
		}
		if i < 0 || int(i) >= m.n {
			return fmt.Errorf("look up item %q: index %d outside the %d items", id, i, m.n)
		}
		if !slices.Contains(sc.seeds, i) {
			sc.seeds = append(sc.seeds, i)
		}
		return nil
	}
	if err := add(first); err != nil {
		return err
	}
	for _, id := range more {
		if err := add(id); err != nil {
			return err
		}
	}
	if len(sc.seeds) == 0 {
		if firstUnknown == "" {
			return fmt.Errorf("%w: item_id is required", ErrInvalidArgument)
		}
		return fmt.Errorf("%w: item %q is not in model version %s", ErrNotFound, firstUnknown, m.version)
	}
	return nil
}

// neighbourTier leaves in sc.cands the best k allowed neighbours of the
// seeds by the sum of their co-occurrence scores over the seeds, each
// remembering the seed that gave it the most. With a user vector uq, a
// candidate's score is multiplied by 1 + personalWeight·cos(uq, item),
// so the viewer's taste orders close candidates. It reports whether any
// seed had neighbours.
func (m *Model) neighbourTier(sc *scratch, seeds []int32, nbrs func(int32, []store.Neighbor) ([]store.Neighbor, error), uq []float32, k int) (bool, error) {
	if sc.acc == nil {
		sc.acc = make(map[int32]accum)
	}
	clear(sc.acc)
	any := false
	slices.Sort(sc.blocked)
	sc.blocked = slices.Compact(sc.blocked)
	for _, s := range seeds {
		var err error
		if sc.nbrs, err = nbrs(s, sc.nbrs); err != nil {
			return false, fmt.Errorf("read neighbours of item %d: %w", s, err)
		}
		any = any || len(sc.nbrs) > 0
		for _, nb := range sc.nbrs {
			if nb.Item < 0 || int(nb.Item) >= m.n || !m.allowed(sc, nb.Item) {
				continue
			}
			a, ok := sc.acc[nb.Item]
			if !ok {
				a.from = s
			}
			a.score += nb.Score
			if nb.Score > a.best {
				a.best, a.from = nb.Score, s
			}
			sc.acc[nb.Item] = a
		}
	}
	var uInv float32
	if uq != nil {
		uInv = invNormOf(uq)
	}
	sc.top.reset(k)
	for i, a := range sc.acc {
		sc0 := a.score
		if uInv != 0 && m.invNorm[i] != 0 {
			cos := dotF(uq, m.items.Row(int(i))) * uInv * m.invNorm[i]
			sc0 *= 1 + personalWeight*cos
		}
		sc.top.push(candidate{Index: i, Score: sc0})
	}
	sc.cands = sc.top.appendSorted(sc.cands[:0])
	sc.fromBuf = sc.fromBuf[:0]
	for _, c := range sc.cands {
		sc.fromBuf = append(sc.fromBuf, sc.acc[c.Index].from)
	}
	return any, nil
}

// personalWeight is how much a viewer's taste may scale a co-occurrence
// score: by a factor between 1−w and 1+w.
const personalWeight = 0.25

// seedVector sets sc.qv to the sum of the seeds' unit item vectors and
// reports whether any seed has one.
func (m *Model) seedVector(sc *scratch) bool {
	d := m.items.Dims
	sc.qv = slices.Grow(sc.qv[:0], d)[:d]
	clear(sc.qv)
	ok := false
	for _, s := range sc.seeds {
		inv := m.invNorm[s]
		if inv == 0 {
			continue
		}
		ok = true
		for j, v := range m.items.Row(int(s)) {
			sc.qv[j] += v * inv
		}
	}
	return ok
}

// rankCosine leaves in sc.cands the best k allowed items by cosine
// similarity to q (the scan scores q·item/‖item‖), scaled to a cosine.
func (m *Model) rankCosine(sc *scratch, q []float32, k int) {
	if rs := sc.filter; rs != nil && rs.listed && m.directCheaper(rs.count) {
		m.scanRows(sc, scanCosine, q, rs.rows, k)
	} else {
		m.scan(sc, scanCosine, q, nil, 0, k)
	}
	if inv := invNormOf(q); inv != 0 {
		for i := range sc.cands {
			sc.cands[i].Score *= inv
		}
	}
}

// invNormOf returns 1/‖v‖, or 0 for a zero vector.
func invNormOf(v []float32) float32 {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	if ss == 0 {
		return 0
	}
	return float32(1 / math.Sqrt(ss))
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

// allowed reports whether item i may be returned by the request: it is
// available, passes the filter and is not blocked. sc.blocked is sorted.
func (m *Model) allowed(sc *scratch, i int32) bool {
	if m.unavailBits != nil && m.unavailBits[i>>6]&(1<<(uint(i)&63)) != 0 {
		return false
	}
	if sc.filter != nil && !sc.filter.has(i) {
		return false
	}
	return !contains(sc.blocked, i)
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

// maskRequest masks, in a full-catalogue score vector, every item the
// request may not get: blocked, unavailable or filtered out.
func (m *Model) maskRequest(sc *scratch, scores []float32) {
	m.mask(scores, sc.blocked)
	m.mask(scores, m.unavail)
	if sc.filter != nil {
		for start := 0; start < len(scores); start += scanBlock {
			maskBits(scores[start:min(start+scanBlock, len(scores))], sc.filter.bits, start)
		}
	}
}

// fillPopular appends the most popular allowed items not yet picked until
// sc.picks holds n items or the catalogue runs out.
func (m *Model) fillPopular(sc *scratch, n int) {
	m.fillList(sc, m.pop, m.popOrder, n, SourcePopularity)
}

// fillList appends the allowed items not yet picked with the best scores
// (order is the best of them, best first, a prefix of the full ranking)
// until sc.picks holds n items or the catalogue runs out. A selective
// filter is answered from its rows; only when the exclusions swallow the
// head of order does it rank the whole catalogue.
func (m *Model) fillList(sc *scratch, scores []float32, order []int32, n int, src Source) {
	sc.blockPicks()
	start := len(sc.picks)
	if rs := sc.filter; rs == nil || !rs.listed || len(order) < rs.count {
		for _, i := range order {
			if len(sc.picks) == n {
				sc.tier++
				return
			}
			if m.allowed(sc, i) {
				sc.picks = append(sc.picks, pick{candidate: candidate{Index: i, Score: scores[i]}, src: src, tier: sc.tier, from: -1})
			}
		}
		if len(sc.picks) == n || len(order) == m.n {
			sc.tier++
			return
		}
		sc.picks = sc.picks[:start]
	}
	// Rank the filter's rows, or the whole catalogue. The head is a prefix
	// of this ranking, so redo the fill from scratch.
	sc.top.reset(n - start)
	if rs := sc.filter; rs != nil && rs.listed {
		for _, i := range rs.rows {
			if m.allowed(sc, i) {
				sc.top.push(candidate{Index: i, Score: scores[i]})
			}
		}
	} else {
		if sc.scores == nil {
			sc.scores = make([]float32, m.n)
		}
		s := sc.scores[:m.n]
		copy(s, scores)
		m.maskRequest(sc, s)
		sc.top.pushScores(s, 0)
	}
	sc.cands = sc.top.appendSorted(sc.cands[:0])
	sc.addPicks(src)
}

// result turns sc.picks into a Result, resolving item ids and the
// attributes asked for. The items go into sc.dst when the caller gave a
// buffer.
func (m *Model) result(sc *scratch, fallback bool, attrs []string, explain bool) (Result, error) {
	items := sc.dst[:0]
	if items == nil || cap(items) < len(sc.picks) {
		items = make([]ScoredItem, 0, len(sc.picks))
	}
	var cols []CatalogAttribute
	var names []string
	if len(attrs) > 0 && m.cat != nil {
		for _, a := range attrs {
			if c, ok := m.cat.LookupAttribute(a); ok {
				cols, names = append(cols, c), append(names, a)
			} else if a == "category" {
				cols, names = append(cols, nil), append(names, a)
			}
		}
	}
	for _, p := range sc.picks {
		id, err := m.snap.ItemID(p.Index)
		if err != nil {
			return Result{}, fmt.Errorf("resolve item %d: %w", p.Index, err)
		}
		it := ScoredItem{ID: id, Score: p.Score, Source: p.src}
		for k, c := range cols {
			var v string
			var ok bool
			if c == nil {
				if cat := m.cat.ItemCategory(p.Index); cat >= 0 {
					v, ok = m.cat.CategoryName(cat), true
				}
			} else {
				v, ok = c.Value(p.Index)
			}
			if ok {
				if it.Attributes == nil {
					it.Attributes = make(map[string]string, len(cols))
				}
				it.Attributes[names[k]] = strings.Clone(v) // v may alias the mapping
			}
		}
		if explain && p.from >= 0 {
			from, err := m.snap.ItemID(p.from)
			if err != nil {
				return Result{}, fmt.Errorf("resolve item %d: %w", p.from, err)
			}
			it.Because = []string{from}
		}
		if explain && len(p.rules) > 0 {
			it.Rules = slices.Clone(p.rules) // p.rules alias the pooled scratch
		}
		items = append(items, it)
	}
	return Result{Items: items, Version: m.version, Fallback: fallback}, nil
}

// addPicks appends sc.cands to sc.picks with source src, as the next
// tier; sc.fromBuf, when it has one entry per candidate, gives the item
// each came from.
func (sc *scratch) addPicks(src Source) {
	from := sc.fromBuf
	if len(from) != len(sc.cands) {
		from = nil
	}
	for i, c := range sc.cands {
		f := int32(-1)
		if from != nil {
			f = from[i]
		}
		sc.picks = append(sc.picks, pick{candidate: c, src: src, tier: sc.tier, from: f})
	}
	sc.fromBuf = sc.fromBuf[:0]
	sc.tier++
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

// isZero reports whether every element of v is zero.
func isZero(v []float32) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}
