package ann

import (
	"fmt"
	"sync"

	"github.com/polecam/polecam/recommender/dot"
)

// maxLevels bounds the layers of the graph. A node is drawn on layer L or
// above with probability M^-L, at most 2^-16 here and far less for the
// usual M, so the cap only guards against an unlucky draw.
const maxLevels = 16

// none marks the absence of an entry point: an index over rows that are
// all zero.
const none = ^uint32(0)

// Index is an HNSW graph over the rows of an item matrix, answering
// maximum-inner-product queries. It does not hold the vectors: it reads
// them from the matrix it was built or loaded with, which must not change
// while the Index is in use. An Index is immutable and safe for concurrent
// searches.
type Index struct {
	data               []float32
	rows, dims, stride int

	m, m0    int // list capacity on the upper layers and on layer 0
	efSearch int
	maxLevel int
	entry    uint32 // none when no row has a vector
	nodes    int    // rows in the graph (rows with a non-zero vector)
	// level0 holds m0+1 words per row: the count, then the neighbours.
	level0 []uint32
	// A row on level L >= 1 has L lists of m+1 words (count, neighbours)
	// in upper, starting at upperOff[row], for layers 1..L.
	upperOff []uint32
	upper    []uint32
	levels   []uint8

	// locks guard the lists while Build links nodes concurrently; nil
	// afterwards.
	locks []sync.Mutex

	// i8, when set (WithInt8), holds the int8 rows Search walks with.
	i8 *int8Rows
}

// Result is one item of a search answer.
type Result struct {
	Item  int32
	Score float32 // the inner product of the query and the item's row
}

// Filter reports whether an item may be returned. The search calls it
// while it walks the graph, so items it rejects are still used as
// stepping stones but never crowd out the items that pass: an answer has n
// items whenever at least n reachable items pass. A Filter must be safe
// to call from the goroutine running the search and cheap: it is called
// once per visited node.
type Filter func(item int32) bool

// Rows returns the number of rows the index covers.
func (ix *Index) Rows() int { return ix.rows }

// Dims returns the number of dimensions of the vectors.
func (ix *Index) Dims() int { return ix.dims }

// Nodes returns the number of rows in the graph: the rows with a non-zero
// vector. All-zero rows score 0 against every query and are never returned.
func (ix *Index) Nodes() int { return ix.nodes }

// EfSearch returns the default candidate-list size of Search.
func (ix *Index) EfSearch() int { return ix.efSearch }

// Scratch is the per-search working memory: a visited set over the rows
// and the candidate heaps. Reusing one per goroutine (for example from a
// sync.Pool) makes Search allocation-free. A Scratch must not be used by
// two searches at once.
type Scratch struct {
	// visited is a bitset over the rows (128 KB for 1M rows, where
	// generation stamps took 4 MB and missed the cache more); touched
	// lists the rows set in it, to clear them.
	visited []uint64
	touched []uint32
	cands   maxHeap
	res     minHeap
	ids     []uint32
	sims    []float32
	links   []uint32
	sorted  []cand
	gather  []float32 // rows gathered for score
	one     [1]uint32

	// the int8 walk (WithInt8): the quantised query, and the rows and
	// scales gathered for scoreInt8. walk8 is set while Search walks.
	walk8   bool
	qi      []int8
	qScale  float32
	gather8 []int8
	gscales []float32

	// used by Build only
	sel     []cand
	selRows []float32 // the rows of sel, contiguous
	pool    []cand
	chosen  []cand
}

// NewScratch returns a Scratch sized for ix.
func NewScratch(ix *Index) *Scratch {
	s := &Scratch{}
	s.fit(ix)
	return s
}

