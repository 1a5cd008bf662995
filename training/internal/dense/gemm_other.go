//go:build !amd64 || purego

package dense

// Kernel names the micro-kernel Gemm uses on this machine.
var Kernel = "go"

var (
	kernel    = kernelGo
	kernelAcc = kernelAccGo
)
