package rules_test

import (
	"fmt"
	"time"

	"github.com/polecam/polecam/recommender/rules"
)

// catalogue is a small Items; the recommender's is its snapshot's.
type catalogue struct {
	ids, cats []string
	brand     []string
}

func (c *catalogue) Len() int { return len(c.ids) }
func (c *catalogue) Row(id string) (int32, bool) {
	for i, x := range c.ids {
		if x == id {
			return int32(i), true
		}
	}
	return -1, false
}
func (c *catalogue) Category(row int32) string { return c.cats[row] }
func (c *catalogue) Attribute(row int32, name string) (string, bool) {
	if name == "brand" && c.brand[row] != "" {
		return c.brand[row], true
	}
	return "", false
}

// history is a user's interactions.
type history []struct {
	row   int32
	event string
	at    time.Time
}

func (h history) Interactions(yield func(int32, string, time.Time) bool) {
	for _, e := range h {
		if !yield(e.row, e.event, e.at) {
			return
		}
	}
}

func Example() {
	f, err := rules.Parse("rules.yaml", []byte(`
rules:
  - name: acme-up
    boost: {multiplier: 2, match: {attributes: [{name: brand, equals: Acme}]}}
  - name: campaign
    scope: [recommend]
    pin: [{item: bag-1, slot: 1}]
  - name: two-shoes
    diversity: {depth: 1, max: 2}
  - name: bought-once
    exclude: {events: [purchase], for: forever}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	items := &catalogue{
		ids:   []string{"run-1", "run-2", "trail-1", "trail-2", "bag-1", "bag-2"},
		cats:  []string{"shoes/running", "shoes/running", "shoes/trail", "shoes/trail", "bags", "bags"},
		brand: []string{"", "Acme", "", "", "", "Acme"},
	}
	r := rules.Compile(f, items)

	const factors, popularity = 1, 3 // the recommender's sources
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	n := 4
	fmt.Println("candidates to rank:", r.Candidates(rules.ScopeRecommend, n))
	var out rules.Output
	err = r.Apply(rules.ApplyRequest{
		Scope: rules.ScopeRecommend,
		N:     n,
		Candidates: []rules.Candidate{
			{Row: 0, Score: 0.9, Source: factors}, {Row: 1, Score: 0.8, Source: factors},
			{Row: 2, Score: 0.7, Source: factors}, {Row: 3, Score: 0.6, Source: factors},
			{Row: 5, Score: 40, Source: popularity},
		},
		History:  history{{row: 0, event: "purchase", at: now.Add(-48 * time.Hour)}},
		Now:      now,
		Eligible: func(row int32) bool { return true },
	}, &out)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, it := range out.Items {
		fmt.Printf("%d. %-8s %5.1f  source %d  pinned %-5v  rules %v\n", i+1, items.ids[it.Row], it.Score, it.Source, it.Pinned, it.Rules)
	}
	fmt.Printf("exhausted %v, excluded %d, capped %d\n", out.Exhausted, out.Excluded, out.Capped)
	// Output:
	// candidates to rank: 12
	// 1. bag-1      0.0  source 0  pinned true   rules [campaign]
	// 2. run-2      1.6  source 1  pinned false  rules [acme-up]
	// 3. trail-1    0.7  source 1  pinned false  rules []
	// 4. bag-2     80.0  source 3  pinned false  rules [acme-up two-shoes]
	// exhausted false, excluded 1, capped 1
}
