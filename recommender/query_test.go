package recommender

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// filterCases are the filters the reference tests run, each kind alone
// and combined.
var filterCases = []struct {
	name string
	f    Filter
}{
	{"category with sub-categories", Filter{Categories: []string{"c3"}}},
	{"sub-category", Filter{Categories: []string{"c3/s1"}}},
	{"two categories", Filter{Categories: []string{"c1", "c2/s0"}}},
	{"unknown category", Filter{Categories: []string{"nope"}}},
	{"exclude category", Filter{ExcludeCategories: []string{"c0", "c1"}}},
	{"equals", Filter{Attributes: []AttributeCondition{{Name: "brand", Op: OpEquals, Value: "b2"}}}},
	{"not equals", Filter{Attributes: []AttributeCondition{{Name: "brand", Op: OpNotEquals, Value: "b2"}}}},
	{"any of", Filter{Attributes: []AttributeCondition{{Name: "brand", Op: OpAnyOf, Values: []string{"b1", "b3", "zz"}}}}},
	{"range", Filter{Attributes: []AttributeCondition{{Name: "price", Op: OpRange, Min: ptr(10), Max: ptr(30)}}}},
	{"open range", Filter{Attributes: []AttributeCondition{{Name: "price", Op: OpRange, Min: ptr(80)}}}},
	{"combined", Filter{Categories: []string{"c4", "c5"}, ExcludeCategories: []string{"c5/s2"},
		Attributes: []AttributeCondition{{Name: "brand", Op: OpNotEquals, Value: "b0"}, {Name: "price", Op: OpRange, Max: ptr(60)}}}},
}

