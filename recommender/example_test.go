package recommender_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/polecam/polecam/recommender"
	"github.com/polecam/polecam/store"
)

// writeExampleSnapshot writes a three-item model into a new data directory
// and returns the directory and the version written.
func writeExampleSnapshot(ctx context.Context, path string) (*store.Dir, string, error) {
	dir, err := store.OpenDir(path)
	if err != nil {
		return nil, "", err
	}
	b, err := dir.NewBuilder(ctx)
	if err != nil {
		return nil, "", err
	}
	defer b.Abort()
	steps := []error{
		b.SetItems([]string{"tent", "stove", "kettle"}),
		b.SetUsers([]string{"alice"}),
		b.SetItemFactors(3, 2, []float32{1, 0, 0.8, 0.6, 0, 1}),
		b.SetUserFactors(1, 2, []float32{1, 0.1}),
		b.PutSeen(0, []int32{0}),
		b.PutNeighbors(1, []store.Neighbor{{Item: 2, Score: 0.7}}),
		b.SetPopularity([]float32{10, 4, 7}),
	}
	for _, err := range steps {
		if err != nil {
			return nil, "", err
		}
	}
	m, err := b.Commit(ctx, store.Manifest{})
	if err != nil {
		return nil, "", err
	}
	return dir, m.Version, dir.Publish(m.Version)
}

func Example() {
	ctx := context.Background()
	path, err := os.MkdirTemp("", "polecam-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(path)
	dir, version, err := writeExampleSnapshot(ctx, path)
	if err != nil {
		log.Fatal(err)
	}

	snap, err := dir.Open(version, store.DefaultOpenOptions())
	if err != nil {
		log.Fatal(err)
	}
	m, err := recommender.NewModel(snap)
	if err != nil {
		snap.Close()
		log.Fatal(err)
	}
	rec := recommender.New()
	rec.Swap(m)
	defer func() { rec.Swap(nil).Close() }()

	// alice already has the tent, so it is left out.
	res, err := rec.Recommend(ctx, recommender.RecommendRequest{UserID: "alice", N: 2})
	if err != nil {
		log.Fatal(err)
	}
	for _, it := range res.Items {
		fmt.Printf("%s %.2f %s\n", it.ID, it.Score, it.Source)
	}

	// A stranger gets the most popular items.
	res, err = rec.Recommend(ctx, recommender.RecommendRequest{UserID: "bob", N: 2})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("fallback:", res.Fallback)
	for _, it := range res.Items {
		fmt.Printf("%s %.2f %s\n", it.ID, it.Score, it.Source)
	}

	// The stove's co-occurrence neighbour first, then the nearest item by
	// cosine similarity.
	res, err = rec.SimilarItems(ctx, recommender.SimilarRequest{ItemID: "stove", N: 2})
	if err != nil {
		log.Fatal(err)
	}
	for _, it := range res.Items {
		fmt.Printf("%s %.2f %s\n", it.ID, it.Score, it.Source)
	}
	// Output:
	// stove 0.86 factors
	// kettle 0.10 factors
	// fallback: true
	// tent 10.00 popularity
	// kettle 7.00 popularity
	// kettle 0.70 co_occurrence
	// tent 0.80 factors
}
