// Package peer measures polecam's own top-N on a fixture snapshot, for
// comparison with a peer library (Faiss) on the same vectors: exact top-N
// through recommender.Model on one core, and the approximate index of
// package recommender/ann: its build time and its queries per second at
// the smallest ef that reaches a target recall.
//
// The queries are the first Options.Queries user vectors of the snapshot;
// recall@N is measured against the exact inner-product top N over the
// whole catalogue, the ground truth a peer computes the same way.
// benchmarks/faiss_compare.py runs the peer and this package (through
// benchmarks/cmd/peerbench) in one run and prints the ratios.
package peer

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"time"

	"github.com/polecam/polecam/benchmarks/fixture"
	"github.com/polecam/polecam/recommender"
	"github.com/polecam/polecam/recommender/ann"
	"github.com/polecam/polecam/recommender/dot"
	"github.com/polecam/polecam/store"
)

// Options configures Run.
type Options struct {
	// DataDir holds the fixture snapshot; the published version is used.
	DataDir string `json:"data_dir"`
	// Queries is the number of user vectors queried.
	Queries int `json:"queries"`
	// N is the number of items per answer.
	N int `json:"n"`
	// Recall is the recall@N the ANN must reach.
	Recall float64 `json:"recall"`
	// M and EfConstruction configure the ANN build.
	M              int `json:"m"`
	EfConstruction int `json:"ef_construction"`
	// BuildWorkers is the number of goroutines building the ANN index (0:
	// all cores).
	BuildWorkers int `json:"build_workers"`
	// Efs are the search widths tried, smallest first.
	Efs []int `json:"efs"`
	// SkipANN measures the exact scan only.
	SkipANN bool `json:"skip_ann"`
}

// DefaultOptions returns 1000 top-10 queries, recall 0.95, and the HNSW
// parameters of the Faiss comparison (M 16, efConstruction 100).
func DefaultOptions(dataDir string) Options {
	return Options{
		DataDir: dataDir, Queries: 1000, N: 10, Recall: 0.95,
		M: 16, EfConstruction: 100,
		Efs: []int{10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512},
	}
}

// Validate reports whether the options can be used.
func (o Options) Validate() error {
	switch {
	case o.DataDir == "":
		return errors.New("data directory is required")
	case o.Queries < 1:
		return fmt.Errorf("queries must be positive, got %d", o.Queries)
	case o.N < 1 || o.N > 1000:
		return fmt.Errorf("n must be in 1..1000, got %d", o.N)
	case !(o.Recall > 0 && o.Recall <= 1):
		return fmt.Errorf("recall must be in (0, 1], got %v", o.Recall)
	case len(o.Efs) == 0 && !o.SkipANN:
		return errors.New("no ef values to try")
	case o.BuildWorkers < 0:
		return fmt.Errorf("build workers must not be negative, got %d", o.BuildWorkers)
	}
	if !slices.IsSorted(o.Efs) {
		return fmt.Errorf("ef values must be increasing, got %v", o.Efs)
	}
	return nil
}

// ANNPoint is one search width of the ANN sweep.
type ANNPoint struct {
	Ef     int     `json:"ef"`
	Recall float64 `json:"recall"`
	// QPS is the number of queries over the time they took, one after
	// another on one core.
	QPS      float64 `json:"qps"`
	MedianUs float64 `json:"median_us"`
	P99Us    float64 `json:"p99_us"`
}

