package recommender

import (
	"slices"
	"sort"
	"strings"

	"github.com/polecam/polecam/recommender/dot"
)

// categoryBlocks is a copy of the model's int8 rows in category order:
// the categories sorted as a tree (a category before its sub-categories,
// which come before its next sibling), each category's rows together, so
// that every category and its sub-categories are one contiguous range of
// positions. A filter on a few categories then scans its rows as one
// block each, at memory speed, instead of gathering them one cache line
// at a time from random places, which on a million-item catalogue costs
// a cache and TLB miss per row (benchmarks/query.md). Cold items and
// items without a category are left out. It costs a byte per factor and
// 8 bytes per item (the int8 rows, their scales and their row numbers).
type categoryBlocks struct {
	paths  []string // categories with items, in tree order
	start  []int32  // paths[k]'s rows are at positions [start[k], start[k+1])
	width  int
	rows   []int8    // position p's int8 row: rows[p*width:(p+1)*width]
	scales []float32 // position p's scale
	idx    []int32   // position p's catalogue row
}

// newCategoryBlocks builds the blocks of the int8 rows of the catalogue's
// categorised, non-cold items, or returns nil when there are none.
func newCategoryBlocks(cat ItemCatalog, i8 *int8Items, n int, cold func(int32) bool) *categoryBlocks {
	rank := map[int32]int32{} // category id -> index into ids
	var ids []int32
	rowCat := make([]int32, n) // index into ids, or -1
	for r := range int32(n) {
		rowCat[r] = -1
		c := cat.ItemCategory(r)
		if c < 0 || cold(r) {
			continue
		}
		k, ok := rank[c]
		if !ok {
			k = int32(len(ids))
			rank[c] = k
			ids = append(ids, c)
		}
		rowCat[r] = k
	}
	if len(ids) == 0 {
		return nil
	}
	order := make([]int32, len(ids)) // tree order -> index into ids
	for k := range order {
		order[k] = int32(k)
	}
	slices.SortFunc(order, func(a, b int32) int { return comparePaths(cat.CategoryName(ids[a]), cat.CategoryName(ids[b])) })
	pos := make([]int32, len(ids)) // index into ids -> tree order
	cb := &categoryBlocks{paths: make([]string, len(ids)), start: make([]int32, len(ids)+1), width: i8.width}
	for k, o := range order {
		pos[o] = int32(k)
		cb.paths[k] = strings.Clone(cat.CategoryName(ids[o]))
	}
	for _, k := range rowCat {
		if k >= 0 {
			cb.start[pos[k]+1]++
		}
	}
	for k := range len(ids) {
		cb.start[k+1] += cb.start[k]
	}
	total := int(cb.start[len(ids)])
	w := i8.width
	cb.rows = make([]int8, total*w)
	cb.scales = make([]float32, total)
	cb.idx = make([]int32, total)
	next := slices.Clone(cb.start[:len(ids)])
	for r, k := range rowCat {
		if k < 0 {
			continue
		}
		p := next[pos[k]]
		next[pos[k]]++
		copy(cb.rows[int(p)*w:int(p+1)*w], i8.rows[r*w:(r+1)*w])
		cb.scales[p], cb.idx[p] = i8.scales[r], int32(r)
	}
	return cb
}

// comparePaths orders category paths as a tree: byte by byte with '/'
// below every other byte, so "a" < "a/b" < "a/c" < "a-b".
func comparePaths(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if x == '/' {
			return -1
		}
		if y == '/' {
			return 1
		}
		if x < y {
			return -1
		}
		return 1
	}
	return len(a) - len(b)
}

// under reports whether path is cat or one of its sub-categories.
func under(path, cat string) bool {
	return strings.HasPrefix(path, cat) && (len(path) == len(cat) || path[len(cat)] == '/')
}

// subtree returns the positions of the rows of cat and its
// sub-categories.
func (cb *categoryBlocks) subtree(cat string) posRange {
	lo := sort.Search(len(cb.paths), func(k int) bool { return comparePaths(cb.paths[k], cat) >= 0 })
	hi := lo + sort.Search(len(cb.paths)-lo, func(k int) bool { return !under(cb.paths[lo+k], cat) })
	return posRange{cb.start[lo], cb.start[hi]}
}

// posRange is a range [lo, hi) of positions of categoryBlocks.
type posRange struct{ lo, hi int32 }

// mergeRanges sorts rs and merges its overlapping ranges in place, and
// returns them with the number of positions they hold.
func mergeRanges(rs []posRange) ([]posRange, int) {
	slices.SortFunc(rs, func(a, b posRange) int { return int(a.lo - b.lo) })
	out := rs[:0]
	for _, r := range rs {
		if r.hi <= r.lo {
			continue
		}
		if k := len(out) - 1; k >= 0 && r.lo <= out[k].hi {
			out[k].hi = max(out[k].hi, r.hi)
			continue
		}
		out = append(out, r)
	}
	total := 0
	for _, r := range out {
		total += int(r.hi - r.lo)
	}
	return out, total
}

// blocksCheaper reports whether the filter rs is best answered by
// scanning its categories' blocks: when they hold not many more rows
// than pass the filter (a scanned row costs about an eighth of a
// gathered one) and fewer than the search it would replace reads (the
// ANN walk: annDirectMax rows; the catalogue scan: half of it).
func (m *Model) blocksCheaper(rs *rowSet) bool {
	if m.catBlocks == nil || !rs.blocks || rs.rangeRows > 8*rs.count {
		return false
	}
	if m.ann != nil {
		return m.annDirectMax >= 0 && rs.rangeRows <= m.annDirectMax
	}
	return 2*rs.rangeRows <= m.n
}

// blockScanRows is how many category-ordered rows scanBlocksInt8 scores
// per kernel call.
const blockScanRows = 256

// scanBlocksInt8 is scanRowsInt8 over the category blocks: it leaves in
// sc.cands the best k by their int8 scores against sc.qi of the rows in
// ranges that the request may get, best first. Each range is scored in
// contiguous blocks; a row's filter, availability and exclusions are
// checked only when its score would enter the top k. The kernel scores
// each row on its own, so the scores are scanRowsInt8's bit for bit.
func (m *Model) scanBlocksInt8(sc *scratch, qScale float32, ranges []posRange, k int) {
	cb, w := m.catBlocks, m.catBlocks.width
	sc.top.reset(k)
	out := sc.gather.blockOut[:]
	for _, r := range ranges {
		for lo := int(r.lo); lo < int(r.hi); lo += len(out) {
			hi := min(lo+len(out), int(r.hi))
			s := out[:hi-lo]
			dot.ScoresInt8(s, cb.rows[lo*w:hi*w], w, cb.scales[lo:hi], sc.qi, qScale)
			for j, v := range s {
				c := candidate{Index: cb.idx[lo+j], Score: v}
				if sc.top.admits(c) && m.allowed(sc, c.Index) {
					sc.top.push(c)
				}
			}
		}
	}
	sc.cands = sc.top.appendSorted(sc.cands[:0])
}
