package recommender

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
)

// Filter restricts the items an answer may contain. An item passes when
// its category is one of Categories (when any are given; a category
// matches itself and its sub-categories, "shoes" matches "shoes/running"),
// is none of ExcludeCategories (with their sub-categories), and every
// attribute condition holds. The zero Filter passes every item.
//
// A category the catalogue does not know matches no item. An attribute
// the catalogue does not have, or a malformed condition, fails the request
// with ErrInvalidArgument naming the condition. Filters need the
// snapshot's catalogue; a non-empty filter on a model without one fails
// with ErrInvalidArgument.
type Filter struct {
	Categories        []string
	ExcludeCategories []string
	Attributes        []AttributeCondition
}

// IsZero reports whether f passes every item.
func (f Filter) IsZero() bool {
	return len(f.Categories) == 0 && len(f.ExcludeCategories) == 0 && len(f.Attributes) == 0
}

// ConditionOp says how an AttributeCondition compares.
type ConditionOp uint8

const (
	// OpUnspecified is a condition without a comparison: invalid.
	OpUnspecified ConditionOp = iota
	// OpEquals: the value is exactly Value.
	OpEquals
	// OpNotEquals: the value is missing or differs from Value.
	OpNotEquals
	// OpAnyOf: the value is one of Values.
	OpAnyOf
	// OpRange: the value is a number in [Min, Max]; a nil bound is open.
	OpRange
)

// AttributeCondition is one condition on a catalogue attribute. An item
// without a value for the attribute fails every condition but
// OpNotEquals.
type AttributeCondition struct {
	Name     string
	Op       ConditionOp
	Value    string   // OpEquals, OpNotEquals
	Values   []string // OpAnyOf
	Min, Max *float64 // OpRange
}

// String describes the condition as a person would write it, for error
// messages.
func (c AttributeCondition) String() string {
	switch c.Op {
	case OpEquals:
		return fmt.Sprintf("%s = %q", c.Name, c.Value)
	case OpNotEquals:
		return fmt.Sprintf("%s != %q", c.Name, c.Value)
	case OpAnyOf:
		return fmt.Sprintf("%s in %q", c.Name, c.Values)
	case OpRange:
		lo, hi := "-inf", "+inf"
		if c.Min != nil {
			lo = fmt.Sprint(*c.Min)
		}
		if c.Max != nil {
			hi = fmt.Sprint(*c.Max)
		}
		return fmt.Sprintf("%s in [%s, %s]", c.Name, lo, hi)
	default:
		return fmt.Sprintf("%s (no comparison)", c.Name)
	}
}

// Filter limits, so that one request cannot make the server build
// unbounded lists.
const (
	MaxFilterCategories = 1000
	MaxFilterConditions = 100
	MaxFilterValues     = 1000
)

// ItemCatalog is what filters, attributes and category rules read from a
// snapshot's catalogue; the store's mapped catalogue implements it (see
// storeCatalog). Every slice returned is ascending and never written.
type ItemCatalog interface {
	CategoryIndex(name string) (int32, bool)
	CategoryName(cat int32) string
	// ItemCategory is -1 for an item without a category.
	ItemCategory(row int32) int32
	// CategoryRows are the rows of the category and its sub-categories.
	CategoryRows(cat int32) []int32
	// LookupAttribute returns the named attribute column.
	LookupAttribute(name string) (CatalogAttribute, bool)
	// Unavailable are the rows that cannot be sold now (in_stock false).
	Unavailable() []int32
}

// CatalogAttribute is one attribute column of a catalogue.
type CatalogAttribute interface {
	Value(row int32) (string, bool)
	ValueCode(value string) (uint32, bool)
	Code(row int32) uint32
	ValueRows(code uint32) []int32
	Numeric() bool
	Number(row int32) (float64, bool)
	// RowsInRange are the rows with a value in [min, max], ascending by
	// row.
	RowsInRange(min, max float64) []int32
}

