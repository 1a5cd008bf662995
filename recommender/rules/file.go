package rules

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// MaxFileSize is the largest rules file Load and Watch read.
const MaxFileSize = 1 << 20

// MaxRules is the most rules a file may hold.
const MaxRules = 10000

// Kind says what a rule does.
type Kind uint8

const (
	// KindBoost multiplies the scores of matching items.
	KindBoost Kind = iota + 1
	// KindPin puts items into fixed slots.
	KindPin
	// KindDiversity caps the results of one category.
	KindDiversity
	// KindExclude keeps items the user interacted with out for a time.
	KindExclude
)

var kindNames = [...]string{KindBoost: "boost", KindPin: "pin", KindDiversity: "diversity", KindExclude: "exclude"}

// String returns the kind's key in a rules file.
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// MarshalText returns the kind's name.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Scope is the request kind (the RPC) a rule applies to.
type Scope uint8

// The scopes, one per RPC: Recommend, SimilarItems, RecommendForBasket,
// Trending and Rank.
const (
	ScopeRecommend Scope = iota
	ScopeSimilar
	ScopeBasket
	ScopeTrending
	ScopeRank
	numScopes
)

var scopeNames = [numScopes]string{"recommend", "similar", "basket", "trending", "rank"}

// String returns the scope's name in a rules file.
func (s Scope) String() string {
	if s < numScopes {
		return scopeNames[s]
	}
	return fmt.Sprintf("Scope(%d)", uint8(s))
}

// Scopes is a set of scopes.
type Scopes uint8

// AllScopes holds every scope; a rule without a scope list has it.
const AllScopes = Scopes(1<<numScopes - 1)

// Has reports whether s holds scope.
func (s Scopes) Has(scope Scope) bool { return scope < numScopes && s&(1<<scope) != 0 }

// String lists the scopes' names, comma-separated.
func (s Scopes) String() string {
	var names []string
	for sc := Scope(0); sc < numScopes; sc++ {
		if s.Has(sc) {
			names = append(names, sc.String())
		}
	}
	return strings.Join(names, ",")
}

// MarshalText returns String.
func (s Scopes) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Op is the test of an attribute condition.
type Op uint8

const (
	OpEquals    Op = iota + 1 // the value is Value
	OpNotEquals               // the item lacks the attribute or its value is not Value
	OpAnyOf                   // the value is one of Values
	OpRange                   // the value is a number within [Min, Max]
)

// AttributeCondition is one test of an item attribute, as in the API's
// ItemFilter.
type AttributeCondition struct {
	Name   string
	Op     Op
	Value  string   // OpEquals, OpNotEquals
	Values []string // OpAnyOf
	// OpRange: the bounds that are set, both inclusive.
	HasMin, HasMax bool
	Min, Max       float64
}

// Condition selects items, as the API's ItemFilter does: an item matches
// when its category is one of Categories or below one (when any are given),
// is not one of ExcludeCategories or below one, and every attribute
// condition holds. The empty condition matches every item.
type Condition struct {
	Categories        []string
	ExcludeCategories []string
	Attributes        []AttributeCondition
}

// Pin is one item placed into one slot (1-based) of an answer.
type Pin struct {
	Item string
	Slot int
}

// Rule is one validated rule of a file. The fields of the other kinds are
// zero.
type Rule struct {
	Name   string
	Kind   Kind
	Scopes Scopes
	Line   int // of the rule in its file

	// Match selects the items of boost and exclude rules.
	Match Condition

	// Multiplier is a boost rule's factor: above 1 boosts, below 1 buries.
	Multiplier float64

	// Pins are a pin rule's items, in file order.
	Pins []Pin

	// Depth and Max: a diversity rule lets at most Max results share the
	// first Depth levels of their category.
	Depth, Max int

	// Events (lower case), Forever and Window: an exclude rule keeps an
	// item the user had one of Events with out of the results forever or
	// until Window after the event.
	Events  []string
	Forever bool
	Window  time.Duration
}

