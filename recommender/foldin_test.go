package recommender

import (
	"context"
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// testFoldIn returns fold-in parameters for m's items: YᵀY of the float32
// factors, alpha 4, a view weight of 1 and λ = 10 + k.
func testFoldIn(m *Model) *foldIn {
	d := m.items.Dims
	yty := make([]float64, d*d)
	for i := range m.n {
		y := m.items.Row(i)
		for a := range d {
			for b := range d {
				yty[a*d+b] += float64(y[a]) * float64(y[b])
			}
		}
	}
	return &foldIn{dims: d, alpha: 4, viewWeight: 1, yty: yty, yty32: toFloat32(yty), reg: func(w float64) float64 { return 10 + w }}
}

// denseFoldIn solves the fold-in system of foldIn with gonum: A x = b
// with A = YᵀY + (c−1)Σ_{H} y yᵀ + λI over H = trained ∪ session and
// b = A₀x0 + cΣ_{session} y, A₀ the same over the trained items alone.
func denseFoldIn(m *Model, fi *foldIn, x0 []float32, seen, session []int32) []float64 {
	d := fi.dims
	c1 := fi.alpha * fi.viewWeight
	build := func(sets [][]int32, lam float64) *mat.Dense {
		a := mat.NewDense(d, d, append([]float64(nil), fi.yty...))
		for _, set := range sets {
			for _, i := range set {
				y := m.items.Row(int(i))
				for p := range d {
					for q := range d {
						a.Set(p, q, a.At(p, q)+c1*float64(y[p])*float64(y[q]))
					}
				}
			}
		}
		for p := range d {
			a.Set(p, p, a.At(p, p)+lam)
		}
		return a
	}
	b := mat.NewVecDense(d, nil)
	if x0 != nil {
		xv := mat.NewVecDense(d, nil)
		for k, v := range x0 {
			xv.SetVec(k, float64(v))
		}
		b.MulVec(build([][]int32{seen}, fi.reg(float64(len(seen)))), xv)
	}
	for _, i := range session {
		for k, v := range m.items.Row(int(i)) {
			b.SetVec(k, b.AtVec(k)+(1+c1)*float64(v))
		}
	}
	k := len(session)
	if x0 != nil {
		k += len(seen)
	}
	var x mat.VecDense
	if err := x.SolveVec(build([][]int32{seen, session}, fi.reg(float64(k))), b); err != nil {
		panic(err)
	}
	return x.RawVector().Data
}

// TestFoldInMatchesDenseSolve checks the conjugate-gradient fold-in
// against a dense solve, for a visitor and for a known user.
func TestFoldInMatchesDenseSolve(t *testing.T) {
	d := randomData(600, 12)
	m := newTestModel(t, openFake, d)
	m.fold = testFoldIn(m)
	session := []int32{5, 17, 240}
	for _, tt := range []struct {
		name string
		x0   []float32
		seen []int32
	}{
		{"visitor", nil, nil},
		{"known user", m.users.Row(3), d.seen[3]},
	} {
		sc := m.getScratch()
		got := m.foldIn(sc, 3, tt.x0, tt.seen, session)
		var seen []int32
		if tt.x0 != nil {
			seen = tt.seen
		}
		want := denseFoldIn(m, m.fold, tt.x0, seen, session)
		for k := range want {
			if math.Abs(float64(got[k])-want[k]) > 1e-4*(1+math.Abs(want[k])) {
				t.Errorf("%s: foldIn[%d] = %v, dense solve %v", tt.name, k, got[k], want[k])
			}
		}
		m.putScratch(sc)
	}
}

// TestFoldInKnownUserWithoutSessionIsTrained checks that the rebuilt
// system reproduces the trained vector when no item is added: the fold-in
// of an empty session is not run, and one of a session whose items have
// no vector leaves the trained vector too.
func TestFoldInKnownUserWithoutSessionIsTrained(t *testing.T) {
	ctx := context.Background()
	d := randomData(600, 12)
	d.itemVecs[9] = make([]float32, 12) // a cold item
	m := newTestModel(t, openFake, d)
	m.fold = testFoldIn(m)
	plain, err := m.Recommend(ctx, RecommendRequest{UserID: d.users[1], N: 10})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Recommend(ctx, RecommendRequest{UserID: d.users[1], N: 10, Recent: []string{d.items[9], "unknown"}})
	if err != nil {
		t.Fatal(err)
	}
	got.NextPageToken, plain.NextPageToken = "", ""
	for i := range plain.Items {
		if plain.Items[i].ID != got.Items[i].ID {
			t.Fatalf("a session without usable items changed the answer: %v vs %v", got.Items, plain.Items)
		}
	}
}

// TestSessionMakesVisitorPersonal checks that a visitor with session
// clicks gets a personal answer that leaves the clicks out, ranked by the
// folded-in vector.
func TestSessionMakesVisitorPersonal(t *testing.T) {
	ctx := context.Background()
	d := clusteredData(2000, 12)
	m := newTestModel(t, openFake, d)
	m.fold = testFoldIn(m)
	recent := []string{d.items[100], d.items[200], d.items[300]}
	res, err := m.Recommend(ctx, RecommendRequest{UserID: "visitor-1", N: 20, Recent: recent, Explain: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Fallback {
		t.Fatalf("visitor with a session: Fallback = true, want a personal answer")
	}
	sc := m.getScratch()
	q := append([]float32(nil), m.foldIn(sc, -1, nil, nil, []int32{100, 200, 300})...)
	m.putScratch(sc)
	for _, it := range res.Items {
		if it.Source != SourceFactors {
			t.Errorf("%s from %v, want factors", it.ID, it.Source)
		}
		for _, r := range recent {
			if it.ID == r {
				t.Errorf("session item %s returned", r)
			}
		}
		if len(it.Because) == 0 || len(it.Because) > 3 {
			t.Errorf("%s because %q, want one to three session items", it.ID, it.Because)
		}
	}
	// The answer is the folded vector's exact top 20 without the session.
	want := 0
	sc = m.getScratch()
	sc.blocked = append(sc.blocked, 100, 200, 300)
	m.scan(sc, scanDot, q, nil, 0, 20)
	for k, c := range sc.cands {
		if d.items[c.Index] == res.Items[k].ID {
			want++
		}
	}
	m.putScratch(sc)
	if want != 20 {
		t.Errorf("%d of 20 items match the folded vector's own top 20", want)
	}
}
