package training

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"testing"
)

// randomInteractions returns a users × items matrix of about nnz entries
// (duplicates are merged) with power-law activity and popularity: a draw
// picks user ⌊users·r^1.5⌋ and item ⌊items·r^2⌋ for uniform r, so the most
// popular item is used by about one user in twenty, as in MovieLens 20M.
func randomInteractions(users, items, nnz int, seed uint64) *Interactions {
	rng := rand.New(rand.NewPCG(seed, 1))
	keys := make([]uint64, nnz)
	for k := range keys {
		u := uint64(float64(users) * math.Pow(rng.Float64(), 1.5))
		i := uint64(float64(items) * math.Pow(rng.Float64(), 2))
		keys[k] = u<<32 | i
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	ptr := make([]int64, users+1)
	cols := make([]int32, len(keys))
	ws := make([]float32, len(keys))
	for k, key := range keys {
		ptr[key>>32+1]++
		cols[k] = int32(uint32(key))
		ws[k] = float32(1 + rng.IntN(5))
	}
	for u := range users {
		ptr[u+1] += ptr[u]
	}
	return fromCSR(seqIDs("u", users), seqIDs("i", items), nil, ptr, cols, ws)
}

// benchALSIteration times one full iteration (users then items) of the
// default CG solver on x.
func benchALSIteration(b *testing.B, x *Interactions, factors int) {
	o := DefaultALSOptions()
	o.Factors = factors
	t := newALSTrainer(x, o)
	ctx := context.Background()
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		if err := t.iterate(ctx); err != nil {
			b.Fatal(err)
		}
	}
	// CPU seconds per iteration, all workers together: on a shared machine
	// a steadier figure than wall time.
	b.ReportMetric((processCPU()-cpu).Seconds()/float64(b.N), "cpu-s/op")
}

// BenchmarkALSIteration sweeps problem size × factors with the default
// options (3 CG steps, GOMAXPROCS workers).
func BenchmarkALSIteration(b *testing.B) {
	sizes := []struct{ users, items, nnz int }{
		{10_000, 2_000, 500_000},
		{50_000, 10_000, 2_000_000},
	}
	for _, s := range sizes {
		x := randomInteractions(s.users, s.items, s.nnz, 1)
		for _, k := range []int{32, 64, 128} {
			name := fmt.Sprintf("users=%d/items=%d/nnz=%d/factors=%d", s.users, s.items, x.NNZ(), k)
			b.Run(name, func(b *testing.B) { benchALSIteration(b, x, k) })
		}
	}
}

// BenchmarkALSIterationML20M measures one iteration at MovieLens-20M scale
// (138k users, 20k items, 10M interactions) and 64 factors, the size whose
// target is 3.4 s per iteration on 2 cores. It needs about 1 GB of memory
// and is skipped with -short.
func BenchmarkALSIterationML20M(b *testing.B) {
	if testing.Short() {
		b.Skip("MovieLens-20M-sized benchmark skipped in short mode")
	}
	x := randomInteractions(138_493, 26_744, 10_500_000, 1)
	b.Logf("users %d, items %d, nnz %d, GOMAXPROCS %d", x.NumUsers(), x.NumItems(), x.NNZ(), runtime.GOMAXPROCS(0))
	benchALSIteration(b, x, 64)
}

// BenchmarkCoOccurrence sweeps problem size with the default options.
func BenchmarkCoOccurrence(b *testing.B) {
	for _, s := range []struct{ users, items, nnz int }{
		{10_000, 2_000, 500_000},
		{50_000, 10_000, 2_000_000},
	} {
		x := randomInteractions(s.users, s.items, s.nnz, 1)
		b.Run(fmt.Sprintf("users=%d/items=%d/nnz=%d", s.users, s.items, x.NNZ()), func(b *testing.B) {
			ctx := context.Background()
			o := DefaultCoOccurrenceOptions()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := CoOccurrence(ctx, x, o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// seqIDs returns n ids prefix0, prefix1, … for synthetic test matrices.
func seqIDs(prefix string, n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = prefix + strconv.Itoa(i)
	}
	return s
}
