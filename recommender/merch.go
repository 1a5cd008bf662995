package recommender

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/polecam/polecam/recommender/rules"
	"github.com/polecam/polecam/store"
)

// RulesSource gives the merchandising rules compiled for a model's
// catalogue; *rules.Watcher implements it, re-reading the rules file
// when it changes.
type RulesSource interface {
	For(items rules.Items) *rules.Rules
}

var _ RulesSource = (*rules.Watcher)(nil)

// SourcePinned: put into its slot by a merchandising rule.
const SourcePinned Source = 7

// ruleItems is a Model's catalogue as package rules reads it. A Model has
// one for its life, so a RulesSource can key its compiled rules by it.
type ruleItems struct{ m *Model }

var _ rules.Items = (*ruleItems)(nil)

func (it *ruleItems) Len() int { return it.m.n }

func (it *ruleItems) Row(id string) (int32, bool) {
	i, ok, err := it.m.snap.ItemIndex(id)
	return i, ok && err == nil
}

func (it *ruleItems) Category(row int32) string {
	if it.m.cat == nil {
		return ""
	}
	if c := it.m.cat.ItemCategory(row); c >= 0 {
		return strings.Clone(it.m.cat.CategoryName(c)) // compiled rules may outlive the mapping
	}
	return ""
}

func (it *ruleItems) Attribute(row int32, name string) (string, bool) {
	if it.m.cat == nil {
		return "", false
	}
	a, ok := it.m.cat.LookupAttribute(name)
	if !ok {
		return "", false
	}
	v, ok := a.Value(row)
	return strings.Clone(v), ok
}

// requestHistory is the request's interactions as package rules reads a
// history: every session item a view, now, and the trained user's latest
// event of each kind with each training item, at its time.
type requestHistory struct {
	session []int32
	now     time.Time
	events  []store.SeenEvent
	kinds   []string
}

func (h *requestHistory) Interactions(yield func(row int32, event string, at time.Time) bool) {
	for _, i := range h.session {
		if !yield(i, "view", h.now) {
			return
		}
	}
	for _, e := range h.events {
		if !yield(e.Item, h.kinds[e.Kind], time.Unix(int64(e.At), 0)) {
			return
		}
	}
}

// blockSeen blocks the user's trained items (sc.seen), but for those the
// request's exclusion windows let back (see rules.Rules.Readmits), which
// it records in sc.readmitted.
func (m *Model) blockSeen(sc *scratch) {
	rl := sc.rules
	if rl == nil || len(sc.events) == 0 || !rl.HasWindows(sc.scope) {
		sc.blocked = append(sc.blocked, sc.seen...)
		return
	}
	now := m.now()
	ev := sc.events // ascending by item, as sc.seen
	for _, i := range sc.seen {
		for len(ev) > 0 && ev[0].Item < i {
			ev = ev[1:]
		}
		k := 0
		for k < len(ev) && ev[k].Item == i {
			k++
		}
		mine := ev[:k]
		lo := len(sc.readmitNames)
		var ok bool
		sc.readmitNames, ok = rl.Readmits(sc.scope, i, func(yield func(string, time.Time) bool) {
			for _, e := range mine {
				if !yield(m.eventKinds[e.Kind], time.Unix(int64(e.At), 0)) {
					return
				}
			}
		}, now, sc.readmitNames)
		if ok {
			sc.readmitted = append(sc.readmitted, readmitted{row: i, lo: int32(lo), hi: int32(len(sc.readmitNames))})
		} else {
			sc.blocked = append(sc.blocked, i)
		}
	}
}

// readmitRules returns the names of the rules that let row back in, or
// nil when it was not readmitted.
func (sc *scratch) readmitRules(row int32) []string {
	k, ok := slices.BinarySearchFunc(sc.readmitted, row, func(r readmitted, row int32) int { return cmp.Compare(r.row, row) })
	if !ok {
		return nil
	}
	r := sc.readmitted[k]
	return sc.readmitNames[r.lo:r.hi:r.hi]
}

// rulesFor returns the rules to apply to a query of scope, or nil.
func (m *Model) rulesFor(src RulesSource) *rules.Rules {
	if src == nil {
		return nil
	}
	return src.For(m.ruleItems)
}

// applyRules hands sc.picks (the ranked candidates, fetched deeper as
// rl.Candidates asked) to the merchandising rules and leaves their answer
// of at most n items in sc.picks, every item in tier 0 (pages are then cut
// by position) with the names of the rules applied to it.
func (m *Model) applyRules(sc *scratch, rl *rules.Rules, scope rules.Scope, n int) error {
	sc.rcands = sc.rcands[:0]
	from := make(map[int32]int32, len(sc.picks))
	for _, p := range sc.picks {
		sc.rcands = append(sc.rcands, rules.Candidate{Row: p.Index, Score: p.Score, Source: int8(p.src)})
		if p.from >= 0 {
			from[p.Index] = p.from
		}
	}
	hist := &requestHistory{session: sc.session, now: m.now(), events: sc.events, kinds: m.eventKinds}
	eligible := func(r int32) bool { return r >= 0 && int(r) < m.n && m.allowed(sc, r) }
	if scope == rules.ScopeRank {
		eligible = nil // Rank orders the caller's candidates, no others
	}
	err := rl.Apply(rules.ApplyRequest{
		Scope:      scope,
		N:          n,
		Candidates: sc.rcands,
		History:    hist,
		Now:        hist.now,
		Eligible:   eligible,
		PinSource:  int8(SourcePinned),
	}, &sc.rout)
	if err != nil {
		return err
	}
	sc.picks = sc.picks[:0]
	for _, r := range sc.rout.Items {
		f, ok := from[r.Row]
		if !ok {
			f = -1
		}
		names := r.Rules
		if back := sc.readmitRules(r.Row); back != nil {
			// The exclusion windows that let a trained item back count
			// as rules applied to it.
			names = append(slices.Clip(back), r.Rules...)
		}
		sc.picks = append(sc.picks, pick{candidate: candidate{Index: r.Row, Score: r.Score}, src: Source(r.Source), from: f, rules: names})
	}
	return nil
}

// RuledPageDepth is how deep the pages of a query under merchandising
// rules go. Rules reorder by more than the score (boosts pull items up
// from deep in the ranking, diversity skips some), so a ruled answer is
// computed over the same candidates whatever the page: the best
// rules.Candidates(RuledPageDepth) of the ranking. A request for more
// than RuledPageDepth items gets its answer over MaxPageDepth instead,
// and no further page.
const RuledPageDepth = 200

// ruledDepth is the depth a ruled answer is computed to for a request
// that needs depth items.
func ruledDepth(depth int) int {
	if depth <= RuledPageDepth {
		return RuledPageDepth
	}
	return MaxPageDepth
}
