package ann

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/polecam/polecam/recommender/dot"
)

// quantised returns the rows of data (stride dims) quantised as a
// snapshot's int8 item file holds them: Int8Width(dims) bytes per row and
// one scale per row.
func quantised(data []float32, rows, dims int) ([]int8, []float32) {
	w := dot.Int8Width(dims)
	r := make([]int8, rows*w)
	sc := make([]float32, rows)
	dot.QuantizeRows(r, w, sc, data, dims, dims)
	return r, sc
}

// int8Fixture is fixture() walked with int8 rows.
func int8Fixture(t testing.TB, rerank int) (*Index, []float32) {
	t.Helper()
	ix, data := fixture()
	r8, sc := quantised(data, ix.Rows(), ix.Dims())
	x, err := ix.WithInt8(r8, dot.Int8Width(ix.Dims()), sc, rerank)
	if err != nil {
		t.Fatalf("WithInt8: %v", err)
	}
	return x, data
}

func TestInt8Recall(t *testing.T) {
	t.Logf("scores with dot implementation %s (package dot's tests log its kernels)", dot.Impl())
	ix, data := fixture()
	x8, _ := int8Fixture(t, 0)
	if !x8.UsesInt8() || ix.UsesInt8() {
		t.Fatalf("UsesInt8 = %v for the int8 index and %v for the float one, want true and false", x8.UsesInt8(), ix.UsesInt8())
	}
	qs := queries(2, 200, ix.Dims())
	filter := func(i int32) bool { return i%3 != 0 }
	for _, tc := range []struct {
		name   string
		ef     int
		filter Filter
	}{
		{"default ef", 0, nil},
		{"ef 64", 64, nil},
		{"ef 128, a third filtered out", 128, filter},
	} {
		rf := meanRecall(ix, data, qs, 10, tc.ef, tc.filter)
		r8 := meanRecall(x8, data, qs, 10, tc.ef, tc.filter)
		t.Logf("%s: recall@10 float walk %.4f, int8 walk %.4f", tc.name, rf, r8)
		// Re-ranking the best n+DefaultReRank of the beam with float rows
		// recovers the float walk's answer up to a few near-ties.
		if r8 < rf-0.01 {
			t.Errorf("%s: int8-walk recall@10 %.4f, want within 0.01 of the float walk's %.4f", tc.name, r8, rf)
		}
	}
	if r := meanRecall(x8, data, qs, 10, 0, nil); r < 0.95 {
		t.Errorf("int8-walk recall@10 at the default ef = %.4f, want >= 0.95", r)
	}
}

// TestInt8ScoresExact checks that the int8 walk returns float inner
// products bit-identical to dot.Scores over all the float rows, best
// first, ties by row, also for the last rows of a matrix whose row count
// is not a multiple of four (which a scan scores one by one).
func TestInt8ScoresExact(t *testing.T) {
	big, bigData := int8Fixture(t, 0)
	const rows, dims = 1003, 32
	data := clustered(6, rows, dims)
	ix, err := Build(context.Background(), data, rows, dims, dims, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	r8, sc := quantised(data, rows, dims)
	small, err := ix.WithInt8(r8, dot.Int8Width(dims), sc, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		x    *Index
		data []float32
		n    int
	}{{big, bigData, 30}, {small, data, 30}, {small, data, rows}} {
		d := tc.x.Dims()
		all := make([]float32, tc.x.Rows())
		for _, q := range queries(3, 20, d) {
			dot.Scores(all, tc.data, d, q)
			got := tc.x.Search(q, tc.n, 0, nil, nil, nil)
			if len(got) != tc.n {
				t.Fatalf("%d rows: Search(n=%d) returned %d results", tc.x.Rows(), tc.n, len(got))
			}
			for i, r := range got {
				if math.Float32bits(r.Score) != math.Float32bits(all[r.Item]) {
					t.Errorf("%d rows: result %d: item %d score %v, dot.Scores gives %v", tc.x.Rows(), i, r.Item, r.Score, all[r.Item])
				}
				if i > 0 && (r.Score > got[i-1].Score || r.Score == got[i-1].Score && r.Item < got[i-1].Item) {
					t.Errorf("%d rows: result %d (%d, %v) is out of order after (%d, %v)", tc.x.Rows(), i, r.Item, r.Score, got[i-1].Item, got[i-1].Score)
				}
			}
		}
	}
}

// TestInt8ReRankDepth checks that a deeper re-ranking never loses an item
// a shallower one finds on this data, and that n above rerank still
// returns n items.
func TestInt8ReRankDepth(t *testing.T) {
	_, data := fixture()
	qs := queries(5, 100, 32)
	var prev float64
	for _, rr := range []int{10, 40, MaxEf} {
		x8, _ := int8Fixture(t, rr)
		r := meanRecall(x8, data, qs, 10, 128, nil)
		t.Logf("rerank %d: recall@10 %.4f", rr, r)
		if r < prev-0.005 {
			t.Errorf("rerank %d: recall@10 %.4f, below the shallower re-ranking's %.4f", rr, r, prev)
		}
		prev = r
	}
	x8, _ := int8Fixture(t, 10)
	if got := x8.Search(qs[0], 50, 64, nil, nil, nil); len(got) != 50 {
		t.Errorf("Search(n=50) with rerank 10 returned %d results, want 50", len(got))
	}
}

func TestInt8SearchDoesNotAllocate(t *testing.T) {
	x8, _ := int8Fixture(t, 0)
	qs := queries(10, 16, x8.Dims())
	s := NewScratch(x8)
	dst := make([]Result, 0, 10)
	filter := func(i int32) bool { return i%2 == 1 }
	i := 0
	allocs := testing.AllocsPerRun(50, func() {
		dst = x8.Search(qs[i%len(qs)], 10, 0, filter, dst, s)
		i++
	})
	if allocs != 0 {
		t.Errorf("int8 Search with a reused Scratch allocates %v times per call, want 0", allocs)
	}
}

func TestWithInt8Rejects(t *testing.T) {
	ix, data := fixture()
	n, w := ix.Rows(), dot.Int8Width(ix.Dims())
	r8, sc := quantised(data, n, ix.Dims())
	for _, tc := range []struct {
		name   string
		rows   []int8
		stride int
		scales []float32
		want   string
	}{
		{"narrow stride", r8, w - 1, sc, "stride"},
		{"few scales", r8, w, sc[:n-1], "scales"},
		{"short rows", r8[:len(r8)-1], w, sc, "too few"},
	} {
		_, err := ix.WithInt8(tc.rows, tc.stride, tc.scales, 0)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: WithInt8 error = %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
}
