package training

import (
	"cmp"
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

// rp3Reference computes TrainRP3 by its definition, densely, in float64,
// on histories short enough not to be truncated.
func rp3Reference(x *Interactions, o RP3Options) [][]Neighbor {
	n := x.NumItems()
	pop := make([]float64, n)
	for i := range n {
		pop[i] = float64(x.ItemPtr[i+1] - x.ItemPtr[i])
	}
	w := make([][]float64, n)
	for i := range w {
		w[i] = make([]float64, n)
	}
	for u := range x.NumUsers() {
		items, _ := x.UserRow(int32(u))
		pu := math.Pow(float64(len(items)), -o.Alpha)
		for _, i := range items {
			for _, j := range items {
				if i != j {
					w[i][j] += math.Pow(pop[i], -o.Alpha) * pu * math.Pow(pop[j], -o.Beta)
				}
			}
		}
	}
	out := make([][]Neighbor, n)
	for i := range n {
		var c []Neighbor
		for j, v := range w[i] {
			if v != 0 {
				c = append(c, Neighbor{int32(j), float32(v)})
			}
		}
		slices.SortFunc(c, func(a, b Neighbor) int {
			if d := cmp.Compare(b.Score, a.Score); d != 0 {
				return d
			}
			return cmp.Compare(a.Item, b.Item)
		})
		c = c[:min(o.TopK, len(c))]
		slices.SortFunc(c, func(a, b Neighbor) int { return cmp.Compare(a.Item, b.Item) })
		out[i] = c
	}
	return out
}

func TestTrainRP3MatchesDefinition(t *testing.T) {
	tests := []struct {
		name string
		x    *Interactions
		o    RP3Options
	}{
		{"hand-made, defaults", coMatrix(), DefaultRP3Options()},
		{"hand-made, top 1", coMatrix(), RP3Options{Alpha: 1, Beta: 0, TopK: 1, MaxUserItems: 500}},
		{"random, defaults", randomInteractions(300, 120, 3000, 7), DefaultRP3Options()},
		{"random, top 5, strong penalty", randomInteractions(300, 120, 3000, 8), RP3Options{Alpha: 0.5, Beta: 1.2, TopK: 5, MaxUserItems: 500}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := TrainRP3(context.Background(), tc.x, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			want := rp3Reference(tc.x, tc.o)
			if m.N != len(want) {
				t.Fatalf("N = %d, want %d", m.N, len(want))
			}
			for i := range want {
				items, ws := m.Row(int32(i))
				if len(items) != len(want[i]) {
					t.Fatalf("item %d: %d weights, want %d", i, len(items), len(want[i]))
				}
				for k, nb := range want[i] {
					if items[k] != nb.Item || math.Abs(float64(ws[k]-nb.Score)) > 1e-5*math.Abs(float64(nb.Score)) {
						t.Fatalf("item %d weight %d: (%d, %g), want (%d, %g)", i, k, items[k], ws[k], nb.Item, nb.Score)
					}
				}
			}
		})
	}
}

func TestSparseItemItemScores(t *testing.T) {
	m := sparseFromRows([][]Neighbor{
		{{2, 0.5}, {1, 1}},
		{{0, -2}},
		nil,
	})
	dst := []float32{9, 9, 9}
	m.Scores([]int32{0, 1}, dst)
	if want := []float32{-2, 1, 0.5}; !slices.Equal(dst, want) {
		t.Fatalf("scores %v, want %v", dst, want)
	}
	if m.NNZ() != 3 || m.NumItems() != 3 {
		t.Fatalf("nnz %d, items %d", m.NNZ(), m.NumItems())
	}
}

func TestTrainRP3Cancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := TrainRP3(ctx, randomInteractions(100, 50, 500, 1), DefaultRP3Options()); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestRP3OptionsValidate(t *testing.T) {
	tests := []struct {
		mutate func(*RP3Options)
		want   string
	}{
		{func(o *RP3Options) { o.Alpha = 0 }, "alpha"},
		{func(o *RP3Options) { o.Alpha = math.NaN() }, "alpha"},
		{func(o *RP3Options) { o.Beta = -0.1 }, "beta"},
		{func(o *RP3Options) { o.TopK = 0 }, "top k"},
		{func(o *RP3Options) { o.MaxUserItems = 1 }, "max user items"},
	}
	if err := DefaultRP3Options().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range tests {
		o := DefaultRP3Options()
		tc.mutate(&o)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want it to name %q", o, err, tc.want)
		}
	}
}
