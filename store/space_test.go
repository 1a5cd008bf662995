package store

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestCheckSpace checks that a builder refuses to write a version the file
// system has no room for, with ENOSPC, and that aborting it leaves no
// staging directory.
func TestCheckSpace(t *testing.T) {
	d := newTestDir(t)
	b, err := d.NewBuilder(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Abort()
	h := SizeHint{Users: 1000, Items: 100, Dims: 16, IDBytes: 8000, Seen: 20000, Neighbors: 2000}
	var asked string
	free := func(have int64) FreeSpaceFunc {
		return func(path string) (int64, error) { asked = path; return have, nil }
	}
	if err := b.CheckSpace(h, free(h.Bytes())); err != nil {
		t.Errorf("CheckSpace with %d bytes free for %d needed = %v, want nil", h.Bytes(), h.Bytes(), err)
	}
	if !strings.HasPrefix(asked, d.path) {
		t.Errorf("free space asked of %q, want a path inside %s", asked, d.path)
	}
	err = b.CheckSpace(h, free(h.Bytes()-1))
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("CheckSpace with a byte too few = %v, want ENOSPC", err)
	}
	if err := b.Abort(); err != nil {
		t.Fatal(err)
	}
	if es, _ := os.ReadDir(filepath.Join(d.path, stagingDir)); len(es) != 0 {
		t.Errorf("staging holds %d entries after Abort, want none", len(es))
	}
	if _, err := FreeSpace(d.path); err != nil {
		t.Errorf("FreeSpace(%s) = %v", d.path, err)
	}
}

// TestSizeHintBounds checks that the estimate is not below the disk space
// a version really takes (blocks allocated, not the sparse files' sizes).
func TestSizeHintBounds(t *testing.T) {
	d := newTestDir(t)
	const items, users, dims = 3000, 20000, 32
	f := newFixture(7, items, users, dims)
	m := buildVersion(t, d, f)
	var used int64
	filepath.WalkDir(d.versionPath(m.Version), func(_ string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		used += info.Sys().(*syscall.Stat_t).Blocks * 512
		return nil
	})
	h := SizeHint{Users: users, Items: items, Dims: dims}
	for _, id := range append(f.items, f.users...) {
		h.IDBytes += int64(len(id))
	}
	for _, s := range f.seen {
		h.Seen += int64(len(s))
	}
	for _, n := range f.neighbors {
		h.Neighbors += int64(len(n))
	}
	if est := h.Bytes() - Headroom; est < used {
		t.Errorf("SizeHint.Bytes() without headroom = %d, the version uses %d bytes on disk", est, used)
	} else {
		t.Logf("estimate %d bytes (+ %d headroom), used %d", est, int64(Headroom), used)
	}
}
