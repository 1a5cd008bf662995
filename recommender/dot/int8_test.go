package dot

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestQuantizeVector(t *testing.T) {
	tests := []struct {
		v         []float32
		width     int
		wantQ     []int8
		wantScale float32
	}{
		{[]float32{1, -0.5, 0.25}, 4, []int8{127, -64, 32, 0}, 1.0 / 127},
		{[]float32{-2, 1}, 2, []int8{-127, 64}, 2.0 / 127},
		{[]float32{0, 0}, 3, []int8{0, 0, 0}, 0},
		{nil, 2, []int8{0, 0}, 0},
	}
	for _, tt := range tests {
		q := make([]int8, tt.width)
		for i := range q {
			q[i] = 99
		}
		scale := QuantizeVector(q, tt.v)
		if !slices.Equal(q, tt.wantQ) || scale != tt.wantScale {
			t.Errorf("QuantizeVector(%v) = %v, %v, want %v, %v", tt.v, q, scale, tt.wantQ, tt.wantScale)
		}
	}
}

func TestQuantizeRowsReconstructs(t *testing.T) {
	for _, d := range []int{1, 17, 64, 100} {
		const n = 50
		stride := d + 3
		w := Int8Width(d)
		rng := rand.New(rand.NewPCG(5, uint64(d)))
		data := randomMatrix(rng, n, d, stride, float32(math.NaN()))
		clear(data[:d]) // a row of zeros
		rows := make([]int8, n*w)
		for i := range rows {
			rows[i] = 99
		}
		scales := make([]float32, n)
		QuantizeRows(rows, w, scales, data, stride, d)
		for i := range n {
			var peak int8
			for j := range w {
				r := rows[i*w+j]
				if j >= d {
					if r != 0 {
						t.Errorf("d=%d: row %d padding [%d] = %d, want 0", d, i, j, r)
					}
					continue
				}
				peak = max(peak, r, -r)
				x, back := data[i*stride+j], scales[i]*float32(r)
				if diff := math.Abs(float64(x - back)); diff > float64(scales[i])/2*1.0001 {
					t.Errorf("d=%d: row %d [%d] = %v, reconstructed %v (scale %v)", d, i, j, x, back, scales[i])
				}
			}
			if wantPeak := int8(127); i == 0 {
				if scales[i] != 0 || peak != 0 {
					t.Errorf("d=%d: zero row quantised to scale %v, peak %d, want 0, 0", d, scales[i], peak)
				}
			} else if peak != wantPeak {
				t.Errorf("d=%d: row %d peak |q| = %d, want %d", d, i, peak, wantPeak)
			}
		}
	}
}

// quantizedMatrix returns n random rows of d factors quantised with stride
// bytes, their scales, the float rows (stride d) they came from, a random
// query and its quantised form.
func quantizedMatrix(rng *rand.Rand, n, d, stride int) (rows []int8, scales, data, v []float32, q []int8, qScale float32) {
	data = randomMatrix(rng, n, d, d, 0)
	rows = make([]int8, n*stride)
	scales = make([]float32, n)
	QuantizeRows(rows, stride, scales, data, d, d)
	v = randomVector(rng, d)
	q = make([]int8, Int8Width(d))
	qScale = QuantizeVector(q, v)
	return rows, scales, data, v, q, qScale
}

func TestScoresInt8(t *testing.T) {
	testImpls(t) // logs the implementations exercised below
	// Widths 32, 64, 96, 128, 224 and 256 take every path of the kernels
	// (64-byte steps, a 32-byte tail step, both); the counts cover blocks
	// of 4 and 16 rows and every kind of tail.
	dims := []int{1, 3, 8, 15, 16, 17, 31, 32, 63, 64, 65, 96, 100, 128, 200, 256}
	counts := []int{0, 1, 3, 4, 5, 15, 16, 17, 31, 33, 1000}
	const guard = 8
	for _, d := range dims {
		w := Int8Width(d)
		for _, stride := range []int{w, w + 7} {
			for _, n := range counts {
				rng := rand.New(rand.NewPCG(uint64(d), uint64(n*1000+stride)))
				rows, scales, data, v, q, qScale := quantizedMatrix(rng, n, d, stride)
				want := make([]float32, n)
				scoresInt8Generic(want, rows, stride, scales, q, qScale)
				// The generic result is within quantisation error of the
				// exact inner product.
				for i := range n {
					var exact, sumR, sumQ float64
					for j, x := range v {
						r := float64(data[i*d+j])
						exact += r * float64(x)
						sumR += math.Abs(r)
						sumQ += math.Abs(float64(x))
					}
					sr, sq := float64(scales[i]), float64(qScale)
					bound := sq/2*sumR + sr/2*sumQ + 0.75*float64(d)*sr*sq + 1e-5*sumR*sumQ
					if diff := math.Abs(float64(want[i]) - exact); diff > bound {
						t.Errorf("d=%d/n=%d: generic row %d = %v, want %v within %g", d, n, i, want[i], exact, bound)
					}
				}
				for _, im := range available() {
					name := fmt.Sprintf("%s/d=%d/stride=%d/n=%d", im.name, d, stride, n)
					buf := make([]float32, n+guard)
					for i := range buf {
						buf[i] = -12345
					}
					scoresInt8With(im, buf[:n], rows, stride, scales, q, qScale)
					if !slices.Equal(buf[:n], want) {
						t.Errorf("%s: ScoresInt8 = %v, want generic's %v", name, buf[:min(n, 8)], want[:min(n, 8)])
					}
					for i, x := range buf[n:] {
						if x != -12345 {
							t.Errorf("%s: wrote %v to dst[%d], past len(dst)", name, x, n+i)
						}
					}
				}
			}
		}
	}
}

