package training

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
)

// Neighbor is an item related to another, with its association score.
type Neighbor struct {
	Item  int32
	Score float32
}

// CoOccurrenceOptions configures CoOccurrence.
type CoOccurrenceOptions struct {
	// TopK is the number of neighbours kept per item. Default 50.
	TopK int `json:"top_k"`
	// MinCount drops pairs of items that fewer than MinCount users share.
	// Default 2.
	MinCount int `json:"min_count"`
	// MaxUserItems truncates longer user histories to their heaviest items
	// (ties broken by lower item index) to bound the cost, which is
	// quadratic in history length. Default 500.
	MaxUserItems int `json:"max_user_items"`
	// Workers is the number of goroutines. Default runtime.GOMAXPROCS(0).
	Workers int
}

// DefaultCoOccurrenceOptions returns the defaults described on
// CoOccurrenceOptions.
func DefaultCoOccurrenceOptions() CoOccurrenceOptions {
	return CoOccurrenceOptions{TopK: 50, MinCount: 2, MaxUserItems: 500, Workers: runtime.GOMAXPROCS(0)}
}

// Validate reports the first option that is out of range.
func (o CoOccurrenceOptions) Validate() error {
	switch {
	case o.TopK < 1:
		return fmt.Errorf("co-occurrence options: top k %d, want at least 1", o.TopK)
	case o.MinCount < 1:
		return fmt.Errorf("co-occurrence options: min count %d, want at least 1", o.MinCount)
	case o.MaxUserItems < 2:
		return fmt.Errorf("co-occurrence options: max user items %d, want at least 2", o.MaxUserItems)
	case o.Workers < 1:
		return fmt.Errorf("co-occurrence options: workers %d, want at least 1", o.Workers)
	}
	return nil
}

// CoOccurrence returns, for every item, its top opts.TopK neighbours by the
// cosine similarity of the items' binary user-incidence vectors,
//
//	score(i, j) = n_ij / √(n_i·n_j),
//
// where n_ij is the number of users who interacted with both i and j and n_i,
// n_j the numbers of users of each, all counted over the (possibly
// truncated, see MaxUserItems) histories. Weights only choose which items a
// long history keeps. Neighbours are sorted by score descending, then item
// index ascending; an item is never its own neighbour, and an item with no
// pair reaching MinCount has none.
//
// Each worker keeps a dense counter array with one entry per item, so memory
// is O(items) per worker besides the result.
func CoOccurrence(ctx context.Context, x *Interactions, opts CoOccurrenceOptions) ([][]Neighbor, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	rows := truncateRows(x, opts.MaxUserItems)
	cols := transpose(rows.ptr, rows.idx, rows.w, x.NumItems())
	out := make([][]Neighbor, x.NumItems())
	err := coWalk(ctx, rows, cols, nil, opts.Workers, func(i int, touched []int32, acc []float64, cands []Neighbor) []Neighbor {
		ndi := float64(cols.ptr[i+1] - cols.ptr[i])
		for _, j := range touched {
			c := acc[j] // an exact count
			if c < float64(opts.MinCount) {
				continue
			}
			ndj := float64(cols.ptr[j+1] - cols.ptr[j])
			cands = append(cands, Neighbor{Item: j, Score: float32(c / math.Sqrt(ndi*ndj))})
		}
		out[i] = topNeighbors(cands, opts.TopK)
		return cands
	})
	if err != nil {
		return nil, fmt.Errorf("co-occurrence: %w", err)
	}
	return out, nil
}

// coWalk visits every item i with the items its users also used: acc[j]
// is Σ_{u ∈ U_i ∩ U_j} userW[u] (1 per user when userW is nil, so an
// exact count) for every j ≠ i in touched, in the order first reached, over
// rows and its transpose cols. visit gets an empty cands buffer to fill
// and returns it for reuse; it must not keep touched, acc or cands. Items
// are visited in chunks on at most workers goroutines, each with a dense
// accumulator of one float64 per item, so memory is O(items) per worker;
// what visit computes for i does not depend on the worker count.
func coWalk(ctx context.Context, rows, cols compressed, userW []float64, workers int,
	visit func(i int, touched []int32, acc []float64, cands []Neighbor) []Neighbor) error {
	ni := len(cols.ptr) - 1
	type scratch struct {
		acc     []float64
		touched []int32
		cands   []Neighbor
	}
	workers = max(1, min(workers, ni))
	scr := make([]scratch, workers)
	return parallelChunks(ctx, ni, rowChunk, workers, func(worker, lo, hi int) error {
		s := &scr[worker]
		if s.acc == nil {
			s.acc = make([]float64, ni)
		}
		for i := lo; i < hi; i++ {
			s.touched = s.touched[:0]
			for _, u := range cols.idx[cols.ptr[i]:cols.ptr[i+1]] {
				w := 1.0
				if userW != nil {
					w = userW[u]
				}
				for _, j := range rows.idx[rows.ptr[u]:rows.ptr[u+1]] {
					if int(j) == i {
						continue
					}
					if s.acc[j] == 0 {
						s.touched = append(s.touched, j)
					}
					s.acc[j] += w
				}
			}
			s.cands = visit(i, s.touched, s.acc, s.cands[:0])
			for _, j := range s.touched {
				s.acc[j] = 0
			}
		}
		return nil
	})
}

// topNeighbors returns a new slice of the best k of cands, sorted by score
// descending then item ascending. cands is reordered.
func topNeighbors(cands []Neighbor, k int) []Neighbor {
	if len(cands) == 0 {
		return nil
	}
	slices.SortFunc(cands, func(a, b Neighbor) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.Item, b.Item)
	})
	return slices.Clone(cands[:min(k, len(cands))])
}

// truncateRows returns x's rows with every row longer than maxItems cut to
// its maxItems heaviest items (ties to the lower index), still sorted by item
// index. It shares x's arrays when no row is too long.
func truncateRows(x *Interactions, maxItems int) compressed {
	long := false
	for u := range x.NumUsers() {
		if x.UserPtr[u+1]-x.UserPtr[u] > int64(maxItems) {
			long = true
			break
		}
	}
	if !long {
		return compressed{ptr: x.UserPtr, idx: x.UserItems, w: x.UserWeights}
	}
	t := compressed{ptr: make([]int64, x.NumUsers()+1)}
	var order []int
	for u := range x.NumUsers() {
		items, ws := x.UserRow(int32(u))
		if len(items) <= maxItems {
			t.idx = append(t.idx, items...)
			t.w = append(t.w, ws...)
			t.ptr[u+1] = int64(len(t.idx))
			continue
		}
		order = order[:0]
		for k := range items {
			order = append(order, k)
		}
		slices.SortFunc(order, func(a, b int) int {
			if c := cmp.Compare(ws[b], ws[a]); c != 0 {
				return c
			}
			return cmp.Compare(items[a], items[b])
		})
		order = order[:maxItems]
		slices.Sort(order) // positions in the row, so items stay sorted
		for _, k := range order {
			t.idx = append(t.idx, items[k])
			t.w = append(t.w, ws[k])
		}
		t.ptr[u+1] = int64(len(t.idx))
	}
	return t
}

// Popularity returns, for every item, the number of distinct users who
// interacted with it, whatever the weights — the baseline recommender that
// suggests the most widely used items to everyone.
func Popularity(x *Interactions) []float32 {
	p := make([]float32, x.NumItems())
	for i := range p {
		p[i] = float32(x.ItemPtr[i+1] - x.ItemPtr[i])
	}
	return p
}
