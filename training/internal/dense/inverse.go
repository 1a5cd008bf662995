package dense

import (
	"errors"
	"math"
)

// ErrNotPositiveDefinite is returned by InvertSPD when a pivot is not
// positive: the matrix is not (numerically) positive definite.
var ErrNotPositiveDefinite = errors.New("matrix is not positive definite")

// baseSize is the order below which InvertSPD inverts by Gauss-Jordan
// elimination instead of recursing.
const baseSize = 128

// InvertSPD replaces the n × n symmetric positive-definite matrix a
// (row-major with stride lda, both triangles stored) by its inverse, using
// up to workers goroutines.
//
// It splits a = [A B; Bᵀ C] and computes, with W = A⁻¹B and the Schur
// complement S = C − BᵀW (itself positive definite),
//
//	a⁻¹ = [A⁻¹ + W S⁻¹ Wᵀ, −W S⁻¹; −S⁻¹ Wᵀ, S⁻¹],
//
// inverting A and S the same way: four products of half the order per
// level, two of them symmetric (only their upper block triangle is
// computed), about n³ flops in all, nearly all in Gemm. No pivoting is needed for
// a positive-definite matrix; a pivot that is not positive returns
// ErrNotPositiveDefinite with a partly overwritten.
func InvertSPD(a []float64, n, lda, workers int) error {
	if n == 0 {
		return nil
	}
	_ = a[(n-1)*lda+n-1]
	return invert(a, n, lda, workers)
}

func invert(a []float64, n, lda, workers int) error {
	if n <= baseSize {
		return gaussJordan(a, n, lda)
	}
	n1 := roundUp(n/2, nr)
	n2 := n - n1
	a11, a12, a21, a22 := a, a[n1:], a[n1*lda:], a[n1*lda+n1:]
	if err := invert(a11, n1, lda, workers); err != nil {
		return err
	}
	w := make([]float64, n1*n2)
	Gemm(n1, n2, n1, 1, a11, lda, a12, lda, w, n2, workers)       // W = A⁻¹B
	gemmSymmetric(n2, n1, -1, a21, lda, w, n2, a22, lda, workers) // S = C − BᵀW
	if err := invert(a22, n2, lda, workers); err != nil {
		return err
	}
	for i := range n1 { // −W S⁻¹ replaces B
		clear(a12[i*lda : i*lda+n2])
	}
	Gemm(n1, n2, n2, -1, w, n2, a22, lda, a12, lda, workers)
	for i := range n1 { // and its transpose Bᵀ
		row := a12[i*lda : i*lda+n2]
		for j, v := range row {
			a21[j*lda+i] = v
		}
	}
	gemmSymmetric(n1, n2, -1, w, n2, a21, lda, a11, lda, workers) // A⁻¹ + W S⁻¹ Wᵀ
	return nil
}

// gaussJordan inverts a in place by Gauss-Jordan elimination without
// pivoting.
func gaussJordan(a []float64, n, lda int) error {
	for k := range n {
		rk := a[k*lda : k*lda+n]
		p := rk[k]
		if !(p > 0) || math.IsInf(p, 1) {
			return ErrNotPositiveDefinite
		}
		inv := 1 / p
		rk[k] = 1
		for j := range rk {
			rk[j] *= inv
		}
		for i := range n {
			if i == k {
				continue
			}
			ri := a[i*lda : i*lda+n]
			f := ri[k]
			if f == 0 {
				continue
			}
			ri[k] = 0
			for j, v := range rk {
				ri[j] -= f * v
			}
		}
	}
	return nil
}

// symBlock is the height of the row blocks gemmSymmetric computes.
const symBlock = 2 * mc

// gemmSymmetric is Gemm for an n × n result C += alpha·A·B known to be
// symmetric (C too): it computes the row blocks of C from their diagonal
// block rightwards and mirrors the upper triangle into the lower one.
func gemmSymmetric(n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, c []float64, ldc int, workers int) {
	for i0 := 0; i0 < n; i0 += symBlock {
		h := min(symBlock, n-i0)
		Gemm(h, n-i0, k, alpha, a[i0*lda:], lda, b[i0:], ldb, c[i0*ldc+i0:], ldc, workers)
	}
	for i := range n {
		for j := i + 1; j < n; j++ {
			c[j*ldc+i] = c[i*ldc+j]
		}
	}
}
