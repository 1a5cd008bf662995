package recommender

import (
	"math"
	mbits "math/bits"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/polecam/polecam/recommender/dot"
)

// A catalogue scan walks the item rows in chunks of chunkRows, handed out
// one at a time through an atomic counter to the lanes taking part: the
// requesting goroutine always, plus any idle pool worker. Each lane keeps
// its own top-k and the requesting goroutine merges them. Within a chunk,
// rows are scored scanBlock at a time into a small lane buffer that stays
// in L1 cache, masked, and offered to the lane's top-k.
//
// Both sizes are multiples of 4, so every row lands in the same place of
// the kernel's four-row groups whether the scan is split or not, and
// rescoreExact can reproduce a scan's float score bit for bit.
const (
	chunkRows = 8192
	scanBlock = 2048
)

// scanMode says what a scan scores.
type scanMode uint8

const (
	// scanDot: inner products of q with the float item vectors.
	scanDot scanMode = iota
	// scanCosine: inner products scaled by 1/‖item‖ (not by 1/‖q‖).
	scanCosine
	// scanInt8: approximate inner products with the int8 item vectors.
	scanInt8
)

// lane is the working memory of one goroutine taking part in a scan.
type lane struct {
	top topN
	buf []float32 // scanBlock scores
}

// scanJob is one catalogue scan. It lives in a pooled scratch and is
// reused; a worker touches it only between receiving a task and sending
// on done.
type scanJob struct {
	m       *Model
	mode    scanMode
	q       []float32
	qi      []int8
	qScale  float32
	blocked []int32 // sorted; never returned
	allow   *rowSet // the request's filter, or nil
	sparse  bool    // allow passes under a quarter of the rows
	k       int     // how many candidates each lane keeps
	nchunks int
	next    atomic.Int64 // next chunk to hand out
	lanes   []lane       // lanes[0] is the requesting goroutine's
	done    chan any     // one send per posted lane: nil or a panic value
}

// scanTask asks a pool worker to take part in job as lanes[lane].
type scanTask struct {
	job  *scanJob
	lane int
}

// scanPool is a Model's long-lived scan workers. Requests offer them work
// without blocking: a busy pool simply means the request scans alone, so
// under load every core serves its own request.
type scanPool struct {
	tasks chan scanTask
	wg    sync.WaitGroup
}

// newScanPool starts n workers.
func newScanPool(n int) *scanPool {
	p := &scanPool{tasks: make(chan scanTask)}
	p.wg.Add(n)
	for range n {
		go p.work()
	}
	return p
}

func (p *scanPool) work() {
	defer p.wg.Done()
	for t := range p.tasks {
		t.job.done <- t.job.runRecovered(&t.job.lanes[t.lane])
	}
}

// close stops the workers and waits for them. No scan may be in progress.
func (p *scanPool) close() {
	close(p.tasks)
	p.wg.Wait()
}

// runRecovered is run for a pool worker: a panic is handed back to the
// requesting goroutine, which re-panics with it, rather than crashing the
// process from a goroutine no handler can see.
func (j *scanJob) runRecovered(l *lane) (p any) {
	defer func() { p = recover() }()
	j.run(l)
	return nil
}

// run scans chunks as lane l until none are left.
func (j *scanJob) run(l *lane) {
	n := j.m.n
	for {
		c := int(j.next.Add(1) - 1)
		if c >= j.nchunks {
			return
		}
		lo := c * chunkRows
		j.scanRange(l, lo, min(lo+chunkRows, n))
	}
}

// scanRange scores rows [lo, hi) into l.top.
func (j *scanJob) scanRange(l *lane, lo, hi int) {
	m := j.m
	blocked := j.blocked[lowerBound(j.blocked, lo):]
	cold := m.cold[lowerBound(m.cold, lo):]
	unavail := m.unavail[lowerBound(m.unavail, lo):]
	for start := lo; start < hi; start += scanBlock {
		end := min(start+scanBlock, hi)
		s := l.buf[:end-start]
		switch j.mode {
		case scanInt8:
			w := m.i8.width
			dot.ScoresInt8(s, m.i8.rows[start*w:end*w], w, m.i8.scales[start:end], j.qi, j.qScale)
		default:
			st := m.items.Stride
			dot.Scores(s, m.items.Data[start*st:], st, j.q)
			if j.mode == scanCosine {
				for i, inv := range m.invNorm[start:end] {
					s[i] *= inv
				}
			}
		}
		for len(blocked) > 0 && int(blocked[0]) < end {
			s[int(blocked[0])-start] = negInf
			blocked = blocked[1:]
		}
		for len(cold) > 0 && int(cold[0]) < end {
			s[int(cold[0])-start] = negInf
			cold = cold[1:]
		}
		for len(unavail) > 0 && int(unavail[0]) < end {
			s[int(unavail[0])-start] = negInf
			unavail = unavail[1:]
		}
		switch {
		case j.allow == nil:
			l.top.pushScores(s, int32(start))
		case j.sparse:
			// Few rows pass: offer just those.
			l.top.pushAllowed(s, j.allow.bits, start)
		default:
			maskBits(s, j.allow.bits, start)
			l.top.pushScores(s, int32(start))
		}
	}
}

