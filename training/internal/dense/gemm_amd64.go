//go:build amd64 && !purego

package dense

import "golang.org/x/sys/cpu"

// Kernel names the micro-kernel Gemm uses on this machine.
var Kernel = "go"

var (
	kernel    = kernelGo
	kernelAcc = kernelAccGo
)

func init() {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		Kernel = "avx2-fma"
		kernel = func(k int, a, b []float64, tile *[mr * nr]float64) {
			_ = a[k*mr-1]
			_ = b[k*nr-1]
			kernel6x8AVX2(k, &a[0], &b[0], &tile[0])
		}
		kernelAcc = func(k int, a, b, c []float64, ldc int, alpha float64) {
			_ = a[k*mr-1]
			_ = b[k*nr-1]
			_ = c[(mr-1)*ldc+nr-1]
			kernel6x8AVX2Acc(k, &a[0], &b[0], &c[0], ldc, alpha)
		}
	}
}

// kernel6x8AVX2 is kernelGo with AVX2 and FMA; k ≥ 1. See gemm_amd64.s.
//
//go:noescape
func kernel6x8AVX2(k int, a, b, tile *float64)

// kernel6x8AVX2Acc is kernelAccGo with AVX2 and FMA; k ≥ 1.
//
//go:noescape
func kernel6x8AVX2Acc(k int, a, b, c *float64, ldc int, alpha float64)