// File is a parsed and validated rules file.
type File struct {
	Path  string
	Rules []Rule
}

// Problem is one thing wrong in a rules file. Load and Parse return all the
// problems of a file joined with errors.Join; errors.As finds the first.
type Problem struct {
	File     string
	Line     int    // 0 when unknown
	Rule     int    // 1-based index of the rule; 0 outside any rule
	RuleName string // "" when the rule has none (yet)
	Field    string // the field's path within the rule or file, e.g. "boost.match.attributes[2].range"
	Msg      string
}

func (p *Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	if p.Rule > 0 {
		fmt.Fprintf(&b, ": rule %d", p.Rule)
		if p.RuleName != "" {
			fmt.Fprintf(&b, " %q", p.RuleName)
		}
	}
	if p.Field != "" {
		b.WriteString(": ")
		b.WriteString(p.Field)
	}
	b.WriteString(": ")
	b.WriteString(p.Msg)
	return b.String()
}

// Load reads and validates the rules file at path.
func Load(path string) (*File, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read rules: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read rules: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("read rules %s: larger than %d bytes", path, MaxFileSize)
	}
	return data, nil
}

// Parse validates data, the contents of the rules file name (used in
// messages only), YAML or JSON.
func Parse(name string, data []byte) (*File, error) {
	p := &parser{file: name}
	if len(data) > MaxFileSize {
		p.add(0, "", "the file is larger than %d bytes", MaxFileSize)
		return nil, p.err()
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		p.add(yamlLine(err), "", "not valid YAML or JSON: %s", yamlMsg(err))
		return nil, p.err()
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		p.add(0, "", "the file is empty; write \"rules: []\" for no rules")
		return nil, p.err()
	}
	f := &File{Path: name}
	top := p.mapping(doc.Content[0], "", "rules")
	if top == nil {
		return nil, p.err()
	}
	list, ok := top["rules"]
	if !ok {
		p.add(doc.Content[0].Line, "", "missing the \"rules\" list")
		return nil, p.err()
	}
	if list.Kind != yaml.SequenceNode {
		p.add(list.Line, "rules", "want a list of rules, got %s", describe(list))
		return nil, p.err()
	}
	if len(list.Content) > MaxRules {
		p.add(list.Line, "rules", "%d rules; at most %d", len(list.Content), MaxRules)
		return nil, p.err()
	}
	names := make(map[string]int)
	for i, n := range list.Content {
		if p.tooBig {
			break
		}
		p.rule, p.ruleName = i+1, ""
		r, ok := p.parseRule(n)
		if !ok {
			continue
		}
		if first, dup := names[r.Name]; dup {
			p.add(n.Line, "name", "the name is used by rule %d too; names must be unique", first)
			continue
		}
		names[r.Name] = i + 1
		f.Rules = append(f.Rules, r)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return f, nil
}

const (
	maxVisits   = 1 << 20 // values a file may expand to
	maxProblems = 100     // problems reported of one file
)

// parser collects the problems of one file.
type parser struct {
	visits   int
	tooBig   bool
	dropped  int
	file     string
	rule     int
	ruleName string
	probs    []error
}

func (p *parser) add(line int, field, format string, args ...any) {
	if p.tooBig || len(p.probs) > 10*maxProblems {
		p.dropped++
		return
	}
	p.probs = append(p.probs, &Problem{File: p.file, Line: line, Rule: p.rule, RuleName: p.ruleName, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// err returns the problems joined, by line.
func (p *parser) err() error {
	slices.SortStableFunc(p.probs, func(a, b error) int { return a.(*Problem).Line - b.(*Problem).Line })
	if more := len(p.probs) - maxProblems + p.dropped; more > 0 {
		p.probs = append(p.probs[:maxProblems], &Problem{File: p.file, Msg: fmt.Sprintf("and %d more problems; fix these first", more)})
	}
	return errors.Join(p.probs...)
}

// mapping returns the keys of a mapping node, reporting a node of another
// kind, unknown keys (known lists them) and duplicate keys.
func (p *parser) mapping(n *yaml.Node, field string, known ...string) map[string]*yaml.Node {
	n = p.deref(n)
	if n.Kind != yaml.MappingNode {
		p.add(n.Line, field, "want a mapping of %s, got %s", strings.Join(known, ", "), describe(n))
		return nil
	}
	m := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := p.deref(n.Content[i]), p.deref(n.Content[i+1])
		key := k.Value
		if !contains(known, key) {
			p.add(k.Line, join(field, key), "unknown field; want one of %s", strings.Join(known, ", "))
			continue
		}
		if _, dup := m[key]; dup {
			p.add(k.Line, join(field, key), "given twice")
			continue
		}
		m[key] = v
	}
	return m
}

func (p *parser) parseRule(n *yaml.Node) (Rule, bool) {
	n = p.deref(n)
	r := Rule{Line: n.Line, Scopes: AllScopes}
	// Name the rule in the problems of its other keys too.
	for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
		if v := n.Content[i+1]; n.Content[i].Value == "name" && v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
			p.ruleName = strings.TrimSpace(v.Value)
			break
		}
	}
	m := p.mapping(n, "", "name", "scope", "boost", "pin", "diversity", "exclude")
	if m == nil {
		return r, false
	}
	before := len(p.probs)
	if v, ok := m["name"]; !ok {
		p.add(n.Line, "name", "missing; every rule needs a name, shown by explain")
	} else if s, ok := p.str(v, "name"); ok {
		if s == "" {
			p.add(v.Line, "name", "empty")
		} else {
			r.Name = s
			p.ruleName = s
		}
	}
	if v, ok := m["scope"]; ok {
		r.Scopes = p.scopes(v)
	}
	var kinds []string
	for _, k := range []string{"boost", "pin", "diversity", "exclude"} {
		if _, ok := m[k]; ok {
			kinds = append(kinds, k)
		}
	}
	switch len(kinds) {
	case 0:
		p.add(n.Line, "", "says nothing to do; give one of boost, pin, diversity, exclude")
	case 1:
		v := m[kinds[0]]
		switch kinds[0] {
		case "boost":
			r.Kind = KindBoost
			p.boost(&r, v)
		case "pin":
			r.Kind = KindPin
			p.pins(&r, v)
		case "diversity":
			r.Kind = KindDiversity
			p.diversity(&r, v)
		case "exclude":
			r.Kind = KindExclude
			p.exclude(&r, v)
		}
	default:
		p.add(n.Line, "", "has %s; a rule does one thing, split it into %d rules", strings.Join(kinds, " and "), len(kinds))
	}
	return r, len(p.probs) == before
}

func (p *parser) scopes(n *yaml.Node) Scopes {
	items := p.strs(n, "scope")
	if items == nil {
		return AllScopes
	}
	if len(items) == 0 {
		p.add(n.Line, "scope", "empty; leave scope out to apply the rule to every request")
		return AllScopes
	}
	var s Scopes
	for i, it := range items {
		found := false
		for sc, name := range scopeNames {
			if strings.EqualFold(it, name) {
				s |= 1 << sc
				found = true
			}
		}
		if !found {
			p.add(p.itemLine(n, i), fmt.Sprintf("scope[%d]", i), "unknown scope %q; want one of %s", it, strings.Join(scopeNames[:], ", "))
		}
	}
	return s
}

func (p *parser) boost(r *Rule, n *yaml.Node) {
	m := p.mapping(n, "boost", "multiplier", "match")
	if m == nil {
		return
	}
	if v, ok := m["multiplier"]; !ok {
		p.add(p.deref(n).Line, "boost.multiplier", "missing; above 1 boosts, between 0 and 1 buries")
	} else if f, ok := p.number(v, "boost.multiplier"); ok {
		if !(f > 0) || math.IsInf(f, 0) {
			p.add(v.Line, "boost.multiplier", "%s is not above 0; above 1 boosts, between 0 and 1 buries (use an exclusion or a filter to remove items)", v.Value)
		} else if f == 1 {
			p.add(v.Line, "boost.multiplier", "1 changes nothing; above 1 boosts, between 0 and 1 buries")
		} else {
			r.Multiplier = f
		}
	}
	if v, ok := m["match"]; !ok {
		p.add(p.deref(n).Line, "boost.match", "missing; say which items to boost (categories, attributes)")
	} else {
		before := len(p.probs)
		r.Match = p.condition(v, "boost.match")
		if len(r.Match.Categories)+len(r.Match.ExcludeCategories)+len(r.Match.Attributes) == 0 && len(p.probs) == before {
			p.add(v.Line, "boost.match", "empty: it would boost every item, which changes no order")
		}
	}
}

func (p *parser) pins(r *Rule, n *yaml.Node) {
	n = p.deref(n)
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		p.add(n.Line, "pin", "want a list of {item, slot}, got %s", describe(n))
		return
	}
	slots, items := map[int]int{}, map[string]int{}
	for i, e := range n.Content {
		field := fmt.Sprintf("pin[%d]", i)
		m := p.mapping(e, field, "item", "slot")
		if m == nil {
			continue
		}
		var pin Pin
		ok := true
		if v, has := m["item"]; !has {
			p.add(p.deref(e).Line, field+".item", "missing; give the item id")
			ok = false
		} else if s, good := p.str(v, field+".item"); !good {
			ok = false
		} else if s == "" {
			p.add(v.Line, field+".item", "empty")
			ok = false
		} else if j, dup := items[s]; dup {
			p.add(v.Line, field+".item", "item %q is pinned by pin[%d] too", s, j)
			ok = false
		} else {
			pin.Item = s
			items[s] = i
		}
		if v, has := m["slot"]; !has {
			p.add(p.deref(e).Line, field+".slot", "missing; slots count from 1, the first result")
			ok = false
		} else if s, good := p.integer(v, field+".slot"); !good {
			ok = false
		} else if s < 1 {
			p.add(v.Line, field+".slot", "%d is not a slot; slots count from 1, the first result", s)
			ok = false
		} else if j, dup := slots[s]; dup {
			p.add(v.Line, field+".slot", "slot %d is taken by pin[%d]", s, j)
			ok = false
		} else {
			pin.Slot = s
			slots[s] = i
		}
		if ok {
			r.Pins = append(r.Pins, pin)
		}
	}
}

