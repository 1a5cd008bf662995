package ann

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/polecam/polecam/recommender/dot"
)

// int8Rows are int8-quantised copies of an index's rows (see
// Index.WithInt8).
type int8Rows struct {
	rows   []int8
	stride int // bytes from one row to the next
	width  int // dot.Int8Width(dims): the bytes of a row the kernel reads
	scales []float32
	rerank int
}

// DefaultReRank is how many candidates beyond the n requested an int8
// walk rescores with the float vectors when WithInt8 is given rerank <= 0
// (at most the whole beam): on 100k x 64 clustered rows re-ranking the
// best 20 or more for n 10 gave the recall of re-ranking the whole beam at
// every ef from 64 to 512, and 10 lost up to 0.011 (benchmarks/ann.md).
const DefaultReRank = 40

// WithInt8 returns an index that shares ix's graph and float rows but
// scores the nodes it walks with int8-quantised copies of the rows: rows
// holds row i at rows[i*stride:], Int8Width(Dims()) bytes of it read, and
// scales[i] is its scale, as dot.QuantizeRows writes them (a snapshot's
// int8 item file holds exactly this). A row then costs one 64-byte cache
// line at 64 dimensions instead of four. The best n+rerank candidates of
// the walk (rerank DefaultReRank when <= 0; at most the beam) are
// rescored with the float rows, so Search still returns exact inner
// products, bit-identical to dot.Scores over the float rows, and recall is
// that of the re-ranked answer. The int8 rows must not change while the
// returned index is used. ix itself is unchanged.
func (ix *Index) WithInt8(rows []int8, stride int, scales []float32, rerank int) (*Index, error) {
	w := dot.Int8Width(ix.dims)
	switch {
	case stride < w:
		return nil, fmt.Errorf("ann int8 rows: stride %d is below the row width %d", stride, w)
	case len(scales) < ix.rows:
		return nil, fmt.Errorf("ann int8 rows: %d scales for %d rows", len(scales), ix.rows)
	case ix.rows > 0 && len(rows) < (ix.rows-1)*stride+w:
		return nil, fmt.Errorf("ann int8 rows: %d bytes are too few for %d rows of stride %d", len(rows), ix.rows, stride)
	}
	if rerank <= 0 {
		rerank = DefaultReRank
	}
	c := *ix
	c.i8 = &int8Rows{rows: rows, stride: stride, width: w, scales: scales[:ix.rows], rerank: rerank}
	return &c, nil
}

// UsesInt8 reports whether Search walks the graph with int8 rows.
func (ix *Index) UsesInt8() bool { return ix.i8 != nil }

// scoreInt8 sets s.sims[k] to the int8 estimate of the inner product of
// the query quantised in s and row ids[k], gathering the rows and their
// scales into contiguous blocks first (as score does with float rows).
func (ix *Index) scoreInt8(ids []uint32, s *Scratch) {
	q := ix.i8
	w := q.width
	buf := s.gather8[:len(ids)*w]
	sc := s.gscales[:len(ids)]
	for k, id := range ids {
		o := int(id) * q.stride
		copy(buf[k*w:k*w+w], q.rows[o:o+w])
		sc[k] = q.scales[id]
	}
	dot.ScoresInt8(s.sims[:len(ids)], buf, w, sc, s.qi, s.qScale)
}

// rerank rescores the best n+rerank candidates of s.sorted (most similar
// first by the int8 estimate) with the float rows and sorts them by the
// exact score, ties by row, leaving them in s.sorted.
func (ix *Index) rerank(q []float32, n int, s *Scratch) {
	r := min(len(s.sorted), n+ix.i8.rerank)
	s.sorted = s.sorted[:r]
	ix.rescoreAll(q, s)
}

// rescoreAll rescores every candidate of s.sorted with the float rows
// and sorts them by the exact score, ties by row. Each row is scored as
// dot.Scores scores it in a scan of all the rows: the vector kernels sum a
// row in a group of four in a different order from a lone row (package
// dot, "reproducible"), so rows below the last multiple of four are scored
// in groups of four (padding a block with copies of its last row) and the
// rest one by one. The scores are then bit-identical to a scan's.
func (ix *Index) rescoreAll(q []float32, s *Scratch) {
	top := s.sorted
	tail := uint32(ix.rows &^ 3)
	chunk := (ix.m0 + 1) &^ 3 // rows s.ids and s.gather hold, a multiple of 4
	pos := s.links[:0]        // the positions in top of the rows in s.ids
	flush := func() {
		ids := s.ids
		for len(ids)%4 != 0 {
			ids = append(ids, ids[len(ids)-1])
		}
		ix.score(q, ids, s)
		for k, p := range pos {
			top[p].sim = s.sims[k]
		}
		s.ids, pos = s.ids[:0], pos[:0]
	}
	s.ids = s.ids[:0]
	for p, c := range top {
		if c.id >= tail {
			top[p].sim = ix.score1(q, c.id, s)
			continue
		}
		s.ids = append(s.ids, c.id)
		pos = append(pos, uint32(p))
		if len(s.ids) == chunk {
			flush()
		}
	}
	if len(s.ids) > 0 {
		flush()
	}
	s.links = pos
	slices.SortFunc(top, func(a, b cand) int {
		if c := cmp.Compare(b.sim, a.sim); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
}
