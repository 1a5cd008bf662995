package training

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"

	"github.com/polecam/polecam/training/internal/dense"
)

// FitEASE trains EASE on x: exactly (TrainEASE) when x has at most
// opts.MaxItems items, else the sparse approximation TrainSparseEASE with
// opts.Neighbors neighbours per item.
func FitEASE(ctx context.Context, x *Interactions, opts EASEOptions) (ItemScorer, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if x.NumItems() <= opts.MaxItems {
		return TrainEASE(ctx, x, opts)
	}
	return TrainSparseEASE(ctx, x, opts)
}

// TrainSparseEASE fits an approximate EASE for catalogues too large for
// the dense TrainEASE, in the manner of the sparse approximations of
// EASE such as SANSA (Spišák et al., "Scalable Approximate NonSymmetric
// Autoencoder for Collaborative Filtering", RecSys 2023): each column is
// solved on a small neighbourhood instead of the whole catalogue.
//
// Exact EASE's column j is the ridge regression of item j's user vector
// on every other item's, b = (G_−j,−j + Λ)⁻¹ G_−j,j with G = XᵀX on binary
// X and Λ = diag(λ + ρ·G_ii) (λ = opts.Lambda, ρ = opts.DiagonalScale;
// see TrainEASE). TrainSparseEASE restricts it to N_j, the opts.Neighbors
// items with the largest cosine G_ij/√(G_ii·G_jj) among those sharing at
// least one user with j (ties to the lower item index):
//
//	b = (G_NN + diag(λ + ρ·G_ii)_N)⁻¹ G_Nj,
//
// solved by Cholesky in float64. B_ij = b_i for i ∈ N_j and 0 elsewhere; the
// model is stored by rows, so row i holds the weights w(i, j) = B_ij of the
// items j whose neighbourhood holds i, and a user's score for j is the sum
// of the weights of her items for j, as for ItemItem. The diagonal is zero;
// items without interactions, or sharing no user with another item, have
// empty rows and columns. When N_j holds every other item of j's connected
// component in the co-occurrence graph (for instance K ≥ n−1 on a matrix
// where every pair of items shares a user), column j is exact EASE's.
//
// The cost: one walk over the co-occurrences (Σ_u |I_u|², as TrainEASE's
// Gram matrix) that keeps the upper triangle of the sparse Gram matrix
// (8 bytes per co-occurring pair; at most 16 in the rows kept dense, see
// gramRow) and each item's neighbours, then per item the K × K block
// G_NN, read from the sparse rows, and its blocked Cholesky factorisation
// (dense.Cholesky), K³/3 multiply-adds. Histories are not truncated. Both stages
// run on GOMAXPROCS goroutines, each with O(n + K²) scratch; the result does
// not depend on their number. ctx is checked every few items.
func TrainSparseEASE(ctx context.Context, x *Interactions, opts EASEOptions) (*SparseItemItem, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	n := x.NumItems()
	if n == 0 {
		return &SparseItemItem{Ptr: make([]int64, 1)}, nil
	}
	k := opts.neighbors()
	workers := runtime.GOMAXPROCS(0)
	rows := compressed{ptr: x.UserPtr, idx: x.UserItems, w: x.UserWeights}
	cols := compressed{ptr: x.ItemPtr, idx: x.ItemUsers, w: x.ItemWeights}
	pop := func(i int32) float64 { return float64(cols.ptr[i+1] - cols.ptr[i]) }

	// Stage 1: the upper rows of the Gram matrix and the neighbourhoods.
	upper := make([]gramRow, n)
	hoods := make([]hood, n)
	err := coWalk(ctx, rows, cols, nil, workers, func(j int, touched []int32, acc []float64, cands []Neighbor) []Neighbor {
		above := 0
		for _, i := range touched {
			if int(i) > j {
				above++
			}
		}
		if span := n - 1 - j; above >= minDenseGram && 4*above >= span {
			// Dense: at most twice the memory of the cells, and the
			// counts wanted are read without a search.
			d := make([]uint32, span)
			for _, i := range touched {
				if int(i) > j {
					d[int(i)-j-1] = uint32(acc[i])
				}
			}
			upper[j] = gramRow{dense: d}
		} else if above > 0 {
			up := make([]gramCell, 0, above)
			for _, i := range touched {
				if int(i) > j {
					up = append(up, gramCell{item: i, count: uint32(acc[i])})
				}
			}
			slices.SortFunc(up, func(a, b gramCell) int { return cmp.Compare(a.item, b.item) })
			upper[j] = gramRow{cells: up}
		}
		h := neighborHeap{s: cands, k: k} // cands is per worker: the heap's storage
		nj := pop(int32(j))
		for _, i := range touched {
			h.offer(Neighbor{Item: i, Score: float32(acc[i] / math.Sqrt(nj*pop(i)))})
		}
		hd := hood{items: make([]int32, len(h.s)), rhs: make([]float32, len(h.s))}
		for p, nb := range h.s {
			hd.items[p] = nb.Item
		}
		slices.Sort(hd.items)
		for p, i := range hd.items {
			hd.rhs[p] = float32(acc[i])
		}
		hoods[j] = hd
		return h.s
	})
	if err != nil {
		return nil, fmt.Errorf("sparse ease: co-occurrences: %w", err)
	}

	// Stage 2: solve every column on its neighbourhood.
	type scratch struct {
		a, b []float64
		pos  []int32
		ws   dense.Workspace
	}
	scr := make([]scratch, workers)
	const chunk = 16
	err = parallelChunks(ctx, n, chunk, workers, func(worker, lo, hi int) error {
		s := &scr[worker]
		for j := lo; j < hi; j++ {
			hd := &hoods[j]
			m := len(hd.items)
			if m == 0 {
				continue
			}
			if s.pos == nil {
				s.pos = make([]int32, n)
				for i := range s.pos {
					s.pos[i] = -1
				}
			}
			if cap(s.a) < m*m {
				s.a, s.b = make([]float64, m*m), make([]float64, m)
			}
			a, b := s.a[:m*m], s.b[:m]
			fillBlock(a, hd.items, upper, s.pos, func(i int32) float64 {
				g := pop(i)
				return g + opts.Lambda + opts.DiagonalScale*g
			})
			for p, c := range hd.rhs { // in the block's reversed order
				b[m-1-p] = float64(c)
			}
			if err := dense.Cholesky(a, m, m, &s.ws); err != nil {
				return fmt.Errorf("item %d: %w", j, err)
			}
			dense.CholeskySolve(a, m, m, b)
			for p := range hd.rhs {
				hd.rhs[p] = float32(b[m-1-p]) // the column's weights, in place
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sparse ease: solve: %w", err)
	}
	upper = nil // the Gram rows can go before the result is assembled

	// Columns to rows.
	cptr := make([]int64, n+1)
	for j := range hoods {
		cptr[j+1] = cptr[j] + int64(len(hoods[j].items))
	}
	cidx := make([]int32, cptr[n])
	cw := make([]float32, cptr[n])
	for j := range hoods {
		copy(cidx[cptr[j]:], hoods[j].items)
		copy(cw[cptr[j]:], hoods[j].rhs)
		hoods[j] = hood{}
	}
	t := transpose(cptr, cidx, cw, n)
	return &SparseItemItem{N: n, Ptr: t.ptr, Items: t.idx, Weights: t.w}, nil
}

// gramRow is the part of item j's row of the Gram matrix right of the
// diagonal: the numbers of users j shares with each later item. A row
// holding at least a quarter of the later items (and minDenseGram) is
// dense, dense[i−j−1] for item i; any other lists the items that share
// users with j, ascending, each with its count beside it (on the cache
// line the search for the item has just read).
type gramRow struct {
	cells []gramCell
	dense []uint32
}

// minDenseGram is the fewest cells a dense Gram row replaces.
const minDenseGram = 64

type gramCell struct {
	item  int32
	count uint32
}

// hood is an item's neighbourhood, ascending, with the right-hand side of
// its regression (co-counts with the item), then the solved weights.
type hood struct {
	items []int32
	rhs   []float32
}

// fillBlock sets the lower triangle of the m × m row-major a to the
// penalised Gram block of items (ascending) taken in reverse order: item
// p is row and column m−1−p, so a[m−1−p][m−1−q] = G(items[p], items[q])
// for q > p, read from items[p]'s upper row, and the diagonal is diag.
// Reversed, each upper Gram row fills one row of a, contiguously (in
// order, it would fill a column, a cache line per value). pos is scratch
// with one entry per item, all −1, and is left so. A short Gram row is
// scanned against pos (the positions of items), a long one searched for
// each item wanted.
func fillBlock(a []float64, items []int32, upper []gramRow, pos []int32, diag func(int32) float64) {
	m := len(items)
	for q, i := range items {
		pos[i] = int32(q)
	}
	for p, i := range items {
		r := m - 1 - p
		row := a[r*m : r*m+r+1] // row[m−1−q] for q > p, then the diagonal
		row[r] = diag(i)
		rest := items[p+1:]
		if d := upper[i].dense; d != nil {
			for k, j := range rest { // q = p+1+k
				row[r-1-k] = float64(d[j-i-1])
			}
			continue
		}
		ri := upper[i].cells
		if len(ri) <= 4*len(rest) {
			clear(row[:r])
			for _, c := range ri {
				if q := pos[c.item]; q > int32(p) {
					row[m-1-int(q)] = float64(c.count)
				}
			}
			continue
		}
		x := 0                   // rest and ri ascend: gallop through ri for each wanted item
		for k, j := range rest { // q = p+1+k
			x = seek(ri, x, j)
			c := 0.0
			if x < len(ri) && ri[x].item == j {
				c = float64(ri[x].count)
			}
			row[r-1-k] = c
		}
	}
	for _, i := range items {
		pos[i] = -1
	}
}

// seek returns the first position at or after from where s (ascending)
// holds an item of at least v, or len(s): an exponential then a binary
// search, so the cost is logarithmic in the distance moved.
func seek(s []gramCell, from int, v int32) int {
	if from >= len(s) || s[from].item >= v {
		return from
	}
	lo, step := from, 1 // s[lo] < v
	for lo+step < len(s) && s[lo+step].item < v {
		lo += step
		step *= 2
	}
	hi := min(lo+step, len(s)) // s[hi] >= v or hi == len(s)
	for lo+1 < hi {            // s[lo] < v <= s[hi]
		mid := int(uint(lo+hi) >> 1)
		if s[mid].item < v {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// neighborHeap keeps the best k Neighbors offered (score descending, then
// item ascending) in a min-heap whose root is the worst kept.
type neighborHeap struct {
	s []Neighbor
	k int
}

// worse reports whether a ranks below b.
func worse(a, b Neighbor) bool {
	if a.Score != b.Score {
		return a.Score < b.Score
	}
	return a.Item > b.Item
}

func (h *neighborHeap) offer(nb Neighbor) {
	if len(h.s) < h.k {
		h.s = append(h.s, nb)
		for c := len(h.s) - 1; c > 0; { // sift up
			p := (c - 1) / 2
			if !worse(h.s[c], h.s[p]) {
				break
			}
			h.s[c], h.s[p] = h.s[p], h.s[c]
			c = p
		}
		return
	}
	if !worse(h.s[0], nb) {
		return
	}
	h.s[0] = nb
	for p := 0; ; { // sift down
		c := 2*p + 1
		if c >= len(h.s) {
			break
		}
		if c+1 < len(h.s) && worse(h.s[c+1], h.s[c]) {
			c++
		}
		if !worse(h.s[c], h.s[p]) {
			break
		}
		h.s[c], h.s[p] = h.s[p], h.s[c]
		p = c
	}
}
