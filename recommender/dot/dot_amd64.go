//go:build amd64 && !purego

package dot

import "golang.org/x/sys/cpu"

// available lists the implementations this machine can run, best first.
// cpu.X86.HasAVX512F and HasAVX2 already account for whether the operating
// system saves the wider registers.
func available() []implementation {
	var impls []implementation
	if cpu.X86.HasAVX512F {
		im := implementation{name: "avx512", kernel: scoresAVX512}
		if cpu.X86.HasAVX2 {
			im.above = indexAboveAVX2
		}
		if cpu.X86.HasAVX512BW {
			im.int8 = scoresInt8AVX512
		}
		if cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VNNI {
			// The VNNI int8 kernel goes first; the AVX512BW one stays
			// available, under its own name, so tests compare the two.
			bw := im
			bw.name = "avx512bw"
			im.int8 = scoresInt8VNNI
			impls = append(impls, im, bw)
		} else {
			impls = append(impls, im)
		}
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		impls = append(impls, implementation{name: "avx2", kernel: scoresAVX2, int8: scoresInt8AVX2, above: indexAboveAVX2})
	}
	return append(impls, generic)
}

// scoresAVX512 is the kernel type's contract using AVX-512F; see dot_amd64.s.
//
//go:noescape
func scoresAVX512(dst *float32, n int, data *float32, stride int, q *float32, d int)

// scoresAVX2 is the kernel type's contract using AVX2 and FMA; see dot_amd64.s.
//
//go:noescape
func scoresAVX2(dst *float32, n int, data *float32, stride int, q *float32, d int)

// scoresInt8AVX512 is the kernelInt8 type's contract using AVX-512BW.
//
//go:noescape
func scoresInt8AVX512(dst *float32, n int, rows *int8, stride int, q *int8, w int, scales *float32, qScale float32)

// scoresInt8VNNI is the kernelInt8 type's contract using AVX-512 VNNI
// (VPDPBUSD) and AVX512BW; see int8vnni_amd64.s.
//
//go:noescape
func scoresInt8VNNI(dst *float32, n int, rows *int8, stride int, q *int8, w int, scales *float32, qScale float32)

// scoresInt8AVX2 is the kernelInt8 type's contract using AVX2.
//
//go:noescape
func scoresInt8AVX2(dst *float32, n int, rows *int8, stride int, q *int8, w int, scales *float32, qScale float32)

// indexAboveAVX2 is the kernelAbove type's contract using AVX; see
// above_amd64.s.
//
//go:noescape
func indexAboveAVX2(s *float32, n int, floor float32) int
