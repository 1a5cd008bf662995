package pipeline

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/polecam/polecam/recommender"
	"github.com/polecam/polecam/recommender/ann"
	"github.com/polecam/polecam/store"
	"github.com/polecam/polecam/training"
)

// DefaultANNMinItems is DefaultANNOptions' MinItems. Below it an exact
// scan of the item vectors (int8 shortlist, rescored) answers within the
// latency budget and is exact; from about 200k items on a scan costs a
// millisecond or more per request and the index pays (see
// benchmarks/kernel.md and benchmarks/ann.md).
const DefaultANNMinItems = 200_000

// ANNOptions say when the pipeline builds an HNSW index over the item
// factors, stored in the snapshot as recommender.ANNIndexFile, and how.
type ANNOptions struct {
	// MinItems is the smallest catalogue that gets an index. 0 never
	// builds one; 1 builds one for every catalogue.
	MinItems int
	// Index configures the graph; Index.Workers 0 uses every core. The
	// 1M-item build takes about 100 s on 2 cores at the defaults.
	Index ann.Options
}

// DefaultANNEfSearch is the default search width DefaultANNOptions stores
// in the index: on 1M x 64 clustered vectors ef 512 finds 0.960 (± 0.004
// between builds) of the exact top 10, ef 384 0.953 and ef 256 0.942. The
// server walks the graph with the snapshot's int8 item rows, where ef 512
// costs about 0.6 ms per query on one core and ef 384 0.45 ms
// (benchmarks/ann.md); 512 keeps a margin above 0.95 for factors less
// kind than the test data. Package ann's default of 128 suits 100k. It is
// the fallback: annAux calibrates the stored width on a sample of the
// user vectors (recommender.WriteANNIndex), which on the 1M benchmark
// fixture chooses a smaller one.
const DefaultANNEfSearch = 512

// annCalibrationQueries is how many users' vectors the index's search
// width is calibrated on (recommender.WriteANNIndex): at 1M items their
// exact top 10 take about a second to compute.
const annCalibrationQueries = 256

// DefaultANNOptions returns an index for catalogues of at least
// DefaultANNMinItems items, with ann.DefaultOptions searched at
// DefaultANNEfSearch.
func DefaultANNOptions() ANNOptions {
	o := ANNOptions{MinItems: DefaultANNMinItems, Index: ann.DefaultOptions()}
	o.Index.EfSearch = DefaultANNEfSearch
	return o
}

// Validate reports whether the options can be used.
func (o ANNOptions) Validate() error {
	if o.MinItems < 0 {
		return fmt.Errorf("ann min items must be at least 0, got %d", o.MinItems)
	}
	if o.MinItems == 0 {
		return nil
	}
	return o.Index.Validate()
}

// builds reports whether a catalogue of items items gets an index.
func (o ANNOptions) builds(items int) bool {
	return o.MinItems > 0 && items >= o.MinItems
}

// annAux returns the auxiliary file holding the ANN index over the item
// factors (recommender.ANNIndexFile) when the catalogue has at least
// opts.ANN.MinItems items. The index is built when the snapshot is
// written, honouring ctx; it costs about 4*(2M+2) bytes per item (137 MB
// for 1M items at M 16).
func annAux(ctx context.Context, opts Options, x *training.Interactions, f *training.Factors) []auxFile {
	if !opts.ANN.builds(x.NumItems()) {
		return nil
	}
	items := store.Matrix{Rows: x.NumItems(), Dims: f.Dims, Stride: f.Dims, Data: f.Item}
	return []auxFile{{name: recommender.ANNIndexFile, write: func(w io.Writer) error {
		start := time.Now()
		users := store.Matrix{Rows: x.NumUsers(), Dims: f.Dims, Stride: f.Dims, Data: f.User}
		calib := recommender.ANNCalibration{Queries: recommender.CalibrationSample(users, annCalibrationQueries), Target: recommender.DefaultANNRecallTarget}
		c, err := recommender.WriteANNIndex(ctx, w, items, opts.ANN.Index, calib)
		if err != nil {
			return err
		}
		opts.Logger.Info("built ann index", "items", items.Rows, "ef_search", c.Ef, "recall_at_10", c.Recall,
			"calibration_queries", c.Queries, "target_reached", c.Reached, "elapsed", time.Since(start).Round(time.Millisecond))
		return nil
	}}}
}
