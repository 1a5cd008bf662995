package dot

// IndexAbove returns the index of the first element of s greater than
// floor, or len(s) when there is none. NaN is greater than nothing, and
// -0 is not greater than +0. A top-N scan uses it to skip, 8 or 16 scores
// per instruction, the scores that cannot beat the worst candidate kept.
func IndexAbove(s []float32, floor float32) int {
	return indexAboveWith(best, s, floor)
}

// kernelAbove is the signature of the IndexAbove assembly kernels: the
// index of the first of the n floats at s greater than floor, or n. n is a
// positive multiple of aboveBlock.
type kernelAbove func(s *float32, n int, floor float32) int

// aboveBlock is the granule of the IndexAbove kernels.
const aboveBlock = 16

func indexAboveWith(im implementation, s []float32, floor float32) int {
	i := 0
	if im.above != nil {
		if n := len(s) &^ (aboveBlock - 1); n > 0 {
			if i = im.above(&s[0], n, floor); i < n {
				return i
			}
		}
	}
	for ; i < len(s); i++ {
		if s[i] > floor {
			return i
		}
	}
	return len(s)
}
