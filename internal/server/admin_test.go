package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	polecamv1 "github.com/polecam/polecam/api/polecam/v1"
	"github.com/polecam/polecam/recommender"
	"github.com/polecam/polecam/store"
)

const (
	v1 = "20261122T140621.123Z-a1b2c3"
	v2 = "20261123T010203.456Z-d4e5f6"
)

// fakeModels is an in-memory Models: a list of versions, a publish
// history and a tombstone set.
type fakeModels struct {
	mu        sync.Mutex
	versions  []store.VersionInfo
	history   []string // published versions, oldest first
	forgotten map[string]bool
}

func newFakeModels() *fakeModels {
	created := time.Date(2026, 11, 22, 14, 6, 21, 0, time.UTC)
	return &fakeModels{
		versions: []store.VersionInfo{
			{Version: v1, SizeBytes: 1234, Manifest: store.Manifest{
				FormatVersion: 1, Version: v1, CreatedAt: created, CodeVersion: "dev",
				Params:  json.RawMessage(`{"als":{"factors":64}}`),
				Counts:  store.Counts{Users: 10, Items: 20, Events: 300, Interactions: 150, BadLines: 1},
				Window:  store.Window{From: created.Add(-48 * time.Hour), To: created},
				Sources: []store.SourceFile{{Path: "logs/a.csv", Size: 99, SHA256: "ab"}},
				Metrics: map[string]float64{"recall@10": 0.25},
				Files:   []store.FileInfo{{Name: "items.vec", Size: 64, CRC32C: 7}},
			}},
			{Version: v2, Manifest: store.Manifest{FormatVersion: 1, Version: v2}},
		},
		forgotten: map[string]bool{},
	}
}

func (f *fakeModels) Versions() ([]store.VersionInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]store.VersionInfo, len(f.versions))
	for i, v := range f.versions {
		v.Published = len(f.history) > 0 && f.history[len(f.history)-1] == v.Version
		out[i] = v
	}
	return out, nil
}

func (f *fakeModels) Published() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.history) == 0 {
		return "", store.ErrNoPublished
	}
	return f.history[len(f.history)-1], nil
}

func (f *fakeModels) PublishVerified(_ context.Context, v string, _ store.PublishOptions) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, info := range f.versions {
		if info.Version == v {
			prev := ""
			if len(f.history) > 0 {
				prev = f.history[len(f.history)-1]
			}
			f.history = append(f.history, v)
			return prev, nil
		}
	}
	return "", fmt.Errorf("publish %s: %w", v, store.ErrNotFound)
}

func (f *fakeModels) RollbackVerified(context.Context) (store.RollbackResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.history) < 2 {
		return store.RollbackResult{}, fmt.Errorf("rollback: %w", store.ErrNoPrevious)
	}
	f.history = f.history[:len(f.history)-1]
	return store.RollbackResult{Version: f.history[len(f.history)-1]}, nil
}

func (f *fakeModels) Forget(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgotten[id] = true
	return nil
}

const adminToken = "s3cret-token-for-tests"

