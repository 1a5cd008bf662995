package training

import (
	"math"
	"math/rand/v2"
	"slices"
)

// SplitRandom splits x into a training and a test matrix over the same user
// and item index spaces (and ids). For every user with at least two items,
// round(testRatio·n) of their n items, chosen at random but at most n−1, go
// to test and the rest stay in train; users with fewer than two items keep
// everything in train. The split depends only on x, testRatio and seed.
func SplitRandom(x *Interactions, testRatio float64, seed int64) (train, test *Interactions) {
	rng := rand.New(rand.NewPCG(uint64(seed), 0xda3e39cb94b95bdb))
	nu := x.NumUsers()
	trPtr, tePtr := make([]int64, nu+1), make([]int64, nu+1)
	var (
		trIdx, teIdx []int32
		trW, teW     []float32
		perm         []int
		inTest       []bool
	)
	for u := range nu {
		items, ws := x.UserRow(int32(u))
		n := len(items)
		nTest := 0
		if n >= 2 {
			nTest = min(n-1, int(math.Round(testRatio*float64(n))))
		}
		perm = perm[:0]
		for k := range n {
			perm = append(perm, k)
		}
		// Partial Fisher–Yates: the first nTest positions are the sample.
		for k := range nTest {
			j := k + rng.IntN(n-k)
			perm[k], perm[j] = perm[j], perm[k]
		}
		inTest = append(inTest[:0], make([]bool, n)...)
		for _, k := range perm[:nTest] {
			inTest[k] = true
		}
		for k := range n {
			if inTest[k] {
				teIdx, teW = append(teIdx, items[k]), append(teW, ws[k])
			} else {
				trIdx, trW = append(trIdx, items[k]), append(trW, ws[k])
			}
		}
		trPtr[u+1], tePtr[u+1] = int64(len(trIdx)), int64(len(teIdx))
	}
	idx := x.index()
	train = fromCSR(x.Users, x.Items, idx, trPtr, trIdx, trW)
	test = fromCSR(x.Users, x.Items, idx, tePtr, teIdx, teW)
	return train, test
}

// RecallAtK measures how well score ranks held-out items. For every user u
// with at least one test item, score(u, dst) fills dst (one entry per item)
// with u's scores; the user's train items are excluded and the k best
// remaining items (ties to the lower index) are the recommendations. The
// user's recall is the number of test items among them divided by
// min(k, number of test items), so a perfect ranking scores 1 even when the
// user has more than k test items. RecallAtK returns the mean over those
// users, or 0 if there are none. train and test must share index spaces.
func RecallAtK(train, test *Interactions, k int, score func(u int32, dst []float32)) float64 {
	if k < 1 {
		return 0
	}
	var sum float64
	users := 0
	rankTopK(train, test, k, score, func(top, want []int32) {
		users++
		hits := 0
		for _, i := range top {
			if _, ok := slices.BinarySearch(want, i); ok {
				hits++
			}
		}
		sum += float64(hits) / float64(min(k, len(want)))
	})
	if users == 0 {
		return 0
	}
	return sum / float64(users)
}

// rankTopK calls fn, for every user with test items, with the user's k
// best items by score (train items excluded, ties to the lower index) and
// the user's sorted test items. Both slices are reused between calls.
func rankTopK(train, test *Interactions, k int, score func(u int32, dst []float32), fn func(top, want []int32)) {
	ni := train.NumItems()
	scores := make([]float32, ni)
	excluded := make([]bool, ni)
	var top []int32
	for u := range test.NumUsers() {
		want, _ := test.UserRow(int32(u))
		if len(want) == 0 {
			continue
		}
		score(int32(u), scores)
		seen, _ := train.UserRow(int32(u))
		for _, i := range seen {
			excluded[i] = true
		}
		top = topItems(top[:0], scores, excluded, k)
		for _, i := range seen {
			excluded[i] = false
		}
		fn(top, want)
	}
}

// topItems appends to dst the indexes of the k highest scores not excluded,
// best first, ties to the lower index. It keeps a sorted list of at most k
// entries, which is fast for the small k of evaluation.
func topItems(dst []int32, scores []float32, excluded []bool, k int) []int32 {
	better := func(a, b int32) bool {
		if scores[a] != scores[b] {
			return scores[a] > scores[b]
		}
		return a < b
	}
	for i := range scores {
		c := int32(i)
		if excluded[i] || (len(dst) == k && !better(c, dst[k-1])) {
			continue
		}
		pos, _ := slices.BinarySearchFunc(dst, c, func(e, t int32) int {
			if better(e, t) {
				return -1
			}
			return 1
		})
		if len(dst) < k {
			dst = append(dst, 0)
		}
		copy(dst[pos+1:], dst[pos:len(dst)-1])
		dst[pos] = c
	}
	return dst
}
