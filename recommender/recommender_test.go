package recommender

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRecommenderBeforeSwap(t *testing.T) {
	r := New()
	if m := r.Current(); m != nil {
		t.Errorf("Current() before Swap = %v, want nil", m)
	}
	ctx := context.Background()
	if got, err := r.Recommend(ctx, RecommendRequest{UserID: "u1", N: 1}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Recommend before Swap = %v, %v; want error %v", got, err, ErrUnavailable)
	}
	if got, err := r.SimilarItems(ctx, SimilarRequest{ItemID: "a", N: 1}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("SimilarItems before Swap = %v, %v; want error %v", got, err, ErrUnavailable)
	}
	var zero Recommender
	if _, err := zero.Recommend(ctx, RecommendRequest{UserID: "u1", N: 1}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("zero Recommender: Recommend err = %v, want %v", err, ErrUnavailable)
	}
}

func TestRecommenderSwap(t *testing.T) {
	ctx := context.Background()
	r := New()
	m1 := newTestModel(t, openFake, smallData())
	if old := r.Swap(m1); old != nil {
		t.Errorf("first Swap returned %v, want nil", old)
	}
	if r.Current() != m1 {
		t.Errorf("Current() is not the swapped-in model")
	}
	got, err := r.Recommend(ctx, RecommendRequest{UserID: "u1", N: 1})
	if err != nil || len(got.Items) != 1 || got.Items[0].ID != "f" {
		t.Errorf("Recommend(u1) = %v, %v; want [f]", got, err)
	}
	sim, err := r.SimilarItems(ctx, SimilarRequest{ItemID: "a", N: 1})
	if err != nil || len(sim.Items) != 1 || sim.Items[0].ID != "c" {
		t.Errorf("SimilarItems(a) = %v, %v; want [c]", sim, err)
	}

	// A model whose only user vector points the other way: answers change
	// with the swap.
	d := smallData()
	d.userVecs[0] = []float32{-1, 0}
	m2, err := NewModel(newFake("v2", d))
	if err != nil {
		t.Fatal(err)
	}
	if old := r.Swap(m2); old != m1 {
		t.Errorf("Swap returned %v, want the first model", old)
	}
	got, err = r.Recommend(ctx, RecommendRequest{UserID: "u1", N: 1})
	if err != nil || got.Version != "v2" || len(got.Items) != 1 || got.Items[0].ID != "d" {
		t.Errorf("Recommend(u1) after Swap = %v, %v; want [d] from v2", got, err)
	}

	// A model closed while still current is reported, not retried forever.
	if err := m2.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Recommend(ctx, RecommendRequest{UserID: "u1", N: 1}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Recommend with a closed current model: err = %v, want %v", err, ErrUnavailable)
	}
	if old := r.Swap(nil); old != m2 {
		t.Errorf("Swap(nil) returned %v, want the second model", old)
	}
	if _, err := r.Recommend(ctx, RecommendRequest{UserID: "u1", N: 1}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Recommend after Swap(nil): err = %v, want %v", err, ErrUnavailable)
	}
}

// TestRecommenderConcurrentSwap serves from several goroutines while the
// model is swapped and the old one closed over and over. No request may
// fail, and no closed snapshot may be touched (the fakes count that). It
// fails unless some request was in flight during a swap and every version
// answered, so a run in which the swaps missed the load cannot pass.
func TestRecommenderConcurrentSwap(t *testing.T) {
	const (
		workers = 4
		swaps   = 40
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := New()
	var fakes []*fakeSnapshot
	newModel := func(i int) *Model {
		f := newFake(fmt.Sprintf("v%d", i), smallData())
		fakes = append(fakes, f)
		m, err := NewModel(f)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	r.Swap(newModel(0))

	// The test proves that the swaps happened under load: begun and ended
	// count the swaps that have started and returned, so a request that
	// read ended = e before it started and begun = b > e after it returned
	// overlapped swap e+1.
	var (
		begun, ended atomic.Int64
		done         atomic.Int64 // requests answered
		newest       atomic.Int64 // the newest version that answered
		overlapped   atomic.Int64
		mu           sync.Mutex
		seen         = map[string]bool{}
		started, wg  sync.WaitGroup
	)
	errs := make(chan error, workers)
	started.Add(workers)
	for w := range workers {
		wg.Go(func() {
			first := true
			for i := 0; ctx.Err() == nil; i++ {
				var (
					res Result
					err error
				)
				e := ended.Load()
				if (w+i)%2 == 0 {
					res, err = r.Recommend(ctx, RecommendRequest{UserID: "u1", N: 3, Exclude: []string{"b"}})
				} else {
					res, err = r.SimilarItems(ctx, SimilarRequest{ItemID: "a", N: 5})
				}
				if err != nil && ctx.Err() == nil {
					errs <- err
					if first {
						started.Done()
					}
					return
				}
				if err == nil {
					if begun.Load() > e {
						overlapped.Add(1)
					}
					var j int64
					if _, err := fmt.Sscanf(res.Version, "v%d", &j); err != nil {
						errs <- fmt.Errorf("answer from version %q: %v", res.Version, err)
						return
					}
					mu.Lock()
					seen[res.Version] = true
					mu.Unlock()
					for n := newest.Load(); j > n && !newest.CompareAndSwap(n, j); n = newest.Load() {
					}
					done.Add(1)
				}
				if first {
					first = false
					started.Done()
				}
			}
		})
	}
	// Swap only once every worker has answered a request, and then only
	// after the current version has answered, so that the swaps are spread
	// over the load rather than all done before it.
	started.Wait()
	for i := 1; i <= swaps; i++ {
		for newest.Load() < int64(i-1) && len(errs) == 0 {
			runtime.Gosched()
		}
		begun.Add(1)
		old := r.Swap(newModel(i))
		ended.Add(1)
		if err := old.Close(); err != nil {
			t.Errorf("Close old model: %v", err)
		}
	}
	for newest.Load() < swaps && len(errs) == 0 {
		runtime.Gosched()
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("request during Swap failed: %v", err)
	}
	t.Logf("%d requests, %d overlapping a swap; %d versions seen", done.Load(), overlapped.Load(), len(seen))
	if overlapped.Load() == 0 {
		t.Errorf("no request overlapped any of the %d swaps: the test did not exercise Swap under load", swaps)
	}
	if len(seen) != swaps+1 {
		t.Errorf("answers came from %d versions, want all %d", len(seen), swaps+1)
	}
	if err := r.Swap(nil).Close(); err != nil {
		t.Errorf("Close last model: %v", err)
	}
	for _, f := range fakes {
		if n := f.callsAfterDone.Load(); n != 0 {
			t.Errorf("snapshot %s: %d calls after Close", f.version, n)
		}
		if n := f.closes.Load(); n != 1 {
			t.Errorf("snapshot %s closed %d times, want 1", f.version, n)
		}
	}
}