func (p *parser) diversity(r *Rule, n *yaml.Node) {
	m := p.mapping(n, "diversity", "max", "depth")
	if m == nil {
		return
	}
	r.Depth = 1
	if v, ok := m["depth"]; ok {
		if d, ok := p.integer(v, "diversity.depth"); ok {
			if d < 1 {
				p.add(v.Line, "diversity.depth", "%d; want 1 for the top level of the category (\"shoes\" of \"shoes/running\"), 2 for the next, …", d)
			} else {
				r.Depth = d
			}
		}
	}
	if v, ok := m["max"]; !ok {
		p.add(p.deref(n).Line, "diversity.max", "missing; say how many results one category may have")
	} else if x, ok := p.integer(v, "diversity.max"); ok {
		if x < 1 {
			p.add(v.Line, "diversity.max", "%d; want at least 1 result per category", x)
		} else {
			r.Max = x
		}
	}
}

func (p *parser) exclude(r *Rule, n *yaml.Node) {
	m := p.mapping(n, "exclude", "events", "match", "for")
	if m == nil {
		return
	}
	if v, ok := m["events"]; !ok {
		p.add(p.deref(n).Line, "exclude.events", "missing; say which event types exclude, e.g. [purchase]")
	} else if evs := p.strs(v, "exclude.events"); evs != nil {
		if len(evs) == 0 {
			p.add(v.Line, "exclude.events", "empty; say which event types exclude, e.g. [purchase]")
		}
		for i, e := range evs {
			if e == "" {
				p.add(p.itemLine(v, i), fmt.Sprintf("exclude.events[%d]", i), "empty event type")
				continue
			}
			r.Events = append(r.Events, strings.ToLower(e))
		}
	}
	if v, ok := m["match"]; ok {
		r.Match = p.condition(v, "exclude.match")
	}
	if v, ok := m["for"]; !ok {
		p.add(p.deref(n).Line, "exclude.for", "missing; give \"forever\" or a duration such as 30d or 12h")
	} else if s, ok := p.str(v, "exclude.for"); ok {
		if strings.EqualFold(s, "forever") {
			r.Forever = true
		} else if d, err := parseDuration(s); err != nil {
			p.add(v.Line, "exclude.for", "%q is not \"forever\" or a duration such as 30d, 36h or 90m", s)
		} else if d <= 0 {
			p.add(v.Line, "exclude.for", "%q is not a positive duration", s)
		} else {
			r.Window = d
		}
	}
}

