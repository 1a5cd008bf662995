package cli

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	polecamv1 "github.com/polecam/polecam/api/polecam/v1"
	"github.com/polecam/polecam/store"
	"github.com/polecam/polecam/training/eventlog"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// run runs the command line and fails the test on error.
func run(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if err := Run(context.Background(), args, &out, &errb); err != nil {
		t.Fatalf("polecam %s: %v\nstderr:\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// history reads the generated log back: each user's items, and the items.
func history(t *testing.T, file string) (map[string]map[string]bool, []string) {
	t.Helper()
	seen := map[string]map[string]bool{}
	items := map[string]bool{}
	_, err := eventlog.Read(context.Background(), []string{file}, eventlog.DefaultOptions(), func(e eventlog.Event) error {
		if seen[e.User] == nil {
			seen[e.User] = map[string]bool{}
		}
		seen[e.User][e.Item] = true
		items[e.Item] = true
		return nil
	})
	if err != nil {
		t.Fatalf("read %s: %v", file, err)
	}
	var ids []string
	for id := range items {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return seen, ids
}

// TestEndToEnd generates a log, trains, publishes, serves on a free port
// and calls both RPCs through a real gRPC client; then publishes a second
// version and checks the running server swaps to it.
func TestEndToEnd(t *testing.T) {
	tmp := t.TempDir()
	logFile := filepath.Join(tmp, "events.csv.gz")
	dataDir := filepath.Join(tmp, "data")
	run(t, "gen", "--out", logFile, "--users", "400", "--items", "300", "--events", "40000", "--seed", "3")
	out := run(t, "train", "--log-level", "warn", "--data-dir", dataDir, "--events", logFile, "--factors", "16", "--iterations", "6")
	if !strings.Contains(out, "published") {
		t.Fatalf("train output = %q, want it to say the snapshot was published", out)
	}
	dir, err := store.OpenDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := dir.Published()
	if err != nil {
		t.Fatalf("Published() error = %v", err)
	}
	if out := run(t, "snapshots", "--data-dir", dataDir); !strings.Contains(out, v1) || !strings.Contains(out, "*") {
		t.Errorf("snapshots output = %q, want the published version %s marked", out, v1)
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts := DefaultServeOptions()
	opts.DataDir = dataDir
	opts.MetricsAddr = "127.0.0.1:0"
	opts.PollInterval = 20 * time.Millisecond
	opts.Server.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, lis, opts) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve() = %v, want nil after cancel", err)
		}
	}()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	waitServing(t, healthpb.NewHealthClient(conn))
	c := polecamv1.NewRecommendationServiceClient(conn)
	bg := context.Background()

	seen, items := history(t, logFile)
	user := ""
	for u, s := range seen {
		if len(s) >= 3 && (user == "" || u < user) {
			user = u
		}
	}

	t.Run("Recommend known user", func(t *testing.T) {
		res, err := c.Recommend(bg, &polecamv1.RecommendRequest{UserId: user, N: 10})
		if err != nil {
			t.Fatalf("Recommend(%q) error = %v", user, err)
		}
		if res.GetModelVersion() != v1 || res.GetFallback() {
			t.Errorf("Recommend(%q) version %q fallback %v, want %q and no fallback", user, res.GetModelVersion(), res.GetFallback(), v1)
		}
		checkItems(t, res.GetItems(), 10, polecamv1.ItemSource_ITEM_SOURCE_FACTORS)
		for _, it := range res.GetItems() {
			if seen[user][it.GetItemId()] {
				t.Errorf("Recommend(%q) returned %s, which the user has already seen", user, it.GetItemId())
			}
		}
		// Excluding the best item moves the rest up.
		top := res.GetItems()[0].GetItemId()
		res2, err := c.Recommend(bg, &polecamv1.RecommendRequest{UserId: user, N: 10, ExcludeItemIds: []string{top, "no-such-item"}})
		if err != nil {
			t.Fatalf("Recommend(%q, exclude %s) error = %v", user, top, err)
		}
		if got := res2.GetItems()[0].GetItemId(); got != res.GetItems()[1].GetItemId() {
			t.Errorf("Recommend(%q, exclude %s)[0] = %s, want %s", user, top, got, res.GetItems()[1].GetItemId())
		}
		// With include_seen, some seen items come back for an active user.
		res3, err := c.Recommend(bg, &polecamv1.RecommendRequest{UserId: user, N: 50, IncludeSeen: true})
		if err != nil {
			t.Fatal(err)
		}
		var again int
		for _, it := range res3.GetItems() {
			if seen[user][it.GetItemId()] {
				again++
			}
		}
		if again == 0 {
			t.Errorf("Recommend(%q, include_seen) returned none of the user's %d items in its top 50", user, len(seen[user]))
		}
	})

	t.Run("Recommend unknown user falls back", func(t *testing.T) {
		res, err := c.Recommend(bg, &polecamv1.RecommendRequest{UserId: "visitor-never-seen", N: 5})
		if err != nil {
			t.Fatal(err)
		}
		if !res.GetFallback() {
			t.Errorf("Recommend(unknown) fallback = false, want true")
		}
		checkItems(t, res.GetItems(), 5, polecamv1.ItemSource_ITEM_SOURCE_POPULARITY)
	})

	t.Run("SimilarItems", func(t *testing.T) {
		item := items[0]
		res, err := c.SimilarItems(bg, &polecamv1.SimilarItemsRequest{ItemId: item, N: 10})
		if err != nil {
			t.Fatalf("SimilarItems(%q) error = %v", item, err)
		}
		if len(res.GetItems()) != 10 || res.GetModelVersion() != v1 {
			t.Fatalf("SimilarItems(%q) = %d items from %q, want 10 from %q", item, len(res.GetItems()), res.GetModelVersion(), v1)
		}
		var prev *polecamv1.ScoredItem
		for _, it := range res.GetItems() {
			if it.GetItemId() == item {
				t.Errorf("SimilarItems(%q) returned the item itself", item)
			}
			if prev != nil && prev.GetSource() == it.GetSource() && it.GetScore() > prev.GetScore() {
				t.Errorf("SimilarItems(%q): %s (%v) ranks below %s (%v)", item, it.GetItemId(), it.GetScore(), prev.GetItemId(), prev.GetScore())
			}
			prev = it
		}
		if res.GetItems()[0].GetSource() != polecamv1.ItemSource_ITEM_SOURCE_CO_OCCURRENCE {
			t.Errorf("SimilarItems(%q)[0] source = %v, want co-occurrence", item, res.GetItems()[0].GetSource())
		}
	})

	t.Run("bad input", func(t *testing.T) {
		tests := []struct {
			name string
			call func() error
			code codes.Code
		}{
			{"empty user", func() error {
				_, err := c.Recommend(bg, &polecamv1.RecommendRequest{N: 5})
				return err
			}, codes.InvalidArgument},
			{"n zero", func() error {
				_, err := c.Recommend(bg, &polecamv1.RecommendRequest{UserId: user})
				return err
			}, codes.InvalidArgument},
			{"n too large", func() error {
				_, err := c.Recommend(bg, &polecamv1.RecommendRequest{UserId: user, N: 1001})
				return err
			}, codes.InvalidArgument},
			{"empty item", func() error {
				_, err := c.SimilarItems(bg, &polecamv1.SimilarItemsRequest{N: 5})
				return err
			}, codes.InvalidArgument},
			{"unknown item", func() error {
				_, err := c.SimilarItems(bg, &polecamv1.SimilarItemsRequest{ItemId: "no-such-sku", N: 5})
				return err
			}, codes.NotFound},
		}
		for _, tt := range tests {
			err := tt.call()
			st := status.Convert(err)
			if st.Code() != tt.code || st.Message() == "" {
				t.Errorf("%s: code %v message %q, want %v with a message", tt.name, st.Code(), st.Message(), tt.code)
			}
		}
	})

	t.Run("publish swaps the served version", func(t *testing.T) {
		// A client calls Recommend throughout: from before train starts
		// until it has itself been answered by the new version. The swap
		// window runs from train's start (it publishes at its end) to the
		// first answer from v2 here; a call that read ended = 0 before it
		// started and begun = 1 after it returned was in flight during it.
		var (
			begun, ended, overlapped atomic.Int64
			stop, sawV2              atomic.Bool
			started, wg              sync.WaitGroup
			mu                       sync.Mutex
			versions                 = map[string]int{}
			loadErr                  error
		)
		started.Add(1)
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				e := ended.Load()
				res, err := c.Recommend(bg, &polecamv1.RecommendRequest{UserId: user, N: 3})
				if begun.Load() > e {
					overlapped.Add(1)
				}
				mu.Lock()
				if err != nil && loadErr == nil {
					loadErr = err
				}
				versions[res.GetModelVersion()]++
				mu.Unlock()
				if i == 0 {
					started.Done()
				}
				if err != nil {
					return
				}
				if res.GetModelVersion() != v1 {
					sawV2.Store(true)
				}
			}
		})
		started.Wait()
		begun.Add(1)
		run(t, "train", "--log-level", "warn", "--data-dir", dataDir, "--events", logFile, "--factors", "8", "--iterations", "3", "--seed", "9", "--no-gate") // a smaller model: the gate would keep v1
		v2, err := dir.Published()
		if err != nil || v2 == v1 {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("Published() = %q, %v; want a version after %s", v2, err, v1)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !sawV2.Load() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		ended.Add(1)
		stop.Store(true)
		wg.Wait()
		if loadErr != nil {
			t.Fatalf("Recommend during swap error = %v", loadErr)
		}
		t.Logf("answers by version: %v; %d calls in flight during the swap", versions, overlapped.Load())
		if versions[v1] == 0 || versions[v2] == 0 || len(versions) != 2 {
			t.Fatalf("answers by version %v, want some from %s and %s only (server still on %s 10s after the publish?)", versions, v1, v2, v1)
		}
		if overlapped.Load() == 0 {
			t.Errorf("no call was in flight during the swap: the swap did not happen under load")
		}
	})
}