// fit sizes s for ix.
func (s *Scratch) fit(ix *Index) {
	if n := (ix.rows + 63) / 64; len(s.visited) < n {
		s.visited = make([]uint64, n)
		s.touched = s.touched[:0]
	}
	if n := ix.m0 + 1; cap(s.ids) < n {
		s.ids = make([]uint32, 0, n)
		s.links = make([]uint32, 0, n)
		s.sims = make([]float32, n)
	}
	if n := (ix.m0 + 1) * ix.dims; len(s.gather) < n {
		s.gather = make([]float32, n)
	}
	if ix.i8 != nil {
		w := ix.i8.width
		if len(s.qi) != w {
			s.qi = make([]int8, w)
		}
		if n := (ix.m0 + 1) * w; len(s.gather8) < n {
			s.gather8 = make([]int8, n)
			s.gscales = make([]float32, ix.m0+1)
		}
	}
}

// row returns the first dims floats of row i.
func (ix *Index) row(i uint32) []float32 {
	o := int(i) * ix.stride
	return ix.data[o : o+ix.dims]
}

// list returns the words of a node's list on a layer: the count, then the
// capacity of neighbours.
func (ix *Index) list(id uint32, level int) []uint32 {
	if level == 0 {
		o := int(id) * (ix.m0 + 1)
		return ix.level0[o : o+ix.m0+1]
	}
	o := int(ix.upperOff[id]) + (level-1)*(ix.m+1)
	return ix.upper[o : o+ix.m+1]
}

// links returns a node's neighbours on a layer. While building (locked)
// it copies them under the node's lock into buf.
func (ix *Index) links(id uint32, level int, locked bool, buf []uint32) []uint32 {
	if !locked {
		l := ix.list(id, level)
		return l[1 : 1+l[0]]
	}
	mu := &ix.locks[id]
	mu.Lock()
	l := ix.list(id, level)
	buf = append(buf[:0], l[1:1+l[0]]...)
	mu.Unlock()
	return buf
}

// score sets s.sims[k] to the inner product of q and row ids[k]. It
// gathers the rows into one contiguous block first and scores them with
// one kernel call: the copies overlap their cache misses, which one kernel
// call per row does not (benchmarks/ann.md).
// While Search walks an index with int8 rows (s.walk8) it scores them
// instead (scoreInt8).
func (ix *Index) score(q []float32, ids []uint32, s *Scratch) {
	if s.walk8 {
		ix.scoreInt8(ids, s)
		return
	}
	d := ix.dims
	buf := s.gather[:len(ids)*d]
	for k, id := range ids {
		o := int(id) * ix.stride
		copy(buf[k*d:k*d+d], ix.data[o:o+d])
	}
	dot.Scores(s.sims[:len(ids)], buf, d, q)
}

// score1 is score for one node.
func (ix *Index) score1(q []float32, id uint32, s *Scratch) float32 {
	s.one[0] = id
	ix.score(q, s.one[:], s)
	return s.sims[0]
}

// greedy walks one upper layer from ep to the node most similar to the
// query.
func (ix *Index) greedy(q []float32, ep cand, level int, locked bool, s *Scratch) cand {
	for changed := true; changed; {
		changed = false
		var ids []uint32
		if locked {
			s.links = ix.links(ep.id, level, true, s.links)
			ids = s.links
		} else {
			ids = ix.links(ep.id, level, false, nil)
		}
		ix.score(q, ids, s)
		for k, id := range ids {
			if sim := s.sims[k]; sim > ep.sim {
				ep = cand{sim: sim, id: id}
				changed = true
			}
		}
	}
	return ep
}

