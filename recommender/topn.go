package recommender

import (
	"cmp"
	"math"
	mbits "math/bits"
	"slices"

	"github.com/polecam/polecam/recommender/dot"
)

// negInf marks an excluded item in a scores buffer; selection skips it.
var negInf = float32(math.Inf(-1))

// candidate is one scored item during selection: Index is the item's dense
// row index in the snapshot.
type candidate struct {
	Index int32
	Score float32
}

// better reports whether a ranks strictly ahead of b: higher score first,
// and on equal scores the lower index first, so every ranking is
// deterministic.
func better(a, b candidate) bool {
	return a.Score > b.Score || (a.Score == b.Score && a.Index < b.Index)
}

// compareRank orders candidates best first, for slices.SortFunc.
func compareRank(a, b candidate) int {
	if c := cmp.Compare(b.Score, a.Score); c != 0 {
		return c
	}
	return cmp.Compare(a.Index, b.Index)
}

// topN keeps the n best candidates pushed into it, in a bounded binary
// min-heap whose root is the worst candidate kept. Pushing is O(1) for a
// candidate that does not beat the root and O(log n) otherwise, so a scan
// of C scores costs O(C + n log n log C) in the usual case.
//
// The heap orders entries by one integer key that ranks exactly as better
// does (rankKey), so sifting compares integers the compiler can select
// without branches, rather than a score and then an index.
//
// A topN is reusable: Reset keeps the backing array. Candidates whose
// score is -Inf or NaN are never kept; callers mark excluded items that
// way. Several topN values filled from disjoint ranges of a catalogue can
// be combined with merge, which is how a scan is split across cores.
type topN struct {
	n int
	h []rankedCandidate
}

// rankedCandidate is a candidate with its rankKey.
type rankedCandidate struct {
	key uint64
	c   candidate
}

// rankKey maps a candidate with a score other than NaN to a key that is
// greater exactly when the candidate is better: the score's bits made to
// order as unsigned integers (with -0 read as +0, since they compare
// equal), then the index complemented, so a lower index ranks higher.
func rankKey(c candidate) uint64 {
	b := math.Float32bits(c.Score)
	if b == 1<<31 { // -0
		b = 0
	}
	// Negative scores: flip every bit; others: set the sign bit.
	b ^= uint32(int32(b)>>31) | 1<<31
	return uint64(b)<<32 | uint64(^uint32(c.Index))
}

// reset empties t and sets its bound to n.
func (t *topN) reset(n int) {
	t.n = n
	if cap(t.h) < n {
		t.h = make([]rankedCandidate, 0, n)
	}
	t.h = t.h[:0]
}

// len returns the number of candidates kept.
func (t *topN) len() int { return len(t.h) }

// full reports whether t holds its bound.
func (t *topN) full() bool { return len(t.h) >= t.n }

// push offers one candidate.
func (t *topN) push(c candidate) {
	if !(c.Score > negInf) { // -Inf marks an excluded item; NaN is never ranked
		return
	}
	e := rankedCandidate{rankKey(c), c}
	if len(t.h) < t.n {
		t.h = append(t.h, e)
		t.up(len(t.h) - 1)
		return
	}
	if t.n == 0 || e.key <= t.h[0].key { // no better than the worst kept
		return
	}
	t.h[0] = e
	t.down(0)
}

// admits reports whether push(c) would keep c now: its score is above
// -Inf and it beats the worst candidate kept, or there is room.
func (t *topN) admits(c candidate) bool {
	if !(c.Score > negInf) || t.n == 0 {
		return false
	}
	return len(t.h) < t.n || rankKey(c) > t.h[0].key
}

// pushScores offers every score in scores, the score at position i
// belonging to item base+i. It is the inner loop of a catalogue scan: once
// the heap is full, most scores are rejected by a vector comparison with
// the root, 16 at a time.
func (t *topN) pushScores(scores []float32, base int32) {
	if t.n == 0 {
		return
	}
	i := 0
	// Fill the heap first; from then on compare against the root only.
	for ; i < len(scores) && len(t.h) < t.n; i++ {
		t.push(candidate{Index: base + int32(i), Score: scores[i]})
	}
	if len(t.h) < t.n {
		return
	}
	// Indices ascend within the scan, so an equal score at a later index
	// loses the tie: only a strictly greater score gets in, and
	// dot.IndexAbove skips the rest many scores per instruction. It never
	// stops at NaN.
	floor := t.h[0].c.Score
	for {
		i += dot.IndexAbove(scores[i:], floor)
		if i >= len(scores) {
			return
		}
		c := candidate{Index: base + int32(i), Score: scores[i]}
		t.h[0] = rankedCandidate{rankKey(c), c}
		t.down(0)
		floor = t.h[0].c.Score
		i++
	}
}

// pushAllowed offers the scores whose bit is set in bits, the score at
// position i belonging to item base+i, whose bit is bits[(base+i)/64]
// bit (base+i)%64; base is a multiple of 64. It is pushScores for a scan
// under a filter that passes few rows.
func (t *topN) pushAllowed(scores []float32, bits []uint64, base int) {
	if t.n == 0 {
		return
	}
	for w := 0; w*64 < len(scores); w++ {
		word := bits[base/64+w]
		if rest := len(scores) - w*64; rest < 64 {
			word &= 1<<uint(rest) - 1
		}
		for word != 0 {
			i := w*64 + mbits.TrailingZeros64(word)
			word &= word - 1
			// Indices ascend: once full, only a strictly greater score
			// gets in.
			if len(t.h) >= t.n && !(scores[i] > t.h[0].c.Score) {
				continue
			}
			t.push(candidate{Index: int32(base + i), Score: scores[i]})
		}
	}
}

// merge offers every candidate kept by o.
func (t *topN) merge(o *topN) {
	for _, e := range o.h {
		t.push(e.c)
	}
}

// appendSorted appends the kept candidates to dst best first and empties t.
func (t *topN) appendSorted(dst []candidate) []candidate {
	start := len(dst)
	for _, e := range t.h {
		dst = append(dst, e.c)
	}
	slices.SortFunc(dst[start:], compareRank)
	t.h = t.h[:0]
	return dst
}

// up restores the heap property from position i towards the root.
func (t *topN) up(i int) {
	h := t.h
	e := h[i]
	for i > 0 {
		p := (i - 1) / 2
		if h[p].key <= e.key { // parent is no better: it belongs below e
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = e
}

// down restores the heap property from position i towards the leaves.
func (t *topN) down(i int) {
	h := t.h
	n := len(h)
	e := h[i]
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		w := l // the worse child
		if r := l + 1; r < n && h[r].key < h[l].key {
			w = r
		}
		if e.key <= h[w].key {
			break
		}
		h[i] = h[w]
		i = w
	}
	h[i] = e
}