func (p *parser) condition(n *yaml.Node, field string) Condition {
	var c Condition
	m := p.mapping(n, field, "categories", "exclude_categories", "attributes")
	if m == nil {
		return c
	}
	if v, ok := m["categories"]; ok {
		c.Categories = p.categories(v, field+".categories")
	}
	if v, ok := m["exclude_categories"]; ok {
		c.ExcludeCategories = p.categories(v, field+".exclude_categories")
	}
	if v, ok := m["attributes"]; ok {
		v = p.deref(v)
		if v.Kind != yaml.SequenceNode {
			p.add(v.Line, field+".attributes", "want a list of conditions, got %s", describe(v))
			return c
		}
		for i, e := range v.Content {
			if p.tooBig {
				break
			}
			if a, ok := p.attribute(e, fmt.Sprintf("%s.attributes[%d]", field, i)); ok {
				c.Attributes = append(c.Attributes, a)
			}
		}
	}
	return c
}

func (p *parser) categories(n *yaml.Node, field string) []string {
	cats := p.strs(n, field)
	out := cats[:0]
	for i, c := range cats {
		c = strings.Trim(c, "/ ")
		if c == "" {
			p.add(p.itemLine(n, i), fmt.Sprintf("%s[%d]", field, i), "empty category")
			continue
		}
		out = append(out, c)
	}
	return out
}

