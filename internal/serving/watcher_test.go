package serving_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/test/bufconn"

	polecamv1 "github.com/polecam/polecam/api/polecam/v1"
	"github.com/polecam/polecam/internal/server"
	"github.com/polecam/polecam/internal/serving"
	"github.com/polecam/polecam/recommender"
	"github.com/polecam/polecam/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	numItems = 300
	numUsers = 60
	dims     = 16
)

// userID and itemID name the users and items of every test version.
func userID(u int) string { return fmt.Sprintf("u%03d", u) }
func itemID(i int) string { return fmt.Sprintf("sku-%04d", i) }

// writeVersion writes one complete, unpublished version with factors drawn
// from seed and returns its name.
func writeVersion(t testing.TB, dir *store.Dir, seed uint64) string {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 7))
	b, err := dir.NewBuilder(ctx)
	if err != nil {
		t.Fatalf("NewBuilder() error = %v", err)
	}
	defer b.Abort()
	items := make([]string, numItems)
	for i := range items {
		items[i] = itemID(i)
	}
	users := make([]string, numUsers)
	for u := range users {
		users[u] = userID(u)
	}
	randm := func(rows int) []float32 {
		out := make([]float32, rows*dims)
		for i := range out {
			out[i] = float32(rng.NormFloat64())
		}
		return out
	}
	pop := make([]float32, numItems)
	for i := range pop {
		pop[i] = rng.Float32()
	}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("SetItems", b.SetItems(items))
	must("SetUsers", b.SetUsers(users))
	must("SetItemFactors", b.SetItemFactors(numItems, dims, randm(numItems)))
	must("SetUserFactors", b.SetUserFactors(numUsers, dims, randm(numUsers)))
	for u := range numUsers {
		must("PutSeen", b.PutSeen(int32(u), []int32{int32(rng.IntN(numItems)), int32(rng.IntN(numItems))}))
	}
	for i := range int32(10) {
		must("PutNeighbors", b.PutNeighbors(i, []store.Neighbor{{Item: (i + 1) % numItems, Score: 1}}))
	}
	must("SetPopularity", b.SetPopularity(pop))
	m, err := b.Commit(ctx, store.Manifest{})
	must("Commit", err)
	return m.Version
}

// stack is a watcher feeding a gRPC server over bufconn.
type stack struct {
	dir  *store.Dir
	rec  *recommender.Recommender
	w    *serving.Watcher
	reg  *prometheus.Registry
	conn *grpc.ClientConn
	stop func() // stops everything, in the order Serve does
}

// startStack serves dir over bufconn with a watcher polling every poll
// (which may be long: tests can call Check themselves).
func startStack(t *testing.T, dir *store.Dir, poll time.Duration) *stack {
	t.Helper()
	return startStackWith(t, dir, dir, poll, nil)
}

// startStackWith is startStack reading versions from src, with the
// watcher's options changed by modify (if not nil) and the watcher
// started only after modify ran.
func startStackWith(t *testing.T, dir *store.Dir, src serving.Source, poll time.Duration, modify func(*serving.Options)) *stack {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rec := recommender.New()
	reg := prometheus.NewRegistry()
	so := server.DefaultOptions()
	so.Logger = log
	srv, err := server.New(rec, so)
	if err != nil {
		t.Fatalf("server.New() error = %v", err)
	}
	wo := serving.DefaultOptions()
	wo.PollInterval = poll
	wo.Logger = log
	wo.Registerer = reg
	wo.Tombstones = serving.DirTombstones(dir)
	wo.OnLoad = func(string) { srv.SetServing(true) }
	if modify != nil {
		modify(&wo)
	}
	w, err := serving.New(src, rec, wo)
	if err != nil {
		t.Fatalf("serving.New() error = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.Start(ctx)
	lis := bufconn.Listen(1 << 20)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, lis) }()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient() error = %v", err)
	}
	var once sync.Once
	s := &stack{dir: dir, rec: rec, w: w, reg: reg, conn: conn}
	s.stop = func() {
		once.Do(func() {
			conn.Close()
			cancel()
			if err := <-served; err != nil {
				t.Errorf("Serve() = %v, want nil after cancel", err)
			}
			if err := w.Close(); err != nil {
				t.Errorf("Watcher.Close() = %v", err)
			}
		})
	}
	t.Cleanup(s.stop)
	return s
}

