package training

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// coMatrix is a hand-made matrix with items A, B, C, D (indexes 0–3):
//
//	u0: A 1, B 5, C 3
//	u1: A, B
//	u2: B, C
//	u3: A, B, D
//	u4: D
//
// so n_A = 3, n_B = 4, n_C = 2, n_D = 2 and the pair counts are AB 3, AC 1,
// AD 1, BC 2, BD 1, CD 0.
func coMatrix() *Interactions {
	return build([]event{
		{"u0", "A", 1}, {"u0", "B", 5}, {"u0", "C", 3},
		{"u1", "A", 1}, {"u1", "B", 1},
		{"u2", "B", 1}, {"u2", "C", 1},
		{"u3", "A", 1}, {"u3", "B", 1}, {"u3", "D", 1},
		{"u4", "D", 1},
	})
}

func TestCoOccurrence(t *testing.T) {
	const A, B, C, D = 0, 1, 2, 3
	s := func(count, ni, nj float64) float32 { return float32(count / math.Sqrt(ni*nj)) }
	tests := []struct {
		name   string
		mutate func(*CoOccurrenceOptions)
		want   [][]Neighbor
	}{
		{
			name:   "defaults drop pairs seen once",
			mutate: func(*CoOccurrenceOptions) {},
			want: [][]Neighbor{
				A: {{B, s(3, 3, 4)}},
				B: {{A, s(3, 4, 3)}, {C, s(2, 4, 2)}},
				C: {{B, s(2, 2, 4)}},
				D: nil,
			},
		},
		{
			name:   "min count 1 keeps every pair, ties by item index",
			mutate: func(o *CoOccurrenceOptions) { o.MinCount = 1 },
			want: [][]Neighbor{
				A: {{B, s(3, 3, 4)}, {C, s(1, 3, 2)}, {D, s(1, 3, 2)}},
				B: {{A, s(3, 4, 3)}, {C, s(2, 4, 2)}, {D, s(1, 4, 2)}},
				C: {{B, s(2, 2, 4)}, {A, s(1, 2, 3)}},
				D: {{A, s(1, 2, 3)}, {B, s(1, 2, 4)}},
			},
		},
		{
			name:   "top k",
			mutate: func(o *CoOccurrenceOptions) { o.MinCount, o.TopK = 1, 1 },
			want: [][]Neighbor{
				A: {{B, s(3, 3, 4)}},
				B: {{A, s(3, 4, 3)}},
				C: {{B, s(2, 2, 4)}},
				D: {{A, s(1, 2, 3)}},
			},
		},
		{
			// u0 keeps its heaviest B and C; u3 (all weights 1) keeps A and
			// B, the lower indexes. Then n_A = 2, n_B = 4, n_C = 2, n_D = 1
			// and only AB 2 and BC 2 remain.
			name:   "long histories truncated to heaviest items",
			mutate: func(o *CoOccurrenceOptions) { o.MinCount, o.MaxUserItems = 1, 2 },
			want: [][]Neighbor{
				A: {{B, s(2, 2, 4)}},
				B: {{A, s(2, 4, 2)}, {C, s(2, 4, 2)}},
				C: {{B, s(2, 2, 4)}},
				D: nil,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, workers := range []int{1, 3} {
				o := DefaultCoOccurrenceOptions()
				o.Workers = workers
				tt.mutate(&o)
				got, err := CoOccurrence(context.Background(), coMatrix(), o)
				if err != nil {
					t.Fatalf("CoOccurrence(%+v): %v", o, err)
				}
				// Scores are computed in float64 and rounded once.
				if diff := cmp.Diff(tt.want, got, cmpopts.EquateApprox(0, 1e-6), cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("CoOccurrence(workers %d) mismatch (-want +got):\n%s", workers, diff)
				}
			}
		})
	}
}

func TestCoOccurrenceSyntheticInvariants(t *testing.T) {
	x := smallLog(t)
	o := DefaultCoOccurrenceOptions()
	o.TopK = 10
	got, err := CoOccurrence(context.Background(), x, o)
	if err != nil {
		t.Fatalf("CoOccurrence: %v", err)
	}
	if len(got) != x.NumItems() {
		t.Fatalf("CoOccurrence returned %d lists, want %d", len(got), x.NumItems())
	}
	for i, ns := range got {
		if len(ns) > o.TopK {
			t.Errorf("item %d: %d neighbours, want at most %d", i, len(ns), o.TopK)
		}
		for k, n := range ns {
			if int(n.Item) == i {
				t.Errorf("item %d is its own neighbour", i)
			}
			if !(n.Score > 0 && n.Score <= 1) {
				t.Errorf("item %d: neighbour %d score %v outside (0, 1]", i, n.Item, n.Score)
			}
			if k > 0 && (ns[k-1].Score < n.Score || ns[k-1].Score == n.Score && ns[k-1].Item > n.Item) {
				t.Errorf("item %d: neighbours out of order at %d: %v", i, k, ns)
			}
		}
		// Cosine is symmetric: j's score for i equals i's score for j when
		// both lists hold the pair.
		for _, n := range ns {
			if k := slices.IndexFunc(got[n.Item], func(m Neighbor) bool { return int(m.Item) == i }); k >= 0 && got[n.Item][k].Score != n.Score {
				t.Errorf("score(%d, %d) = %v but score(%d, %d) = %v", i, n.Item, n.Score, n.Item, i, got[n.Item][k].Score)
			}
		}
	}
}

func TestCoOccurrenceCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := CoOccurrence(ctx, coMatrix(), DefaultCoOccurrenceOptions()); !errors.Is(err, context.Canceled) {
		t.Errorf("CoOccurrence(cancelled) = %v, want context.Canceled", err)
	}
}

func TestCoOccurrenceOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*CoOccurrenceOptions)
		wantErr string
	}{
		{"default", func(*CoOccurrenceOptions) {}, ""},
		{"no top k", func(o *CoOccurrenceOptions) { o.TopK = 0 }, "top k 0"},
		{"no min count", func(o *CoOccurrenceOptions) { o.MinCount = 0 }, "min count 0"},
		{"one item per user", func(o *CoOccurrenceOptions) { o.MaxUserItems = 1 }, "max user items 1"},
		{"no workers", func(o *CoOccurrenceOptions) { o.Workers = 0 }, "workers 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultCoOccurrenceOptions()
			tt.mutate(&o)
			err := o.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestPopularity(t *testing.T) {
	got := Popularity(coMatrix())
	want := []float32{3, 4, 2, 2}
	if !slices.Equal(got, want) {
		t.Errorf("Popularity = %v, want %v", got, want)
	}
}
