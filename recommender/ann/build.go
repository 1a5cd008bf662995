package ann

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/polecam/polecam/recommender/dot"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// Build builds an index over rows [0, rows) of data: row i is the dims
// floats at data[i*stride:]. The index keeps data and reads it on every
// search; data must not change afterwards. Rows whose vector is all zero
// are left out of the graph (they score 0 against any query).
//
// Nodes are inserted by opts.Workers goroutines, each row once; Build
// returns when they have all stopped. With one worker the graph is a
// function of the data and opts.Seed; with more it also depends on
// scheduling (recall does not, beyond noise). Build checks ctx between
// small batches of rows and returns its error, wrapped, when it is done.
func Build(ctx context.Context, data []float32, rows, dims, stride int, opts Options) (*Index, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("build ann index: %w", err)
	}
	if err := checkShape(data, rows, dims, stride); err != nil {
		return nil, fmt.Errorf("build ann index: %w", err)
	}
	ix := &Index{
		data: data, rows: rows, dims: dims, stride: stride,
		m: opts.M, m0: 2 * opts.M, efSearch: opts.EfSearch,
		entry: none,
	}
	if err := ix.checkFinite(); err != nil {
		return nil, fmt.Errorf("build ann index: %w", err)
	}
	order := ix.drawLevels(opts.Seed)
	ix.level0 = make([]uint32, rows*(ix.m0+1))
	ix.locks = make([]sync.Mutex, rows)
	defer func() { ix.locks = nil }()
	if len(order) == 0 {
		return ix, nil
	}
	ix.entry = order[0]
	ix.maxLevel = int(ix.levels[order[0]])
	ix.nodes = len(order)

	workers := opts.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	efc0 := opts.EfConstruction0
	if efc0 == 0 {
		efc0 = opts.EfConstruction
	}
	b := &builder{ix: ix, efc: opts.EfConstruction, efc0: efc0, order: order}
	b.next.Store(1)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { b.work(ctx) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("build ann index: %w", err)
	}
	ix.connect(order, efc0)
	return ix, nil
}

// checkShape checks that every row lies inside data and that row indices
// fit the graph's 32-bit ids.
func checkShape(data []float32, rows, dims, stride int) error {
	switch {
	case rows < 0 || rows >= math.MaxInt32:
		return fmt.Errorf("%d rows are outside 0..%d", rows, math.MaxInt32-1)
	case dims < 1:
		return fmt.Errorf("%d dimensions, want at least 1", dims)
	case stride < dims:
		return fmt.Errorf("stride %d is less than %d dimensions", stride, dims)
	case rows > 0 && len(data) < (rows-1)*stride+dims:
		return fmt.Errorf("%d floats of data are too few for %d rows of stride %d", len(data), rows, stride)
	}
	return nil
}

// checkFinite rejects non-finite vectors.
func (ix *Index) checkFinite() error {
	for i := range ix.rows {
		for _, v := range ix.row(uint32(i)) {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("row %d has a non-finite value", i)
			}
		}
	}
	return nil
}

// drawLevels draws the layer of every row with a non-zero vector, lays
// out their upper lists and returns those rows in insertion order (row
// order).
func (ix *Index) drawLevels(seed int64) []uint32 {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	ml := 1 / math.Log(float64(ix.m))
	ix.levels = make([]uint8, ix.rows)
	ix.upperOff = make([]uint32, ix.rows)
	var order []uint32
	off := 0
	for i := range ix.rows {
		if isZero(ix.row(uint32(i))) {
			continue
		}
		l := min(int(-math.Log(1-rng.Float64())*ml), maxLevels-1)
		ix.levels[i] = uint8(l)
		ix.upperOff[i] = uint32(off)
		off += l * (ix.m + 1)
		order = append(order, uint32(i))
	}
	ix.upper = make([]uint32, off)
	return order
}

func isZero(v []float32) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}

// builder is the state the insert workers share.
type builder struct {
	ix    *Index
	efc   int // candidate-list size on the upper layers
	efc0  int // and on layer 0
	order []uint32
	next  atomic.Int64 // the next position in order to insert

	// mu guards the entry point: inserts read it under RLock, and a node
	// drawn above the top layer holds Lock for its whole insertion.
	mu sync.RWMutex
}

// batch is how many rows a worker claims at once, and how often it
// checks ctx.
const batch = 64

