package ann

import (
	"bytes"
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/polecam/polecam/recommender/dot"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testSize returns the catalogue size for recall tests: 20k rows, or 5k
// under -short or the race detector (which makes the build ~10x slower).
func testSize() int {
	if testing.Short() || raceEnabled {
		return 5000
	}
	return 20000
}

// fixture is one index shared by the tests that only search it.
var fixture = sync.OnceValues(func() (*Index, []float32) {
	rows, dims := testSize(), 32
	data := clustered(1, rows, dims)
	ix, err := Build(context.Background(), data, rows, dims, dims, DefaultOptions())
	if err != nil {
		panic(err)
	}
	return ix, data
})

func TestRecall(t *testing.T) {
	t.Logf("scores with dot implementation %s (package dot's tests log its kernels)", dot.Impl())
	ix, data := fixture()
	qs := queries(2, 200, ix.Dims())
	for _, ef := range []int{16, 32, 64, 128} {
		t.Logf("ef %d recall@10 %.4f", ef, meanRecall(ix, data, qs, 10, ef, nil))
	}
	if r := meanRecall(ix, data, qs, 10, 0, nil); r < 0.95 {
		t.Errorf("recall@10 at the default ef %d = %.4f, want >= 0.95", ix.EfSearch(), r)
	}
}

func TestSearchOrderAndScores(t *testing.T) {
	ix, data := fixture()
	q := queries(3, 1, ix.Dims())[0]
	got := ix.Search(q, 20, 0, nil, nil, nil)
	if len(got) != 20 {
		t.Fatalf("Search(n=20) returned %d results", len(got))
	}
	for i, r := range got {
		want := exact(data[int(r.Item)*ix.stride:], 1, ix.dims, ix.stride, q, 1, nil)[0].Score
		if math.Abs(float64(r.Score-want)) > 1e-4*math.Max(1, math.Abs(float64(want))) {
			t.Errorf("result %d: item %d score %v, want its inner product %v", i, r.Item, r.Score, want)
		}
		if i > 0 && r.Score > got[i-1].Score {
			t.Errorf("result %d score %v is above result %d's %v", i, r.Score, i-1, got[i-1].Score)
		}
	}
}

func TestFilter(t *testing.T) {
	ix, data := fixture()
	qs := queries(4, 100, ix.Dims())
	tests := []struct {
		name      string
		filter    Filter
		minRecall float64
	}{
		{"half", func(i int32) bool { return i%2 == 0 }, 0.95},
		{"one in ten", func(i int32) bool { return i%10 == 3 }, 0.9},
		{"one in a hundred", func(i int32) bool { return i%100 == 7 }, 0.9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dst []Result
			s := NewScratch(ix)
			for _, q := range qs {
				dst = ix.Search(q, 10, 0, tt.filter, dst, s)
				if len(dst) != 10 {
					t.Fatalf("Search returned %d results, want 10", len(dst))
				}
				for _, r := range dst {
					if !tt.filter(r.Item) {
						t.Fatalf("Search returned item %d, which the filter rejects", r.Item)
					}
				}
			}
			r := meanRecall(ix, data, qs, 10, 0, tt.filter)
			t.Logf("recall@10 %.4f", r)
			if r < tt.minRecall {
				t.Errorf("recall@10 = %.4f, want >= %.2f", r, tt.minRecall)
			}
		})
	}
	t.Run("fewer pass than n", func(t *testing.T) {
		pass := []int32{5, 77, 1234, 4321}
		got := ix.Search(qs[0], 10, 0, func(i int32) bool { return slices.Contains(pass, i) }, nil, nil)
		want := exact(data, ix.rows, ix.dims, ix.stride, qs[0], 10, func(i int32) bool { return slices.Contains(pass, i) })
		if diff := cmp.Diff(items(want), items(got)); diff != "" {
			t.Errorf("Search with 4 items passing (-want +got):\n%s", diff)
		}
	})
}