func withToken(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

func TestAdminAuthorisation(t *testing.T) {
	tests := []struct {
		name       string
		configured string // the server's token; empty disables ModelService
		md         []string
		want       codes.Code
		wantMsg    string
	}{
		{"no token configured", "", []string{"authorization", "Bearer " + adminToken}, codes.PermissionDenied, "--admin-token-file"},
		{"missing token", adminToken, nil, codes.Unauthenticated, "authorization: Bearer"},
		{"wrong token", adminToken, []string{"authorization", "Bearer not-it"}, codes.Unauthenticated, "invalid admin token"},
		{"token prefix", adminToken, []string{"authorization", "Bearer " + adminToken[:5]}, codes.Unauthenticated, "invalid admin token"},
		{"wrong scheme", adminToken, []string{"authorization", "Basic " + adminToken}, codes.Unauthenticated, "missing admin token"},
		{"right token", adminToken, []string{"authorization", "Bearer " + adminToken}, codes.OK, ""},
		{"scheme is case-insensitive", adminToken, []string{"authorization", "bearer " + adminToken}, codes.OK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, _ := startServerWith(t, &fakeRecommender{}, func(o *Options) {
				o.Models = newFakeModels()
				o.AdminToken = tt.configured
			})
			ctx := context.Background()
			if tt.md != nil {
				ctx = metadata.AppendToOutgoingContext(ctx, tt.md...)
			}
			_, err := polecamv1.NewModelServiceClient(conn).ListVersions(ctx, &polecamv1.ListVersionsRequest{})
			st := status.Convert(err)
			if st.Code() != tt.want || !strings.Contains(st.Message(), tt.wantMsg) {
				t.Errorf("ListVersions() = %v %q, want %v containing %q", st.Code(), st.Message(), tt.want, tt.wantMsg)
			}

			// The other services stay open, whatever the admin setup.
			if _, err := polecamv1.NewRecommendationServiceClient(conn).Recommend(context.Background(),
				&polecamv1.RecommendRequest{UserId: "u1", N: 1}); err != nil {
				t.Errorf("Recommend() without a token error = %v", err)
			}
			if _, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
				t.Errorf("Health.Check() without a token error = %v", err)
			}
			stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(context.Background())
			if err == nil {
				err = stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
			}
			if err == nil {
				_, err = stream.Recv()
				stream.CloseSend()
			}
			if err != nil {
				t.Errorf("reflection without a token error = %v", err)
			}
		})
	}
}

func TestServiceWithoutPolicyIsRefused(t *testing.T) {
	a := newAuthorizer(adminToken)
	err := a.authorize(withToken(context.Background(), adminToken), "/polecam.v1.SomethingNew/Do")
	if got := status.Code(err); got != codes.PermissionDenied {
		t.Errorf("authorize(unlisted service) = %v, want %v", got, codes.PermissionDenied)
	}
}

