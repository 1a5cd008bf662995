package recommender

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/polecam/polecam/recommender/rules"
	"github.com/polecam/polecam/store"
)

// TestExclusionWindowsReadmitTrainedItems checks that merchandising
// rules' exclusion windows apply to a trained user's history as the
// snapshot records it (store.SeenEventsFile): a viewed item comes back
// after its window, a consumable after its repurchase interval, a
// purchased durable never, an item with an event no rule covers never;
// explain names the rule that let an item back, and the clock decides.
func TestExclusionWindowsReadmitTrainedItems(t *testing.T) {
	ctx := context.Background()
	const items, dims = 400, 8
	d := randomData(items, dims)
	// User 0 likes what they were trained on: their vector is the sum of
	// their items' vectors, so their own items rank high once let back.
	seen := slices.Compact(slices.Sorted(slices.Values(d.seen[0])))
	if len(seen) < 6 {
		t.Fatalf("user 0 has %d trained items, want at least 6", len(seen))
	}
	u := make([]float32, dims)
	for _, i := range seen {
		for j, v := range d.itemVecs[i] {
			u[j] += v
		}
	}
	d.userVecs[0] = u
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	day := func(n int) uint32 { return uint32(now.Add(-time.Duration(n) * 24 * time.Hour).Unix()) }
	const (
		view, cart, purchase, rating = 0, 1, 2, 3
	)
	// Every trained item of user 0 has an event; the first four have
	// the ones the rules below are about, the others a rating (no rule).
	back, stillViewed, durable, coffee := seen[0], seen[1], seen[2], seen[3]
	events := map[int32][]store.SeenEvent{}
	for _, i := range seen {
		switch i {
		case back:
			events[i] = []store.SeenEvent{{Item: i, Kind: view, At: day(30)}, {Item: i, Kind: cart, At: day(10)}}
		case stillViewed:
			events[i] = []store.SeenEvent{{Item: i, Kind: view, At: day(3)}}
		case durable:
			events[i] = []store.SeenEvent{{Item: i, Kind: view, At: day(400)}, {Item: i, Kind: purchase, At: day(400)}}
		case coffee:
			events[i] = []store.SeenEvent{{Item: i, Kind: purchase, At: day(20)}}
		default:
			events[i] = []store.SeenEvent{{Item: i, Kind: rating, At: day(500)}}
		}
	}
	snap := openStoreBuilt(t, d, func(b *store.Builder) error {
		if err := b.SetSeenEventKinds([]string{"view", "cart", "purchase", "rating"}); err != nil {
			return err
		}
		var list []store.SeenEvent
		for _, i := range seen { // ascending
			list = append(list, events[i]...)
		}
		return b.PutSeenEvents(0, list)
	})
	clock := now
	opts := DefaultModelOptions()
	opts.Now = func() time.Time { return clock }
	m, err := NewModelWithOptions(snap, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	r := New()
	r.Swap(m)
	f, err := rules.Parse("rules.yaml", []byte(`rules:
  - name: coffee-again
    exclude: {events: [purchase], match: {attributes: [{name: kind, equals: coffee}]}, for: 14d}
  - name: durables-once
    exclude: {events: [purchase], for: forever}
  - name: views-come-back
    scope: [recommend]
    exclude: {events: [view, cart], for: 7d}
`))
	if err != nil {
		t.Fatal(err)
	}
	// The snapshot has no catalogue: the rules see one attribute,
	// kind=coffee, on the coffee item.
	r.SetRules(coffeeRules{f: f, coffee: d.items[coffee]})

	n := items // every item the request may get
	ids := func(res Result) []string {
		var out []string
		for _, it := range res.Items {
			out = append(out, it.ID)
		}
		return out
	}
	res, err := r.Recommend(ctx, RecommendRequest{UserID: d.users[0], N: n, Explain: true})
	if err != nil {
		t.Fatal(err)
	}
	got := ids(res)
	for _, i := range seen {
		want := i == back || i == coffee
		if has := slices.Contains(got, d.items[i]); has != want {
			t.Errorf("trained item %s (events %v) in the answer: %v, want %v", d.items[i], events[i], has, want)
		}
	}
	for _, it := range res.Items {
		switch it.ID {
		case d.items[back]:
			if !slices.Equal(it.Rules, []string{"views-come-back"}) {
				t.Errorf("readmitted viewed item: rules %q, want [views-come-back]", it.Rules)
			}
		case d.items[coffee]:
			if !slices.Equal(it.Rules, []string{"coffee-again"}) {
				t.Errorf("readmitted coffee: rules %q, want [coffee-again]", it.Rules)
			}
		}
	}
	// The readmitted items are where their scores put them: the answer
	// is the IncludeSeen answer without the items still excluded.
	all, err := m.Recommend(ctx, RecommendRequest{UserID: d.users[0], N: n, IncludeSeen: true})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, id := range ids(all) {
		if i := m.mustIndex(t, id); !slices.Contains(seen, i) || i == back || i == coffee {
			want = append(want, id)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("answer %q,\nwant the IncludeSeen answer less the excluded trained items %q", got, want)
	}

	// Eight days earlier the cart event is within its window, and the
	// coffee within its interval.
	clock = now.Add(-8 * 24 * time.Hour)
	res, err = r.Recommend(ctx, RecommendRequest{UserID: d.users[0], N: n})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids(res) {
		if slices.Contains(seen, m.mustIndex(t, id)) {
			t.Errorf("at %v: trained item %s in the answer", clock, id)
		}
	}
	clock = now

	// The view rule is Recommend's: SimilarItems for the user keeps the
	// viewed item out, and lets the coffee back.
	seed := slices.IndexFunc(d.items, func(id string) bool { return !slices.Contains(seen, m.mustIndex(t, id)) })
	res, err = r.SimilarItems(ctx, SimilarRequest{ItemID: d.items[seed], UserID: d.users[0], N: items - 1})
	if err != nil {
		t.Fatal(err)
	}
	got = ids(res)
	if slices.Contains(got, d.items[back]) || !slices.Contains(got, d.items[coffee]) {
		t.Errorf("SimilarItems for the user: viewed item in %v, coffee in %v; want false, true",
			slices.Contains(got, d.items[back]), slices.Contains(got, d.items[coffee]))
	}

	// Without rules every trained item stays out.
	r.SetRules(nil)
	res, err = r.Recommend(ctx, RecommendRequest{UserID: d.users[0], N: n})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids(res) {
		if slices.Contains(seen, m.mustIndex(t, id)) {
			t.Errorf("without rules: trained item %s in the answer", id)
		}
	}
}

// coffeeRules compiles a rules file against the model's catalogue with
// one more attribute, kind=coffee, on one item.
type coffeeRules struct {
	f      *rules.File
	coffee string
}

func (c coffeeRules) For(items rules.Items) *rules.Rules {
	return rules.Compile(c.f, coffeeItems{items, c.coffee})
}

type coffeeItems struct {
	rules.Items
	coffee string
}

func (c coffeeItems) Attribute(row int32, name string) (string, bool) {
	if r, ok := c.Row(c.coffee); ok && r == row && name == "kind" {
		return "coffee", true
	}
	return c.Items.Attribute(row, name)
}
