package recommender

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// fakeCatalog is an in-memory ItemCatalog built from one row per item.
type fakeCatalog struct {
	cats    []string // category names, sorted
	catIdx  map[string]int32
	itemCat []int32
	rows    [][]int32 // per category, with sub-categories
	attrs   map[string]*fakeAttr
	unavail []int32
}

type fakeItem struct {
	category string
	attrs    map[string]string
}

type fakeAttr struct {
	values  []string // per row, "" when missing
	codes   map[string]uint32
	byCode  [][]int32
	numeric bool
}

func newFakeCatalog(items []fakeItem) *fakeCatalog {
	c := &fakeCatalog{catIdx: map[string]int32{}, attrs: map[string]*fakeAttr{}}
	names := map[string]bool{}
	for _, it := range items {
		if it.category == "" {
			continue
		}
		parts := strings.Split(it.category, "/")
		for k := range parts {
			names[strings.Join(parts[:k+1], "/")] = true
		}
	}
	for n := range names {
		c.cats = append(c.cats, n)
	}
	slices.Sort(c.cats)
	for i, n := range c.cats {
		c.catIdx[n] = int32(i)
	}
	c.rows = make([][]int32, len(c.cats))
	for r, it := range items {
		c.itemCat = append(c.itemCat, -1)
		if it.category != "" {
			c.itemCat[r] = c.catIdx[it.category]
			parts := strings.Split(it.category, "/")
			for k := range parts {
				p := c.catIdx[strings.Join(parts[:k+1], "/")]
				c.rows[p] = append(c.rows[p], int32(r))
			}
		}
		for name, v := range it.attrs {
			a := c.attrs[name]
			if a == nil {
				a = &fakeAttr{values: make([]string, len(items)), codes: map[string]uint32{}, numeric: true}
				c.attrs[name] = a
			}
			a.values[r] = v
		}
		if v := it.attrs["in_stock"]; v == "false" {
			c.unavail = append(c.unavail, int32(r))
		}
	}
	for _, a := range c.attrs {
		var vals []string
		for _, v := range a.values {
			if v != "" {
				vals = append(vals, v)
				if _, err := strconv.ParseFloat(v, 64); err != nil {
					a.numeric = false
				}
			}
		}
		slices.Sort(vals)
		vals = slices.Compact(vals)
		a.byCode = make([][]int32, len(vals)+1)
		for k, v := range vals {
			a.codes[v] = uint32(k + 1)
		}
		for r, v := range a.values {
			if v != "" {
				code := a.codes[v]
				a.byCode[code] = append(a.byCode[code], int32(r))
			}
		}
	}
	return c
}

func (c *fakeCatalog) CategoryIndex(name string) (int32, bool) {
	i, ok := c.catIdx[name]
	return i, ok
}
func (c *fakeCatalog) CategoryName(cat int32) string  { return c.cats[cat] }
func (c *fakeCatalog) ItemCategory(row int32) int32   { return c.itemCat[row] }
func (c *fakeCatalog) CategoryRows(cat int32) []int32 { return c.rows[cat] }
func (c *fakeCatalog) Unavailable() []int32           { return c.unavail }
func (c *fakeCatalog) LookupAttribute(name string) (CatalogAttribute, bool) {
	a, ok := c.attrs[name]
	if !ok {
		return nil, false
	}
	return a, true
}

func (a *fakeAttr) Value(row int32) (string, bool) { return a.values[row], a.values[row] != "" }
func (a *fakeAttr) ValueCode(v string) (uint32, bool) {
	c, ok := a.codes[v]
	return c, ok
}
func (a *fakeAttr) Code(row int32) uint32            { return a.codes[a.values[row]] }
func (a *fakeAttr) ValueRows(code uint32) []int32    { return a.byCode[code] }
func (a *fakeAttr) Numeric() bool                    { return a.numeric }
func (a *fakeAttr) Number(row int32) (float64, bool) { return a.number(row) }
func (a *fakeAttr) number(row int32) (float64, bool) {
	if a.values[row] == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(a.values[row], 64)
	return f, err == nil
}
func (a *fakeAttr) RowsInRange(lo, hi float64) []int32 {
	var out []int32
	for r := range a.values {
		if f, ok := a.number(int32(r)); ok && f >= lo && f <= hi {
			out = append(out, int32(r))
		}
	}
	return out
}

// withCatalog makes the fake snapshot carry cat.
type catalogFake struct {
	*fakeSnapshot
	cat ItemCatalog
}

func (f catalogFake) ItemCatalog() (ItemCatalog, bool) { return f.cat, f.cat != nil }

// shopItems returns a seeded catalogue for n items: categories two deep
// ("c3/s1"), a brand of five, a price, and every 50th item out of stock.
func shopItems(n int, seed uint64) []fakeItem {
	rng := rand.New(rand.NewPCG(seed, 7))
	items := make([]fakeItem, n)
	for i := range items {
		it := fakeItem{attrs: map[string]string{}}
		if rng.IntN(20) > 0 { // 5 % without a category
			it.category = fmt.Sprintf("c%d/s%d", rng.IntN(10), rng.IntN(4))
			if rng.IntN(4) == 0 {
				it.category = fmt.Sprintf("c%d", rng.IntN(10))
			}
		}
		it.attrs["brand"] = fmt.Sprintf("b%d", rng.IntN(5))
		if rng.IntN(10) > 0 {
			it.attrs["price"] = strconv.FormatFloat(math.Round(rng.ExpFloat64()*5000)/100, 'f', 2, 64)
		}
		it.attrs["in_stock"] = "true"
		if i%50 == 7 {
			it.attrs["in_stock"] = "false"
		}
		items[i] = it
	}
	return items
}

// passes is the reference semantics of Filter on fake items.
func passes(it fakeItem, f Filter) bool {
	under := func(cat, c string) bool { return cat == c || strings.HasPrefix(cat, c+"/") }
	if it.attrs["in_stock"] == "false" {
		return false
	}
	if len(f.Categories) > 0 {
		ok := false
		for _, c := range f.Categories {
			ok = ok || (it.category != "" && under(it.category, c))
		}
		if !ok {
			return false
		}
	}
	for _, c := range f.ExcludeCategories {
		if it.category != "" && under(it.category, c) {
			return false
		}
	}
	for _, c := range f.Attributes {
		v, has := it.attrs[c.Name]
		has = has && v != ""
		switch c.Op {
		case OpEquals:
			if !has || v != c.Value {
				return false
			}
		case OpNotEquals:
			if has && v == c.Value {
				return false
			}
		case OpAnyOf:
			if !has || !slices.Contains(c.Values, v) {
				return false
			}
		case OpRange:
			x, err := strconv.ParseFloat(v, 64)
			if !has || err != nil || (c.Min != nil && x < *c.Min) || (c.Max != nil && x > *c.Max) {
				return false
			}
		}
	}
	return true
}

func ptr(f float64) *float64 { return &f }
