package dot

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"unsafe"
)

// TestScoresStopsAtEndOfData places the matrix so that its last float is the
// last float of a mapped page, followed by an inaccessible page: any read past
// the end of the last row faults.
func TestScoresStopsAtEndOfData(t *testing.T) {
	page := syscall.Getpagesize()
	mem, err := syscall.Mmap(-1, 0, 2*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	if err := syscall.Mprotect(mem[page:], syscall.PROT_NONE); err != nil {
		t.Fatalf("mprotect: %v", err)
	}
	floats := unsafe.Slice((*float32)(unsafe.Pointer(&mem[0])), page/4)
	for _, im := range available() {
		for _, d := range []int{1, 3, 15, 17, 31, 63, 100} {
			for _, n := range []int{1, 4, 5} {
				name := fmt.Sprintf("%s/d=%d/n=%d", im.name, d, n)
				stride := d + 1
				size := (n-1)*stride + d
				data := floats[len(floats)-size:]
				rng := rand.New(rand.NewPCG(uint64(d), uint64(n)))
				copy(data, randomMatrix(rng, n, d, stride, 0))
				q := randomVector(rng, d)
				dst := make([]float32, n)
				scoresWith(im, dst, data, stride, q)
				checkScores(t, name, dst, data, stride, q)
			}
		}
	}
}