// maskBits sets s[i] to -Inf for every row start+i whose bit is clear.
// start is a multiple of 64 (chunks and blocks are).
func maskBits(s []float32, bits []uint64, start int) {
	for w := 0; w*64 < len(s); w++ {
		inv := ^bits[start/64+w]
		if w*64+64 > len(s) {
			inv &= 1<<uint(len(s)-w*64) - 1
		}
		for inv != 0 {
			b := mbits.TrailingZeros64(inv)
			s[w*64+b] = negInf
			inv &= inv - 1
		}
	}
}

// lowerBound returns the position of the first element of sorted that is
// at least i.
func lowerBound(sorted []int32, i int) int {
	p, _ := slices.BinarySearch(sorted, int32(i))
	return p
}

// scan ranks the whole catalogue by mode against q (or qi, qScale for
// scanInt8), skipping sc.blocked and the cold items, and leaves the best k
// in sc.cands, best first. Equal scores rank by catalogue position, so the
// answer does not depend on how the scan was split.
func (m *Model) scan(sc *scratch, mode scanMode, q []float32, qi []int8, qScale float32, k int) {
	j := &sc.job
	j.mode, j.q, j.qi, j.qScale, j.blocked, j.k = mode, q, qi, qScale, sc.blocked, k
	j.allow = sc.filter
	j.sparse = sc.filter != nil && sc.filter.count*4 < m.n
	j.nchunks = (m.n + chunkRows - 1) / chunkRows
	j.next.Store(0)
	for i := range j.lanes {
		j.lanes[i].top.reset(k)
	}

	posted := 0
	split := m.splitFloat
	if mode == scanInt8 {
		split = m.splitInt8
	}
	if m.pool != nil && split && j.nchunks > 1 {
	post:
		for posted+1 < len(j.lanes) && posted+1 < j.nchunks {
			select {
			case m.pool.tasks <- scanTask{job: j, lane: posted + 1}:
				posted++
			default:
				break post // every worker is busy: scan alone
			}
		}
	}
	if posted > 0 {
		m.runAndWait(j, posted)
	} else {
		j.run(&j.lanes[0])
	}

	top := &j.lanes[0].top
	for i := 1; i <= posted; i++ {
		top.merge(&j.lanes[i].top)
	}
	sc.cands = top.appendSorted(sc.cands[:0])
	j.q, j.qi, j.blocked, j.allow = nil, nil, nil, nil
}

// runAndWait runs lane 0 of j on the calling goroutine and waits for the
// posted workers, even if lane 0 panics: the job lives in scratch that is
// reused as soon as the request returns. A worker's panic is re-raised
// here.
func (m *Model) runAndWait(j *scanJob, posted int) {
	var workerPanic any
	defer func() {
		for range posted {
			if p := <-j.done; p != nil {
				workerPanic = p
			}
		}
		if workerPanic != nil {
			panic(workerPanic)
		}
	}()
	j.run(&j.lanes[0])
}

// newLanes returns the lanes of a scratch for a model whose scans use up
// to workers goroutines.
func newLanes(workers int) []lane {
	lanes := make([]lane, workers)
	for i := range lanes {
		lanes[i].buf = make([]float32, scanBlock)
	}
	return lanes
}

// rescoreExact sets the score of every candidate to the float inner product
// of q and its item vector, bit for bit the value a scanDot scan computes:
// the vector kernels sum a row differently inside a four-row group than
// alone, so a row that the scan scored in a group is rescored in the same
// group (see the dot package documentation). buf holds four scores.
func (m *Model) rescoreExact(cands []candidate, q []float32, buf *[4]float32) {
	st := m.items.Stride
	tail := m.n &^ 3 // rows from here on are scored one by one
	for i := range cands {
		r := int(cands[i].Index)
		if r < tail {
			g := r &^ 3
			dot.Scores(buf[:], m.items.Data[g*st:], st, q)
			cands[i].Score = buf[r-g]
		} else {
			dot.Scores(buf[:1], m.items.Data[r*st:], st, q)
			cands[i].Score = buf[0]
		}
	}
}