func (b *builder) work(ctx context.Context) {
	s := &Scratch{}
	s.fit(b.ix)
	for ctx.Err() == nil {
		lo := int(b.next.Add(batch)) - batch
		if lo >= len(b.order) {
			return
		}
		for _, id := range b.order[lo:min(lo+batch, len(b.order))] {
			b.insert(id, s)
		}
	}
}

// insert links one node into the graph (Malkov & Yashunin, algorithm 1).
func (b *builder) insert(id uint32, s *Scratch) {
	ix := b.ix
	level := int(ix.levels[id])
	b.mu.RLock()
	ep, top := ix.entry, ix.maxLevel
	b.mu.RUnlock()
	if level > top {
		b.mu.Lock()
		defer b.mu.Unlock()
		ep, top = ix.entry, ix.maxLevel
	}
	q := ix.row(id)
	cur := cand{id: ep, sim: ix.score1(q, ep, s)}
	for l := top; l > level; l-- {
		cur = ix.greedy(q, cur, l, true, s)
	}
	for l := min(level, top); l >= 0; l-- {
		efc := b.efc
		if l == 0 {
			efc = b.efc0
		}
		ix.searchLayer(q, cur, none, efc, l, nil, true, s)
		s.sorted = s.res.drainSorted(s.sorted)
		found := s.sorted
		if len(found) == 0 {
			continue
		}
		cur = found[0]
		ix.selectNeighbors(found, ix.m, id, s)
		// addLink reuses s.sel, so keep the choice apart.
		s.chosen = append(s.chosen[:0], s.sel...)
		ix.locks[id].Lock()
		lst := ix.list(id, l)
		lst[0] = uint32(len(s.chosen))
		for k, c := range s.chosen {
			lst[1+k] = c.id
		}
		ix.locks[id].Unlock()
		for _, c := range s.chosen {
			ix.addLink(c.id, id, c.sim, l, s)
		}
	}
	if level > top {
		ix.entry, ix.maxLevel = id, level
	}
}

// selectNeighbors selects at most m of cs, which is sorted most
// similar first, by the heuristic of Malkov & Yashunin (algorithm 4): a
// candidate is kept only if it is more similar to the base node than to
// every candidate already kept, which spreads the links over directions.
// skip is the base node itself, never kept. The result is in s.sel.
func (ix *Index) selectNeighbors(cs []cand, m int, skip uint32, s *Scratch) {
	d := ix.dims
	if need := m * d; len(s.selRows) < need {
		s.selRows = make([]float32, need)
	}
	s.sel = s.sel[:0]
	for _, c := range cs {
		if len(s.sel) >= m {
			break
		}
		if c.id == skip {
			continue
		}
		cv := ix.row(c.id)
		n := len(s.sel)
		sims := s.sims[:n]
		dot.Scores(sims, s.selRows[:n*d], d, cv)
		keep := true
		for _, sim := range sims {
			if sim > c.sim {
				keep = false
				break
			}
		}
		if keep {
			copy(s.selRows[n*d:n*d+d], cv)
			s.sel = append(s.sel, c)
		}
	}
}

// addLink adds node to the list of n on a layer; sim is their similarity.
// A full list is pruned back to capacity with selectNeighbors.
func (ix *Index) addLink(n, node uint32, sim float32, level int, s *Scratch) {
	mu := &ix.locks[n]
	mu.Lock()
	defer mu.Unlock()
	lst := ix.list(n, level)
	cnt, capacity := int(lst[0]), len(lst)-1
	for _, x := range lst[1 : 1+cnt] {
		if x == node {
			return
		}
	}
	if cnt < capacity {
		lst[1+cnt] = node
		lst[0]++
		return
	}
	s.pool = append(s.pool[:0], cand{sim: sim, id: node})
	s.ids = append(s.ids[:0], lst[1:1+cnt]...)
	ix.score(ix.row(n), s.ids, s)
	for k, x := range s.ids {
		s.pool = append(s.pool, cand{sim: s.sims[k], id: x})
	}
	slices.SortFunc(s.pool, func(a, b cand) int { return cmp.Compare(b.sim, a.sim) })
	ix.selectNeighbors(s.pool, capacity, n, s)
	lst[0] = uint32(len(s.sel))
	for k, c := range s.sel {
		lst[1+k] = c.id
	}
}

