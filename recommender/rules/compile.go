package rules

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// OverFetch is how many candidates per result a caller hands [Rules.Apply]
// when boost, diversity or exclude rules apply to the request: boosted
// items from below the n-th place can rise into the answer, and capped or
// excluded ones are replaced by the next candidates. See
// [Rules.Candidates].
const OverFetch = 3

// Items is the catalogue side of the rules: what the recommender's
// snapshot catalogue can say about an item row. Rows are 0..Len()-1.
// Implementations used with a [Watcher] should be comparable (a pointer,
// say): the Watcher keys its compiled rules by the Items value.
type Items interface {
	// Len is the number of item rows.
	Len() int
	// Row returns the row of an item id.
	Row(id string) (int32, bool)
	// Category returns the row's category path ("shoes/running"), or "".
	Category(row int32) string
	// Attribute returns the row's value of the named attribute.
	Attribute(row int32, name string) (string, bool)
}

// Rules is a [File] compiled against one [Items]: each rule's matching
// items are a bitset over the rows, each diversity rule's categories a
// group number per row, each pin an item row. It is immutable and safe
// for concurrent use; a new model (new Items) needs a new Compile.
type Rules struct {
	file     *File
	items    Items
	rows     int
	rules    []compiled
	scope    [numScopes]scoped
	warnings []string
	pool     sync.Pool // of *scratch
}

type compiled struct {
	*Rule
	match  bitset  // boost and exclude rules
	pins   []int32 // pin rules: row of Pins[i], -1 when unknown
	groups []int32 // diversity rules: group of each row, -1 without category
	ngroup int
}

// scoped lists the rules of one scope by kind, in file order.
type scoped struct {
	boost, pin, diversity, exclude []int
}

type bitset []uint64

func (b bitset) has(row int32) bool { return b[row>>6]&(1<<(uint(row)&63)) != 0 }
func (b bitset) set(row int32)      { b[row>>6] |= 1 << (uint(row) & 63) }

// Compile compiles f against items. It costs one pass over the rows per
// rule with a condition or a diversity cap; do it when the rules or the
// model change, not per request. Compile never fails on the catalogue's
// content: a condition no item matches, an attribute no item has or a
// pinned id the catalogue lacks is reported by [Rules.Warnings], and the
// rule matches nothing (or skips that pin).
func Compile(f *File, items Items) *Rules {
	n := items.Len()
	r := &Rules{file: f, items: items, rows: n, rules: make([]compiled, len(f.Rules))}
	groupsByDepth := map[int]struct {
		g []int32
		n int
	}{}
	for i := range f.Rules {
		rule := &f.Rules[i]
		c := compiled{Rule: rule}
		switch rule.Kind {
		case KindBoost, KindExclude:
			c.match = r.compileMatch(rule, items)
		case KindPin:
			c.pins = make([]int32, len(rule.Pins))
			for j, p := range rule.Pins {
				row, ok := items.Row(p.Item)
				if !ok || row < 0 || int(row) >= n {
					r.warnf(rule, "pin[%d]: item %q is not in the catalogue; skipped", j, p.Item)
					row = -1
				}
				c.pins[j] = row
			}
		case KindDiversity:
			g, ok := groupsByDepth[rule.Depth]
			if !ok {
				g.g, g.n = categoryGroups(items, rule.Depth)
				groupsByDepth[rule.Depth] = g
			}
			c.groups, c.ngroup = g.g, g.n
		}
		r.rules[i] = c
		for s := Scope(0); s < numScopes; s++ {
			if !rule.Scopes.Has(s) {
				continue
			}
			sc := &r.scope[s]
			switch rule.Kind {
			case KindBoost:
				sc.boost = append(sc.boost, i)
			case KindPin:
				sc.pin = append(sc.pin, i)
			case KindDiversity:
				sc.diversity = append(sc.diversity, i)
			case KindExclude:
				sc.exclude = append(sc.exclude, i)
			}
		}
	}
	r.pool.New = func() any { return new(scratch) }
	return r
}

func (r *Rules) warnf(rule *Rule, format string, args ...any) {
	r.warnings = append(r.warnings, fmt.Sprintf("%s:%d: rule %q: ", r.file.Path, rule.Line, rule.Name)+fmt.Sprintf(format, args...))
}

func (r *Rules) compileMatch(rule *Rule, items Items) bitset {
	b := make(bitset, (r.rows+63)/64)
	cond := &rule.Match
	seen := make([]bool, len(cond.Attributes))
	count := 0
	for row := int32(0); int(row) < r.rows; row++ {
		if cond.matches(items, row, seen) {
			b.set(row)
			count++
		}
	}
	field := "match"
	if rule.Kind == KindBoost {
		field = "boost.match"
	} else {
		field = "exclude.match"
	}
	for i, a := range cond.Attributes {
		if !seen[i] {
			r.warnf(rule, "%s.attributes[%d]: no item has the attribute %q", field, i, a.Name)
		}
	}
	if count == 0 && r.rows > 0 {
		r.warnf(rule, "%s: matches no item", field)
	}
	return b
}

// matches reports whether row satisfies c; seen[i] is set when the row
// has the attribute of c.Attributes[i].
func (c *Condition) matches(items Items, row int32, seen []bool) bool {
	ok := true
	if len(c.Categories) > 0 || len(c.ExcludeCategories) > 0 {
		cat := items.Category(row)
		if len(c.Categories) > 0 && !inCategories(cat, c.Categories) {
			ok = false
		}
		if ok && inCategories(cat, c.ExcludeCategories) {
			ok = false
		}
	}
	// Every attribute is looked at even after a failure, for seen.
	for i := range c.Attributes {
		a := &c.Attributes[i]
		v, has := items.Attribute(row, a.Name)
		if has {
			seen[i] = true
		}
		if ok && !a.holds(v, has) {
			ok = false
		}
	}
	return ok
}

