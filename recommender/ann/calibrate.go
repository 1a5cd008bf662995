package ann

import (
	"context"
	"fmt"
	"slices"

	"github.com/polecam/polecam/recommender/dot"
)

// CalibrationEfs are the search widths Calibrate tries, in order.
var CalibrationEfs = []int{32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024}

// Calibration is what Calibrate measured: the smallest search width of
// CalibrationEfs whose mean recall@K over the queries reached the target,
// or the largest when none did.
type Calibration struct {
	Ef      int
	Recall  float64 // mean recall@K at Ef
	Queries int     // queries measured (all-zero queries are skipped)
	K       int
	Reached bool // whether Recall reached the target
}

// Calibrate measures, for nq queries (row i of queries starts at
// queries[i*stride] and has Dims() floats), the mean recall@k of Search
// against the exact inner-product top k over every row of the index, at
// each width of CalibrationEfs in turn, and returns the first whose recall
// reaches target. The graph's navigability, and so the width a recall
// needs, depends on the data: on 1M x 64 clustered test vectors recall
// 0.95 needed ef 384, on the benchmark fixture's user vectors ef 192 gave
// 0.985 (benchmarks/ann.md). Give it vectors like the serving queries (a
// sample of the user factors). It honours ctx between queries.
func (ix *Index) Calibrate(ctx context.Context, queries []float32, nq, stride, k int, target float64) (Calibration, error) {
	switch {
	case k <= 0:
		return Calibration{}, fmt.Errorf("calibrate ann index: k %d, want at least 1", k)
	case nq < 0 || stride < ix.dims || (nq > 0 && len(queries) < (nq-1)*stride+ix.dims):
		return Calibration{}, fmt.Errorf("calibrate ann index: %d queries of stride %d do not fit in %d floats of %d dimensions", nq, stride, len(queries), ix.dims)
	}
	// The exact top k of every non-zero query, once.
	scores := make([]float32, ix.rows)
	var qs [][]float32
	var truth [][]Result
	for i := range nq {
		if err := ctx.Err(); err != nil {
			return Calibration{}, fmt.Errorf("calibrate ann index: %w", err)
		}
		q := queries[i*stride : i*stride+ix.dims]
		if isZero(q) {
			continue
		}
		dot.Scores(scores, ix.data, ix.stride, q)
		qs = append(qs, q)
		truth = append(truth, exactTop(scores, k, nil))
	}
	c := Calibration{Queries: len(qs), K: k}
	if len(qs) == 0 {
		c.Ef = ix.efSearch
		return c, nil
	}
	s := NewScratch(ix)
	var res []Result
	for _, ef := range CalibrationEfs {
		hits, total := 0, 0
		for i, q := range qs {
			if err := ctx.Err(); err != nil {
				return Calibration{}, fmt.Errorf("calibrate ann index: %w", err)
			}
			res = ix.Search(q, k, ef, nil, res, s)
			for _, r := range res {
				if slices.ContainsFunc(truth[i], func(t Result) bool { return t.Item == r.Item }) {
					hits++
				}
			}
			total += len(truth[i])
		}
		c.Ef, c.Recall = ef, float64(hits)/float64(total)
		if c.Recall >= target {
			c.Reached = true
			break
		}
	}
	return c, nil
}

// exactTop returns the k largest of scores (score i belongs to row i)
// among the rows filter accepts (all when it is nil), best first, ties by
// row, skipping NaN: a partial insertion into a sorted list of k, which
// rejects most scores in one comparison once the list is full.
func exactTop(scores []float32, k int, filter Filter) []Result {
	top := make([]Result, 0, k+1)
	for i, s := range scores {
		if s != s || (len(top) == k && s <= top[k-1].Score) || (filter != nil && !filter(int32(i))) {
			continue
		}
		p := len(top)
		for p > 0 && top[p-1].Score < s {
			p--
		}
		top = slices.Insert(top, p, Result{Item: int32(i), Score: s})
		if len(top) > k {
			top = top[:k]
		}
	}
	return top
}

// WithEfSearch returns an index that shares ix's graph and vectors with
// ef as its default search width (the width WriteTo stores). ix itself
// is unchanged.
func (ix *Index) WithEfSearch(ef int) (*Index, error) {
	if ef < 1 || ef > MaxEf {
		return nil, fmt.Errorf("ann ef search %d is outside 1..%d", ef, MaxEf)
	}
	c := *ix
	c.efSearch = ef
	return &c, nil
}
