package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// collidingIDs returns n ids "c<k>" whose hash picks the last slot of a
// table sized for count ids, so that they probe past the end and wrap.
func collidingIDs(t *testing.T, n, count int) []string {
	t.Helper()
	mask := uint64(1)<<idsHashBits(count) - 1
	var out []string
	for k := 0; len(out) < n; k++ {
		if id := fmt.Sprintf("c%d", k); idHash(id)&mask == mask {
			out = append(out, id)
		}
	}
	return out
}

// writeIDsT writes ids as an id table of the given format version in a
// temporary directory and returns its path.
func writeIDsT(t *testing.T, ids []string, version uint32) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x.ids")
	if err := writeIDsFileVersion(p, ids, version); err != nil {
		t.Fatal(err)
	}
	return p
}

func openIDsT(t *testing.T, p string, verify bool) *idTable {
	t.Helper()
	tb, err := openIDTable(p, verify)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tb.close() })
	return tb
}

func TestIDTableRoundTrip(t *testing.T) {
	many := make([]string, 5000)
	for i := range many {
		many[i] = fmt.Sprintf("sku-%08d", i*7)
	}
	collide := collidingIDs(t, 12, 16)
	collide = append(collide, "a", "b", "c", "d")
	tests := []struct {
		name   string
		ids    []string
		absent []string
	}{
		{"none", nil, []string{"a", "\x00"}},
		{"one", []string{"x"}, []string{"", "xx", "X", "x\x00"}},
		{"prefixes", []string{"a", "aa", "aaa", "a\x00", "\x00", " ", "a a"}, []string{"aaaa", "\x00\x00", "b", "a\x00\x00", "  "}},
		{"unicode", []string{"café", "cafe\u0301", "日本語", "🙂", "\xff\xfe"}, []string{"cafe", "日本", "🙃", "\xff"}},
		{"low bits collide", collide, []string{"e", "cc", "c0x"}},
		{"many", many, []string{"sku-00000001", "sku-99999999", "sku-0000000", "sku-000000000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := openIDsT(t, writeIDsT(t, tt.ids, idsFormatVersion), true)
			if !tb.hashed() || tb.count != len(tt.ids) {
				t.Fatalf("hashed() = %v, count = %d, want true, %d", tb.hashed(), tb.count, len(tt.ids))
			}
			if got, min := len(tb.slots)/4, 2*len(tt.ids); got < min || got&(got-1) != 0 {
				t.Errorf("%d slots, want a power of two >= %d", got, min)
			}
			for i, id := range tt.ids {
				if got, err := tb.id(i); err != nil || got != id {
					t.Errorf("id(%d) = %q, %v, want %q", i, got, err, id)
				}
				if got, ok, err := tb.index(id); err != nil || !ok || got != i {
					t.Errorf("index(%q) = %d, %v, %v, want %d, true, nil", id, got, ok, err, i)
				}
			}
			for _, id := range tt.absent {
				if slices.Contains(tt.ids, id) {
					t.Fatalf("absent id %q is in the table", id)
				}
				if got, ok, err := tb.index(id); err != nil || ok {
					t.Errorf("index(%q) = %d, %v, %v, want not found", id, got, ok, err)
				}
			}
			if err := tb.checkIndex(); err != nil {
				t.Errorf("checkIndex() = %v", err)
			}
		})
	}
}

func TestIDTableVersion1(t *testing.T) {
	ids := []string{"a", "bb", "日本"}
	p := writeIDsT(t, ids, 1)
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(idsHeaderSize + 4*8 + len("abb日本")); st.Size() != want {
		t.Errorf("version 1 file is %d bytes, want %d", st.Size(), want)
	}
	tb := openIDsT(t, p, true)
	if tb.hashed() {
		t.Error("version 1 table claims a hash index")
	}
	for i, id := range ids {
		if got, err := tb.id(i); err != nil || got != id {
			t.Errorf("id(%d) = %q, %v, want %q", i, got, err, id)
		}
	}
	if err := tb.checkIndex(); err != nil {
		t.Errorf("checkIndex() = %v, want nil for a table without index", err)
	}
}

