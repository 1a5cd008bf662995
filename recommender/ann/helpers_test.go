package ann

import (
	"math/rand/v2"

	"github.com/polecam/polecam/recommender/dot"
)

// clustered returns rows x dims floats (stride dims): a seeded mixture of
// Gaussians whose rows have varied norms, as factor vectors do (popular
// items have long vectors), which is what makes inner-product search
// differ from cosine search.
func clustered(seed uint64, rows, dims int) []float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	const clusters = 50
	centres := make([]float32, clusters*dims)
	for i := range centres {
		centres[i] = float32(r.NormFloat64())
	}
	data := make([]float32, rows*dims)
	for i := range rows {
		c := centres[r.IntN(clusters)*dims:][:dims]
		scale := float32(0.3 + r.ExpFloat64()*0.5)
		for j := range dims {
			data[i*dims+j] = scale * (c[j] + 0.6*float32(r.NormFloat64()))
		}
	}
	return data
}

// queries returns n seeded query vectors drawn like the rows.
func queries(seed uint64, n, dims int) [][]float32 {
	flat := clustered(seed, n, dims)
	qs := make([][]float32, n)
	for i := range qs {
		qs[i] = flat[i*dims : (i+1)*dims]
	}
	return qs
}

// exact returns the exact inner-product top k of q among the rows that
// pass filter, best first, ties by row.
func exact(data []float32, rows, dims, stride int, q []float32, k int, filter Filter) []Result {
	if k <= 0 {
		return nil
	}
	scores := make([]float32, rows)
	dot.Scores(scores, data, stride, q)
	return exactTop(scores, k, filter)
}

// recall is the share of want's items found in got.
func recall(got, want []Result) float64 {
	if len(want) == 0 {
		return 1
	}
	in := make(map[int32]bool, len(got))
	for _, r := range got {
		in[r.Item] = true
	}
	hit := 0
	for _, r := range want {
		if in[r.Item] {
			hit++
		}
	}
	return float64(hit) / float64(len(want))
}

// meanRecall searches every query and returns the mean recall@k against
// the exact answer.
func meanRecall(ix *Index, data []float32, qs [][]float32, k, ef int, filter Filter) float64 {
	s := NewScratch(ix)
	var sum float64
	var dst []Result
	for _, q := range qs {
		dst = ix.Search(q, k, ef, filter, dst, s)
		sum += recall(dst, exact(data, ix.rows, ix.dims, ix.stride, q, k, filter))
	}
	return sum / float64(len(qs))
}
