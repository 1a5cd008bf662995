package training

import (
	"context"
	"fmt"
	"math"
	"runtime"
)

// RP3Options configures TrainRP3.
type RP3Options struct {
	// Alpha is the exponent α applied to the transition probabilities of
	// the random walk. Default 0.8.
	Alpha float64 `json:"alpha"`
	// Beta is the popularity penalty β: the probability of reaching item
	// j is divided by its number of users to the power β. Default 0.4.
	Beta float64 `json:"beta"`
	// TopK is the number of weights kept per item (its row of the model).
	// Default 100.
	TopK int `json:"top_k"`
	// MaxUserItems truncates longer histories to their heaviest items, as
	// CoOccurrenceOptions.MaxUserItems does, to bound the cost. Default
	// 500.
	MaxUserItems int `json:"max_user_items"`
}

// DefaultRP3Options returns the defaults described on RP3Options: the
// middle of the ranges that Dacrema et al. ("Are we really making much
// progress?", RecSys 2019) found best across data sets; Tune searches
// around them.
func DefaultRP3Options() RP3Options {
	return RP3Options{Alpha: 0.8, Beta: 0.4, TopK: 100, MaxUserItems: 500}
}

// Validate reports the first option that is out of range.
func (o RP3Options) Validate() error {
	switch {
	case math.IsNaN(o.Alpha) || o.Alpha <= 0 || o.Alpha > 4:
		return fmt.Errorf("rp3 options: alpha %v, want in (0, 4]", o.Alpha)
	case math.IsNaN(o.Beta) || o.Beta < 0 || o.Beta > 2:
		return fmt.Errorf("rp3 options: beta %v, want in [0, 2]", o.Beta)
	case o.TopK < 1:
		return fmt.Errorf("rp3 options: top k %d, want at least 1", o.TopK)
	case o.MaxUserItems < 2:
		return fmt.Errorf("rp3 options: max user items %d, want at least 2", o.MaxUserItems)
	}
	return nil
}

// TrainRP3 fits RP3beta (Paudel et al., "Updatable, accurate, diverse,
// and scalable recommendations for interactive applications", TiiS 2017;
// as evaluated by Dacrema et al. 2019) on the binary form of x: the
// probability of a three-step random walk item → user → item, each step's
// transition probability raised to α, divided by the target's popularity
// to the power β,
//
//	w(i, j) = |U_i|^−α · Σ_{u ∈ U_i ∩ U_j} |I_u|^−α · |U_j|^−β,
//
// with U_i the users of i and I_u the items of u (histories truncated to
// MaxUserItems). Each item keeps its TopK largest weights (ties to the
// lower item), never itself; a user's score for j is the sum of the
// weights of her items for j. The cost is that of CoOccurrence, Σ_u |I_u|²,
// on GOMAXPROCS goroutines; the result does not depend on their number.
func TrainRP3(ctx context.Context, x *Interactions, opts RP3Options) (*SparseItemItem, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	rows := truncateRows(x, opts.MaxUserItems)
	cols := transpose(rows.ptr, rows.idx, rows.w, x.NumItems())
	userW := make([]float64, len(rows.ptr)-1)
	for u := range userW {
		if n := rows.ptr[u+1] - rows.ptr[u]; n > 0 {
			userW[u] = math.Pow(float64(n), -opts.Alpha)
		}
	}
	pen := make([]float64, x.NumItems()) // |U_j|^−β
	for j := range pen {
		if n := cols.ptr[j+1] - cols.ptr[j]; n > 0 {
			pen[j] = math.Pow(float64(n), -opts.Beta)
		}
	}
	out := make([][]Neighbor, x.NumItems())
	err := coWalk(ctx, rows, cols, userW, runtime.GOMAXPROCS(0), func(i int, touched []int32, acc []float64, cands []Neighbor) []Neighbor {
		ri := math.Pow(float64(cols.ptr[i+1]-cols.ptr[i]), -opts.Alpha)
		for _, j := range touched {
			w := ri * acc[j] * pen[j]
			cands = append(cands, Neighbor{Item: j, Score: float32(w)})
		}
		out[i] = topNeighbors(cands, opts.TopK)
		return cands
	})
	if err != nil {
		return nil, fmt.Errorf("rp3: %w", err)
	}
	return sparseFromRows(out), nil
}
