package recommender

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/polecam/polecam/store"
)

const (
	benchUsers = 1000
	benchSeen  = 50 // training items per user
	benchNbrs  = 20 // co-occurrence neighbours per item
)

// randomData returns a seeded random model: items × dims factors for items
// and benchUsers users, benchSeen seen items per user, benchNbrs
// neighbours for every tenth item.
func randomData(items, dims int) *modelData {
	rng := rand.New(rand.NewPCG(uint64(items), uint64(dims)))
	vec := func() []float32 {
		v := make([]float32, dims)
		for j := range v {
			v[j] = float32(rng.NormFloat64())
		}
		return v
	}
	d := &modelData{
		items:    make([]string, items),
		itemVecs: make([][]float32, items),
		users:    make([]string, benchUsers),
		userVecs: make([][]float32, benchUsers),
		seen:     make(map[int32][]int32, benchUsers),
		nbrs:     make(map[int32][]store.Neighbor),
		pop:      make([]float32, items),
	}
	for i := range items {
		d.items[i] = fmt.Sprintf("item-%07d", i)
		d.itemVecs[i] = vec()
		d.pop[i] = float32(rng.ExpFloat64())
		if i%10 == 0 {
			nb := make([]store.Neighbor, benchNbrs)
			for k := range nb {
				nb[k] = store.Neighbor{Item: int32(rng.IntN(items)), Score: 1 / float32(k+1)}
			}
			d.nbrs[int32(i)] = nb
		}
	}
	for u := range benchUsers {
		d.users[u] = fmt.Sprintf("user-%04d", u)
		d.userVecs[u] = vec()
		seen := make([]int32, benchSeen)
		for k := range seen {
			seen[k] = int32(rng.IntN(items))
		}
		d.seen[int32(u)] = seen
	}
	return d
}

// clusteredData returns a seeded model like randomData whose vectors
// cluster: 100 centres drawn from N(0, 1), items at a centre plus
// N(0, 0.5²) noise, users at a centre plus N(0, 1) noise. It is the
// benchmark data for the kernel and the int8 shortlist.
func clusteredData(items, dims int) *modelData {
	const clusters = 100
	d := randomData(items, dims)
	rng := rand.New(rand.NewPCG(uint64(items)+1, uint64(dims)))
	centres := make([][]float32, clusters)
	for c := range centres {
		centres[c] = make([]float32, dims)
		for j := range centres[c] {
			centres[c][j] = float32(rng.NormFloat64())
		}
	}
	near := func(v []float32, noise float64) {
		c := centres[rng.IntN(clusters)]
		for j := range v {
			v[j] = c[j] + float32(noise*rng.NormFloat64())
		}
	}
	for _, v := range d.itemVecs {
		near(v, 0.5)
	}
	for _, v := range d.userVecs {
		near(v, 1)
	}
	return d
}

// benchSizes is the catalogue × factors sweep every serving benchmark runs.
var benchSizes = []struct{ items, dims int }{
	{10_000, 32}, {10_000, 64}, {100_000, 32}, {100_000, 64},
}

// benchModel sweeps benchSizes, running fn with a Model over a fake
// snapshot of random vectors for each.
func benchModel(b *testing.B, fn func(b *testing.B, m *Model, d *modelData)) {
	for _, sz := range benchSizes {
		b.Run(fmt.Sprintf("items=%d/dims=%d", sz.items, sz.dims), func(b *testing.B) {
			d := randomData(sz.items, sz.dims)
			m, err := NewModel(newFake("bench", d))
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			fn(b, m, d)
		})
	}
}

func BenchmarkRecommend(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			benchModel(b, func(b *testing.B, m *Model, d *modelData) {
				exclude := []string{d.items[1], d.items[2], "unknown"}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					req := RecommendRequest{UserID: d.users[i%benchUsers], N: n, Exclude: exclude}
					if _, err := m.Recommend(ctx, req); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		})
	}
}

