package recommender

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/polecam/polecam/recommender/dot"
)

// tiedData returns a model whose factors are small integers, so every
// score is an exact integer whatever the summation order and many items
// tie: a ranking must break them by catalogue position. Every 97th item
// has no factor vector.
func tiedData(items, dims int, seed uint64) *modelData {
	rng := rand.New(rand.NewPCG(seed, uint64(items)))
	d := &modelData{
		items:    make([]string, items),
		itemVecs: make([][]float32, items),
		users:    make([]string, 20),
		userVecs: make([][]float32, 20),
		seen:     make(map[int32][]int32),
		pop:      make([]float32, items),
	}
	vec := func() []float32 {
		v := make([]float32, dims)
		for j := range v {
			v[j] = float32(rng.IntN(3) - 1)
		}
		return v
	}
	for i := range items {
		d.items[i] = fmt.Sprintf("i%d", i)
		d.itemVecs[i] = vec()
		if i%97 == 5 {
			clear(d.itemVecs[i])
		}
		d.pop[i] = float32(i % 7)
	}
	for u := range d.users {
		d.users[u] = fmt.Sprintf("u%d", u)
		d.userVecs[u] = vec()
		for range 30 {
			d.seen[int32(u)] = append(d.seen[int32(u)], int32(rng.IntN(items)))
		}
	}
	return d
}

// equalData returns a model in which every item has the same vector.
func equalData(items, dims int) *modelData {
	d := tiedData(items, dims, 4)
	for _, v := range d.itemVecs {
		for j := range v {
			v[j] = 1
		}
	}
	return d
}

// bruteTop ranks the items of d for user u by an exact float64 inner
// product, best first and ties by index, leaving out u's seen items, the
// items without a vector and the excluded indices, and returns the first n.
func bruteTop(d *modelData, u int, n int, exclude ...int32) []ScoredItem {
	skip := make(map[int32]bool)
	for _, i := range d.seen[int32(u)] {
		skip[i] = true
	}
	for _, i := range exclude {
		skip[i] = true
	}
	type scored struct {
		i int
		s float64
	}
	var all []scored
	for i, v := range d.itemVecs {
		if skip[int32(i)] || isZero(v) {
			continue
		}
		var s float64
		for j, x := range v {
			s += float64(x) * float64(d.userVecs[u][j])
		}
		all = append(all, scored{i, s})
	}
	slices.SortFunc(all, func(a, b scored) int {
		if c := cmp.Compare(b.s, a.s); c != 0 {
			return c
		}
		return cmp.Compare(a.i, b.i)
	})
	var out []ScoredItem
	for _, c := range all[:min(n, len(all))] {
		out = append(out, ScoredItem{ID: d.items[c.i], Score: float32(c.s), Source: SourceFactors})
	}
	return out
}

// TestScanSplitsMatchReference checks that the top N is the same however
// the scan is split, on catalogues around the chunk size, with ties.
func TestScanSplitsMatchReference(t *testing.T) {
	ctx := context.Background()
	sizes := []int{7, chunkRows - 1, chunkRows + 1, 3*chunkRows + 5}
	ns := []int{1, 10, 100}
	for _, items := range sizes {
		d := tiedData(items, 9, 1)
		users := 6
		if raceEnabled {
			users = 2
		}
		d.users, d.userVecs = d.users[:users], d.userVecs[:users]
		exclude := []string{d.items[items/2], d.items[items-1]}
		files := withInt8(t, newFake("v", d)).files
		want := make(map[[2]int][]ScoredItem)
		for u := range d.users {
			for _, n := range ns {
				want[[2]int{u, n}] = bruteTop(d, u, n, int32(items/2), int32(items-1))
			}
		}
		for _, workers := range []int{1, 2, 3} {
			for _, int8 := range []bool{false, true} {
				name := fmt.Sprintf("items=%d/workers=%d/int8=%v", items, workers, int8)
				opts := DefaultModelOptions()
				opts.ParallelMinItems, opts.Int8ParallelMinItems, opts.Workers, opts.Int8 = 1, 1, workers, int8
				f := newFake("v", d)
				f.files = files
				m, err := NewModelWithOptions(f, opts)
				if err != nil {
					t.Fatalf("%s: NewModelWithOptions: %v", name, err)
				}
				if want := min(workers, (items+chunkRows-1)/chunkRows); m.ScanWorkers() != want {
					t.Errorf("%s: ScanWorkers() = %d, want %d", name, m.ScanWorkers(), want)
				}
				for u := range d.users {
					for _, n := range ns {
						got, err := m.Recommend(ctx, RecommendRequest{UserID: d.users[u], N: n, Exclude: exclude})
						if err != nil {
							t.Fatalf("%s: Recommend(%s): %v", name, d.users[u], err)
						}
						want := want[[2]int{u, n}]
						if len(want) < n {
							continue // popularity fill, checked elsewhere
						}
						if diff := gocmp.Diff(want, got.Items); diff != "" {
							t.Errorf("%s: Recommend(%s, n=%d) mismatch (-want +got):\n%s", name, d.users[u], n, diff)
						}
					}
				}
				if err := m.Close(); err != nil {
					t.Errorf("%s: Close: %v", name, err)
				}
			}
		}
	}
}

