package recommender

import (
	"context"
	"io"
	"testing"

	"github.com/polecam/polecam/store"
)

var _ Snapshot = (*store.Snapshot)(nil)

// openStore writes d as a real snapshot version into a fresh data
// directory under t.TempDir(), publishes it and opens it for serving. The
// version argument is ignored: store names versions itself. The Model
// built on it closes the snapshot.
func openStore(t testing.TB, _ string, d *modelData) Snapshot {
	t.Helper()
	return openStoreWith(t, d, nil)
}

// openStoreWith is openStore with more auxiliary files: name → writer.
func openStoreWith(t testing.TB, d *modelData, files map[string]func(io.Writer) error) Snapshot {
	t.Helper()
	return openStoreBuilt(t, d, func(b *store.Builder) error {
		for name, write := range files {
			if err := b.AddFile(name, write); err != nil {
				return err
			}
		}
		return nil
	})
}

// openStoreBuilt is openStore with more done to the version's Builder
// before it is committed.
func openStoreBuilt(t testing.TB, d *modelData, more func(*store.Builder) error) Snapshot {
	t.Helper()
	ctx := context.Background()
	dir, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatalf("OpenDir: %v", err)
	}
	b, err := dir.NewBuilder(ctx)
	if err != nil {
		t.Fatalf("NewBuilder: %v", err)
	}
	defer b.Abort()
	dims := d.dims()
	flatten := func(rows [][]float32) []float32 {
		out := make([]float32, 0, len(rows)*dims)
		for _, r := range rows {
			out = append(out, r...)
		}
		return out
	}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("SetItems", b.SetItems(d.items))
	must("SetUsers", b.SetUsers(d.users))
	must("SetItemFactors", b.SetItemFactors(len(d.items), dims, flatten(d.itemVecs)))
	must("SetUserFactors", b.SetUserFactors(len(d.users), dims, flatten(d.userVecs)))
	for u, items := range d.seen {
		must("PutSeen", b.PutSeen(u, items))
	}
	for i, nbrs := range d.nbrs {
		must("PutNeighbors", b.PutNeighbors(i, nbrs))
	}
	must("SetPopularity", b.SetPopularity(d.pop))
	must("AddFile", b.AddFile(Int8ItemsFile, func(w io.Writer) error {
		return WriteInt8Items(w, packMatrix(d.itemVecs, dims))
	}))
	must("more", more(b))
	m, err := b.Commit(ctx, store.Manifest{})
	must("Commit", err)
	must("Publish", dir.Publish(m.Version))
	s, err := dir.Open(m.Version, store.DefaultOpenOptions())
	must("Open", err)
	return s
}

// TestStoreSnapshotServes checks the data a Model reads from a real
// snapshot round-trips: the full Recommend and SimilarItems tables run on
// both backends, and here the version is the one store assigned.
func TestStoreSnapshotServes(t *testing.T) {
	s := openStore(t, "", smallData())
	want := s.Version()
	m, err := NewModel(s)
	if err != nil {
		t.Fatalf("NewModel(store snapshot): %v", err)
	}
	defer m.Close()
	got, err := m.Recommend(context.Background(), RecommendRequest{UserID: "u1", N: 1})
	if err != nil {
		t.Fatalf("Recommend(u1): %v", err)
	}
	if got.Version != want || !store.ValidVersion(got.Version) {
		t.Errorf("Recommend(u1).Version = %q, want %q", got.Version, want)
	}
}
