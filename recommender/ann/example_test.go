package ann_test

import (
	"bytes"
	"context"
	"fmt"

	"github.com/polecam/polecam/recommender/ann"
)

func Example() {
	// Five items with two factors each, padded to a stride of 3 floats.
	items := []float32{
		1, 0, 0,
		0, 1, 0,
		2, 2, 0,
		-1, 0, 0,
		0.5, 0.5, 0,
	}
	ix, err := ann.Build(context.Background(), items, 5, 2, 3, ann.DefaultOptions())
	if err != nil {
		panic(err)
	}

	// Store the graph (for example next to the factor file of a snapshot)
	// and load it back over the same vectors: no rebuilding.
	var buf bytes.Buffer
	if _, err := ix.WriteTo(&buf); err != nil {
		panic(err)
	}
	ix, err = ann.Load(buf.Bytes(), items, 5, 2, 3)
	if err != nil {
		panic(err)
	}

	// The top 3 by inner product with the user's vector, leaving out item 2
	// (say, already in the basket). Reuse the scratch and dst per goroutine.
	scratch := ann.NewScratch(ix)
	notInBasket := func(item int32) bool { return item != 2 }
	res := ix.Search([]float32{1, 0.8}, 3, 0, notInBasket, nil, scratch)
	for _, r := range res {
		fmt.Printf("item %d score %.2f\n", r.Item, r.Score)
	}
	// Output:
	// item 0 score 1.00
	// item 4 score 0.90
	// item 1 score 0.80
}
