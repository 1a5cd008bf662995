package serving_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	polecamv1 "github.com/polecam/polecam/api/polecam/v1"
	"github.com/polecam/polecam/internal/serving"
	"github.com/polecam/polecam/store"
)

// repairByte undoes flipByte the way an operator restores a file from a
// backup: a new file renamed over the damaged one.
func repairByte(t *testing.T, dir *store.Dir, version string) {
	t.Helper()
	path := filepath.Join(dir.Path(), "versions", version, "items.vec")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[store.VecHeaderSize+100] ^= 0x10
	tmp := path + ".restore"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestStartOnCorruptPublishedServesPrevious starts a server while the
// published version is corrupt: it serves the newest good version of the
// publish history, reports SERVING, says it is degraded, and loads the
// published version at the first poll after it was repaired.
func TestStartOnCorruptPublishedServesPrevious(t *testing.T) {
	ctx := context.Background()
	dir, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var v []string
	for i := range 3 {
		v = append(v, writeVersion(t, dir, uint64(i+1)))
		if err := dir.Publish(v[i]); err != nil {
			t.Fatal(err)
		}
	}
	flipByte(t, dir, v[2]) // published
	flipByte(t, dir, v[1]) // the one below it too: fall back further
	s := startStack(t, dir, time.Hour)

	if got := s.served(); got != v[0] {
		t.Fatalf("served %q at start-up on a corrupt published version, want the newest good one %s", got, v[0])
	}
	if got := health(t, s.conn); got != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health while degraded = %v, want SERVING", got)
	}
	resp, err := polecamv1.NewRecommendationServiceClient(s.conn).Recommend(ctx, &polecamv1.RecommendRequest{UserId: userID(1), N: 5})
	if err != nil || resp.GetModelVersion() != v[0] {
		t.Errorf("Recommend() = %v, %v, want an answer from %s", resp.GetModelVersion(), err, v[0])
	}
	if got := metric(t, s.reg, "polecam_serving_degraded"); got != 1 {
		t.Errorf("polecam_serving_degraded = %v, want 1", got)
	}
	st := s.w.Status()
	if !st.Degraded || st.Published != v[2] || st.Served != v[0] || st.Reason == "" {
		t.Errorf("Status() = %+v, want degraded, published %s, served %s, with a reason", st, v[2], v[0])
	}
	failures := metric(t, s.reg, "polecam_model_load_failures_total")
	if failures != 2 {
		t.Errorf("polecam_model_load_failures_total = %v, want 2 (%s and %s)", failures, v[2], v[1])
	}

	// Unchanged files are not re-read at every poll.
	for range 3 {
		if err := s.w.Check(ctx); err != nil {
			t.Errorf("Check() of an unchanged refused version = %v, want nil (not retried)", err)
		}
	}
	if got := metric(t, s.reg, "polecam_model_load_failures_total"); got != failures {
		t.Errorf("polecam_model_load_failures_total = %v after polls of unchanged files, want %v", got, failures)
	}

	repairByte(t, dir, v[2])
	if err := s.w.Check(ctx); err != nil {
		t.Fatalf("Check() after repairing %s error = %v", v[2], err)
	}
	if got := s.served(); got != v[2] {
		t.Errorf("served %q after repairing the published version, want %s", got, v[2])
	}
	if got := metric(t, s.reg, "polecam_serving_degraded"); got != 0 {
		t.Errorf("polecam_serving_degraded = %v after the repair, want 0", got)
	}
	if st := s.w.Status(); st.Degraded {
		t.Errorf("Status() = %+v after the repair, want not degraded", st)
	}
}

// flakySource fails to open its published version while fail is set,
// without any file changing.
type flakySource struct {
	*store.Dir
	fail  atomic.Bool
	opens atomic.Int64
}

func (f *flakySource) Open(v string, o store.OpenOptions) (*store.Snapshot, error) {
	f.opens.Add(1)
	if f.fail.Load() {
		return nil, errors.New("injected: i/o error")
	}
	return f.Dir.Open(v, o)
}

// TestRefusedRetriedAfterBackoff: a version refused for a passing fault
// (no file changed) is retried after the back-off, which doubles with
// every refusal up to the maximum, and loads once the fault is gone.
func TestRefusedRetriedAfterBackoff(t *testing.T) {
	ctx := context.Background()
	dir, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	good := writeVersion(t, dir, 1)
	if err := dir.Publish(good); err != nil {
		t.Fatal(err)
	}
	src := &flakySource{Dir: dir}
	s := startStackWith(t, dir, src, time.Hour, func(o *serving.Options) {
		o.RetryBackoff, o.MaxRetryBackoff = time.Minute, 3*time.Minute
	})
	s.waitServed(t, good)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	serving.SetClock(s.w, func() time.Time { return now })

	next := writeVersion(t, dir, 2)
	if err := dir.Publish(next); err != nil {
		t.Fatal(err)
	}
	src.fail.Store(true)
	steps := []struct {
		advance   time.Duration
		wantOpens int64 // opens of next so far
	}{
		{0, 1},                // refused: back-off 1m
		{59 * time.Second, 1}, // not due
		{time.Second, 2},      // due: refused again, back-off 2m
		{time.Minute, 2},
		{time.Minute, 3}, // back-off 3m (the maximum)
		{2 * time.Minute, 3},
		{time.Minute, 4}, // still 3m
		{3 * time.Minute, 5},
	}
	base := src.opens.Load()
	for i, st := range steps {
		now = now.Add(st.advance)
		s.w.Check(ctx)
		if got := src.opens.Load() - base; got != st.wantOpens {
			t.Fatalf("step %d (+%v): %d opens of the refused version, want %d", i, st.advance, got, st.wantOpens)
		}
		if got := s.served(); got != good {
			t.Fatalf("step %d: served %q, want %s", i, got, good)
		}
	}
	src.fail.Store(false)
	now = now.Add(3 * time.Minute)
	if err := s.w.Check(ctx); err != nil {
		t.Fatalf("Check() after the fault passed error = %v", err)
	}
	if got := s.served(); got != next {
		t.Errorf("served %q after the fault passed, want %s", got, next)
	}
}