func items(rs []Result) []int32 {
	var out []int32
	for _, r := range rs {
		out = append(out, r.Item)
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	ix, data := fixture()
	var buf bytes.Buffer
	n, err := ix.WriteTo(&buf)
	if err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if n != int64(buf.Len()) || n != ix.Size() {
		t.Errorf("WriteTo wrote %d bytes, reported %d, Size %d", buf.Len(), n, ix.Size())
	}
	// The aligned buffer is used in place; the shifted one is copied.
	aligned := buf.Bytes()
	shifted := make([]byte, len(aligned)+1)[1:]
	copy(shifted, aligned)
	qs := queries(5, 50, ix.Dims())
	for _, tc := range []struct {
		name string
		b    []byte
	}{{"aligned", aligned}, {"unaligned", shifted}} {
		t.Run(tc.name, func(t *testing.T) {
			lx, err := Load(tc.b, data, ix.rows, ix.dims, ix.stride)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			for _, q := range qs {
				for _, f := range []Filter{nil, func(i int32) bool { return i%3 != 0 }} {
					want := ix.Search(q, 10, 40, f, nil, nil)
					got := lx.Search(q, 10, 40, f, nil, nil)
					if diff := cmp.Diff(want, got); diff != "" {
						t.Fatalf("loaded index answers differently (-built +loaded):\n%s", diff)
					}
				}
			}
			var again bytes.Buffer
			if _, err := lx.WriteTo(&again); err != nil {
				t.Fatalf("WriteTo after Load: %v", err)
			}
			if !bytes.Equal(again.Bytes(), aligned) {
				t.Errorf("WriteTo after Load differs from the bytes loaded")
			}
		})
	}
}

func TestBuildDeterministicWithOneWorker(t *testing.T) {
	rows, dims := 2000, 16
	data := clustered(6, rows, dims)
	opts := DefaultOptions()
	opts.Workers = 1
	var outs [2]bytes.Buffer
	for i := range outs {
		ix, err := Build(context.Background(), data, rows, dims, dims, opts)
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		if _, err := ix.WriteTo(&outs[i]); err != nil {
			t.Fatalf("WriteTo: %v", err)
		}
	}
	if !bytes.Equal(outs[0].Bytes(), outs[1].Bytes()) {
		t.Errorf("two builds with one worker and the same seed differ")
	}
}

func TestStrideAndZeroRows(t *testing.T) {
	rows, dims, stride := 3000, 8, 11
	dense := clustered(7, rows, dims)
	data := make([]float32, (rows-1)*stride+dims)
	for i := range rows {
		if i%5 == 0 {
			continue // an all-zero row: no vector
		}
		copy(data[i*stride:], dense[i*dims:(i+1)*dims])
	}
	ix, err := Build(context.Background(), data, rows, dims, stride, DefaultOptions())
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if want := rows - rows/5; ix.Nodes() != want {
		t.Errorf("Nodes() = %d, want %d", ix.Nodes(), want)
	}
	qs := queries(8, 50, dims)
	s := NewScratch(ix)
	var sum float64
	for _, q := range qs {
		got := ix.Search(q, 10, 0, nil, nil, s)
		for _, r := range got {
			if r.Item%5 == 0 {
				t.Fatalf("Search returned all-zero row %d", r.Item)
			}
		}
		sum += recall(got, exact(data, rows, dims, stride, q, 10, func(i int32) bool { return i%5 != 0 }))
	}
	if r := sum / float64(len(qs)); r < 0.95 {
		t.Errorf("recall@10 with stride %d = %.4f, want >= 0.95", stride, r)
	}
}

func TestSmallIndexes(t *testing.T) {
	tests := []struct {
		name       string
		data       []float32
		rows, want int
	}{
		{"no rows", nil, 0, 0},
		{"all zero", make([]float32, 6), 3, 0},
		{"one row", []float32{1, 2}, 1, 1},
		{"three rows", []float32{1, 0, 0, 1, -1, -1}, 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix, err := Build(context.Background(), tt.data, tt.rows, 2, 2, DefaultOptions())
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			got := ix.Search([]float32{1, 1}, 10, 0, nil, nil, nil)
			if len(got) != tt.want {
				t.Errorf("Search(n=10) = %v, want %d results", got, tt.want)
			}
			var buf bytes.Buffer
			if _, err := ix.WriteTo(&buf); err != nil {
				t.Fatalf("WriteTo: %v", err)
			}
			lx, err := Load(buf.Bytes(), tt.data, tt.rows, 2, 2)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if diff := cmp.Diff(got, lx.Search([]float32{1, 1}, 10, 0, nil, nil, nil)); diff != "" {
				t.Errorf("loaded index answers differently (-built +loaded):\n%s", diff)
			}
		})
	}
}