func (p *parser) attribute(n *yaml.Node, field string) (AttributeCondition, bool) {
	var a AttributeCondition
	m := p.mapping(n, field, "name", "equals", "not_equals", "any_of", "range")
	if m == nil {
		return a, false
	}
	before := len(p.probs)
	if v, ok := m["name"]; !ok {
		p.add(p.deref(n).Line, field+".name", "missing; say which attribute, e.g. brand")
	} else if s, ok := p.str(v, field+".name"); ok {
		if s == "" {
			p.add(v.Line, field+".name", "empty")
		}
		a.Name = s
	}
	var ops []string
	for _, k := range []string{"equals", "not_equals", "any_of", "range"} {
		if _, ok := m[k]; ok {
			ops = append(ops, k)
		}
	}
	if len(ops) != 1 {
		what := "none"
		if len(ops) > 1 {
			what = strings.Join(ops, " and ")
		}
		p.add(p.deref(n).Line, field, "give exactly one of equals, not_equals, any_of, range (got %s)", what)
		return a, false
	}
	v := m[ops[0]]
	f := field + "." + ops[0]
	switch ops[0] {
	case "equals", "not_equals":
		a.Op = OpEquals
		if ops[0] == "not_equals" {
			a.Op = OpNotEquals
		}
		a.Value, _ = p.str(v, f)
	case "any_of":
		a.Op = OpAnyOf
		a.Values = p.strs(v, f)
		if a.Values != nil && len(a.Values) == 0 {
			p.add(v.Line, f, "empty; it would match nothing")
		}
	case "range":
		a.Op = OpRange
		r := p.mapping(v, f, "min", "max")
		if r == nil {
			break
		}
		if x, ok := r["min"]; ok {
			a.Min, a.HasMin = p.number(x, f+".min")
		}
		if x, ok := r["max"]; ok {
			a.Max, a.HasMax = p.number(x, f+".max")
		}
		switch {
		case len(r) == 0:
			p.add(v.Line, f, "give min, max or both")
		case a.HasMin && a.HasMax && a.Min > a.Max:
			p.add(v.Line, f, "min %v is above max %v", a.Min, a.Max)
		}
	}
	return a, len(p.probs) == before
}

