package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// flipByte XORs the byte at off (negative: from the end) of file p.
func flipByte(t *testing.T, p string, off int64) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		off += int64(len(b))
	}
	b[off] ^= 0x40
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// rewriteHeader lets edit change a vector file header, then fixes its CRC.
func rewriteHeader(t *testing.T, p string, edit func([]byte)) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	edit(b)
	binary.LittleEndian.PutUint32(b[36:40], crc32.Checksum(b[:36], castagnoli))
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptionIsRefused(t *testing.T) {
	type outcome struct {
		err  error  // errors.Is target; nil means success
		text string // substring of the error
	}
	ok := outcome{}
	tests := []struct {
		name   string
		damage func(t *testing.T, vdir string)
		open   outcome // Open without checksum verification
		verify outcome // Open with VerifyChecksums and Dir.Verify
	}{
		{
			name:   "truncated vector file",
			damage: func(t *testing.T, vdir string) { os.Truncate(filepath.Join(vdir, "items.vec"), 64+100) },
			open:   outcome{ErrCorrupt, "items.vec is 164 bytes, COMPLETE says 1344: truncated or replaced"},
			verify: outcome{ErrCorrupt, "items.vec"},
		},
		{
			name:   "truncated header",
			damage: func(t *testing.T, vdir string) { os.Truncate(filepath.Join(vdir, "users.vec"), 10) },
			open:   outcome{ErrCorrupt, "users.vec is 10 bytes, COMPLETE says 704"},
			verify: outcome{ErrCorrupt, "users.vec"},
		},
		{
			name:   "flipped payload byte",
			damage: func(t *testing.T, vdir string) { flipByte(t, filepath.Join(vdir, "items.vec"), 64+4*17) },
			open:   ok,
			verify: outcome{ErrCorrupt, "items.vec"},
		},
		{
			name:   "flipped header byte",
			damage: func(t *testing.T, vdir string) { flipByte(t, filepath.Join(vdir, "users.vec"), 24) },
			open:   outcome{ErrCorrupt, "users.vec: corrupt snapshot: header checksum mismatch"},
			verify: outcome{ErrCorrupt, "users.vec"},
		},
		{
			name:   "wrong magic",
			damage: func(t *testing.T, vdir string) { flipByte(t, filepath.Join(vdir, "items.vec"), 1) },
			open:   outcome{ErrCorrupt, `items.vec: corrupt snapshot: bad magic "P\x03VEC`},
			verify: outcome{ErrCorrupt, "items.vec"},
		},
		{
			name: "newer vector format",
			damage: func(t *testing.T, vdir string) {
				rewriteHeader(t, filepath.Join(vdir, "items.vec"), func(b []byte) { binary.LittleEndian.PutUint32(b[8:], 2) })
			},
			open: outcome{ErrFormat, "items.vec: unsupported format: vector file format version 2, this build reads up to 1"},
			// A rewritten header with a valid header CRC leaves the whole-file
			// CRC-32C unchanged (CRC residue property), so Verify reports the
			// format error too.
			verify: outcome{ErrFormat, "items.vec"},
		},
		{
			name: "rows disagree with manifest",
			damage: func(t *testing.T, vdir string) {
				p := filepath.Join(vdir, "users.vec")
				os.Truncate(p, 64+4*16*4)
				rewriteHeader(t, p, func(b []byte) { binary.LittleEndian.PutUint64(b[16:], 4) })
			},
			open:   outcome{ErrCorrupt, "users.vec is 320 bytes, COMPLETE says 704"},
			verify: outcome{ErrCorrupt, "users.vec"},
		},
		{
			name:   "flipped id table byte",
			damage: func(t *testing.T, vdir string) { flipByte(t, filepath.Join(vdir, "items.ids"), -1) },
			open:   ok,
			verify: outcome{ErrCorrupt, "items.ids"},
		},
		{
			name:   "missing COMPLETE",
			damage: func(t *testing.T, vdir string) { os.Remove(filepath.Join(vdir, "COMPLETE")) },
			open:   outcome{ErrCorrupt, "no COMPLETE marker: version is incomplete"},
			verify: outcome{ErrCorrupt, "no COMPLETE marker"},
		},
		{
			name: "COMPLETE does not match manifest",
			damage: func(t *testing.T, vdir string) {
				os.WriteFile(filepath.Join(vdir, "COMPLETE"), completeMarker{manifestSHA256: manifestSHA256([]byte("{}"))}.marshal(), 0o600)
			},
			open:   outcome{ErrCorrupt, "manifest checksum"},
			verify: outcome{ErrCorrupt, "manifest checksum"},
		},
		{
			name: "missing badger table file",
			damage: func(t *testing.T, vdir string) {
				ssts, _ := filepath.Glob(filepath.Join(vdir, "badger", "*.sst"))
				if len(ssts) == 0 {
					t.Fatal("no .sst files written")
				}
				os.Remove(ssts[0])
			},
			open:   outcome{ErrCorrupt, "badger/000001.sst: stat"},
			verify: outcome{ErrCorrupt, "badger/000001.sst: open"},
		},
		{
			name:   "missing badger directory",
			damage: func(t *testing.T, vdir string) { os.RemoveAll(filepath.Join(vdir, "badger")) },
			open:   outcome{ErrCorrupt, "badger/000001.sst: stat"},
			verify: outcome{ErrCorrupt, "badger/000001.sst: open"},
		},
	}
	check := func(t *testing.T, what string, err error, want outcome) {
		t.Helper()
		if want.err == nil {
			if err != nil {
				t.Errorf("%s: unexpected error %v", what, err)
			}
			return
		}
		if !errors.Is(err, want.err) || !strings.Contains(err.Error(), want.text) {
			t.Errorf("%s error = %v, want %v containing %q", what, err, want.err, want.text)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDir(t)
			v := buildVersion(t, d, newFixture(10, 20, 10, 3)).Version
			tt.damage(t, d.versionPath(v))

			s, err := d.Open(v, OpenOptions{})
			if err == nil {
				s.Close()
			}
			check(t, "Open", err, tt.open)
			s, err = d.Open(v, OpenOptions{VerifyChecksums: true})
			if err == nil {
				s.Close()
			}
			check(t, "Open(VerifyChecksums)", err, tt.verify)
			check(t, "Verify", d.Verify(context.Background(), v), tt.verify)
		})
	}
}