func TestScoresInt8Unaligned(t *testing.T) {
	const n, d = 37, 64
	w := Int8Width(d)
	rng := rand.New(rand.NewPCG(8, 9))
	rows, scales, _, _, q, qScale := quantizedMatrix(rng, n, d, w)
	rows1 := append(make([]int8, 1, len(rows)+1), rows...)[1:]
	q1 := append(make([]int8, 1, len(q)+1), q...)[1:]
	scales1 := append(make([]float32, 1, len(scales)+1), scales...)[1:]
	want := make([]float32, n)
	scoresInt8Generic(want, rows, w, scales, q, qScale)
	for _, im := range testImpls(t) {
		got := make([]float32, n+1)[1:]
		scoresInt8With(im, got, rows1, w, scales1, q1, qScale)
		if !slices.Equal(got, want) {
			t.Errorf("%s: unaligned ScoresInt8 = %v, want %v", im.name, got[:4], want[:4])
		}
	}
}

func TestScoresInt8Panics(t *testing.T) {
	tests := []struct {
		name                  string
		n, stride, rows, q, s int
	}{
		{"query width not a multiple of 32", 2, 64, 128, 48, 2},
		{"stride below width", 2, 16, 128, 32, 2},
		{"rows one byte short", 3, 64, 2*64 + 32 - 1, 32, 3},
		{"too few scales", 3, 64, 3 * 64, 32, 2},
	}
	for _, im := range testImpls(t) {
		for _, tt := range tests {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("%s/%s: ScoresInt8 did not panic", im.name, tt.name)
					}
				}()
				scoresInt8With(im, make([]float32, tt.n), make([]int8, tt.rows), tt.stride, make([]float32, tt.s), make([]int8, tt.q), 1)
			}()
		}
	}
}

func TestScoresInt8DoesNotAllocate(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	rows, scales, _, _, q, qScale := quantizedMatrix(rng, 1000, 64, 64)
	dst := make([]float32, 1000)
	if allocs := testing.AllocsPerRun(10, func() { ScoresInt8(dst, rows, 64, scales, q, qScale) }); allocs != 0 {
		t.Errorf("ScoresInt8 allocates %v times per call, want 0", allocs)
	}
	for _, im := range testImpls(t) {
		if allocs := testing.AllocsPerRun(10, func() { scoresInt8With(im, dst, rows, 64, scales, q, qScale) }); allocs != 0 {
			t.Errorf("%s: ScoresInt8 allocates %v times per call, want 0", im.name, allocs)
		}
	}
}

// BenchmarkScoresInt8 sweeps catalogue size x factors for every
// implementation; rows are Int8Width(dims) bytes apart.
func BenchmarkScoresInt8(b *testing.B) {
	for _, im := range testImpls(b) {
		for _, n := range []int{10_000, 100_000, 1_000_000} {
			for _, d := range []int{32, 64, 128} {
				b.Run(fmt.Sprintf("impl=%s/rows=%d/dims=%d", im.name, n, d), func(b *testing.B) {
					stride := Int8Width(d)
					rng := rand.New(rand.NewPCG(uint64(n), uint64(d)))
					rows, scales, _, _, q, qScale := quantizedMatrix(rng, n, d, stride)
					dst := make([]float32, n)
					b.SetBytes(int64(n * stride))
					b.ReportAllocs()
					for b.Loop() {
						scoresInt8With(im, dst, rows, stride, scales, q, qScale)
					}
				})
			}
		}
	}
}

// int8Case is a ScoresInt8 input with arbitrary int8 values, including
// -128, which QuantizeRows never writes but the kernels must still score
// exactly.
type int8Case struct {
	n, w, stride int
	rows         []int8
	scales       []float32
	q            []int8
	qScale       float32
}

// checkInt8Impls scores c with every implementation and reports any that
// differs from the generic loop in a single bit or writes past len(dst).
func checkInt8Impls(t *testing.T, name string, c int8Case) {
	t.Helper()
	const guard = 17
	want := make([]float32, c.n)
	scoresInt8Generic(want, c.rows, c.stride, c.scales, c.q, c.qScale)
	for _, im := range available() {
		buf := make([]float32, c.n+guard)
		for i := range buf {
			buf[i] = -12345
		}
		scoresInt8With(im, buf[:c.n], c.rows, c.stride, c.scales, c.q, c.qScale)
		for i := range c.n {
			if math.Float32bits(buf[i]) != math.Float32bits(want[i]) {
				t.Errorf("%s/%s: ScoresInt8 row %d = %v, want generic's %v", im.name, name, i, buf[i], want[i])
				break
			}
		}
		for i, x := range buf[c.n:] {
			if x != -12345 {
				t.Errorf("%s/%s: wrote %v to dst[%d], past len(dst)", im.name, name, x, c.n+i)
			}
		}
	}
}

