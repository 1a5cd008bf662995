package recommender

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/polecam/polecam/store"
	"github.com/polecam/polecam/training"
)

// openItemItemStore writes a four-item snapshot into a fresh data
// directory: user u0 has the factor vector (1, 0) and has seen i0; the
// items' factor scores for u0 are 1, 0.9, 0.5 and 0.1. With params not
// empty it also holds an item-item model B, whose only non-zero row is
// i0's, [0 0 1 2], and params as the ItemItemParams file: the dense
// matrix, or with sparse the rows, i0's holding (i2, 1) and (i3, 2).
func openItemItemStore(t *testing.T, params string, sparse bool) *store.Snapshot {
	t.Helper()
	ctx := context.Background()
	dir, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatalf("OpenDir: %v", err)
	}
	b, err := dir.NewBuilder(ctx)
	if err != nil {
		t.Fatalf("NewBuilder: %v", err)
	}
	defer b.Abort()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("SetItems", b.SetItems([]string{"i0", "i1", "i2", "i3"}))
	must("SetUsers", b.SetUsers([]string{"u0"}))
	must("SetItemFactors", b.SetItemFactors(4, 2, []float32{1, 0, 0.9, 0, 0.5, 0, 0.1, 0}))
	must("SetUserFactors", b.SetUserFactors(1, 2, []float32{1, 0}))
	must("PutSeen", b.PutSeen(0, []int32{0}))
	must("SetPopularity", b.SetPopularity([]float32{4, 3, 2, 1}))
	switch {
	case params != "" && sparse:
		must("PutItemItemRow", b.PutItemItemRow(0, []store.Neighbor{{Item: 2, Score: 1}, {Item: 3, Score: 2}}))
	case params != "":
		must("SetMatrix", b.SetMatrix(ItemItemMatrix, 4, 4, []float32{
			0, 0, 1, 2,
			0, 0, 0, 0,
			0, 0, 0, 0,
			0, 0, 0, 0,
		}))
	}
	if params != "" {
		must("AddFile", b.AddFile(ItemItemParams, func(w io.Writer) error {
			_, err := io.WriteString(w, params)
			return err
		}))
	}
	m, err := b.Commit(ctx, store.Manifest{})
	must("Commit", err)
	s, err := dir.Open(m.Version, store.DefaultOpenOptions())
	must("Open", err)
	return s
}

func TestRecommendItemItemBlend(t *testing.T) {
	// Candidates i1..i3: f = 0.9, 0.5, 0.1 (max 0.9), s = 0, 1, 2 (max 2).
	// Blend 0.5: i1 0.5, i2 0.5·0.5/0.9 + 0.25 = 0.52778, i3 0.5·0.1/0.9 +
	// 0.5 = 0.55556. With i0 a candidate (IncludeSeen) max f = 1: i0 0.5,
	// i1 0.45, i2 0.5, i3 0.55; i0 and i2 tie and go by index. The sparse
	// model holds the same weights and answers the same.
	tests := []struct {
		name        string
		params      string
		includeSeen bool
		want        []string
		wantScores  []float32
	}{
		{"factors only without the matrix", "", false, []string{"i1", "i2", "i3"}, []float32{0.9, 0.5, 0.1}},
		{"blend 1 ranks by factors", `{"blend":1}`, false, []string{"i1", "i2", "i3"}, []float32{1, 0.5 / 0.9, 0.1 / 0.9}},
		{"blend 0.5", `{"blend":0.5}`, false, []string{"i3", "i2", "i1"}, []float32{0.05/0.9 + 0.5, 0.25/0.9 + 0.25, 0.5}},
		{"blend 0.5 with seen items", `{"blend":0.5}`, true, []string{"i3", "i0", "i2", "i1"}, []float32{0.55, 0.5, 0.5, 0.45}},
		{"item-item only", `{"blend":0}`, false, []string{"i3", "i2", "i1"}, []float32{1, 0.5, 0}},
	}
	for _, tt := range tests {
		for _, sparse := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/sparse=%v", tt.name, sparse), func(t *testing.T) {
				m, err := NewModel(openItemItemStore(t, tt.params, sparse))
				if err != nil {
					t.Fatalf("NewModel: %v", err)
				}
				defer m.Close()
				res, err := m.Recommend(context.Background(), RecommendRequest{UserID: "u0", N: len(tt.want), IncludeSeen: tt.includeSeen})
				if err != nil {
					t.Fatalf("Recommend(u0): %v", err)
				}
				var ids []string
				for k, it := range res.Items {
					ids = append(ids, it.ID)
					if it.Source != SourceFactors {
						t.Errorf("Recommend(u0) item %s source %v, want factors", it.ID, it.Source)
					}
					if k < len(tt.wantScores) && math.Abs(float64(it.Score-tt.wantScores[k])) > 1e-6 {
						t.Errorf("Recommend(u0) item %s score %v, want %v", it.ID, it.Score, tt.wantScores[k])
					}
				}
				if !slices.Equal(ids, tt.want) {
					t.Errorf("Recommend(u0) = %v, want %v", ids, tt.want)
				}
				// An unknown user still gets popularity.
				res, err = m.Recommend(context.Background(), RecommendRequest{UserID: "nobody", N: 2})
				if err != nil || !res.Fallback || res.Items[0].ID != "i0" {
					t.Errorf("Recommend(nobody) = %+v, %v; want popularity fallback starting with i0", res, err)
				}
			})
		}
	}
}

