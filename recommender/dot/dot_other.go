//go:build !amd64 || purego

package dot

// available lists the implementations this machine can run, best first.
func available() []implementation { return []implementation{generic} }

// compiledKernels lists the assembly kernels of this build: none.
func compiledKernels() []Kernel { return nil }
