package recommender

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// referenceTop ranks scores by a full sort: the obviously correct answer
// topN must agree with.
func referenceTop(scores []float32, n int) []candidate {
	var all []candidate
	for i, s := range scores {
		if s > negInf {
			all = append(all, candidate{Index: int32(i), Score: s})
		}
	}
	slices.SortFunc(all, compareRank)
	return all[:min(n, len(all))]
}

func TestTopNSmall(t *testing.T) {
	negInf := float32(math.Inf(-1))
	nan := float32(math.NaN())
	tests := []struct {
		name   string
		scores []float32
		n      int
		want   []candidate
	}{
		{"empty", nil, 3, nil},
		{"zero n", []float32{1, 2, 3}, 0, nil},
		{"n larger than input", []float32{1, 3, 2}, 5, []candidate{{1, 3}, {2, 2}, {0, 1}}},
		{"picks best", []float32{0.5, 0.9, 0.1, 0.7, 0.3}, 2, []candidate{{1, 0.9}, {3, 0.7}}},
		{"ties by index", []float32{1, 2, 2, 1, 2}, 2, []candidate{{1, 2}, {2, 2}}},
		{"all tied", []float32{0, 0, 0, 0}, 3, []candidate{{0, 0}, {1, 0}, {2, 0}}},
		{"skips -Inf", []float32{negInf, 1, negInf, 0}, 3, []candidate{{1, 1}, {3, 0}}},
		{"skips NaN", []float32{nan, -1, nan, -2}, 4, []candidate{{1, -1}, {3, -2}}},
		{"negative scores", []float32{-3, -1, -2}, 2, []candidate{{1, -1}, {2, -2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, mode := range []string{"pushScores", "push"} {
				var top topN
				top.reset(tt.n)
				if mode == "pushScores" {
					top.pushScores(tt.scores, 0)
				} else {
					for i, s := range tt.scores {
						top.push(candidate{Index: int32(i), Score: s})
					}
				}
				got := top.appendSorted(nil)
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("%s(%v, n=%d) mismatch (-want +got):\n%s", mode, tt.scores, tt.n, diff)
				}
			}
		})
	}
}

// TestTopNRandom compares topN with a full sort over seeded random scores
// drawn from a small set of values, so ties are frequent, pushed in scan
// order, in shuffled order, and in chunks merged afterwards.
func TestTopNRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		size := rng.IntN(300)
		scores := make([]float32, size)
		for i := range scores {
			switch rng.IntN(10) {
			case 0:
				scores[i] = negInf
			default:
				scores[i] = float32(rng.IntN(20)) - 10
			}
		}
		n := rng.IntN(40)
		want := referenceTop(scores, n)

		var scan topN
		scan.reset(n)
		scan.pushScores(scores, 0)
		if diff := cmp.Diff(want, scan.appendSorted(nil), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("trial %d: pushScores(size=%d, n=%d) mismatch (-want +got):\n%s", trial, size, n, diff)
		}

		var shuffled topN
		shuffled.reset(n)
		for _, i := range rng.Perm(size) {
			shuffled.push(candidate{Index: int32(i), Score: scores[i]})
		}
		if diff := cmp.Diff(want, shuffled.appendSorted(nil), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("trial %d: shuffled push(size=%d, n=%d) mismatch (-want +got):\n%s", trial, size, n, diff)
		}

		// Split the scan in chunks as parallel workers would, then merge.
		chunks := 1 + rng.IntN(4)
		var merged topN
		merged.reset(n)
		for c := range chunks {
			lo, hi := c*size/chunks, (c+1)*size/chunks
			var part topN
			part.reset(n)
			part.pushScores(scores[lo:hi], int32(lo))
			merged.merge(&part)
		}
		if diff := cmp.Diff(want, merged.appendSorted(nil), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("trial %d: merge of %d chunks (size=%d, n=%d) mismatch (-want +got):\n%s", trial, chunks, size, n, diff)
		}
	}
}

func TestTopNReuse(t *testing.T) {
	var top topN
	top.reset(2)
	top.pushScores([]float32{5, 4, 3}, 0)
	first := top.appendSorted(nil)
	top.reset(1)
	top.pushScores([]float32{1, 2}, 10)
	got := top.appendSorted(first)
	want := []candidate{{0, 5}, {1, 4}, {11, 2}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reused topN mismatch (-want +got):\n%s", diff)
	}
}

func BenchmarkTopN(b *testing.B) {
	for _, size := range []int{100_000, 1_000_000} {
		for _, n := range []int{10, 100, 1000} {
			b.Run(fmt.Sprintf("catalogue=%d/n=%d", size, n), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(3, 4))
				scores := make([]float32, size)
				for i := range scores {
					scores[i] = rng.Float32()
				}
				var top topN
				dst := make([]candidate, 0, n)
				b.ReportAllocs()
				for b.Loop() {
					top.reset(n)
					top.pushScores(scores, 0)
					dst = top.appendSorted(dst[:0])
				}
			})
		}
	}
}

// TestRankKeyOrdersLikeBetter compares rankKey with better on every pair
// of a set of candidates with special and tied scores.
func TestRankKeyOrdersLikeBetter(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	inf := float32(math.Inf(1))
	scores := []float32{-inf, -3.5, -1, -math.SmallestNonzeroFloat32, negZero, 0,
		math.SmallestNonzeroFloat32, 1, 1.0000001, 3.5, math.MaxFloat32, inf}
	var cands []candidate
	for _, s := range scores {
		for _, i := range []int32{0, 1, 7, math.MaxInt32} {
			cands = append(cands, candidate{Index: i, Score: s})
		}
	}
	for _, a := range cands {
		for _, b := range cands {
			if got, want := rankKey(a) > rankKey(b), better(a, b); got != want {
				t.Errorf("rankKey(%v) > rankKey(%v) = %v, want better() = %v", a, b, got, want)
			}
		}
	}
}
