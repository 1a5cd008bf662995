package recommender

import (
	"strings"
	"time"

	"github.com/polecam/polecam/recommender/rules"
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

// sessionHistory is the request's session as package rules reads a
// history: every session item a view, now. (The snapshot does not keep
// the trained interactions' times; see package rules.)
type sessionHistory struct {
	items []int32
	now   time.Time
}

func (h *sessionHistory) Interactions(yield func(row int32, event string, at time.Time) bool) {
	for _, i := range h.items {
		if !yield(i, "view", h.now) {
			return
		}
	}
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
	hist := &sessionHistory{items: sc.session, now: time.Now()}
	err := rl.Apply(rules.ApplyRequest{
		Scope:      scope,
		N:          n,
		Candidates: sc.rcands,
		History:    hist,
		Now:        hist.now,
		Eligible:   func(r int32) bool { return r >= 0 && int(r) < m.n && m.allowed(sc, r) },
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
		sc.picks = append(sc.picks, pick{candidate: candidate{Index: r.Row, Score: r.Score}, src: Source(r.Source), from: f, rules: r.Rules})
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
