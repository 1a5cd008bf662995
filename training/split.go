package training

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// SplitStratifiedItem splits x into a training and a test matrix over the
// same user and item index spaces (and ids), stratified by item: each item's
// interactions are put in a random order and the j-th of n (1-based) goes
// to training when j/n ≤ 1 − testRatio, to test otherwise.
//
// These are the semantics of python_stratified_split(ratio=1−testRatio,
// filter_by="item") in Microsoft Recommenders (recommenders/datasets/
// python_splitters.py), which ranks the rows of each item in a random order
// and keeps those with rank/count ≤ ratio. So an item keeps ⌊(1−testRatio)·n⌋
// of its n interactions for training (up to floating-point rounding of j/n,
// computed as here in float64) and at least one goes to test: an item with a
// single interaction is entirely in test. Recommenders shuffles with numpy's
// generator and this function with math/rand/v2's PCG seeded by seed, so the
// counts per item are the same but the chosen rows differ.
//
// testRatio must lie in (0, 1). The split depends only on x, testRatio and
// seed.
func SplitStratifiedItem(x *Interactions, testRatio float64, seed int64) (train, test *Interactions, err error) {
	if !(testRatio > 0 && testRatio < 1) {
		return nil, nil, fmt.Errorf("split: test ratio %v, want strictly between 0 and 1", testRatio)
	}
	ratio := 1 - testRatio
	rng := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	// toTest[p] for each entry p of the CSC form.
	toTest := make([]bool, len(x.ItemUsers))
	var perm []int
	for i := range x.NumItems() {
		lo, hi := int(x.ItemPtr[i]), int(x.ItemPtr[i+1])
		n := hi - lo
		perm = perm[:0]
		for k := range n {
			perm = append(perm, k)
		}
		rng.Shuffle(n, func(a, b int) { perm[a], perm[b] = perm[b], perm[a] })
		for rank, k := range perm {
			if float64(rank+1)/float64(n) > ratio {
				toTest[lo+k] = true
			}
		}
	}
	train, test = splitByEntry(x, toTest)
	return train, test, nil
}

// splitByEntry builds the train and test matrices of x given, for every
// entry of its CSC form, whether it goes to test.
func splitByEntry(x *Interactions, toTest []bool) (train, test *Interactions) {
	nu := x.NumUsers()
	trPtr, tePtr := make([]int64, nu+1), make([]int64, nu+1)
	for p, u := range x.ItemUsers {
		if toTest[p] {
			tePtr[u+1]++
		} else {
			trPtr[u+1]++
		}
	}
	for u := range nu {
		trPtr[u+1] += trPtr[u]
		tePtr[u+1] += tePtr[u]
	}
	trIdx, trW := make([]int32, trPtr[nu]), make([]float32, trPtr[nu])
	teIdx, teW := make([]int32, tePtr[nu]), make([]float32, tePtr[nu])
	trNext, teNext := append([]int64(nil), trPtr[:nu]...), append([]int64(nil), tePtr[:nu]...)
	// Walking items in ascending order keeps every user row sorted.
	for i := range x.NumItems() {
		for p := x.ItemPtr[i]; p < x.ItemPtr[i+1]; p++ {
			u, w := x.ItemUsers[p], x.ItemWeights[p]
			if toTest[p] {
				teIdx[teNext[u]], teW[teNext[u]] = int32(i), w
				teNext[u]++
			} else {
				trIdx[trNext[u]], trW[trNext[u]] = int32(i), w
				trNext[u]++
			}
		}
	}
	idx := x.index()
	return fromCSR(x.Users, x.Items, idx, trPtr, trIdx, trW), fromCSR(x.Users, x.Items, idx, tePtr, teIdx, teW)
}

// HoldoutBuilder accumulates timestamped events like Builder and splits
// them at a cutoff time, for a time-based holdout: "train on everything
// before the last N days, test on what users did in them".
//
// A (user, item) pair with at least one event before the cutoff goes to
// training, weighted by the sum of its events before the cutoff; a pair
// whose events all lie at or after the cutoff goes to test, weighted by
// their sum. So the test matrix holds only interactions new in the holdout
// window, and nothing a user did after the cutoff leaks into training. Both
// matrices share one index space: users and items seen only after the
// cutoff are in the catalogue but have no training interactions (a served
// model falls back to popularity for such users and never ranks such items
// by factors).
type HoldoutBuilder struct {
	cutoff time.Time
	ids    *Builder           // assigns the shared dense indexes
	before map[uint64]float32 // pair -> summed weight before the cutoff
	after  map[uint64]float32 // pair -> summed weight at or after it
}

// NewHoldoutBuilder returns an empty HoldoutBuilder splitting at cutoff.
func NewHoldoutBuilder(cutoff time.Time) *HoldoutBuilder {
	return &HoldoutBuilder{
		cutoff: cutoff,
		ids:    NewBuilder(),
		before: make(map[uint64]float32),
		after:  make(map[uint64]float32),
	}
}

// Add records an event of the given weight between user and item at t.
func (h *HoldoutBuilder) Add(user, item string, weight float32, t time.Time) {
	// Builder.Add assigns the shared indexes; the pair it records is
	// replaced at Build.
	h.ids.Add(user, item, 0)
	key := uint64(h.ids.userIdx[user])<<32 | uint64(uint32(h.ids.itemIdx[item]))
	if t.Before(h.cutoff) {
		h.before[key] += weight
	} else {
		h.after[key] += weight
	}
}

