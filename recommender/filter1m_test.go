package recommender

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/polecam/polecam/store"
)

// storeWithCatalog serves a store snapshot with a test catalogue.
type storeWithCatalog struct {
	*store.Snapshot
	cat ItemCatalog
}

func (s storeWithCatalog) ItemCatalog() (ItemCatalog, bool) { return s.cat, true }

// TestFilteredANNAtScale measures, on a fixture written by
//
//	polecam bench fixture --data-dir DIR --items 1000000 --users 100000 --factors 64 --seed 1 --ann
//
// the served Recommend n=10 of 1,000 users without a filter (through the
// index) and with a category passing 1 % of the items, as the planner
// answers it and through the index walk, against the exact filtered
// answer: recall@10 and latency percentiles, in one run. It is a scale
// measurement, run only when POLECAM_FIXTURE_1M names the fixture's data
// directory (see benchmarks/query.md).
func TestFilteredANNAtScale(t *testing.T) {
	dataDir := os.Getenv("POLECAM_FIXTURE_1M")
	if dataDir == "" {
		t.Skip("set POLECAM_FIXTURE_1M to a data directory written by polecam bench fixture --ann to run this measurement")
	}
	dir, err := store.OpenDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	v, err := dir.Published()
	if err != nil {
		t.Fatal(err)
	}
	snap, err := dir.Open(v, store.DefaultOpenOptions())
	if err != nil {
		t.Fatal(err)
	}
	items := make([]fakeItem, snap.NumItems())
	for i := range items {
		items[i] = fakeItem{category: fmt.Sprintf("d%02d", i%100)}
	}
	m, err := NewModel(storeWithCatalog{snap, newFakeCatalog(items)})
	if err != nil {
		snap.Close()
		t.Fatal(err)
	}
	defer m.Close()
	if !m.UsesANN() {
		t.Fatal("the fixture has no ANN index (write it with --ann)")
	}
	ctx := context.Background()
	f := Filter{Categories: []string{"d07"}}
	users := min(1000, snap.NumUsers())
	uid := func(u int) string { return fmt.Sprintf("u%08d", u) } // the fixture's ids
	type run struct {
		name      string
		filter    Filter
		directMax int
		users     int
	}
	// The forced walk is slow (tens of ms a request): a fifth of the users.
	runs := []run{{"unfiltered", Filter{}, defaultANNDirectMax, users}, {"1% filter, planner", f, defaultANNDirectMax, users}, {"1% filter, index walk", f, -1, users / 5}}
	lat := make([][]time.Duration, len(runs))
	answers := make([][][]ScoredItem, len(runs))
	for k, r := range runs {
		m.annDirectMax = r.directMax
		for u := range r.users {
			req := RecommendRequest{UserID: uid(u * (snap.NumUsers() / users)), N: 10, Filter: r.filter}
			st := time.Now()
			res, err := m.Recommend(ctx, req)
			lat[k] = append(lat[k], time.Since(st))
			if err != nil {
				t.Fatal(err)
			}
			answers[k] = append(answers[k], res.Items)
		}
	}
	m.annDirectMax = defaultANNDirectMax
	for k, r := range runs {
		hits, total := 0, 0
		for u := range r.users {
			req := RecommendRequest{UserID: uid(u * (snap.NumUsers() / users)), N: 10, Filter: r.filter, Exact: true}
			want, err := m.Recommend(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			hits += countShared(answers[k][u], want.Items)
			total += len(want.Items)
		}
		slices.Sort(lat[k])
		p := func(q float64) time.Duration { return lat[k][int(q*float64(len(lat[k])-1))] }
		t.Logf("%-22s recall@10 %.4f  p50 %v  p99 %v  (%d users)", r.name, float64(hits)/float64(total), p(0.5), p(0.99), r.users)
	}
}