// served returns the version the recommender serves, or "".
func (s *stack) served() string {
	if m := s.rec.Current(); m != nil {
		return m.Version()
	}
	return ""
}

// waitServed waits until version v is served.
func (s *stack) waitServed(t *testing.T, v string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.served() != v {
		if time.Now().After(deadline) {
			t.Fatalf("version %s not served after 10s; serving %q", v, s.served())
		}
		time.Sleep(time.Millisecond)
	}
}

// metric returns the value of the counter or gauge called name.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather() error = %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var sum float64
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
		return sum
	}
	return 0
}

func health(t *testing.T, conn *grpc.ClientConn) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("Health.Check() error = %v", err)
	}
	return resp.GetStatus()
}

// TestSwapUnderLoad publishes and rolls back versions 50 times while
// clients call Recommend over gRPC: no call may fail, every answer must
// come from one of the complete versions, some calls must have been in
// flight during a swap and several versions must have answered (else the
// swaps missed the load), and after shutdown no goroutine (TestMain) and
// no mapping is left.
func TestSwapUnderLoad(t *testing.T) {
	baseline := store.MappedBytes()
	dir, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatalf("OpenDir() error = %v", err)
	}
	versions := make([]string, 4)
	complete := map[string]bool{}
	for i := range versions {
		versions[i] = writeVersion(t, dir, uint64(i+1))
		complete[versions[i]] = true
	}
	if err := dir.Publish(versions[0]); err != nil {
		t.Fatalf("Publish() error = %v", err)
	}
	s := startStack(t, dir, 2*time.Millisecond)
	s.waitServed(t, versions[0])

	const clients = 8
	var (
		stop      atomic.Bool
		wg        sync.WaitGroup
		calls     atomic.Int64
		failures  atomic.Int64
		mu        sync.Mutex
		seen      = map[string]int{}
		firstFail error
		// A call that read ended = e before it started and begun > e
		// after it returned was in flight during swap e+1 (from Publish
		// or Rollback to the new version being served).
		begun, ended atomic.Int64
		overlapped   atomic.Int64
		started      sync.WaitGroup
	)
	c := polecamv1.NewRecommendationServiceClient(s.conn)
	started.Add(clients)
	for k := range clients {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				user := userID((k*31 + i) % (numUsers + 5)) // a few unknown users too
				e := ended.Load()
				resp, err := c.Recommend(context.Background(), &polecamv1.RecommendRequest{UserId: user, N: 10})
				if begun.Load() > e {
					overlapped.Add(1)
				}
				if calls.Add(1); i == 0 {
					started.Done()
				}
				mu.Lock()
				if err != nil {
					failures.Add(1)
					if firstFail == nil {
						firstFail = err
					}
				} else {
					seen[resp.GetModelVersion()]++
				}
				mu.Unlock()
			}
		})
	}

	started.Wait() // every client has made a call: the load is on
	swaps := 0
	for i := range 50 {
		begun.Add(1)
		if i%5 == 4 {
			v, err := dir.Rollback()
			if err != nil {
				t.Fatalf("Rollback() error = %v", err)
			}
			s.waitServed(t, v)
		} else {
			next := versions[(i+1)%len(versions)]
			if next == s.served() {
				next = versions[(i+2)%len(versions)]
			}
			if err := dir.Publish(next); err != nil {
				t.Fatalf("Publish(%s) error = %v", next, err)
			}
			s.waitServed(t, next)
		}
		ended.Add(1)
		swaps++
		time.Sleep(2 * time.Millisecond) // let the clients hit this version
	}
	stop.Store(true)
	wg.Wait()

	if n := failures.Load(); n != 0 {
		t.Errorf("%d of %d Recommend calls failed; first: %v", n, calls.Load(), firstFail)
	}
	for v, n := range seen {
		if !complete[v] {
			t.Errorf("%d responses from model version %q, which is not one of the complete versions %v", n, v, versions)
		}
	}
	if overlapped.Load() == 0 {
		t.Errorf("no call was in flight during any of the %d swaps: the swaps did not happen under load", swaps)
	}
	if len(seen) < 2 {
		t.Errorf("responses came from %d versions (%v), want several: the swaps did not happen under load", len(seen), seen)
	}
	if got := metric(t, s.reg, "polecam_model_load_failures_total"); got != 0 {
		t.Errorf("polecam_model_load_failures_total = %v, want 0", got)
	}
	if got, want := metric(t, s.reg, "polecam_model_loads_total"), float64(swaps+1); got != want {
		t.Errorf("polecam_model_loads_total = %v, want %v", got, want)
	}
	t.Logf("%d calls over %d swaps, %d of them in flight during a swap, from %d versions", calls.Load(), swaps, overlapped.Load(), len(seen))

	s.stop()
	if got := store.MappedBytes(); got != baseline {
		t.Errorf("store.MappedBytes() after shutdown = %d, want the baseline %d", got, baseline)
	}
}

