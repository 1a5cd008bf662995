package training

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/google/go-cmp/cmp"

	"github.com/polecam/polecam/training/synth"
)

// uniformInteractions returns a users × items matrix where every user uses
// every item with probability p, except that the last `empty` items are
// never used.
func uniformInteractions(users, items, empty int, p float64, seed uint64) *Interactions {
	rng := rand.New(rand.NewPCG(seed, 2))
	ptr := make([]int64, users+1)
	var cols []int32
	var ws []float32
	for u := range users {
		for i := range items - empty {
			if rng.Float64() < p {
				cols = append(cols, int32(i))
				ws = append(ws, float32(1+rng.IntN(3)))
			}
		}
		ptr[u+1] = int64(len(cols))
	}
	return fromCSR(seqIDs("u", users), seqIDs("i", items), nil, ptr, cols, ws)
}

// TestTrainSparseEASEMatchesExact: with every pair of items sharing a user
// and K ≥ n−1, every column is regressed on all other items, which is
// exact EASE.
func TestTrainSparseEASEMatchesExact(t *testing.T) {
	tests := []struct {
		users, items, empty int
		p                   float64
		opts                EASEOptions
	}{
		{users: 300, items: 40, empty: 0, p: 0.3, opts: EASEOptions{Lambda: 10, DiagonalScale: 0, MaxItems: 100, Neighbors: 39}},
		{users: 300, items: 40, empty: 3, p: 0.3, opts: EASEOptions{Lambda: 50, DiagonalScale: 1, MaxItems: 100, Neighbors: 100}},
		{users: 120, items: 25, empty: 1, p: 0.5, opts: EASEOptions{Lambda: 2, DiagonalScale: 0.5, MaxItems: 100, Neighbors: 24}},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("items=%d/empty=%d/lambda=%g/rho=%g/k=%d", tt.items, tt.empty, tt.opts.Lambda, tt.opts.DiagonalScale, tt.opts.Neighbors)
		t.Run(name, func(t *testing.T) {
			x := uniformInteractions(tt.users, tt.items, tt.empty, tt.p, 1)
			exact, err := TrainEASE(context.Background(), x, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			sp, err := TrainSparseEASE(context.Background(), x, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			n := x.NumItems()
			scale := 0.0
			for _, w := range exact.B {
				scale = max(scale, math.Abs(float64(w)))
			}
			for i := range int32(n) {
				items, ws := sp.Row(i)
				used := int(i) < n-tt.empty
				if want := n - tt.empty - 1; used && len(items) != want {
					t.Fatalf("row %d has %d weights, want %d (every pair co-occurs)", i, len(items), want)
				}
				if !used && len(items) != 0 {
					t.Fatalf("row %d of an unused item has %d weights, want 0", i, len(items))
				}
				got := make([]float32, n)
				for k, j := range items {
					got[j] = ws[k]
				}
				for j, want := range exact.Row(i) {
					if d := math.Abs(float64(got[j] - want)); d > 1e-4*scale {
						t.Errorf("B[%d][%d] = %.6g, exact EASE %.6g (|diff| %.3g > 1e-4 × max %.3g)", i, j, got[j], want, d, scale)
					}
				}
			}
		})
	}
}

// checkSparseItemItem checks the invariants SparseItemItem documents and
// that every weight is finite and off the diagonal.
func checkSparseItemItem(t *testing.T, m *SparseItemItem) {
	t.Helper()
	if len(m.Ptr) != m.N+1 || m.Ptr[0] != 0 || m.Ptr[m.N] != int64(len(m.Items)) || len(m.Items) != len(m.Weights) {
		t.Fatalf("malformed model: N %d, len(Ptr) %d, %d items, %d weights", m.N, len(m.Ptr), len(m.Items), len(m.Weights))
	}
	for i := range int32(m.N) {
		items, ws := m.Row(i)
		for k, j := range items {
			if j == i {
				t.Fatalf("row %d holds its own item", i)
			}
			if k > 0 && items[k-1] >= j {
				t.Fatalf("row %d not strictly ascending: %d then %d", i, items[k-1], j)
			}
			if w := float64(ws[k]); math.IsNaN(w) || math.IsInf(w, 0) {
				t.Fatalf("w(%d, %d) = %v", i, j, w)
			}
		}
	}
}

// columns returns, for every item j, the items i with a stored w(i, j).
func columns(m *SparseItemItem) [][]int32 {
	cols := make([][]int32, m.N)
	for i := range int32(m.N) {
		items, _ := m.Row(i)
		for _, j := range items {
			cols[j] = append(cols[j], i)
		}
	}
	return cols
}

// TestTrainSparseEASEFewNeighbors: with K below the support, each column
// holds exactly its K nearest items by cosine (as CoOccurrence ranks
// them), the model is well formed and does not depend on GOMAXPROCS.
func TestTrainSparseEASEFewNeighbors(t *testing.T) {
	x := syntheticInteractions(t, synth.Options{Users: 800, Items: 400, Events: 20000, Seed: 5})
	for _, k := range []int{1, 8, 40} {
		t.Run(fmt.Sprintf("k=%d", k), func(t *testing.T) {
			opts := DefaultEASEOptions()
			opts.Neighbors = k
			var models []*SparseItemItem
			for _, procs := range []int{1, 2} {
				prev := runtime.GOMAXPROCS(procs)
				m, err := TrainSparseEASE(context.Background(), x, opts)
				runtime.GOMAXPROCS(prev)
				if err != nil {
					t.Fatalf("GOMAXPROCS %d: %v", procs, err)
				}
				checkSparseItemItem(t, m)
				models = append(models, m)
			}
			for p, m := range models[1:] {
				if diff := cmp.Diff(models[0], m); diff != "" {
					t.Fatalf("model with GOMAXPROCS %d differs from GOMAXPROCS 1 (-1 +%d):\n%s", p+2, p+2, diff)
				}
			}
			co := DefaultCoOccurrenceOptions()
			co.TopK, co.MinCount, co.MaxUserItems = k, 1, x.NumItems()
			nbs, err := CoOccurrence(context.Background(), x, co)
			if err != nil {
				t.Fatal(err)
			}
			for j, col := range columns(models[0]) {
				var want []int32
				for _, nb := range nbs[j] {
					want = append(want, nb.Item)
				}
				slices.Sort(want)
				if !slices.Equal(col, want) {
					t.Fatalf("column %d regressed on %v, want the top %d by cosine %v", j, col, k, want)
				}
			}
		})
	}
}

func TestTrainSparseEASECanceled(t *testing.T) {
	x := syntheticInteractions(t, synth.Options{Users: 500, Items: 300, Events: 10000, Seed: 2})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := TrainSparseEASE(ctx, x, DefaultEASEOptions()); !errors.Is(err, context.Canceled) {
		t.Errorf("TrainSparseEASE(canceled) error = %v, want context.Canceled", err)
	}
}

func TestEASEOptionsValidateNeighbors(t *testing.T) {
	tests := []struct {
		neighbors int
		ok        bool
	}{
		{-1, false}, {0, true}, {1, true}, {128, true}, {1024, true}, {1025, false},
	}
	for _, tt := range tests {
		o := DefaultEASEOptions()
		o.Neighbors = tt.neighbors
		if err := o.Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(neighbors %d) = %v, want ok %v", tt.neighbors, err, tt.ok)
		}
	}
	if got := DefaultEASEOptions(); got.Lambda != 566 || got.DiagonalScale != 1 || got.MaxItems != 10000 || got.Neighbors != 0 {
		t.Errorf("DefaultEASEOptions() = %+v", got)
	}
	if got := (EASEOptions{}).neighbors(); got != DefaultNeighbors {
		t.Errorf("neighbors() of 0 = %d, want %d", got, DefaultNeighbors)
	}
}

func TestFitEASE(t *testing.T) {
	x := uniformInteractions(100, 20, 0, 0.3, 3)
	tests := []struct {
		maxItems int
		sparse   bool
	}{
		{maxItems: 21, sparse: false},
		{maxItems: 20, sparse: false},
		{maxItems: 19, sparse: true},
		{maxItems: 1, sparse: true},
	}
	for _, tt := range tests {
		opts := DefaultEASEOptions()
		opts.Lambda, opts.MaxItems = 5, tt.maxItems
		m, err := FitEASE(context.Background(), x, opts)
		if err != nil {
			t.Fatalf("FitEASE(max items %d): %v", tt.maxItems, err)
		}
		if _, ok := m.(*SparseItemItem); ok != tt.sparse {
			t.Errorf("FitEASE(20 items, max items %d) = %T, want sparse %v", tt.maxItems, m, tt.sparse)
		}
		r := Recipe{ALS: DefaultALSOptions(), EASE: &opts, Blend: 0.5}
		ii, err := r.FitItemModel(context.Background(), x)
		if err != nil {
			t.Fatalf("FitItemModel(max items %d): %v", tt.maxItems, err)
		}
		if _, ok := ii.(*SparseItemItem); ok != tt.sparse {
			t.Errorf("FitItemModel(20 items, max items %d) = %T, want sparse %v", tt.maxItems, ii, tt.sparse)
		}
	}
	if _, err := FitEASE(context.Background(), x, EASEOptions{Lambda: 1, MaxItems: 1, Neighbors: -1}); err == nil {
		t.Error("FitEASE(neighbors -1) = nil error, want one")
	}
}

// TestSparseEASENearExact is the sanity check of the approximation: on
// held-out interactions of a synthetic log, sparse EASE with K 64 (the
// default costs too much under -race) ranks within a few per cent of exact
// EASE.
func TestSparseEASENearExact(t *testing.T) {
	x := syntheticInteractions(t, synth.Options{Users: 2000, Items: 600, Events: 60000, Seed: 11})
	train, test := SplitRandom(x, 0.2, 11)
	opts := DefaultEASEOptions()
	opts.Lambda, opts.Neighbors = 50, 64
	exact, err := TrainEASE(context.Background(), train, opts)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := TrainSparseEASE(context.Background(), train, opts)
	if err != nil {
		t.Fatal(err)
	}
	score := func(m ItemScorer) func(u int32, dst []float32) {
		return func(u int32, dst []float32) {
			items, _ := train.UserRow(u)
			m.Scores(items, dst)
		}
	}
	const k = 10
	me := Evaluate(train, test, k, score(exact))
	ms := Evaluate(train, test, k, score(sp))
	rel := (ms.NDCG - me.NDCG) / me.NDCG
	t.Logf("items %d, nnz %d: nDCG@%d exact %.4f, sparse (K %d, %d weights) %.4f (%+.2f %%)",
		train.NumItems(), train.NNZ(), k, me.NDCG, opts.Neighbors, sp.NNZ(), ms.NDCG, 100*rel)
	if rel < -0.03 {
		t.Errorf("sparse EASE nDCG@%d %.4f is %.2f %% below exact EASE's %.4f, want within 3 %%", k, ms.NDCG, -100*rel, me.NDCG)
	}
}

func TestSeek(t *testing.T) {
	row := []gramCell{{item: 2}, {item: 3}, {item: 5}, {item: 8}, {item: 13}, {item: 21}, {item: 34}}
	for from := range len(row) + 1 {
		for v := int32(0); v <= 40; v++ {
			want := from
			for want < len(row) && row[want].item < v {
				want++
			}
			if got := seek(row, from, v); got != want {
				t.Errorf("seek(from %d, %d) = %d, want %d", from, v, got, want)
			}
		}
	}
	if got := seek(nil, 0, 1); got != 0 {
		t.Errorf("seek(empty) = %d, want 0", got)
	}
}

// TestTrainSparseEASESolvesEachNeighbourhood checks the values of a model
// with K below the support: each column j is the solution of
// (G_NN + diag(λ + ρ·G_ii)_N)·b = G_Nj on its neighbourhood N, solved here
// from a dense Gram matrix by gonum, whichever way the sparse Gram rows
// were stored and read (dense, scanned or searched) and whether the
// neighbourhood was factorised blocked (K ≥ 96) or not.
func TestTrainSparseEASESolvesEachNeighbourhood(t *testing.T) {
	x := syntheticInteractions(t, synth.Options{Users: 800, Items: 400, Events: 20000, Seed: 5})
	n := x.NumItems()
	g := make([]float64, n*n)
	for u := range x.NumUsers() {
		items := x.UserItems[x.UserPtr[u]:x.UserPtr[u+1]]
		for _, a := range items {
			for _, b := range items {
				g[int(a)*n+int(b)]++
			}
		}
	}
	dense, cells := 0, 0 // upper Gram rows stored densely, and as cells
	for j := range n {
		above := 0
		for i := j + 1; i < n; i++ {
			if g[j*n+i] > 0 {
				above++
			}
		}
		if above >= minDenseGram && 4*above >= n-1-j {
			dense++
		} else if above > 0 {
			cells++
		}
	}
	if dense == 0 || cells == 0 {
		t.Fatalf("%d dense and %d sparse Gram rows: want both kinds tested", dense, cells)
	}
	for _, k := range []int{40, 120} {
		t.Run(fmt.Sprintf("k=%d", k), func(t *testing.T) {
			opts := DefaultEASEOptions()
			opts.Neighbors, opts.DiagonalScale = k, 0.5
			m, err := TrainSparseEASE(context.Background(), x, opts)
			if err != nil {
				t.Fatal(err)
			}
			w := make(map[[2]int32]float32)
			for i := range int32(m.N) {
				items, ws := m.Row(i)
				for p, j := range items {
					w[[2]int32{i, j}] = ws[p]
				}
			}
			long := 0
			for j, col := range columns(m) {
				if len(col) == 0 {
					continue
				}
				if len(col) >= 96 {
					long++
				}
				s := len(col)
				a := mat.NewSymDense(s, nil)
				rhs := mat.NewVecDense(s, nil)
				for p, i := range col {
					for q, h := range col {
						a.SetSym(p, q, g[int(i)*n+int(h)])
					}
					gi := g[int(i)*n+int(i)]
					a.SetSym(p, p, gi+opts.Lambda+opts.DiagonalScale*gi)
					rhs.SetVec(p, g[int(i)*n+j])
				}
				var ch mat.Cholesky
				if !ch.Factorize(a) {
					t.Fatalf("column %d: block not positive definite", j)
				}
				var b mat.VecDense
				if err := ch.SolveVecTo(&b, rhs); err != nil {
					t.Fatal(err)
				}
				for p, i := range col {
					want, got := b.AtVec(p), float64(w[[2]int32{i, int32(j)}])
					if math.Abs(got-want) > 1e-5*(1+math.Abs(want)) {
						t.Fatalf("w(%d, %d) = %.7g, the solve of its neighbourhood gives %.7g", i, j, got, want)
					}
				}
			}
			if k >= 96 && long == 0 {
				t.Fatalf("no neighbourhood of %d items or more: the blocked factorisation went untested", 96)
			}
		})
	}
}