func TestBuildRejects(t *testing.T) {
	good := DefaultOptions()
	withOpt := func(f func(*Options)) Options { o := good; f(&o); return o }
	data := []float32{1, 2, 3, 4, 5, 6}
	tests := []struct {
		name               string
		data               []float32
		rows, dims, stride int
		opts               Options
	}{
		{"M too small", data, 3, 2, 2, withOpt(func(o *Options) { o.M = 1 })},
		{"M too large", data, 3, 2, 2, withOpt(func(o *Options) { o.M = MaxM + 1 })},
		{"zero EfConstruction", data, 3, 2, 2, withOpt(func(o *Options) { o.EfConstruction = 0 })},
		{"negative EfConstruction0", data, 3, 2, 2, withOpt(func(o *Options) { o.EfConstruction0 = -1 })},
		{"EfConstruction0 too large", data, 3, 2, 2, withOpt(func(o *Options) { o.EfConstruction0 = MaxEf + 1 })},
		{"zero EfSearch", data, 3, 2, 2, withOpt(func(o *Options) { o.EfSearch = 0 })},
		{"negative workers", data, 3, 2, 2, withOpt(func(o *Options) { o.Workers = -1 })},
		{"negative rows", data, -1, 2, 2, good},
		{"zero dims", data, 3, 0, 2, good},
		{"stride below dims", data, 3, 2, 1, good},
		{"data too short", data, 4, 2, 2, good},
		{"NaN", []float32{1, 2, float32(math.NaN()), 4}, 2, 2, 2, good},
		{"Inf", []float32{1, float32(math.Inf(-1))}, 1, 2, 2, good},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ix, err := Build(context.Background(), tt.data, tt.rows, tt.dims, tt.stride, tt.opts); err == nil {
				t.Errorf("Build(%s) = %v, nil; want an error", tt.name, ix)
			}
		})
	}
}

func TestBuildCancel(t *testing.T) {
	rows, dims := 20000, 32
	data := clustered(9, rows, dims)
	t.Run("before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := Build(ctx, data, rows, dims, dims, DefaultOptions()); !errors.Is(err, context.Canceled) {
			t.Errorf("Build with a cancelled context: err = %v, want context.Canceled", err)
		}
	})
	t.Run("during", func(t *testing.T) {
		// 20k rows take well over the 5 ms allowed here, even on a fast
		// machine; the workers check ctx every 64 rows.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := Build(ctx, data, rows, dims, dims, DefaultOptions())
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Build past its deadline: err = %v, want context.DeadlineExceeded", err)
		}
		t.Logf("Build returned %v after the start", time.Since(start))
	})
}

func TestSearchDoesNotAllocate(t *testing.T) {
	ix, _ := fixture()
	qs := queries(10, 16, ix.Dims())
	s := NewScratch(ix)
	dst := make([]Result, 0, 10)
	filter := func(i int32) bool { return i%2 == 1 }
	i := 0
	allocs := testing.AllocsPerRun(50, func() {
		dst = ix.Search(qs[i%len(qs)], 10, 0, filter, dst, s)
		i++
	})
	if allocs != 0 {
		t.Errorf("Search with a reused Scratch allocates %v times per call, want 0", allocs)
	}
}

func TestSearchConcurrent(t *testing.T) {
	ix, _ := fixture()
	qs := queries(11, 32, ix.Dims())
	want := make([][]Result, len(qs))
	for i, q := range qs {
		want[i] = ix.Search(q, 10, 0, nil, nil, nil)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for range 4 {
		wg.Go(func() {
			s := NewScratch(ix)
			for i, q := range qs {
				if got := ix.Search(q, 10, 0, nil, nil, s); !slices.Equal(got, want[i]) {
					errs <- cmp.Diff(want[i], got)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for d := range errs {
		t.Errorf("concurrent Search differs from sequential (-want +got):\n%s", d)
	}
}