// filterModel returns a model over d with the catalogue items.
func filterModel(t testing.TB, d *modelData, items []fakeItem, opts ModelOptions, int8 bool) *Model {
	t.Helper()
	f := newFake("v1", d)
	if int8 {
		withInt8(t, f)
	}
	m, err := NewModelWithOptions(catalogFake{f, newFakeCatalog(items)}, opts)
	if err != nil {
		t.Fatalf("NewModelWithOptions: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// filteredReference is the exact answer for user u under f: every item ranked
// by the float scan, then the seen ones, those failing the filter and
// those out of stock dropped.
func filteredReference(m *Model, d *modelData, items []fakeItem, u int, f Filter, n int) []ScoredItem {
	sc := m.getScratch()
	defer m.putScratch(sc)
	m.scan(sc, scanDot, m.users.Row(u), nil, 0, m.n)
	seen := d.seen[int32(u)]
	var out []ScoredItem
	for _, c := range sc.cands {
		if len(out) == n {
			break
		}
		if slices.Contains(seen, c.Index) || !passes(items[c.Index], f) {
			continue
		}
		out = append(out, ScoredItem{ID: d.items[c.Index], Score: c.Score, Source: SourceFactors})
	}
	return out
}

// TestFilterMatchesReference checks that every filter kind gives the
// float scan's answer over the items that pass, bit for bit, through the
// float scan, the int8 shortlist, split scans and the direct path of a
// selective filter, exact or not.
func TestFilterMatchesReference(t *testing.T) {
	ctx := context.Background()
	const items = 3*chunkRows + 11
	d := clusteredData(items, 16)
	cat := shopItems(items, 1)
	users := 4
	if raceEnabled {
		users = 2
	}
	for _, variant := range []struct {
		name    string
		workers int
		int8    bool
		blocks  bool // category blocks
	}{{"float", 1, false, true}, {"int8", 1, true, true}, {"int8 gathered", 1, true, false}, {"int8 split", 2, true, true}, {"float split", 3, false, true}} {
		opts := DefaultModelOptions()
		opts.ParallelMinItems, opts.Int8ParallelMinItems, opts.Workers, opts.Int8 = 1, 1, variant.workers, variant.int8
		opts.CategoryBlocks = variant.blocks
		m := filterModel(t, d, cat, opts, variant.int8)
		for _, fc := range filterCases {
			for u := range users {
				for _, n := range []int{10, 100} {
					want := filteredReference(m, d, cat, u, fc.f, n)
					for _, exact := range []bool{false, true} {
						got, err := m.Recommend(ctx, RecommendRequest{UserID: d.users[u], N: n, Filter: fc.f, Exact: exact})
						if err != nil {
							t.Fatalf("%s/%s: Recommend: %v", variant.name, fc.name, err)
						}
						// Fewer passing items than n: the rest is popular fill, also filtered.
						factors := got.Items[:min(len(want), len(got.Items))]
						if diff := gocmp.Diff(want, factors, cmpopts.EquateEmpty()); diff != "" {
							t.Errorf("%s/%s: Recommend(%s, n=%d, exact=%v) (-want +got):\n%s", variant.name, fc.name, d.users[u], n, exact, diff)
						}
						for _, it := range got.Items {
							if i := m.mustIndex(t, it.ID); !passes(cat[i], fc.f) {
								t.Errorf("%s/%s: Recommend returned %s (%+v), which fails the filter", variant.name, fc.name, it.ID, cat[i])
							}
						}
					}
				}
			}
		}
	}
}

func (m *Model) mustIndex(t testing.TB, id string) int32 {
	t.Helper()
	i, ok, err := m.snap.ItemIndex(id)
	if err != nil || !ok {
		t.Fatalf("ItemIndex(%q) = %v, %v", id, ok, err)
	}
	return i
}

// TestFilterEveryTier checks the popularity fallback, SimilarItems, the
// basket and Trending under filters: nothing returned fails the filter,
// and the answer is as long as the items passing allow.
func TestFilterEveryTier(t *testing.T) {
	ctx := context.Background()
	const items = 5000
	d := randomData(items, 8)
	cat := shopItems(items, 2)
	m := filterModel(t, d, cat, DefaultModelOptions(), false)
	for _, fc := range filterCases {
		pass := 0
		for _, it := range cat {
			if passes(it, fc.f) {
				pass++
			}
		}
		calls := map[string]func() (Result, error){
			"unknown user": func() (Result, error) {
				return m.Recommend(ctx, RecommendRequest{UserID: "nobody", N: 50, Filter: fc.f})
			},
			"similar": func() (Result, error) {
				return m.SimilarItems(ctx, SimilarRequest{ItemID: d.items[10], N: 50, Filter: fc.f})
			},
			"basket": func() (Result, error) {
				return m.RecommendForBasket(ctx, BasketRequest{Items: []string{d.items[10], d.items[20]}, N: 50, Filter: fc.f})
			},
			"popular": func() (Result, error) {
				return m.Trending(ctx, TrendingRequest{N: 50, Metric: MetricPopular, Filter: fc.f})
			},
		}
		for name, call := range calls {
			res, err := call()
			if err != nil {
				t.Fatalf("%s/%s: %v", fc.name, name, err)
			}
			for _, it := range res.Items {
				if i := m.mustIndex(t, it.ID); !passes(cat[i], fc.f) {
					t.Errorf("%s/%s: returned %s (%+v), which fails the filter", fc.name, name, it.ID, cat[i])
				}
			}
			if want := min(50, pass); len(res.Items) < want-2 { // the seeds never come back
				t.Errorf("%s/%s: %d items, want about %d", fc.name, name, len(res.Items), want)
			}
			if res.Exhausted != (len(res.Items) < 50) {
				t.Errorf("%s/%s: Exhausted = %v with %d items", fc.name, name, res.Exhausted, len(res.Items))
			}
		}
	}
}

// TestOutOfStockNeverReturned checks that items the catalogue marks out
// of stock are left out of every answer without a filter.
func TestOutOfStockNeverReturned(t *testing.T) {
	ctx := context.Background()
	const items = 2000
	d := randomData(items, 8)
	cat := shopItems(items, 3)
	// Make the out-of-stock items the most popular, so every fallback meets them.
	for i := range cat {
		if cat[i].attrs["in_stock"] == "false" {
			d.pop[i] = 1e6
		}
	}
	m := filterModel(t, d, cat, DefaultModelOptions(), false)
	check := func(call string, res Result, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", call, err)
		}
		for _, it := range res.Items {
			if cat[m.mustIndex(t, it.ID)].attrs["in_stock"] == "false" {
				t.Errorf("%s returned out-of-stock item %s", call, it.ID)
			}
		}
	}
	for u := range 5 {
		res, err := m.Recommend(ctx, RecommendRequest{UserID: d.users[u], N: 200})
		check("Recommend(known)", res, err)
	}
	res, err := m.Recommend(ctx, RecommendRequest{UserID: "new", N: 200})
	check("Recommend(unknown)", res, err)
	res, err = m.SimilarItems(ctx, SimilarRequest{ItemID: d.items[0], N: 200})
	check("SimilarItems", res, err)
	res, err = m.Trending(ctx, TrendingRequest{N: 200})
	check("Trending", res, err)
	res, err = m.RecommendForBasket(ctx, BasketRequest{Items: []string{d.items[0]}, N: 200})
	check("RecommendForBasket", res, err)
}

// TestFilterErrors checks that bad conditions are InvalidArgument naming
// the condition.
func TestFilterErrors(t *testing.T) {
	ctx := context.Background()
	d := randomData(500, 8)
	m := filterModel(t, d, shopItems(500, 4), DefaultModelOptions(), false)
	plain := newTestModel(t, openFake, d)
	tests := []struct {
		name string
		m    *Model
		f    Filter
		want string
	}{
		{"unknown attribute", m, Filter{Attributes: []AttributeCondition{{Name: "colour", Op: OpEquals, Value: "red"}}}, `no attribute "colour"`},
		{"no name", m, Filter{Attributes: []AttributeCondition{{Op: OpEquals, Value: "red"}}}, "has no name"},
		{"no comparison", m, Filter{Attributes: []AttributeCondition{{Name: "brand"}}}, `on "brand" has no comparison`},
		{"range on text", m, Filter{Attributes: []AttributeCondition{{Name: "brand", Op: OpRange, Min: ptr(1)}}}, `"brand" is not numeric`},
		{"empty range", m, Filter{Attributes: []AttributeCondition{{Name: "price", Op: OpRange, Min: ptr(5), Max: ptr(1)}}}, "range is empty"},
		{"empty any_of", m, Filter{Attributes: []AttributeCondition{{Name: "brand", Op: OpAnyOf}}}, "at least one value"},
		{"no catalogue", plain, Filter{Categories: []string{"c1"}}, "has no catalogue"},
	}
	for _, tt := range tests {
		_, err := tt.m.Recommend(ctx, RecommendRequest{UserID: d.users[0], N: 5, Filter: tt.f})
		if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Recommend error = %v, want ErrInvalidArgument containing %q", tt.name, err, tt.want)
		}
	}
}

// TestPagesConcatenate checks that pages of size n concatenated are the
// items of one request for n·k, for every RPC that pages, with and
// without filters, and that a later page never repeats an item.
func TestPagesConcatenate(t *testing.T) {
	ctx := context.Background()
	const items = 3000
	d := randomData(items, 8)
	cat := shopItems(items, 5)
	opts := DefaultModelOptions()
	for _, int8 := range []bool{false, true} {
		opts.Int8 = int8
		m := filterModel(t, d, cat, opts, int8)
		filters := []Filter{{}, filterCases[0].f, filterCases[8].f}
		type pager func(n int, tok string) (Result, error)
		for fi, f := range filters {
			pagers := map[string]pager{
				"recommend": func(n int, tok string) (Result, error) {
					return m.Recommend(ctx, RecommendRequest{UserID: d.users[3], N: n, Filter: f, PageToken: tok})
				},
				"recommend unknown": func(n int, tok string) (Result, error) {
					return m.Recommend(ctx, RecommendRequest{UserID: "nobody", N: n, Filter: f, PageToken: tok})
				},
				"similar": func(n int, tok string) (Result, error) {
					return m.SimilarItems(ctx, SimilarRequest{ItemID: d.items[0], N: n, Filter: f, PageToken: tok})
				},
				"trending": func(n int, tok string) (Result, error) {
					return m.Trending(ctx, TrendingRequest{N: n, Metric: MetricPopular, Filter: f, PageToken: tok})
				},
			}
			for name, p := range pagers {
				const n, k = 7, 9
				all, err := p(n*k, "")
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				var got []ScoredItem
				tok := ""
				for page := range k {
					res, err := p(n, tok)
					if err != nil {
						t.Fatalf("%s filter %d page %d: %v", name, fi, page+1, err)
					}
					for _, it := range res.Items {
						if slices.ContainsFunc(got, func(g ScoredItem) bool { return g.ID == it.ID }) {
							t.Errorf("%s filter %d page %d repeats %s", name, fi, page+1, it.ID)
						}
					}
					got = append(got, res.Items...)
					if tok = res.NextPageToken; tok == "" {
						break
					}
				}
				if diff := gocmp.Diff(all.Items, got); diff != "" {
					t.Errorf("int8=%v %s filter %d: %d pages of %d differ from one request for %d (-one +pages):\n%s", int8, name, fi, k, n, n*k, diff)
				}
			}
		}
	}
}

// TestPageTokenErrors checks tokens from another version or request, and
// damaged ones.
func TestPageTokenErrors(t *testing.T) {
	ctx := context.Background()
	d := randomData(500, 8)
	m1 := newTestModel(t, openFake, d)
	f := newFake("v2", d)
	m2, err := NewModel(f)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	res, err := m1.Recommend(ctx, RecommendRequest{UserID: d.users[0], N: 5})
	if err != nil || res.NextPageToken == "" {
		t.Fatalf("Recommend = %v, token %q", err, res.NextPageToken)
	}
	tok := res.NextPageToken
	if _, err := m2.Recommend(ctx, RecommendRequest{UserID: d.users[0], N: 5, PageToken: tok}); !errors.Is(err, ErrFailedPrecondition) || !strings.Contains(err.Error(), "start again") {
		t.Errorf("token of another version: error = %v, want ErrFailedPrecondition saying to start again", err)
	}
	if _, err := m1.Recommend(ctx, RecommendRequest{UserID: d.users[1], N: 5, PageToken: tok}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("token of another request: error = %v, want ErrInvalidArgument", err)
	}
	bad := []byte(tok)
	bad[len(bad)/2] ^= 1
	if _, err := m1.Recommend(ctx, RecommendRequest{UserID: d.users[0], N: 5, PageToken: string(bad)}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("damaged token: error = %v, want ErrInvalidArgument", err)
	}
	// A different page size keeps the token valid.
	if _, err := m1.Recommend(ctx, RecommendRequest{UserID: d.users[0], N: 9, PageToken: tok}); err != nil {
		t.Errorf("token with another n: %v", err)
	}
}

// TestRankMatchesRecommend checks that Rank orders Recommend's top 100,
// shuffled, as Recommend did, and reports unknown ids.
func TestRankMatchesRecommend(t *testing.T) {
	ctx := context.Background()
	d := randomData(4000, 16)
	m := newTestModel(t, openFake, d)
	for u := range 5 {
		rec, err := m.Recommend(ctx, RecommendRequest{UserID: d.users[u], N: 100})
		if err != nil {
			t.Fatal(err)
		}
		var cands []string
		for _, it := range rec.Items {
			cands = append(cands, it.ID)
		}
		slices.Reverse(cands)
		cands = append(cands, "unknown-1", cands[0], "unknown-2")
		got, err := m.Rank(ctx, RankRequest{UserID: d.users[u], Candidates: cands})
		if err != nil {
			t.Fatal(err)
		}
		if diff := gocmp.Diff(rec.Items, got.Items); diff != "" {
			t.Errorf("Rank(Recommend(%s) top 100) (-recommend +rank):\n%s", d.users[u], diff)
		}
		if want := []string{"unknown-1", "unknown-2"}; !slices.Equal(got.Unknown, want) {
			t.Errorf("Rank unknown = %q, want %q", got.Unknown, want)
		}
	}
	res, err := m.Rank(ctx, RankRequest{UserID: "nobody", Candidates: []string{d.items[1], d.items[2]}})
	if err != nil || !res.Fallback || len(res.Items) != 2 || res.Items[0].Source != SourcePopularity {
		t.Errorf("Rank(unknown user) = %+v, %v, want 2 popular items with Fallback", res, err)
	}
	for _, req := range []RankRequest{{UserID: "u"}, {Candidates: []string{"a"}}, {UserID: "u", Candidates: make([]string, MaxRankCandidates+1)}} {
		if _, err := m.Rank(ctx, req); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Rank(%d candidates, user %q) error = %v, want ErrInvalidArgument", len(req.Candidates), req.UserID, err)
		}
	}
}

