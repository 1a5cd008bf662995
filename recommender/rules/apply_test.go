package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func daysAgo(d float64) time.Time { return now.Add(-time.Duration(d * float64(24*time.Hour))) }

func c(row int32, score float32, src int8) Candidate {
	return Candidate{Row: row, Score: score, Source: src}
}

func res(row int32, score float32, src int8, rules ...string) Result {
	return Result{Candidate: c(row, score, src), Rules: rules}
}

func pinned(r Result) Result { r.Pinned = true; return r }

func TestApply(t *testing.T) {
	const (
		factors = 1
		pop     = 3
		pinSrc  = 9
	)
	// Five shoes and a bag, all from one source.
	shoesFirst := []Candidate{c(0, 6, factors), c(1, 5, factors), c(2, 4, factors), c(3, 3, factors), c(10, 2.5, factors), c(4, 2, factors), c(5, 1, factors)}
	for _, tc := range []struct {
		name     string
		rules    string
		scope    Scope
		n        int
		cands    []Candidate
		history  fakeHistory
		eligible []int32
		want     []Result
		// exhausted, excluded, capped
		exhausted        bool
		excluded, capped int
	}{{
		name:  "no rules: the first n",
		rules: "rules: []",
		n:     2,
		cands: []Candidate{c(3, 2, factors), c(1, 1, factors), c(0, 0.5, pop)},
		want:  []Result{res(3, 2, factors), res(1, 1, factors)},
	}, {
		name:      "no rules, too few candidates",
		rules:     "rules: []",
		n:         4,
		cands:     []Candidate{c(3, 2, factors), c(1, 1, factors)},
		want:      []Result{res(3, 2, factors), res(1, 1, factors)},
		exhausted: true,
	}, {
		name: "boost re-sorts within the source only",
		rules: `rules:
- {name: acme, boost: {multiplier: 2, match: {attributes: [{name: brand, equals: Acme}]}}}`,
		n:     6,
		cands: []Candidate{c(1, 1.0, factors), c(3, 0.9, factors), c(0, 0.8, factors), c(6, 0.5, pop), c(4, 0.4, pop), c(7, 0.3, pop)},
		want: []Result{
			res(0, 1.6, factors, "acme"), res(1, 1.0, factors), res(3, 0.9, factors),
			res(4, 0.8, pop, "acme"), res(6, 0.5, pop), res(7, 0.3, pop),
		},
	}, {
		name: "bury stays within its source",
		rules: `rules:
- {name: bury-a1, boost: {multiplier: 0.1, match: {attributes: [{name: brand, equals: Trailco}]}}}`,
		n:     4,
		cands: []Candidate{c(1, 1.0, factors), c(3, 0.9, factors), c(6, 5, pop), c(7, 4, pop)},
		want:  []Result{res(3, 0.9, factors), res(1, 0.1, factors, "bury-a1"), res(6, 5, pop), res(7, 4, pop)},
	}, {
		name: "a run without a multiplier keeps the caller's order",
		rules: `rules:
- {name: acme, boost: {multiplier: 2, match: {attributes: [{name: brand, equals: Acme}]}}}`,
		n:     3,
		cands: []Candidate{c(6, 0.1, pop), c(7, 0.9, pop), c(1, 1, factors)},
		want:  []Result{res(6, 0.1, pop), res(7, 0.9, pop), res(1, 1, factors)},
	}, {
		name: "boosts multiply, negative scores divide, names in file order",
		rules: `rules:
- {name: shoes, boost: {multiplier: 2, match: {categories: shoes}}}
- {name: cheap, boost: {multiplier: 1.5, match: {attributes: [{name: price, range: {max: 50}}]}}}`,
		n:     5,
		cands: []Candidate{c(1, 1, factors), c(0, 0.5, factors), c(10, 0.45, factors), c(4, -1, factors), c(3, -2, factors)},
		want: []Result{
			res(1, 2, factors, "shoes"), res(0, 1.5, factors, "shoes", "cheap"), res(10, 0.45, factors),
			res(4, -1.0/1.5, factors, "cheap"), res(3, -2.0/3, factors, "shoes", "cheap"),
		},
	}, {
		name: "sub-categories, exclude_categories, any_of and not_equals",
		rules: `rules:
- name: shoes-not-trail
  boost:
    multiplier: 3
    match: {categories: [shoes], exclude_categories: [shoes/trail], attributes: [{name: brand, not_equals: Generic}]}
- {name: bag-brands, boost: {multiplier: 5, match: {attributes: [{name: brand, any_of: [Bagco, Trailco]}]}}}`,
		n:     6,
		cands: []Candidate{c(10, 1, factors), c(2, 1, factors), c(3, 1, factors), c(0, 1, factors), c(1, 1, factors), c(5, 1, factors)},
		want: []Result{
			res(1, 15, factors, "shoes-not-trail", "bag-brands"), res(5, 5, factors, "bag-brands"), res(0, 3, factors, "shoes-not-trail"),
			res(10, 1, factors), res(2, 1, factors), res(3, 1, factors),
		},
	}, {
		name: "scope",
		rules: `rules:
- {name: similar-only, scope: [similar], boost: {multiplier: 10, match: {categories: bags}}}
- {name: rank-only, scope: rank, pin: [{item: a4, slot: 1}]}`,
		scope: ScopeRecommend,
		n:     2,
		cands: []Candidate{c(0, 2, factors), c(4, 1, factors)},
		want:  []Result{res(0, 2, factors), res(4, 1, factors)},
	}, {
		name: "scope that holds the request",
		rules: `rules:
- {name: similar-only, scope: [similar], boost: {multiplier: 10, match: {categories: bags}}}`,
		scope: ScopeSimilar,
		n:     2,
		cands: []Candidate{c(0, 2, factors), c(4, 1, factors)},
		want:  []Result{res(4, 10, factors, "similar-only"), res(0, 2, factors)},
	}, {
		name: "pins: a candidate moves, an eligible item joins, the rest are skipped",
		rules: `rules:
- name: campaign
  pin:
    - {item: a5, slot: 1}   # a candidate
    - {item: a8, slot: 3}   # not a candidate, eligible
    - {item: a7, slot: 2}   # not a candidate, not eligible
    - {item: nope, slot: 4} # not in the catalogue
    - {item: a11, slot: 9}  # beyond n
- {name: late, pin: [{item: a9, slot: 1}, {item: a5, slot: 2}, {item: a6, slot: 4}]}`,
		n:        5,
		cands:    []Candidate{c(0, 6, factors), c(1, 5, factors), c(5, 4, factors), c(2, 3, factors), c(3, 2, factors)},
		eligible: []int32{8, 9, 11},
		want: []Result{
			pinned(res(5, 4, factors, "campaign")), res(0, 6, factors), pinned(res(8, 0, pinSrc, "campaign")),
			res(1, 5, factors), res(2, 3, factors),
		},
	}, {
		name: "a pin beyond the end of a short answer moves up",
		rules: `rules:
- {name: p, pin: [{item: a4, slot: 4}]}`,
		n:         5,
		cands:     []Candidate{c(0, 6, factors), c(1, 5, factors), c(4, 1, factors)},
		want:      []Result{res(0, 6, factors), res(1, 5, factors), pinned(res(4, 1, factors, "p"))},
		exhausted: true,
	}, {
		name: "a boosted candidate keeps its boost when pinned",
		rules: `rules:
- {name: acme, boost: {multiplier: 2, match: {attributes: [{name: brand, equals: Acme}]}}}
- {name: p, pin: [{item: a4, slot: 1}]}`,
		n:     2,
		cands: []Candidate{c(0, 6, factors), c(4, 1, factors)},
		want:  []Result{pinned(res(4, 2, factors, "acme", "p")), res(0, 12, factors, "acme")},
	}, {
		name: "diversity: two per top-level category",
		rules: `rules:
- {name: two-per-dept, diversity: {depth: 1, max: 2}}`,
		n:     4,
		cands: shoesFirst,
		want: []Result{
			res(0, 6, factors), res(1, 5, factors),
			res(10, 2.5, factors, "two-per-dept"), res(4, 2, factors, "two-per-dept"),
		},
		capped: 2,
	}, {
		name: "diversity by leaf category",
		rules: `rules:
- {name: one-per-leaf, diversity: {depth: 2, max: 1}}`,
		n:     4,
		cands: shoesFirst,
		want: []Result{
			res(0, 6, factors), res(2, 4, factors, "one-per-leaf"), res(3, 3, factors, "one-per-leaf"), res(10, 2.5, factors, "one-per-leaf"),
		},
		capped: 1,
	}, {
		name: "diversity runs out of candidates",
		rules: `rules:
- {name: one-per-dept, diversity: {max: 1}}`,
		n:         4,
		cands:     shoesFirst,
		want:      []Result{res(0, 6, factors), res(10, 2.5, factors, "one-per-dept"), res(4, 2, factors, "one-per-dept")},
		exhausted: true,
		capped:    4,
	}, {
		name: "items without a category are never capped; pins count",
		rules: `rules:
- {name: one-per-dept, diversity: {max: 1}}
- {name: p, pin: [{item: a3, slot: 3}]}`,
		n:        4,
		cands:    []Candidate{c(0, 6, factors), c(9, 5, factors), c(4, 4, factors), c(11, 3, factors), c(6, 2, factors)},
		eligible: []int32{3},
		want: []Result{
			res(9, 5, factors, "one-per-dept"), res(4, 4, factors, "one-per-dept"), pinned(res(3, 0, pinSrc, "p")), res(6, 2, factors, "one-per-dept"),
		},
		capped: 2,
	}, {
		name: "exclusion windows: first rule decides",
		rules: `rules:
- {name: consumables, exclude: {events: [purchase], match: {categories: grocery}, for: 14d}}
- {name: durables, exclude: {events: [purchase], for: forever}}
- {name: views, exclude: {events: [view], for: 7d}}`,
		n: 9,
		cands: []Candidate{
			c(6, 9, factors), c(7, 8, factors), c(0, 7, factors), c(1, 6, factors), c(2, 5, factors),
			c(4, 4, factors), c(3, 3, factors), c(5, 2, factors), c(8, 1, factors),
		},
		history: fakeHistory{
			{6, "purchase", daysAgo(10)},    // within 14d: out
			{7, "purchase", daysAgo(20)},    // consumable, 14d passed: back
			{0, "purchase", daysAgo(1000)},  // durable: out forever
			{1, "view", daysAgo(3)},         // out for 7d
			{2, "view", daysAgo(8)},         // back
			{4, "VIEW", daysAgo(1)},         // event types compare without case
			{3, "cart", daysAgo(1)},         // no rule for cart
			{5, "view", daysAgo(30)},        // back by the view...
			{5, "view", daysAgo(2)},         // ...but not by this one
			{99, "purchase", daysAgo(1)},    // not in the catalogue: ignored
			{2, "view", now.Add(time.Hour)}, // a clock ahead: still inside the window
		},
		want:      []Result{res(7, 8, factors), res(3, 3, factors), res(8, 1, factors)},
		exhausted: true,
		excluded:  6,
	}, {
		name: "an excluded item is not pinned",
		rules: `rules:
- {name: bought, exclude: {events: [purchase], for: forever}}
- {name: p, pin: [{item: a4, slot: 1}, {item: a5, slot: 2}]}`,
		n:        2,
		cands:    []Candidate{c(0, 6, factors), c(4, 4, factors), c(1, 1, factors)},
		history:  fakeHistory{{4, "purchase", daysAgo(1)}, {5, "purchase", daysAgo(1)}},
		eligible: []int32{5},
		want:     []Result{res(0, 6, factors), res(1, 1, factors)},
		excluded: 1,
	}, {
		name:  "n of 0",
		rules: `rules: [{name: p, pin: [{item: a4, slot: 1}]}]`,
		n:     0,
		cands: []Candidate{c(0, 6, factors)},
		want:  nil,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustCompile(t, tc.rules, shop())
			req := ApplyRequest{Scope: tc.scope, N: tc.n, Candidates: tc.cands, Now: now, PinSource: pinSrc}
			if tc.history != nil {
				req.History = tc.history
			}
			if tc.eligible != nil {
				req.Eligible = func(row int32) bool {
					for _, e := range tc.eligible {
						if e == row {
							return true
						}
					}
					return false
				}
			}
			before := append([]Candidate(nil), tc.cands...)
			var out Output
			// Twice through one Output: the answer must not depend on
			// what the Output or the pooled scratch held before.
			for range 2 {
				if err := r.Apply(req, &out); err != nil {
					t.Fatalf("Apply: %v", err)
				}
				if diff := cmp.Diff(tc.want, out.Items, cmp.Comparer(func(a, b float32) bool {
					d := a - b
					return d < 1e-6 && d > -1e-6
				})); diff != "" {
					t.Errorf("Apply items (-want +got):\n%s", diff)
				}
				if out.Exhausted != tc.exhausted || out.Excluded != tc.excluded || out.Capped != tc.capped {
					t.Errorf("Apply: exhausted %v, excluded %d, capped %d; want %v, %d, %d",
						out.Exhausted, out.Excluded, out.Capped, tc.exhausted, tc.excluded, tc.capped)
				}
			}
			if diff := cmp.Diff(before, tc.cands); diff != "" {
				t.Errorf("Apply modified the candidates (-before +after):\n%s", diff)
			}
		})
	}
}