// rankFactors leaves in sc.cands the best n items by inner product with
// the user vector q, best first, skipping sc.blocked and the cold items.
// With int8 vectors loaded and exact unset, it shortlists by the int8
// scan, rescores the shortlist with the float vectors and checks that no
// item outside the shortlist can beat the n-th rescored one. When that
// check fails it scans the int8 vectors again for every item that could
// (up to a bound), and when that fails too it does the float scan. Either
// way the answer is the float scan's, bit for bit, so an exact request
// takes this path too. With an ANN index loaded and exact unset, it
// searches the index instead (see searchANN).
func (m *Model) rankFactors(sc *scratch, q []float32, n int, exact bool) {
	if rs := sc.filter; rs != nil && rs.listed {
		// A selective filter: score just its rows, shortlisting them by
		// their int8 rows when the shortlist can be proved, else exactly.
		// A filter on a few categories scans their contiguous blocks of
		// int8 rows; another gathers its rows (a cache line each at 64
		// factors) from where they are.
		blocks := m.blocksCheaper(rs)
		if blocks || m.directCheaper(rs.count) {
			if k := shortlistSize(n); m.i8 != nil && k < rs.count {
				qScale := dot.QuantizeVector(sc.qi, q)
				if blocks {
					m.scanBlocksInt8(sc, qScale, rs.ranges, k)
				} else {
					m.scanRowsInt8(sc, qScale, rs.rows, k)
				}
				if m.rescoreCertified(sc, q, qScale, n, k) {
					return
				}
				m.int8Widened.Add(1)
			}
			m.scanRows(sc, scanDot, q, rs.rows, n)
			return
		}
	}
	if m.ann != nil && !exact {
		m.searchANN(sc, q, n)
		return
	}
	k := shortlistSize(n)
	if m.i8 == nil || k >= m.n {
		m.scan(sc, scanDot, q, nil, 0, n)
		return
	}
	qScale := dot.QuantizeVector(sc.qi, q)
	m.scan(sc, scanInt8, nil, sc.qi, qScale, k)
	m.certifyInt8(sc, q, qScale, n, k)
}

// certifyInt8 turns the int8 shortlist of k in sc.cands (a catalogue
// scan's) into the exact top n: proved, else widened and proved, else
// answered by the float scan.
func (m *Model) certifyInt8(sc *scratch, q []float32, qScale float32, n, k int) {
	if m.rescoreCertified(sc, q, qScale, n, k) {
		return
	}
	// Some item beyond the shortlist might still beat the n-th: widen it.
	m.int8Widened.Add(1)
	k2 := min(wideShortlistSize(n), m.n)
	m.scan(sc, scanInt8, nil, sc.qi, qScale, k2)
	if m.rescoreCertified(sc, q, qScale, n, k2) {
		return
	}
	m.int8Fallbacks.Add(1)
	m.scan(sc, scanDot, q, nil, 0, n)
}

// rescoreCertified rescores the int8 shortlist in sc.cands (at most k
// candidates, best int8 score first) with the float vectors, keeps the
// best n in sc.cands and reports whether they are provably the exact top
// n: either the shortlist holds every item that may be returned, or the
// last shortlisted int8 score is below the n-th exact score by more than
// the quantisation error bound, so no item left out can reach it. Only
// the candidates that can reach it are rescored.
func (m *Model) rescoreCertified(sc *scratch, q []float32, qScale float32, n, k int) bool {
	short := sc.cands
	if len(short) < k || len(short) <= n {
		// Every item that may be returned is in the shortlist.
		m.rescoreTop(sc, q, n)
		return true
	}
	sK := short[len(short)-1].Score
	// The n-th best int8 score lower-bounds the n-th exact score up to the
	// error bound: candidates below that cannot make the top n.
	cut := len(short)
	if floor := float64(short[n-1].Score) - 2*m.shortlistMargin(q, qScale, short[n-1].Score); floor > float64(sK) {
		cut, _ = slices.BinarySearchFunc(short, floor, func(c candidate, f float64) int {
			if float64(c.Score) >= f {
				return -1
			}
			return 1
		})
	}
	sc.cands = short[:cut]
	m.rescoreTop(sc, q, n)
	t := sc.cands[len(sc.cands)-1].Score
	mag := max(float32(math.Abs(float64(sK))), float32(math.Abs(float64(t))))
	return len(sc.cands) == n && float64(sK)+m.shortlistMargin(q, qScale, mag) < float64(t)
}

// rescoreTop rescores sc.cands exactly and keeps the best n, best first.
func (m *Model) rescoreTop(sc *scratch, q []float32, n int) {
	m.rescoreExact(sc.cands, q, &sc.row4)
	sc.top.reset(n)
	for _, c := range sc.cands {
		sc.top.push(c)
	}
	sc.cands = sc.top.appendSorted(sc.cands[:0])
}

// Int8Fallbacks returns how many Recommend requests shortlisted with the
// int8 vectors but could not prove the shortlist held the exact top N, and
// so scanned the float vectors as well. It stays 0 without int8 vectors.
func (m *Model) Int8Fallbacks() uint64 { return m.int8Fallbacks.Load() }

// UsesInt8 reports whether Recommend shortlists with int8 item vectors.
func (m *Model) UsesInt8() bool { return m.i8 != nil }

// ScanWorkers returns how many goroutines may share one catalogue scan: 1
// when scans are not split. Int8 and float scans split from different
// catalogue sizes (ModelOptions.Int8ParallelMinItems), so one of the two
// may still run on one goroutine.
func (m *Model) ScanWorkers() int { return m.workers }
