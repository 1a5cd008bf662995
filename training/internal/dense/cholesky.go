package dense

import (
	"fmt"
	"math"
)

// cholBlock is the width of Cholesky's panels: below twice it the
// factorisation is unblocked.
const cholBlock = 48

// Cholesky replaces the lower triangle of the n × n symmetric
// positive-definite matrix a (row-major with stride lda) by its Cholesky
// factor L, a = L·Lᵀ. Only the lower triangle is read; the upper one is
// overwritten with scratch values. ws holds the buffers reused across
// calls (nil allocates them); the work runs on the calling goroutine.
//
// It is the right-looking blocked algorithm: for each panel of cholBlock
// columns it factors the diagonal block, solves the rows below it against
// that block's factor (L21 = A21·L11⁻ᵀ), and subtracts L21·L21ᵀ from the
// trailing lower triangle in row blocks through Gemm's kernel, where
// nearly all of the n³/3 multiply-adds of a large n run. A pivot that is
// not positive returns ErrNotPositiveDefinite, wrapped with its index,
// with a partly overwritten.
func Cholesky(a []float64, n, lda int, ws *Workspace) error {
	if n == 0 {
		return nil
	}
	_ = a[(n-1)*lda+n-1]
	if n < 2*cholBlock {
		return cholUnblocked(a, n, lda, 0)
	}
	if ws == nil {
		ws = &Workspace{}
	}
	for k0 := 0; k0 < n; k0 += cholBlock {
		kb := min(cholBlock, n-k0)
		if err := cholUnblocked(a[k0*lda+k0:], kb, lda, k0); err != nil {
			return err
		}
		r0 := k0 + kb
		if r0 == n {
			break
		}
		rest := n - r0
		// L21 = A21·L11⁻ᵀ, row by row; its transpose goes into ws.t for
		// the product.
		ws.t = grow(ws.t, kb*rest)
		t := ws.t
		for i := r0; i < n; i++ {
			row := a[i*lda+k0 : i*lda+k0+kb]
			for j := range kb {
				lj := a[(k0+j)*lda+k0 : (k0+j)*lda+k0+j+1]
				v := (row[j] - dot(row[:j], lj[:j])) / lj[j]
				row[j] = v
				t[j*rest+i-r0] = v
			}
		}
		// A22 −= L21·L21ᵀ: for each block of rows, the columns up to its
		// last row (the part of the block right of the diagonal is
		// scratch).
		for i0 := r0; i0 < n; i0 += mc {
			i1 := min(i0+mc, n)
			gemm(ws, i1-i0, i1-r0, kb, -1, a[i0*lda+k0:], lda, t, rest, a[i0*lda+r0:], lda, 1)
		}
	}
	return nil
}

// CholeskySolve overwrites b with the solution x of L·Lᵀ·x = b, L the
// lower triangle of the n × n a (stride lda) as Cholesky leaves it.
func CholeskySolve(a []float64, n, lda int, b []float64) {
	b = b[:n]
	for i := range n { // L·y = b
		ri := a[i*lda : i*lda+i+1]
		b[i] = (b[i] - dot(ri[:i], b[:i])) / ri[i]
	}
	for i := n - 1; i >= 0; i-- { // Lᵀ·x = y
		v := b[i] / a[i*lda+i]
		b[i] = v
		for j, l := range a[i*lda : i*lda+i] {
			b[j] -= l * v
		}
	}
}

// cholUnblocked factors the n × n lower triangle of a (stride lda) in
// place, row by row; off is the index of its first pivot in the whole
// matrix, for the error.
func cholUnblocked(a []float64, n, lda, off int) error {
	for i := range n {
		ri := a[i*lda : i*lda+i+1]
		for j := range i {
			rj := a[j*lda : j*lda+j+1]
			ri[j] = (ri[j] - dot(ri[:j], rj[:j])) / rj[j]
		}
		d := ri[i] - dot(ri[:i], ri[:i])
		if !(d > 0) {
			return fmt.Errorf("cholesky pivot %d is %v: %w", off+i, d, ErrNotPositiveDefinite)
		}
		ri[i] = math.Sqrt(d)
	}
	return nil
}

// dot returns Σ x[k]·y[k] over len(x) elements, in four partial sums.
func dot(x, y []float64) float64 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float64
	k := 0
	for ; k+4 <= len(x); k += 4 {
		s0 += x[k] * y[k]
		s1 += x[k+1] * y[k+1]
		s2 += x[k+2] * y[k+2]
		s3 += x[k+3] * y[k+3]
	}
	for ; k < len(x); k++ {
		s0 += x[k] * y[k]
	}
	return (s0 + s1) + (s2 + s3)
}