func TestItemItemBadParams(t *testing.T) {
	for _, p := range []string{`{"blend":2}`, `{"blend":-0.1}`, `not json`} {
		for _, sparse := range []bool{false, true} {
			s := openItemItemStore(t, p, sparse)
			m, err := NewModel(s)
			if err == nil {
				m.Close()
				t.Errorf("NewModel(params %s, sparse=%v) = nil error, want one", p, sparse)
				continue
			}
			s.Close()
			if !strings.Contains(err.Error(), "item-item model") {
				t.Errorf("NewModel(params %s, sparse=%v) error %q, want it to name the item-item model", p, sparse, err)
			}
		}
	}
}

// blendData returns a seeded random training matrix of nUsers users with
// one to six items each over nItems items (every item used at least
// once), and random factors in which the last two items are cold (zero
// vectors, which serving never ranks by factors).
func blendData(seed uint64, nUsers, nItems, dims int) (*training.Interactions, *training.Factors) {
	r := rand.New(rand.NewPCG(seed, 7))
	tb := training.NewBuilder()
	for i := range nItems {
		tb.Add(fmt.Sprintf("u%d", i%nUsers), fmt.Sprintf("i%d", i), 1)
	}
	for u := range nUsers {
		for range r.IntN(6) {
			tb.Add(fmt.Sprintf("u%d", u), fmt.Sprintf("i%d", r.IntN(nItems)), 1+r.Float32())
		}
	}
	x := tb.Build()
	f := &training.Factors{Dims: dims, User: make([]float32, x.NumUsers()*dims), Item: make([]float32, x.NumItems()*dims)}
	for k := range f.User {
		f.User[k] = r.Float32()*2 - 1
	}
	for k := range f.Item[:(x.NumItems()-2)*dims] {
		f.Item[k] = r.Float32()*2 - 1
	}
	return x, f
}

// randomDense returns an n × n item-item matrix with weights in [-1, 1).
func randomDense(seed uint64, n int) *training.ItemItem {
	r := rand.New(rand.NewPCG(seed, 8))
	ii := &training.ItemItem{N: n, B: make([]float32, n*n)}
	for k := range ii.B {
		ii.B[k] = r.Float32()*2 - 1
	}
	return ii
}

// randomSparse returns an n-item sparse item-item model: each row holds
// up to 8 items (some none) with weights in [-1, 2), negative ones
// included.
func randomSparse(seed uint64, n int) *training.SparseItemItem {
	r := rand.New(rand.NewPCG(seed, 9))
	m := &training.SparseItemItem{N: n, Ptr: make([]int64, n+1)}
	for i := range n {
		for j := range n {
			if r.IntN(n) < 8 && i%5 != 4 {
				m.Items = append(m.Items, int32(j))
				m.Weights = append(m.Weights, r.Float32()*3-1)
			}
		}
		m.Ptr[i+1] = int64(len(m.Items))
	}
	return m
}

// sparseOf returns the dense model as a sparse one holding every weight
// of every row.
func sparseOf(d *training.ItemItem) *training.SparseItemItem {
	m := &training.SparseItemItem{N: d.N, Ptr: make([]int64, d.N+1), Weights: slices.Clone(d.B)}
	for i := range d.N {
		for j := range d.N {
			m.Items = append(m.Items, int32(j))
		}
		m.Ptr[i+1] = int64(len(m.Items))
	}
	return m
}

