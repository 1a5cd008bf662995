package training_test

import (
	"context"
	"fmt"

	"github.com/polecam/polecam/training"
)

// Events are weighted by intent and aggregated into a matrix, from which
// co-occurrence neighbours and popularity follow.
func Example() {
	weights := map[string]float32{"view": 1, "add_to_cart": 3, "purchase": 5}
	events := []struct{ user, item, event string }{
		{"alice", "tent", "view"}, {"alice", "tent", "purchase"}, {"alice", "stove", "view"},
		{"bob", "tent", "view"}, {"bob", "stove", "add_to_cart"}, {"bob", "mug", "view"},
		{"carol", "mug", "purchase"}, {"carol", "stove", "view"}, {"carol", "tent", "view"},
	}
	b := training.NewBuilder()
	for _, e := range events {
		b.Add(e.user, e.item, weights[e.event])
	}
	x := b.Build()
	fmt.Printf("%d users × %d items, %d pairs\n", x.NumUsers(), x.NumItems(), x.NNZ())
	tent, _ := x.ItemIndex("tent")
	users, ws := x.ItemColumn(tent)
	for k, u := range users {
		fmt.Printf("tent: %s weight %g\n", x.Users[u], ws[k])
	}

	neighbours, err := training.CoOccurrence(context.Background(), x, training.DefaultCoOccurrenceOptions())
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, n := range neighbours[tent] {
		fmt.Printf("tent ~ %s %.3f\n", x.Items[n.Item], n.Score)
	}
	fmt.Println("popularity:", training.Popularity(x))
	// Output:
	// 3 users × 3 items, 8 pairs
	// tent: alice weight 6
	// tent: bob weight 1
	// tent: carol weight 1
	// tent ~ stove 1.000
	// tent ~ mug 0.816
	// popularity: [3 3 2]
}
