package training

import (
	"fmt"
	"math"
	"slices"
)

// Metrics are top-k ranking metrics averaged over evaluated users. For one
// user with the ranked recommendations r_1..r_n (n ≤ k; fewer when the
// catalogue runs out), the set T of held-out (test) items, hits h = |{r_j ∈
// T}| and rel_j = 1 if r_j ∈ T else 0:
//
//	precision = h / k                     (k, not n: a short list is penalised)
//	recall    = h / |T|
//	hit rate  = 1 if h > 0 else 0
//	NDCG      = Σ_j rel_j/log₂(j+1) / Σ_{j=1..min(k,|T|)} 1/log₂(j+1)   (binary gain)
//	AP        = Σ_j rel_j·P@j / |T|,  P@j = |{r_1..r_j} ∩ T| / j
//	AP@k      = Σ_j rel_j·P@j / min(k, |T|)
//
// Each is averaged over the users with at least one test item (a user
// without any is not evaluated). Coverage is not per user: it is the number
// of distinct items recommended to any evaluated user divided by the number
// of items in the catalogue.
//
// These are the definitions of the Microsoft Recommenders library
// (recommenders/evaluation/python_evaluation.py) with its "top_k" relevancy
// method. MAP is the mean of AP, normalised by |T| — the definition its
// map_at_k had when the MovieLens benchmark table was published, and that it
// now calls map; MAPAtK is the mean of AP@k, what its map_at_k computes since
// (the Spark MLlib definition). The NDCG logarithm base cancels out.
type Metrics struct {
	K         int     `json:"k"`
	Users     int     `json:"users"` // users evaluated
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	NDCG      float64 `json:"ndcg"`
	MAP       float64 `json:"map"`
	MAPAtK    float64 `json:"map_at_k"`
	HitRate   float64 `json:"hit_rate"`
	Coverage  float64 `json:"coverage"`
}

// String formats the metrics on one line.
func (m Metrics) String() string {
	return fmt.Sprintf("users %d, k %d: precision %.4f, recall %.4f, ndcg %.4f, map %.4f, map@k %.4f, hit rate %.4f, coverage %.4f",
		m.Users, m.K, m.Precision, m.Recall, m.NDCG, m.MAP, m.MAPAtK, m.HitRate, m.Coverage)
}

// Evaluator accumulates Metrics one user at a time. The zero value is not
// usable; call NewEvaluator. An Evaluator is not safe for concurrent use.
type Evaluator struct {
	k, numItems int
	users       int
	sums        Metrics // running sums of the per-user metrics
	recommended []bool  // per catalogue item: recommended to someone
	covered     int
	idcg        []float64 // idcg[n] = Σ_{j=1..n} 1/log₂(j+1)
}

// NewEvaluator returns an Evaluator for the top k of a catalogue of
// numItems items. It panics if k < 1 or numItems < 0.
func NewEvaluator(k, numItems int) *Evaluator {
	if k < 1 || numItems < 0 {
		panic(fmt.Sprintf("training: NewEvaluator(%d, %d): k must be positive, items non-negative", k, numItems))
	}
	e := &Evaluator{k: k, numItems: numItems, recommended: make([]bool, numItems), idcg: make([]float64, k+1)}
	for j := 1; j <= k; j++ {
		e.idcg[j] = e.idcg[j-1] + discount(j)
	}
	return e
}

// discount is the NDCG weight of rank j (1-based).
func discount(j int) float64 { return 1 / math.Log2(float64(j)+1) }

// Add records one user's ranked recommendations (best first; only the
// first k count) against the user's test items, which must be sorted
// ascending and free of duplicates. Item indexes outside the catalogue
// count as misses and are not covered. A user without test items is
// ignored.
func (e *Evaluator) Add(recommended, test []int32) {
	if len(test) == 0 {
		return
	}
	if len(recommended) > e.k {
		recommended = recommended[:e.k]
	}
	e.users++
	for _, item := range recommended {
		if item >= 0 && int(item) < e.numItems && !e.recommended[item] {
			e.recommended[item] = true
			e.covered++
		}
	}
	m := userMetrics(e.k, e.idcg, recommended, test)
	s := &e.sums
	s.Precision += m.Precision
	s.Recall += m.Recall
	s.NDCG += m.NDCG
	s.MAP += m.MAP
	s.MAPAtK += m.MAPAtK
	s.HitRate += m.HitRate
}

// UserMetrics returns one user's metrics at k (Users 1, Coverage 0) for
// ranked recommendations against sorted test items, as Evaluator.Add
// counts them; the averages over users of these are Evaluator.Metrics.
func UserMetrics(k int, recommended, test []int32) Metrics {
	idcg := make([]float64, k+1)
	for j := 1; j <= k; j++ {
		idcg[j] = idcg[j-1] + discount(j)
	}
	if len(recommended) > k {
		recommended = recommended[:k]
	}
	return userMetrics(k, idcg, recommended, test)
}

func userMetrics(k int, idcg []float64, recommended, test []int32) Metrics {
	m := Metrics{K: k}
	if len(test) == 0 {
		return m
	}
	m.Users = 1
	hits := 0
	var dcg, precSum float64
	for j, item := range recommended {
		if _, ok := slices.BinarySearch(test, item); ok {
			hits++
			dcg += discount(j + 1)
			precSum += float64(hits) / float64(j+1)
		}
	}
	nt := len(test)
	m.Precision = float64(hits) / float64(k)
	m.Recall = float64(hits) / float64(nt)
	m.NDCG = dcg / idcg[min(k, nt)]
	m.MAP = precSum / float64(nt)
	m.MAPAtK = precSum / float64(min(k, nt))
	if hits > 0 {
		m.HitRate = 1
	}
	return m
}

// Metrics returns the averages over the users added so far (all zero if
// there were none).
func (e *Evaluator) Metrics() Metrics {
	m := Metrics{K: e.k, Users: e.users}
	if e.numItems > 0 {
		m.Coverage = float64(e.covered) / float64(e.numItems)
	}
	if e.users == 0 {
		return m
	}
	n := float64(e.users)
	m.Precision = e.sums.Precision / n
	m.Recall = e.sums.Recall / n
	m.NDCG = e.sums.NDCG / n
	m.MAP = e.sums.MAP / n
	m.MAPAtK = e.sums.MAPAtK / n
	m.HitRate = e.sums.HitRate / n
	return m
}

// Evaluate ranks, for every user with test items, all items except the
// user's training items by score (ties to the lower index), takes the top
// k and returns the Metrics. score(u, dst) fills dst, one entry per item,
// with u's scores. train and test must share index spaces. This is the
// in-process evaluation used for tuning; polecam eval measures the served
// model instead, through the same metrics.
func Evaluate(train, test *Interactions, k int, score func(u int32, dst []float32)) Metrics {
	e := NewEvaluator(k, train.NumItems())
	rankTopK(train, test, k, score, e.Add)
	return e.Metrics()
}
