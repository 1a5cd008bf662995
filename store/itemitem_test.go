package store

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestItemItemRowsRoundTrip writes the rows of a sparse item-item model,
// negative, zero and replaced ones included, and reads them back from the
// mapped itemitem.csr, with and without checksum verification.
func TestItemItemRowsRoundTrip(t *testing.T) {
	const nItems = 12
	f := newFixture(11, nItems, 5, 3)
	want := map[int32][]Neighbor{
		0:  {{Item: 0, Score: 0.5}, {Item: 3, Score: -1.25}, {Item: 11, Score: 2}},
		4:  {{Item: 1, Score: 0}, {Item: 2, Score: -math.MaxFloat32}},
		11: {{Item: 10, Score: 1e-30}},
	}
	d := newTestDir(t)
	m := buildServingVersion(t, d, f, func(b *Builder) error {
		// Replaced below, and an empty row put: the last put wins.
		if err := b.PutItemItemRow(4, []Neighbor{{Item: 7, Score: 3}}); err != nil {
			return err
		}
		if err := b.PutItemItemRow(7, nil); err != nil {
			return err
		}
		for i, row := range want {
			if err := b.PutItemItemRow(i, row); err != nil {
				return err
			}
		}
		return nil
	})
	if err := d.Verify(context.Background(), m.Version); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if _, ok := m.File(ItemItemRowsFile); !ok {
		t.Errorf("manifest does not list %s", ItemItemRowsFile)
	}
	for _, verify := range []bool{false, true} {
		s := openT(t, d, m.Version, OpenOptions{VerifyChecksums: verify})
		if !s.HasItemItemRows() {
			t.Fatalf("verify=%v: HasItemItemRows() = false", verify)
		}
		for i := range int32(nItems) {
			got, err := s.ItemItemRow(i)
			if err != nil {
				t.Fatalf("verify=%v: ItemItemRow(%d): %v", verify, i, err)
			}
			if diff := cmp.Diff(want[i], got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("verify=%v: ItemItemRow(%d) (-want +got):\n%s", verify, i, diff)
			}
			if cap(got) != len(got) {
				t.Errorf("verify=%v: ItemItemRow(%d) has capacity %d past its %d entries: an append would write into the mapping", verify, i, cap(got), len(got))
			}
		}
		for _, i := range []int32{-1, nItems} {
			if got, err := s.ItemItemRow(i); !errors.Is(err, ErrNotFound) || got != nil {
				t.Errorf("verify=%v: ItemItemRow(%d) = %v, %v, want ErrNotFound", verify, i, got, err)
			}
		}
	}
}

// TestItemItemRowDoesNotAllocate: the serving read is the mapped row.
func TestItemItemRowDoesNotAllocate(t *testing.T) {
	f := newFixture(12, 8, 3, 2)
	d := newTestDir(t)
	m := buildServingVersion(t, d, f, func(b *Builder) error {
		return b.PutItemItemRow(2, []Neighbor{{Item: 1, Score: -1}, {Item: 5, Score: 1}})
	})
	s := openT(t, d, m.Version, OpenOptions{})
	var row []Neighbor
	if n := testing.AllocsPerRun(100, func() { row, _ = s.ItemItemRow(2) }); n != 0 || len(row) != 2 {
		t.Errorf("ItemItemRow allocates %v times, returned %v", n, row)
	}
}

// TestSnapshotWithoutItemItemRows: a version without itemitem.csr opens,
// verifies and has empty rows.
func TestSnapshotWithoutItemItemRows(t *testing.T) {
	d := newTestDir(t)
	m := buildServingVersion(t, d, newFixture(13, 10, 4, 3), nil)
	if err := d.Verify(context.Background(), m.Version); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	s := openT(t, d, m.Version, DefaultOpenOptions())
	if s.HasItemItemRows() {
		t.Error("HasItemItemRows() = true without itemitem.csr")
	}
	if got, err := s.ItemItemRow(3); err != nil || len(got) != 0 {
		t.Errorf("ItemItemRow(3) = %v, %v, want empty", got, err)
	}
	if _, err := s.ItemItemRow(10); !errors.Is(err, ErrNotFound) {
		t.Errorf("ItemItemRow(10) = %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(filepath.Join(d.versionPath(m.Version), ItemItemRowsFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat %s = %v, want it absent", ItemItemRowsFile, err)
	}
}

