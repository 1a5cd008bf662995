package recommender

import (
	"math"
)

// foldIn holds what a request-time fold-in needs: the trainer's
// confidence scale and regularisation and the Gram matrix YᵀY of the
// served item factors (see the store's fold-in file).
type foldIn struct {
	dims       int
	alpha      float64 // c = 1 + alpha·w
	viewWeight float64 // the weight w of a session click
	yty        []float64
	reg        func(k int) float64 // λ for a user with k interactions
}

// foldScratch is the fold-in's working memory.
type foldScratch struct {
	x, r, p, ap, b, t []float64
	out               []float32
}

func (f *foldScratch) size(d int) {
	if len(f.x) != d {
		f.x, f.r, f.p, f.ap, f.b, f.t = make([]float64, d), make([]float64, d), make([]float64, d), make([]float64, d), make([]float64, d), make([]float64, d)
		f.out = make([]float32, d)
	}
}

// maxFoldIters bounds the conjugate-gradient iterations of one fold-in.
const maxFoldIters = 64

// foldIn returns the user vector that the iALS least-squares step gives
// for the user's history with the session's items added, each session
// click with confidence c = 1 + α·w(view):
//
//	x = argmin Σ_i c_i (p_i − xᵀy_i)² + λ_k‖x‖²
//	  = (YᵀY + Σ_{i∈H} (c_i − 1) y_i y_iᵀ + λ_k I)⁻¹ Σ_{i∈H} c_i y_i
//
// solved by conjugate gradient from the trained vector, with YᵀY
// precomputed at training. The snapshot keeps a user's trained items but
// not their weights, so for a known user x0 the trained part of the
// system is rebuilt with the session confidence c for every trained item
// and its right-hand side set to A₀x0: without session items the answer
// is x0 itself, and session items move it as the trainer would. For a
// visitor the model does not know (x0 nil), H is the session alone. The
// result lives in sc.fold.out; nil means it could not be computed (no
// session items with a vector).
func (m *Model) foldIn(sc *scratch, x0 []float32, seen, session []int32) []float32 {
	fi := m.fold
	d := fi.dims
	f := &sc.fold
	f.size(d)
	c1 := fi.alpha * fi.viewWeight // c − 1
	usable := 0
	for _, i := range session {
		if m.invNorm[i] != 0 {
			usable++
		}
	}
	if usable == 0 {
		return nil
	}

	// mul sets dst = (YᵀY + c1·Σ_{i∈sets} y_i y_iᵀ + lam·I) v.
	mul := func(dst, v []float64, lam float64, sets ...[]int32) {
		for r := range d {
			row := fi.yty[r*d : r*d+d]
			var s float64
			for k, a := range row {
				s += a * v[k]
			}
			dst[r] = s + lam*v[r]
		}
		for _, set := range sets {
			for _, i := range set {
				y := m.items.Row(int(i))
				var yv float64
				for k, a := range y {
					yv += float64(a) * v[k]
				}
				yv *= c1
				for k, a := range y {
					dst[k] += yv * float64(a)
				}
			}
		}
	}

	b, x := f.b, f.x
	var lam float64
	if x0 != nil {
		lam0 := fi.reg(len(seen))
		lam = fi.reg(len(seen) + usable)
		for k, v := range x0 {
			x[k] = float64(v)
		}
		mul(b, x, lam0, seen) // b = A₀x0
	} else {
		lam = fi.reg(usable)
		clear(x)
		clear(b)
	}
	c := 1 + c1
	for _, i := range session {
		for k, a := range m.items.Row(int(i)) {
			b[k] += c * float64(a)
		}
	}

	// Conjugate gradient on A x = b, A = A₀ + the session's terms.
	r, p, ap := f.r, f.p, f.ap
	if x0 != nil {
		mul(ap, x, lam, seen, session)
	} else {
		clear(ap)
	}
	var rr, bb float64
	for k := range d {
		r[k] = b[k] - ap[k]
		p[k] = r[k]
		rr += r[k] * r[k]
		bb += b[k] * b[k]
	}
	tol := 1e-12 * bb
	for it := 0; it < maxFoldIters && rr > tol; it++ {
		mul(ap, p, lam, seen, session)
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
