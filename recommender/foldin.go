package recommender

import (
	"math"
	"slices"

	"github.com/polecam/polecam/recommender/dot"
	"github.com/polecam/polecam/store"
)

// foldIn holds what a request-time fold-in needs: the trainer's
// confidence scale and regularisation and the Gram matrix YᵀY of the
// served item factors (see the store's fold-in file).
type foldIn struct {
	dims       int
	alpha      float64 // c = 1 + alpha·w
	viewWeight float64 // the weight w of a session click
	yty        []float64
	yty32      []float32 // yty in float32, for the vector kernel
	// reg is λ for a user whose interaction weights sum to w.
	reg func(w float64) float64
	// seenW reads a trained user's items with their weights, or is nil
	// when the snapshot does not keep them.
	seenW func(user int32, buf []store.Neighbor) ([]store.Neighbor, error)
}

// foldEntry is one interaction of a fold-in: an item and c − 1 = α·w.
type foldEntry struct {
	item int32
	c1   float64
}

// foldScratch is the fold-in's working memory.
type foldScratch struct {
	x, r, p, ap, b []float64
	out            []float32
	entries        []foldEntry
	weights        []store.Neighbor
	// The entries' vectors gathered, as rows (yh, k × d) and as columns
	// (yhT, d × k), their c − 1 (c1), and the kernel's vectors.
	yh, yhT, c1     []float32
	v32, t1, t2, t3 []float32
	es              []foldEntry // the entries gathered
}

func (f *foldScratch) size(d int) {
	if len(f.x) != d {
		f.x, f.r, f.p, f.ap, f.b = make([]float64, d), make([]float64, d), make([]float64, d), make([]float64, d), make([]float64, d)
		f.out = make([]float32, d)
	}
}

// maxFoldIters bounds the conjugate-gradient iterations of one fold-in.
const maxFoldIters = 64

