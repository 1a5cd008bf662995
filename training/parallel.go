package training

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// parallelChunks calls fn(worker, lo, hi) for consecutive chunks [lo, hi) of
// [0, n), each chunk exactly once, from at most workers goroutines. worker
// is in [0, workers) and identifies the calling goroutine, so fn may use
// per-worker scratch without locking. Chunk boundaries depend only on n and
// chunk, never on workers.
//
// All goroutines have returned when parallelChunks returns. The first error
// returned by fn, a panic in fn (converted to an error with its stack) or the
// cancellation of ctx, checked before every chunk, stops the remaining work
// and is returned.
func parallelChunks(ctx context.Context, n, chunk, workers int, fn func(worker, lo, hi int) error) error {
	if n <= 0 {
		return ctx.Err()
	}
	nchunks := (n + chunk - 1) / chunk
	workers = max(1, min(workers, nchunks))
	var (
		next    atomic.Int64
		stop    atomic.Bool
		errOnce sync.Once
		first   error
		wg      sync.WaitGroup
	)
	fail := func(err error) {
		errOnce.Do(func() { first = err })
		stop.Store(true)
	}
	run := func(w int) {
		defer func() {
			if r := recover(); r != nil {
				fail(fmt.Errorf("training worker panic: %v\n%s", r, debug.Stack()))
			}
		}()
		for !stop.Load() {
			c := int(next.Add(1) - 1)
			if c >= nchunks {
				return
			}
			if err := ctx.Err(); err != nil {
				fail(err)
				return
			}
			lo := c * chunk
			if err := fn(w, lo, min(lo+chunk, n)); err != nil {
				fail(err)
				return
			}
		}
	}
	wg.Add(workers - 1)
	for w := 1; w < workers; w++ {
		go func() {
			defer wg.Done()
			run(w)
		}()
	}
	run(0)
	wg.Wait()
	return first
}
