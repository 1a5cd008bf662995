//go:build amd64 && !purego

package dot

import (
	"slices"

	"golang.org/x/sys/cpu"
)

// available lists the implementations this machine can run, best first.
// cpu.X86.HasAVX512F and HasAVX2 already account for whether the operating
// system saves the wider registers.
func available() []implementation {
	var impls []implementation
	if cpu.X86.HasAVX512F {
		im := implementation{name: "avx512", kernel: scoresAVX512, kernels: []string{"scoresAVX512"}}
		if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
			im.above, im.axpy = indexAboveAVX2, addScaledRowsAVX2
			im.kernels = append(im.kernels, "indexAboveAVX2", "addScaledRowsAVX2")
		}
		if cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VNNI {
			// The VNNI int8 kernel goes first; the AVX512BW one stays
			// available, under its own name, so tests compare the two.
			bw := im
			bw.name = "avx512bw"
			bw.int8 = scoresInt8AVX512
			bw.kernels = append(slices.Clip(im.kernels), "scoresInt8AVX512")
			im.int8 = scoresInt8VNNI
			im.kernels = append(slices.Clip(im.kernels), "scoresInt8VNNI")
			impls = append(impls, im, bw)
		} else {
			if cpu.X86.HasAVX512BW {
				im.int8 = scoresInt8AVX512
				im.kernels = append(im.kernels, "scoresInt8AVX512")
			}
			impls = append(impls, im)
		}
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		impls = append(impls, implementation{name: "avx2", kernel: scoresAVX2, int8: scoresInt8AVX2, above: indexAboveAVX2, axpy: addScaledRowsAVX2,
			kernels: []string{"scoresAVX2", "scoresInt8AVX2", "indexAboveAVX2", "addScaledRowsAVX2"}})
	}
	return append(impls, generic)
}

// compiledKernels lists the assembly kernels of this build, with the CPU
// features available() requires of each.
func compiledKernels() []Kernel {
	return []Kernel{
		{Name: "scoresAVX512", Needs: "AVX512F"},
		{Name: "scoresInt8VNNI", Needs: "AVX512F AVX512BW AVX512VNNI"},
		{Name: "scoresInt8AVX512", Needs: "AVX512F AVX512BW"},
		{Name: "scoresAVX2", Needs: "AVX2 FMA"},
		{Name: "scoresInt8AVX2", Needs: "AVX2 FMA"},
		{Name: "indexAboveAVX2", Needs: "AVX2"},
		{Name: "addScaledRowsAVX2", Needs: "AVX2 FMA"},
	}
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

// addScaledRowsAVX2 is the kernelAxpy type's contract using AVX2 and FMA;
// see axpy_amd64.s.
//
//go:noescape
func addScaledRowsAVX2(dst *float32, n int, data *float32, stride int, coef *float32, d int)
