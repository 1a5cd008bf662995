package ann

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/polecam/polecam/recommender/dot"
)

// large adds the 1M-row sizes to the benchmarks: go test -bench . -ann.large
var large = flag.Bool("ann.large", false, "benchmark 1M rows as well (minutes to build)")

// cacheDir keeps the benchmark indexes between runs: go test -bench .
// -ann.cache /tmp/anncache builds each size once, later runs load it.
// Delete the files after changing Build.
var cacheDir = flag.String("ann.cache", "", "directory to keep built benchmark indexes in (delete after changing Build)")

type benchSize struct{ rows, dims int }

func benchSizes() []benchSize {
	s := []benchSize{{100_000, 64}}
	if *large {
		s = append(s, benchSize{1_000_000, 64})
	}
	return s
}

// built caches one index per size across benchmarks.
var built sync.Map // benchSize -> func() (*Index, []float32, time.Duration)

func benchIndex(b *testing.B, sz benchSize) (*Index, []float32) {
	f, _ := built.LoadOrStore(sz, sync.OnceValues(func() (*Index, []float32) {
		data := clustered(21, sz.rows, sz.dims)
		path := ""
		if *cacheDir != "" {
			path = filepath.Join(*cacheDir, fmt.Sprintf("bench-%d-%d-v%d.ann", sz.rows, sz.dims, formatVersion))
			if raw, err := os.ReadFile(path); err == nil {
				ix, err := Load(raw, data, sz.rows, sz.dims, sz.dims)
				if err != nil {
					panic(err)
				}
				fmt.Printf("loaded %d x %d from %s\n", sz.rows, sz.dims, path)
				return ix, data
			}
		}
		start := time.Now()
		ix, err := Build(context.Background(), data, sz.rows, sz.dims, sz.dims, DefaultOptions())
		if err != nil {
			panic(err)
		}
		fmt.Printf("built %d x %d in %v\n", sz.rows, sz.dims, time.Since(start))
		if path != "" {
			var buf bytes.Buffer
			if _, err := ix.WriteTo(&buf); err != nil {
				panic(err)
			}
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				panic(err)
			}
		}
		return ix, data
	}))
	return f.(func() (*Index, []float32))()
}

func BenchmarkBuild(b *testing.B) {
	for _, sz := range benchSizes() {
		b.Run(fmt.Sprintf("rows=%d/dims=%d", sz.rows, sz.dims), func(b *testing.B) {
			data := clustered(21, sz.rows, sz.dims)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Build(context.Background(), data, sz.rows, sz.dims, sz.dims, DefaultOptions()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/build")
		})
	}
}

// BenchmarkSearch times one query (n 10) per op over a fixed set of
// queries, and reports recall@10 against the exact inner-product top 10
// and the p50/p99 latency of the queries timed.
//
// The walk=int8 variants walk the graph with int8 rows (WithInt8, default
// re-ranking); the others with the float rows.
func BenchmarkSearch(b *testing.B) {
	for _, sz := range benchSizes() {
		for _, filtered := range []bool{false, true} {
			for _, ef := range []int{32, 64, 128, 256, 384, 512, 1024} {
				for _, walk8 := range []bool{false, true} {
					name := fmt.Sprintf("rows=%d/dims=%d/ef=%d", sz.rows, sz.dims, ef)
					var filter Filter
					if filtered {
						name += "/filter=half"
						filter = func(i int32) bool { return i%2 == 0 }
					}
					if walk8 {
						name += "/walk=int8"
					}
					b.Run(name, func(b *testing.B) {
						ix, data := benchIndex(b, sz)
						if walk8 {
							ix = benchInt8(b, sz, ix, data)
						}
						qs := queries(22, 200, sz.dims)
						r := meanRecall(ix, data, qs, 10, ef, filter)
						s := NewScratch(ix)
						dst := make([]Result, 0, 10)
						lat := make([]time.Duration, 0, 1<<16)
						i := 0
						b.ReportAllocs()
						for b.Loop() {
							t0 := time.Now()
							dst = ix.Search(qs[i%len(qs)], 10, ef, filter, dst, s)
							if len(lat) < cap(lat) {
								lat = append(lat, time.Since(t0))
							}
							i++
						}
						slices.Sort(lat)
						b.ReportMetric(r, "recall@10")
						b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
						b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
					})
				}
			}
		}
	}
}

// built8 caches the int8 rows of each benchmark index.
var built8 sync.Map // benchSize -> func() *Index

// benchInt8 returns ix walked with int8 rows of data.
func benchInt8(b *testing.B, sz benchSize, ix *Index, data []float32) *Index {
	f, _ := built8.LoadOrStore(sz, sync.OnceValue(func() *Index {
		r8, sc := quantised(data, sz.rows, sz.dims)
		x, err := ix.WithInt8(r8, dot.Int8Width(sz.dims), sc, 0)
		if err != nil {
			panic(err)
		}
		return x
	}))
	return f.(func() *Index)()
}

// BenchmarkSearchParallel runs queries on every core at the default ef.
func BenchmarkSearchParallel(b *testing.B) {
	for _, sz := range benchSizes() {
		b.Run(fmt.Sprintf("rows=%d/dims=%d", sz.rows, sz.dims), func(b *testing.B) {
			ix, _ := benchIndex(b, sz)
			qs := queries(22, 200, sz.dims)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				s := NewScratch(ix)
				dst := make([]Result, 0, 10)
				i := 0
				for pb.Next() {
					dst = ix.Search(qs[i%len(qs)], 10, 0, nil, dst, s)
					i++
				}
			})
		})
	}
}

// BenchmarkScoreNeighbours compares the two ways of scoring a node's
// neighbours, 32 random rows of a 1M x 64 matrix: one kernel call per row,
// or a gather into a contiguous block and one call (what score does).
func BenchmarkScoreNeighbours(b *testing.B) {
	const rows, dims, n = 1 << 20, 64, 32
	data := clustered(23, rows, dims)
	ix := &Index{data: data, rows: rows, dims: dims, stride: dims, m0: n}
	s := NewScratch(ix)
	q := data[:dims]
	ids := make([]uint32, n)
	var x uint32 = 12345
	next := func() {
		for k := range ids {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			ids[k] = x % rows
		}
	}
	b.Run("per-row", func(b *testing.B) {
		for b.Loop() {
			next()
			for k, id := range ids {
				o := int(id) * dims
				dot.Scores(s.sims[k:k+1], data[o:o+dims], dims, q)
			}
		}
	})
	b.Run("gather", func(b *testing.B) {
		for b.Loop() {
			next()
			ix.score(q, ids, s)
		}
	})
}

// BenchmarkLoad measures Load over bytes already in memory: the checksum
// and link checks, no decoding.
func BenchmarkLoad(b *testing.B) {
	for _, sz := range benchSizes() {
		b.Run(fmt.Sprintf("rows=%d/dims=%d", sz.rows, sz.dims), func(b *testing.B) {
			ix, data := benchIndex(b, sz)
			var buf bytes.Buffer
			if _, err := ix.WriteTo(&buf); err != nil {
				b.Fatal(err)
			}
			raw := buf.Bytes()
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Load(raw, data, sz.rows, sz.dims, sz.dims); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
