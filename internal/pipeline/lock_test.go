package pipeline

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/polecam/polecam/store"
)

// TestConcurrentTrainsTakeTurns runs two trainings on one data directory
// at once: they take turns, so each published version's gate compared
// against the version it replaced — one decision per published version.
func TestConcurrentTrainsTakeTurns(t *testing.T) {
	ctx := context.Background()
	logFile := sampleLog(t)
	dataDir := t.TempDir()
	first, err := Train(ctx, options(t, dataDir, logFile))
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		compared = map[string]string{} // version -> the published version its gate compared with
		wg       sync.WaitGroup
		errs     = make([]error, 2)
	)
	for i := range 2 {
		o := options(t, dataDir, logFile)
		o.ALS.Seed = int64(10 + i)
		o.Gate.Force = true // publish whatever the figures: the decision is what is checked
		o.Summary = func(s Summary) {
			mu.Lock()
			defer mu.Unlock()
			compared[s.Version] = s.Gate.PublishedVersion
		}
		wg.Go(func() { _, errs[i] = Train(ctx, o) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Train() %d error = %v", i, err)
		}
	}
	dir, err := store.OpenDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := dir.History()
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 || h[0] != first.Version {
		t.Fatalf("History() = %v, want %s then the two concurrent runs", h, first.Version)
	}
	for i := 1; i < len(h); i++ {
		if got := compared[h[i]]; got != h[i-1] {
			t.Errorf("published %s was gated against %q, but it replaced %s", h[i], got, h[i-1])
		}
	}
}

// TestTrainLockTimeout gives up on a held lock after the timeout, with a
// message naming the holder.
func TestTrainLockTimeout(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	o := options(t, dataDir, sampleLog(t))
	held, err := lockTraining(ctx, dataDir, 0, o.Logger)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	o.LockTimeout = 300 * time.Millisecond
	start := time.Now()
	_, err = Train(ctx, o)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Train() with the lock held = %v, want ErrLocked", err)
	}
	if waited := time.Since(start); waited < o.LockTimeout {
		t.Errorf("Train() gave up after %v, want at least %v", waited, o.LockTimeout)
	}
	if msg := err.Error(); !strings.Contains(msg, "pid ") || !strings.Contains(msg, "--lock-timeout") {
		t.Errorf("Train() error = %q, want the holder's pid and the flag to raise", msg)
	}
	vs, _ := mustDir(t, dataDir).Versions()
	if len(vs) != 0 {
		t.Errorf("a run that did not get the lock wrote %d versions", len(vs))
	}
}

func mustDir(t *testing.T, p string) *store.Dir {
	t.Helper()
	d, err := store.OpenDir(p)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestTrainPublishIsCompareAndSwap: when the published version changes
// between the gate's comparison and the publish (an operator's rollback),
// the run leaves its version unpublished and says to run again.
func TestTrainPublishIsCompareAndSwap(t *testing.T) {
	ctx := context.Background()
	logFile := sampleLog(t)
	dataDir := t.TempDir()
	var v []string
	for range 2 {
		m, err := Train(ctx, options(t, dataDir, logFile))
		if err != nil {
			t.Fatal(err)
		}
		v = append(v, m.Version)
	}
	dir := mustDir(t, dataDir)
	testHookBeforePublish = func() {
		if _, err := dir.Rollback(); err != nil {
			t.Errorf("Rollback() in the hook: %v", err)
		}
	}
	defer func() { testHookBeforePublish = nil }()
	o := options(t, dataDir, logFile)
	o.Gate.Force = true
	m, err := Train(ctx, o)
	if !errors.Is(err, store.ErrPublishedChanged) || !strings.Contains(err.Error(), "run train again") {
		t.Fatalf("Train() with a rollback before its publish = %v, want ErrPublishedChanged saying to run again", err)
	}
	if got, err := dir.Published(); err != nil || got != v[0] {
		t.Errorf("Published() = %q, %v, want the rolled-back-to %s", got, err, v[0])
	}
	if _, err := dir.Info(m.Version); err != nil {
		t.Errorf("the unpublished version %s is not kept: %v", m.Version, err)
	}
}
