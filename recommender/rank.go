package recommender

import (
	"context"
	"fmt"
	"slices"

	"github.com/polecam/polecam/recommender/dot"
	"github.com/polecam/polecam/recommender/rules"
)

// directCheaper reports whether scoring count listed rows one group of
// four at a time costs less than the catalogue scan the model would
// otherwise do: a listed row costs about four float rows (its group, read
// from a random place), a scanned row one float row, or a quarter of one
// with int8 vectors, and far less through an ANN index, which a filter
// passing few items also slows down.
func (m *Model) directCheaper(count int) bool {
	switch {
	case m.ann != nil:
		// annDirectMax < 0 (tests) always walks the index.
		return m.annDirectMax >= 0 && (count <= m.annDirectMax || count*32 <= m.n)
	case m.i8 != nil:
		return count*16 <= m.n
	default:
		return count*4 <= m.n
	}
}

// scanRows leaves in sc.cands the best k of rows (ascending) by mode
// (scanDot or scanCosine) against q, skipping the items the request may
// not get and the cold ones. Each row is scored in its group of four, as
// a catalogue scan scores it, so the scores are the scan's bit for bit.
func (m *Model) scanRows(sc *scratch, mode scanMode, q []float32, rows []int32, k int) {
	st := m.items.Stride
	tail := m.n &^ 3
	sc.top.reset(k)
	g := int32(-1)
	for _, r := range rows {
		if r < 0 || int(r) >= m.n || m.invNorm[r] == 0 || !m.allowed(sc, r) {
			continue
		}
		var s float32
		if int(r) < tail {
			if gr := r &^ 3; gr != g {
				g = gr
				dot.Scores(sc.row4[:], m.items.Data[int(g)*st:], st, q)
			}
			s = sc.row4[r-g]
		} else {
			var one [1]float32
			dot.Scores(one[:], m.items.Data[int(r)*st:], st, q)
			s = one[0]
		}
		if mode == scanCosine {
			s *= m.invNorm[r]
		}
		sc.top.push(candidate{Index: r, Score: s})
	}
	sc.cands = sc.top.appendSorted(sc.cands[:0])
}

// scanRowsInt8 leaves in sc.cands the best k of rows (ascending) by their
// int8 scores against sc.qi, best first, skipping the items the request
// may not get and the cold ones: the shortlist rescoreCertified proves or
// refutes, as for a catalogue scan.
//
// The rows are read from random places; they are copied, gatherRows at a
// time, into one contiguous block that the kernel scores in one call, so
// that the copies' cache misses overlap and the kernel's per-call cost is
// paid once per block (2.2× faster than a call per row for 10,000 rows of
// 1M on an AVX2 EPYC). The kernel scores each row on its own, so the
// scores are the per-row scores bit for bit.
func (m *Model) scanRowsInt8(sc *scratch, qScale float32, rows []int32, k int) {
	w := m.i8.width
	sc.top.reset(k)
	g := &sc.gather
	if len(g.rows) < gatherRows*w {
		g.rows = make([]int8, gatherRows*w)
	}
	nb := 0
	for _, r := range rows {
		if r < 0 || int(r) >= m.n || m.invNorm[r] == 0 || !m.allowed(sc, r) {
			continue
		}
		copy(g.rows[nb*w:(nb+1)*w], m.i8.rows[int(r)*w:int(r+1)*w])
		g.scales[nb], g.idx[nb] = m.i8.scales[r], r
		if nb++; nb == gatherRows {
			m.scoreGathered(sc, qScale, nb)
			nb = 0
		}
	}
	if nb > 0 {
		m.scoreGathered(sc, qScale, nb)
	}
	sc.cands = sc.top.appendSorted(sc.cands[:0])
}

// scoreGathered scores the first nb rows gathered in sc.gather and offers
// them to sc.top.
func (m *Model) scoreGathered(sc *scratch, qScale float32, nb int) {
	g, w := &sc.gather, m.i8.width
	dot.ScoresInt8(g.out[:nb], g.rows[:nb*w], w, g.scales[:nb], sc.qi, qScale)
	for j, r := range g.idx[:nb] {
		sc.top.push(candidate{Index: r, Score: g.out[j]})
	}
}

// gatherScratch holds the listed rows scanRowsInt8 scores together.
type gatherScratch struct {
	rows   []int8 // gatherRows rows of the int8 width
	idx    [gatherRows]int32
	scales [gatherRows]float32
	out    [gatherRows]float32
	// blockOut holds the scores of one block of scanBlocksInt8.
	blockOut [blockScanRows]float32
}

// gatherRows is how many listed int8 rows scanRowsInt8 copies together
// before scoring them.
const gatherRows = 64

// dotF is the inner product of two vectors of equal length.
func dotF(a, b []float32) float32 {
	var s float32
	for i, x := range a {
		s += x * b[i]
	}
	return s
}

// explainFactors fills Because of the factor-scored items with the one to
// three items of sc.hist whose vectors are most similar (cosine) to
// theirs.
func (m *Model) explainFactors(sc *scratch, items []ScoredItem) {
	if len(sc.hist) == 0 {
		return
	}
	hist := sc.hist
	if len(hist) > 256 {
		hist = hist[len(hist)-256:]
	}
	for k := range items {
		it := &items[k]
		if it.Source != SourceFactors || it.Because != nil {
			continue
		}
		i, ok, err := m.snap.ItemIndex(it.ID)
		if err != nil || !ok || m.invNorm[i] == 0 {
			continue
		}
		var t topN
		t.reset(3)
		y := m.items.Row(int(i))
		for _, h := range hist {
			if h == i || m.invNorm[h] == 0 {
				continue
			}
			t.push(candidate{Index: h, Score: dotF(y, m.items.Row(int(h))) * m.invNorm[h]})
		}
		for _, c := range t.appendSorted(nil) {
			if c.Score <= 0 {
				break
			}
			if id, err := m.snap.ItemID(c.Index); err == nil {
				it.Because = append(it.Because, id)
			}
		}
	}
}

