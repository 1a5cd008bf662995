package dot

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// tolerance is the allowed error of a float32 score relative to
// sum_j |row_j * q_j|, computed in float64.
const tolerance = 1e-5

func roundUp16(d int) int { return (d + 15) &^ 15 }

// randomMatrix returns n rows of d floats in [-1, 1), stride floats apart,
// with the padding filled with pad.
func randomMatrix(rng *rand.Rand, n, d, stride int, pad float32) []float32 {
	size := 0
	if n > 0 {
		size = (n-1)*stride + d
	}
	data := make([]float32, size)
	for i := range data {
		if i%stride < d {
			data[i] = 2*rng.Float32() - 1
		} else {
			data[i] = pad
		}
	}
	return data
}

func randomVector(rng *rand.Rand, d int) []float32 {
	q := make([]float32, d)
	for i := range q {
		q[i] = 2*rng.Float32() - 1
	}
	return q
}

// checkScores compares got with a float64 reference, row by row.
func checkScores(t *testing.T, name string, got, data []float32, stride int, q []float32) {
	t.Helper()
	for i, g := range got {
		var want, mag float64
		for j, v := range q {
			p := float64(data[i*stride+j]) * float64(v)
			want += p
			mag += math.Abs(p)
		}
		if diff := math.Abs(float64(g) - want); diff > tolerance*mag || math.IsNaN(float64(g)) {
			t.Errorf("%s: row %d = %v, want %v (diff %g > %g)", name, i, g, want, diff, tolerance*mag)
			return
		}
	}
}

func TestScoresMatchReference(t *testing.T) {
	dims := []int{1, 3, 8, 15, 16, 17, 31, 32, 63, 64, 100, 128}
	rows := []int{0, 1, 3, 4, 5, 17, 1000}
	const guard = 8
	for _, im := range testImpls(t) {
		for _, d := range dims {
			strides := []int{d, roundUp16(d), d + 5}
			for _, stride := range slices.Compact(strides) {
				for _, n := range rows {
					name := fmt.Sprintf("%s/d=%d/stride=%d/n=%d", im.name, d, stride, n)
					rng := rand.New(rand.NewPCG(uint64(d), uint64(n*1000+stride)))
					// NaN padding must never be read.
					data := randomMatrix(rng, n, d, stride, float32(math.NaN()))
					q := randomVector(rng, d)
					buf := make([]float32, n+guard)
					for i := range buf {
						buf[i] = -12345
					}
					scoresWith(im, buf[:n], data, stride, q)
					checkScores(t, name, buf[:n], data, stride, q)
					for i, v := range buf[n:] {
						if v != -12345 {
							t.Errorf("%s: wrote %v to dst[%d], past len(dst)", name, v, n+i)
						}
					}
				}
			}
		}
	}
}

func TestScoresUnaligned(t *testing.T) {
	for _, im := range testImpls(t) {
		for _, d := range []int{15, 16, 17, 64} {
			for _, stride := range []int{d, roundUp16(d)} {
				name := fmt.Sprintf("%s/d=%d/stride=%d", im.name, d, stride)
				rng := rand.New(rand.NewPCG(7, uint64(d)))
				const n = 37
				data := randomMatrix(rng, n+1, d, stride, 0)[1:]
				q := randomVector(rng, d+1)[1:]
				dst := make([]float32, n+1)[1:]
				scoresWith(im, dst, data, stride, q)
				checkScores(t, name, dst, data, stride, q)
			}
		}
	}
}

func TestScoresEmptyQuery(t *testing.T) {
	for _, im := range testImpls(t) {
		dst := []float32{1, 2, 3}
		scoresWith(im, dst, make([]float32, 3*16), 16, nil)
		if want := []float32{0, 0, 0}; !slices.Equal(dst, want) {
			t.Errorf("%s: Scores with empty q = %v, want %v", im.name, dst, want)
		}
	}
}

func TestScoresPanicsOnShortData(t *testing.T) {
	tests := []struct {
		name   string
		n      int
		stride int
		data   int
	}{
		{"one float short", 4, 16, 3*16 + 8 - 1},
		{"negative stride", 2, -1, 100},
	}
	for _, im := range testImpls(t) {
		for _, tt := range tests {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("%s/%s: Scores did not panic", im.name, tt.name)
					}
				}()
				scoresWith(im, make([]float32, tt.n), make([]float32, tt.data), tt.stride, make([]float32, 8))
			}()
		}
	}
}

// topK returns the indices of the k largest scores, largest first.
func topK(scores []float32, k int) []int {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case scores[a] > scores[b]:
			return -1
		case scores[a] < scores[b]:
			return 1
		}
		return 0
	})
	return idx[:k]
}

func TestScoresTopTenMatchesGeneric(t *testing.T) {
	const n, d, k = 100_000, 64, 10
	stride := roundUp16(d)
	rng := rand.New(rand.NewPCG(1, 2))
	data := randomMatrix(rng, n, d, stride, 0)
	q := randomVector(rng, d)
	want := make([]float32, n)
	scoresWith(generic, want, data, stride, q)
	wantTop := topK(want, k)
	for _, im := range testImpls(t) {
		got := make([]float32, n)
		scoresWith(im, got, data, stride, q)
		gotTop := topK(got, k)
		for r := range k {
			if gotTop[r] == wantTop[r] {
				continue
			}
			// A swap is a tie unless the generic scores differ by more than
			// rounding of two float32 sums of 64 products.
			a, b := want[gotTop[r]], want[wantTop[r]]
			if math.Abs(float64(a-b)) > 1e-5*float64(d) {
				t.Errorf("%s: rank %d = row %d (score %v), generic has row %d (score %v)", im.name, r, gotTop[r], a, wantTop[r], b)
			}
		}
	}
}

