package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRoundTrip(t *testing.T) {
	d := newTestDir(t)
	f := newFixture(1, 50, 30, 10)
	m := buildVersion(t, d, f)

	vs, err := d.Versions()
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || vs[0].Version != m.Version || vs[0].Published || vs[0].SizeBytes <= 0 {
		t.Fatalf("Versions() = %+v, want one unpublished version %s", vs, m.Version)
	}
	if diff := cmp.Diff(m, vs[0].Manifest); diff != "" {
		t.Errorf("listed manifest differs from committed (-want +got):\n%s", diff)
	}
	if _, err := d.Published(); !errors.Is(err, ErrNoPublished) {
		t.Fatalf("Published() before Publish: err = %v, want ErrNoPublished", err)
	}
	if err := d.Publish(m.Version); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Published(); err != nil || got != m.Version {
		t.Fatalf("Published() = %q, %v, want %q", got, err, m.Version)
	}
	if vs, err := d.Versions(); err != nil || !vs[0].Published {
		t.Fatalf("Versions() after Publish = %+v, %v, want published", vs, err)
	}

	wantM := f.manifest
	wantM.FormatVersion = FormatVersion
	wantM.Version = m.Version
	wantM.CreatedAt = m.CreatedAt
	wantM.Counts.Items, wantM.Counts.Users = 50, 30
	wantM.Files = m.Files
	if diff := cmp.Diff(wantM, m); diff != "" {
		t.Errorf("Commit manifest (-want +got):\n%s", diff)
	}
	var names []string
	for _, fi := range m.Files {
		names = append(names, fi.Name+":"+fi.Kind)
	}
	if want := []string{"items.vec:", "users.vec:", "items.ids:", "users.ids:", "seen.csr:", "neighbors.csr:", "empty.bin:", "itemitem.vec:matrix", "notes.txt:"}; !slices.Equal(names, want) {
		t.Errorf("manifest files = %v, want %v", names, want)
	}

	s := openT(t, d, m.Version, OpenOptions{VerifyChecksums: true})
	checkSnapshot(t, s, f)
	if diff := cmp.Diff(m, s.Manifest()); diff != "" {
		t.Errorf("Snapshot.Manifest() (-want +got):\n%s", diff)
	}
	if err := d.Verify(context.Background(), m.Version); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// checkSnapshot compares every accessor of s with what f wrote.
func checkSnapshot(t *testing.T, s *Snapshot, f fixture) {
	t.Helper()
	if s.NumItems() != len(f.items) || s.NumUsers() != len(f.users) {
		t.Fatalf("NumItems, NumUsers = %d, %d, want %d, %d", s.NumItems(), s.NumUsers(), len(f.items), len(f.users))
	}
	for _, c := range []struct {
		name string
		m    Matrix
		want []float32
	}{{"items", s.ItemFactors(), f.itemFactors}, {"users", s.UserFactors(), f.userFactors}} {
		if c.m.Dims != f.dims || c.m.Stride != Stride(f.dims) || c.m.Stride%RowAlign != 0 || len(c.m.Data) != c.m.Rows*c.m.Stride {
			t.Fatalf("%s matrix shape rows=%d dims=%d stride=%d len=%d", c.name, c.m.Rows, c.m.Dims, c.m.Stride, len(c.m.Data))
		}
		var got []float32
		for i := range c.m.Rows {
			got = append(got, c.m.Row(i)...)
			for _, pad := range c.m.Data[i*c.m.Stride+c.m.Dims : (i+1)*c.m.Stride] {
				if pad != 0 {
					t.Fatalf("%s row %d padding = %v, want 0", c.name, i, pad)
				}
			}
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%s factors (-want +got):\n%s", c.name, diff)
		}
	}
	for i, id := range f.items {
		if got, err := s.ItemID(int32(i)); err != nil || got != id {
			t.Errorf("ItemID(%d) = %q, %v, want %q", i, got, err, id)
		}
		if got, ok, err := s.ItemIndex(id); err != nil || !ok || got != int32(i) {
			t.Errorf("ItemIndex(%q) = %d, %v, %v, want %d", id, got, ok, err, i)
		}
	}
	for i, id := range f.users {
		if got, ok, err := s.UserIndex(id); err != nil || !ok || got != int32(i) {
			t.Errorf("UserIndex(%q) = %d, %v, %v, want %d", id, got, ok, err, i)
		}
	}
	for _, id := range []string{"", "nope", "user-0"} {
		if _, ok, err := s.ItemIndex(id); ok || err != nil {
			t.Errorf("ItemIndex(%q) = _, %v, %v, want not found", id, ok, err)
		}
	}
	if _, ok, err := s.UserIndex("sku-00000"); ok || err != nil {
		t.Errorf("UserIndex(item id) = _, %v, %v, want not found", ok, err)
	}
	for _, idx := range []int32{-1, int32(len(f.items))} {
		if _, err := s.ItemID(idx); !errors.Is(err, ErrNotFound) {
			t.Errorf("ItemID(%d) err = %v, want ErrNotFound", idx, err)
		}
	}
	buf := make([]int32, 3, 16)
	for u := range f.users {
		want := slices.Compact(slices.Sorted(slices.Values(f.seen[int32(u)])))
		got, err := s.Seen(int32(u), buf)
		if err != nil {
			t.Fatalf("Seen(%d): %v", u, err)
		}
		if diff := cmp.Diff(want, got, cmpEmpty); diff != "" {
			t.Errorf("Seen(%d) (-want +got):\n%s", u, diff)
		}
	}
	if _, err := s.Seen(int32(len(f.users)), nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("Seen(out of range) err = %v, want ErrNotFound", err)
	}
	var nbuf []Neighbor
	for i := range f.items {
		got, err := s.Neighbors(int32(i), nbuf)
		if err != nil {
			t.Fatalf("Neighbors(%d): %v", i, err)
		}
		if diff := cmp.Diff(f.neighbors[int32(i)], got, cmpEmpty); diff != "" {
			t.Errorf("Neighbors(%d) (-want +got):\n%s", i, diff)
		}
	}
	if _, err := s.Neighbors(-1, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("Neighbors(-1) err = %v, want ErrNotFound", err)
	}
	pop, err := s.Popularity()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(f.popularity, pop); diff != "" {
		t.Errorf("Popularity() (-want +got):\n%s", diff)
	}
	checkAux(t, s, f)
}

// cmpEmpty treats nil and empty slices as equal.
var cmpEmpty = cmp.FilterValues(func(x, y any) bool {
	return isEmptySlice(x) && isEmptySlice(y)
}, cmp.Ignore())

func isEmptySlice(x any) bool {
	switch v := x.(type) {
	case []int32:
		return len(v) == 0
	case []Neighbor:
		return len(v) == 0
	}
	return false
}

func TestOpenSameVersionTwice(t *testing.T) {
	d := newTestDir(t)
	f := newFixture(2, 40, 20, 16)
	m := buildVersion(t, d, f)
	s1 := openT(t, d, m.Version, OpenOptions{})
	s2 := openT(t, d, m.Version, OpenOptions{})
	var wg sync.WaitGroup
	for _, s := range []*Snapshot{s1, s2, s1, s2} {
		wg.Go(func() {
			for i, id := range f.items {
				if got, err := s.ItemID(int32(i)); err != nil || got != id {
					t.Errorf("ItemID(%d) = %q, %v, want %q", i, got, err, id)
				}
				if got, ok, err := s.ItemIndex(id); err != nil || !ok || got != int32(i) {
					t.Errorf("ItemIndex(%q) = %d, %v, %v, want %d", id, got, ok, err, i)
				}
				if got := s.ItemFactors().Row(i)[0]; got != f.itemFactors[i*f.dims] {
					t.Errorf("ItemFactors().Row(%d)[0] = %v, want %v", i, got, f.itemFactors[i*f.dims])
				}
			}
		})
	}
	wg.Wait()
	// Closing one replica leaves the other working.
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, s2, f)
}

