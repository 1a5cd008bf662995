package dot

import (
	"fmt"
	"math/rand/v2"
	"slices"
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
	for _, im := range testImpls(t) {
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

// TestScoresInt8StopsAtEndOfData places the int8 rows, and separately the
// query, so that their last byte is the last byte of a mapped page: any
// read past the last row or past q faults.
func TestScoresInt8StopsAtEndOfData(t *testing.T) {
	page := syscall.Getpagesize()
	mem, err := syscall.Mmap(-1, 0, 4*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	for _, guard := range []int{page, 3 * page} {
		if err := syscall.Mprotect(mem[guard:guard+page], syscall.PROT_NONE); err != nil {
			t.Fatalf("mprotect: %v", err)
		}
	}
	bytes := unsafe.Slice((*int8)(unsafe.Pointer(&mem[0])), page)
	qBytes := unsafe.Slice((*int8)(unsafe.Pointer(&mem[2*page])), page)
	for _, im := range testImpls(t) {
		for _, w := range []int{32, 64, 96, 128} {
			for _, n := range []int{1, 4, 15, 16, 17, 31} {
				name := fmt.Sprintf("%s/w=%d/n=%d", im.name, w, n)
				stride := w + 1
				rows := bytes[page-((n-1)*stride+w):]
				q := qBytes[page-w:]
				rng := rand.New(rand.NewPCG(uint64(w), uint64(n)))
				for i := range rows {
					rows[i] = int8(rng.Uint32())
				}
				for i := range q {
					q[i] = int8(rng.Uint32())
				}
				scales := make([]float32, n)
				for i := range scales {
					scales[i] = rng.Float32()
				}
				got := make([]float32, n)
				want := make([]float32, n)
				scoresInt8With(im, got, rows, stride, scales, q, 0.5)
				scoresInt8Generic(want, rows, stride, scales, q, 0.5)
				if !slices.Equal(got, want) {
					t.Errorf("%s: ScoresInt8 = %v, want %v", name, got[:min(n, 4)], want[:min(n, 4)])
				}
			}
		}
	}
}
