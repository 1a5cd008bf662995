package rules

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Candidate is one ranked item handed to Apply. Source is the caller's
// label of the model that scored it (package recommender's Source):
// scores are comparable only between candidates of the same source.
type Candidate struct {
	Row    int32
	Score  float32
	Source int8
}

// History is the consumer side of a user's interactions: it calls yield
// for each, with the item row, the event type as logged ("view",
// "purchase") and when it happened, until yield returns false. Rows
// outside the catalogue are ignored.
type History interface {
	Interactions(yield func(row int32, event string, at time.Time) bool)
}

// ApplyRequest is one answer to finish.
type ApplyRequest struct {
	// Scope is the RPC being answered; only rules of that scope apply.
	Scope Scope
	// N is the length of the answer wanted.
	N int
	// Candidates are the ranked candidates, best first within each run
	// of one source, as the recommender's tiers produced them; they are
	// taken to pass the request's filter, and their rows are distinct.
	// Hand [Rules.Candidates] of them. Apply does not modify the slice.
	Candidates []Candidate
	// History is the user's interactions for exclude rules; nil for none.
	History History
	// Now is the time exclusion windows are measured against.
	Now time.Time
	// Eligible reports whether a pinned item that is not among the
	// candidates may be shown (passes the request's filter, is not
	// excluded by the recommender: seen, forgotten, the basket itself).
	// Nil means only candidates are pinned.
	Eligible func(row int32) bool
	// PinSource is the Source of a pinned item that is not among the
	// candidates; its Score is 0.
	PinSource int8
}

// Result is one item of the answer.
type Result struct {
	Candidate
	// Pinned is set when a pin rule put the item in its slot.
	Pinned bool
	// Rules names the rules applied to the item, in file order: for
	// explain. It aliases the Output's storage.
	Rules []string
}

// Output is Apply's answer. Reuse one Output across calls (a sync.Pool
// of them, say) and Apply allocates nothing in the steady state but the
// History callback.
type Output struct {
	Items []Result
	// Exhausted is set when the candidates ran out before N results.
	Exhausted bool
	// Excluded counts the candidates exclude rules removed; Capped those
	// diversity rules passed over.
	Excluded, Capped int

	names []string
	spans []span
}

type span struct{ lo, hi int32 }

// scratch is Apply's per-request working memory, pooled in Rules.
type scratch struct {
	work     []work
	excluded []int32
	applied  []uint16 // rule indices, spans of it per work item
	slots    []int32  // index into work, or -1
	counts   [][]uint32
	touched  [][]int32
	capping  []bool // per diversity rule of the scope: has passed over a candidate
}

type work struct {
	Candidate
	pos    int32 // in the request's candidates: the tie-break
	lo, hi int32 // span of scratch.applied
	out    bool  // excluded
	placed bool
	pinned bool
}

