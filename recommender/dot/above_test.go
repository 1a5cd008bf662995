package dot

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// indexAboveRef is IndexAbove's definition, one comparison at a time.
func indexAboveRef(s []float32, floor float32) int {
	for i, x := range s {
		if x > floor {
			return i
		}
	}
	return len(s)
}

func TestIndexAboveSpecialValues(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	negZero := float32(math.Copysign(0, -1))
	tests := []struct {
		name  string
		floor float32
		hit   float32 // placed at position at; every other element is filler
		fill  float32
		want  bool // whether hit is above floor
	}{
		{"greater", 1, 1.5, 0, true},
		{"equal", 1, 1, 0, false},
		{"nan never above", 1, nan, 0, false},
		{"nan floor", nan, 5, 0, false},
		{"-0 not above +0", 0, negZero, -1, false},
		{"+0 not above -0", negZero, 0, -1, false},
		{"+inf above", 3, inf, 0, true},
		{"above -inf floor", float32(math.Inf(-1)), -1e30, float32(math.Inf(-1)), true},
	}
	for _, im := range testImpls(t) {
		for _, tt := range tests {
			for _, n := range []int{1, 15, 16, 17, 33, 100} {
				for _, at := range []int{0, n / 2, n - 1} {
					s := make([]float32, n)
					for i := range s {
						s[i] = tt.fill
					}
					s[at] = tt.hit
					want := n
					if tt.want {
						want = at
					}
					if got := indexAboveWith(im, s, tt.floor); got != want {
						t.Errorf("%s: %s: IndexAbove(len %d, hit at %d, floor %v) = %d, want %d", im.name, tt.name, n, at, tt.floor, got, want)
					}
				}
			}
		}
	}
}

func TestIndexAboveMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, im := range testImpls(t) {
		for _, n := range []int{0, 1, 7, 16, 31, 32, 48, 100, 2048} {
			s := make([]float32, n)
			for i := range s {
				s[i] = float32(rng.NormFloat64())
			}
			// Floors from below every score to above every score, so the
			// first hit falls everywhere from the first to none at all.
			for _, floor := range []float32{-10, -1, 0, 1, 2, 2.5, 3, 10} {
				for off := 0; off <= n; off += 1 + n/7 {
					want := indexAboveRef(s[off:], floor)
					if got := indexAboveWith(im, s[off:], floor); got != want {
						t.Errorf("%s: IndexAbove(%d scores from %d, floor %v) = %d, want %d", im.name, n-off, off, floor, got, want)
					}
				}
			}
		}
	}
}

func TestIndexAboveDoesNotAllocate(t *testing.T) {
	s := make([]float32, 1000)
	if allocs := testing.AllocsPerRun(10, func() { IndexAbove(s, 1) }); allocs != 0 {
		t.Errorf("IndexAbove allocates %v times per call, want 0", allocs)
	}
	for _, im := range testImpls(t) {
		if allocs := testing.AllocsPerRun(10, func() { indexAboveWith(im, s, 1) }); allocs != 0 {
			t.Errorf("%s: IndexAbove allocates %v times per call, want 0", im.name, allocs)
		}
	}
}

// BenchmarkIndexAbove scans scores none of which is above the floor: the
// cost per score of rejecting it.
func BenchmarkIndexAbove(b *testing.B) {
	for _, im := range testImpls(b) {
		for _, n := range []int{2048, 100_000} {
			b.Run(fmt.Sprintf("impl=%s/n=%d", im.name, n), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, uint64(n)))
				s := make([]float32, n)
				for i := range s {
					s[i] = float32(rng.NormFloat64())
				}
				b.SetBytes(int64(4 * n))
				b.ReportAllocs()
				for b.Loop() {
					if i := indexAboveWith(im, s, 100); i != n {
						b.Fatalf("IndexAbove = %d, want %d", i, n)
					}
				}
			})
		}
	}
}
