package rules

import (
	"slices"
	"testing"
	"time"
)

func TestReadmits(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	const day = 24 * time.Hour
	const file = `rules:
- name: similar-views
  scope: [similar]
  exclude: {events: [view], for: 1d}
- name: coffee-again
  exclude: {events: [purchase], match: {categories: [grocery/coffee]}, for: 14d}
- name: durables-once
  exclude: {events: [purchase], for: forever}
- name: views-come-back
  exclude: {events: [view, cart], for: 7d}
`
	r := mustCompile(t, file, shop())
	for _, tc := range []struct {
		name   string
		scope  Scope
		row    int32
		events fakeHistory // rows ignored
		want   []string    // nil: not readmitted
	}{
		{"a view past its window", ScopeRecommend, 1, fakeHistory{{0, "view", ago(8 * day)}}, []string{"views-come-back"}},
		{"a view within its window", ScopeRecommend, 1, fakeHistory{{0, "view", ago(6 * day)}}, nil},
		{"event types compare without case", ScopeRecommend, 1, fakeHistory{{0, "VIEW", ago(8 * day)}}, []string{"views-come-back"}},
		{"old view and cart, both past", ScopeRecommend, 1, fakeHistory{{0, "view", ago(30 * day)}, {0, "cart", ago(9 * day)}}, []string{"views-come-back"}},
		{"old view, recent cart", ScopeRecommend, 1, fakeHistory{{0, "view", ago(30 * day)}, {0, "cart", ago(2 * day)}}, nil},
		{"a purchased durable never comes back", ScopeRecommend, 1, fakeHistory{{0, "purchase", ago(400 * day)}}, nil},
		{"a viewed then purchased durable", ScopeRecommend, 1, fakeHistory{{0, "view", ago(30 * day)}, {0, "purchase", ago(29 * day)}}, nil},
		{"coffee after its repurchase interval", ScopeRecommend, 6, fakeHistory{{0, "purchase", ago(15 * day)}}, []string{"coffee-again"}},
		{"coffee within it", ScopeRecommend, 6, fakeHistory{{0, "purchase", ago(13 * day)}}, nil},
		{"coffee bought and viewed long ago names both rules", ScopeRecommend, 6, fakeHistory{{0, "view", ago(20 * day)}, {0, "purchase", ago(20 * day)}}, []string{"coffee-again", "views-come-back"}},
		{"an event no rule covers keeps the item out", ScopeRecommend, 1, fakeHistory{{0, "rating", ago(400 * day)}}, nil},
		{"no interactions", ScopeRecommend, 1, nil, nil},
		{"the scope's own rules: the similar view rule comes first", ScopeSimilar, 1, fakeHistory{{0, "view", ago(2 * day)}}, []string{"similar-views"}},
		{"rules without a scope apply to every scope", ScopeRank, 1, fakeHistory{{0, "view", ago(400 * day)}}, []string{"views-come-back"}},
		{"a row outside the catalogue", ScopeRecommend, 99, fakeHistory{{0, "view", ago(400 * day)}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seq := func(yield func(string, time.Time) bool) {
				for _, e := range tc.events {
					if !yield(e.event, e.at) {
						return
					}
				}
			}
			prefix := []string{"kept"}
			got, ok := r.Readmits(tc.scope, tc.row, seq, now, slices.Clone(prefix))
			if ok != (tc.want != nil) {
				t.Fatalf("Readmits = %v, %v; want readmitted %v", got, ok, tc.want != nil)
			}
			want := prefix
			if ok {
				want = append(want, tc.want...)
			}
			if !slices.Equal(got, want) {
				t.Errorf("names = %q, want %q", got, want)
			}
		})
	}
}

func TestHasWindows(t *testing.T) {
	r := mustCompile(t, `rules:
- {name: durables-once, exclude: {events: [purchase], for: forever}}
- {name: views, scope: [similar], exclude: {events: [view], for: 7d}}
`, shop())
	for scope, want := range map[Scope]bool{ScopeRecommend: false, ScopeSimilar: true, ScopeRank: false, numScopes: false} {
		if got := r.HasWindows(scope); got != want {
			t.Errorf("HasWindows(%v) = %v, want %v", scope, got, want)
		}
	}
}