// checkItems checks a response's length, sources and ordering by score.
func checkItems(t *testing.T, items []*polecamv1.ScoredItem, n int, source polecamv1.ItemSource) {
	t.Helper()
	if len(items) != n {
		t.Fatalf("got %d items, want %d", len(items), n)
	}
	ids := map[string]bool{}
	for i, it := range items {
		if it.GetSource() != source {
			t.Errorf("item %d (%s) source = %v, want %v", i, it.GetItemId(), it.GetSource(), source)
		}
		if ids[it.GetItemId()] {
			t.Errorf("item %s returned twice", it.GetItemId())
		}
		ids[it.GetItemId()] = true
		if i > 0 && it.GetScore() > items[i-1].GetScore() {
			t.Errorf("item %d (%s, %v) scores above item %d (%v)", i, it.GetItemId(), it.GetScore(), i-1, items[i-1].GetScore())
		}
	}
}

func waitServing(t *testing.T, h healthpb.HealthClient) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := h.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "polecam.v1.RecommendationService"})
		if err == nil && res.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not SERVING after 20s: %v %v", res, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestParseWeights(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]float32
		ok   bool
	}{
		{"view=1,purchase=10", map[string]float32{"view": 1, "purchase": 10}, true},
		{" view = 1", nil, false},
		{"view", nil, false},
		{"view=-1", nil, false},
		{"view=x", nil, false},
	}
	for _, tt := range tests {
		got, err := parseWeights(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("parseWeights(%q) error = %v, want ok %v", tt.in, err, tt.ok)
			continue
		}
		if tt.ok && !equalWeights(got, tt.want) {
			t.Errorf("parseWeights(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func equalWeights(a, b map[string]float32) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestRunRejectsBadFlags(t *testing.T) {
	tests := [][]string{
		{"train", "--data-dir", "x"},
		{"gen"},
		{"serve", "--log-level", "loud"},
		{"no-such-command"},
	}
	for _, args := range tests {
		if err := Run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("polecam %s: error = nil, want an error", strings.Join(args, " "))
		}
	}
}

func TestSetGCPercent(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	tests := []struct {
		name    string
		percent int
		env     string
		applied bool
		want    int
	}{
		{"applied", 1000, "", true, 1000},
		{"GOGC in the environment wins", 1000, "200", false, 100},
		{"zero keeps the runtime's", 0, "", false, 100},
	}
	for _, tt := range tests {
		debug.SetGCPercent(100)
		got := setGCPercent(tt.percent, func(string) string { return tt.env })
		if now := debug.SetGCPercent(100); got != tt.applied || now != tt.want {
			t.Errorf("%s: setGCPercent(%d) = %v, GC percent %d; want %v, %d", tt.name, tt.percent, got, now, tt.applied, tt.want)
		}
	}
}