func TestPublishIsAtomic(t *testing.T) {
	d := newTestDir(t)
	f := newFixture(3, 5, 3, 4)
	v1 := buildVersion(t, d, f).Version
	v2 := buildVersion(t, d, f).Version
	if err := d.Publish(v1); err != nil {
		t.Fatal(err)
	}
	done, reading := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		<-reading // publish only while the reads are on
		for i := range 200 {
			if err := d.Publish([]string{v1, v2}[i%2]); err != nil {
				t.Errorf("Publish: %v", err)
				return
			}
		}
	})
	reads, changes, last := 0, 0, v1
	for stop := false; !stop; reads++ {
		select {
		case <-done:
			stop = true
		default:
		}
		got, err := d.Published()
		if err != nil || (got != v1 && got != v2) {
			close(reading)
			wg.Wait()
			t.Fatalf("Published() during publishing = %q, %v, want %s or %s", got, err, v1, v2)
		}
		if got != last {
			changes, last = changes+1, got
		}
		if reads == 0 {
			close(reading)
		}
	}
	wg.Wait()
	// v1 -> v2 -> v1 takes at least two reads between publications: the
	// reads did overlap the publishing (reads after it all see v2).
	if changes < 2 {
		t.Errorf("consecutive reads saw the published version change %d times, want at least 2: the reads missed the publishing", changes)
	}
	if got, err := d.Published(); err != nil || got != v2 {
		t.Errorf("Published() = %q, %v, want %q", got, err, v2)
	}
	entries, _ := os.ReadDir(d.Path())
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file %s left behind", e.Name())
		}
	}
	t.Logf("%d reads while publishing saw the version change %d times", reads, changes)
}

