package recommender

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// tier is the order in which sources appear in an answer.
var tier = map[Source]int{SourceCoOccurrence: 0, SourceFactors: 1, SourcePopularity: 2}

// checkResult verifies what must hold for any answer: at most n items, no
// duplicates, nothing excluded, a known source on every item, and within
// each source scores never increasing,
// and the sources in tier order.
func checkResult(t *testing.T, call string, res Result, n int, exclude []string) {
	t.Helper()
	if len(res.Items) > n {
		t.Errorf("%s returned %d items, want at most %d", call, len(res.Items), n)
	}
	excluded := make(map[string]bool)
	for _, id := range exclude {
		excluded[id] = true
	}
	seen := make(map[string]bool)
	for k, it := range res.Items {
		if seen[it.ID] || excluded[it.ID] {
			t.Errorf("%s item %d = %q: duplicate or excluded", call, k, it.ID)
		}
		seen[it.ID] = true
		if it.Source < SourceFactors || it.Source > SourcePopularity {
			t.Errorf("%s item %d has source %v", call, k, it.Source)
		}
		if k > 0 {
			prev := res.Items[k-1]
			if prev.Source == it.Source && prev.Score < it.Score {
				t.Errorf("%s items %d, %d of source %v not ordered: %v < %v", call, k-1, k, it.Source, prev.Score, it.Score)
			}
			if tier[prev.Source] > tier[it.Source] {
				t.Errorf("%s item %d of source %v follows source %v", call, k, it.Source, prev.Source)
			}
		}
	}
}

// FuzzRequests sends arbitrary request fields, as a client could, to the
// small model. Requests must either fail with one of the package's errors
// or return a well-formed answer; nothing may panic.
func FuzzRequests(f *testing.F) {
	f.Add("u1", 3, "b,zzz", false, "a")
	f.Add("", 0, "", true, "")
	f.Add("stranger", 1000, "a,b,c,d,e,f", false, "e")
	f.Add("u2", -1, ",,", true, "f")
	f.Add("u0", 1001, "c", false, "nope")
	m := newTestModel(f, openFake, smallData())
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, user string, n int, exclude string, includeSeen bool, item string) {
		var excl []string
		if exclude != "" {
			excl = strings.Split(exclude, ",")
		}
		res, err := m.Recommend(ctx, RecommendRequest{UserID: user, N: n, Exclude: excl, IncludeSeen: includeSeen})
		if err != nil {
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("Recommend(%q, n=%d) error %v is not ErrInvalidArgument", user, n, err)
			}
		} else {
			checkResult(t, "Recommend", res, n, excl)
		}
		res, err = m.SimilarItems(ctx, SimilarRequest{ItemID: item, N: n, Exclude: excl})
		if err != nil {
			if !errors.Is(err, ErrInvalidArgument) && !errors.Is(err, ErrNotFound) {
				t.Fatalf("SimilarItems(%q, n=%d) error %v is neither ErrInvalidArgument nor ErrNotFound", item, n, err)
			}
		} else {
			checkResult(t, "SimilarItems", res, n, append(excl, item))
		}
	})
}

// FuzzQuery sends arbitrary filters, session items, seeds and page tokens
// to a model with a catalogue. Requests must fail with one of the
// package's errors or return a well-formed answer whose every item passes
// the filter; nothing may panic.
func FuzzQuery(f *testing.F) {
	f.Add("user-0001", 5, "c3", "c3/s1", "brand", uint8(OpEquals), "b2", 1.0, 50.0, "item-0000001,item-0000002", "")
	f.Add("", 0, "", "", "", uint8(0), "", 0.0, 0.0, "", "AQ")
	f.Add("stranger", 1000, "/c1/", "nope", "price", uint8(OpRange), "", 60.0, 10.0, "item-0000009", "garbage")
	f.Add("user-0002", 20, "c0,c1,c2", "", "price", uint8(OpRange), "", -1.0, 1e9, "", "")
	f.Add("user-0003", 7, "", "c9", "in_stock", uint8(OpNotEquals), "false", 0.0, 0.0, "x,y", "")
	const items = 600
	d := randomData(items, 8)
	cat := shopItems(items, 12)
	m := filterModel(f, d, cat, DefaultModelOptions(), false)
	m.fold = testFoldIn(m)
	ctx := context.Background()
	split := func(s string) []string {
		if s == "" {
			return nil
		}
		return strings.Split(s, ",")
	}
	f.Fuzz(func(t *testing.T, user string, n int, cats, excl, attr string, op uint8, value string, lo, hi float64, recent, token string) {
		cond := AttributeCondition{Name: attr, Op: ConditionOp(op % 6), Value: value, Values: split(value), Min: &lo, Max: &hi}
		filter := Filter{Categories: split(cats), ExcludeCategories: split(excl)}
		if attr != "" || op != 0 {
			filter.Attributes = []AttributeCondition{cond}
		}
		allowed := func(err error) bool {
			return errors.Is(err, ErrInvalidArgument) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrFailedPrecondition)
		}
		check := func(call string, res Result, err error) {
			t.Helper()
			if err != nil {
				if !allowed(err) {
					t.Fatalf("%s error %v is not one of the package's", call, err)
				}
				return
			}
			if len(res.Items) > n {
				t.Errorf("%s returned %d items for n=%d", call, len(res.Items), n)
			}
			seen := map[string]bool{}
			for _, it := range res.Items {
				i, ok, _ := m.snap.ItemIndex(it.ID)
				if !ok || seen[it.ID] {
					t.Fatalf("%s returned unknown or duplicate item %q", call, it.ID)
				}
				seen[it.ID] = true
				if !passes(cat[i], filter) {
					t.Errorf("%s returned %s, which fails %+v", call, it.ID, filter)
				}
			}
		}
		res, err := m.Recommend(ctx, RecommendRequest{UserID: user, N: n, Filter: filter, Recent: split(recent), PageToken: token, Explain: true})
		check("Recommend", res, err)
		if err == nil && res.NextPageToken != "" {
			res, err = m.Recommend(ctx, RecommendRequest{UserID: user, N: n, Filter: filter, Recent: split(recent), PageToken: res.NextPageToken})
			check("Recommend page 2", res, err)
		}
		res, err = m.SimilarItems(ctx, SimilarRequest{ItemIDs: split(recent), UserID: user, N: n, Filter: filter, PageToken: token})
		check("SimilarItems", res, err)
		res, err = m.RecommendForBasket(ctx, BasketRequest{Items: split(recent), UserID: user, N: n, Filter: filter})
		check("RecommendForBasket", res, err)
		res, err = m.Trending(ctx, TrendingRequest{N: n, Metric: value, Filter: filter, PageToken: token})
		check("Trending", res, err)
		rr, err := m.Rank(ctx, RankRequest{UserID: user, Recent: split(recent), Candidates: split(cats + "," + recent)})
		if err != nil && !allowed(err) {
			t.Fatalf("Rank error %v is not one of the package's", err)
		}
		_ = rr
	})
}
