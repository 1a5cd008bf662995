package training

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
)

func TestParallelChunks(t *testing.T) {
	for _, tt := range []struct{ n, chunk, workers int }{
		{0, 4, 2}, {1, 4, 2}, {10, 3, 1}, {10, 3, 4}, {1000, 64, 3},
	} {
		hits := make([]atomic.Int32, tt.n)
		err := parallelChunks(context.Background(), tt.n, tt.chunk, tt.workers, func(w, lo, hi int) error {
			if w < 0 || w >= tt.workers {
				t.Errorf("worker %d outside [0, %d)", w, tt.workers)
			}
			if lo%tt.chunk != 0 || hi-lo > tt.chunk {
				t.Errorf("chunk [%d, %d) not aligned to %d", lo, hi, tt.chunk)
			}
			for i := lo; i < hi; i++ {
				hits[i].Add(1)
			}
			return nil
		})
		if err != nil {
			t.Errorf("parallelChunks(%+v) = %v", tt, err)
		}
		for i := range hits {
			if h := hits[i].Load(); h != 1 {
				t.Errorf("parallelChunks(%+v): index %d visited %d times, want 1", tt, i, h)
			}
		}
	}
}

func TestParallelChunksErrors(t *testing.T) {
	boom := errors.New("boom")
	err := parallelChunks(context.Background(), 100, 1, 2, func(_, lo, _ int) error {
		if lo == 10 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Errorf("parallelChunks with a failing chunk = %v, want %v", err, boom)
	}

	err = parallelChunks(context.Background(), 100, 1, 2, func(_, lo, _ int) error {
		if lo == 10 {
			panic("kaboom")
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "panic: kaboom") {
		t.Errorf("parallelChunks with a panicking chunk = %v, want the panic as an error", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	err = parallelChunks(ctx, 100, 1, 2, func(_, lo, _ int) error {
		calls.Add(1)
		if lo == 0 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("parallelChunks after cancel = %v, want context.Canceled", err)
	}
	if c := calls.Load(); c > 3 {
		t.Errorf("parallelChunks ran %d chunks after cancel, want at most one per worker more", c)
	}
}
