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
// optional dense item-item model (EASE; see package training): the n × n
// matrix B, and a JSON object {"blend": w} with the weight of the factor
// scores.
const (
	ItemItemMatrix = "itemitem.vec"
	ItemItemParams = "itemitem.json"
)

// ItemItemConfig is the content of the ItemItemParams file.
type ItemItemConfig struct {
	// Blend is the weight w of the factor scores in [0, 1]; the item-item
	// scores get 1 − w.
	Blend float32 `json:"blend"`
}

// auxSnapshot is what a snapshot offers when it can hold an item-item
// model; *store.Snapshot implements it. A Snapshot without these methods
// serves factors only.
type auxSnapshot interface {
	Matrix(name string) (store.Matrix, bool)
	File(name string) ([]byte, bool)
}

var _ auxSnapshot = (*store.Snapshot)(nil)

// itemItem is a loaded item-item model.
type itemItem struct {
	b     store.Matrix // n × n, read in place
	blend float32
	bufs  sync.Pool // *[]float32 of n item-item scores
}

// loadItemItem loads the snapshot's item-item model if it has one and
// leaves m.ii nil otherwise.
func (m *Model) loadItemItem(s Snapshot) error {
	as, ok := s.(auxSnapshot)
	if !ok {
		return nil
	}
	b, ok := as.Matrix(ItemItemMatrix)
	if !ok {
		return nil
	}
	raw, ok := as.File(ItemItemParams)
	if !ok {
		return fmt.Errorf("item-item model: %s without %s", ItemItemMatrix, ItemItemParams)
	}
	var cfg ItemItemConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return fmt.Errorf("item-item model: parse %s: %w", ItemItemParams, err)
	}
	if !(cfg.Blend >= 0 && cfg.Blend <= 1) {
		return fmt.Errorf("item-item model: blend %v, want between 0 and 1", cfg.Blend)
	}
	if b.Rows != m.n || b.Dims != m.n {
		return fmt.Errorf("item-item model: %d × %d matrix for %d items", b.Rows, b.Dims, m.n)
	}
	if err := checkMatrix(b); err != nil {
		return fmt.Errorf("item-item model: %w", err)
	}
	n := m.n
	ii := &itemItem{b: b, blend: cfg.Blend}
	ii.bufs.New = func() any { s := make([]float32, n); return &s }
	m.ii = ii
	return nil
}

// rankItemItem ranks a user with factor vector q (trained or folded in)
// by the blend of the factor scores and the item-item scores of the
// user's history (training and session items), as training.Blend defines
// it:
//
//	score[i] = w·f[i]/max(f) + (1−w)·s[i]/max(s),  s[i] = Σ_{j∈hist} B[j][i]
//
// with both maxima over the candidates (items neither blocked, cold,
// unavailable nor filtered out) and replaced by 1 when not positive. It
// leaves the best n in sc.cands.
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
	for _, j := range hist {
		if j < 0 || int(j) >= m.n {
			continue
		}
		row := ii.b.Row(int(j))
		for i, v := range row {
			s[i] += v
		}
	}

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
	a, b := ii.blend/mf, (1-ii.blend)/ms
	for k, r := range also {
		alsoOut[k] = a*dotF(q, m.items.Row(int(r))) + b*s[r]
	}
	for i, v := range f {
		if v > negInf {
			f[i] = a*v + b*s[i]
		}
	}
	return f
}
