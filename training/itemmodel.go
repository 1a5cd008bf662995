package training

import "slices"

// ItemScorer is an item-to-item model: the score of a user for item j is
// the sum, over the items i the user used, of the weight of i for j.
// *ItemItem (dense, EASE) and *SparseItemItem (sparse: approximate EASE,
// RP3beta) implement it.
type ItemScorer interface {
	// NumItems is the size of the index space the model was trained on.
	NumItems() int
	// Scores sets dst[j] = Σ_{i∈seen} w(i, j) for every item j; dst has
	// NumItems elements.
	Scores(seen []int32, dst []float32)
}

var (
	_ ItemScorer = (*ItemItem)(nil)
	_ ItemScorer = (*SparseItemItem)(nil)
)

// NumItems returns m.N.
func (m *ItemItem) NumItems() int { return m.N }

// SparseItemItem is a sparse item-to-item weight matrix in compressed
// rows: row i holds the weights w(i, Items[k]) = Weights[k] for k in
// [Ptr[i], Ptr[i+1]), items ascending within a row, no item twice.
type SparseItemItem struct {
	N       int
	Ptr     []int64 // N+1 offsets
	Items   []int32
	Weights []float32
}

// NumItems returns m.N.
func (m *SparseItemItem) NumItems() int { return m.N }

// NNZ returns the number of stored weights.
func (m *SparseItemItem) NNZ() int { return len(m.Items) }

// Row returns item i's row; the slices alias m.
func (m *SparseItemItem) Row(i int32) ([]int32, []float32) {
	b, e := m.Ptr[i], m.Ptr[i+1]
	return m.Items[b:e], m.Weights[b:e]
}

// Scores sets dst[j] = Σ_{i∈seen} w(i, j) for every item j.
func (m *SparseItemItem) Scores(seen []int32, dst []float32) {
	clear(dst)
	for _, i := range seen {
		items, w := m.Row(i)
		for k, j := range items {
			dst[j] += w[k]
		}
	}
}

// sparseFromRows assembles a SparseItemItem from per-item rows, each
// sorted here by item.
func sparseFromRows(rows [][]Neighbor) *SparseItemItem {
	m := &SparseItemItem{N: len(rows), Ptr: make([]int64, len(rows)+1)}
	nnz := 0
	for _, r := range rows {
		nnz += len(r)
	}
	m.Items, m.Weights = make([]int32, 0, nnz), make([]float32, 0, nnz)
	for i, r := range rows {
		slices.SortFunc(r, func(a, b Neighbor) int { return int(a.Item) - int(b.Item) })
		for _, nb := range r {
			m.Items = append(m.Items, nb.Item)
			m.Weights = append(m.Weights, nb.Score)
		}
		m.Ptr[i+1] = int64(len(m.Items))
	}
	return m
}
