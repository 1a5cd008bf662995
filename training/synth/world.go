package synth

import (
	"math"
	"math/rand/v2"
)

// Dim is the length of the hidden latent vectors of users and items.
const Dim = 12

// Parameters of the hidden world. They are constants, not options, so that a
// seed always means the same data.
const (
	itemZipf        = 1.1  // exponent of item popularity
	userPareto      = 1.5  // shape of user activity
	userParetoMax   = 100  // cap on one user's activity, in multiples of the lightest
	proposalTemper  = 0.7  // within a category, candidates are drawn by popularity^temper
	itemNoise       = 0.8  // norm of an item's own part of its vector
	userNoise       = 0.8  // norm of a user's own part of their taste
	tasteBeta       = 12.0 // sharpness of exp(β·taste·item) among the candidates
	tasteCandidates = 16   // candidates re-weighted by taste
	prefCategoryP   = 0.85 // a session category is a preferred one
	switchCategoryP = 0.2  // a view leaves the session's current category
	explorePopularP = 0.05 // a view is a globally popular item
	exploreUniformP = 0.03 // a view is a uniformly random item
	maxViews        = 15   // views per session
)

// Seeds of the independent PCG streams derived from Options.Seed.
const (
	streamWorld   = 0x5eed_0001
	streamEvents  = 0x5eed_0002
	streamCatalog = 0x5eed_0003
	streamLaunch  = 0x5eed_0004 // item launch times (Options.ItemLifetime)
)

// Item lifecycle (Options.ItemLifetime).
const (
	evergreen   = 0.05 // the share of an item's appeal that never fades
	launchTries = 64   // draws before a view settles for an item not launched yet
)

func newRand(seed int64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), stream))
}

// world is the hidden model behind a log: items, users and their preferences.
type world struct {
	items, users, cats int

	itemCat  []int32
	itemVec  [][Dim]float32
	itemPop  []float64
	catItems [][]int32 // items of each category
	catAlias []alias   // popularity within each category, indexes catItems[c]
	popAlias alias     // global item popularity
	catPop   alias     // category popularity: the sum of its items' popularity

	userVec      [][Dim]float32
	userCats     [][3]int32
	userCatN     []uint8
	userCatAlias []alias // over userCats[u][:userCatN[u]]
	activity     alias
	hours        alias

	// launch[i] is item i's launch in seconds since Start, nil when items
	// never age; lifetime is Options.ItemLifetime in seconds.
	launch   []float64
	lifetime float64
}

// hourWeights is the day-night curve of session starts, by hour of day.
var hourWeights = []float64{
	0.30, 0.20, 0.15, 0.10, 0.10, 0.15, 0.30, 0.50, 0.70, 0.80, 0.90, 1.00,
	1.00, 0.95, 0.90, 0.90, 0.95, 1.00, 1.10, 1.30, 1.40, 1.30, 1.00, 0.60,
}