func TestScoresDoesNotAllocate(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	data := randomMatrix(rng, 1000, 64, 64, 0)
	q := randomVector(rng, 64)
	dst := make([]float32, 1000)
	if allocs := testing.AllocsPerRun(10, func() { Scores(dst, data, 64, q) }); allocs != 0 {
		t.Errorf("Scores allocates %v times per call, want 0", allocs)
	}
	for _, im := range testImpls(t) {
		if allocs := testing.AllocsPerRun(10, func() { scoresWith(im, dst, data, 64, q) }); allocs != 0 {
			t.Errorf("%s: Scores allocates %v times per call, want 0", im.name, allocs)
		}
	}
}

func TestImplIsAvailable(t *testing.T) {
	var names []string
	for _, im := range testImpls(t) {
		names = append(names, im.name)
	}
	if Impl() != names[0] {
		t.Errorf("Impl() = %q, want the best of %v", Impl(), names)
	}
	if names[len(names)-1] != "generic" {
		t.Errorf("available() = %v, want generic last", names)
	}
	if got := Implementations(); !slices.Equal(got, names) {
		t.Errorf("Implementations() = %v, want %v", got, names)
	}
}

// TestKernels checks that Kernels lists every assembly kernel an
// implementation of this machine calls, as running, and nothing else as
// running.
func TestKernels(t *testing.T) {
	used := map[string]bool{}
	for _, im := range available() {
		for _, k := range im.kernels {
			used[k] = true
		}
		if (im.kernel == nil) != (im.name == "generic") {
			t.Errorf("%s: float kernel set %v", im.name, im.kernel != nil)
		}
	}
	listed := map[string]bool{}
	for _, k := range Kernels() {
		if listed[k.Name] {
			t.Errorf("Kernels() lists %s twice", k.Name)
		}
		listed[k.Name] = true
		if k.Runs != used[k.Name] || k.Needs == "" {
			t.Errorf("Kernels(): %s runs %v needs %q; an implementation here uses it: %v", k.Name, k.Runs, k.Needs, used[k.Name])
		}
	}
	for k := range used {
		if !listed[k] {
			t.Errorf("kernel %s is used but not listed by Kernels()", k)
		}
	}
}

// BenchmarkScores sweeps catalogue size x factors for every implementation
// this machine can run. Rows are padded to a multiple of 16 floats, as in a
// snapshot's vector file.
func BenchmarkScores(b *testing.B) {
	for _, im := range testImpls(b) {
		for _, n := range []int{10_000, 100_000, 1_000_000} {
			for _, d := range []int{32, 64, 128} {
				b.Run(fmt.Sprintf("impl=%s/rows=%d/dims=%d", im.name, n, d), func(b *testing.B) {
					stride := roundUp16(d)
					rng := rand.New(rand.NewPCG(uint64(n), uint64(d)))
					data := randomMatrix(rng, n, d, stride, 0)
					q := randomVector(rng, d)
					dst := make([]float32, n)
					b.SetBytes(int64(n * stride * 4))
					b.ReportAllocs()
					for b.Loop() {
						scoresWith(im, dst, data, stride, q)
					}
				})
			}
		}
	}
}

// TestScoresReproducible checks the reproducibility the package documents:
// a row scored again in the same group of four, or alone if it was one of
// the last len(dst)%4 rows, gets the same bits, whatever block of the
// matrix the call covered.
func TestScoresReproducible(t *testing.T) {
	const n, d = 1003, 37
	stride := roundUp16(d)
	rng := rand.New(rand.NewPCG(11, 12))
	data := randomMatrix(rng, n, d, stride, 0)
	q := randomVector(rng, d)
	for _, im := range testImpls(t) {
		all := make([]float32, n)
		scoresWith(im, all, data, stride, q)
		// Blocks starting at multiples of four keep every group intact.
		for _, block := range []int{4, 64, 1000} {
			got := make([]float32, n)
			for lo := 0; lo < n; lo += block {
				scoresWith(im, got[lo:min(lo+block, n)], data[lo*stride:], stride, q)
			}
			if !slices.Equal(got, all) {
				t.Errorf("%s: scores in blocks of %d differ from one call", im.name, block)
			}
		}
		var four [4]float32
		for i := 0; i < n; i++ {
			g := i &^ 3
			var s float32
			if g+4 <= n {
				scoresWith(im, four[:], data[g*stride:], stride, q)
				s = four[i-g]
			} else {
				scoresWith(im, four[:1], data[i*stride:], stride, q)
				s = four[0]
			}
			if s != all[i] {
				t.Fatalf("%s: row %d rescored = %v, scanned %v", im.name, i, s, all[i])
			}
		}
	}
}

// testImpls returns the implementations this machine can run, for a test
// to exercise every one of them, and logs which they are, which assembly
// kernels they call and which compiled kernels this CPU cannot run (so no
// test executes them here).
func testImpls(tb testing.TB) []implementation {
	tb.Helper()
	impls := available()
	var names, ran, skipped []string
	for _, im := range impls {
		names = append(names, im.name)
	}
	for _, k := range Kernels() {
		if k.Runs {
			ran = append(ran, k.Name)
		} else {
			skipped = append(skipped, fmt.Sprintf("%s (needs %s)", k.Name, k.Needs))
		}
	}
	tb.Logf("implementations run: %s; assembly kernels run: %s; not run on this CPU: %s",
		strings.Join(names, ", "), orNone(ran), orNone(skipped))
	return impls
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