// slotOffset returns the file offset of the slot holding id in the version
// 2 table at p.
func slotOffset(t *testing.T, p, id string) int64 {
	t.Helper()
	tb := openIDsT(t, p, false)
	i, ok, err := tb.index(id)
	if err != nil || !ok {
		t.Fatalf("index(%q) = %v, %v", id, ok, err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	start := len(data) - len(tb.slots)
	for s := start; s < len(data); s += 4 {
		if binary.LittleEndian.Uint32(data[s:]) == uint32(i)+1 {
			return int64(s)
		}
	}
	t.Fatalf("no slot holds %q", id)
	return 0
}

// editIDs lets edit change the id table at p, then fixes its payload and
// header checksums.
func editIDs(t *testing.T, p string, edit func(data []byte)) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	edit(data)
	binary.LittleEndian.PutUint32(data[32:36], crc32.Checksum(data[idsHeaderSize:], castagnoli))
	binary.LittleEndian.PutUint32(data[36:40], crc32.Checksum(data[:36], castagnoli))
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func putU32At(off int64, v uint32) func([]byte) {
	return func(b []byte) { binary.LittleEndian.PutUint32(b[off:], v) }
}

func TestIDTableCorrupt(t *testing.T) {
	ids := []string{"apple", "banana", "cherry", "damson", "elder"}
	type outcome struct {
		open   string // error text from openIDTable(verify); "" = opens
		lookup string // error text from index(lookupID) without verification; "" = no error
	}
	tests := []struct {
		name     string
		damage   func(t *testing.T, p string)
		lookupID string
		want     outcome
	}{
		{
			name:     "flipped slot byte",
			damage:   func(t *testing.T, p string) { flipByte(t, p, slotOffset(t, p, "cherry")) },
			lookupID: "cherry",
			want:     outcome{open: "payload checksum mismatch", lookup: "hash slot"},
		},
		{
			name: "slot index out of range",
			damage: func(t *testing.T, p string) {
				editIDs(t, p, putU32At(slotOffset(t, p, "banana"), uint32(len(ids))+1))
			},
			lookupID: "banana",
			want:     outcome{lookup: "holds index 5, out of range [0, 5)"},
		},
		{
			name: "slot index huge",
			damage: func(t *testing.T, p string) {
				editIDs(t, p, putU32At(slotOffset(t, p, "banana"), 0xffffffff))
			},
			lookupID: "banana",
			want:     outcome{lookup: "out of range"},
		},
		{
			name: "bad offsets behind a slot",
			damage: func(t *testing.T, p string) {
				editIDs(t, p, func(b []byte) { binary.LittleEndian.PutUint64(b[idsHeaderSize+3*8:], 1<<40) })
			},
			lookupID: "damson",
			want:     outcome{lookup: "id table offsets"},
		},
		{
			name: "too few hash bits",
			damage: func(t *testing.T, p string) {
				editIDs(t, p, putU32At(12, 3))
			},
			want: outcome{open: "hash table of 3 bits for 5 ids"},
		},
		{
			name: "too many hash bits",
			damage: func(t *testing.T, p string) {
				editIDs(t, p, putU32At(12, 33))
			},
			want: outcome{open: "hash table of 33 bits"},
		},
		{
			name:   "truncated table",
			damage: func(t *testing.T, p string) { os.Truncate(p, idsHeaderSize+6*8+32) },
			want:   outcome{open: "truncated or torn"},
		},
		{
			name: "newer format",
			damage: func(t *testing.T, p string) {
				editIDs(t, p, putU32At(8, idsFormatVersion+1))
			},
			want: outcome{open: "id table format version 3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeIDsT(t, ids, idsFormatVersion)
			tt.damage(t, p)
			tb, err := openIDTable(p, true)
			if err == nil {
				tb.close()
			}
			if tt.want.open == "" && err != nil || tt.want.open != "" && (err == nil || !strings.Contains(err.Error(), tt.want.open)) {
				t.Errorf("openIDTable(verify) = %v, want error containing %q", err, tt.want.open)
			}
			if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrFormat) {
				t.Errorf("openIDTable(verify) = %v, wraps neither ErrCorrupt nor ErrFormat", err)
			}
			if tt.lookupID == "" {
				return
			}
			tb = openIDsT(t, p, false)
			i, ok, err := tb.index(tt.lookupID)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.want.lookup) {
				t.Errorf("index(%q) = %d, %v, %v, want ErrCorrupt containing %q", tt.lookupID, i, ok, err, tt.want.lookup)
			}
			if err := tb.checkIndex(); !errors.Is(err, ErrCorrupt) {
				t.Errorf("checkIndex() = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestIDTableWrongSlotsNeverMisreport(t *testing.T) {
	ids := []string{"apple", "banana", "cherry", "damson", "elder"}
	tests := []struct {
		name  string
		edit  func(t *testing.T, p string) func([]byte)
		probe string // an id that is absent
		check string // checkIndex error text
	}{
		{
			// apple's slot names elder, so apple is nowhere in the table.
			name: "slot of one id holds another",
			edit: func(t *testing.T, p string) func([]byte) {
				return putU32At(slotOffset(t, p, "apple"), 5)
			},
			probe: "fig",
			check: "hash table maps id",
		},
		{
			name: "every slot full",
			edit: func(t *testing.T, p string) func([]byte) {
				return func(d []byte) {
					for s := len(d) - 4*16; s < len(d); s += 4 {
						binary.LittleEndian.PutUint32(d[s:], 1)
					}
				}
			},
			probe: "fig",
			check: "hash table holds 16 entries for 5 ids",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeIDsT(t, ids, idsFormatVersion)
			editIDs(t, p, tt.edit(t, p))
			tb := openIDsT(t, p, true)
			for want, id := range append(ids, tt.probe) {
				got, ok, err := tb.index(id)
				if err == nil && ok && got != want {
					t.Errorf("index(%q) = %d, want %d or a miss or an error", id, got, want)
				}
				if err != nil && !errors.Is(err, ErrCorrupt) {
					t.Errorf("index(%q) error %v, want ErrCorrupt", id, err)
				}
			}
			if err := tb.checkIndex(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.check) {
				t.Errorf("checkIndex() = %v, want ErrCorrupt containing %q", err, tt.check)
			}
		})
	}
}

func TestSnapshotIndexMatchesBadger(t *testing.T) {
	d := newTestDir(t)
	f := newFixture(21, 300, 200, 2)
	s := openT(t, d, buildVersion(t, d, f).Version, OpenOptions{})
	if !s.itemIDs.hashed() || !s.userIDs.hashed() {
		t.Fatalf("item table hashed %v, user table hashed %v, want both", s.itemIDs.hashed(), s.userIDs.hashed())
	}
	probe := func(what string, prefix string, n int, ids []string, lookup func(string) (int32, bool, error)) {
		absent := []string{"", "nope", ids[0] + "x", ids[0][:len(ids[0])-1]}
		for i, id := range append(ids, absent...) {
			got, ok, err := lookup(id)
			bGot, bOK, bErr := s.index(nil, "", prefix, id, n)
			if err != nil || bErr != nil || got != bGot || ok != bOK {
				t.Errorf("%sIndex(%q) = %d, %v, %v; Badger says %d, %v, %v", what, id, got, ok, err, bGot, bOK, bErr)
			}
			if ok != (i < len(ids)) || ok && got != int32(i) {
				t.Errorf("%sIndex(%q) = %d, %v, want %d, %v", what, id, got, ok, i, i < len(ids))
			}
		}
	}
	probe("Item", prefItemIdx, s.nItems, f.items, s.ItemIndex)
	probe("User", prefUserIdx, s.nUsers, f.users, s.UserIndex)
}

// buildWith builds f like buildVersion, but lets before change the builder
// and staged files before Commit.
func buildWith(t *testing.T, d *Dir, f fixture, before, after func(b *Builder)) string {
	t.Helper()
	ctx := context.Background()
	b, err := d.NewBuilder(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Abort()
	before(b)
	if err := f.write(b); err != nil {
		t.Fatal(err)
	}
	after(b)
	m, err := b.Commit(ctx, f.manifest)
	if err != nil {
		t.Fatal(err)
	}
	return m.Version
}

func TestSnapshotWithoutHashTables(t *testing.T) {
	// A version as builds before id table format 2 wrote it: items.ids of
	// version 1 and no users.ids. Lookups fall back to Badger.
	d := newTestDir(t)
	f := newFixture(22, 40, 30, 2)
	v := buildWith(t, d, f, func(b *Builder) { b.idsFormat = 1 }, func(*Builder) {})
	if _, err := os.Stat(filepath.Join(d.versionPath(v), usersIDsFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stat users.ids = %v, want not exist", err)
	}
	if err := d.Verify(context.Background(), v); err != nil {
		t.Fatalf("Verify = %v", err)
	}
	s := openT(t, d, v, OpenOptions{VerifyChecksums: true})
	if s.itemIDs.hashed() || s.userIDs != nil {
		t.Fatalf("item table hashed %v, user table %v, want neither", s.itemIDs.hashed(), s.userIDs)
	}
	for i, id := range f.items {
		if got, ok, err := s.ItemIndex(id); err != nil || !ok || got != int32(i) {
			t.Errorf("ItemIndex(%q) = %d, %v, %v, want %d", id, got, ok, err, i)
		}
	}
	for i, id := range f.users {
		if got, ok, err := s.UserIndex(id); err != nil || !ok || got != int32(i) {
			t.Errorf("UserIndex(%q) = %d, %v, %v, want %d", id, got, ok, err, i)
		}
	}
	if _, ok, err := s.UserIndex("nobody"); ok || err != nil {
		t.Errorf("UserIndex(nobody) = %v, %v, want not found", ok, err)
	}
}

func TestVerifyDetectsWrongHashTable(t *testing.T) {
	for _, name := range []string{itemsIDsFile, usersIDsFile} {
		t.Run(name, func(t *testing.T) {
			d := newTestDir(t)
			f := newFixture(23, 20, 20, 2)
			ids := f.items
			if name == usersIDsFile {
				ids = f.users
			}
			// Point the slot of id 2 at id 7 in the staged table, with
			// consistent checksums, so only the hash check can tell.
			v := buildWith(t, d, f, func(*Builder) {}, func(b *Builder) {
				p := filepath.Join(b.staging, name)
				editIDs(t, p, putU32At(slotOffset(t, p, ids[2]), 7+1))
			})
			err := d.Verify(context.Background(), v)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), name+": corrupt snapshot: hash table maps id") {
				t.Errorf("Verify = %v, want ErrCorrupt about the hash table of %s", err, name)
			}
			// Serving never returns another id's index.
			s := openT(t, d, v, OpenOptions{VerifyChecksums: true})
			lookup := s.ItemIndex
			if name == usersIDsFile {
				lookup = s.UserIndex
			}
			for i, id := range ids {
				if got, ok, err := lookup(id); ok && got != int32(i) || err != nil && !errors.Is(err, ErrCorrupt) {
					t.Errorf("index of %q = %d, %v, %v, want %d, a miss or ErrCorrupt", id, got, ok, err, i)
				}
			}
		})
	}
}

func TestSnapshotLookupOfCorruptSlot(t *testing.T) {
	// Without checksum verification a bad slot surfaces on lookup as an
	// ErrCorrupt naming the file.
	d := newTestDir(t)
	f := newFixture(24, 10, 10, 2)
	v := buildVersion(t, d, f).Version
	p := filepath.Join(d.versionPath(v), usersIDsFile)
	off := slotOffset(t, p, f.users[4])
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint32(data[off:], 1000)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s := openT(t, d, v, OpenOptions{})
	_, ok, err := s.UserIndex(f.users[4])
	if want := "users.ids: corrupt snapshot: hash slot"; ok || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), want) {
		t.Errorf("UserIndex(%q) = %v, %v, want ErrCorrupt containing %q", f.users[4], ok, err, want)
	}
	if _, err := d.Open(v, OpenOptions{VerifyChecksums: true}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Open(VerifyChecksums) = %v, want ErrCorrupt", err)
	}
}

func FuzzIDTable(f *testing.F) {
	dir := f.TempDir()
	for i, ids := range [][]string{nil, {"x"}, {"a", "aa", "日本", "\x00"}} {
		for _, v := range []uint32{1, 2} {
			p := filepath.Join(dir, fmt.Sprintf("seed%d-%d", i, v))
			if err := writeIDsFileVersion(p, ids, v); err != nil {
				f.Fatal(err)
			}
			data, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data, "aa")
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, probe string) {
		p := filepath.Join(t.TempDir(), "f.ids")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		tb, err := openIDTable(p, false)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrFormat) {
				t.Fatalf("openIDTable error %v wraps neither ErrCorrupt nor ErrFormat", err)
			}
			return
		}
		defer tb.close()
		check := func(what string, err error) {
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s: error %v, want ErrCorrupt", what, err)
			}
		}
		for i := range min(tb.count, 64) {
			id, err := tb.id(i)
			check("id", err)
			if err != nil || !tb.hashed() {
				continue
			}
			j, ok, err := tb.index(id)
			check("index", err)
			if ok {
				if got, _ := tb.id(j); got != id {
					t.Fatalf("index(%q) = %d, whose id is %q", id, j, got)
				}
			}
		}
		if tb.hashed() {
			j, ok, err := tb.index(probe)
			check("index", err)
			if ok {
				if got, _ := tb.id(j); got != probe {
					t.Fatalf("index(%q) = %d, whose id is %q", probe, j, got)
				}
			}
			if tb.count <= 1<<12 {
				check("checkIndex", tb.checkIndex())
			}
		}
	})
}
