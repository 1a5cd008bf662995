package recommender

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"

	"github.com/polecam/polecam/recommender/dot"
	"github.com/polecam/polecam/store"
)

// ItemItemMatrix and ItemItemParams name the snapshot files of the
// optional item-item model (see package training): the dense n × n
// matrix B (EASE), and a JSON object {"blend": w, "recency": r} with the
// weight of the factor scores and that of the popularity list. A sparse
// model (approximate EASE, RP3beta) is stored instead as the store's list
// file store.ItemItemRowsFile, with the same ItemItemParams; a snapshot
// holds one or the other.
const (
	ItemItemMatrix = "itemitem.vec"
	ItemItemParams = "itemitem.json"
)

// ItemItemConfig is the content of the ItemItemParams file.
type ItemItemConfig struct {
	// Blend is the weight w of the factor scores in [0, 1]; the item-item
	// scores get 1 − w.
	Blend float32 `json:"blend"`
	// Recency is the weight r of the snapshot's popularity list added to
	// the blend: r·p[i]/max(p) (training.RecencyOptions.Weight; the list
	// counts its users by recency when the snapshot was trained so). 0 or
	// absent: none.
	Recency float32 `json:"recency,omitempty"`
}

// maxRecency bounds ItemItemConfig.Recency, as training bounds it.
const maxRecency = 100

// auxSnapshot is what a snapshot offers when it can hold an item-item
// model; *store.Snapshot implements it. A Snapshot without these methods
// serves factors only.
type auxSnapshot interface {
	Matrix(name string) (store.Matrix, bool)
	File(name string) ([]byte, bool)
}

// sparseSnapshot is what a snapshot offers when it can hold a sparse
// item-item model; *store.Snapshot implements it. ItemItemRow returns
// item's row read in place, (item, weight) ascending by item, every item
// in range and every weight finite.
type sparseSnapshot interface {
	HasItemItemRows() bool
	ItemItemRow(item int32) ([]store.Neighbor, error)
}

var (
	_ auxSnapshot    = (*store.Snapshot)(nil)
	_ sparseSnapshot = (*store.Snapshot)(nil)
)

// itemItem is a loaded item-item model.
type itemItem struct {
	// b is a dense model's n × n matrix, read in place; rows is nil then.
	// rows reads a row of a sparse model in place; b is zero then.
	b     store.Matrix
	rows  func(item int32) ([]store.Neighbor, error)
	blend float32
	// recency is ItemItemConfig.Recency / max(popularity): the factor of
	// the popularity list in the blend, 0 for none.
	recency float32
	bufs    sync.Pool // *[]float32 of n item-item scores
}

// loadItemItem loads the snapshot's item-item model, dense or sparse, if
// it has one and leaves m.ii nil otherwise.
func (m *Model) loadItemItem(s Snapshot) error {
	as, ok := s.(auxSnapshot)
	if !ok {
		return nil
	}
	b, dense := as.Matrix(ItemItemMatrix)
	ss, ok := s.(sparseSnapshot)
	sparse := ok && ss.HasItemItemRows()
	name := ItemItemMatrix
	switch {
	case dense && sparse:
		return fmt.Errorf("item-item model: both %s and %s, want one", ItemItemMatrix, store.ItemItemRowsFile)
	case sparse:
		name = store.ItemItemRowsFile
	case !dense:
		return nil
	}
	raw, ok := as.File(ItemItemParams)
	if !ok {
		return fmt.Errorf("item-item model: %s without %s", name, ItemItemParams)
	}
	var cfg ItemItemConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return fmt.Errorf("item-item model: parse %s: %w", ItemItemParams, err)
	}
	if !(cfg.Blend >= 0 && cfg.Blend <= 1) {
		return fmt.Errorf("item-item model: blend %v, want between 0 and 1", cfg.Blend)
	}
	if !(cfg.Recency >= 0 && cfg.Recency <= maxRecency) {
		return fmt.Errorf("item-item model: recency %v, want between 0 and %d", cfg.Recency, maxRecency)
	}
	n := m.n
	ii := &itemItem{blend: cfg.Blend}
	if cfg.Recency > 0 {
		var top float32
		for _, p := range m.pop {
			top = max(top, p)
		}
		if top > 0 {
			ii.recency = cfg.Recency / top
		}
	}
	if sparse {
		ii.rows = ss.ItemItemRow
	} else {
		if b.Rows != m.n || b.Dims != m.n {
			return fmt.Errorf("item-item model: %d × %d matrix for %d items", b.Rows, b.Dims, m.n)
		}
		if err := checkMatrix(b); err != nil {
			return fmt.Errorf("item-item model: %w", err)
		}
		ii.b = b
	}
	ii.bufs.New = func() any { s := make([]float32, n); return &s }
	m.ii = ii
	return nil
}

