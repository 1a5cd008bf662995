package recommender

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkQueryPath measures the query kinds against plain
// Recommend on the same model in one run, so ratios hold on any machine:
// 100k items × 64 factors, int8 shortlist on (the default), one core.
//
//	go test -run '^$' -bench BenchmarkQueryPath -count 5 ./recommender | tee out.txt
//	benchstat out.txt
func BenchmarkQueryPath(b *testing.B) {
	const items, dims = 100_000, 64
	d := clusteredData(items, dims)
	cat := shopItems(items, 11)
	opts := DefaultModelOptions()
	opts.Workers = 1
	f := withInt8(b, newFake("bench", d))
	m, err := NewModelWithOptions(catalogFake{f, newFakeCatalog(cat)}, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	m.fold = testFoldIn(m)
	pass := 0
	tenth := Filter{Categories: []string{"c3"}}
	for _, it := range cat {
		if passes(it, tenth) {
			pass++
		}
	}
	b.Logf("filter %v passes %.1f %% of items", tenth.Categories, 100*float64(pass)/items)
	ctx := context.Background()
	recent := func(u int) []string {
		r := make([]string, 5)
		for k := range r {
			r[k] = d.items[(u*7919+k*104729)%items]
		}
		return r
	}
	var cands [][]string
	for u := range 16 {
		res, err := m.Recommend(ctx, RecommendRequest{UserID: d.users[u], N: 500})
		if err != nil {
			b.Fatal(err)
		}
		var c []string
		for _, it := range res.Items {
			c = append(c, it.ID)
		}
		cands = append(cands, c)
	}
	cases := []struct {
		name string
		call func(u int) error
	}{
		{"plain", func(u int) error {
			_, err := m.Recommend(ctx, RecommendRequest{UserID: d.users[u], N: 10})
			return err
		}},
		{"recent5", func(u int) error {
			_, err := m.Recommend(ctx, RecommendRequest{UserID: d.users[u], N: 10, Recent: recent(u)})
			return err
		}},
		{"filter10pct", func(u int) error {
			_, err := m.Recommend(ctx, RecommendRequest{UserID: d.users[u], N: 10, Filter: tenth})
			return err
		}},
		{"recent5+filter10pct", func(u int) error {
			_, err := m.Recommend(ctx, RecommendRequest{UserID: d.users[u], N: 10, Recent: recent(u), Filter: tenth})
			return err
		}},
		{"visitor-recent5", func(u int) error {
			_, err := m.Recommend(ctx, RecommendRequest{UserID: fmt.Sprint("v", u), N: 10, Recent: recent(u)})
			return err
		}},
		{"rank500", func(u int) error {
			_, err := m.Rank(ctx, RankRequest{UserID: d.users[u%16], Candidates: cands[u%16]})
			return err
		}},
		{"similar", func(u int) error {
			_, err := m.SimilarItems(ctx, SimilarRequest{ItemID: d.items[u*37%items], N: 10})
			return err
		}},
		{"basket3", func(u int) error {
			_, err := m.RecommendForBasket(ctx, BasketRequest{Items: recent(u)[:3], N: 10})
			return err
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			u := 0
			for b.Loop() {
				if err := c.call(u % len(d.users)); err != nil {
					b.Fatal(err)
				}
				u++
			}
		})
	}
}

// BenchmarkRankStore measures Rank of 500 candidates against plain
// Recommend over a real store snapshot (mapped id tables and vectors),
// 100k items × 64 factors, one scan worker, in one run.
//
//	go test -run '^$' -bench BenchmarkRankStore -count 5 ./recommender
func BenchmarkRankStore(b *testing.B) {
	ctx := context.Background()
	d := clusteredData(100_000, 64)
	opts := DefaultModelOptions()
	opts.Workers = 1
	m, err := NewModelWithOptions(openStore(b, "", d), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	var cands [][]string
	for u := range 16 {
		res, err := m.Recommend(ctx, RecommendRequest{UserID: d.users[u], N: 500})
		if err != nil {
			b.Fatal(err)
		}
		var c []string
		for _, it := range res.Items {
			c = append(c, it.ID)
		}
		cands = append(cands, c)
	}
	b.Run("plain", func(b *testing.B) {
		u := 0
		for b.Loop() {
			if _, err := m.Recommend(ctx, RecommendRequest{UserID: d.users[u%16], N: 10}); err != nil {
				b.Fatal(err)
			}
			u++
		}
	})
	b.Run("rank500", func(b *testing.B) {
		u := 0
		for b.Loop() {
			if _, err := m.Rank(ctx, RankRequest{UserID: d.users[u%16], Candidates: cands[u%16]}); err != nil {
				b.Fatal(err)
			}
			u++
		}
	})
}

// BenchmarkRecommendBatch compares, per user, a batch of 32 users sharing
// one int8 scan with the same users asked one Recommend at a time, on
// BenchmarkQueryPath's 100k × 64 model, one core, in one run.
//
//	go test -run '^$' -bench BenchmarkRecommendBatch -count 5 ./recommender
func BenchmarkRecommendBatch(b *testing.B) {
	const items, dims, batch = 100_000, 64, 32
	d := clusteredData(items, dims)
	opts := DefaultModelOptions()
	opts.Workers = 1
	m, err := NewModelWithOptions(withInt8(b, newFake("bench", d)), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	reqs := make([]RecommendRequest, batch)
	b.Run("unary", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := m.Recommend(ctx, RecommendRequest{UserID: d.users[i%benchUsers], N: 10}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/user")
	})
	b.Run(fmt.Sprintf("batch%d", batch), func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			for k := range reqs {
				reqs[k] = RecommendRequest{UserID: d.users[(i*batch+k)%benchUsers], N: 10}
			}
			res, err := m.RecommendBatch(ctx, reqs)
			if err != nil || res[0].Err != nil {
				b.Fatal(err, res[0].Err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/user")
	})
}