func TestPutItemItemRowErrors(t *testing.T) {
	f := newFixture(14, 10, 4, 3)
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, tc := range []struct {
		name string
		call func(b *Builder) error
		want string
	}{
		{"row out of range", func(b *Builder) error { return b.PutItemItemRow(10, nil) }, "item index out of range [0, 10)"},
		{"negative row", func(b *Builder) error { return b.PutItemItemRow(-1, nil) }, "item index out of range"},
		{"item out of range", func(b *Builder) error { return b.PutItemItemRow(1, []Neighbor{{Item: 10, Score: 1}}) }, "item 10 out of range [0, 10)"},
		{"negative item", func(b *Builder) error { return b.PutItemItemRow(1, []Neighbor{{Item: -2, Score: 1}}) }, "item -2 out of range"},
		{"not ascending", func(b *Builder) error {
			return b.PutItemItemRow(1, []Neighbor{{Item: 4, Score: 1}, {Item: 3, Score: 1}})
		}, "not ascending at entry 1: 3 after 4"},
		{"item twice", func(b *Builder) error {
			return b.PutItemItemRow(1, []Neighbor{{Item: 4, Score: 1}, {Item: 4, Score: 2}})
		}, "not ascending"},
		{"NaN weight", func(b *Builder) error { return b.PutItemItemRow(1, []Neighbor{{Item: 2, Score: nan}}) }, "weight NaN for item 2"},
		{"infinite weight", func(b *Builder) error { return b.PutItemItemRow(1, []Neighbor{{Item: 2, Score: -inf}}) }, "weight -Inf"},
		{"AddFile of itemitem.csr", func(b *Builder) error { return b.AddFile(ItemItemRowsFile, nil) }, "invalid auxiliary file name"},
		{"SetMatrix of itemitem.csr", func(b *Builder) error { return b.SetMatrix(ItemItemRowsFile, 1, 1, []float32{1}) }, "invalid auxiliary file name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDir(t)
			b, err := d.NewBuilder(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer b.Abort()
			if err := f.write(b); err != nil {
				t.Fatal(err)
			}
			if err := tc.call(b); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	t.Run("before SetItems", func(t *testing.T) {
		d := newTestDir(t)
		b, err := d.NewBuilder(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer b.Abort()
		if err := b.PutItemItemRow(0, nil); err == nil || !strings.Contains(err.Error(), "items must be set first") {
			t.Errorf("PutItemItemRow before SetItems = %v, want an error about the items", err)
		}
	})
}

// TestItemItemRowsCorrupt damages itemitem.csr in a committed version.
// A flipped byte fails Verify and a verified Open; a damaged structure
// behind valid list checksums (items out of range, out of order, a
// non-finite weight, bad offsets) fails every Open, since Open checks
// the file whole.
func TestItemItemRowsCorrupt(t *testing.T) {
	const nItems = 6
	// Row 1 is {(2, 0.5), (4, -1)}, row 3 is {(0, 2)}: the offsets are at
	// 64 + 8i, the entries at 64 + 8·7, 8 bytes each (item, weight).
	const offAt, entAt = csrHeaderSize, csrHeaderSize + 8*(nItems+1)
	tests := []struct {
		name     string
		damage   func(t *testing.T, p string)
		verified bool // only Verify and a verified Open notice
		want     string
	}{
		{"flipped weight", func(t *testing.T, p string) { flipByte(t, p, entAt+4) }, true, ItemItemRowsFile},
		{"flipped item", func(t *testing.T, p string) { flipByte(t, p, entAt+1) }, false, "row of item 1: item 16386 out of range [0, 6)"},
		{"item out of range", func(t *testing.T, p string) { editCSR(t, p, putU32At(entAt+8, nItems)) }, false, "row of item 1: item 6 out of range [0, 6)"},
		{"negative item", func(t *testing.T, p string) { editCSR(t, p, putU32At(entAt+16, math.MaxUint32)) }, false, "row of item 3: item -1 out of range"},
		{"not ascending", func(t *testing.T, p string) { editCSR(t, p, putU32At(entAt+8, 2)) }, false, "row of item 1: items not ascending"},
		{"NaN weight", func(t *testing.T, p string) { editCSR(t, p, putU32At(entAt+12, 0x7fc00000)) }, false, "row of item 1: weight NaN"},
		{"infinite weight", func(t *testing.T, p string) { editCSR(t, p, putU32At(entAt+20, 0xff800000)) }, false, "row of item 3: weight -Inf"},
		{"offsets reversed", func(t *testing.T, p string) { editCSR(t, p, putU64At(offAt+24, 1)) }, false, "offsets [2, 1) invalid for index 2"},
		{"first offset", func(t *testing.T, p string) { editCSR(t, p, putU64At(offAt, 1)) }, false, "first row starts at entry 1"},
		{"last offset", func(t *testing.T, p string) { editCSR(t, p, putU64At(offAt+8*nItems, 2)) }, false, "rows end at entry 2 of 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDir(t)
			m := buildServingVersion(t, d, newFixture(15, nItems, 3, 2), func(b *Builder) error {
				if err := b.PutItemItemRow(1, []Neighbor{{Item: 2, Score: 0.5}, {Item: 4, Score: -1}}); err != nil {
					return err
				}
				return b.PutItemItemRow(3, []Neighbor{{Item: 0, Score: 2}})
			})
			tt.damage(t, filepath.Join(d.versionPath(m.Version), ItemItemRowsFile))
			if err := d.Verify(context.Background(), m.Version); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Verify = %v, want ErrCorrupt", err)
			}
			if s, err := d.Open(m.Version, OpenOptions{VerifyChecksums: true}); !errors.Is(err, ErrCorrupt) {
				if err == nil {
					s.Close()
				}
				t.Errorf("verified Open = %v, want ErrCorrupt", err)
			}
			s, err := d.Open(m.Version, OpenOptions{})
			if tt.verified {
				if err != nil {
					t.Fatalf("Open without checksums = %v, want it to open", err)
				}
				s.Close()
				return
			}
			if err == nil {
				s.Close()
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), ItemItemRowsFile) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open = %v, want ErrCorrupt about %s containing %q", err, ItemItemRowsFile, tt.want)
			}
		})
	}
}