// flipByte flips one bit of a byte in the payload of a version's item
// vector file, keeping its size.
func flipByte(t *testing.T, dir *store.Dir, version string) {
	t.Helper()
	path := filepath.Join(dir.Path(), "versions", version, "items.vec")
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()
	b := make([]byte, 1)
	off := int64(store.VecHeaderSize + 100)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	b[0] ^= 0x10
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

// TestCorruptVersionRefused publishes a version whose item vectors fail
// their checksum: the server keeps serving the old version, health stays
// SERVING, the failure is counted once, and a later good version loads.
func TestCorruptVersionRefused(t *testing.T) {
	ctx := context.Background()
	dir, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatalf("OpenDir() error = %v", err)
	}
	s := startStack(t, dir, time.Hour) // the test drives Check itself
	if got := health(t, s.conn); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health before any version = %v, want NOT_SERVING", got)
	}

	good := writeVersion(t, dir, 1)
	if err := dir.Publish(good); err != nil {
		t.Fatal(err)
	}
	if err := s.w.Check(ctx); err != nil {
		t.Fatalf("Check() after publishing %s error = %v", good, err)
	}
	if got := health(t, s.conn); got != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health after loading = %v, want SERVING", got)
	}

	bad := writeVersion(t, dir, 2)
	flipByte(t, dir, bad)
	if err := dir.Publish(bad); err != nil {
		t.Fatalf("Publish(corrupt %s) error = %v", bad, err)
	}
	for range 3 { // refused once, then not retried
		if err := s.w.Check(ctx); err != nil {
			t.Logf("Check() = %v", err)
		}
	}
	if got := s.served(); got != good {
		t.Errorf("served %q after a corrupt publish, want %q", got, good)
	}
	if got := health(t, s.conn); got != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health after a refused version = %v, want SERVING", got)
	}
	resp, err := polecamv1.NewRecommendationServiceClient(s.conn).Recommend(ctx, &polecamv1.RecommendRequest{UserId: userID(1), N: 5})
	if err != nil || resp.GetModelVersion() != good {
		t.Errorf("Recommend() = %v, %v, want an answer from %s", resp.GetModelVersion(), err, good)
	}
	if got := metric(t, s.reg, "polecam_mapped_bytes"); got <= 0 {
		t.Errorf("polecam_mapped_bytes = %v while serving, want > 0", got)
	}
	if got := metric(t, s.reg, "polecam_model_load_failures_total"); got != 1 {
		t.Errorf("polecam_model_load_failures_total = %v, want 1", got)
	}

	next := writeVersion(t, dir, 3)
	if err := dir.Publish(next); err != nil {
		t.Fatal(err)
	}
	if err := s.w.Check(ctx); err != nil {
		t.Fatalf("Check() after publishing %s error = %v", next, err)
	}
	if got := s.served(); got != next {
		t.Errorf("served %q, want %q", got, next)
	}
	if got := metric(t, s.reg, "polecam_model_loads_total"); got != 2 {
		t.Errorf("polecam_model_loads_total = %v, want 2", got)
	}
	if got := metric(t, s.reg, "polecam_model_info"); got != 1 {
		t.Errorf("sum of polecam_model_info = %v, want 1 (one version served)", got)
	}
}