func TestPublishRefusesUnknownOrIncomplete(t *testing.T) {
	d := newTestDir(t)
	v := buildVersion(t, d, newFixture(4, 5, 3, 4)).Version
	if err := os.Remove(filepath.Join(d.Path(), "versions", v, "COMPLETE")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		version string
		want    error
	}{
		{"20261122T140621.123Z-abcdef", ErrNotFound},
		{"../../etc", ErrNotFound},
		{v, ErrCorrupt},
	} {
		if err := d.Publish(c.version); !errors.Is(err, c.want) {
			t.Errorf("Publish(%q) = %v, want %v", c.version, err, c.want)
		}
	}
	if _, err := d.Published(); !errors.Is(err, ErrNoPublished) {
		t.Errorf("Published() = %v, want ErrNoPublished", err)
	}
}

// snapshotState is what a failed build must leave untouched.
type snapshotState struct {
	versions  []string
	published string
	staging   []string
}

func stateOf(t *testing.T, d *Dir) snapshotState {
	t.Helper()
	var s snapshotState
	for _, sub := range []struct {
		dir string
		dst *[]string
	}{{"versions", &s.versions}, {"staging", &s.staging}} {
		entries, err := os.ReadDir(filepath.Join(d.Path(), sub.dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			*sub.dst = append(*sub.dst, e.Name())
		}
	}
	b, err := os.ReadFile(filepath.Join(d.Path(), "PUBLISHED"))
	if err != nil {
		t.Fatal(err)
	}
	s.published = string(b)
	return s
}

func TestFailedBuildLeavesVersionsUntouched(t *testing.T) {
	full := newFixture(5, 6, 4, 3)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		write   func(*Builder) error
		ctx     context.Context
		m       Manifest
		wantErr string // substring of the Commit error; "" means Commit is not called
	}{
		{"abort after writing", full.write, context.Background(), Manifest{}, ""},
		{"missing everything", func(*Builder) error { return nil }, context.Background(), Manifest{},
			"incomplete version: missing items, users, item factors, user factors, popularity"},
		{"missing factors", func(b *Builder) error {
			f := full
			f.dims = 0
			if err := b.SetItems(f.items); err != nil {
				return err
			}
			if err := b.SetUsers(f.users); err != nil {
				return err
			}
			return b.SetPopularity(f.popularity)
		}, context.Background(), Manifest{}, "missing item factors, user factors"},
		{"item count mismatch", full.write, context.Background(), Manifest{Counts: Counts{Items: 7}},
			"manifest counts 7 items, builder has 6"},
		{"foreign version", full.write, context.Background(), Manifest{Version: "20000101T000000.000Z-000000"},
			"manifest names version"},
		{"newer format", full.write, context.Background(), Manifest{FormatVersion: FormatVersion + 1},
			"manifest format version 2"},
		{"cancelled", full.write, cancelled, Manifest{}, "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDir(t)
			v := buildVersion(t, d, full).Version
			if err := d.Publish(v); err != nil {
				t.Fatal(err)
			}
			before := stateOf(t, d)
			b, err := d.NewBuilder(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.write(b); err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" {
				_, err := b.Commit(tt.ctx, tt.m)
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Commit() = %v, want error containing %q", err, tt.wantErr)
				}
			}
			if err := b.Abort(); err != nil {
				t.Fatalf("Abort: %v", err)
			}
			if err := b.Abort(); err != nil {
				t.Fatalf("second Abort: %v", err)
			}
			if diff := cmp.Diff(before, stateOf(t, d), cmp.AllowUnexported(snapshotState{})); diff != "" {
				t.Errorf("state after failed build (-want +got):\n%s", diff)
			}
			if err := b.SetPopularity(nil); err == nil {
				t.Errorf("SetPopularity after Abort succeeded")
			}
		})
	}
}