// openBlendStore writes x, f and the item-item models iis (dense or
// sparse; usually one) with blend w into a fresh store, the way the
// pipeline writes a trained version, and opens it.
func openBlendStore(t *testing.T, x *training.Interactions, f *training.Factors, w float32, iis ...training.ItemScorer) *store.Snapshot {
	t.Helper()
	ctx := context.Background()
	dir, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatalf("OpenDir: %v", err)
	}
	b, err := dir.NewBuilder(ctx)
	if err != nil {
		t.Fatalf("NewBuilder: %v", err)
	}
	defer b.Abort()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("SetItems", b.SetItems(x.Items))
	must("SetUsers", b.SetUsers(x.Users))
	must("SetItemFactors", b.SetItemFactors(x.NumItems(), f.Dims, f.Item))
	must("SetUserFactors", b.SetUserFactors(x.NumUsers(), f.Dims, f.User))
	for u := range int32(x.NumUsers()) {
		seen, _ := x.UserRow(u)
		must("PutSeen", b.PutSeen(u, seen))
	}
	must("SetPopularity", b.SetPopularity(training.Popularity(x)))
	for _, ii := range iis {
		switch ii := ii.(type) {
		case *training.ItemItem:
			must("SetMatrix", b.SetMatrix(ItemItemMatrix, ii.N, ii.N, ii.B))
		case *training.SparseItemItem:
			var row []store.Neighbor
			for i := range int32(ii.N) {
				items, weights := ii.Row(i)
				row = row[:0]
				for k, j := range items {
					row = append(row, store.Neighbor{Item: j, Score: weights[k]})
				}
				if len(row) > 0 {
					must("PutItemItemRow", b.PutItemItemRow(i, row))
				}
			}
		default:
			t.Fatalf("openBlendStore: %T", ii)
		}
	}
	if len(iis) > 0 {
		must("AddFile", b.AddFile(ItemItemParams, func(wr io.Writer) error {
			_, err := fmt.Fprintf(wr, `{"blend":%v}`, w)
			return err
		}))
	}
	m, err := b.Commit(ctx, store.Manifest{})
	must("Commit", err)
	s, err := dir.Open(m.Version, store.DefaultOpenOptions())
	must("Open", err)
	return s
}

// TestItemItemRecommendMatchesBlendScorer checks that Recommend over a
// real store snapshot ranks every user as training.BlendScorer does with
// the same model, dense or sparse: the offline metrics (and the tuner's
// blend) measure what is served. Scores agree to 1e-5 (the factor scores
// are summed in another order); items may swap only where their scores
// are that close.
func TestItemItemRecommendMatchesBlendScorer(t *testing.T) {
	const nUsers, nItems, dims, tol = 25, 40, 6, 1e-5
	x, f := blendData(1, nUsers, nItems, dims)
	for _, tt := range []struct {
		name string
		ii   training.ItemScorer
	}{
		{"dense", randomDense(2, nItems)},
		{"sparse", randomSparse(3, nItems)},
	} {
		for _, w := range []float32{0, 0.3, 0.8} {
			t.Run(fmt.Sprintf("%s/blend=%v", tt.name, w), func(t *testing.T) {
				m, err := NewModel(openBlendStore(t, x, f, w, tt.ii))
				if err != nil {
					t.Fatalf("NewModel: %v", err)
				}
				defer m.Close()
				score := training.BlendScorer(x, f, tt.ii, w)
				want := make([]float32, nItems)
				for u := range int32(nUsers) {
					score(u, want)
					var order []int32
					for i, v := range want {
						if !math.IsInf(float64(v), -1) {
							order = append(order, int32(i))
						}
					}
					slices.SortStableFunc(order, func(a, b int32) int { return -cmpFloat(want[a], want[b]) })
					res, err := m.Recommend(context.Background(), RecommendRequest{UserID: x.Users[u], N: len(order)})
					if err != nil {
						t.Fatalf("Recommend(%s): %v", x.Users[u], err)
					}
					if len(res.Items) != len(order) || res.Fallback {
						t.Fatalf("Recommend(%s) = %d items (fallback %v), want %d blended", x.Users[u], len(res.Items), res.Fallback, len(order))
					}
					for k, it := range res.Items {
						i, _ := x.ItemIndex(it.ID)
						if d := math.Abs(float64(it.Score - want[i])); d > tol {
							t.Errorf("Recommend(%s) item %s score %v, BlendScorer %v", x.Users[u], it.ID, it.Score, want[i])
						}
						if j := order[k]; i != j && math.Abs(float64(want[i]-want[j])) > tol {
							t.Errorf("Recommend(%s) item %d = %s (%v), BlendScorer ranks %s (%v) there", x.Users[u], k, it.ID, want[i], x.Items[j], want[j])
						}
					}
				}
			})
		}
	}
}

