package training

import (
	"context"
	"errors"
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/polecam/polecam/training/synth"
)

func TestTrainEASE(t *testing.T) {
	// Two users: u1 used items a and b, u2 only a. G = [[2 1] [1 1]].
	// With λ = 1 and no diagonal scale, P = (G+I)⁻¹ and for a 2 × 2 matrix
	// B_ab = −P_ab/P_bb = G_ab/(G_aa+λ) = 1/3 and B_ba = G_ab/(G_bb+λ) = 1/2.
	// With ρ = 1 the diagonal is λ + 2·G_jj: B_ab = 1/5, B_ba = 1/3.
	b := NewBuilder()
	b.Add("u1", "a", 5) // weights are ignored: EASE is binary
	b.Add("u1", "b", 1)
	b.Add("u2", "a", 1)
	b.Add("u2", "c", 1) // c co-occurs only with a
	x := b.Build()
	tests := []struct {
		rho                float64
		ab, ba, ac, ca, bc float64
	}{
		// G = [[2 1 1] [1 1 0] [1 0 1]] + I; solved by hand via the
		// 3 × 3 inverse: P ∝ adj(G+I) = [[4 −2 −2] [−2 5 1] [−2 1 5]].
		{rho: 0, ab: 2.0 / 5, ba: 2.0 / 4, ac: 2.0 / 5, ca: 2.0 / 4, bc: -1.0 / 5},
	}
	for _, tt := range tests {
		ii, err := TrainEASE(context.Background(), x, EASEOptions{Lambda: 1, DiagonalScale: tt.rho, MaxItems: 10})
		if err != nil {
			t.Fatal(err)
		}
		idx := func(id string) int32 { i, _ := x.ItemIndex(id); return i }
		at := func(i, j string) float64 { return float64(ii.Row(idx(i))[idx(j)]) }
		for _, c := range []struct {
			i, j string
			want float64
		}{{"a", "b", tt.ab}, {"b", "a", tt.ba}, {"a", "c", tt.ac}, {"c", "a", tt.ca}, {"b", "c", tt.bc}, {"a", "a", 0}, {"b", "b", 0}} {
			if got := at(c.i, c.j); math.Abs(got-c.want) > 1e-6 {
				t.Errorf("rho %v: B[%s][%s] = %.6f, want %.6f", tt.rho, c.i, c.j, got, c.want)
			}
		}
		// Scores are sums of the seen rows.
		dst := make([]float32, 3)
		ii.Scores([]int32{idx("b"), idx("c")}, dst)
		if got, want := float64(dst[idx("a")]), tt.ba+tt.ca; math.Abs(got-want) > 1e-6 {
			t.Errorf("score of a for {b, c} = %.6f, want %.6f", got, want)
		}
	}
	if _, err := TrainEASE(context.Background(), x, EASEOptions{Lambda: 1, MaxItems: 2}); !errors.Is(err, ErrTooManyItems) {
		t.Errorf("TrainEASE(3 items, max 2) error = %v, want ErrTooManyItems", err)
	}
	if err := (EASEOptions{Lambda: 0, MaxItems: 1}).Validate(); err == nil {
		t.Error("Validate(lambda 0) = nil, want an error")
	}
}

func TestBlend(t *testing.T) {
	inf := float32(math.Inf(-1))
	f := []float32{2, 4, inf, 1}
	s := []float32{10, 0, 100, 5} // 100 is not a candidate: not in the max
	dst := make([]float32, 4)
	Blend(dst, f, s, 0.5)
	want := []float32{0.5*2/4 + 0.5*10/10, 0.5*4/4 + 0, inf, 0.5*1/4 + 0.5*5/10}
	for i := range want {
		if math.Abs(float64(dst[i]-want[i])) > 1e-6 && !(math.IsInf(float64(want[i]), -1) && math.IsInf(float64(dst[i]), -1)) {
			t.Errorf("Blend: dst[%d] = %v, want %v", i, dst[i], want[i])
		}
	}
}

// TestTrainEASEMatchesCholesky compares TrainEASE on a catalogue large
// enough for the blocked inverse to recurse with B computed from gonum's
// Cholesky inverse.
func TestTrainEASEMatchesCholesky(t *testing.T) {
	x := syntheticInteractions(t, synth.Options{Users: 600, Items: 300, Events: 12000, Seed: 9})
	opts := EASEOptions{Lambda: 50, DiagonalScale: 1, MaxItems: 1000}
	ii, err := TrainEASE(context.Background(), x, opts)
	if err != nil {
		t.Fatal(err)
	}
	n := x.NumItems()
	g := mat.NewSymDense(n, nil)
	for u := range x.NumUsers() {
		items, _ := x.UserRow(int32(u))
		for a, i := range items {
			for _, j := range items[a:] {
				g.SetSym(int(i), int(j), g.At(int(i), int(j))+1)
			}
		}
	}
	for i := range n {
		g.SetSym(i, i, g.At(i, i)*(1+opts.DiagonalScale)+opts.Lambda)
	}
	var ch mat.Cholesky
	if !ch.Factorize(g) {
		t.Fatal("gram matrix not positive definite")
	}
	var p mat.SymDense
	if err := ch.InverseTo(&p); err != nil {
		t.Fatal(err)
	}
	var worst float64
	for i := range n {
		for j := range n {
			want := 0.0
			if i != j {
				want = -p.At(i, j) / p.At(j, j)
			}
			worst = max(worst, math.Abs(float64(ii.B[i*n+j])-want))
		}
	}
	if worst > 1e-6 {
		t.Errorf("TrainEASE(%d items): B differs from the Cholesky reference by up to %g, want ≤ 1e-6", n, worst)
	}
}