// TestForgetAppliesAtOnce forgets a user in the data directory: from the
// next poll on the server answers them as an unknown visitor.
func TestForgetAppliesAtOnce(t *testing.T) {
	ctx := context.Background()
	dir, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatalf("OpenDir() error = %v", err)
	}
	v := writeVersion(t, dir, 1)
	if err := dir.Publish(v); err != nil {
		t.Fatal(err)
	}
	s := startStack(t, dir, time.Hour)
	c := polecamv1.NewRecommendationServiceClient(s.conn)
	recommend := func(user string) *polecamv1.RecommendResponse {
		t.Helper()
		resp, err := c.Recommend(ctx, &polecamv1.RecommendRequest{UserId: user, N: 5})
		if err != nil {
			t.Fatalf("Recommend(%q) error = %v", user, err)
		}
		return resp
	}
	forgotten, kept := userID(3), userID(4)
	if recommend(forgotten).GetFallback() {
		t.Fatalf("Recommend(%q) is a fallback before forgetting; the test needs a known user", forgotten)
	}
	if err := dir.Forget(forgotten); err != nil {
		t.Fatalf("Forget() error = %v", err)
	}
	if err := s.w.Check(ctx); err != nil {
		t.Fatalf("Check() error = %v", err)
	}
	got, anon := recommend(forgotten), recommend("never-seen-visitor")
	if !got.GetFallback() {
		t.Errorf("Recommend(forgotten %q).Fallback = false, want true", forgotten)
	}
	if fmt.Sprint(got.GetItems()) != fmt.Sprint(anon.GetItems()) {
		t.Errorf("Recommend(forgotten %q) = %v, want the unknown visitor's %v", forgotten, got.GetItems(), anon.GetItems())
	}
	if recommend(kept).GetFallback() {
		t.Errorf("Recommend(%q) became a fallback, but only %q was forgotten", kept, forgotten)
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*serving.Options)
		ok     bool
	}{
		{"defaults", func(*serving.Options) {}, true},
		{"zero poll", func(o *serving.Options) { o.PollInterval = 0 }, false},
		{"no logger", func(o *serving.Options) { o.Logger = nil }, false},
		{"zero back-off", func(o *serving.Options) { o.RetryBackoff = 0 }, false},
		{"maximum below back-off", func(o *serving.Options) { o.MaxRetryBackoff = o.RetryBackoff / 2 }, false},
	}
	for _, tt := range tests {
		o := serving.DefaultOptions()
		tt.modify(&o)
		if err := o.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

// BenchmarkStartToServing measures how long a watcher takes from Start to
// a served (verified and warmed) small model.
func BenchmarkStartToServing(b *testing.B) {
	dir, err := store.OpenDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	v := writeVersion(b, dir, 1)
	if err := dir.Publish(v); err != nil {
		b.Fatal(err)
	}
	o := serving.DefaultOptions()
	o.PollInterval = time.Hour
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	b.ReportAllocs()
	for b.Loop() {
		rec := recommender.New()
		w, err := serving.New(dir, rec, o)
		if err != nil {
			b.Fatal(err)
		}
		w.Start(context.Background())
		if rec.Current() == nil {
			b.Fatal("no model after Start")
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
