package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// buildN commits n small versions in d and returns their names, oldest first.
func buildN(t *testing.T, d *Dir, n int) []string {
	t.Helper()
	var vs []string
	for i := range n {
		vs = append(vs, buildVersion(t, d, newFixture(uint64(20+i), 6, 4, 2)).Version)
	}
	return vs
}

func wantPublished(t *testing.T, d *Dir, want string) {
	t.Helper()
	if got, err := d.Published(); err != nil || got != want {
		t.Fatalf("Published() = %q, %v, want %q", got, err, want)
	}
}

func wantPrevious(t *testing.T, d *Dir, want string) {
	t.Helper()
	got, err := d.Previous()
	if want == "" {
		if !errors.Is(err, ErrNoPrevious) {
			t.Fatalf("Previous() = %q, %v, want ErrNoPrevious", got, err)
		}
		return
	}
	if err != nil || got != want {
		t.Fatalf("Previous() = %q, %v, want %q", got, err, want)
	}
}

func TestPublishHistoryAndRollback(t *testing.T) {
	d := newTestDir(t)
	// A second Dir value on the same path stands for another process.
	d2, err := OpenDir(d.Path())
	if err != nil {
		t.Fatal(err)
	}
	v := buildN(t, d, 3)
	wantPrevious(t, d, "")
	if _, err := d.Rollback(); !errors.Is(err, ErrNoPrevious) {
		t.Fatalf("Rollback() with nothing published = %v, want ErrNoPrevious", err)
	}
	steps := []struct {
		op         string // "publish VERSION" or "rollback"
		wantPub    string
		wantPrev   string
		wantErr    error
		wantRolled string
	}{
		{op: "publish 0", wantPub: v[0]},
		{op: "rollback", wantPub: v[0], wantErr: ErrNoPrevious},
		{op: "publish 1", wantPub: v[1], wantPrev: v[0]},
		{op: "publish 1", wantPub: v[1], wantPrev: v[0]}, // again: no-op
		{op: "publish 2", wantPub: v[2], wantPrev: v[1]},
		{op: "rollback", wantPub: v[1], wantPrev: v[0], wantRolled: v[1]},
		{op: "rollback", wantPub: v[0], wantRolled: v[0]},
		{op: "rollback", wantPub: v[0], wantErr: ErrNoPrevious},
		{op: "publish 2", wantPub: v[2], wantPrev: v[0]},
		{op: "publish 0", wantPub: v[0], wantPrev: v[2]},
		{op: "rollback", wantPub: v[2], wantPrev: v[0], wantRolled: v[2]},
	}
	for i, s := range steps {
		dd := d
		if i%2 == 1 {
			dd = d2
		}
		var err error
		if idx, ok := strings.CutPrefix(s.op, "publish "); ok {
			err = dd.Publish(v[idx[0]-'0'])
		} else {
			var got string
			got, err = dd.Rollback()
			if err == nil && got != s.wantRolled {
				t.Errorf("step %d: Rollback() = %q, want %q", i, got, s.wantRolled)
			}
		}
		if !errors.Is(err, s.wantErr) {
			t.Fatalf("step %d (%s): err = %v, want %v", i, s.op, err, s.wantErr)
		}
		wantPublished(t, d, s.wantPub)
		wantPrevious(t, d2, s.wantPrev)
	}
	st, err := os.Stat(filepath.Join(d.Path(), "HISTORY"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("HISTORY: %v, mode %v, want 0600", err, st.Mode().Perm())
	}
}

func TestPreviousRemoved(t *testing.T) {
	d := newTestDir(t)
	v := buildN(t, d, 2)
	for _, x := range v {
		if err := d.Publish(x); err != nil {
			t.Fatal(err)
		}
	}
	wantPrevious(t, d, v[0])
	if err := d.Remove(v[0]); err != nil {
		t.Fatal(err)
	}
	wantPrevious(t, d, "")
	if _, err := d.Rollback(); !errors.Is(err, ErrNoPrevious) || !strings.Contains(err.Error(), "removed") {
		t.Errorf("Rollback() to removed version = %v, want ErrNoPrevious saying removed", err)
	}
	wantPublished(t, d, v[1])
}

func TestHistoryReconciledWithPointer(t *testing.T) {
	d := newTestDir(t)
	v := buildN(t, d, 3)
	writeHist := func(vs ...string) {
		t.Helper()
		if err := d.writeHistory(vs); err != nil {
			t.Fatal(err)
		}
	}
	for _, x := range v[:2] {
		if err := d.Publish(x); err != nil {
			t.Fatal(err)
		}
	}
	// A publish of v2 killed after HISTORY was written, before PUBLISHED.
	writeHist(v[0], v[1], v[2])
	wantPrevious(t, d, v[0])
	// A rollback to v0 killed after HISTORY was written, before PUBLISHED.
	writeHist(v[0])
	wantPrevious(t, d, v[0])
	// A data directory from before HISTORY existed.
	if err := os.Remove(filepath.Join(d.Path(), "HISTORY")); err != nil {
		t.Fatal(err)
	}
	wantPrevious(t, d, "")
	if err := d.Publish(v[2]); err != nil {
		t.Fatal(err)
	}
	wantPrevious(t, d, v[1])
	// Damage is reported, not guessed around.
	if err := os.WriteFile(filepath.Join(d.Path(), "HISTORY"), []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Previous(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Previous() with damaged HISTORY = %v, want ErrCorrupt", err)
	}
}

// TestRetain keeps the published, the previous, every newer candidate and
// the newest N older versions, never one open elsewhere; a candidate is
// removed once a newer version is published.
func TestRetain(t *testing.T) {
	ctx := context.Background()
	d := newTestDir(t)
	other, err := OpenDir(d.Path()) // a server in another process
	if err != nil {
		t.Fatal(err)
	}
	base := MappedBytes()
	v := buildN(t, d, 7)
	for _, x := range []string{v[3], v[4]} { // published v4, previous v3; v5 and v6 are candidates
		if err := d.Publish(x); err != nil {
			t.Fatal(err)
		}
	}
	s, err := other.Open(v[1], OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if MappedBytes() <= base {
		t.Errorf("MappedBytes() = %d with a snapshot open, want > %d", MappedBytes(), base)
	}
	if _, err := d.Retain(ctx, -1); err == nil {
		t.Error("Retain(-1) succeeded")
	}
	listed := func() []string {
		vs, err := d.Versions()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, x := range vs {
			if err := d.Verify(ctx, x.Version); err != nil {
				t.Errorf("after Retain: %v", err)
			}
			names = append(names, x.Version)
		}
		return names
	}
	steps := []struct {
		name        string
		before      func()
		keep        int
		wantRemoved []string
		wantLeft    []string
	}{
		// Older than v4: v0..v3; the newest 1 is v3 (also previous), v1 is open.
		{"keep 1 with v1 open", nil, 1, []string{v[0], v[2]}, []string{v[1], v[3], v[4], v[5], v[6]}},
		{"keep 0 after close", func() {
			if _, err := s.ItemID(0); err != nil {
				t.Errorf("ItemID on open snapshot after Retain: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}, 0, []string{v[1]}, []string{v[3], v[4], v[5], v[6]}},
		{"candidate v5 goes once v6 is published", func() {
			if err := d.Publish(v[6]); err != nil {
				t.Fatal(err)
			}
		}, 0, []string{v[3], v[5]}, []string{v[4], v[6]}},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		removed, err := d.Retain(ctx, st.keep)
		if err != nil {
			t.Fatalf("%s: Retain(%d) error = %v", st.name, st.keep, err)
		}
		if !slices.Equal(removed, st.wantRemoved) {
			t.Errorf("%s: Retain(%d) removed %v, want %v", st.name, st.keep, removed, st.wantRemoved)
		}
		if got := listed(); !slices.Equal(got, st.wantLeft) {
			t.Errorf("%s: versions after Retain(%d) = %v, want %v", st.name, st.keep, got, st.wantLeft)
		}
	}
	if got := MappedBytes(); got != base {
		t.Errorf("MappedBytes() after Close = %d, want baseline %d", got, base)
	}
	// Nothing is left half-removed in staging/.
	if entries, err := os.ReadDir(filepath.Join(d.Path(), "staging")); err != nil || len(entries) != 0 {
		t.Errorf("staging after Retain = %v, %v, want empty", entries, err)
	}
	// Rollback still works: the previous version was kept.
	if got, err := d.Rollback(); err != nil || got != v[4] {
		t.Errorf("Rollback() after Retain = %q, %v, want %q", got, err, v[4])
	}
}

func TestOpenWaitsForNothingAfterRemoval(t *testing.T) {
	// Open on a version Retain removed fails cleanly with ErrNotFound and
	// leaves no LOCK file behind in versions/.
	ctx := context.Background()
	d := newTestDir(t)
	v := buildN(t, d, 2)
	if err := d.Publish(v[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Retain(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Open(v[0], OpenOptions{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open(removed) = %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(d.versionPath(v[0])); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open(removed) recreated its directory: stat err = %v", err)
	}
}

func TestMappedBytes(t *testing.T) {
	d := newTestDir(t)
	m := buildVersion(t, d, newFixture(30, 40, 20, 8))
	base := MappedBytes()
	var want int64
	for _, fi := range m.Files {
		want += fi.Size
	}
	s1 := openT(t, d, m.Version, OpenOptions{})
	s2 := openT(t, d, m.Version, OpenOptions{VerifyChecksums: true})
	if got := MappedBytes() - base; got != 2*want {
		t.Errorf("MappedBytes() grew by %d with two snapshots open, want 2 x %d", got, want)
	}
	s1.Close()
	s2.Close()
	s2.Close()
	if got := MappedBytes(); got != base {
		t.Errorf("MappedBytes() after Close = %d, want baseline %d", got, base)
	}
}

func TestForget(t *testing.T) {
	d := newTestDir(t)
	other, err := OpenDir(d.Path())
	if err != nil {
		t.Fatal(err)
	}
	stamp := func(dd *Dir) int64 {
		t.Helper()
		s, err := dd.TombstonesStamp()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if ts, err := d.Tombstones(); err != nil || ts.Len() != 0 || ts.Has("u1") {
		t.Fatalf("Tombstones() on a fresh dir = %d entries, %v", ts.Len(), err)
	}
	if s := stamp(d); s != 0 {
		t.Errorf("TombstonesStamp() on a fresh dir = %d, want 0", s)
	}
	if err := d.Forget(""); err == nil {
		t.Error("Forget(\"\") succeeded")
	}
	s0 := stamp(d)
	for _, u := range []string{"alice@example.com", "u-42", "alice@example.com"} {
		if err := d.Forget(u); err != nil {
			t.Fatal(err)
		}
	}
	s1 := stamp(other)
	if s1 == s0 {
		t.Errorf("TombstonesStamp() unchanged after Forget: %d", s1)
	}
	if err := other.Forget("u-42"); err != nil {
		t.Fatal(err)
	}
	if s := stamp(d); s != s1 {
		t.Errorf("TombstonesStamp() changed by forgetting a user again: %d -> %d", s1, s)
	}
	ts, err := other.Tombstones()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		user string
		want bool
	}{{"alice@example.com", true}, {"u-42", true}, {"u-4", false}, {"", false}} {
		if got := ts.Has(c.user); got != c.want {
			t.Errorf("Has(%q) = %v, want %v", c.user, got, c.want)
		}
	}
	if ts.Len() != 2 {
		t.Errorf("Len() = %d, want 2", ts.Len())
	}
	p := filepath.Join(d.Path(), "TOMBSTONES")
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "alice") || strings.Contains(string(raw), "u-42") {
		t.Errorf("TOMBSTONES holds a raw user id:\n%s", raw)
	}
	if want := UserHash("alice@example.com") + "\n" + UserHash("u-42") + "\n"; string(raw) != want {
		t.Errorf("TOMBSTONES = %q, want %q", raw, want)
	}
	if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("TOMBSTONES mode = %v, %v, want 0600", st.Mode().Perm(), err)
	}

	// A torn line left by a crash is ignored, and the next Forget ends it.
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("3fa9")
	f.Close()
	if ts, err := d.Tombstones(); err != nil || ts.Len() != 2 {
		t.Errorf("Tombstones() with torn tail = %d entries, %v, want 2", ts.Len(), err)
	}
	if err := d.Forget("bob"); err != nil {
		t.Fatal(err)
	}
	raw, err = os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := UserHash("alice@example.com") + "\n" + UserHash("u-42") + "\n" + UserHash("bob") + "\n"; string(raw) != want {
		t.Errorf("TOMBSTONES after Forget over a torn tail = %q, want %q", raw, want)
	}
	// A malformed complete line is damage: reported, not skipped.
	if err := os.WriteFile(p, append(raw, "not-a-hash\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Tombstones(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "line 4") {
		t.Errorf("Tombstones() with a malformed line = %v, want ErrCorrupt at line 4", err)
	}
	if err := d.Forget("carol"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Forget over a damaged TOMBSTONES = %v, want ErrCorrupt", err)
	} else if strings.Contains(err.Error(), "carol") {
		t.Errorf("Forget error names the user: %v", err)
	}
}

func TestInfoAndVersionsMarkPublishedAndPrevious(t *testing.T) {
	d := newTestDir(t)
	v := buildN(t, d, 3)
	for _, x := range v[:2] {
		if err := d.Publish(x); err != nil {
			t.Fatal(err)
		}
	}
	vs, err := d.Versions()
	if err != nil {
		t.Fatal(err)
	}
	var marks []string
	for _, x := range vs {
		marks = append(marks, fmt.Sprintf("%v/%v", x.Published, x.Previous))
	}
	if want := []string{"false/true", "true/false", "false/false"}; !slices.Equal(marks, want) {
		t.Errorf("Versions() published/previous = %v, want %v", marks, want)
	}
	info, err := d.Info(v[1])
	if err != nil {
		t.Fatal(err)
	}
	if !info.Published || info.Previous || info.Version != v[1] || info.SizeBytes <= 0 {
		t.Errorf("Info(%s) = %+v, want the published version", v[1], info)
	}
	var names []string
	var total int64
	for _, f := range info.Files {
		names = append(names, f.Name)
		total += f.Size
	}
	for _, want := range []string{"items.vec", "users.vec", "items.ids", "users.ids", "seen.csr", "neighbors.csr", "manifest.json", "itemitem.vec", "notes.txt", "badger/MANIFEST"} {
		if !slices.Contains(names, want) {
			t.Errorf("Info(%s).Files = %v, missing %s", v[1], names, want)
		}
	}
	if slices.Contains(names, "LOCK") || slices.Contains(names, "COMPLETE") {
		t.Errorf("Info(%s).Files = %v lists LOCK or COMPLETE", v[1], names)
	}
	if total > info.SizeBytes {
		t.Errorf("Info(%s): files total %d bytes, version %d", v[1], total, info.SizeBytes)
	}
	if _, err := d.Info("20261122T140621.123Z-a1b2c3"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Info(unknown) = %v, want ErrNotFound", err)
	}
}