// TestBasketExcludesBasket checks that basket answers never hold the
// basket and name a basket item for every result.
func TestBasketExcludesBasket(t *testing.T) {
	ctx := context.Background()
	d := randomData(3000, 8)
	m := newTestModel(t, openFake, d)
	for k := range 20 {
		basket := []string{d.items[k*10], d.items[k*10+3], d.items[k*7+1]}
		res, err := m.RecommendForBasket(ctx, BasketRequest{Items: append(basket, "not-an-item"), N: 30, UserID: d.users[k]})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Items) != 30 {
			t.Errorf("basket %d: %d items, want 30", k, len(res.Items))
		}
		for _, it := range res.Items {
			if slices.Contains(basket, it.ID) {
				t.Errorf("basket %d: answer holds basket item %s", k, it.ID)
			}
			if it.Source != SourcePopularity && (len(it.Because) != 1 || !slices.Contains(basket, it.Because[0])) {
				t.Errorf("basket %d: %s (%v) because %q, want one basket item", k, it.ID, it.Source, it.Because)
			}
		}
	}
	if _, err := m.RecommendForBasket(ctx, BasketRequest{N: 3}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("empty basket: error = %v, want ErrInvalidArgument", err)
	}
	res, err := m.RecommendForBasket(ctx, BasketRequest{Items: []string{"nope"}, N: 3})
	if err != nil || !res.Fallback {
		t.Errorf("unknown basket = %+v, %v, want popular items with Fallback", res, err)
	}
}