func TestModelService(t *testing.T) {
	models := newFakeModels()
	var logs bytes.Buffer
	conn, _ := startServerWith(t, &fakeRecommender{}, func(o *Options) {
		o.Models = models
		o.AdminToken = adminToken
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	c := polecamv1.NewModelServiceClient(conn)
	ctx := withToken(context.Background(), adminToken)

	pub, err := c.Publish(ctx, &polecamv1.PublishRequest{Version: v1})
	if err != nil {
		t.Fatalf("Publish(%s) error = %v", v1, err)
	}
	if diff := cmp.Diff(&polecamv1.PublishResponse{PublishedVersion: v1}, pub, protocmp.Transform()); diff != "" {
		t.Errorf("Publish(%s) mismatch (-want +got):\n%s", v1, diff)
	}
	pub, err = c.Publish(ctx, &polecamv1.PublishRequest{Version: v2})
	if err != nil {
		t.Fatalf("Publish(%s) error = %v", v2, err)
	}
	if diff := cmp.Diff(&polecamv1.PublishResponse{PublishedVersion: v2, PreviousVersion: v1}, pub, protocmp.Transform()); diff != "" {
		t.Errorf("Publish(%s) mismatch (-want +got):\n%s", v2, diff)
	}

	list, err := c.ListVersions(ctx, &polecamv1.ListVersionsRequest{})
	if err != nil {
		t.Fatalf("ListVersions() error = %v", err)
	}
	var names []string
	var published []bool
	for _, v := range list.GetVersions() {
		names = append(names, v.GetVersion())
		published = append(published, v.GetPublished())
	}
	if diff := cmp.Diff([]string{v1, v2}, names); diff != "" {
		t.Errorf("ListVersions() names mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]bool{false, true}, published); diff != "" {
		t.Errorf("ListVersions() published mismatch (-want +got):\n%s", diff)
	}

	got, err := c.GetVersion(ctx, &polecamv1.GetVersionRequest{Version: v1})
	if err != nil {
		t.Fatalf("GetVersion(%s) error = %v", v1, err)
	}
	m := models.versions[0].Manifest
	want := &polecamv1.ModelVersion{
		Version: v1, FormatVersion: 1, CodeVersion: "dev", SizeBytes: 1234,
		CreatedAt:  timestamppb.New(m.CreatedAt),
		WindowFrom: timestamppb.New(m.Window.From),
		WindowTo:   timestamppb.New(m.Window.To),
		Counts:     &polecamv1.VersionCounts{Users: 10, Items: 20, Events: 300, Interactions: 150, BadLines: 1},
		ParamsJson: `{"als":{"factors":64}}`,
		Metrics:    map[string]float64{"recall@10": 0.25},
		Sources:    []*polecamv1.SourceFile{{Path: "logs/a.csv", SizeBytes: 99, Sha256: "ab"}},
		Files:      []*polecamv1.VersionFile{{Name: "items.vec", SizeBytes: 64, Crc32C: 7}},
	}
	if diff := cmp.Diff(want, got.GetVersion(), protocmp.Transform()); diff != "" {
		t.Errorf("GetVersion(%s) mismatch (-want +got):\n%s", v1, diff)
	}

	rb, err := c.Rollback(ctx, &polecamv1.RollbackRequest{})
	if err != nil || rb.GetPublishedVersion() != v1 {
		t.Errorf("Rollback() = %v, %v, want %s", rb, err, v1)
	}
	_, err = c.Rollback(ctx, &polecamv1.RollbackRequest{})
	if got := status.Code(err); got != codes.FailedPrecondition {
		t.Errorf("Rollback() with no earlier version = %v, want %v", got, codes.FailedPrecondition)
	}

	const user = "alice@example.com"
	if _, err := c.ForgetUser(ctx, &polecamv1.ForgetUserRequest{UserId: user}); err != nil {
		t.Fatalf("ForgetUser() error = %v", err)
	}
	if !models.forgotten[user] {
		t.Errorf("ForgetUser(%q) did not reach the store", user)
	}
	if strings.Contains(logs.String(), user) {
		t.Errorf("logs contain the forgotten user id:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "user_hash="+UserHash(user)) {
		t.Errorf("logs lack the audit line with user_hash=%s:\n%s", UserHash(user), logs.String())
	}
}

func TestModelServiceErrors(t *testing.T) {
	conn, _ := startServerWith(t, &fakeRecommender{}, func(o *Options) {
		o.Models = newFakeModels()
		o.AdminToken = adminToken
	})
	c := polecamv1.NewModelServiceClient(conn)
	ctx := withToken(context.Background(), adminToken)
	unknown := "20200101T000000.000Z-000000"
	tests := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"get empty", func() error { _, err := c.GetVersion(ctx, &polecamv1.GetVersionRequest{}); return err }, codes.InvalidArgument},
		{"get malformed", func() error {
			_, err := c.GetVersion(ctx, &polecamv1.GetVersionRequest{Version: "../etc"})
			return err
		}, codes.InvalidArgument},
		{"get unknown", func() error {
			_, err := c.GetVersion(ctx, &polecamv1.GetVersionRequest{Version: unknown})
			return err
		}, codes.NotFound},
		{"publish unknown", func() error {
			_, err := c.Publish(ctx, &polecamv1.PublishRequest{Version: unknown})
			return err
		}, codes.NotFound},
		{"rollback with nothing published", func() error { _, err := c.Rollback(ctx, &polecamv1.RollbackRequest{}); return err }, codes.FailedPrecondition},
		{"forget empty", func() error { _, err := c.ForgetUser(ctx, &polecamv1.ForgetUserRequest{}); return err }, codes.InvalidArgument},
	}
	for _, tt := range tests {
		if got := status.Code(tt.call()); got != tt.want {
			t.Errorf("%s: code = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestRequestLogsNothingPersonal checks that even at debug level a request
// log holds neither the payload's ids nor the peer address.
func TestRequestLogsNothingPersonal(t *testing.T) {
	var logs bytes.Buffer
	rec := &fakeRecommender{res: recommender.Result{Version: "v1"}}
	conn, _ := startServerWith(t, rec, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	c := polecamv1.NewRecommendationServiceClient(conn)
	if _, err := c.Recommend(context.Background(), &polecamv1.RecommendRequest{UserId: "user-4711", N: 1, ExcludeItemIds: []string{"sku-42"}}); err != nil {
		t.Fatalf("Recommend() error = %v", err)
	}
	out := logs.String()
	if !strings.Contains(out, "grpc.method=Recommend") {
		t.Fatalf("no request log line:\n%s", out)
	}
	for _, bad := range []string{"peer.address", "user-4711", "sku-42"} {
		if strings.Contains(out, bad) {
			t.Errorf("request logs contain %q:\n%s", bad, out)
		}
	}
}
