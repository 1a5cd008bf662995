package recommender

import (
	"context"
	"fmt"
	"io"
	"math"

	"github.com/polecam/polecam/recommender/ann"
	"github.com/polecam/polecam/recommender/dot"
	"github.com/polecam/polecam/store"
)

// ANNIndexFile is the name of the auxiliary snapshot file holding the HNSW
// index over the item factors (package ann's format, written by
// WriteANNIndex). With it, and ModelOptions.ANN, Recommend answers known
// users by an approximate search instead of a catalogue scan.
const ANNIndexFile = "items.hnsw"

// annEfPerN is how many candidates an approximate search explores per
// requested item, at least: ef is max(the index's EfSearch, annEfPerN*N)
// unless ModelOptions.ANNEf sets it.
const annEfPerN = 4

// ANNCalibration asks WriteANNIndex to choose the index's default search
// width from measured recall instead of taking ann.Options.EfSearch.
type ANNCalibration struct {
	// Queries are vectors like the serving queries: a sample of the user
	// factors. With no rows the index keeps ann.Options.EfSearch.
	Queries store.Matrix
	// Target is the mean recall@10 (against the exact inner-product top
	// 10) the width must reach.
	Target float64
}

// CalibrationSample returns up to n rows of m spread evenly over it, as a
// Matrix viewing m's data (for ANNCalibration.Queries).
func CalibrationSample(m store.Matrix, n int) store.Matrix {
	if m.Rows <= n || n <= 0 {
		if n <= 0 {
			m.Rows = 0
		}
		return m
	}
	step := m.Rows / n
	return store.Matrix{Rows: n, Dims: m.Dims, Stride: m.Stride * step, Data: m.Data}
}

// DefaultANNRecallTarget is the recall@10 the training pipeline calibrates
// its indexes to: a margin above the 0.95 the serving targets ask for,
// since the recall of other users varies around the sample's.
const DefaultANNRecallTarget = 0.97

// WriteANNIndex builds an HNSW index over every row of items with opts
// (see ann.Build) and writes it to w in the ANNIndexFile format. With
// calibration queries, the stored default search width is the smallest of
// ann.CalibrationEfs reaching calib.Target on them, measured with the int8
// walk the server uses (see ann.Index.Calibrate); the calibration is
// returned. It honours ctx. The training pipeline calls it with the item
// factors of the snapshot it is writing, for catalogues large enough to
// need it.
func WriteANNIndex(ctx context.Context, w io.Writer, items store.Matrix, opts ann.Options, calib ANNCalibration) (ann.Calibration, error) {
	if err := checkMatrix(items); err != nil {
		return ann.Calibration{}, fmt.Errorf("write ann index: %w", err)
	}
	ix, err := ann.Build(ctx, items.Data, items.Rows, items.Dims, items.Stride, opts)
	if err != nil {
		return ann.Calibration{}, fmt.Errorf("write ann index: %w", err)
	}
	var c ann.Calibration
	if calib.Queries.Rows > 0 {
		if c, err = calibrateANN(ctx, ix, items, calib); err != nil {
			return ann.Calibration{}, fmt.Errorf("write ann index: %w", err)
		}
		if ix, err = ix.WithEfSearch(c.Ef); err != nil {
			return ann.Calibration{}, fmt.Errorf("write ann index: %w", err)
		}
	}
	if _, err := ix.WriteTo(w); err != nil {
		return ann.Calibration{}, fmt.Errorf("write ann index: %w", err)
	}
	return c, nil
}

// calibrateANN measures ix as the server will search it: walking the
// graph with the int8 rows of items (quantised here as WriteInt8Items
// does) and re-ranking with the float rows.
func calibrateANN(ctx context.Context, ix *ann.Index, items store.Matrix, calib ANNCalibration) (ann.Calibration, error) {
	if calib.Queries.Dims != items.Dims {
		return ann.Calibration{}, fmt.Errorf("calibration queries have %d dimensions, items %d", calib.Queries.Dims, items.Dims)
	}
	if err := checkMatrix(calib.Queries); err != nil {
		return ann.Calibration{}, fmt.Errorf("calibration queries: %w", err)
	}
	width := dot.Int8Width(items.Dims)
	rows := make([]int8, items.Rows*width)
	scales := make([]float32, items.Rows)
	dot.QuantizeRows(rows, width, scales, items.Data, items.Stride, items.Dims)
	walk, err := ix.WithInt8(rows, width, scales, 0)
	if err != nil {
		return ann.Calibration{}, err
	}
	q := calib.Queries
	return walk.Calibrate(ctx, q.Data, q.Rows, q.Stride, 10, calib.Target)
}

// loadANN loads the snapshot's ANN index, if it has one, over the mapped
// item matrix. The index is used in place: Load checks its checksums and
// every link, and copies nothing from an aligned mapping. With the int8
// item vectors loaded (ModelOptions.Int8; loadInt8 runs first) the search
// walks the graph with them (ann.Index.WithInt8).
func (m *Model) loadANN(s Snapshot) error {
	f, ok := s.(auxFiles)
	if !ok {
		return nil
	}
	b, ok := f.File(ANNIndexFile)
	if !ok {
		return nil
	}
	ix, err := ann.Load(b, m.items.Data, m.items.Rows, m.items.Dims, m.items.Stride)
	if err != nil {
		return fmt.Errorf("%s: %w", ANNIndexFile, err)
	}
	if m.i8 != nil {
		// Walk the graph with the int8 rows (one cache line per item at
		// 64 factors instead of four) and rescore the best of the beam
		// with the float rows.
		if ix, err = ix.WithInt8(m.i8.rows, m.i8.width, m.i8.scales, 0); err != nil {
			return fmt.Errorf("%s: %w", ANNIndexFile, err)
		}
	}
	m.ann = ix
	return nil
}

// annEf returns the candidate-list size of an approximate search for n
// items.
func (m *Model) annEf(n int) int {
	if m.annEfOpt > 0 {
		return max(m.annEfOpt, n)
	}
	return min(max(m.ann.EfSearch(), annEfPerN*n), ann.MaxEf)
}

// searchANN leaves in sc.cands the best n items the index finds for the
// user vector q, best first, skipping sc.blocked (cold items are not in
// the graph). The scores are rescored as the float scan computes them, so
// an item carries the same score, bit for bit, whichever path found it,
// and ties order by catalogue position as everywhere else.
func (m *Model) searchANN(sc *scratch, q []float32, n int) {
	filter := sc.annFilter
	ef := m.annEf(n)
	if len(sc.blocked) == 0 && sc.filter == nil && m.unavailBits == nil {
		filter = nil
	}
	if rs := sc.filter; rs != nil && rs.count > 0 {
		// A filter leaves fewer results per node visited: widen the beam
		// in proportion, up to the index's limit.
		ef = min(ann.MaxEf, max(ef, int(float64(ef)*math.Sqrt(float64(m.n)/float64(rs.count)))))
	}
	sc.annRes = m.ann.Search(q, n, ef, filter, sc.annRes[:0], sc.ann)
	sc.cands = sc.cands[:0]
	for _, r := range sc.annRes {
		sc.cands = append(sc.cands, candidate{Index: r.Item, Score: r.Score})
	}
	if m.ann.UsesInt8() {
		// The int8 walk already rescored its answer as a scan scores it
		// and ordered it best first, ties by row (ann.Index.WithInt8).
		return
	}
	m.rescoreTop(sc, q, n)
}

// UsesANN reports whether Recommend answers known users with the
// snapshot's approximate index.
func (m *Model) UsesANN() bool { return m.ann != nil }
