// Package dense provides the dense float64 kernels EASE's closed form
// needs: a blocked, parallel matrix product (Gemm) and the inverse of a
// symmetric positive-definite matrix (InvertSPD) built on it.
//
// The product packs blocks of its operands into contiguous panels sized
// for the caches (kc × nc of B shared by the workers, mc × kc of A per
// worker) and multiplies them with a 6 × 8 register-blocked micro-kernel:
// AVX2 + FMA assembly on amd64 machines that have it, plain Go elsewhere
// (and with the purego build tag). The inverse is recursive block
// inversion through the Schur complement, whose work is all in Gemm.
//
// All matrices are row-major float64 slices with an explicit stride (the
// distance between the starts of two rows).
package dense