// randomInt8Case fills a case of n rows of width w with bytes from fill.
func randomInt8Case(rng *rand.Rand, n, w, stride int, fill func() int8) int8Case {
	c := int8Case{n: n, w: w, stride: stride, qScale: rng.Float32() + 0.01}
	c.rows = make([]int8, max(0, (n-1)*stride+w))
	for i := range c.rows {
		c.rows[i] = fill()
	}
	c.q = make([]int8, w)
	for i := range c.q {
		c.q[i] = fill()
	}
	c.scales = make([]float32, n)
	for i := range c.scales {
		c.scales[i] = rng.Float32() / 127
	}
	return c
}

func TestScoresInt8ExtremeValues(t *testing.T) {
	testImpls(t) // logs the implementations exercised below
	// All bytes at one extreme make the integer sums as large as they get:
	// at w = 65536, (-128)*(-128)*w = 1<<30, and VPDPBUSD's bias
	// 128*sum(q) is as large again, so its int32 sum wraps and must still
	// come out exact.
	values := []struct {
		name string
		r, q int8
	}{
		{"127x127", 127, 127},
		{"-127x127", -127, 127},
		{"127x-127", 127, -127},
		{"-127x-127", -127, -127},
		{"-128x-128", -128, -128},
		{"-128x127", -128, 127},
		{"127x-128", 127, -128},
	}
	rng := rand.New(rand.NewPCG(21, 22))
	for _, v := range values {
		for _, w := range []int{32, 96, 128, 256, 1 << 16} {
			for _, n := range []int{1, 16, 17, 35} {
				c := randomInt8Case(rng, n, w, w, func() int8 { return 0 })
				for i := range c.rows {
					c.rows[i] = v.r
				}
				for i := range c.q {
					c.q[i] = v.q
				}
				checkInt8Impls(t, fmt.Sprintf("%s/w=%d/n=%d", v.name, w, n), c)
			}
		}
	}
	// Alternating signs, and random picks among the extremes.
	extremes := []int8{-128, -127, 127, 0}
	for _, w := range []int{32, 64, 96, 160, 4096} {
		for _, n := range []int{5, 16, 47} {
			c := randomInt8Case(rng, n, w, w+32, func() int8 { return extremes[rng.IntN(len(extremes))] })
			checkInt8Impls(t, fmt.Sprintf("mixed/w=%d/n=%d", w, n), c)
		}
	}
}

// TestScoresInt8RandomSweep compares every implementation with the generic
// loop on seeded random widths, strides, counts and bytes.
func TestScoresInt8RandomSweep(t *testing.T) {
	testImpls(t) // logs the implementations exercised below
	rng := rand.New(rand.NewPCG(31, 32))
	for k := range 300 {
		w := Int8Block * (1 + rng.IntN(24))
		stride := w + rng.IntN(3)*rng.IntN(70)
		n := rng.IntN(80)
		c := randomInt8Case(rng, n, w, stride, func() int8 { return int8(rng.Uint32()) })
		checkInt8Impls(t, fmt.Sprintf("case%d/w=%d/stride=%d/n=%d", k, w, stride, n), c)
	}
}

// FuzzScoresInt8 checks that every implementation matches the generic loop
// bit for bit on arbitrary bytes: data supplies q (the first w bytes) and
// then the rows; the shape comes from the other arguments.
func FuzzScoresInt8(f *testing.F) {
	f.Add(uint8(1), uint8(0), uint8(3), []byte{1, 2, 3, 0x80, 0x7f, 0xff})
	f.Add(uint8(2), uint8(5), uint8(17), []byte{0x80, 0x80, 0x7f, 0x81, 9})
	f.Add(uint8(3), uint8(1), uint8(33), []byte{})
	f.Fuzz(func(t *testing.T, blocks, pad, rows uint8, data []byte) {
		w := Int8Block * (1 + int(blocks)%16)
		stride := w + int(pad)%64
		n := int(rows) % 64
		size := w
		if n > 0 {
			size += (n-1)*stride + w
		}
		b := make([]int8, size)
		for i := range b {
			if len(data) > 0 {
				b[i] = int8(data[i%len(data)] + byte(i/len(data)))
			}
		}
		c := int8Case{n: n, w: w, stride: stride, q: b[:w], rows: b[w:], qScale: 0.37}
		c.scales = make([]float32, n)
		for i := range c.scales {
			c.scales[i] = float32(i+1) / 381
		}
		checkInt8Impls(t, fmt.Sprintf("w=%d/stride=%d/n=%d", w, stride, n), c)
	})
}
