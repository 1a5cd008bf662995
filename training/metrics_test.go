package training

import (
	"math"
	"testing"
)

func TestEvaluatorPerUser(t *testing.T) {
	const tol = 1e-6
	l2 := func(j float64) float64 { return 1 / math.Log2(j+1) }
	tests := []struct {
		name        string
		rec, test   []int32
		want        Metrics // K, Users, Coverage ignored here
		wantCovered int
	}{
		{
			// One hit at rank 2 of 3; two test items.
			name: "hit at rank 2", rec: []int32{1, 2, 3}, test: []int32{2, 5},
			want: Metrics{Precision: 1.0 / 3, Recall: 1.0 / 2, NDCG: l2(2) / (l2(1) + l2(2)),
				MAP: (1.0 / 2) / 2, MAPAtK: (1.0 / 2) / 2, HitRate: 1},
			wantCovered: 3,
		},
		{
			// Hits at ranks 1 and 3; four test items, more than k.
			name: "more test items than k", rec: []int32{4, 5, 6}, test: []int32{4, 6, 7, 8},
			want: Metrics{Precision: 2.0 / 3, Recall: 2.0 / 4, NDCG: (l2(1) + l2(3)) / (l2(1) + l2(2) + l2(3)),
				MAP: (1 + 2.0/3) / 4, MAPAtK: (1 + 2.0/3) / 3, HitRate: 1},
			wantCovered: 3,
		},
		{
			// A short list still divides precision by k.
			name: "short list, no hit", rec: []int32{9}, test: []int32{1},
			want: Metrics{}, wantCovered: 1,
		},
		{
			// Only the first k count.
			name: "longer than k", rec: []int32{0, 1, 2, 3}, test: []int32{3},
			want: Metrics{}, wantCovered: 3,
		},
		{
			name: "all hits", rec: []int32{0, 1, 2}, test: []int32{0, 1, 2},
			want: Metrics{Precision: 1, Recall: 1, NDCG: 1, MAP: 1, MAPAtK: 1, HitRate: 1}, wantCovered: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEvaluator(3, 10)
			e.Add(tt.rec, tt.test)
			got := e.Metrics()
			if got.Users != 1 || got.K != 3 {
				t.Fatalf("Metrics() users %d k %d, want 1 and 3", got.Users, got.K)
			}
			for _, c := range []struct {
				name      string
				got, want float64
			}{
				{"precision", got.Precision, tt.want.Precision},
				{"recall", got.Recall, tt.want.Recall},
				{"ndcg", got.NDCG, tt.want.NDCG},
				{"map", got.MAP, tt.want.MAP},
				{"map@k", got.MAPAtK, tt.want.MAPAtK},
				{"hit rate", got.HitRate, tt.want.HitRate},
				{"coverage", got.Coverage, float64(tt.wantCovered) / 10},
			} {
				if math.Abs(c.got-c.want) > tol {
					t.Errorf("Add(%v, %v): %s = %.6f, want %.6f", tt.rec, tt.test, c.name, c.got, c.want)
				}
			}
		})
	}
}

// TestEvaluatorAverages checks the averaging over users and that users
// without test items are not counted.
func TestEvaluatorAverages(t *testing.T) {
	e := NewEvaluator(3, 10)
	e.Add([]int32{1, 2, 3}, []int32{2, 5})       // precision 1/3, recall 1/2
	e.Add([]int32{4, 5, 6}, []int32{4, 6, 7, 8}) // precision 2/3, recall 1/2
	e.Add([]int32{9}, []int32{1})                // all zero
	e.Add([]int32{0}, nil)                       // not evaluated
	got := e.Metrics()
	want := Metrics{K: 3, Users: 3, Precision: 1.0 / 3, Recall: 1.0 / 3, HitRate: 2.0 / 3, Coverage: 7.0 / 10,
		MAP: (0.25 + (1+2.0/3)/4) / 3}
	if got.Users != want.Users || math.Abs(got.Precision-want.Precision) > 1e-9 || math.Abs(got.Recall-want.Recall) > 1e-9 ||
		math.Abs(got.HitRate-want.HitRate) > 1e-9 || math.Abs(got.Coverage-want.Coverage) > 1e-9 || math.Abs(got.MAP-want.MAP) > 1e-9 {
		t.Errorf("Metrics() = %+v, want %+v", got, want)
	}
	if empty := NewEvaluator(10, 5).Metrics(); empty.Users != 0 || empty.Precision != 0 {
		t.Errorf("empty Metrics() = %+v, want zeros", empty)
	}
}

// TestEvaluateExcludesTrain checks that Evaluate never recommends a
// training item: a scorer that prefers them must still be ranked on the
// rest.
func TestEvaluateExcludesTrain(t *testing.T) {
	b := NewBuilder()
	b.Add("u", "a", 1)
	b.Add("u", "b", 1)
	b.Add("u", "c", 1)
	b.Add("v", "a", 1)
	x := b.Build()
	toTest := make([]bool, x.NNZ())
	// Item c of user u (CSC order: a:{u,v}, b:{u}, c:{u}) goes to test.
	toTest[3] = true
	train, test := splitByEntry(x, toTest)
	// Scores: a 3, b 2, c 1 for everyone; a and b are u's training items.
	m := Evaluate(train, test, 1, func(_ int32, dst []float32) { copy(dst, []float32{3, 2, 1}) })
	if m.Users != 1 || m.Precision != 1 || m.NDCG != 1 {
		t.Errorf("Evaluate = %+v, want one user with precision and ndcg 1", m)
	}
}

// TestUserMetricsAverage checks that the Evaluator's averages are the
// means of UserMetrics, which the quality gate pairs user by user.
func TestUserMetricsAverage(t *testing.T) {
	cases := [][2][]int32{{{1, 2, 3, 7}, {2, 5}}, {{4, 5, 6}, {4, 6, 7, 8}}, {{9}, {1}}}
	e := NewEvaluator(3, 10)
	var sum Metrics
	for _, c := range cases {
		e.Add(c[0], c[1])
		u := UserMetrics(3, c[0], c[1])
		sum.NDCG += u.NDCG
		sum.Recall += u.Recall
		sum.Precision += u.Precision
		sum.MAP += u.MAP
	}
	got := e.Metrics()
	n := float64(len(cases))
	for _, d := range []struct {
		name      string
		got, want float64
	}{{"ndcg", got.NDCG, sum.NDCG / n}, {"recall", got.Recall, sum.Recall / n},
		{"precision", got.Precision, sum.Precision / n}, {"map", got.MAP, sum.MAP / n}} {
		if math.Abs(d.got-d.want) > 1e-12 {
			t.Errorf("Evaluator %s %v, mean of UserMetrics %v", d.name, d.got, d.want)
		}
	}
	if u := UserMetrics(3, []int32{1}, nil); u.Users != 0 || u.NDCG != 0 {
		t.Errorf("UserMetrics without test items = %+v, want zeros", u)
	}
}