// FuzzItemItemRows: whatever openItemItemRows accepts serves rows that
// are in range, strictly ascending and finite.
func FuzzItemItemRows(f *testing.F) {
	dir := f.TempDir()
	for _, c := range []struct {
		count int
		lists map[int][]byte
	}{
		{0, nil},
		{3, map[int][]byte{0: le32s(1, math.Float32bits(-0.5), 2, math.Float32bits(1)), 2: le32s(0, math.Float32bits(3))}},
	} {
		data, err := os.ReadFile(writeCSRT(f, dir, csrKindNeighbors, c.count, c.lists))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, n := range []int{0, 3} {
			for _, verify := range []bool{false, true} {
				c, err := openItemItemRows(aligned(data), n, verify)
				if err != nil {
					if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrFormat) {
						t.Fatalf("openItemItemRows error %v wraps neither ErrCorrupt nor ErrFormat", err)
					}
					continue
				}
				for i := range c.count {
					lo, hi, err := c.span(i, len(c.nbrs))
					if err != nil {
						t.Fatalf("row %d of an accepted file: %v", i, err)
					}
					if err := checkItemItemRow(c.nbrs[lo:hi], n); err != nil {
						t.Fatalf("row %d of an accepted file: %v", i, err)
					}
				}
			}
		}
	})
}
