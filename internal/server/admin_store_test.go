package server

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	polecamv1 "github.com/polecam/polecam/api/polecam/v1"
	"github.com/polecam/polecam/store"
)

// writeStoreVersion commits a tiny complete version into d.
func writeStoreVersion(t *testing.T, d *store.Dir) string {
	t.Helper()
	ctx := context.Background()
	b, err := d.NewBuilder(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Abort()
	items, users := []string{"a", "b", "c"}, []string{"u1", "u2"}
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	check(b.SetItems(items))
	check(b.SetUsers(users))
	check(b.SetItemFactors(3, 2, []float32{1, 0, 0, 1, 1, 1}))
	check(b.SetUserFactors(2, 2, []float32{1, 0, 0, 1}))
	check(b.SetPopularity([]float32{3, 2, 1}))
	m, err := b.Commit(ctx, store.Manifest{})
	check(err)
	return m.Version
}

// corruptStoreVersion flips a payload byte of v's item vectors.
func corruptStoreVersion(t *testing.T, d *store.Dir, v string) {
	t.Helper()
	p := filepath.Join(d.Path(), "versions", v, "items.vec")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[store.VecHeaderSize] ^= 0x40
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestModelServiceRefusesCorrupt publishes and rolls back through the
// admin service on a real data directory: a corrupt version is never
// published, and rollback passes over a corrupt one to the newest earlier
// version that verifies, or refuses when there is none.
func TestModelServiceRefusesCorrupt(t *testing.T) {
	d, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v := make([]string, 4)
	for i := range v {
		v[i] = writeStoreVersion(t, d)
	}
	conn, _ := startServerWith(t, &fakeRecommender{}, func(o *Options) {
		o.Models = d
		o.AdminToken = adminToken
	})
	c := polecamv1.NewModelServiceClient(conn)
	ctx := withToken(context.Background(), adminToken)
	published := func() string {
		t.Helper()
		p, err := d.Published()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, x := range v {
		if _, err := c.Publish(ctx, &polecamv1.PublishRequest{Version: x}); err != nil {
			t.Fatalf("Publish(%s) error = %v", x, err)
		}
	}
	bad := writeStoreVersion(t, d)
	corruptStoreVersion(t, d, bad)
	_, err = c.Publish(ctx, &polecamv1.PublishRequest{Version: bad})
	if got := status.Code(err); got != codes.FailedPrecondition {
		t.Errorf("Publish(corrupt) = %v, want %v", err, codes.FailedPrecondition)
	}
	if got := published(); got != v[3] {
		t.Errorf("published %s after a refused publish, want %s", got, v[3])
	}

	// History v0 v1 v2 v3; v2 and v0 are corrupt.
	corruptStoreVersion(t, d, v[2])
	corruptStoreVersion(t, d, v[0])
	rb, err := c.Rollback(ctx, &polecamv1.RollbackRequest{})
	if err != nil || rb.GetPublishedVersion() != v[1] {
		t.Fatalf("Rollback() = %v, %v, want %s (passing over corrupt %s)", rb, err, v[1], v[2])
	}
	_, err = c.Rollback(ctx, &polecamv1.RollbackRequest{})
	if got := status.Code(err); got != codes.FailedPrecondition {
		t.Errorf("Rollback() onto only a corrupt version = %v, want %v", err, codes.FailedPrecondition)
	}
	if got := published(); got != v[1] {
		t.Errorf("published %s after a refused rollback, want %s", got, v[1])
	}
}