// TestSimilarItemsSeeds checks several seeds and a viewer: no seed and
// none of the viewer's training items come back.
func TestSimilarItemsSeeds(t *testing.T) {
	ctx := context.Background()
	d := randomData(3000, 8)
	m := newTestModel(t, openFake, d)
	seeds := []string{d.items[0], d.items[10], d.items[20]}
	res, err := m.SimilarItems(ctx, SimilarRequest{ItemIDs: append(seeds, "unknown"), N: 40, UserID: d.users[2], Explain: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range res.Items {
		if slices.Contains(seeds, it.ID) {
			t.Errorf("SimilarItems returned seed %s", it.ID)
		}
		if slices.Contains(d.seen[2], m.mustIndex(t, it.ID)) {
			t.Errorf("SimilarItems returned %s, seen by the viewer", it.ID)
		}
		if it.Source == SourceCoOccurrence && (len(it.Because) != 1 || !slices.Contains(seeds, it.Because[0])) {
			t.Errorf("SimilarItems %s because %q, want one seed", it.ID, it.Because)
		}
	}
	if _, err := m.SimilarItems(ctx, SimilarRequest{ItemIDs: []string{"a", "b"}, N: 4}); !errors.Is(err, ErrNotFound) {
		t.Errorf("only unknown seeds: error = %v, want ErrNotFound", err)
	}
}

// TestReturnAttributes checks the catalogue values and the category in
// the answer.
func TestReturnAttributes(t *testing.T) {
	ctx := context.Background()
	d := randomData(500, 8)
	cat := shopItems(500, 6)
	m := filterModel(t, d, cat, DefaultModelOptions(), false)
	res, err := m.Recommend(ctx, RecommendRequest{UserID: d.users[0], N: 20, ReturnAttributes: []string{"brand", "price", "category", "nope"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range res.Items {
		c := cat[m.mustIndex(t, it.ID)]
		want := map[string]string{"brand": c.attrs["brand"]}
		if p := c.attrs["price"]; p != "" {
			want["price"] = p
		}
		if c.category != "" {
			want["category"] = c.category
		}
		if diff := gocmp.Diff(want, it.Attributes); diff != "" {
			t.Errorf("%s attributes (-want +got):\n%s", it.ID, diff)
		}
	}
}

func TestFilterString(t *testing.T) {
	c := AttributeCondition{Name: "price", Op: OpRange, Min: ptr(1)}
	if got, want := c.String(), "price in [1, +inf]"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	_ = fmt.Sprint(filterCases)
}