// BenchmarkRecommendParallel measures throughput with every core serving.
func BenchmarkRecommendParallel(b *testing.B) {
	ctx := context.Background()
	r := New()
	benchModel(b, func(b *testing.B, m *Model, d *modelData) {
		r.Swap(m)
		defer r.Swap(nil)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				req := RecommendRequest{UserID: d.users[i%benchUsers], N: 10}
				if _, err := r.Recommend(ctx, req); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
}

func BenchmarkRecommendFallback(b *testing.B) {
	ctx := context.Background()
	benchModel(b, func(b *testing.B, m *Model, d *modelData) {
		req := RecommendRequest{UserID: "stranger", N: 100, Exclude: []string{d.items[1], "unknown"}}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.Recommend(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSimilarItems asks about items with 20 neighbours for 50 results,
// so every request also runs the cosine scan.
func BenchmarkSimilarItems(b *testing.B) {
	ctx := context.Background()
	benchModel(b, func(b *testing.B, m *Model, d *modelData) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			req := SimilarRequest{ItemID: d.items[(i*10)%len(d.items)], N: 50}
			if _, err := m.SimilarItems(ctx, req); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkNewModel measures load-time work (norms and popularity head).
func BenchmarkNewModel(b *testing.B) {
	for _, items := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("items=%d/dims=32", items), func(b *testing.B) {
			const dims = 32
			rng := rand.New(rand.NewPCG(7, 8))
			f := &fakeSnapshot{
				version: "bench",
				d:       &modelData{items: make([]string, items), pop: make([]float32, items)},
				itemF:   store.Matrix{Rows: items, Dims: dims, Stride: store.Stride(dims), Data: make([]float32, items*store.Stride(dims))},
			}
			for i := range f.itemF.Data {
				f.itemF.Data[i] = rng.Float32()
			}
			for i := range f.d.pop {
				f.d.pop[i] = rng.Float32()
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := NewModel(f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRecommendScan sweeps catalogue size × factors for Recommend
// n=10 on clustered data, comparing the float scan and the int8 shortlist
// with exact rescoring, each on one core and split across two. Requests
// go through RecommendInto, so allocs/op is the steady-state count.
func BenchmarkRecommendScan(b *testing.B) {
	ctx := context.Background()
	for _, items := range []int{10_000, 100_000, 1_000_000} {
		for _, dims := range []int{32, 64, 128} {
			var f *fakeSnapshot // built on first use, shared by the modes
			for _, mode := range []struct {
				name    string
				int8    bool
				workers int
			}{
				{"float/workers=1", false, 1},
				{"float/workers=2", false, 2},
				{"int8/workers=1", true, 1},
				{"int8/workers=2", true, 2},
			} {
				b.Run(fmt.Sprintf("items=%d/dims=%d/%s", items, dims, mode.name), func(b *testing.B) {
					if f == nil {
						f = withInt8(b, newFake("bench", clusteredData(items, dims)))
					}
					opts := DefaultModelOptions()
					opts.ParallelMinItems, opts.Int8ParallelMinItems, opts.Workers, opts.Int8 = 1, 1, mode.workers, mode.int8
					m, err := NewModelWithOptions(f.reopen(), opts)
					if err != nil {
						b.Fatal(err)
					}
					defer m.Close()
					dst := make([]ScoredItem, 0, 10)
					exclude := []string{f.d.items[1], "unknown"}
					runtime.GC() // not during the timed loop: it empties the scratch pool
					b.ReportAllocs()
					i := 0
					for b.Loop() {
						req := RecommendRequest{UserID: f.d.users[i%benchUsers], N: 10, Exclude: exclude}
						if _, err := m.RecommendInto(ctx, req, dst); err != nil {
							b.Fatal(err)
						}
						i++
					}
					if fb := m.Int8Fallbacks(); fb > 0 {
						b.ReportMetric(float64(fb)/float64(i), "fallbacks/op")
					}
					if w := m.int8Widened.Load(); w > 0 {
						b.ReportMetric(float64(w)/float64(i), "widened/op")
					}
				})
			}
		}
	}
}

// BenchmarkParallelThreshold finds where splitting a scan across two
// cores starts to pay: the same catalogue scanned with one and two
// workers, at sizes around the default thresholds of the float scan
// (ParallelMinItems) and the int8 shortlist (Int8ParallelMinItems).
func BenchmarkParallelThreshold(b *testing.B) {
	ctx := context.Background()
	for _, sz := range []struct {
		items int
		int8  bool
	}{
		{10_000, false}, {20_000, false}, {50_000, false}, {100_000, false},
		{100_000, true}, {200_000, true}, {400_000, true}, {1_000_000, true},
	} {
		items := sz.items
		f := newFake("bench", clusteredData(items, 64))
		mode := "float"
		if sz.int8 {
			f, mode = withInt8(b, f), "int8"
		}
		for _, workers := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/items=%d/dims=64/workers=%d", mode, items, workers), func(b *testing.B) {
				opts := DefaultModelOptions()
				opts.ParallelMinItems, opts.Int8ParallelMinItems, opts.Workers, opts.Int8 = 1, 1, workers, sz.int8
				m, err := NewModelWithOptions(f.reopen(), opts)
				if err != nil {
					b.Fatal(err)
				}
				defer m.Close()
				dst := make([]ScoredItem, 0, 10)
				runtime.GC()
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if _, err := m.RecommendInto(ctx, RecommendRequest{UserID: f.d.users[i%benchUsers], N: 10}, dst); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		}
	}
}

// BenchmarkRecommendStore serves from a real store snapshot, whose id
// lookups go through Badger and the mapped id table: allocs/op is what a
// request costs end to end below gRPC.
func BenchmarkRecommendStore(b *testing.B) {
	ctx := context.Background()
	d := clusteredData(100_000, 64)
	m, err := NewModel(openStore(b, "", d))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	dst := make([]ScoredItem, 0, 10)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := m.RecommendInto(ctx, RecommendRequest{UserID: d.users[i%benchUsers], N: 10}, dst); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkRecommendConcurrentSplit runs 4 requests per core at once on
// 100k x 64, with and without split scans: under load a split must not
// cost throughput, because a busy pool leaves each request to scan alone.
func BenchmarkRecommendConcurrentSplit(b *testing.B) {
	ctx := context.Background()
	f := withInt8(b, newFake("bench", clusteredData(100_000, 64)))
	for _, int8 := range []bool{false, true} {
		for _, workers := range []int{1, 2} {
			b.Run(fmt.Sprintf("int8=%v/workers=%d", int8, workers), func(b *testing.B) {
				opts := DefaultModelOptions()
				opts.Workers, opts.Int8 = workers, int8
				m, err := NewModelWithOptions(f.reopen(), opts)
				if err != nil {
					b.Fatal(err)
				}
				defer m.Close()
				runtime.GC()
				b.ReportAllocs()
				b.SetParallelism(4)
				b.RunParallel(func(pb *testing.PB) {
					dst := make([]ScoredItem, 0, 10)
					i := 0
					for pb.Next() {
						if _, err := m.RecommendInto(ctx, RecommendRequest{UserID: f.d.users[i%benchUsers], N: 10}, dst); err != nil {
							b.Error(err)
							return
						}
						i++
					}
				})
			})
		}
	}
}