func newWorld(o Options) *world {
	r := newRand(o.Seed, streamWorld)
	w := &world{items: o.Items, users: o.Users, cats: o.Categories}
	if o.ItemLifetime > 0 {
		// A stream of its own, so the rest of the world (and, without the
		// option, the whole log) is the same as without it.
		lr := newRand(o.Seed, streamLaunch)
		span := float64(o.Days) * 86400
		w.launch = make([]float64, w.items)
		for i := range w.launch {
			w.launch[i] = (2*lr.Float64() - 1) * span
		}
		w.lifetime = o.ItemLifetime.Seconds()
	}

	// Category centroids: random unit vectors.
	centroids := make([]float32, w.cats*Dim)
	for c := range w.cats {
		gaussian(r, centroids[c*Dim:(c+1)*Dim], 1)
		normalize(centroids[c*Dim : (c+1)*Dim])
	}

	// Items: uneven category sizes, every category non-empty.
	catWeights := make([]float64, w.cats)
	for c := range catWeights {
		catWeights[c] = 1 / math.Sqrt(float64(c+1))
	}
	catDraw := newAlias(catWeights)
	perm := r.Perm(w.items)
	w.itemCat = make([]int32, w.items)
	for k, i := range perm {
		if k < w.cats {
			w.itemCat[i] = int32(k)
		} else {
			w.itemCat[i] = int32(catDraw.sample(r))
		}
	}
	w.itemVec = make([][Dim]float32, w.items)
	for i := range w.items {
		v := w.itemVec[i][:]
		gaussian(r, v, itemNoise/math.Sqrt(Dim))
		c := int(w.itemCat[i])
		for d := range Dim {
			v[d] += centroids[c*Dim+d]
		}
	}
	// Popularity: Zipf over a fresh permutation, unrelated to categories.
	w.itemPop = make([]float64, w.items)
	for rank, i := range r.Perm(w.items) {
		w.itemPop[i] = math.Pow(float64(rank+1), -itemZipf)
	}
	w.popAlias = newAlias(w.itemPop)

	w.catItems = make([][]int32, w.cats)
	for i, c := range w.itemCat {
		w.catItems[c] = append(w.catItems[c], int32(i))
	}
	w.catAlias = make([]alias, w.cats)
	popSum := make([]float64, w.cats)
	for c, items := range w.catItems {
		weights := make([]float64, len(items))
		for k, i := range items {
			weights[k] = math.Pow(w.itemPop[i], proposalTemper)
			popSum[c] += w.itemPop[i]
		}
		w.catAlias[c] = newAlias(weights)
	}
	w.catPop = newAlias(popSum)

	// Users: preferred categories, taste, activity.
	w.userVec = make([][Dim]float32, w.users)
	w.userCats = make([][3]int32, w.users)
	w.userCatN = make([]uint8, w.users)
	w.userCatAlias = make([]alias, w.users)
	activity := make([]float64, w.users)
	var prefWeights [3]float64
	for u := range w.users {
		n := 1
		switch x := r.Float64(); {
		case x < 0.20:
			n = 3
		case x < 0.55:
			n = 2
		}
		n = min(n, w.cats)
		k := 0
		for k < n {
			c := int32(r.IntN(w.cats))
			dup := false
			for _, have := range w.userCats[u][:k] {
				dup = dup || have == c
			}
			if !dup {
				w.userCats[u][k] = c
				prefWeights[k] = 0.2 + r.ExpFloat64()
				k++
			}
		}
		w.userCatN[u] = uint8(n)
		w.userCatAlias[u] = newAlias(prefWeights[:n])

		v := w.userVec[u][:]
		gaussian(r, v, userNoise/math.Sqrt(Dim))
		var total float64
		for _, pw := range prefWeights[:n] {
			total += pw
		}
		for k, c := range w.userCats[u][:n] {
			s := float32(prefWeights[k] / total)
			for d := range Dim {
				v[d] += float32(s * centroids[int(c)*Dim+d])
			}
		}
		// Pareto(α) by inversion, capped so one user cannot dominate.
		activity[u] = min(math.Pow(1-r.Float64(), -1/userPareto), userParetoMax)
	}
	w.activity = newAlias(activity)
	w.hours = newAlias(hourWeights)
	return w
}

// affinity is the user's taste for the item.
func (w *world) affinity(u, i int) float32 {
	a, b := &w.userVec[u], &w.itemVec[i]
	var s float32
	for d := range Dim {
		s += float32(a[d] * b[d]) // the conversion forbids FMA fusion, which would vary by CPU
	}
	return s
}

// sessionCategory picks the category a session (or a switch within one)
// browses.
func (w *world) sessionCategory(r *rand.Rand, u int) int {
	if r.Float64() < prefCategoryP {
		return int(w.userCats[u][w.userCatAlias[u].sample(r)])
	}
	return w.catPop.sample(r)
}

// appeal is item i's share of its popularity at t seconds after Start: 1
// when items never age, 0 before the item's launch, then evergreen +
// (1 − evergreen)·exp(−age/lifetime).
func (w *world) appeal(i int, t uint32) float64 {
	if w.launch == nil {
		return 1
	}
	age := float64(t) - w.launch[i]
	if age < 0 {
		return 0
	}
	return evergreen + (1-evergreen)*math.Exp(-age/w.lifetime)
}

