package recommender

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/polecam/polecam/recommender/ann"
	"github.com/polecam/polecam/recommender/dot"
	"github.com/polecam/polecam/store"
)

// annFile returns the ANN index file for d's item vectors, built with the
// default options on one worker (so deterministically), in memory aligned
// like a mapping.
func annFile(t testing.TB, d *modelData) []byte {
	t.Helper()
	opts := ann.DefaultOptions()
	opts.Workers = 1
	var buf bytes.Buffer
	if _, err := WriteANNIndex(context.Background(), &buf, packMatrix(d.itemVecs, d.dims()), opts, ANNCalibration{}); err != nil {
		t.Fatalf("WriteANNIndex: %v", err)
	}
	return aligned(buf.Bytes())
}

// withANN adds the ANN index file b to f and returns f.
func withANN(f *fakeSnapshot, b []byte) *fakeSnapshot {
	if f.files == nil {
		f.files = make(map[string][]byte)
	}
	f.files[ANNIndexFile] = b
	return f
}

// annData is the test catalogue of this file: clustered, 20k x 32 (8k
// under the race detector), and
// its index, built once (about a second; longer under the race detector).
// Tests must not modify either.
func annData(t testing.TB) (*modelData, []byte) {
	t.Helper()
	annOnce.Do(func() {
		items := 20_000
		if raceEnabled {
			items = 8_000 // the build is the slow part under the race detector
		}
		annD = clusteredData(items, 32)
		annIdx = annFile(t, annD)
	})
	if annIdx == nil {
		t.Fatal("building the shared test index failed")
	}
	return annD, annIdx
}

var (
	annOnce sync.Once
	annD    *modelData
	annIdx  []byte
)

// TestANNRecall checks that a model with an index finds at least 95 % of
// the exact top 10 (93 % of the top 100) (the Exact request's answer) on clustered
// data, never returns a seen or excluded item, orders its answer by score
// and scores every item exactly as the float scan does.
// It does so with the float walk and with the int8 walk a snapshot with
// int8 item vectors gets.
func TestANNRecall(t *testing.T) {
	d, idx := annData(t)
	for _, walk := range []string{"float", "int8"} {
		t.Run(walk, func(t *testing.T) {
			snap := withANN(newFake("v", d), idx)
			if walk == "int8" {
				snap = withInt8(t, snap)
			}
			testANNRecall(t, d, snap, walk == "int8")
		})
	}
}

func testANNRecall(t *testing.T, d *modelData, snap *fakeSnapshot, int8Walk bool) {
	m, err := NewModel(snap)
	if err != nil {
		t.Fatalf("NewModel: %v", err)
	}
	defer m.Close()
	if !m.UsesANN() {
		t.Fatal("UsesANN() = false with an index file")
	}
	if got := m.ann.UsesInt8(); got != int8Walk {
		t.Fatalf("the index walks with int8 rows: %v, want %v", got, int8Walk)
	}
	users := 200
	if raceEnabled {
		users = 40
	}
	ctx := context.Background()
	for _, n := range []int{10, 100} {
		var found, total int
		for u := range users {
			exclude := []string{d.items[u], d.items[2*u+1]}
			req := RecommendRequest{UserID: d.users[u], N: n, Exclude: exclude}
			got, err := m.Recommend(ctx, req)
			if err != nil {
				t.Fatalf("Recommend(%+v): %v", req, err)
			}
			req.Exact = true
			want, err := m.Recommend(ctx, req)
			if err != nil {
				t.Fatalf("Recommend(%+v): %v", req, err)
			}
			if len(got.Items) != n {
				t.Fatalf("Recommend(%s, n=%d) returned %d items", req.UserID, n, len(got.Items))
			}
			exact := make(map[string]float32, n)
			for _, it := range want.Items {
				exact[it.ID] = it.Score
			}
			blocked := map[string]bool{exclude[0]: true, exclude[1]: true}
			for _, i := range d.seen[int32(u)] {
				blocked[d.items[i]] = true
			}
			for k, it := range got.Items {
				if blocked[it.ID] {
					t.Errorf("Recommend(%s, n=%d) returned seen or excluded item %s", req.UserID, n, it.ID)
				}
				if it.Source != SourceFactors {
					t.Errorf("Recommend(%s, n=%d) item %s has source %v, want factors", req.UserID, n, it.ID, it.Source)
				}
				if k > 0 && it.Score > got.Items[k-1].Score {
					t.Errorf("Recommend(%s, n=%d) not ordered by score at %d: %v after %v", req.UserID, n, k, it.Score, got.Items[k-1].Score)
				}
				if s, ok := exact[it.ID]; ok {
					found++
					if s != it.Score {
						t.Errorf("Recommend(%s, n=%d) scores %s %v, the exact scan %v", req.UserID, n, it.ID, it.Score, s)
					}
				}
			}
			total += n
		}
		recall := float64(found) / float64(total)
		t.Logf("n=%d: recall %.4f over %d users", n, recall, users)
		// The target is recall@10 >= 0.95; top 100 searched at ef 4N has
		// measured 0.957-0.966 here, so it gets a little slack for other
		// kernels' rounding, which changes the graph.
		if want := map[int]float64{10: 0.95, 100: 0.93}[n]; recall < want {
			t.Errorf("n=%d: recall %.4f against the exact scan, want >= %v", n, recall, want)
		}
	}
}