// inCategories reports whether cat is one of cats or below one of them:
// "shoes" holds "shoes" and "shoes/running", not "shoestring".
func inCategories(cat string, cats []string) bool {
	for _, c := range cats {
		if strings.HasPrefix(cat, c) && (len(cat) == len(c) || cat[len(c)] == '/') {
			return true
		}
	}
	return false
}

func (a *AttributeCondition) holds(v string, has bool) bool {
	switch a.Op {
	case OpEquals:
		return has && v == a.Value
	case OpNotEquals:
		return !has || v != a.Value
	case OpAnyOf:
		return has && contains(a.Values, v)
	case OpRange:
		if !has {
			return false
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f != f {
			return false
		}
		return (!a.HasMin || f >= a.Min) && (!a.HasMax || f <= a.Max)
	}
	return false
}

// categoryGroups numbers the distinct category prefixes of depth levels,
// in row order of first appearance.
func categoryGroups(items Items, depth int) ([]int32, int) {
	n := items.Len()
	g := make([]int32, n)
	ids := map[string]int32{}
	for row := int32(0); int(row) < n; row++ {
		key := categoryPrefix(items.Category(row), depth)
		if key == "" {
			g[row] = -1
			continue
		}
		id, ok := ids[key]
		if !ok {
			id = int32(len(ids))
			ids[key] = id
		}
		g[row] = id
	}
	return g, len(ids)
}

// categoryPrefix returns the first depth levels of cat.
func categoryPrefix(cat string, depth int) string {
	cat = strings.Trim(cat, "/")
	i := 0
	for level := 0; level < depth; level++ {
		j := strings.IndexByte(cat[i:], '/')
		if j < 0 {
			return cat
		}
		i += j + 1
	}
	return cat[:i-1]
}

// File returns the rules file r was compiled from.
func (r *Rules) File() *File { return r.file }

// Items returns the catalogue r was compiled against.
func (r *Rules) Items() Items { return r.items }

// Warnings returns what Compile found suspicious (rules matching nothing,
// unknown pinned ids), one line each, with the file and line of the rule.
func (r *Rules) Warnings() []string { return r.warnings }

// Candidates returns how many candidates a caller should rank and hand
// Apply for an answer of n in scope: n×[OverFetch] when a boost,
// diversity or exclude rule applies to the scope, n otherwise (pins only
// take slots, so they need no more).
func (r *Rules) Candidates(scope Scope, n int) int {
	if scope >= numScopes {
		return n
	}
	s := &r.scope[scope]
	if len(s.boost)+len(s.diversity)+len(s.exclude) == 0 {
		return n
	}
	return n * OverFetch
}

// excluded reports, for the first exclude rule of scope that covers an
// interaction of event with row, whether the interaction at at still
// excludes the row at now.
func (r *Rules) excludes(rules []int, row int32, event string, at, now time.Time) bool {
	for _, i := range rules {
		c := &r.rules[i]
		if !c.match.has(row) || !hasEvent(c.Events, event) {
			continue
		}
		return c.Forever || now.Before(at.Add(c.Window))
	}
	return false
}

// HasWindows reports whether an exclude rule of scope has a window (is
// not forever): only then can [Rules.Readmits] let an item back in.
func (r *Rules) HasWindows(scope Scope) bool {
	if scope >= numScopes {
		return false
	}
	for _, i := range r.scope[scope].exclude {
		if !r.rules[i].Forever {
			return true
		}
	}
	return false
}

// Readmits reports whether the exclude rules of scope let back in, at now,
// an item the recommender would otherwise leave out because the user
// interacted with it (a trained item): when every one of the item's
// interactions, each an event type and a time, is covered by an exclude
// rule of the scope (the first in file order whose events hold the event
// type and whose match holds the row, as for Apply) and that rule's window
// after the interaction has passed. An item without interactions, with
// one that no rule covers, or with one a rule still excludes (forever or
// within its window) is not readmitted. The names of the rules whose
// windows let it back are appended to names (for explain), in file order,
// each once; names is returned unchanged when the item is not readmitted.
func (r *Rules) Readmits(scope Scope, row int32, interactions func(yield func(event string, at time.Time) bool), now time.Time, names []string) ([]string, bool) {
	if scope >= numScopes || row < 0 || int(row) >= r.rows {
		return names, false
	}
	rs := r.scope[scope].exclude
	if len(rs) == 0 {
		return names, false
	}
	var used uint64 // bit k: rs[k] decided an interaction (the first 64 rules)
	any, ok := false, true
	interactions(func(event string, at time.Time) bool {
		any = true
		for k, i := range rs {
			c := &r.rules[i]
			if !c.match.has(row) || !hasEvent(c.Events, event) {
				continue
			}
			if c.Forever || now.Before(at.Add(c.Window)) {
				ok = false
				return false
			}
			if k < 64 {
				used |= 1 << k
			}
			return true
		}
		ok = false // no rule covers it: the recommender's own rule stands
		return false
	})
	if !any || !ok {
		return names, false
	}
	for k, i := range rs {
		if k < 64 && used&(1<<k) != 0 {
			names = append(names, r.rules[i].Name)
		}
	}
	return names, true
}

func hasEvent(events []string, event string) bool {
	for _, e := range events {
		if strings.EqualFold(e, event) {
			return true
		}
	}
	return false
}
