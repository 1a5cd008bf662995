package store

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// corruptVersion flips a payload byte of v's item vectors, keeping the size.
func corruptVersion(t *testing.T, d *Dir, v string) {
	t.Helper()
	flipByte(t, filepath.Join(d.versionPath(v), itemsVecFile), VecHeaderSize+1)
}

func TestPublishVerified(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		corrupt bool
		opts    func(pub string) PublishOptions
		wantErr error // nil: published
	}{
		{"good", false, func(string) PublishOptions { return DefaultPublishOptions() }, nil},
		{"corrupt refused", true, func(string) PublishOptions { return DefaultPublishOptions() }, ErrCorrupt},
		{"corrupt with SkipVerify", true, func(string) PublishOptions { return PublishOptions{SkipVerify: true} }, nil},
		{"expected published", false, func(pub string) PublishOptions { return DefaultPublishOptions().ExpectPublished(pub) }, nil},
		{"expected stale", false, func(string) PublishOptions { return DefaultPublishOptions().ExpectPublished("") }, ErrPublishedChanged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDir(t)
			v := buildN(t, d, 2)
			if err := d.Publish(v[0]); err != nil {
				t.Fatal(err)
			}
			if tt.corrupt {
				corruptVersion(t, d, v[1])
			}
			prev, err := d.PublishVerified(ctx, v[1], tt.opts(v[0]))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("PublishVerified(%s) = %v, want %v", v[1], err, tt.wantErr)
				}
				wantPublished(t, d, v[0])
				if h, _ := d.History(); !slices.Equal(h, v[:1]) {
					t.Errorf("History() after a refused publish = %v, want %v", h, v[:1])
				}
				return
			}
			if err != nil || prev != v[0] {
				t.Fatalf("PublishVerified(%s) = %q, %v, want %q, nil", v[1], prev, err, v[0])
			}
			wantPublished(t, d, v[1])
		})
	}
}

// TestRollbackVerifiedSkipsCorrupt walks back over corrupt and removed
// versions of the history to the newest one that verifies, and refuses
// when none does.
func TestRollbackVerifiedSkipsCorrupt(t *testing.T) {
	ctx := context.Background()
	d := newTestDir(t)
	v := buildN(t, d, 5)
	for _, x := range v {
		if err := d.Publish(x); err != nil {
			t.Fatal(err)
		}
	}
	corruptVersion(t, d, v[3])
	if err := d.Remove(v[2]); err != nil {
		t.Fatal(err)
	}
	r, err := d.RollbackVerified(ctx)
	if err != nil {
		t.Fatalf("RollbackVerified() error = %v", err)
	}
	if r.Version != v[1] || r.Replaced != v[4] {
		t.Errorf("RollbackVerified() = %s replacing %s, want %s replacing %s", r.Version, r.Replaced, v[1], v[4])
	}
	var skipped []string
	for _, s := range r.Skipped {
		skipped = append(skipped, s.Version)
	}
	if want := []string{v[3], v[2]}; !slices.Equal(skipped, want) {
		t.Errorf("RollbackVerified() skipped %v, want %v", skipped, want)
	}
	wantPublished(t, d, v[1])
	if h, _ := d.History(); !slices.Equal(h, v[:2]) {
		t.Errorf("History() after rollback = %v, want %v", h, v[:2])
	}
	// Only a corrupt version is left below: refused, nothing changes.
	corruptVersion(t, d, v[0])
	_, err = d.RollbackVerified(ctx)
	if !errors.Is(err, ErrNoPrevious) || !strings.Contains(err.Error(), v[0]) {
		t.Errorf("RollbackVerified() onto corrupt %s = %v, want ErrNoPrevious naming it", v[0], err)
	}
	wantPublished(t, d, v[1])
}

func TestVersionStamp(t *testing.T) {
	d := newTestDir(t)
	v := buildN(t, d, 1)[0]
	before, err := d.VersionStamp(v)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := d.VersionStamp(v); again != before {
		t.Errorf("VersionStamp() changed without a change")
	}
	corruptVersion(t, d, v) // rewrites the file: a new inode or mtime
	if after, _ := d.VersionStamp(v); after == before {
		t.Errorf("VersionStamp() unchanged after rewriting items.vec")
	}
	if _, err := d.VersionStamp("20261122T140621.123Z-a1b2c3"); !errors.Is(err, ErrNotFound) {
		t.Errorf("VersionStamp(missing) = %v, want ErrNotFound", err)
	}
}
