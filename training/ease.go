package training

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"

	"github.com/polecam/polecam/training/internal/dense"
)

// EASEOptions configures TrainEASE, TrainSparseEASE and FitEASE.
type EASEOptions struct {
	// Lambda is the ridge penalty λ added to the diagonal of the Gram
	// matrix. It is in units of co-occurrence counts, so it grows with the
	// number of users. Default 566, with DiagonalScale 1: what Tune chose on
	// a validation split carved from the training part of MovieLens-100K
	// (see benchmarks/quality.md); polecam eval --tune chooses both again
	// for any data set.
	Lambda float64 `json:"lambda"`
	// DiagonalScale is ρ in the dropout-style penalty of Steck's DLAE
	// ("Autoencoders that don't overfit towards the Identity", NeurIPS
	// 2020): item j's diagonal penalty is λ + ρ·G_jj, so popular items are
	// shrunk more. ρ = p/(1−p) for a dropout rate p; 0 is plain EASE.
	// Default 1.
	DiagonalScale float64 `json:"diagonal_scale"`
	// MaxItems is the largest catalogue TrainEASE accepts: the model is a
	// dense items × items matrix, built in float64 (the Gram matrix
	// inverted in place, a quarter-size scratch and the float32 result:
	// 14·n² bytes at the peak) in time cubic in n. Default 10000 (1.4 GB at
	// the peak; see benchmarks/quality.md for the measured times). FitEASE
	// trains larger catalogues with TrainSparseEASE, the approximation
	// restricted to Neighbors items per column.
	MaxItems int `json:"max_items"`
	// Neighbors is the number K of items each item's column of the sparse
	// approximation (TrainSparseEASE) is regressed on: its K most similar
	// items by cosine. Time grows as K³ per item, memory as K per item.
	// 0 means DefaultNeighbors; at most 1024. TrainEASE ignores it.
	Neighbors int `json:"neighbors"`
}

// DefaultNeighbors is the number of neighbours TrainSparseEASE uses when
// EASEOptions.Neighbors is 0: the smallest K of 64, 128, 256, 512 whose
// validation nDCG@10 on MovieLens-100K stayed within 2 % of exact EASE's on
// each of five splits (128 did not on one); at 100,000 items it trains in
// about 3 CPU-minutes (benchmarks/sparse-ease.md).
const DefaultNeighbors = 256

// maxNeighbors bounds EASEOptions.Neighbors: the per-worker scratch is
// 8·K² bytes and the time K³/3 multiply-adds per item.
const maxNeighbors = 1024

// DefaultEASEOptions returns the defaults described on EASEOptions.
func DefaultEASEOptions() EASEOptions {
	return EASEOptions{Lambda: 566, DiagonalScale: 1, MaxItems: 10000} // Neighbors 0: DefaultNeighbors
}

// neighbors returns Neighbors with 0 replaced by DefaultNeighbors.
func (o EASEOptions) neighbors() int {
	if o.Neighbors == 0 {
		return DefaultNeighbors
	}
	return o.Neighbors
}

// Validate reports the first option that is out of range.
func (o EASEOptions) Validate() error {
	switch {
	case math.IsNaN(o.Lambda) || math.IsInf(o.Lambda, 0) || o.Lambda <= 0:
		return fmt.Errorf("ease options: lambda %v, want finite and positive", o.Lambda)
	case math.IsNaN(o.DiagonalScale) || math.IsInf(o.DiagonalScale, 0) || o.DiagonalScale < 0:
		return fmt.Errorf("ease options: diagonal scale %v, want finite and non-negative", o.DiagonalScale)
	case o.MaxItems < 1:
		return fmt.Errorf("ease options: max items %d, want at least 1", o.MaxItems)
	case o.Neighbors < 0 || o.Neighbors > maxNeighbors:
		return fmt.Errorf("ease options: neighbors %d, want 0 (the default, %d) to %d", o.Neighbors, DefaultNeighbors, maxNeighbors)
	}
	return nil
}

// ErrTooManyItems is returned by TrainEASE for a catalogue larger than
// EASEOptions.MaxItems.
var ErrTooManyItems = errors.New("too many items for a dense item-item model")

// ItemItem is a dense item-to-item weight matrix: the score of user u for
// item j is Σ_{i∈I_u} B[i][j], the sum of the rows of the items u used.
// B is row-major, N × N, indexed as in the Interactions it was trained on.
type ItemItem struct {
	N int
	B []float32
}

// Row returns item i's row of B; the slice aliases m.B.
func (m *ItemItem) Row(i int32) []float32 { return m.B[int(i)*m.N : (int(i)+1)*m.N] }

// Scores sets dst[j] = Σ_{i∈seen} B[i][j] for every item j. dst must have
// one element per item.
func (m *ItemItem) Scores(seen []int32, dst []float32) {
	clear(dst)
	for _, i := range seen {
		axpy(1, m.Row(i), dst)
	}
}

// TrainEASE fits EASE (Steck, "Embarrassingly Shallow Autoencoders for
// Sparse Data", WWW 2019) on the binary form of x (every stored
// interaction is 1, whatever its weight). With G = XᵀX the item Gram matrix
// (G_ij = number of users of both i and j),
//
//	P = (G + λI)⁻¹,   B = I − P·diag(1/diag(P)),
//
// that is B_ij = −P_ij/P_jj off the diagonal and B_jj = 0: the closed-form
// least-squares item-to-item regression X ≈ XB with a zero diagonal.
// Items without interactions get zero rows and columns.
//
// G is accumulated from user histories (cost Σ_u |I_u|²) and inverted in
// place, in float64, by training/internal/dense.InvertSPD (blocked
// recursive inversion on an AVX2/FMA matrix product, 4n³/3 flops, on
// GOMAXPROCS goroutines). It fails with
// ErrTooManyItems when x has more than opts.MaxItems items. The dense
// solve cannot be interrupted; ctx is checked between stages.
func TrainEASE(ctx context.Context, x *Interactions, opts EASEOptions) (*ItemItem, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	n := x.NumItems()
	if n > opts.MaxItems {
		return nil, fmt.Errorf("ease: %d items, limit %d: %w", n, opts.MaxItems, ErrTooManyItems)
	}
	if n == 0 {
		return &ItemItem{}, nil
	}
	g := make([]float64, n*n) // upper triangle used
	for u := range x.NumUsers() {
		if u%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		items, _ := x.UserRow(int32(u))
		for a, i := range items { // ascending, so i ≤ j below
			row := g[int(i)*n:]
			for _, j := range items[a:] {
				row[j]++
			}
		}
	}
	for i := range n {
		g[i*n+i] += opts.Lambda + opts.DiagonalScale*g[i*n+i]
		for j := i + 1; j < n; j++ {
			g[j*n+i] = g[i*n+j]
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := dense.InvertSPD(g, n, n, runtime.GOMAXPROCS(0)); err != nil {
		return nil, fmt.Errorf("ease: invert gram matrix: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := g // the inverse, both triangles
	b := make([]float32, n*n)
	for i := range n {
		pii := p[i*n+i]
		for j := i + 1; j < n; j++ {
			pij := p[i*n+j]
			b[i*n+j] = float32(-pij / p[j*n+j])
			b[j*n+i] = float32(-pij / pii)
		}
	}
	return &ItemItem{N: n, B: b}, nil
}