func TestAbortAfterCommitIsNoop(t *testing.T) {
	d := newTestDir(t)
	b, err := d.NewBuilder(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(6, 4, 2, 2)
	if err := f.write(b); err != nil {
		t.Fatal(err)
	}
	m, err := b.Commit(context.Background(), f.manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Commit(context.Background(), f.manifest); err == nil {
		t.Errorf("second Commit succeeded")
	}
	openT(t, d, m.Version, OpenOptions{})
}

func TestBuilderRejectsBadInput(t *testing.T) {
	f := newFixture(7, 4, 3, 2)
	tests := []struct {
		name    string
		call    func(*Builder) error
		wantErr string
	}{
		{"empty item id", func(b *Builder) error { return b.SetItems([]string{"a", ""}) }, "id at index 1 is empty"},
		{"duplicate user id", func(b *Builder) error { return b.SetUsers([]string{"a", "b", "a"}) }, `id "a" at index 2 duplicates index 0`},
		{"items twice", func(b *Builder) error { b.SetItems(f.items); return b.SetItems(f.items) }, "items already set"},
		{"factors before items", func(b *Builder) error { return b.SetItemFactors(4, 2, f.itemFactors) }, "item ids not set yet"},
		{"wrong factor rows", func(b *Builder) error {
			b.SetItems(f.items)
			return b.SetItemFactors(3, 2, f.itemFactors[:6])
		}, "3 rows for 4 items"},
		{"short factor data", func(b *Builder) error {
			b.SetItems(f.items)
			return b.SetItemFactors(4, 2, f.itemFactors[:7])
		}, "data has 7 floats, want 4 x 2 = 8"},
		{"seen user out of range", func(b *Builder) error {
			b.SetItems(f.items)
			b.SetUsers(f.users)
			return b.PutSeen(3, []int32{0})
		}, "user index out of range [0, 3)"},
		{"seen item out of range", func(b *Builder) error {
			b.SetItems(f.items)
			b.SetUsers(f.users)
			return b.PutSeen(0, []int32{2, 4})
		}, "item index out of range [0, 4)"},
		{"neighbour out of range", func(b *Builder) error {
			b.SetItems(f.items)
			return b.PutNeighbors(0, []Neighbor{{Item: -1}})
		}, "neighbour -1 out of range"},
		{"popularity length", func(b *Builder) error {
			b.SetItems(f.items)
			return b.SetPopularity([]float32{1})
		}, "1 scores for 4 items"},
		{"dims differ", func(b *Builder) error {
			f := f
			f.userFactors = append(f.userFactors, f.userFactors...)
			b.SetItems(f.items)
			b.SetUsers(f.users)
			b.SetItemFactors(4, 2, f.itemFactors)
			b.SetUserFactors(3, 4, f.userFactors)
			b.SetPopularity(f.popularity)
			_, err := b.Commit(context.Background(), Manifest{})
			return err
		}, "item factors have 2 dims, user factors 4"},
	}
	d := newTestDir(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := d.NewBuilder(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer b.Abort()
			if err := tt.call(b); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestRemove(t *testing.T) {
	d := newTestDir(t)
	f := newFixture(8, 5, 3, 4)
	v1 := buildVersion(t, d, f).Version
	v2 := buildVersion(t, d, f).Version
	if err := d.Publish(v1); err != nil {
		t.Fatal(err)
	}
	s := openT(t, d, v2, OpenOptions{})
	if err := d.Remove(v1); err == nil || !strings.Contains(err.Error(), "published") {
		t.Errorf("Remove(published) = %v, want refusal", err)
	}
	if err := d.Remove(v2); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(v2); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove twice = %v, want ErrNotFound", err)
	}
	vs, err := d.Versions()
	if err != nil || len(vs) != 1 || vs[0].Version != v1 {
		t.Errorf("Versions() = %+v, %v, want only %s", vs, err, v1)
	}
	// A snapshot open on the removed version keeps serving.
	if id, err := s.ItemID(1); err != nil || id != f.items[1] {
		t.Errorf("ItemID on removed version = %q, %v", id, err)
	}
	if _, err := d.Open(v2, OpenOptions{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open(removed) = %v, want ErrNotFound", err)
	}
}

func TestClean(t *testing.T) {
	ctx := context.Background()
	d := newTestDir(t)
	staging := filepath.Join(d.Path(), "staging")
	old := time.Now().Add(-2 * time.Hour)
	// "old" was last touched two hours ago; "new" is old itself but has a
	// recently written file inside. Neither is held by a live Builder.
	for _, name := range []string{"old", "new"} {
		p := filepath.Join(staging, name)
		if err := os.MkdirAll(filepath.Join(p, "badger"), 0o700); err != nil {
			t.Fatal(err)
		}
		if name == "new" {
			if err := os.WriteFile(filepath.Join(p, "badger", "000001.sst"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		for _, q := range []string{filepath.Join(p, "badger"), p} {
			if err := os.Chtimes(q, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	tmp := filepath.Join(d.Path(), ".PUBLISHED.tmp-0123")
	if err := os.WriteFile(tmp, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, old, old); err != nil {
		t.Fatal(err)
	}
	names := func() []string {
		var got []string
		entries, _ := os.ReadDir(staging)
		for _, e := range entries {
			got = append(got, e.Name())
		}
		return got
	}
	live, err := d.NewBuilder(ctx) // cleans "old" and "new": nobody holds them
	if err != nil {
		t.Fatal(err)
	}
	defer live.Abort()
	if want := []string{live.Version()}; !slices.Equal(names(), want) {
		t.Errorf("staging after NewBuilder = %v, want %v", names(), want)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale PUBLISHED temp file still there: %v", err)
	}
	// A live build is never removed, not even when it looks stale.
	p := filepath.Join(staging, live.Version())
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	if err := d.Clean(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	second, err := d.NewBuilder(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Abort()
	ls, err := d.Leftovers()
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 || !ls[0].InUse || !ls[1].InUse || ls[0].SizeBytes <= 0 {
		t.Errorf("Leftovers() = %+v, want the two live builds in use, with their size", ls)
	}
	// Aborted: its staging directory is gone at once.
	if err := second.Abort(); err != nil {
		t.Fatal(err)
	}
	if want := []string{live.Version()}; !slices.Equal(names(), want) {
		t.Errorf("staging after Abort = %v, want %v", names(), want)
	}
}

// TestRemoveLeftoversOfDeadBuild: the staging directory of a build whose
// process died (its lock released) is listed and removed at once, whatever
// its age; a live one stays.
func TestRemoveLeftoversOfDeadBuild(t *testing.T) {
	ctx := context.Background()
	d := newTestDir(t)
	dead, err := d.NewBuilder(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := fixtureForLeftovers().write(dead); err != nil {
		t.Fatal(err)
	}
	dead.unlock() // what the kernel does when the process dies
	live, err := OpenDir(d.Path())
	if err != nil {
		t.Fatal(err)
	}
	lb, err := d.NewBuilder(ctx) // removes the dead build on its way
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Abort()
	ls, err := live.Leftovers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if l.Name == dead.Version() {
			t.Errorf("NewBuilder left the dead build %s behind: %+v", dead.Version(), l)
		}
		if l.Name == lb.Version() && !l.InUse {
			t.Errorf("live build %s listed as not in use", lb.Version())
		}
	}
	removed, err := live.RemoveLeftovers(ctx)
	if err != nil || len(removed) != 0 {
		t.Errorf("RemoveLeftovers() with only a live build = %+v, %v, want nothing removed", removed, err)
	}
	dead.Abort() // closes its Badger; the directory is already gone
}

func fixtureForLeftovers() fixture { return newFixture(3, 5, 3, 4) }

func TestLayoutPermissions(t *testing.T) {
	d := newTestDir(t)
	v := buildVersion(t, d, newFixture(9, 5, 3, 4)).Version
	if err := d.Publish(v); err != nil {
		t.Fatal(err)
	}
	err := filepath.Walk(d.Path(), func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if p == d.Path() {
			return nil // t.TempDir's own mode
		}
		want := os.FileMode(0o600)
		if info.IsDir() {
			want = 0o700
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s mode %v, want %v", p, got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"badger", "items.vec", "users.vec", "items.ids", "users.ids", "seen.csr", "neighbors.csr", "manifest.json", "COMPLETE"} {
		if _, err := os.Stat(filepath.Join(d.Path(), "versions", v, name)); err != nil {
			t.Errorf("version file missing: %v", err)
		}
	}
}

func TestValidVersion(t *testing.T) {
	for _, c := range []struct {
		v    string
		want bool
	}{
		{"20261122T140621.123Z-a1b2c3", true},
		{newVersionName(time.Now()), true},
		{"20261122T140621.123Z-A1B2C3", false},
		{"20261122T140621.123Z-a1b2c", false},
		{"20261122T140621Z-a1b2c3abc", false},
		{"20261322T140621.123Z-a1b2c3", false},
		{"../../../../tmp/x-a1b2c3aaaa", false},
		{"", false},
	} {
		if got := ValidVersion(c.v); got != c.want {
			t.Errorf("ValidVersion(%q) = %v, want %v", c.v, got, c.want)
		}
	}
	a := newVersionName(time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC))
	b := newVersionName(time.Date(2026, 1, 2, 3, 4, 5, 7e6, time.UTC))
	if !strings.HasPrefix(a, "20260102T030405.006Z-") || a >= b {
		t.Errorf("version names %q, %q not sortable by time", a, b)
	}
}