// pickItem chooses the item user u views while browsing category c at t
// seconds after Start.
func (w *world) pickItem(r *rand.Rand, u, c int, t uint32) int {
	x := r.Float64()
	switch {
	case x < explorePopularP:
		return w.draw(r, t, w.popAlias.sample)
	case x < explorePopularP+exploreUniformP:
		return w.draw(r, t, func(r *rand.Rand) int { return r.IntN(w.items) })
	}
	// Sampling-importance-resampling: candidates by popularity, one of them
	// by exp(β·affinity) (times the item's appeal at t), which approximates
	// popularity × exp(β·affinity) × appeal.
	items := w.catItems[c]
	var cand [tasteCandidates]int
	var weight [tasteCandidates]float64
	for try := 0; ; try++ {
		var total float64
		for k := range cand {
			i := int(items[w.catAlias[c].sample(r)])
			cand[k] = i
			weight[k] = tasteWeight(w.affinity(u, i))
			if w.launch != nil {
				weight[k] *= w.appeal(i, t)
			}
			total += weight[k]
		}
		if total == 0 && try < launchTries {
			continue // none launched yet: draw again
		}
		y := r.Float64() * total
		for k := range cand {
			y -= weight[k]
			if y < 0 {
				return cand[k]
			}
		}
		return cand[tasteCandidates-1]
	}
}

// draw returns an item from sample accepted with probability its appeal at
// t (rejection sampling), the last one drawn after launchTries refusals.
func (w *world) draw(r *rand.Rand, t uint32, sample func(*rand.Rand) int) int {
	i := sample(r)
	if w.launch == nil {
		return i
	}
	for try := 0; try < launchTries && r.Float64() >= w.appeal(i, t); try++ {
		i = sample(r)
	}
	return i
}

// tasteTable holds exp(β·a) for affinities a in steps of 1/tasteSteps over
// [-tasteRange, tasteRange]: a lookup is several times faster than math.Exp,
// which dominated generation time.
const (
	tasteRange = 4
	tasteSteps = 128
)

var tasteTable = func() []float64 {
	t := make([]float64, 2*tasteRange*tasteSteps+1)
	for k := range t {
		t[k] = math.Exp(tasteBeta * (float64(k)/tasteSteps - tasteRange))
	}
	return t
}()

func tasteWeight(a float32) float64 {
	k := int((a+tasteRange)*tasteSteps + 0.5)
	return tasteTable[min(max(k, 0), len(tasteTable)-1)]
}

func gaussian(r *rand.Rand, v []float32, sd float64) {
	for d := range v {
		v[d] = float32(r.NormFloat64() * sd)
	}
}

func normalize(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		v[0], s = 1, 1
	}
	n := float32(1 / math.Sqrt(s))
	for d := range v {
		v[d] *= n
	}
}

// alias is Vose's alias table: O(1) sampling from a fixed discrete
// distribution.
type alias struct {
	prob  []float64
	alias []int32
}

// newAlias builds the table for weights, which must be non-negative with a
// positive sum.
func newAlias(weights []float64) alias {
	n := len(weights)
	a := alias{prob: make([]float64, n), alias: make([]int32, n)}
	var total float64
	for _, x := range weights {
		total += x
	}
	scaled := make([]float64, n)
	small := make([]int32, 0, n)
	large := make([]int32, 0, n)
	for i, x := range weights {
		scaled[i] = x * float64(n) / total
		if scaled[i] < 1 {
			small = append(small, int32(i))
		} else {
			large = append(large, int32(i))
		}
	}
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		a.prob[s] = scaled[s]
		a.alias[s] = l
		scaled[l] -= 1 - scaled[s]
		if scaled[l] < 1 {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	for _, i := range large {
		a.prob[i] = 1
	}
	for _, i := range small { // only left by rounding
		a.prob[i] = 1
	}
	return a
}

// sample draws an index. One 64-bit draw gives both the column (high half,
// by multiply-shift) and the coin (low half): half the work of two draws.
func (a *alias) sample(r *rand.Rand) int {
	x := r.Uint64()
	i := int((x >> 32) * uint64(len(a.prob)) >> 32)
	if float64(uint32(x))*(1.0/(1<<32)) < a.prob[i] {
		return i
	}
	return int(a.alias[i])
}