// connect makes every node reachable from the entry on layer 0. Pruning
// with the inner-product heuristic can drop every link to a node whose
// vector is short, and concurrent inserts can prune the last link to a
// node another worker has just linked; such a node could never be found,
// however wide the search: a filter that passes only it would get
// nothing. connect walks the graph from the entry and links each node
// the walk missed from a reached node near it (linkFrom, which searches
// with a candidate list of ef), which keeps every reached node reachable,
// so one pass suffices.
func (ix *Index) connect(order []uint32, ef int) {
	s := &Scratch{}
	s.fit(ix)
	reached := make([]bool, ix.rows)
	indeg := make([]int32, ix.rows)
	for _, n := range order {
		for _, nb := range ix.links(n, 0, false, nil) {
			indeg[nb]++
		}
	}
	var queue []uint32
	spread := func(from uint32) {
		reached[from] = true
		queue = append(queue[:0], from)
		for len(queue) > 0 {
			n := queue[len(queue)-1]
			queue = queue[:len(queue)-1]
			for _, nb := range ix.links(n, 0, false, nil) {
				if !reached[nb] {
					reached[nb] = true
					queue = append(queue, nb)
				}
			}
		}
	}
	spread(ix.entry)
	for _, u := range order {
		if !reached[u] {
			ix.linkFrom(u, ef, reached, indeg, s)
			spread(u)
		}
	}
}

// linkFrom adds a layer-0 link to the unreached node u from a reached
// node. Adding a link costs no other node its links, so it first looks
// for a list with room: among u's neighbours and theirs, nearest first,
// then among the ef nodes a search of the graph from the entry finds
// most similar to u (all reached, since the search follows links from
// the entry). Only when none has room does it replace a link: in the
// list of the nearest reached one of u's neighbours and theirs, else of
// the most similar node the search found, u replaces the link to the
// node x with the most in-links, and x is linked from u in turn, over
// u's last link if u's list is full: x stays reachable through u, and the
// link u gives up cannot have been on any reached node's path, since u
// was unreached. So every node reached before stays reached.
func (ix *Index) linkFrom(u uint32, ef int, reached []bool, indeg []int32, s *Scratch) {
	withRoom := func(n uint32) bool { return reached[n] && ix.hasRoom(n) }
	if t, ok := ix.near(u, withRoom); ok {
		ix.appendLink(t, u, indeg)
		return
	}
	q := ix.row(u)
	ix.searchLayer(q, cand{id: ix.entry, sim: ix.score1(q, ix.entry, s)}, none, ef, 0, nil, false, s)
	s.sorted = s.res.drainSorted(s.sorted) // never empty: it holds the entry
	for _, c := range s.sorted {
		if withRoom(c.id) {
			ix.appendLink(c.id, u, indeg)
			return
		}
	}
	t, ok := ix.near(u, func(n uint32) bool { return reached[n] })
	if !ok {
		t = s.sorted[0].id
	}
	lst := ix.list(t, 0)
	k := 1
	for j := 2; j <= int(lst[0]); j++ {
		if indeg[lst[j]] > indeg[lst[k]] {
			k = j
		}
	}
	x := lst[k]
	lst[k] = u
	indeg[u]++
	indeg[x]--
	ul := ix.list(u, 0)
	for _, y := range ul[1 : 1+ul[0]] {
		if y == x {
			return
		}
	}
	if ix.hasRoom(u) {
		ix.appendLink(u, x, indeg)
		return
	}
	indeg[ul[ul[0]]]--
	ul[ul[0]] = x
	indeg[x]++
}

// hasRoom reports whether n's layer-0 list has room for another link.
func (ix *Index) hasRoom(n uint32) bool { return int(ix.level0[int(n)*(ix.m0+1)]) < ix.m0 }

// appendLink appends to to the layer-0 list of from, which has room.
func (ix *Index) appendLink(from, to uint32, indeg []int32) {
	lst := ix.list(from, 0)
	lst[1+lst[0]] = to
	lst[0]++
	indeg[to]++
}

// near returns the first node ok accepts among u's layer-0 neighbours,
// then theirs, nearest first.
func (ix *Index) near(u uint32, ok func(uint32) bool) (uint32, bool) {
	first := ix.links(u, 0, false, nil)
	for _, nb := range first {
		if ok(nb) {
			return nb, true
		}
	}
	for _, nb := range first {
		for _, nb2 := range ix.links(nb, 0, false, nil) {
			if nb2 != u && ok(nb2) {
				return nb2, true
			}
		}
	}
	return 0, false
}