// TestScanLaneAssignments hands the chunks of one scan to the lanes in
// fixed patterns, as idle and busy workers would, and checks every
// pattern merges to the single-lane answer.
func TestScanLaneAssignments(t *testing.T) {
	const items = 5*chunkRows + 3
	d := tiedData(items, 5, 2)
	opts := DefaultModelOptions()
	opts.Workers = 1
	m, err := NewModelWithOptions(newFake("v", d), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	nchunks := (items + chunkRows - 1) / chunkRows
	patterns := map[string]func(c int) int{
		"all on lane 0":   func(int) int { return 0 },
		"all on lane 2":   func(int) int { return 2 },
		"alternate":       func(c int) int { return c % 2 },
		"round robin":     func(c int) int { return c % 3 },
		"first on lane 1": func(c int) int { return min(c, 1) },
	}
	for name, lane := range patterns {
		for _, k := range []int{1, 7, 300} {
			j := &scanJob{m: m, mode: scanDot, q: d.userVecs[3], blocked: []int32{0, 4, chunkRows, items - 1}, k: k, lanes: newLanes(3)}
			for i := range j.lanes {
				j.lanes[i].top.reset(k)
			}
			for c := range nchunks {
				lo := c * chunkRows
				j.scanRange(&j.lanes[lane(c)], lo, min(lo+chunkRows, items))
			}
			for i := 1; i < len(j.lanes); i++ {
				j.lanes[0].top.merge(&j.lanes[i].top)
			}
			got := j.lanes[0].top.appendSorted(nil)

			ref := &scanJob{m: m, mode: scanDot, q: d.userVecs[3], blocked: j.blocked, k: k, lanes: newLanes(1), nchunks: nchunks}
			ref.lanes[0].top.reset(k)
			ref.run(&ref.lanes[0])
			want := ref.lanes[0].top.appendSorted(nil)
			if diff := gocmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("%s, k=%d: merged lanes differ from one lane (-want +got):\n%s", name, k, diff)
			}
		}
	}
}

// TestRescoreExactMatchesScan checks that rescoring reproduces the scan's
// float scores bit for bit, for rows inside four-row groups and in the
// tail, which the vector kernels sum differently.
func TestRescoreExactMatchesScan(t *testing.T) {
	for _, items := range []int{1, 3, 4, 2*scanBlock + 7, chunkRows + 2} {
		d := randomData(items, 37)
		m, err := NewModelWithOptions(newFake("v", d), DefaultModelOptions())
		if err != nil {
			t.Fatal(err)
		}
		sc := m.getScratch()
		q := d.userVecs[0]
		m.scan(sc, scanDot, q, nil, 0, items)
		want := slices.Clone(sc.cands)
		got := slices.Clone(want)
		m.rescoreExact(got, q, &sc.row4)
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("items=%d: rescored row %d = %v, scan scored %v", items, want[i].Index, got[i].Score, want[i].Score)
			}
		}
		m.putScratch(sc)
		m.Close()
	}
}