func cmpFloat(a, b float32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestSparseFullRowsServeLikeDense: a sparse model holding every weight
// of the dense model's rows gives the dense model's answers bit for bit,
// for Recommend (with and without session items) and Rank.
func TestSparseFullRowsServeLikeDense(t *testing.T) {
	const nUsers, nItems, dims = 20, 30, 5
	x, f := blendData(4, nUsers, nItems, dims)
	dense := randomDense(5, nItems)
	md, err := NewModel(openBlendStore(t, x, f, 0.4, dense))
	if err != nil {
		t.Fatalf("NewModel(dense): %v", err)
	}
	defer md.Close()
	ms, err := NewModel(openBlendStore(t, x, f, 0.4, sparseOf(dense)))
	if err != nil {
		t.Fatalf("NewModel(sparse): %v", err)
	}
	defer ms.Close()
	ctx := context.Background()
	for u := range nUsers {
		user := x.Users[u]
		for _, recent := range [][]string{nil, {x.Items[u%nItems], x.Items[(3*u+1)%nItems]}} {
			req := RecommendRequest{UserID: user, N: 12, Recent: recent}
			want, err1 := md.Recommend(ctx, req)
			got, err2 := ms.Recommend(ctx, req)
			if err1 != nil || err2 != nil {
				t.Fatalf("Recommend(%s, recent %v): dense %v, sparse %v", user, recent, err1, err2)
			}
			if diff := gocmp.Diff(want.Items, got.Items); diff != "" {
				t.Errorf("Recommend(%s, recent %v): sparse differs from dense (-dense +sparse):\n%s", user, recent, diff)
			}
		}
		req := RankRequest{UserID: user, Candidates: x.Items[:nItems-u%3]}
		want, err1 := md.Rank(ctx, req)
		got, err2 := ms.Rank(ctx, req)
		if err1 != nil || err2 != nil {
			t.Fatalf("Rank(%s): dense %v, sparse %v", user, err1, err2)
		}
		if diff := gocmp.Diff(want.Items, got.Items); diff != "" {
			t.Errorf("Rank(%s): sparse differs from dense (-dense +sparse):\n%s", user, diff)
		}
	}
}

// TestItemItemBothModelsRefused: a snapshot holding a dense and a sparse
// model is refused rather than one of them picked.
func TestItemItemBothModelsRefused(t *testing.T) {
	x, f := blendData(6, 5, 10, 3)
	dense := randomDense(7, 10)
	s := openBlendStore(t, x, f, 0.5, dense, sparseOf(dense))
	m, err := NewModel(s)
	if err == nil {
		m.Close()
		t.Fatal("NewModel(dense and sparse item-item models) = nil error, want one")
	}
	s.Close()
	if !strings.Contains(err.Error(), "both "+ItemItemMatrix+" and "+store.ItemItemRowsFile) {
		t.Errorf("NewModel(dense and sparse) error %q, want it to name both files", err)
	}
}

// internedIDs is a store snapshot whose ItemID returns the ids held in
// memory, so that counting a request's allocations counts the model's and
// not the id table's (which copies each id out of the mapping).
type internedIDs struct {
	*store.Snapshot
	ids []string
}

func (s internedIDs) ItemID(i int32) (string, error) { return s.ids[i], nil }

// TestItemItemRecommendIntoDoesNotAllocate checks the steady state of a
// blended request over a real store snapshot, dense and sparse: the
// item-item scores go into the pooled buffer and sparse rows are read in
// place.
func TestItemItemRecommendIntoDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	const nUsers, nItems = 20, 60
	x, f := blendData(8, nUsers, nItems, 8)
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		ii   training.ItemScorer
	}{
		{"dense", randomDense(9, nItems)},
		{"sparse", randomSparse(10, nItems)},
	} {
		m, err := NewModel(internedIDs{openBlendStore(t, x, f, 0.5, tt.ii), x.Items})
		if err != nil {
			t.Fatalf("%s: NewModel: %v", tt.name, err)
		}
		if m.ii == nil || (m.ii.rows != nil) != (tt.name == "sparse") {
			t.Fatalf("%s: the model did not load the %s item-item model", tt.name, tt.name)
		}
		dst := make([]ScoredItem, 0, 20)
		exclude := make([]string, 1)
		i := 0
		allocs := testing.AllocsPerRun(200, func() {
			exclude[0] = x.Items[i%nItems]
			req := RecommendRequest{UserID: x.Users[i%nUsers], N: 20, Exclude: exclude}
			i++
			if _, err := m.RecommendInto(ctx, req, dst); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: RecommendInto allocates %v times per request, want 0", tt.name, allocs)
		}
		m.Close()
	}
}