// Search appends to dst[:0] the n items whose rows have the largest inner
// product with q among the items filter accepts (all items when filter is
// nil), best first, approximately: it explores ef candidates (ix.EfSearch()
// when ef <= 0; at least n). Larger ef raises recall and cost. A nil
// scratch allocates one; pass a reused Scratch from NewScratch to make
// Search allocation-free. Fewer than n results come back only when fewer
// than n items pass the filter (or the graph has fewer nodes).
//
// Search panics if len(q) != ix.Dims(), like dot.Scores.
func (ix *Index) Search(q []float32, n, ef int, filter Filter, dst []Result, scratch *Scratch) []Result {
	dst = dst[:0]
	if len(q) != ix.dims {
		panic(fmt.Sprintf("ann: query has %d dimensions, index %d", len(q), ix.dims))
	}
	if n <= 0 || ix.entry == none {
		return dst
	}
	if ef <= 0 {
		ef = ix.efSearch
	}
	ef = min(max(ef, n), MaxEf)
	if scratch == nil {
		scratch = &Scratch{}
	}
	scratch.fit(ix)
	s := scratch
	if ix.i8 != nil {
		s.qScale = dot.QuantizeVector(s.qi, q)
		s.walk8 = true
	}
	ep := cand{id: ix.entry, sim: ix.score1(q, ix.entry, s)}
	for l := ix.maxLevel; l > 0; l-- {
		ep = ix.greedy(q, ep, l, false, s)
	}
	// Every node is reachable on layer 0 from the entry (Build's connect),
	// not always from ep: start from both, so that a search as wide as the
	// index finds every node.
	ix.searchLayer(q, ep, ix.entry, ef, 0, filter, false, s)
	s.sorted = s.res.drainSorted(s.sorted)
	if s.walk8 {
		s.walk8 = false
		ix.rerank(q, n, s)
	}
	for _, c := range s.sorted[:min(n, len(s.sorted))] {
		dst = append(dst, Result{Item: int32(c.id), Score: c.sim})
	}
	return dst
}

// resetVisited empties the visited bitset: word by word for the rows
// visited when they are few, else all at once.
func (s *Scratch) resetVisited() {
	if len(s.touched) < len(s.visited)/8 {
		for _, id := range s.touched {
			s.visited[id>>6] = 0
		}
	} else {
		clear(s.visited)
	}
	s.touched = s.touched[:0]
}

// searchLayer runs the beam search of HNSW on one layer from ep, and
// from the node also as well unless it is none, and leaves the best ef
// nodes that pass filter in s.res. Nodes the filter rejects are expanded
// all the same.
func (ix *Index) searchLayer(q []float32, ep cand, also uint32, ef, level int, filter Filter, locked bool, s *Scratch) {
	s.resetVisited()
	bits := s.visited
	s.cands = s.cands[:0]
	s.res = s.res[:0]
	start := func(c cand) {
		bits[c.id>>6] |= 1 << (c.id & 63)
		s.touched = append(s.touched, c.id)
		s.cands.push(c)
		if filter == nil || filter(int32(c.id)) {
			s.res.push(c)
			if len(s.res) > ef {
				s.res.pop()
			}
		}
	}
	start(ep)
	if also != none && also != ep.id {
		start(cand{id: also, sim: ix.score1(q, also, s)})
	}
	for len(s.cands) > 0 {
		c := s.cands.pop()
		if len(s.res) >= ef && c.sim < s.res[0].sim {
			break
		}
		var nbrs []uint32
		if locked {
			s.links = ix.links(c.id, level, true, s.links)
			nbrs = s.links
		} else {
			nbrs = ix.links(c.id, level, false, nil)
		}
		ids := s.ids[:0]
		for _, nb := range nbrs {
			w, b := nb>>6, uint64(1)<<(nb&63)
			if bits[w]&b == 0 {
				bits[w] |= b
				ids = append(ids, nb)
			}
		}
		s.touched = append(s.touched, ids...)
		s.ids = ids
		ix.score(q, ids, s)
		for k, nb := range ids {
			sim := s.sims[k]
			if len(s.res) < ef || sim > s.res[0].sim {
				s.cands.push(cand{sim: sim, id: nb})
				if filter == nil || filter(int32(nb)) {
					s.res.push(cand{sim: sim, id: nb})
					if len(s.res) > ef {
						s.res.pop()
					}
				}
			}
		}
	}
}