// foldIn returns the user vector the iALS least-squares step gives for
// the history H of user u (−1 for a visitor: the session alone) plus the
// session's items:
//
//	x = argmin Σ_{i∈H} c_i (1 − xᵀy_i)² + Σ_{i∉H} (xᵀy_i)² + λ‖x‖²
//	  = (YᵀY + Σ_{i∈H} (c_i − 1) y_i y_iᵀ + λ I)⁻¹ Σ_{i∈H} c_i y_i
//
// with c_i = 1 + α·w_i and λ the trainer's penalty for the weights' sum.
// A trained item has the weight it was trained with (the snapshot's
// seenweights.csr), a session click the weight of a view; a session click
// on a trained item adds to its weight. It is solved by conjugate
// gradient from x0 (the trained vector, or zero), with YᵀY precomputed
// at training, so it costs O(iterations·(d² + |H|·d)).
//
// A snapshot without the trained weights gives every trained item a
// view's weight and sets the right-hand side of its part to A₀x0, so that
// without session items the answer is x0 itself and session items move it
// as the trainer would. The result lives in sc.fold.out; nil means it
// could not be computed (no item with a vector).
func (m *Model) foldIn(sc *scratch, u int32, x0 []float32, seen, session []int32) []float32 {
	fi := m.fold
	d := fi.dims
	f := &sc.fold
	f.size(d)
	view := fi.alpha * fi.viewWeight

	// The entries, ascending by item, trained ones with their weights.
	es := f.entries[:0]
	exact := u >= 0 && fi.seenW != nil
	if exact {
		var err error
		if f.weights, err = fi.seenW(u, f.weights); err != nil {
			exact = false
		} else {
			for _, w := range f.weights {
				es = append(es, foldEntry{w.Item, fi.alpha * float64(w.Score)})
			}
		}
	}
	nTrained := len(es)
	var wsum float64
	for _, e := range es {
		wsum += e.c1 / max(fi.alpha, 1e-30)
	}
	for _, i := range session {
		if m.invNorm[i] == 0 {
			continue
		}
		if k, ok := findEntry(es[:nTrained], i); ok {
			es[k].c1 += view
		} else {
			es = append(es, foldEntry{i, view})
		}
		wsum += fi.viewWeight
	}
	f.entries = es
	if len(es) == 0 || (len(es) == nTrained && !exact) {
		return nil
	}

	// mul sets dst = (YᵀY + Σ_e c1_e y_e y_eᵀ + lam·I) v, with the
	// vector kernel of package dot on the gathered entries (float32
	// products, float64 sums across the three terms).
	mul := func(dst, v []float64, lam float64, es []foldEntry) {
		f.gather(m, es)
		k := len(es)
		for j, x := range v {
			f.v32[j] = float32(x)
		}
		dot.Scores(f.t1[:d], fi.yty32, d, f.v32[:d])
		if k > 0 {
			dot.Scores(f.t2[:k], f.yh, d, f.v32[:d])
			for e := range k {
				f.t2[e] *= f.c1[e]
			}
			dot.Scores(f.t3[:d], f.yhT, k, f.t2[:k])
		} else {
			clear(f.t3[:d])
		}
		for j := range d {
			dst[j] = float64(f.t1[j]) + float64(f.t3[j]) + lam*v[j]
		}
	}

	b, x := f.b, f.x
	clear(b)
	if x0 != nil {
		for k, v := range x0 {
			x[k] = float64(v)
		}
	} else {
		clear(x)
	}
	var lam float64
	switch {
	case exact || x0 == nil:
		lam = fi.reg(wsum)
		for _, e := range es {
			for k, a := range m.items.Row(int(e.item)) {
				b[k] += (1 + e.c1) * float64(a)
			}
		}
	default:
		// No trained weights: the trained part is rebuilt with a view's
		// weight for every trained item and b₀ = A₀x0.
		old := wsum
		es = es[:0]
		for _, i := range seen {
			es = append(es, foldEntry{i, view})
		}
		lam0 := fi.reg(float64(len(seen)) * fi.viewWeight)
		mul(b, x, lam0, es)
		for _, i := range session {
			if m.invNorm[i] == 0 {
				continue
			}
			es = append(es, foldEntry{i, view})
			for k, a := range m.items.Row(int(i)) {
				b[k] += (1 + view) * float64(a)
			}
		}
		f.entries = es
		lam = fi.reg(float64(len(seen))*fi.viewWeight + old)
	}

	// Conjugate gradient on A x = b.
	r, p, ap := f.r, f.p, f.ap
	mul(ap, x, lam, es)
	var rr, bb float64
	for k := range d {
		r[k] = b[k] - ap[k]
		p[k] = r[k]
		rr += r[k] * r[k]
		bb += b[k] * b[k]
	}
	tol := 1e-10 * bb // a relative residual of 1e-5: float32 products
	for it := 0; it < maxFoldIters && rr > tol; it++ {
		mul(ap, p, lam, es)
		var pap float64
		for k := range d {
			pap += p[k] * ap[k]
		}
		if !(pap > 0) {
			break
		}
		alpha := rr / pap
		var rr2 float64
		for k := range d {
			x[k] += alpha * p[k]
			r[k] -= alpha * ap[k]
			rr2 += r[k] * r[k]
		}
		beta := rr2 / rr
		rr = rr2
		for k := range d {
			p[k] = r[k] + beta*p[k]
		}
	}
	out := f.out
	for k, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		out[k] = float32(v)
	}
	if isZero(out) {
		return nil
	}
	return out
}

// gather lays out the vectors of es for mul, unless they already are.
func (f *foldScratch) gather(m *Model, es []foldEntry) {
	d, k := m.items.Dims, len(es)
	if len(f.c1) == k && f.gathered(es) {
		return
	}
	f.yh = slices.Grow(f.yh[:0], k*d)[:k*d]
	f.yhT = slices.Grow(f.yhT[:0], k*d)[:k*d]
	f.c1 = slices.Grow(f.c1[:0], k)[:k]
	f.t2 = slices.Grow(f.t2[:0], k)[:k]
	for _, buf := range []*[]float32{&f.v32, &f.t1, &f.t3} {
		*buf = slices.Grow((*buf)[:0], d)[:d]
	}
	for e, en := range es {
		y := m.items.Row(int(en.item))
		copy(f.yh[e*d:], y)
		for j, v := range y {
			f.yhT[j*k+e] = v
		}
		f.c1[e] = float32(en.c1)
	}
	f.es = append(f.es[:0], es...)
}

// gathered reports whether the gathered vectors are those of es.
func (f *foldScratch) gathered(es []foldEntry) bool {
	return slices.Equal(f.es, es)
}

// findEntry finds item in es, which is ascending by item.
func findEntry(es []foldEntry, item int32) (int, bool) {
	lo, hi := 0, len(es)
	for lo < hi {
		h := (lo + hi) / 2
		if es[h].item < item {
			lo = h + 1
		} else {
			hi = h
		}
	}
	return lo, lo < len(es) && es[lo].item == item
}