// TestExactRequestWithInt8 checks that Exact answers with the brute-force
// top N when the model shortlists with int8 vectors, and that on clustered
// data it does so through the proved shortlist, without a float scan.
func TestExactRequestWithInt8(t *testing.T) {
	d := clusteredData(20_000, 16)
	m, err := NewModel(withInt8(t, newFake("v", d)))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !m.UsesInt8() {
		t.Fatal("UsesInt8() = false with an int8 items file")
	}
	ctx := context.Background()
	for u := range 5 {
		req := RecommendRequest{UserID: d.users[u], N: 10, Exact: true}
		got, err := m.Recommend(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if want := bruteTop(d, u, 10); !sameIDs(got.Items, want) {
			t.Errorf("Recommend(%+v) = %v, want %v", req, got.Items, want)
		}
	}
	if f := m.Int8Fallbacks(); f != 0 {
		t.Errorf("Int8Fallbacks() = %d after 5 exact requests on clustered data, want 0", f)
	}
}

func sameIDs(a, b []ScoredItem) bool {
	return slices.EqualFunc(a, b, func(x, y ScoredItem) bool { return x.ID == y.ID })
}

// TestInt8MatchesExact checks identical top N — ids, order and scores —
// from the int8 shortlist (with and without Exact) and from the float scan
// of a model without int8 vectors, on the benchmark's clustered data and
// on data full of ties.
func TestInt8MatchesExact(t *testing.T) {
	t.Logf("scores with dot implementation %s (package dot's tests log its kernels)", dot.Impl())
	tests := []struct {
		name    string
		d       *modelData
		queries int
	}{
		{"clustered 100k x 64", clusteredData(100_000, 64), 300},
		{"clustered 20k x 32", clusteredData(20_000, 32), 300},
		{"integer ties 30k x 9", tiedData(30_000, 9, 3), 20},
		// Every score ties: no shortlist can be proved, every request
		// falls back to the float scan.
		{"all equal 5k x 8", equalData(5_000, 8), 10},
	}
	if raceEnabled {
		// Quantising and scanning 100k items under the race detector
		// takes seconds; the plain test run covers it.
		tests = tests[1:]
		tests[0].queries, tests[1].queries, tests[2].queries = 40, 10, 5
	}
	ctx := context.Background()
	for _, tt := range tests {
		m, err := NewModel(withInt8(t, newFake("v", tt.d)))
		if err != nil {
			t.Fatalf("%s: NewModel: %v", tt.name, err)
		}
		floatOpts := DefaultModelOptions()
		floatOpts.Int8 = false
		mf, err := NewModelWithOptions(newFake("v", tt.d), floatOpts)
		if err != nil {
			t.Fatalf("%s: NewModel without int8: %v", tt.name, err)
		}
		if mf.UsesInt8() {
			t.Fatalf("%s: UsesInt8() = true with ModelOptions.Int8 unset", tt.name)
		}
		var got, gotExact, want []ScoredItem
		requests := 0
		for i := range tt.queries {
			for _, n := range []int{10, 100} {
				req := RecommendRequest{UserID: tt.d.users[i%len(tt.d.users)], N: n, Exclude: []string{tt.d.items[i]}}
				res, err := m.RecommendInto(ctx, req, got)
				if err != nil {
					t.Fatalf("%s: Recommend: %v", tt.name, err)
				}
				got = res.Items
				if res, err = mf.RecommendInto(ctx, req, want); err != nil {
					t.Fatalf("%s: float Recommend: %v", tt.name, err)
				}
				want = res.Items
				req.Exact = true
				if res, err = m.RecommendInto(ctx, req, gotExact); err != nil {
					t.Fatalf("%s: exact Recommend: %v", tt.name, err)
				}
				gotExact = res.Items
				requests += 2
				if diff := gocmp.Diff(want, got); diff != "" {
					t.Fatalf("%s: Recommend(%s, n=%d) int8 differs from the float scan (-float +int8):\n%s", tt.name, req.UserID, n, diff)
				}
				if diff := gocmp.Diff(want, gotExact); diff != "" {
					t.Fatalf("%s: exact Recommend(%s, n=%d) differs from the float scan (-float +exact):\n%s", tt.name, req.UserID, n, diff)
				}
			}
		}
		t.Logf("%s: %d of %d requests fell back to the float scan", tt.name, m.Int8Fallbacks(), requests)
		switch all := m.Int8Fallbacks() == uint64(requests); {
		case strings.HasPrefix(tt.name, "all equal") && !all:
			t.Errorf("%s: %d of %d requests fell back to the float scan, want all", tt.name, m.Int8Fallbacks(), requests)
		case strings.HasPrefix(tt.name, "clustered") && all:
			t.Errorf("%s: every request fell back to the float scan: the shortlist never proved itself", tt.name)
		}
		m.Close()
		mf.Close()
	}
}

// TestRecommendIntoDoesNotAllocate checks the steady state of a request:
// scratch from the pool, scans split across workers or not, int8 or
// float, result into the caller's buffer.
func TestRecommendIntoDoesNotAllocate(t *testing.T) {
	t.Logf("scores with dot implementation %s (package dot's tests log its kernels)", dot.Impl())
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	d := clusteredData(3*chunkRows, 16)
	ctx := context.Background()
	for _, workers := range []int{1, 2} {
		for _, int8 := range []bool{false, true} {
			opts := DefaultModelOptions()
			opts.ParallelMinItems, opts.Int8ParallelMinItems, opts.Workers, opts.Int8 = 1, 1, workers, int8
			m, err := NewModelWithOptions(withInt8(t, newFake("v", d)), opts)
			if err != nil {
				t.Fatal(err)
			}
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
				t.Errorf("workers=%d int8=%v: RecommendInto allocates %v times per request, want 0", workers, int8, allocs)
			}
			m.Close()
		}
	}
}