// rowSet is a compiled filter: the items of the catalogue that pass it.
// bits has one bit per item; rows lists the passing items, ascending, when
// the filter had a condition that enumerates them (listed), so a scan can
// visit just those.
type rowSet struct {
	bits   []uint64
	rows   []int32
	count  int
	listed bool
	// blocks is set when the filter names categories and the model has
	// category blocks: the passing rows are all within ranges, which
	// hold rangeRows positions.
	blocks    bool
	ranges    []posRange
	rangeRows int

	tmp, tmp2 []int32 // working lists
}

// has reports whether item i passes.
func (s *rowSet) has(i int32) bool { return s.bits[i>>6]&(1<<(uint(i)&63)) != 0 }

// compileFilter compiles f for this model's catalogue into sc.rs and
// returns it, or nil when f passes every item.
func (m *Model) compileFilter(sc *scratch, f Filter) (*rowSet, error) {
	if f.IsZero() {
		return nil, nil
	}
	if m.cat == nil {
		return nil, fmt.Errorf("%w: model version %s has no catalogue, so it cannot filter (train with --catalog)", ErrInvalidArgument, m.version)
	}
	if len(f.Categories)+len(f.ExcludeCategories) > MaxFilterCategories {
		return nil, fmt.Errorf("%w: a filter may name at most %d categories", ErrInvalidArgument, MaxFilterCategories)
	}
	if len(f.Attributes) > MaxFilterConditions {
		return nil, fmt.Errorf("%w: a filter may have at most %d attribute conditions", ErrInvalidArgument, MaxFilterConditions)
	}
	rs := &sc.rs
	words := (m.n + 63) / 64
	if cap(rs.bits) < words {
		rs.bits = make([]uint64, words)
	}
	rs.bits = rs.bits[:words]
	rs.rows, rs.listed = rs.rows[:0], false
	rs.blocks, rs.ranges, rs.rangeRows = false, rs.ranges[:0], 0

	// Validate every condition and find the positive lists first.
	type negative struct {
		rows []int32
	}
	var (
		lists [8][]int32 // small-request fast path; more go to extra
		nl    int
		extra [][]int32
		neg   [8]negative
		nn    int
		negX  []negative
	)
	addList := func(l []int32) {
		if nl < len(lists) {
			lists[nl] = l
			nl++
		} else {
			extra = append(extra, l)
		}
	}
	addNeg := func(l []int32) {
		if nn < len(neg) {
			neg[nn] = negative{l}
			nn++
		} else {
			negX = append(negX, negative{l})
		}
	}
	if len(f.Categories) > 0 {
		addList(m.unionCategories(&rs.tmp, f.Categories))
		if cb := m.catBlocks; cb != nil {
			for _, name := range f.Categories {
				if c := normCategory(name); c != "" {
					if _, ok := m.cat.CategoryIndex(c); ok {
						rs.ranges = append(rs.ranges, cb.subtree(c))
					}
				}
			}
			rs.ranges, rs.rangeRows = mergeRanges(rs.ranges)
			rs.blocks = true
		}
	}
	for _, c := range f.ExcludeCategories {
		if cat, ok := m.cat.CategoryIndex(normCategory(c)); ok {
			addNeg(m.cat.CategoryRows(cat))
		}
	}
	for i, c := range f.Attributes {
		if c.Name == "" {
			return nil, fmt.Errorf("%w: filter attribute condition %d has no name", ErrInvalidArgument, i+1)
		}
		a, ok := m.cat.LookupAttribute(c.Name)
		if !ok {
			return nil, fmt.Errorf("%w: filter condition %s: the catalogue of model version %s has no attribute %q", ErrInvalidArgument, c, m.version, c.Name)
		}
		switch c.Op {
		case OpEquals:
			code, ok := a.ValueCode(c.Value)
			if !ok {
				addList(nil)
				continue
			}
			addList(a.ValueRows(code))
		case OpNotEquals:
			if code, ok := a.ValueCode(c.Value); ok {
				addNeg(a.ValueRows(code))
			}
		case OpAnyOf:
			if len(c.Values) == 0 {
				return nil, fmt.Errorf("%w: filter condition %s: any_of needs at least one value", ErrInvalidArgument, c)
			}
			if len(c.Values) > MaxFilterValues {
				return nil, fmt.Errorf("%w: filter condition on %q: any_of may list at most %d values", ErrInvalidArgument, c.Name, MaxFilterValues)
			}
			u := rs.tmp2[:0]
			for _, v := range c.Values {
				if code, ok := a.ValueCode(v); ok {
					u = append(u, a.ValueRows(code)...)
				}
			}
			slices.Sort(u)
			u = slices.Compact(u)
			rs.tmp2 = u
			// The union must survive the next any_of: copy it out unless
			// it is the only one.
			addList(slices.Clone(u))
		case OpRange:
			if !a.Numeric() {
				return nil, fmt.Errorf("%w: filter condition %s: attribute %q is not numeric", ErrInvalidArgument, c, c.Name)
			}
			lo, hi := math.Inf(-1), math.Inf(1)
			if c.Min != nil {
				lo = *c.Min
			}
			if c.Max != nil {
				hi = *c.Max
			}
			if math.IsNaN(lo) || math.IsNaN(hi) || lo > hi {
				return nil, fmt.Errorf("%w: filter condition %s: the range is empty or not a number", ErrInvalidArgument, c)
			}
			addList(a.RowsInRange(lo, hi))
		default:
			return nil, fmt.Errorf("%w: filter condition on %q has no comparison (equals, not_equals, any_of or range)", ErrInvalidArgument, c.Name)
		}
	}

	all := append(lists[:nl:nl], extra...)
	negs := append(neg[:nn:nn], negX...)
	if len(all) > 0 {
		// Intersect the positive lists, smallest first, then drop the
		// negative ones.
		slices.SortFunc(all, func(a, b []int32) int { return len(a) - len(b) })
		rows := append(rs.rows[:0], all[0]...)
		for _, l := range all[1:] {
			rows = intersectSorted(rows, l)
		}
		for _, ng := range negs {
			rows = subtractSorted(rows, ng.rows)
		}
		clear(rs.bits)
		for _, r := range rows {
			if r >= 0 && int(r) < m.n {
				rs.bits[r>>6] |= 1 << (uint(r) & 63)
			}
		}
		rs.rows, rs.listed, rs.count = rows, true, len(rows)
		return rs, nil
	}
	// Only negative conditions: start from every item.
	for i := range rs.bits {
		rs.bits[i] = ^uint64(0)
	}
	if tail := m.n & 63; tail != 0 {
		rs.bits[words-1] = 1<<uint(tail) - 1
	}
	for _, ng := range negs {
		for _, r := range ng.rows {
			if r >= 0 && int(r) < m.n {
				rs.bits[r>>6] &^= 1 << (uint(r) & 63)
			}
		}
	}
	rs.count = 0
	for _, w := range rs.bits {
		rs.count += bits.OnesCount64(w)
	}
	return rs, nil
}

