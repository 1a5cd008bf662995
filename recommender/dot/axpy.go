package dot

import "fmt"

// AddScaledRows adds to dst the rows of data weighted by coef:
//
//	dst[j] += Σ_i coef[i] · data[i*stride+j]   for j in [0, len(dst))
//
// over the len(coef) rows, row i starting at data[i*stride]: the
// transposed matrix–vector product that, with Scores, makes the two
// halves of a least-squares step over gathered rows (iALS's conjugate
// gradient). len(data) must be at least (len(coef)-1)*stride+len(dst);
// AddScaledRows panics otherwise or if stride is negative. The sums run
// row by row in row order for each element, so the result does not
// depend on the implementation beyond the FMA's single rounding.
func AddScaledRows(dst, data []float32, stride int, coef []float32) {
	addScaledRowsWith(best, dst, data, stride, coef)
}

// kernelAxpy is the signature of the AddScaledRows assembly kernels: d is
// a positive multiple of 8, n at least 1.
type kernelAxpy func(dst *float32, n int, data *float32, stride int, coef *float32, d int)

func addScaledRowsWith(im implementation, dst, data []float32, stride int, coef []float32) {
	n, d := len(coef), len(dst)
	if n == 0 || d == 0 {
		return
	}
	if stride < 0 {
		panic(fmt.Sprintf("dot: negative stride %d", stride))
	}
	if need := (n-1)*stride + d; need > len(data) {
		panic(fmt.Sprintf("dot: data has %d floats, %d rows of stride %d and width %d need %d", len(data), n, stride, d, need))
	}
	j := 0
	if im.axpy != nil {
		if d8 := d &^ 7; d8 > 0 {
			for i := 0; i < n; i += blockRows {
				m := min(blockRows, n-i)
				im.axpy(&dst[0], m, &data[i*stride], stride, &coef[i], d8)
			}
			j = d8
		}
	}
	for i, c := range coef {
		row := data[i*stride : i*stride+d]
		for jj := j; jj < d; jj++ {
			dst[jj] += c * row[jj]
		}
	}
}
