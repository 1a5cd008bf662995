package dense

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func randomMatrix(rng *rand.Rand, n int) []float64 {
	a := make([]float64, n)
	for i := range a {
		a[i] = rng.Float64()*2 - 1
	}
	return a
}

func TestGemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range []struct{ m, n, k int }{
		{1, 1, 1}, {5, 7, 3}, {6, 8, 256}, {13, 17, 300}, {121, 9, 257}, {250, 130, 513}, {7, 4100, 5},
	} {
		for _, workers := range []int{1, 3} {
			lda, ldb, ldc := s.k+1, s.n+2, s.n+3
			a, b, c := randomMatrix(rng, s.m*lda), randomMatrix(rng, s.k*ldb), randomMatrix(rng, s.m*ldc)
			want := append([]float64(nil), c...)
			for i := range s.m {
				for j := range s.n {
					var sum float64
					for p := range s.k {
						sum += a[i*lda+p] * b[p*ldb+j]
					}
					want[i*ldc+j] += -0.5 * sum
				}
			}
			Gemm(s.m, s.n, s.k, -0.5, a, lda, b, ldb, c, ldc, workers)
			for i, v := range c {
				if math.Abs(v-want[i]) > 1e-12*float64(s.k) {
					t.Fatalf("Gemm(%d×%d×%d, workers %d)[%d] = %v, want %v (kernel %s)", s.m, s.n, s.k, workers, i, v, want[i], Kernel)
				}
			}
		}
	}
}

func TestKernelMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, k := range []int{1, 2, 7, 256} {
		a, b := randomMatrix(rng, k*mr), randomMatrix(rng, k*nr)
		var got, want [mr * nr]float64
		kernel(k, a, b, &got)
		kernelGo(k, a, b, &want)
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-12*float64(k) {
				t.Fatalf("kernel %s(k=%d)[%d] = %v, want %v", Kernel, k, i, got[i], want[i])
			}
		}
	}
}

// spd returns a random symmetric positive-definite n × n matrix shaped like
// an EASE Gram matrix: co-occurrence counts plus a ridge.
func spd(rng *rand.Rand, n int) []float64 {
	users := 3 * n
	x := make([]float64, users*n)
	for i := range x {
		if rng.Float64() < 0.05 {
			x[i] = 1
		}
	}
	g := make([]float64, n*n)
	Gemm(n, n, users, 1, transpose(x, users, n), users, x, n, g, n, 2)
	for i := range n {
		g[i*n+i] += 10
	}
	return g
}

func transpose(x []float64, rows, cols int) []float64 {
	t := make([]float64, len(x))
	for i := range rows {
		for j := range cols {
			t[j*rows+i] = x[i*cols+j]
		}
	}
	return t
}

func TestInvertSPD(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 3, 128, 129, 300, 517} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			g := spd(rng, n)
			var want mat.Dense
			if err := want.Inverse(mat.NewDense(n, n, append([]float64(nil), g...))); err != nil {
				t.Fatal(err)
			}
			got := append([]float64(nil), g...)
			if err := InvertSPD(got, n, n, 2); err != nil {
				t.Fatalf("InvertSPD(%d): %v", n, err)
			}
			var worst float64
			for i := range n {
				for j := range n {
					worst = max(worst, math.Abs(got[i*n+j]-want.At(i, j)))
				}
			}
			if worst > 1e-10 {
				t.Errorf("InvertSPD(%d) differs from gonum's inverse by up to %g, want ≤ 1e-10", n, worst)
			}
		})
	}
	bad := []float64{1, 2, 2, 1}
	if err := InvertSPD(bad, 2, 2, 1); err != ErrNotPositiveDefinite {
		t.Errorf("InvertSPD(indefinite) = %v, want ErrNotPositiveDefinite", err)
	}
}

func BenchmarkInvertSPD(b *testing.B) {
	for _, n := range []int{1000, 2000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			g := spd(rand.New(rand.NewPCG(7, 8)), n)
			a := make([]float64, len(g))
			for b.Loop() {
				copy(a, g)
				if err := InvertSPD(a, n, n, 2); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(n)*float64(n)/b.Elapsed().Seconds()*float64(b.N)/1e9, "GFLOP/s")
		})
	}
}