// Rank orders req.Candidates for the user or visitor: the candidates
// with a factor vector by the score Recommend gives them (blended with
// the item-item model when the snapshot has one, normalised over the
// same items as Recommend), then the others by popularity. Without a
// personal vector every candidate is ordered by popularity and Fallback
// is set. Unknown ids come back in Unknown; duplicates once.
func (m *Model) Rank(ctx context.Context, req RankRequest) (RankResult, error) {
	if !m.acquire() {
		return RankResult{}, m.errClosed()
	}
	defer m.release()
	return m.rank(ctx, req, false, nil)
}

// rank is Rank with merchandising rules of the rank scope (rl may be
// nil): boosts and buries reorder within a source, pins move candidates
// into their slots and diversity caps push candidates down; a candidate
// an exclusion or a cap leaves out of the ruled order follows it, in
// score order, so every known candidate comes back.
func (m *Model) rank(ctx context.Context, req RankRequest, anonymous bool, rl *rules.Rules) (RankResult, error) {
	if len(req.Candidates) == 0 {
		return RankResult{}, fmt.Errorf("%w: candidate_item_ids is required", ErrInvalidArgument)
	}
	if len(req.Candidates) > MaxRankCandidates {
		return RankResult{}, fmt.Errorf("%w: at most %d candidates, got %d", ErrInvalidArgument, MaxRankCandidates, len(req.Candidates))
	}
	if req.UserID == "" && len(req.Recent) == 0 {
		return RankResult{}, fmt.Errorf("%w: user_id or recent_item_ids is required", ErrInvalidArgument)
	}
	if err := ctx.Err(); err != nil {
		return RankResult{}, err
	}
	sc := m.getScratch()
	defer m.putScratch(sc)
	sc.rules, sc.scope = rl, rules.ScopeRank
	q, _, err := m.resolveUser(sc, req.UserID, req.Recent, anonymous, false)
	if err != nil {
		return RankResult{}, err
	}
	var unknown []string
	rows := sc.seeds[:0]
	for _, id := range req.Candidates {
		i, ok, err := m.snap.ItemIndex(id)
		if err != nil {
			return RankResult{}, fmt.Errorf("look up candidate %q: %w", id, err)
		}
		if !ok || i < 0 || int(i) >= m.n {
			unknown = append(unknown, id)
			continue
		}
		rows = append(rows, i)
	}
	slices.Sort(rows)
	rows = slices.Compact(rows)
	sc.seeds = rows

	var scored, rest []candidate
	if q != nil {
		var blend, masked []float32
		if m.ii != nil {
			// Recommend normalises over the items it may return: mask the
			// same ones (history and unavailable), but score every
			// candidate with that normalisation.
			masked = make([]float32, len(rows))
			blend = m.blendScores(sc, q, sc.hist, func(f []float32) {
				m.mask(f, sc.blocked)
				m.mask(f, m.unavail)
			}, rows, masked)
		}
		sc.cands = sc.cands[:0]
		st := m.items.Stride
		tail := m.n &^ 3
		g := int32(-1)
		for k, r := range rows {
			if m.invNorm[r] == 0 {
				rest = append(rest, candidate{Index: r, Score: m.pop[r]})
				continue
			}
			var s float32
			switch {
			case blend != nil && blend[r] > negInf:
				s = blend[r]
			case blend != nil:
				s = masked[k] // a candidate Recommend would leave out
			case int(r) < tail:
				if gr := r &^ 3; gr != g {
					g = gr
					dot.Scores(sc.row4[:], m.items.Data[int(g)*st:], st, q)
				}
				s = sc.row4[r-g]
			default:
				var one [1]float32
				dot.Scores(one[:], m.items.Data[int(r)*st:], st, q)
				s = one[0]
			}
			scored = append(scored, candidate{Index: r, Score: s})
		}
	} else {
		for _, r := range rows {
			rest = append(rest, candidate{Index: r, Score: m.pop[r]})
		}
	}
	slices.SortFunc(scored, compareRank)
	slices.SortFunc(rest, compareRank)
	sc.cands = scored
	sc.addPicks(SourceFactors)
	sc.cands = rest
	sc.addPicks(SourcePopularity)
	if rl != nil {
		ranked := slices.Clone(sc.picks)
		if err := m.applyRules(sc, rl, rules.ScopeRank, len(ranked)); err != nil {
			return RankResult{}, err
		}
		if len(sc.picks) < len(ranked) {
			placed := make(map[int32]bool, len(sc.picks))
			for _, p := range sc.picks {
				placed[p.Index] = true
			}
			for _, p := range ranked {
				if !placed[p.Index] {
					sc.picks = append(sc.picks, p)
				}
			}
		}
	}
	res, err := m.result(sc, q == nil, req.ReturnAttributes, req.Explain)
	if err != nil {
		return RankResult{}, err
	}
	return RankResult{Result: res, Unknown: unknown}, nil
}