// rankItemItem ranks a user with factor vector q (trained or folded in)
// by the blend of the factor scores and the item-item scores of the
// user's history (training and session items), as training.Blend defines
// it:
//
//	score[i] = w·f[i]/max(f) + (1−w)·s[i]/max(s) + r·p[i]/max(p),  s[i] = Σ_{j∈hist} B[j][i]
//
// with the first two maxima over the candidates (items neither blocked,
// cold, unavailable nor filtered out) and replaced by 1 when not
// positive, p the popularity list and r its weight (ItemItemConfig.Recency,
// max(p) over all items); for a sparse model B[j][i] is the weight of i in
// j's row, 0 when the row has none. It leaves the best n in sc.cands.
func (m *Model) rankItemItem(ctx context.Context, sc *scratch, q []float32, hist []int32, n int) error {
	f := m.blendScores(sc, q, hist, nil, nil, nil)
	if err := ctx.Err(); err != nil {
		return err
	}
	sc.top.reset(n)
	sc.top.pushScores(f, 0)
	sc.cands = sc.top.appendSorted(sc.cands[:0])
	return nil
}

// blendScores computes the blended score of every item into sc.scores
// and returns it, -Inf for the items the request may not get (with mask
// nil) or for those mask leaves out. The rows of also, masked or not, get
// their blended score, with the same normalisation, in alsoOut.
func (m *Model) blendScores(sc *scratch, q []float32, hist []int32, mask func(f []float32), also []int32, alsoOut []float32) []float32 {
	if sc.scores == nil {
		sc.scores = make([]float32, m.n)
	}
	f := sc.scores[:m.n]
	dot.Scores(f, m.items.Data, m.items.Stride, q)
	if mask == nil {
		m.maskRequest(sc, f)
	} else {
		mask(f)
	}
	m.mask(f, m.cold)

	ii := m.ii
	bp := ii.bufs.Get().(*[]float32)
	defer ii.bufs.Put(bp)
	s := *bp
	clear(s)
	ii.addScores(s, hist)

	mf, ms := negInf, negInf
	for i, v := range f {
		if v > negInf {
			mf = max(mf, v)
			ms = max(ms, s[i])
		}
	}
	if !(mf > 0) || math.IsInf(float64(mf), 1) {
		mf = 1
	}
	if !(ms > 0) || math.IsInf(float64(ms), 1) {
		ms = 1
	}
	a, b, c := ii.blend/mf, (1-ii.blend)/ms, ii.recency
	for k, r := range also {
		alsoOut[k] = a*dotF(q, m.items.Row(int(r))) + b*s[r] + c*m.pop[r]
	}
	for i, v := range f {
		if v > negInf {
			f[i] = a*v + b*s[i] + c*m.pop[i]
		}
	}
	return f
}

// addScores adds to s (n entries) the rows of the items of hist, leaving
// out indexes outside [0, n): s[i] += B[j][i] for every j of hist.
func (ii *itemItem) addScores(s []float32, hist []int32) {
	n := len(s)
	for _, j := range hist {
		if j < 0 || int(j) >= n {
			continue
		}
		if ii.rows == nil {
			for i, v := range ii.b.Row(int(j)) {
				s[i] += v
			}
			continue
		}
		// The store checked the rows when it opened the snapshot: an
		// error (none is expected for j in range) leaves the row out.
		row, err := ii.rows(j)
		if err != nil {
			continue
		}
		for _, nb := range row {
			if uint32(nb.Item) < uint32(n) {
				s[nb.Item] += nb.Score
			}
		}
	}
}