func TestVerifyDetectsBadgerRecordMismatch(t *testing.T) {
	// A version whose Badger item ids disagree with items.ids: built by
	// swapping in the id table of another version with the same shape.
	d := newTestDir(t)
	f := newFixture(11, 8, 4, 2)
	v1 := buildVersion(t, d, f).Version
	f.items[3] = "other"
	v2 := buildVersion(t, d, f).Version
	src, dst := filepath.Join(d.versionPath(v2), "items.ids"), filepath.Join(d.versionPath(v1), "items.ids")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Verify(context.Background(), v1); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "items.ids") {
		t.Errorf("Verify = %v, want ErrCorrupt about items.ids", err)
	}
}

func TestVersionsSkipsIncomplete(t *testing.T) {
	d := newTestDir(t)
	f := newFixture(12, 5, 3, 4)
	v1 := buildVersion(t, d, f).Version
	v2 := buildVersion(t, d, f).Version
	os.Remove(filepath.Join(d.versionPath(v1), "COMPLETE"))
	vs, err := d.Versions()
	if err != nil || len(vs) != 1 || vs[0].Version != v2 {
		t.Errorf("Versions() = %+v, %v, want only %s", vs, err, v2)
	}
}

func TestNewerManifestFormatIsRefused(t *testing.T) {
	ctx := context.Background()
	d := newTestDir(t)
	f := newFixture(14, 6, 4, 2)
	old := buildVersion(t, d, f).Version
	// Write a version exactly as a newer build would: consistent checksums,
	// a larger format version.
	b, err := d.NewBuilder(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Abort()
	if err := f.write(b); err != nil {
		t.Fatal(err)
	}
	m, err := b.complete(f.manifest)
	if err != nil {
		t.Fatal(err)
	}
	m.FormatVersion = FormatVersion + 1
	if err := b.commit(ctx, m); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("snapshot format version %d, this build reads up to %d", FormatVersion+1, FormatVersion)
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s = %v, want ErrFormat saying %q", what, err, want)
		}
	}
	s, err := d.Open(m.Version, OpenOptions{})
	if err == nil {
		s.Close()
	}
	check("Open", err)
	check("Verify", d.Verify(ctx, m.Version))
	check("Publish", d.Publish(m.Version))
	_, err = d.Info(m.Version)
	check("Info", err)
	vs, err := d.Versions()
	if err != nil || len(vs) != 1 || vs[0].Version != old {
		t.Errorf("Versions() = %+v, %v, want only %s", vs, err, old)
	}
}
