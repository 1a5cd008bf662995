package recommender

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/polecam/polecam/recommender/rules"
)

// staticRules is a RulesSource of one parsed file, compiled per catalogue.
type staticRules struct{ f *rules.File }

func (s staticRules) For(items rules.Items) *rules.Rules { return rules.Compile(s.f, items) }

// TestRulesApply checks boosts, pins and diversity through Recommend,
// SimilarItems and Trending, with explain, and pages of a ruled answer.
func TestRulesApply(t *testing.T) {
	ctx := context.Background()
	const items = 3000
	d := randomData(items, 8)
	cat := shopItems(items, 13)
	m := filterModel(t, d, cat, DefaultModelOptions(), false)
	pinned := d.items[1234]
	f, err := rules.Parse("rules.yaml", []byte(`rules:
  - name: b2-up
    boost: {multiplier: 1000, match: {attributes: [{name: brand, equals: b2}]}}
  - name: pin-1234
    scope: [recommend, trending]
    pin: [{item: `+pinned+`, slot: 2}]
  - name: two-per-department
    diversity: {depth: 1, max: 2}
`))
	if err != nil {
		t.Fatal(err)
	}
	r := New()
	r.SetRules(staticRules{f})
	r.Swap(m)
	top := func(row int32) string {
		c := cat[row].category
		if i := strings.IndexByte(c, '/'); i >= 0 {
			c = c[:i]
		}
		return c
	}
	check := func(call string, res Result, wantPin bool) {
		t.Helper()
		per := map[string]int{}
		for k, it := range res.Items {
			row := m.mustIndex(t, it.ID)
			if c := top(row); c != "" {
				if per[c]++; per[c] > 2 {
					t.Errorf("%s: a third item of department %s at %d", call, c, k+1)
				}
			}
			if it.ID == pinned {
				// A pinned candidate keeps its source; one the ranking did not
				// bring is SourcePinned.
				if k != 1 || !slices.Contains(it.Rules, "pin-1234") {
					t.Errorf("%s: pinned item at %d, rules %q; want slot 2 and pin-1234", call, k+1, it.Rules)
				}
			}
			if cat[row].attrs["brand"] == "b2" && it.Source != SourcePinned && !slices.Contains(it.Rules, "b2-up") {
				t.Errorf("%s: %s of brand b2 without b2-up in rules %q", call, it.ID, it.Rules)
			}
		}
		if wantPin && (len(res.Items) < 2 || res.Items[1].ID != pinned) {
			t.Errorf("%s: slot 2 is not the pinned item", call)
		}
	}
	for u := range 5 {
		res, err := r.Recommend(ctx, RecommendRequest{UserID: d.users[u], N: 10, Explain: true})
		if err != nil {
			t.Fatal(err)
		}
		check("Recommend", res, !slices.Contains(d.seen[int32(u)], 1234))
		// The boost lifts brand b2 within the factor source.
		plain, err := m.Recommend(ctx, RecommendRequest{UserID: d.users[u], N: 10})
		if err != nil {
			t.Fatal(err)
		}
		count := func(items []ScoredItem) (n int) {
			for _, it := range items {
				if cat[m.mustIndex(t, it.ID)].attrs["brand"] == "b2" {
					n++
				}
			}
			return n
		}
		if with, without := count(res.Items), count(plain.Items); with <= without && without < 10 {
			t.Errorf("Recommend(%s): %d of 10 are brand b2 under a ×1000 boost, %d without rules", d.users[u], with, without)
		}
	}
	res, err := r.Trending(ctx, TrendingRequest{N: 10, Metric: MetricPopular, Explain: true})
	if err != nil {
		t.Fatal(err)
	}
	check("Trending", res, true)
	res, err = r.SimilarItems(ctx, SimilarRequest{ItemID: d.items[5], N: 10, Explain: true})
	if err != nil {
		t.Fatal(err)
	}
	check("SimilarItems", res, false)

	// Pages of a ruled answer are cut by position.
	all, err := r.Recommend(ctx, RecommendRequest{UserID: d.users[7], N: 12})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	tok := ""
	for range 4 {
		p, err := r.Recommend(ctx, RecommendRequest{UserID: d.users[7], N: 3, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range p.Items {
			got = append(got, it.ID)
		}
		tok = p.NextPageToken
	}
	var want []string
	for _, it := range all.Items {
		want = append(want, it.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("4 ruled pages of 3 = %q, one request for 12 = %q", got, want)
	}
}

// TestRulesApplyToRank checks Rank under rules of its scope: a boost
// reorders, a pin takes its slot, an exclusion and a diversity cap push
// candidates to the end, never out, and rules of another scope do
// nothing.
func TestRulesApplyToRank(t *testing.T) {
	ctx := context.Background()
	const items = 3000
	d := randomData(items, 8)
	cat := shopItems(items, 13)
	m := filterModel(t, d, cat, DefaultModelOptions(), false)
	plain, err := m.Rank(ctx, RankRequest{UserID: d.users[3], Candidates: slices.Clone(d.items[:200])})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(res RankResult) []string {
		var out []string
		for _, it := range res.Items {
			out = append(out, it.ID)
		}
		return out
	}
	order := ids(plain)
	last := order[len(order)-1]
	// The first b2 item after the top 20, to boost.
	k := slices.IndexFunc(order[20:], func(id string) bool { return cat[m.mustIndex(t, id)].attrs["brand"] == "b2" })
	if k < 0 {
		t.Fatal("no b2 item below the top 20")
	}
	f, err := rules.Parse("rules.yaml", []byte(`rules:
  - name: b2-up
    scope: [rank]
    boost: {multiplier: 1000, match: {attributes: [{name: brand, equals: b2}]}}
  - name: last-first
    scope: [rank]
    pin: [{item: `+last+`, slot: 1}]
  - name: recommend-only
    scope: [recommend]
    pin: [{item: `+order[5]+`, slot: 2}]
`))
	if err != nil {
		t.Fatal(err)
	}
	r := New()
	r.SetRules(staticRules{f})
	r.Swap(m)
	res, err := r.Rank(ctx, RankRequest{UserID: d.users[3], Candidates: slices.Clone(d.items[:200]), Explain: true})
	if err != nil {
		t.Fatal(err)
	}
	got := ids(res)
	if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(order))) {
		t.Fatalf("ruled Rank returned %d items, not the %d candidates", len(got), len(order))
	}
	if got[0] != last || !slices.Contains(res.Items[0].Rules, "last-first") {
		t.Errorf("slot 1: %s with rules %q, want the pinned %s with last-first", got[0], res.Items[0].Rules, last)
	}
	if got[1] == order[5] {
		t.Errorf("a recommend-scope pin applied to Rank")
	}
	// The factor-scored candidates after the pin are in the order of
	// their boosted scores (a negative score is divided).
	type scored struct {
		id string
		s  float64
	}
	var want []scored
	for _, it := range plain.Items {
		if it.Source != SourceFactors || it.ID == last {
			continue
		}
		s := float64(it.Score)
		if cat[m.mustIndex(t, it.ID)].attrs["brand"] == "b2" {
			if s >= 0 {
				s *= 1000
			} else {
				s /= 1000
			}
		}
		want = append(want, scored{it.ID, float64(float32(s))})
	}
	slices.SortStableFunc(want, func(a, b scored) int { return cmp.Compare(b.s, a.s) })
	var wantIDs, gotIDs []string
	for _, w := range want {
		wantIDs = append(wantIDs, w.id)
	}
	for _, it := range res.Items[1:] {
		if it.Source == SourceFactors {
			gotIDs = append(gotIDs, it.ID)
			if b2 := cat[m.mustIndex(t, it.ID)].attrs["brand"] == "b2"; b2 != slices.Contains(it.Rules, "b2-up") {
				t.Errorf("%s: brand b2 %v, rules %q", it.ID, b2, it.Rules)
			}
		}
	}
	if !slices.Equal(gotIDs, wantIDs) {
		t.Errorf("boosted order\n%q,\nwant\n%q", gotIDs, wantIDs)
	}

	// A cap of two per department moves the rest down, keeping them all.
	f2, err := rules.Parse("rules.yaml", []byte(`rules:
  - name: two-per-department
    scope: [rank]
    diversity: {depth: 1, max: 2}
`))
	if err != nil {
		t.Fatal(err)
	}
	r.SetRules(staticRules{f2})
	res, err = r.Rank(ctx, RankRequest{UserID: d.users[3], Candidates: slices.Clone(d.items[:200])})
	if err != nil {
		t.Fatal(err)
	}
	got = ids(res)
	if len(got) != len(order) {
		t.Fatalf("capped Rank returned %d items, want %d", len(got), len(order))
	}
	per := map[string]int{}
	for _, id := range got[:10] {
		c := cat[m.mustIndex(t, id)].category
		if i := strings.IndexByte(c, '/'); i >= 0 {
			c = c[:i]
		}
		if c != "" {
			if per[c]++; per[c] > 2 {
				t.Errorf("capped Rank: a third item of %s in the top 10", c)
			}
		}
	}
}
