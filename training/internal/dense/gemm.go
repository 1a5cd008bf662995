package dense

import (
	"sync"
)

// Block sizes: a kc × nc panel of B (8 MB) is shared by the workers, each
// packs an mc × kc block of A (240 KB, L2-sized) and multiplies it by the
// kc × 8 micro-panels of B (16 KB, L1-sized).
const (
	mr = 6
	nr = 8
	kc = 256
	mc = 120
	nc = 4096
)

// Gemm computes C += alpha·A·B for an m × k matrix A, a k × n matrix B and
// an m × n matrix C, row-major with strides lda, ldb and ldc, using up to
// workers goroutines (which it waits for). C must not overlap A or B.
func Gemm(m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, c []float64, ldc int, workers int) {
	gemm(nil, m, n, k, alpha, a, lda, b, ldb, c, ldc, workers)
}

// Workspace holds the packed panels of Gemm and the buffers of Cholesky
// for reuse across calls: a caller solving many small systems keeps one
// per goroutine. The zero value is ready to use; a Workspace must not be
// used by two calls at once.
type Workspace struct {
	bp  []float64   // the packed panel of B
	aps [][]float64 // a packed block of A per worker
	t   []float64   // Cholesky: a transposed panel
}

// grow returns s resized to n, reallocated only when too small.
func grow(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

// gemm is Gemm with its panels in ws (nil: allocated).
func gemm(ws *Workspace, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, c []float64, ldc int, workers int) {
	if m == 0 || n == 0 || k == 0 || alpha == 0 {
		return
	}
	if ws == nil {
		ws = &Workspace{}
	}
	workers = max(1, min(workers, (m+mc-1)/mc))
	ws.bp = grow(ws.bp, kc*roundUp(min(n, nc), nr))
	bp := ws.bp
	for len(ws.aps) < workers {
		ws.aps = append(ws.aps, nil)
	}
	aps := ws.aps[:workers]
	for w := range aps {
		aps[w] = grow(aps[w], mc*kc)
	}
	for jc := 0; jc < n; jc += nc {
		ncb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kcb := min(kc, k-pc)
			packB(bp, b[pc*ldb+jc:], ldb, kcb, ncb)
			blocks := (m + mc - 1) / mc
			if workers == 1 {
				for ib := range blocks {
					blockProduct(aps[0], bp, a, lda, c, ldc, alpha, ib*mc, min(mc, m-ib*mc), pc, kcb, jc, ncb)
				}
				continue
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			next := 0
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						mu.Lock()
						ib := next
						next++
						mu.Unlock()
						if ib >= blocks {
							return
						}
						blockProduct(aps[w], bp, a, lda, c, ldc, alpha, ib*mc, min(mc, m-ib*mc), pc, kcb, jc, ncb)
					}
				}()
			}
			wg.Wait()
		}
	}
}

// blockProduct adds alpha times the product of rows [i0, i0+mcb) and
// columns [pc, pc+kcb) of A by the packed B panel into C's columns
// [jc, jc+ncb).
func blockProduct(ap, bp, a []float64, lda int, c []float64, ldc int, alpha float64, i0, mcb, pc, kcb, jc, ncb int) {
	packA(ap, a[i0*lda+pc:], lda, mcb, kcb)
	var tile [mr * nr]float64
	for jr := 0; jr < ncb; jr += nr {
		nrb := min(nr, ncb-jr)
		bpan := bp[jr*kcb:]
		for ir := 0; ir < mcb; ir += mr {
			mrb := min(mr, mcb-ir)
			cc := c[(i0+ir)*ldc+jc+jr:]
			if mrb == mr && nrb == nr {
				kernelAcc(kcb, ap[ir*kcb:], bpan, cc, ldc, alpha)
				continue
			}
			kernel(kcb, ap[ir*kcb:], bpan, &tile)
			for r := range mrb {
				row := cc[r*ldc : r*ldc+nrb]
				t := tile[r*nr : r*nr+nrb]
				for j := range row {
					row[j] += alpha * t[j]
				}
			}
		}
	}
}

// packA copies an mcb × kcb block of A into panels of mr rows: panel p
// holds, for every column, its mr values (zero beyond the block).
func packA(dst, a []float64, lda, mcb, kcb int) {
	for ir := 0; ir < mcb; ir += mr {
		p := dst[ir*kcb : ir*kcb+mr*kcb]
		rows := min(mr, mcb-ir)
		for r := range rows {
			src := a[(ir+r)*lda : (ir+r)*lda+kcb]
			for k, v := range src {
				p[k*mr+r] = v
			}
		}
		for r := rows; r < mr; r++ {
			for k := range kcb {
				p[k*mr+r] = 0
			}
		}
	}
}

// packB copies a kcb × ncb block of B into panels of nr columns: panel p
// holds, for every row, its nr values (zero beyond the block).
func packB(dst, b []float64, ldb, kcb, ncb int) {
	for jr := 0; jr < ncb; jr += nr {
		p := dst[jr*kcb : jr*kcb+nr*kcb]
		cols := min(nr, ncb-jr)
		for k := range kcb {
			src := b[k*ldb+jr : k*ldb+jr+cols]
			q := p[k*nr : k*nr+nr]
			copy(q, src)
			for j := cols; j < nr; j++ {
				q[j] = 0
			}
		}
	}
}

func roundUp(n, m int) int { return (n + m - 1) / m * m }

// kernelGo is the micro-kernel in Go: tile = the mr × nr product of k
// columns of a packed A panel by k rows of a packed B panel.
func kernelGo(k int, a, b []float64, tile *[mr * nr]float64) {
	var acc [mr * nr]float64
	for p := range k {
		av := a[p*mr : p*mr+mr]
		bv := b[p*nr : p*nr+nr]
		for r := range mr {
			x := av[r]
			row := acc[r*nr : r*nr+nr]
			for j := range nr {
				row[j] += x * bv[j]
			}
		}
	}
	*tile = acc
}

// kernelAccGo adds alpha times the micro-kernel's full mr × nr tile into
// the rows of c, ldc apart.
func kernelAccGo(k int, a, b, c []float64, ldc int, alpha float64) {
	var tile [mr * nr]float64
	kernelGo(k, a, b, &tile)
	for r := range mr {
		row := c[r*ldc : r*ldc+nr]
		for j := range row {
			row[j] += alpha * tile[r*nr+j]
		}
	}
}
