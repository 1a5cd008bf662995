package ann

import (
	"errors"
	"fmt"
)

// Limits on Options. MaxM keeps a node's layer-0 list (2*M ids) small
// enough to copy on the stack while building; MaxEf bounds the work and
// the scratch of one search.
const (
	MaxM  = 64
	MaxEf = 1 << 16
)

// Options configure Build and the default search of the built index.
type Options struct {
	// M is the number of neighbours each node keeps on the upper layers;
	// layer 0 keeps up to 2*M. Larger M raises recall and build time.
	M int
	// EfConstruction is the size of the candidate list while inserting a
	// node. Larger values build a better graph more slowly.
	EfConstruction int
	// EfConstruction0 is the size of the candidate list while linking a
	// node on layer 0, where every node lives and every search ends; 0
	// means EfConstruction. The inner-product graph keeps few links per
	// node (about 4), so the quality of each matters: on 1M x 64 clustered
	// rows, 200 instead of 100 raised recall@10 at ef 256 from 0.912 to
	// 0.941 for a third more build time (benchmarks/ann.md).
	EfConstruction0 int
	// EfSearch is the default size of the candidate list of a query, used
	// when Search is given ef <= 0. It is stored in the index.
	EfSearch int
	// Seed draws the layer of every node. With Workers == 1 the build is
	// deterministic for a seed; with more workers the order in which nodes
	// are linked, and so the graph, depends on scheduling.
	Seed int64
	// Workers is the number of goroutines inserting nodes; 0 means
	// runtime.GOMAXPROCS(0).
	Workers int
}

// DefaultOptions returns the options measured in benchmarks/ann.md: M 16,
// EfConstruction 100 (200 on layer 0), EfSearch 128, all available cores.
func DefaultOptions() Options {
	return Options{M: 16, EfConstruction: 100, EfConstruction0: 200, EfSearch: 128, Seed: 1}
}

// Validate reports the first option out of range.
func (o Options) Validate() error {
	switch {
	case o.M < 2 || o.M > MaxM:
		return fmt.Errorf("ann options: M %d is outside 2..%d", o.M, MaxM)
	case o.EfConstruction < 1 || o.EfConstruction > MaxEf:
		return fmt.Errorf("ann options: EfConstruction %d is outside 1..%d", o.EfConstruction, MaxEf)
	case o.EfConstruction0 < 0 || o.EfConstruction0 > MaxEf:
		return fmt.Errorf("ann options: EfConstruction0 %d is outside 0..%d", o.EfConstruction0, MaxEf)
	case o.EfSearch < 1 || o.EfSearch > MaxEf:
		return fmt.Errorf("ann options: EfSearch %d is outside 1..%d", o.EfSearch, MaxEf)
	case o.Workers < 0:
		return errors.New("ann options: Workers is negative")
	}
	return nil
}