// str returns a scalar's text. YAML's true and 12 are strings here
// ("true", "12"): attribute values are text in the catalogue; null (~)
// is the empty string.
func (p *parser) str(n *yaml.Node, field string) (string, bool) {
	n = p.deref(n)
	if n.Kind != yaml.ScalarNode {
		p.add(n.Line, field, "want a single value, got %s", describe(n))
		return "", false
	}
	if n.Tag == "!!null" {
		return "", true
	}
	return strings.TrimSpace(n.Value), true
}

// strs returns a list of scalars (a single scalar counts as a list of
// one); nil after a problem.
func (p *parser) strs(n *yaml.Node, field string) []string {
	n = p.deref(n)
	if n.Kind == yaml.ScalarNode {
		s, _ := p.str(n, field)
		return []string{s}
	}
	if n.Kind != yaml.SequenceNode {
		p.add(n.Line, field, "want a list, got %s", describe(n))
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for i, e := range n.Content {
		if e = p.deref(e); e.Kind == yaml.ScalarNode && e.Tag != "!!null" {
			out = append(out, strings.TrimSpace(e.Value)) // the common case, without a field name
			continue
		}
		s, ok := p.str(e, fmt.Sprintf("%s[%d]", field, i))
		if !ok {
			return nil
		}
		out = append(out, s)
	}
	return out
}

func (p *parser) number(n *yaml.Node, field string) (float64, bool) {
	s, ok := p.str(n, field)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) {
		p.add(n.Line, field, "%q is not a number", s)
		return 0, false
	}
	return f, true
}

func (p *parser) integer(n *yaml.Node, field string) (int, bool) {
	s, ok := p.str(n, field)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	if err != nil || i > 1<<20 || i < -(1<<20) {
		p.add(n.Line, field, "%q is not a whole number", s)
		return 0, false
	}
	return i, true
}

// parseDuration reads Go durations (36h, 90m) and whole or decimal days (30d, 1.5d).
func parseDuration(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		f, err := strconv.ParseFloat(d, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f > 100*365 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(f * float64(24*time.Hour)), nil
	}
	return time.ParseDuration(s)
}

// itemLine is the line of the i-th element of a list, or of n itself
// when n is a single value standing for a list of one.
func (p *parser) itemLine(n *yaml.Node, i int) int {
	n = p.deref(n)
	if n.Kind == yaml.SequenceNode && i < len(n.Content) {
		return n.Content[i].Line
	}
	return n.Line
}

// deref follows aliases and counts the node as visited: aliases can make
// a small file a huge tree, so the walk stops after maxVisits nodes.
func (p *parser) deref(n *yaml.Node) *yaml.Node {
	p.visits++
	if p.visits > maxVisits {
		if !p.tooBig {
			p.add(n.Line, "", "the file expands to more than %d values (through aliases); write it out plainly", maxVisits)
			p.tooBig = true // and the rest is noise
		}
		return &yaml.Node{}
	}
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// yamlLine digs the line number out of a yaml error ("yaml: line 3: …").
func yamlLine(err error) int {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return 0
	}
	s := err.Error()
	if rest, ok := strings.CutPrefix(s, "yaml: line "); ok {
		if i := strings.IndexByte(rest, ':'); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				return n
			}
		}
	}
	return 0
}

func yamlMsg(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(s, "line "); ok {
		if i := strings.Index(rest, ": "); i > 0 {
			return rest[i+2:]
		}
	}
	return s
}