// Apply finishes one answer: it drops the candidates exclude rules cover,
// multiplies the scores of boost rules' items and re-sorts, places the
// pins, fills the other slots in order while respecting the diversity
// caps, and names the rules applied to each result. See the package
// documentation for the exact semantics. The answer is a function of the
// request alone: the same request always gets the same answer.
func (r *Rules) Apply(req ApplyRequest, out *Output) error {
	out.Items, out.names, out.spans = out.Items[:0], out.names[:0], out.spans[:0]
	out.Exhausted, out.Excluded, out.Capped = false, 0, 0
	if req.N < 0 {
		return fmt.Errorf("apply rules: n %d, want ≥ 0", req.N)
	}
	if req.Scope >= numScopes {
		return fmt.Errorf("apply rules: unknown scope %d", req.Scope)
	}
	for _, c := range req.Candidates {
		if c.Row < 0 || int(c.Row) >= r.rows {
			return fmt.Errorf("apply rules: candidate row %d outside the %d items the rules were compiled for", c.Row, r.rows)
		}
	}
	sc := r.pool.Get().(*scratch)
	defer r.pool.Put(sc)
	rs := &r.scope[req.Scope]

	// Exclusions: the rows the user's history keeps out, sorted.
	sc.excluded = sc.excluded[:0]
	if req.History != nil && len(rs.exclude) > 0 {
		req.History.Interactions(func(row int32, event string, at time.Time) bool {
			if row >= 0 && int(row) < r.rows && r.excludes(rs.exclude, row, event, at, req.Now) {
				sc.excluded = append(sc.excluded, row)
			}
			return true
		})
		slices.Sort(sc.excluded)
		sc.excluded = slices.Compact(sc.excluded)
	}
	isExcluded := func(row int32) bool {
		_, ok := slices.BinarySearch(sc.excluded, row)
		return ok
	}

	// Boosts.
	sc.work, sc.applied = sc.work[:0], sc.applied[:0]
	for k, c := range req.Candidates {
		w := work{Candidate: c, pos: int32(k)}
		w.lo = int32(len(sc.applied))
		if len(sc.excluded) > 0 && isExcluded(c.Row) {
			w.out = true
			out.Excluded++
		} else if len(rs.boost) > 0 {
			m := 1.0
			for _, i := range rs.boost {
				if rl := &r.rules[i]; rl.match.has(c.Row) {
					m *= rl.Multiplier
					sc.applied = append(sc.applied, uint16(i))
				}
			}
			if m != 1 {
				// Dividing a negative score keeps "above 1 raises".
				if s := float64(c.Score); s >= 0 {
					w.Score = float32(s * m)
				} else {
					w.Score = float32(s / m)
				}
			}
		}
		w.hi = int32(len(sc.applied))
		sc.work = append(sc.work, w)
	}
	// Re-sort each run of one source in which a multiplier applied; ties
	// keep the caller's order.
	if len(rs.boost) > 0 {
		for lo := 0; lo < len(sc.work); {
			hi, boosted := lo, false
			for hi < len(sc.work) && sc.work[hi].Source == sc.work[lo].Source {
				boosted = boosted || sc.work[hi].hi > sc.work[hi].lo
				hi++
			}
			if boosted {
				slices.SortFunc(sc.work[lo:hi], func(a, b work) int {
					if c := cmp.Compare(b.Score, a.Score); c != 0 {
						return c
					}
					return cmp.Compare(a.pos, b.pos)
				})
			}
			lo = hi
		}
	}

	// Diversity counters, per diversity rule of the scope.
	nd := len(rs.diversity)
	for len(sc.counts) < nd {
		sc.counts = append(sc.counts, nil)
		sc.touched = append(sc.touched, nil)
	}
	sc.capping = sc.capping[:0]
	for d, i := range rs.diversity {
		if len(sc.counts[d]) < r.rules[i].ngroup {
			sc.counts[d] = make([]uint32, r.rules[i].ngroup)
		}
		sc.touched[d] = sc.touched[d][:0]
		sc.capping = append(sc.capping, false)
	}
	defer func() {
		for d := 0; d < nd; d++ {
			for _, g := range sc.touched[d] {
				sc.counts[d][g] = 0
			}
		}
	}()
	count := func(row int32) {
		for d, i := range rs.diversity {
			if g := r.rules[i].groups[row]; g >= 0 {
				if sc.counts[d][g] == 0 {
					sc.touched[d] = append(sc.touched[d], g)
				}
				sc.counts[d][g]++
			}
		}
	}

	// Pins, first rule and first pin first.
	sc.slots = sc.slots[:0]
	for range req.N {
		sc.slots = append(sc.slots, -1)
	}
	for _, i := range rs.pin {
		rl := &r.rules[i]
		for j, p := range rl.Pins {
			row := rl.pins[j]
			if row < 0 || p.Slot > req.N || sc.slots[p.Slot-1] >= 0 || isExcluded(row) {
				continue
			}
			k := slices.IndexFunc(sc.work, func(w work) bool { return w.Row == row })
			switch {
			case k >= 0 && (sc.work[k].out || sc.work[k].pinned):
				continue
			case k < 0:
				if req.Eligible == nil || !req.Eligible(row) {
					continue
				}
				lo := int32(len(sc.applied))
				sc.work = append(sc.work, work{Candidate: Candidate{Row: row, Source: req.PinSource}, lo: lo, hi: lo, out: true})
				k = len(sc.work) - 1
			}
			w := &sc.work[k]
			w.pinned, w.placed = true, true
			appendRule(sc, w, i)
			sc.slots[p.Slot-1] = int32(k)
			count(row)
		}
	}

	// Fill the free slots in order, respecting the caps.
	next := 0
	for k := range sc.work {
		for next < req.N && sc.slots[next] >= 0 {
			next++
		}
		if next == req.N {
			break
		}
		w := &sc.work[k]
		if w.out || w.placed {
			continue
		}
		capped := false
		for d, i := range rs.diversity {
			rl := &r.rules[i]
			if g := rl.groups[w.Row]; g >= 0 && int(sc.counts[d][g]) >= rl.Max {
				capped = true
				sc.capping[d] = true
			}
		}
		if capped {
			out.Capped++
			continue
		}
		// Diversity rules that passed over a candidate ahead of this one
		// gave it its place.
		for d, i := range rs.diversity {
			if sc.capping[d] {
				appendRule(sc, w, i)
			}
		}
		w.placed = true
		count(w.Row)
		sc.slots[next] = int32(k)
		next++
	}

	// The answer: the filled slots in order, empty ones closed up.
	for _, k := range sc.slots {
		if k < 0 {
			continue
		}
		w := &sc.work[k]
		lo := int32(len(out.names))
		slices.Sort(sc.applied[w.lo:w.hi])
		for _, i := range sc.applied[w.lo:w.hi] {
			out.names = append(out.names, r.rules[i].Name)
		}
		out.spans = append(out.spans, span{lo, int32(len(out.names))})
		out.Items = append(out.Items, Result{Candidate: w.Candidate, Pinned: w.pinned})
	}
	for j := range out.Items {
		s := out.spans[j]
		if s.hi > s.lo {
			out.Items[j].Rules = out.names[s.lo:s.hi:s.hi]
		} else {
			out.Items[j].Rules = nil
		}
	}
	out.Exhausted = len(out.Items) < req.N
	return nil
}

// appendRule adds rule i to w's applied rules, moving w's span to the end
// of sc.applied first when another span follows it.
func appendRule(sc *scratch, w *work, i int) {
	if int(w.hi) != len(sc.applied) {
		lo := int32(len(sc.applied))
		sc.applied = append(sc.applied, sc.applied[w.lo:w.hi]...)
		w.lo = lo
	}
	sc.applied = append(sc.applied, uint16(i))
	w.hi = int32(len(sc.applied))
}
