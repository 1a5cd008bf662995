package recommender

import (
	"context"
	"fmt"

	"github.com/polecam/polecam/recommender/dot"
	"github.com/polecam/polecam/recommender/rules"
)

// BatchResult is the answer to one request of RecommendBatch: its Result,
// or the error that request alone failed with.
type BatchResult struct {
	Result
	Err error
}

// MaxBatch is the most requests one RecommendBatch call answers together;
// a caller with more splits them.
const MaxBatch = 64

// RecommendBatch answers each of reqs as Recommend would, bit for bit,
// for e-mail campaigns and exports: many users at once. Requests whose
// answer is a plain catalogue scan of the int8 rows (a known user, no
// filter, not exact, no ANN index or item-item model) share one pass over
// the catalogue: each block of rows is read from memory once and scored
// against every query while it is in cache, which is most of a scan's
// cost on a large catalogue. The others are answered one by one. A
// request's error is its own; the call fails only as a whole when reqs
// has more than MaxBatch entries or the model is closed.
func (m *Model) RecommendBatch(ctx context.Context, reqs []RecommendRequest) ([]BatchResult, error) {
	if !m.acquire() {
		return nil, m.errClosed()
	}
	defer m.release()
	return m.recommendBatch(ctx, reqs, func(string) bool { return false }, nil)
}

// RecommendBatch answers reqs from the current model. See
// Model.RecommendBatch. Forgotten users are served as unknown.
func (r *Recommender) RecommendBatch(ctx context.Context, reqs []RecommendRequest) ([]BatchResult, error) {
	m, err := r.acquire()
	if err != nil {
		return nil, err
	}
	defer m.release()
	return m.recommendBatch(ctx, reqs, r.isForgotten, m.rulesFor(r.rulesSource()))
}

func (m *Model) recommendBatch(ctx context.Context, reqs []RecommendRequest, anonymous func(string) bool, rl *rules.Rules) ([]BatchResult, error) {
	if len(reqs) > MaxBatch {
		return nil, fmt.Errorf("%w: at most %d requests in a batch, got %d", ErrInvalidArgument, MaxBatch, len(reqs))
	}
	out := make([]BatchResult, len(reqs))
	qs := make([]recQuery, len(reqs))
	ok := make([]bool, len(reqs))
	defer func() {
		for i := range qs {
			if ok[i] {
				m.putScratch(qs[i].sc)
			}
		}
	}()
	var joint []*recQuery
	for i, req := range reqs {
		if err := m.prepareRecommend(ctx, &qs[i], req, nil, anonymous(req.UserID), rl); err != nil {
			out[i].Err = err
			continue
		}
		ok[i] = true
		if m.jointScannable(&qs[i]) {
			joint = append(joint, &qs[i])
			continue
		}
		if err := m.rankRecommend(ctx, &qs[i]); err != nil {
			out[i].Err, ok[i] = err, false
			m.putScratch(qs[i].sc)
		}
	}
	if len(joint) > 0 {
		if err := ctx.Err(); err != nil {
			for i := range qs {
				if ok[i] {
					out[i].Err = err
				}
			}
			return out, nil
		}
		m.scanInt8Joint(joint)
	}
	for i := range qs {
		if !ok[i] {
			continue
		}
		out[i].Result, out[i].Err = m.finishRecommend(&qs[i])
	}
	return out, nil
}

// jointScannable reports whether rq's ranking is the plain int8
// catalogue scan that scanInt8Joint shares (see rankFactors).
func (m *Model) jointScannable(rq *recQuery) bool {
	return rq.q != nil && m.ii == nil && m.ann == nil && m.i8 != nil && rq.sc.filter == nil &&
		!rq.req.Exact && shortlistSize(rq.pq.fetch) < m.n
}

// scanInt8Joint ranks the queries qs as rankFactors' int8 path does, with
// one pass over the catalogue for all of them: each block of scanBlock
// rows (128 KiB at 64 factors, in L2 cache) is scored against every
// query before the next is read. The shortlists, and so the answers, are
// each query's own scan's bit for bit: the kernel scores each row on its
// own, and rows are offered to each top-k in catalogue order.
func (m *Model) scanInt8Joint(qs []*recQuery) {
	w := m.i8.width
	k := make([]int, len(qs))
	scales := make([]float32, len(qs))
	blocked := make([][]int32, len(qs))
	for b, rq := range qs {
		sc := rq.sc
		k[b] = shortlistSize(rq.pq.fetch)
		scales[b] = dot.QuantizeVector(sc.qi, rq.q)
		sc.top.reset(k[b])
		blocked[b] = sc.blocked
	}
	buf := qs[0].sc.job.lanes[0].buf[:scanBlock]
	cold, unavail := m.cold, m.unavail
	for start := 0; start < m.n; start += scanBlock {
		end := min(start+scanBlock, m.n)
		rows, rowScales := m.i8.rows[start*w:end*w], m.i8.scales[start:end]
		c0, u0 := cold, unavail
		for len(cold) > 0 && int(cold[0]) < end {
			cold = cold[1:]
		}
		for len(unavail) > 0 && int(unavail[0]) < end {
			unavail = unavail[1:]
		}
		blockCold, blockUnavail := c0[:len(c0)-len(cold)], u0[:len(u0)-len(unavail)]
		s := buf[:end-start]
		for b, rq := range qs {
			dot.ScoresInt8(s, rows, w, rowScales, rq.sc.qi, scales[b])
			bl := blocked[b]
			for len(bl) > 0 && int(bl[0]) < end {
				s[int(bl[0])-start] = negInf
				bl = bl[1:]
			}
			blocked[b] = bl
			for _, r := range blockCold {
				s[int(r)-start] = negInf
			}
			for _, r := range blockUnavail {
				s[int(r)-start] = negInf
			}
			rq.sc.top.pushScores(s, int32(start))
		}
	}
	for b, rq := range qs {
		sc := rq.sc
		sc.cands = sc.top.appendSorted(sc.cands[:0])
		m.certifyInt8(sc, rq.q, scales[b], rq.pq.fetch, k[b])
		sc.addPicks(SourceFactors)
	}
}
