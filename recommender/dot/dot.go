package dot

import "fmt"

// blockRows bounds the rows given to one call of an assembly kernel, which
// the Go scheduler cannot preempt.
const blockRows = 1 << 14

// Scores sets dst[i] to the inner product of q and row i of data, for
// i in [0, len(dst)). Row i starts at data[i*stride]; len(data) must be at
// least (len(dst)-1)*stride+len(q), and stride is normally at least len(q).
// Scores panics if data is too short or stride is negative.
func Scores(dst, data []float32, stride int, q []float32) {
	scoresWith(best, dst, data, stride, q)
}

// Impl names the implementation Scores uses on this machine: "avx512",
// "avx2" or "generic".
func Impl() string { return best.name }

// kernel is the signature of the assembly kernels: n rows starting at data,
// stride floats apart, each dotted with the d floats at q, written to
// dst[0:n]. n and d are at least 1.
type kernel func(dst *float32, n int, data *float32, stride int, q *float32, d int)

// implementation is one way of computing Scores, ScoresInt8 and
// IndexAbove. A nil kernel means the generic Go loop.
type implementation struct {
	name   string
	kernel kernel
	int8   kernelInt8
	above  kernelAbove
	axpy   kernelAxpy
	// kernels names the assembly kernels set above, as listed by
	// compiledKernels; the generic Go loops are not listed.
	kernels []string
}

var generic = implementation{name: "generic"}

// Kernel is one assembly kernel compiled into this build.
type Kernel struct {
	// Name is the kernel's function name, e.g. "scoresInt8VNNI".
	Name string
	// Needs lists the CPU features it needs, e.g. "AVX512F AVX512BW".
	Needs string
	// Runs is true when one of this machine's implementations uses it,
	// i.e. when the CPU has those features and tests run the kernel.
	Runs bool
}

// Kernels lists the assembly kernels compiled into this build (none on
// architectures other than amd64 and with the purego tag) and whether
// this machine runs them. Tests exercise every implementation the machine
// supports, so a kernel with Runs false is not executed by any test here.
func Kernels() []Kernel {
	runs := map[string]bool{}
	for _, im := range available() {
		for _, k := range im.kernels {
			runs[k] = true
		}
	}
	ks := compiledKernels()
	for i := range ks {
		ks[i].Runs = runs[ks[i].Name]
	}
	return ks
}

// Implementations names the implementations this machine can run, best
// first (the first is Impl()); tests exercise each of them.
func Implementations() []string {
	var names []string
	for _, im := range available() {
		names = append(names, im.name)
	}
	return names
}

// best is the implementation Scores uses: the first of available().
var best = available()[0]

// scoresWith is Scores with the implementation chosen by the caller; tests
// use it to exercise every implementation the machine supports.
func scoresWith(im implementation, dst, data []float32, stride int, q []float32) {
	n, d := len(dst), len(q)
	if n == 0 {
		return
	}
	if stride < 0 {
		panic(fmt.Sprintf("dot: negative stride %d", stride))
	}
	if need := (n-1)*stride + d; need > len(data) {
		panic(fmt.Sprintf("dot: data has %d floats, %d rows of stride %d and width %d need %d", len(data), n, stride, d, need))
	}
	if im.kernel == nil || d == 0 {
		scoresGeneric(dst, data, stride, q)
		return
	}
	for i := 0; i < n; i += blockRows {
		m := min(blockRows, n-i)
		im.kernel(&dst[i], m, &data[i*stride], stride, &q[0], d)
	}
}

func scoresGeneric(dst, data []float32, stride int, q []float32) {
	d := len(q)
	for i := range dst {
		row := data[i*stride : i*stride+d]
		var s float32
		for j, v := range row {
			s += v * q[j]
		}
		dst[i] = s
	}
}
