package recommender

import (
	"fmt"
	"runtime"
	"time"

	"github.com/polecam/polecam/recommender/ann"
)

// ModelOptions says how a Model scans its catalogue. The zero value is not
// valid; start from DefaultModelOptions.
type ModelOptions struct {
	// ParallelMinItems is the smallest catalogue whose scans are split
	// across Workers goroutines. Below it every scan runs on the
	// requesting goroutine alone: waking a second core costs a few
	// microseconds, more than it saves on a scan of 10,000 items (see
	// benchmarks/kernel.md). At least 1.
	ParallelMinItems int
	// Int8ParallelMinItems is ParallelMinItems for the int8 shortlist
	// scans (see Int8). An int8 row is a quarter of a float row's bytes
	// and is scored several times faster, so splitting pays only on
	// larger catalogues: with 64 factors one core is faster at 100k items
	// and two cores at 200k (benchmarks/kernel.md), so by default int8
	// scans split from 150,000 items. At least 1.
	Int8ParallelMinItems int
	// Workers is how many goroutines share one scan, the requesting one
	// included, so a Model over a large catalogue runs Workers-1 scan
	// goroutines until Close. 1 disables splitting.
	Workers int
	// Int8 shortlists Recommend's candidates with the snapshot's int8 item
	// vectors (the Int8ItemsFile auxiliary file) when it has them, and
	// rescores the shortlist with the float vectors; the answer is the
	// exact one (see the package documentation). A snapshot without the
	// file is served by the float scan alone.
	Int8 bool
	// ANN answers a known user's Recommend with an approximate search of
	// the snapshot's HNSW index (the ANNIndexFile auxiliary file) when it
	// has one, instead of a catalogue scan; RecommendRequest.Exact still
	// gets the exact answer. A snapshot without the file is served as without ANN.
	ANN bool
	// ANNEf is the candidate-list size of an approximate search: larger
	// is slower and finds more of the exact top N. 0 means the index's
	// default (stored in the file) or 4*N, whichever is larger; a value
	// below N is raised to N.
	ANNEf int
	// FoldInUsers answers every known user from a vector folded in from
	// their trained items (and session), as for a visitor, instead of
	// their trained vector: for measuring how well a fold-in stands in
	// for training (polecam eval --fold-in). It needs the snapshot's
	// fold-in parameters; without them users keep their trained vectors.
	FoldInUsers bool
	// CategoryBlocks keeps, for a snapshot with int8 vectors and a
	// catalogue with categories, a copy of the int8 rows in category
	// order, so that a filter on a few categories scans its rows as
	// contiguous blocks rather than gathering them from random places (a
	// byte per factor and 8 bytes per item more memory; built at load,
	// about a pass over the int8 rows).
	CategoryBlocks bool
	// Now is the clock the merchandising rules' exclusion windows are
	// measured against; nil means time.Now.
	Now func() time.Time
}

// DefaultParallelMinItems is DefaultModelOptions' ParallelMinItems.
const DefaultParallelMinItems = 32_768

// DefaultInt8ParallelMinItems is DefaultModelOptions' Int8ParallelMinItems.
const DefaultInt8ParallelMinItems = 150_000

// DefaultModelOptions returns the options NewModel uses: split scans of at
// least DefaultParallelMinItems items across GOMAXPROCS goroutines, and use
// int8 vectors and the ANN index when the snapshot has them.
func DefaultModelOptions() ModelOptions {
	return ModelOptions{
		ParallelMinItems:     DefaultParallelMinItems,
		Int8ParallelMinItems: DefaultInt8ParallelMinItems,
		Workers:              runtime.GOMAXPROCS(0),
		Int8:                 true,
		ANN:                  true,
		CategoryBlocks:       true,
	}
}

// maxWorkers bounds ModelOptions.Workers.
const maxWorkers = 256

// Validate reports whether the options can be used.
func (o ModelOptions) Validate() error {
	if o.ParallelMinItems < 1 {
		return fmt.Errorf("parallel min items must be at least 1, got %d", o.ParallelMinItems)
	}
	if o.Int8ParallelMinItems < 1 {
		return fmt.Errorf("int8 parallel min items must be at least 1, got %d", o.Int8ParallelMinItems)
	}
	if o.Workers < 1 || o.Workers > maxWorkers {
		return fmt.Errorf("workers must be between 1 and %d, got %d", maxWorkers, o.Workers)
	}
	if o.ANNEf < 0 || o.ANNEf > ann.MaxEf {
		return fmt.Errorf("ann ef must be between 0 and %d, got %d", ann.MaxEf, o.ANNEf)
	}
	return nil
}
