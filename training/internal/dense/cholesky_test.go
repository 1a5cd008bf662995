package dense

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestCholesky checks the factor against gonum's on orders around the
// panel width and Gemm's blocks, with a stride wider than the order and
// garbage in the upper triangle (which must not be read), reusing one
// Workspace across sizes.
func TestCholesky(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	var ws Workspace
	for _, n := range []int{1, 2, 5, 2*cholBlock - 1, 2 * cholBlock, 2*cholBlock + 1, 121, 256, 301} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			g := spd(rng, n)
			var want mat.Cholesky
			if !want.Factorize(mat.NewSymDense(n, append([]float64(nil), g...))) {
				t.Fatal("gonum: not positive definite")
			}
			var l mat.TriDense
			want.LTo(&l)
			lda := n + 3
			a := make([]float64, n*lda)
			for i := range n {
				for j := range n {
					a[i*lda+j] = g[i*n+j]
					if j > i {
						a[i*lda+j] = math.NaN() // never read
					}
				}
			}
			if err := Cholesky(a, n, lda, &ws); err != nil {
				t.Fatalf("Cholesky(%d): %v", n, err)
			}
			var worst float64
			for i := range n {
				for j := 0; j <= i; j++ {
					worst = max(worst, math.Abs(a[i*lda+j]-l.At(i, j)))
				}
			}
			if worst > 1e-10 {
				t.Errorf("Cholesky(%d) differs from gonum's factor by up to %g, want ≤ 1e-10", n, worst)
			}
		})
	}
	for _, n := range []int{2, 200} {
		g := spd(rng, n)
		g[(n-1)*n+n-1] = -1 // the last pivot goes negative
		if err := Cholesky(g, n, n, nil); !errors.Is(err, ErrNotPositiveDefinite) {
			t.Errorf("Cholesky(indefinite %d) = %v, want ErrNotPositiveDefinite", n, err)
		}
	}
}

func BenchmarkCholesky(b *testing.B) {
	for _, n := range []int{128, 256} {
		g := spd(rand.New(rand.NewPCG(11, 12)), n)
		a := make([]float64, len(g))
		b.Run(fmt.Sprintf("n=%d/blocked", n), func(b *testing.B) {
			var ws Workspace
			for b.Loop() {
				copy(a, g)
				if err := Cholesky(a, n, n, &ws); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("n=%d/unblocked", n), func(b *testing.B) {
			for b.Loop() {
				copy(a, g)
				if err := cholUnblocked(a, n, n, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