func TestApplyErrors(t *testing.T) {
	r := mustCompile(t, "rules: []", shop())
	for _, tc := range []struct {
		name string
		req  ApplyRequest
		want string
	}{
		{"negative n", ApplyRequest{N: -1}, "n -1"},
		{"bad scope", ApplyRequest{N: 1, Scope: numScopes}, "unknown scope"},
		{"row out of range", ApplyRequest{N: 1, Candidates: []Candidate{c(12, 1, 1)}}, "row 12 outside the 12 items"},
		{"negative row", ApplyRequest{N: 1, Candidates: []Candidate{c(-1, 1, 1)}}, "row -1"},
	} {
		var out Output
		err := r.Apply(tc.req, &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Apply(%s) = %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

func TestCompileWarnings(t *testing.T) {
	r := mustCompile(t, `rules:
- {name: typo, boost: {multiplier: 2, match: {attributes: [{name: brnad, equals: Acme}]}}}
- {name: none, exclude: {events: [view], match: {categories: toys}, for: 1d}}
- {name: p, pin: [{item: a0, slot: 1}, {item: sku-404, slot: 2}]}
- {name: fine, boost: {multiplier: 2, match: {categories: bags}}}`, shop())
	want := []string{
		`test.yaml:2: rule "typo": boost.match.attributes[0]: no item has the attribute "brnad"`,
		`test.yaml:2: rule "typo": boost.match: matches no item`,
		`test.yaml:3: rule "none": exclude.match: matches no item`,
		`test.yaml:4: rule "p": pin[1]: item "sku-404" is not in the catalogue; skipped`,
	}
	if diff := cmp.Diff(want, r.Warnings()); diff != "" {
		t.Errorf("Warnings (-want +got):\n%s", diff)
	}
}

func TestCandidates(t *testing.T) {
	r := mustCompile(t, `rules:
- {name: p, pin: [{item: a0, slot: 1}]}
- {name: cap, scope: [recommend], diversity: {max: 2}}
- {name: b, scope: [similar], boost: {multiplier: 2, match: {categories: bags}}}
- {name: x, scope: [basket], exclude: {events: [purchase], for: forever}}`, shop())
	for _, tc := range []struct {
		scope Scope
		want  int
	}{{ScopeRecommend, 30}, {ScopeSimilar, 30}, {ScopeBasket, 30}, {ScopeTrending, 10}, {ScopeRank, 10}} {
		if got := r.Candidates(tc.scope, 10); got != tc.want {
			t.Errorf("Candidates(%v, 10) = %d, want %d", tc.scope, got, tc.want)
		}
	}
}

func TestApplyAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates and sync.Pool drops items under it")
	}
	r := mustCompile(t, `rules:
- {name: acme, boost: {multiplier: 2, match: {attributes: [{name: brand, equals: Acme}]}}}
- {name: p, pin: [{item: a8, slot: 2}]}
- {name: cap, diversity: {max: 2}}
- {name: bought, exclude: {events: [purchase], for: forever}}`, shop())
	req := ApplyRequest{
		N:          6,
		Candidates: []Candidate{c(0, 6, 1), c(1, 5, 1), c(2, 4, 1), c(3, 3, 1), c(4, 2, 1), c(5, 1, 1), c(6, 1, 3), c(7, 1, 3)},
		History:    fakeHistory{{1, "purchase", daysAgo(1)}},
		Now:        now,
		Eligible:   func(int32) bool { return true },
	}
	var out Output
	if err := r.Apply(req, &out); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := r.Apply(req, &out); err != nil {
			t.Fatal(err)
		}
	})
	// The History callback escapes through the interface.
	if allocs > 1 {
		t.Errorf("Apply allocates %v times per call, want at most 1", allocs)
	}
}