// TestANNExactAndAbsent checks that Exact requests bypass the index, and
// that a snapshot without the file, or a model with ANN off, serves
// exactly as the float scan does.
func TestANNExactAndAbsent(t *testing.T) {
	d, idx := annData(t)
	plainOpts := DefaultModelOptions()
	plainOpts.Int8 = false
	plain, err := NewModelWithOptions(newFake("v", d), plainOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	offOpts := plainOpts
	offOpts.ANN = false
	tests := []struct {
		name    string
		snap    *fakeSnapshot
		opts    ModelOptions
		exact   bool
		wantANN bool
	}{
		{"index, exact request", withANN(newFake("v", d), idx), plainOpts, true, true},
		{"index, int8, exact request", withANN(withInt8(t, newFake("v", d)), idx), DefaultModelOptions(), true, true},
		{"index, ANN off", withANN(newFake("v", d), idx), offOpts, false, false},
		{"no index file", newFake("v", d), plainOpts, false, false},
		{"no index file, int8", withInt8(t, newFake("v", d)), DefaultModelOptions(), false, false},
	}
	ctx := context.Background()
	for _, tt := range tests {
		m, err := NewModelWithOptions(tt.snap, tt.opts)
		if err != nil {
			t.Fatalf("%s: NewModel: %v", tt.name, err)
		}
		if m.UsesANN() != tt.wantANN {
			t.Errorf("%s: UsesANN() = %v, want %v", tt.name, m.UsesANN(), tt.wantANN)
		}
		for u := range 10 {
			for _, n := range []int{1, 10, 200} {
				req := RecommendRequest{UserID: d.users[u], N: n, Exclude: []string{d.items[u]}, Exact: tt.exact}
				got, err := m.Recommend(ctx, req)
				if err != nil {
					t.Fatalf("%s: Recommend: %v", tt.name, err)
				}
				req.Exact = false
				want, err := plain.Recommend(ctx, req)
				if err != nil {
					t.Fatalf("%s: Recommend: %v", tt.name, err)
				}
				want.NextPageToken, got.NextPageToken = "", "" // the requests differ in Exact
				if diff := gocmp.Diff(want, got); diff != "" {
					t.Errorf("%s: Recommend(%s, n=%d) differs from the float scan (-scan +got):\n%s", tt.name, req.UserID, n, diff)
				}
			}
		}
		m.Close()
	}
}

// TestANNFilter checks an approximate answer when a large share of the
// items near the user are blocked, and when IncludeSeen lifts the seen
// items' block.
func TestANNFilter(t *testing.T) {
	d, idx := annData(t)
	m, err := NewModel(withANN(newFake("v", d), idx))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	// Exclude the user's exact top 300: the answer must come from below.
	first, err := m.Recommend(ctx, RecommendRequest{UserID: d.users[3], N: 300, Exact: true})
	if err != nil {
		t.Fatal(err)
	}
	var exclude []string
	for _, it := range first.Items {
		exclude = append(exclude, it.ID)
	}
	got, err := m.Recommend(ctx, RecommendRequest{UserID: d.users[3], N: 10, Exclude: exclude})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Items) != 10 {
		t.Fatalf("Recommend(%s, 300 excluded) returned %d items, want 10", d.users[3], len(got.Items))
	}
	for _, it := range got.Items {
		if slices.Contains(exclude, it.ID) {
			t.Errorf("Recommend(%s, 300 excluded) returned excluded item %s", d.users[3], it.ID)
		}
		if it.Source != SourceFactors {
			t.Errorf("Recommend(%s, 300 excluded) item %s from %v, want factors", d.users[3], it.ID, it.Source)
		}
	}
	// IncludeSeen: the seen items may come back, and the answer is still
	// the exact one's near match.
	req := RecommendRequest{UserID: d.users[4], N: 10, IncludeSeen: true}
	got, err = m.Recommend(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	req.Exact = true
	want, err := m.Recommend(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if n := countShared(got.Items, want.Items); n < 8 {
		t.Errorf("Recommend(%s, IncludeSeen) shares %d of 10 items with the exact answer, want at least 8", req.UserID, n)
	}
}

func countShared(a, b []ScoredItem) int {
	n := 0
	for _, x := range a {
		if slices.ContainsFunc(b, func(y ScoredItem) bool { return y.ID == x.ID }) {
			n++
		}
	}
	return n
}

// TestANNRejectsDamage checks that NewModel refuses a damaged or foreign
// index file rather than serving from it, and that ANN off ignores it.
func TestANNRejectsDamage(t *testing.T) {
	d, idx := annData(t)
	other := clusteredData(1000, 32)
	tests := []struct {
		name string
		b    []byte
	}{
		{"flipped byte", func() []byte { b := aligned(idx); b[len(b)/2] ^= 1; return b }()},
		{"truncated", aligned(idx[:len(idx)-4])},
		{"other catalogue", annFile(t, other)},
	}
	for _, tt := range tests {
		m, err := NewModel(withANN(newFake("v", d), tt.b))
		if err == nil {
			m.Close()
			t.Errorf("%s: NewModel succeeded, want an error", tt.name)
			continue
		}
		if !strings.Contains(err.Error(), ANNIndexFile) || !errors.Is(err, ann.ErrCorrupt) && tt.name != "other catalogue" {
			t.Errorf("%s: NewModel error %q, want it to name %s and wrap ann.ErrCorrupt", tt.name, err, ANNIndexFile)
		}
		opts := DefaultModelOptions()
		opts.ANN = false
		m, err = NewModelWithOptions(withANN(newFake("v", d), tt.b), opts)
		if err != nil {
			t.Errorf("%s: NewModel with ANN off: %v", tt.name, err)
			continue
		}
		m.Close()
	}
}

// TestANNStoreSnapshot checks the index read in place from a real,
// memory-mapped store snapshot.
func TestANNStoreSnapshot(t *testing.T) {
	d := clusteredData(5000, 16)
	s := openStoreWith(t, d, map[string]func(io.Writer) error{
		ANNIndexFile: func(w io.Writer) error {
			_, err := WriteANNIndex(context.Background(), w, packMatrix(d.itemVecs, d.dims()), ann.DefaultOptions(), ANNCalibration{})
			return err
		},
	})
	m, err := NewModel(s)
	if err != nil {
		t.Fatalf("NewModel: %v", err)
	}
	defer m.Close()
	if !m.UsesANN() {
		t.Fatal("UsesANN() = false over a store snapshot with the index file")
	}
	ctx := context.Background()
	found := 0
	for u := range 50 {
		req := RecommendRequest{UserID: d.users[u], N: 10}
		got, err := m.Recommend(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		req.Exact = true
		want, err := m.Recommend(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		found += countShared(got.Items, want.Items)
	}
	if recall := float64(found) / 500; recall < 0.95 {
		t.Errorf("recall %.3f over the store snapshot, want >= 0.95", recall)
	}
}

// TestANNRecommendIntoDoesNotAllocate checks the steady state of an
// approximate request: scratch and search scratch from the pool, result
// into the caller's buffer.
func TestANNRecommendIntoDoesNotAllocate(t *testing.T) {
	t.Logf("scores with dot implementation %s (package dot's tests log its kernels)", dot.Impl())
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	d, idx := annData(t)
	m, err := NewModel(withANN(newFake("v", d), idx))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	dst := make([]ScoredItem, 0, 50)
	exclude := make([]string, 1)
	i := 0
	allocs := testing.AllocsPerRun(200, func() {
		exclude[0] = d.items[i]
		req := RecommendRequest{UserID: d.users[i%len(d.users)], N: 50, Exclude: exclude}
		i++
		if _, err := m.RecommendInto(ctx, req, dst); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("RecommendInto with an ANN index allocates %v times per request, want 0", allocs)
	}
}

// BenchmarkRecommendANN compares, on clustered 100k x 64 vectors with 50
// seen items per user, Recommend answered from the ANN index (walked with
// the int8 rows at the index's default ef and at 256, and with the float
// rows at the default ef) with the exact answers of the int8
// shortlist (ANN off) and of the float scan (Exact), and reports the
// recall@n of each against the float scan.
func BenchmarkRecommendANN(b *testing.B) {
	d := clusteredData(100_000, 64)
	var buf bytes.Buffer
	if _, err := WriteANNIndex(context.Background(), &buf, packMatrix(d.itemVecs, d.dims()), ann.DefaultOptions(), ANNCalibration{}); err != nil {
		b.Fatal(err)
	}
	idx := aligned(buf.Bytes())
	ctx := context.Background()
	for _, n := range []int{10, 100} {
		for _, mode := range []string{"ann", "ann-ef256", "ann-float", "int8", "exact"} {
			b.Run(fmt.Sprintf("items=100000/dims=64/n=%d/%s", n, mode), func(b *testing.B) {
				opts := DefaultModelOptions()
				switch mode {
				case "ann-ef256":
					opts.ANNEf = 256
				case "int8":
					opts.ANN = false
				}
				snap := withANN(newFake("v", d), idx)
				if mode != "ann-float" {
					snap = withInt8(b, snap) // the ANN modes walk with it
				}
				m, err := NewModelWithOptions(snap, opts)
				if err != nil {
					b.Fatal(err)
				}
				defer m.Close()
				exact := mode == "exact"
				var found int
				for u := range 200 {
					req := RecommendRequest{UserID: d.users[u], N: n, Exact: exact}
					got, err := m.Recommend(ctx, req)
					if err != nil {
						b.Fatal(err)
					}
					req.Exact = true
					want, err := m.Recommend(ctx, req)
					if err != nil {
						b.Fatal(err)
					}
					found += countShared(got.Items, want.Items)
				}
				dst := make([]ScoredItem, 0, n)
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					req := RecommendRequest{UserID: d.users[i%benchUsers], N: n, Exact: exact}
					if _, err := m.RecommendInto(ctx, req, dst); err != nil {
						b.Fatal(err)
					}
					i++
				}
				b.ReportMetric(float64(found)/float64(200*n), "recall")
			})
		}
	}
}

// TestWriteANNIndexCalibrates checks that a calibrated index stores the
// search width the calibration chose, and that serving it at that width
// reaches the target recall on the calibration users.
func TestWriteANNIndexCalibrates(t *testing.T) {
	d := clusteredData(3_000, 16)
	opts := ann.DefaultOptions()
	opts.Workers, opts.EfConstruction, opts.EfConstruction0, opts.EfSearch = 1, 40, 0, 1000
	users := CalibrationSample(packMatrix(d.userVecs, d.dims()), 100)
	if users.Rows != 100 {
		t.Fatalf("CalibrationSample(%d users, 100) has %d rows", len(d.userVecs), users.Rows)
	}
	var buf bytes.Buffer
	c, err := WriteANNIndex(context.Background(), &buf, packMatrix(d.itemVecs, d.dims()), opts, ANNCalibration{Queries: users, Target: 0.95})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Reached || c.Recall < 0.95 || c.Queries != 100 || c.Ef >= 1000 {
		t.Fatalf("calibration = %+v, want 0.95 reached over 100 queries below the uncalibrated ef 1000", c)
	}
	ix, err := ann.Load(aligned(buf.Bytes()), packMatrix(d.itemVecs, d.dims()).Data, len(d.itemVecs), d.dims(), d.dims())
	if err != nil {
		t.Fatal(err)
	}
	if ix.EfSearch() != c.Ef {
		t.Errorf("stored EfSearch() = %d, want the calibrated %d", ix.EfSearch(), c.Ef)
	}
	wrong := store.Matrix{Rows: 2, Dims: d.dims() - 1, Stride: d.dims(), Data: make([]float32, 2*d.dims())}
	if _, err := WriteANNIndex(context.Background(), io.Discard, packMatrix(d.itemVecs, d.dims()), opts, ANNCalibration{Queries: wrong, Target: 0.9}); err == nil {
		t.Error("WriteANNIndex with calibration queries of the wrong width = nil error, want one")
	}
}

func TestCalibrationSample(t *testing.T) {
	m := store.Matrix{Rows: 10, Dims: 2, Stride: 3, Data: make([]float32, 30)}
	tests := []struct {
		n        int
		wantRows int
		wantStr  int
	}{
		{0, 0, 3}, {3, 3, 9}, {10, 10, 3}, {20, 10, 3},
	}
	for _, tt := range tests {
		got := CalibrationSample(m, tt.n)
		if got.Rows != tt.wantRows || got.Stride != tt.wantStr || got.Dims != 2 {
			t.Errorf("CalibrationSample(10 rows, %d) = %d rows of stride %d, want %d of %d", tt.n, got.Rows, got.Stride, tt.wantRows, tt.wantStr)
		}
		if got.Rows > 0 && (got.Rows-1)*got.Stride+got.Dims > len(got.Data) {
			t.Errorf("CalibrationSample(10 rows, %d) overruns its data", tt.n)
		}
	}
}

// TestANNFilteredRecall checks that a filter walked through the index
// keeps its recall against the exact filtered answer, and that a
// selective filter is answered exactly.
func TestANNFilteredRecall(t *testing.T) {
	d, idx := annData(t)
	cat := shopItems(len(d.items), 9)
	m, err := NewModel(catalogFake{withANN(newFake("v", d), idx), newFakeCatalog(cat)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	users := 40
	if raceEnabled {
		users = 10
	}
	for _, tt := range []struct {
		name      string
		f         Filter
		directMax int
		minRecall float64
	}{
		{"category through the index", Filter{Categories: []string{"c3"}}, 0, 0.95},
		{"brand through the index", Filter{Attributes: []AttributeCondition{{Name: "brand", Op: OpAnyOf, Values: []string{"b1", "b2"}}}}, 0, 0.95},
		{"sub-category, direct", Filter{Categories: []string{"c3/s1"}}, defaultANNDirectMax, 1},
	} {
		m.annDirectMax = tt.directMax
		hits, total := 0, 0
		for u := range users {
			req := RecommendRequest{UserID: d.users[u], N: 10, Filter: tt.f}
			got, err := m.Recommend(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			req.Exact = true
			want, err := m.Recommend(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range got.Items {
				if !passes(cat[m.mustIndex(t, it.ID)], tt.f) {
					t.Errorf("%s: %s fails the filter", tt.name, it.ID)
				}
			}
			hits += countShared(got.Items, want.Items)
			total += len(want.Items)
		}
		if r := float64(hits) / float64(total); r < tt.minRecall {
			t.Errorf("%s: recall@10 against the exact filtered answer %.3f, want at least %.2f", tt.name, r, tt.minRecall)
		} else {
			t.Logf("%s: recall@10 %.3f", tt.name, r)
		}
	}
}