// Report is what Run measured.
type Report struct {
	Options Options `json:"options"`
	Version string  `json:"version"`
	Items   int     `json:"items"`
	Dims    int     `json:"dims"`
	Kernel  string  `json:"kernel"`
	// ExactMedianMs is the median time of one Model.Recommend (top N,
	// seen items included, so nothing but the scan is filtered) with
	// GOMAXPROCS 1.
	ExactMedianMs float64 `json:"exact_median_ms"`
	// ScanMedianMs is the median time of the bare scan on one core:
	// dot.Scores over every item and a top-N pass over the scores, with no
	// id lookups. The difference to ExactMedianMs is what the Model adds.
	ScanMedianMs float64 `json:"scan_median_ms"`
	// ExactRecall is the recall of Model.Recommend against the ground
	// truth (1 unless ties fall differently).
	ExactRecall float64 `json:"exact_recall"`
	// ANN fields are zero when the ANN half was skipped.
	ANNBuildSeconds float64    `json:"ann_build_seconds,omitempty"`
	ANNBuildWorkers int        `json:"ann_build_workers,omitempty"`
	ANNSweep        []ANNPoint `json:"ann_sweep,omitempty"`
	// ANNAtRecall is the first sweep point reaching Options.Recall, nil if
	// none did.
	ANNAtRecall *ANNPoint `json:"ann_at_recall,omitempty"`
}

// Run measures o.DataDir's published snapshot.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	d, err := store.OpenDir(o.DataDir)
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	v, err := d.Published()
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	snap, err := d.Open(v, store.DefaultOpenOptions())
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	m, err := recommender.NewModel(snap)
	if err != nil {
		snap.Close()
		return nil, fmt.Errorf("peer: %w", err)
	}
	defer m.Close()
	items, users := snap.ItemFactors(), snap.UserFactors()
	q := min(o.Queries, users.Rows)
	r := &Report{Options: o, Version: v, Items: items.Rows, Dims: items.Dims, Kernel: dot.Impl()}
	truth := groundTruth(items, users, q, o.N)

	scan(items, users, q, o.N, r)
	if err := exact(ctx, m, truth, o.N, r); err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	if o.SkipANN {
		return r, nil
	}
	if err := approximate(ctx, items, users, truth, o, r); err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	return r, nil
}

// groundTruth returns the exact inner-product top n of the first q user
// rows, best first (ties by index).
func groundTruth(items, users store.Matrix, q, n int) [][]int32 {
	out := make([][]int32, q)
	scores := make([]float32, items.Rows)
	idx := make([]int32, items.Rows)
	for u := range q {
		dot.Scores(scores, items.Data, items.Stride, users.Row(u))
		for i := range idx {
			idx[i] = int32(i)
		}
		sort.Slice(idx, func(a, b int) bool {
			sa, sb := scores[idx[a]], scores[idx[b]]
			return sa > sb || (sa == sb && idx[a] < idx[b])
		})
		out[u] = slices.Clone(idx[:min(n, len(idx))])
	}
	return out
}

// recall returns the share of want found in got.
func recall(got, want []int32) float64 {
	if len(want) == 0 {
		return 1
	}
	var hit int
	for _, w := range want {
		if slices.Contains(got, w) {
			hit++
		}
	}
	return float64(hit) / float64(len(want))
}

// quantile returns the q-quantile of ds (nearest rank).
func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func median(ds []time.Duration) time.Duration { return quantile(ds, 0.5) }

// exact times Model.Recommend for every query on one core.
func exact(ctx context.Context, m *recommender.Model, truth [][]int32, n int, r *Report) error {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	times := make([]time.Duration, len(truth))
	var rec float64
	// One untimed pass first: page in the mapped vectors and the id maps.
	for u := range truth {
		req := recommender.RecommendRequest{UserID: fixture.UserID(u), N: n, IncludeSeen: true}
		if _, err := m.Recommend(ctx, req); err != nil {
			return fmt.Errorf("recommend %s: %w", req.UserID, err)
		}
	}
	for u := range truth {
		req := recommender.RecommendRequest{UserID: fixture.UserID(u), N: n, IncludeSeen: true}
		t := time.Now()
		res, err := m.Recommend(ctx, req)
		times[u] = time.Since(t)
		if err != nil {
			return fmt.Errorf("recommend %s: %w", req.UserID, err)
		}
		if res.Fallback {
			return fmt.Errorf("recommend %s: fell back to popularity", req.UserID)
		}
		got := make([]int32, len(res.Items))
		for i, it := range res.Items {
			var id int
			if _, err := fmt.Sscanf(it.ID, "sku-%d", &id); err != nil {
				return fmt.Errorf("recommend %s: item id %q is not a fixture id", req.UserID, it.ID)
			}
			got[i] = int32(id)
		}
		rec += recall(got, truth[u])
	}
	r.ExactMedianMs = float64(median(times)) / 1e6
	r.ExactRecall = rec / float64(len(truth))
	return nil
}

