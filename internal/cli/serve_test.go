package cli

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	polecamv1 "github.com/polecam/polecam/api/polecam/v1"
	"github.com/polecam/polecam/internal/server"
	"github.com/polecam/polecam/store"
)

func TestReadAdminToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	withNewline := write("token", "s3cret\n")
	blank := write("blank", " \n")
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == adminTokenEnv {
				return v
			}
			return ""
		}
	}
	tests := []struct {
		name    string
		file    string
		env     string
		want    string
		wantErr bool
	}{
		{"file wins over env", withNewline, "from-env", "s3cret", false},
		{"env when no file", "", " from-env\n", "from-env", false},
		{"neither: admin disabled", "", "", "", false},
		{"blank file", blank, "", "", true},
		{"missing file", filepath.Join(dir, "nope"), "from-env", "", true},
	}
	for _, tt := range tests {
		got, err := readAdminToken(tt.file, env(tt.env))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%s: readAdminToken(%q) = %q, %v, want %q, error %v", tt.name, tt.file, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestServeAdmin drives polecam.v1.ModelService of a running server: it
// publishes a second version, rolls back and forgets a user, and checks
// that the recommendation service follows each change.
func TestServeAdmin(t *testing.T) {
	tmp := t.TempDir()
	logFile := filepath.Join(tmp, "events.csv")
	dataDir := filepath.Join(tmp, "data")
	run(t, "gen", "--out", logFile, "--users", "200", "--items", "100", "--events", "6000", "--seed", "4")
	train := []string{"train", "--log-level", "warn", "--data-dir", dataDir, "--events", logFile, "--factors", "8", "--iterations", "3"}
	run(t, train...)
	run(t, append(train, "--no-publish")...)
	dir, err := store.OpenDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := dir.Published()
	if err != nil {
		t.Fatal(err)
	}

	const token = "admin-test-token"
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts := DefaultServeOptions()
	opts.DataDir = dataDir
	opts.MetricsAddr = ""
	opts.PollInterval = 10 * time.Millisecond
	opts.Server.AdminToken = token
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

	admin := polecamv1.NewModelServiceClient(conn)
	rec := polecamv1.NewRecommendationServiceClient(conn)
	bg := context.Background()
	authed := metadata.AppendToOutgoingContext(bg, "authorization", "Bearer "+token)

	if _, err := admin.ListVersions(bg, &polecamv1.ListVersionsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("ListVersions() without a token = %v, want %v", err, codes.Unauthenticated)
	}
	list, err := admin.ListVersions(authed, &polecamv1.ListVersionsRequest{})
	if err != nil {
		t.Fatalf("ListVersions() error = %v", err)
	}
	if n := len(list.GetVersions()); n != 2 {
		t.Fatalf("ListVersions() lists %d versions, want 2", n)
	}
	v2 := list.GetVersions()[1].GetVersion()
	if v2 == v1 || list.GetVersions()[1].GetPublished() || !list.GetVersions()[0].GetPublished() {
		t.Fatalf("ListVersions() = %v, want %s published and a second, unpublished version", list, v1)
	}

	// eventually waits until Recommend(user) satisfies ok.
	eventually := func(what, user string, ok func(*polecamv1.RecommendResponse) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			res, err := rec.Recommend(bg, &polecamv1.RecommendRequest{UserId: user, N: 5})
			if err != nil {
				t.Fatalf("Recommend(%q) error = %v", user, err)
			}
			if ok(res) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: Recommend(%q) = version %s fallback %v after 10s", what, user, res.GetModelVersion(), res.GetFallback())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	seen, _ := history(t, logFile)
	user := ""
	for u, items := range seen {
		if len(items) >= 3 && (user == "" || u < user) {
			user = u
		}
	}
	if _, err := admin.Publish(authed, &polecamv1.PublishRequest{Version: v2}); err != nil {
		t.Fatalf("Publish(%s) error = %v", v2, err)
	}
	eventually("after Publish", user, func(r *polecamv1.RecommendResponse) bool { return r.GetModelVersion() == v2 })
	rb, err := admin.Rollback(authed, &polecamv1.RollbackRequest{})
	if err != nil || rb.GetPublishedVersion() != v1 {
		t.Fatalf("Rollback() = %v, %v, want %s", rb, err, v1)
	}
	eventually("after Rollback", user, func(r *polecamv1.RecommendResponse) bool { return r.GetModelVersion() == v1 })

	eventually("before forgetting", user, func(r *polecamv1.RecommendResponse) bool { return !r.GetFallback() })
	if _, err := admin.ForgetUser(authed, &polecamv1.ForgetUserRequest{UserId: user}); err != nil {
		t.Fatalf("ForgetUser() error = %v", err)
	}
	eventually("after ForgetUser", user, func(r *polecamv1.RecommendResponse) bool { return r.GetFallback() })
}

// TestMetricsMux checks that the metrics listener serves /metrics always
// and the Go profiles only when asked to.
func TestMetricsMux(t *testing.T) {
	tests := []struct {
		path      string
		withPprof bool
		want      int
	}{
		{"/metrics", false, http.StatusOK},
		{"/metrics", true, http.StatusOK},
		{"/debug/pprof/", false, http.StatusNotFound},
		{"/debug/pprof/", true, http.StatusOK},
		{"/debug/pprof/goroutine?debug=1", true, http.StatusOK},
		{"/debug/pprof/cmdline", true, http.StatusOK},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		metricsMux(server.NewRegistry(), tt.withPprof).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
		if rec.Code != tt.want {
			t.Errorf("GET %s with pprof %v = %d, want %d", tt.path, tt.withPprof, rec.Code, tt.want)
		}
	}
}

func TestServeOptionsPprofNeedsMetrics(t *testing.T) {
	o := DefaultServeOptions()
	o.Pprof = true
	if err := o.Validate(); err != nil {
		t.Errorf("Validate() with pprof on the default metrics address = %v, want nil", err)
	}
	o.MetricsAddr = ""
	if err := o.Validate(); err == nil {
		t.Error("Validate() with pprof and no metrics address = nil, want an error")
	}
}

func TestServerDefaultsAdaptiveProcs(t *testing.T) {
	t.Setenv("GOMAXPROCS", "")
	if !serverDefaults().AdaptiveProcs {
		t.Error("AdaptiveProcs off by default without GOMAXPROCS in the environment, want on")
	}
	t.Setenv("GOMAXPROCS", "2")
	if serverDefaults().AdaptiveProcs {
		t.Error("AdaptiveProcs on with GOMAXPROCS=2 in the environment, want the operator's choice kept")
	}
}
