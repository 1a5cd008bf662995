package store_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/polecam/polecam/store"
)

func Example() {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "polecam-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	d, err := store.OpenDir(tmp)
	if err != nil {
		log.Fatal(err)
	}

	b, err := d.NewBuilder(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Abort()
	check := func(err error) {
		if err != nil {
			log.Fatal(err)
		}
	}
	check(b.SetItems([]string{"apple", "pear", "plum"}))
	check(b.SetUsers([]string{"ann", "bob"}))
	check(b.SetItemFactors(3, 2, []float32{1, 0, 0, 1, 0.5, 0.5}))
	check(b.SetUserFactors(2, 2, []float32{0.9, 0.1, 0.2, 0.8}))
	check(b.PutSeen(0, []int32{2, 0}))
	check(b.PutNeighbors(0, []store.Neighbor{{Item: 2, Score: 0.7}, {Item: 1, Score: 0.1}}))
	check(b.SetPopularity([]float32{3, 1, 2}))
	m, err := b.Commit(ctx, store.Manifest{})
	check(err)
	check(d.Publish(m.Version))

	v, err := d.Published()
	check(err)
	s, err := d.Open(v, store.DefaultOpenOptions())
	check(err)
	defer s.Close()
	ann, _, err := s.UserIndex("ann")
	check(err)
	seen, err := s.Seen(ann, nil)
	check(err)
	nbrs, err := s.Neighbors(0, nil)
	check(err)
	id, err := s.ItemID(nbrs[0].Item)
	check(err)
	fmt.Println("items:", s.NumItems(), "users:", s.NumUsers(), "dims:", s.ItemFactors().Dims, "stride:", s.ItemFactors().Stride)
	fmt.Println("ann's factors:", s.UserFactors().Row(int(ann)), "seen:", seen)
	fmt.Println("best neighbour of apple:", id)
	// Output:
	// items: 3 users: 2 dims: 2 stride: 16
	// ann's factors: [0.9 0.1] seen: [0 2]
	// best neighbour of apple: plum
}
