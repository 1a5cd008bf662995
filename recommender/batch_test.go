package recommender

import (
	"context"
	"errors"
	"fmt"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/polecam/polecam/recommender/rules"
)

// TestRecommendBatchMatchesRecommend checks that every request of a batch
// gets Recommend's answer, bit for bit, whether it shares the joint int8
// scan or is answered alone, and that a bad request fails alone.
func TestRecommendBatchMatchesRecommend(t *testing.T) {
	ctx := context.Background()
	const items = 3*chunkRows + 11
	d := clusteredData(items, 16)
	cat := shopItems(items, 1)
	for _, variant := range []struct {
		name    string
		workers int
		int8    bool
	}{{"int8", 1, true}, {"int8 split", 2, true}, {"float", 1, false}} {
		t.Run(variant.name, func(t *testing.T) {
			opts := DefaultModelOptions()
			opts.ParallelMinItems, opts.Int8ParallelMinItems, opts.Workers = 1, 1, variant.workers
			m := filterModel(t, d, cat, opts, variant.int8)
			var reqs []RecommendRequest
			for u := range 12 {
				reqs = append(reqs, RecommendRequest{UserID: d.users[u], N: 10 + u})
			}
			reqs = append(reqs,
				RecommendRequest{UserID: d.users[20], N: 10, Exclude: []string{d.items[1], d.items[2]}},
				RecommendRequest{UserID: d.users[21], N: 10, Recent: []string{d.items[7], d.items[9]}},
				RecommendRequest{UserID: d.users[22], N: 10, IncludeSeen: true},
				RecommendRequest{UserID: d.users[23], N: 10, Exact: true},
				RecommendRequest{UserID: d.users[24], N: 10, Filter: Filter{Categories: []string{"c3"}}},
				RecommendRequest{UserID: "nobody", N: 10},
				RecommendRequest{UserID: d.users[25], N: 0},                   // invalid
				RecommendRequest{UserID: d.users[26], N: 5, PageToken: "bad"}, // invalid
				RecommendRequest{UserID: d.users[27], N: 10, Explain: true, ReturnAttributes: []string{"brand"}},
			)
			got, err := m.RecommendBatch(ctx, reqs)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(reqs) {
				t.Fatalf("%d results for %d requests", len(got), len(reqs))
			}
			for i, req := range reqs {
				want, werr := m.Recommend(ctx, req)
				if (werr == nil) != (got[i].Err == nil) || werr != nil && werr.Error() != got[i].Err.Error() {
					t.Errorf("request %d (%+v): error %v, Recommend's %v", i, req, got[i].Err, werr)
					continue
				}
				if diff := gocmp.Diff(want, got[i].Result, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("request %d (%+v) (-Recommend +batch):\n%s", i, req, diff)
				}
			}
			// Pages: a batch's next page token continues as Recommend's.
			p1, _ := m.RecommendBatch(ctx, []RecommendRequest{{UserID: d.users[3], N: 5}})
			p2, _ := m.RecommendBatch(ctx, []RecommendRequest{{UserID: d.users[3], N: 5, PageToken: p1[0].NextPageToken}})
			all, err := m.Recommend(ctx, RecommendRequest{UserID: d.users[3], N: 10})
			if err != nil || p1[0].Err != nil || p2[0].Err != nil {
				t.Fatal(err, p1[0].Err, p2[0].Err)
			}
			if diff := gocmp.Diff(all.Items, append(p1[0].Items, p2[0].Items...)); diff != "" {
				t.Errorf("two batch pages of 5 against one Recommend of 10 (-recommend +pages):\n%s", diff)
			}
		})
	}
	m := filterModel(t, d, cat, DefaultModelOptions(), true)
	if _, err := m.RecommendBatch(ctx, make([]RecommendRequest, MaxBatch+1)); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("a batch of %d: error %v, want ErrInvalidArgument", MaxBatch+1, err)
	}
}

// TestRecommendBatchWithRules checks the Recommender's batch under rules
// and forgotten users against its Recommend.
func TestRecommendBatchWithRules(t *testing.T) {
	ctx := context.Background()
	const items = 4000
	d := clusteredData(items, 8)
	cat := shopItems(items, 13)
	m := filterModel(t, d, cat, DefaultModelOptions(), true)
	f, err := rules.Parse("rules.yaml", []byte(`rules:
  - name: b2-up
    boost: {multiplier: 3, match: {attributes: [{name: brand, equals: b2}]}}
  - name: two-per-department
    diversity: {depth: 1, max: 2}
`))
	if err != nil {
		t.Fatal(err)
	}
	r := New()
	r.SetRules(staticRules{f})
	r.Swap(m)
	var reqs []RecommendRequest
	for u := range 10 {
		reqs = append(reqs, RecommendRequest{UserID: d.users[u], N: 10, Explain: true})
	}
	got, err := r.RecommendBatch(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	for i, req := range reqs {
		want, err := r.Recommend(ctx, req)
		if err != nil || got[i].Err != nil {
			t.Fatal(err, got[i].Err)
		}
		if diff := gocmp.Diff(want, got[i].Result, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s (-Recommend +batch):\n%s", fmt.Sprint(req.UserID), diff)
		}
	}
}
