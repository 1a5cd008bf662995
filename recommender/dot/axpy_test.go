package dot

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestAddScaledRowsMatchesReference checks every implementation against
// the definition, in float64, for widths around the kernels' 8- and
// 32-float blocks, strides wider than the width and row counts from 1.
func TestAddScaledRowsMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, im := range testImpls(t) {
		for _, d := range []int{1, 7, 8, 9, 16, 31, 32, 33, 40, 64, 65, 100, 128} {
			for _, n := range []int{1, 2, 5, 77} {
				stride := d + rng.IntN(3)
				data := make([]float32, (n-1)*stride+d)
				for i := range data {
					data[i] = float32(rng.NormFloat64())
				}
				coef := make([]float32, n)
				for i := range coef {
					coef[i] = float32(rng.NormFloat64())
				}
				dst := make([]float32, d)
				want := make([]float64, d)
				for j := range dst {
					dst[j] = float32(rng.NormFloat64())
					want[j] = float64(dst[j])
				}
				for i, c := range coef {
					for j := range d {
						want[j] += float64(c) * float64(data[i*stride+j])
					}
				}
				addScaledRowsWith(im, dst, data, stride, coef)
				for j := range d {
					if tol := 1e-4 * (1 + math.Abs(want[j])) * float64(n); math.Abs(float64(dst[j])-want[j]) > tol {
						t.Fatalf("%s d=%d n=%d stride=%d: dst[%d] = %v, want %v", im.name, d, n, stride, j, dst[j], want[j])
					}
				}
			}
		}
	}
}

func TestAddScaledRowsPanicsOnShortData(t *testing.T) {
	for _, im := range testImpls(t) {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic for short data", im.name)
				}
			}()
			addScaledRowsWith(im, make([]float32, 16), make([]float32, 31), 16, make([]float32, 2))
		}()
	}
}

func BenchmarkAddScaledRows(b *testing.B) {
	for _, n := range []int{64, 512} {
		data := make([]float32, n*64)
		coef := make([]float32, n)
		dst := make([]float32, 64)
		b.Run(fmt.Sprintf("rows=%d/d=64", n), func(b *testing.B) {
			for b.Loop() {
				AddScaledRows(dst, data, 64, coef)
			}
		})
	}
}