// TestInt8EverythingExcluded checks the int8 path when no item is left to
// rank: the shortlist is empty and so is the answer.
func TestInt8EverythingExcluded(t *testing.T) {
	d := clusteredData(200, 8)
	m, err := NewModel(withInt8(t, newFake("v", d)))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, exact := range []bool{false, true} {
		req := RecommendRequest{UserID: d.users[0], N: 1, Exclude: d.items, Exact: exact}
		got, err := m.Recommend(context.Background(), req)
		if err != nil || len(got.Items) != 0 {
			t.Errorf("Recommend(exact=%v, everything excluded) = %v, %v, want no items", exact, got.Items, err)
		}
	}
}

// TestSplitThresholds checks which scans a Model splits: float scans from
// ParallelMinItems items on, int8 scans from Int8ParallelMinItems on, and
// no pool when neither applies.
func TestSplitThresholds(t *testing.T) {
	const items = 3 * chunkRows
	d := clusteredData(items, 16)
	tests := []struct {
		name                string
		floatMin, int8Min   int
		int8                bool
		wantWorkers         int
		wantFloat, wantInt8 bool
	}{
		{"both split", 1, 1, true, 2, true, true},
		{"float only", 1, items + 1, true, 2, true, false},
		{"int8 only", items + 1, items, true, 2, false, true},
		{"neither", items + 1, items + 1, true, 1, false, false},
		{"no int8 vectors", items + 1, 1, false, 1, false, false},
	}
	for _, tt := range tests {
		opts := DefaultModelOptions()
		opts.ParallelMinItems, opts.Int8ParallelMinItems, opts.Workers, opts.Int8 = tt.floatMin, tt.int8Min, 2, tt.int8
		m, err := NewModelWithOptions(withInt8(t, newFake("v", d)), opts)
		if err != nil {
			t.Fatalf("%s: NewModelWithOptions: %v", tt.name, err)
		}
		if m.ScanWorkers() != tt.wantWorkers || m.splitFloat != tt.wantFloat || m.splitInt8 != tt.wantInt8 {
			t.Errorf("%s: workers, split float, split int8 = %d, %v, %v, want %d, %v, %v",
				tt.name, m.ScanWorkers(), m.splitFloat, m.splitInt8, tt.wantWorkers, tt.wantFloat, tt.wantInt8)
		}
		m.Close()
	}
}