// unionCategories returns the rows of every named category, ascending:
// the catalogue's own list for one category, or their union in *buf.
func (m *Model) unionCategories(buf *[]int32, names []string) []int32 {
	var first []int32
	n := 0
	u := (*buf)[:0]
	for _, name := range names {
		cat, ok := m.cat.CategoryIndex(normCategory(name))
		if !ok {
			continue
		}
		rows := m.cat.CategoryRows(cat)
		switch n++; n {
		case 1:
			first = rows
			continue
		case 2:
			u = append(u, first...)
		}
		u = append(u, rows...)
	}
	if n < 2 {
		return first // sorted and unique; aliases the catalogue
	}
	slices.Sort(u)
	u = slices.Compact(u)
	*buf = u
	return u
}

// normCategory trims the slashes and spaces callers may leave around a
// category path.
func normCategory(s string) string { return strings.Trim(strings.TrimSpace(s), "/") }

// intersectSorted returns the elements of a also in b, written over a.
func intersectSorted(a, b []int32) []int32 {
	out := a[:0]
	j := 0
	for _, x := range a {
		for j < len(b) && b[j] < x {
			j++
		}
		if j < len(b) && b[j] == x {
			out = append(out, x)
		}
	}
	return out
}

// subtractSorted returns the elements of a not in b, written over a.
func subtractSorted(a, b []int32) []int32 {
	out := a[:0]
	j := 0
	for _, x := range a {
		for j < len(b) && b[j] < x {
			j++
		}
		if j >= len(b) || b[j] != x {
			out = append(out, x)
		}
	}
	return out
}