// scan times the bare kernel and a top-n pass on one core.
func scan(items, users store.Matrix, q, n int, r *Report) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	scores := make([]float32, items.Rows)
	top := make([]int32, 0, n)
	times := make([]time.Duration, q)
	for pass := range 2 { // the first pass is untimed
		for u := range q {
			t := time.Now()
			dot.Scores(scores, items.Data, items.Stride, users.Row(u))
			top = topN(top[:0], scores, n)
			if pass == 1 {
				times[u] = time.Since(t)
			}
		}
	}
	r.ScanMedianMs = float64(median(times)) / 1e6
}

// topN appends the indices of the n highest scores to dst, best first,
// keeping dst sorted by insertion (n is small).
func topN(dst []int32, scores []float32, n int) []int32 {
	for i, s := range scores {
		if len(dst) == n && s <= scores[dst[n-1]] {
			continue
		}
		if len(dst) < n {
			dst = append(dst, 0)
		}
		j := len(dst) - 1
		for j > 0 && scores[dst[j-1]] < s {
			dst[j] = dst[j-1]
			j--
		}
		dst[j] = int32(i)
	}
	return dst
}

// approximate builds the ANN index and sweeps ef, searching on one core.
func approximate(ctx context.Context, items, users store.Matrix, truth [][]int32, o Options, r *Report) error {
	ao := ann.DefaultOptions()
	ao.M, ao.EfConstruction, ao.Workers = o.M, o.EfConstruction, o.BuildWorkers
	t := time.Now()
	ix, err := ann.Build(ctx, items.Data, items.Rows, items.Dims, items.Stride, ao)
	if err != nil {
		return fmt.Errorf("build ann: %w", err)
	}
	r.ANNBuildSeconds = time.Since(t).Seconds()
	r.ANNBuildWorkers = o.BuildWorkers
	if r.ANNBuildWorkers == 0 {
		r.ANNBuildWorkers = runtime.GOMAXPROCS(0)
	}

	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	sc := ann.NewScratch(ix)
	dst := make([]ann.Result, 0, o.N)
	got := make([]int32, 0, o.N)
	times := make([]time.Duration, len(truth))
	for _, ef := range o.Efs {
		if err := ctx.Err(); err != nil {
			return err
		}
		// One untimed pass first, as for the exact scan.
		for u := range truth {
			dst = ix.Search(users.Row(u), o.N, ef, nil, dst[:0], sc)
		}
		var rec float64
		start := time.Now()
		for u := range truth {
			t := time.Now()
			dst = ix.Search(users.Row(u), o.N, ef, nil, dst[:0], sc)
			times[u] = time.Since(t)
			got = got[:0]
			for _, x := range dst {
				got = append(got, x.Item)
			}
			rec += recall(got, truth[u])
		}
		total := time.Since(start)
		p := ANNPoint{
			Ef: ef, Recall: rec / float64(len(truth)),
			QPS:      float64(len(truth)) / total.Seconds(),
			MedianUs: float64(median(times)) / 1e3,
			P99Us:    float64(quantile(times, 0.99)) / 1e3,
		}
		r.ANNSweep = append(r.ANNSweep, p)
		if p.Recall >= o.Recall {
			r.ANNAtRecall = &p
			break
		}
	}
	return nil
}