// AddEvent is Add for an event of a kind (its type as logged): as
// Builder.AddEvent does, the training matrix records each pair's latest
// time of each kind before the cutoff (Interactions.EventTimes), so that
// what is trained on it sees the same times as a model trained on all the
// events would. The test matrix records none.
func (h *HoldoutBuilder) AddEvent(user, item, kind string, weight float32, t time.Time) {
	if t.Before(h.cutoff) {
		h.ids.AddEvent(user, item, kind, 0, t)
	}
	h.Add(user, item, weight, t)
}

// Build returns the training and test matrices of everything added so far.
// Pairs whose summed weight is not positive and finite are dropped, as in
// Builder.Build. The HoldoutBuilder may be used again afterwards.
func (h *HoldoutBuilder) Build() (train, test *Interactions) {
	b := h.ids
	saved := b.pairs
	defer func() { b.pairs = saved }()
	b.pairs = h.before
	train = b.Build()
	onlyAfter := make(map[uint64]float32, len(h.after))
	for key, w := range h.after {
		if !keep(h.before[key]) {
			onlyAfter[key] = w
		}
	}
	b.pairs = onlyAfter
	test = b.Build()
	test.EventKinds, test.EventTimes = nil, nil
	return train, test
}

// LastSeen says when a (user, item) pair was last seen: Time (for
// example Unix nanoseconds of its last event) and, to break ties between
// pairs of one user last seen at the same Time, Seq (for example the
// position of that event in the log as read). Larger is later.
type LastSeen struct {
	Time, Seq int64
}

// SplitLeaveLastOut splits x into a training and a test matrix over the
// same user and item index spaces, holding out each user's n most recent
// pairs: the n entries of the user's row with the latest last[p] (p
// indexing x's CSR form, UserItems), comparing Time and then Seq. A user
// with n or fewer pairs stays entirely in training and is not tested, so
// every tested user keeps at least one training pair. Ties between pairs
// with equal Time and Seq (which a caller numbering events never produces)
// go to the larger item index.
//
// This is the usual protocol for session-style data ("leave last out":
// predict what each user did last from what they did before).
func SplitLeaveLastOut(x *Interactions, last []LastSeen, n int) (train, test *Interactions, err error) {
	if n < 1 {
		return nil, nil, fmt.Errorf("split: leave-last-out of %d pairs per user, want ≥ 1", n)
	}
	if len(last) != x.NNZ() {
		return nil, nil, fmt.Errorf("split: %d last-seen times for %d interactions", len(last), x.NNZ())
	}
	nu := x.NumUsers()
	trPtr, tePtr := make([]int64, nu+1), make([]int64, nu+1)
	var trIdx, teIdx []int32
	var trW, teW []float32
	var order []int
	toTest := make([]bool, 0, 16)
	for u := range nu {
		lo, hi := int(x.UserPtr[u]), int(x.UserPtr[u+1])
		toTest = toTest[:0]
		for range hi - lo {
			toTest = append(toTest, false)
		}
		if hi-lo > n {
			order = order[:0]
			for k := range hi - lo {
				order = append(order, k)
			}
			// Latest first; a full tie goes to the larger item index (the
			// row is sorted by item, so to the larger k).
			later := func(a, b int) bool {
				la, lb := last[lo+a], last[lo+b]
				if la.Time != lb.Time {
					return la.Time > lb.Time
				}
				if la.Seq != lb.Seq {
					return la.Seq > lb.Seq
				}
				return a > b
			}
			slices.SortFunc(order, func(a, b int) int {
				switch {
				case later(a, b):
					return -1
				case later(b, a):
					return 1
				}
				return 0
			})
			for _, k := range order[:n] {
				toTest[k] = true
			}
		}
		for k := range hi - lo {
			i, w := x.UserItems[lo+k], x.UserWeights[lo+k]
			if toTest[k] {
				teIdx, teW = append(teIdx, i), append(teW, w)
			} else {
				trIdx, trW = append(trIdx, i), append(trW, w)
			}
		}
		trPtr[u+1], tePtr[u+1] = int64(len(trIdx)), int64(len(teIdx))
	}
	idx := x.index()
	return fromCSR(x.Users, x.Items, idx, trPtr, trIdx, trW), fromCSR(x.Users, x.Items, idx, tePtr, teIdx, teW), nil
}

// Reindex returns x's interactions in the index spaces of to (matched by
// id), leaving out the users and items to does not know: for example a
// validation part measured against a fitting part that the minimum-support
// filters re-indexed. It returns x itself when both have the same ids.
func Reindex(x, to *Interactions) *Interactions {
	if sameIDs(x.Users, to.Users) && sameIDs(x.Items, to.Items) {
		return x
	}
	itemTo := make([]int32, x.NumItems())
	for i, id := range x.Items {
		j, ok := to.ItemIndex(id)
		if !ok {
			j = -1
		}
		itemTo[i] = j
	}
	rows := make([][]int32, to.NumUsers())
	weights := make([][]float32, to.NumUsers())
	for u, id := range x.Users {
		v, ok := to.UserIndex(id)
		if !ok {
			continue
		}
		items, w := x.UserRow(int32(u))
		for k, i := range items {
			if j := itemTo[i]; j >= 0 {
				rows[v] = append(rows[v], j)
				weights[v] = append(weights[v], w[k])
			}
		}
	}
	ptr := make([]int64, to.NumUsers()+1)
	var cols []int32
	var ws []float32
	for v := range rows {
		sortRow(rows[v], weights[v])
		cols, ws = append(cols, rows[v]...), append(ws, weights[v]...)
		ptr[v+1] = int64(len(cols))
	}
	return fromCSR(to.Users, to.Items, to.index(), ptr, cols, ws)
}

// sameIDs reports whether a and b hold the same ids in the same order.
func sameIDs(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0] || slices.Equal(a, b))
}
