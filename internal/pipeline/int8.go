package pipeline

import (
	"io"

	"github.com/polecam/polecam/recommender"
	"github.com/polecam/polecam/store"
	"github.com/polecam/polecam/training"
)

// int8Aux returns the auxiliary file holding the int8-quantised item
// vectors (recommender.Int8ItemsFile), which the server shortlists
// Recommend candidates with before rescoring them exactly, when opts.Int8
// is set. The file costs about a quarter of the item factors' size.
func int8Aux(opts Options, x *training.Interactions, f *training.Factors) []auxFile {
	if !opts.Int8 {
		return nil
	}
	items := store.Matrix{Rows: x.NumItems(), Dims: f.Dims, Stride: f.Dims, Data: f.Item}
	return []auxFile{{name: recommender.Int8ItemsFile, write: func(w io.Writer) error {
		return recommender.WriteInt8Items(w, items)
	}}}
}
