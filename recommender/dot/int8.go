package dot

import (
	"fmt"
	"math"
)

// Int8Block is the granule of int8 row widths: ScoresInt8 needs len(q) to be
// a multiple of it, with rows and q zero-padded to that width.
const Int8Block = 32

// Int8Width returns the padded width of an int8 row holding d factors:
// d rounded up to a multiple of Int8Block.
func Int8Width(d int) int { return (d + Int8Block - 1) &^ (Int8Block - 1) }

// QuantizeRows quantises len(scales) float32 rows to int8 with one scale per
// row. Row i of data starts at data[i*stride] and its first d floats are
// used; it is written to dst[i*dstStride:(i+1)*dstStride] as
// round(x/scales[i]) clamped to [-127, 127], followed by zeros, where
// scales[i] = max|x|/127 (0 for a row of zeros). So x ≈ scales[i]*dst[...],
// with an error of at most scales[i]/2 per factor.
//
// dstStride must be at least Int8Width(d) for ScoresInt8 to read the rows.
// QuantizeRows panics if a slice is too short.
func QuantizeRows(dst []int8, dstStride int, scales []float32, data []float32, stride, d int) {
	n := len(scales)
	if n == 0 {
		return
	}
	if d < 0 || stride < 0 || dstStride < d {
		panic(fmt.Sprintf("dot: QuantizeRows with d %d, stride %d, dstStride %d", d, stride, dstStride))
	}
	if need := (n-1)*stride + d; need > len(data) {
		panic(fmt.Sprintf("dot: QuantizeRows data has %d floats, %d rows need %d", len(data), n, need))
	}
	if need := n * dstStride; need > len(dst) {
		panic(fmt.Sprintf("dot: QuantizeRows dst has %d bytes, %d rows need %d", len(dst), n, need))
	}
	for i := range n {
		scales[i] = quantize(dst[i*dstStride:(i+1)*dstStride], data[i*stride:i*stride+d])
	}
}

// QuantizeVector quantises v to int8 in dst as QuantizeRows does one row,
// zeroing dst beyond len(v), and returns the scale. For ScoresInt8, len(dst)
// should be Int8Width(len(v)). It panics if len(dst) < len(v).
func QuantizeVector(dst []int8, v []float32) (scale float32) {
	if len(dst) < len(v) {
		panic(fmt.Sprintf("dot: QuantizeVector dst has %d bytes, want at least %d", len(dst), len(v)))
	}
	return quantize(dst, v)
}

func quantize(dst []int8, v []float32) float32 {
	var m float32
	for _, x := range v {
		m = max(m, float32(math.Abs(float64(x))))
	}
	clear(dst[len(v):])
	if m == 0 {
		clear(dst[:len(v)])
		return 0
	}
	inv := 127 / float64(m)
	for j, x := range v {
		dst[j] = int8(max(-127, min(127, math.Round(float64(x)*inv))))
	}
	return m / 127
}

// ScoresInt8 sets dst[i] to scales[i] * qScale * <row i, q> for i in
// [0, len(dst)), where row i is the len(q) int8s at rows[i*stride] and the
// integer inner product is exact. len(q) must be a multiple of Int8Block and
// at most 1<<16; stride must be at least len(q); len(scales) at least
// len(dst). Rows and q come from QuantizeRows and QuantizeVector.
//
// Every implementation returns bit-identical results. ScoresInt8 panics if
// its arguments break these rules.
func ScoresInt8(dst []float32, rows []int8, stride int, scales []float32, q []int8, qScale float32) {
	scoresInt8With(best, dst, rows, stride, scales, q, qScale)
}

// kernelInt8 is the signature of the int8 assembly kernels: n rows of w
// int8s (w a positive multiple of Int8Block) at rows, stride bytes apart,
// dotted with q and scaled by scales[i]*qScale into dst[0:n]. n >= 1.
type kernelInt8 func(dst *float32, n int, rows *int8, stride int, q *int8, w int, scales *float32, qScale float32)

func scoresInt8With(im implementation, dst []float32, rows []int8, stride int, scales []float32, q []int8, qScale float32) {
	n, w := len(dst), len(q)
	if w%Int8Block != 0 || w > 1<<16 {
		panic(fmt.Sprintf("dot: ScoresInt8 query width %d, want a multiple of %d up to 65536", w, Int8Block))
	}
	if n == 0 {
		return
	}
	if stride < w {
		panic(fmt.Sprintf("dot: ScoresInt8 stride %d below query width %d", stride, w))
	}
	if need := (n-1)*stride + w; need > len(rows) {
		panic(fmt.Sprintf("dot: ScoresInt8 rows has %d bytes, %d rows of stride %d need %d", len(rows), n, stride, need))
	}
	if len(scales) < n {
		panic(fmt.Sprintf("dot: ScoresInt8 has %d scales for %d rows", len(scales), n))
	}
	if im.int8 == nil || w == 0 {
		scoresInt8Generic(dst, rows, stride, scales, q, qScale)
		return
	}
	for i := 0; i < n; i += blockRows {
		m := min(blockRows, n-i)
		im.int8(&dst[i], m, &rows[i*stride], stride, &q[0], w, &scales[i], qScale)
	}
}

func scoresInt8Generic(dst []float32, rows []int8, stride int, scales []float32, q []int8, qScale float32) {
	w := len(q)
	for i := range dst {
		row := rows[i*stride : i*stride+w]
		var s int32
		for j, v := range row {
			s += int32(v) * int32(q[j])
		}
		dst[i] = float32(s) * scales[i] * qScale
	}
}
