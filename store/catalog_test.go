package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
)

// testCatalogAttrs are the attribute columns of genCatalog.
var testCatalogAttrs = []string{"brand", "price", "in_stock", "colour", "empty"}

// genCatalog returns seeded catalogue rows for nItems items: about one item
// in ten has no row, one in twenty a row without a category; categories
// are one to three levels deep, some named with spaces and stray slashes;
// prices are numeric with some missing; in_stock mixes true/false/0/no.
func genCatalog(seed uint64, nItems int) []CatalogRow {
	r := rand.New(rand.NewPCG(seed, 7))
	tops := []string{"shoes", "books", "home", "toys"}
	subs := []string{"running", "trail", "kids", "sale"}
	var rows []CatalogRow
	for i := range nItems {
		if r.IntN(10) == 0 {
			continue
		}
		row := CatalogRow{Row: int32(i), Attrs: map[string]string{}}
		switch r.IntN(20) {
		case 0:
		case 1:
			row.Category = " " + tops[r.IntN(len(tops))] + " / " + subs[r.IntN(len(subs))] + "/"
		default:
			row.Category = tops[r.IntN(len(tops))]
			for range r.IntN(3) {
				row.Category += "/" + subs[r.IntN(len(subs))]
			}
		}
		row.Attrs["brand"] = fmt.Sprintf("brand-%d", r.IntN(12))
		if r.IntN(8) != 0 {
			row.Attrs["price"] = strconv.FormatFloat(float64(r.IntN(4000))/100, 'f', 2, 64)
		}
		row.Attrs["in_stock"] = []string{"true", "true", "true", "false", "FALSE", "0", "no", "yes", ""}[r.IntN(9)]
		if r.IntN(3) == 0 {
			row.Attrs["colour"] = []string{"red", "blue", "12", "green"}[r.IntN(4)]
		}
		rows = append(rows, row)
	}
	// Shuffled: SetCatalog takes rows in any order.
	r.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	return rows
}

// buildServingVersion builds a version of f plus whatever extra writes.
func buildServingVersion(tb testing.TB, d *Dir, f fixture, extra func(b *Builder) error) Manifest {
	tb.Helper()
	ctx := context.Background()
	b, err := d.NewBuilder(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer b.Abort()
	if err := f.write(b); err != nil {
		tb.Fatal(err)
	}
	if extra != nil {
		if err := extra(b); err != nil {
			tb.Fatal(err)
		}
	}
	m, err := b.Commit(ctx, f.manifest)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// catalogRef is the brute-force reading of genCatalog's rows.
type catalogRef struct {
	cat   []string            // row -> normalised category
	attrs []map[string]string // row -> trimmed non-empty values
}

func newCatalogRef(nItems int, rows []CatalogRow) catalogRef {
	ref := catalogRef{cat: make([]string, nItems), attrs: make([]map[string]string, nItems)}
	for _, r := range rows {
		ref.cat[r.Row] = NormalizeCategory(r.Category)
		ref.attrs[r.Row] = map[string]string{}
		for k, v := range r.Attrs {
			if v = strings.TrimSpace(v); v != "" {
				ref.attrs[r.Row][k] = v
			}
		}
	}
	return ref
}

func TestCatalogAgainstBruteForce(t *testing.T) {
	const nItems = 400
	d := newTestDir(t)
	f := newFixture(3, nItems, 20, 4)
	rows := genCatalog(5, nItems)
	m := buildServingVersion(t, d, f, func(b *Builder) error { return b.SetCatalog(testCatalogAttrs, rows) })
	s := openT(t, d, m.Version, DefaultOpenOptions())
	c, ok := s.Catalog()
	if !ok {
		t.Fatal("Catalog() = false, want the stored catalogue")
	}
	ref := newCatalogRef(nItems, rows)
	if c.NumItems() != nItems {
		t.Fatalf("NumItems() = %d, want %d", c.NumItems(), nItems)
	}

	// Categories: every prefix of every category, each with the rows in it
	// or below it.
	wantCats := map[string][]int32{}
	for row, name := range ref.cat {
		for p := name; p != ""; {
			wantCats[p] = append(wantCats[p], int32(row))
			j := strings.LastIndexByte(p, '/')
			if j < 0 {
				break
			}
			p = p[:j]
		}
	}
	if c.NumCategories() != len(wantCats) {
		t.Errorf("NumCategories() = %d, want %d", c.NumCategories(), len(wantCats))
	}
	for name, want := range wantCats {
		ci, ok := c.CategoryIndex(name)
		if !ok {
			t.Errorf("CategoryIndex(%q) not found", name)
			continue
		}
		if got := c.CategoryName(ci); got != name {
			t.Errorf("CategoryName(%d) = %q, want %q", ci, got, name)
		}
		if diff := cmp.Diff(want, c.CategoryRows(ci)); diff != "" {
			t.Errorf("CategoryRows(%q) (-want +got):\n%s", name, diff)
		}
		wantParent := int32(-1)
		if j := strings.LastIndexByte(name, '/'); j >= 0 {
			wantParent, _ = c.CategoryIndex(name[:j])
		}
		if got := c.Parent(ci); got != wantParent {
			t.Errorf("Parent(%q) = %d, want %d", name, got, wantParent)
		}
	}
	for row, name := range ref.cat {
		want := int32(-1)
		if name != "" {
			want, _ = c.CategoryIndex(name)
		}
		if got := c.ItemCategory(int32(row)); got != want {
			t.Errorf("ItemCategory(%d) = %d, want %d (%q)", row, got, want, name)
		}
	}
	for _, name := range []string{"", "shoe", "shoes/", "Shoes", "nope/running"} {
		if ci, ok := c.CategoryIndex(name); ok {
			t.Errorf("CategoryIndex(%q) = %d, want not found", name, ci)
		}
	}

	if diff := cmp.Diff(testCatalogAttrs, c.AttributeNames()); diff != "" {
		t.Errorf("AttributeNames() (-want +got):\n%s", diff)
	}
	r := rand.New(rand.NewPCG(9, 9))
	for _, name := range testCatalogAttrs {
		a, ok := c.Attribute(name)
		if !ok {
			t.Fatalf("Attribute(%q) not found", name)
		}
		byValue := map[string][]int32{}
		numeric := false
		for row := range nItems {
			want, has := ref.attrs[row][name]
			got, gotHas := a.Value(int32(row))
			if got != want || gotHas != has {
				t.Errorf("%s.Value(%d) = %q, %v, want %q, %v", name, row, got, gotHas, want, has)
			}
			if has {
				byValue[want] = append(byValue[want], int32(row))
				numeric = true
			}
		}
		for _, rows := range byValue {
			if _, err := strconv.ParseFloat(ref.attrs[rows[0]][name], 64); err != nil {
				numeric = false
			}
		}
		if a.NumValues() != len(byValue) {
			t.Errorf("%s.NumValues() = %d, want %d", name, a.NumValues(), len(byValue))
		}
		for v, want := range byValue {
			code, ok := a.ValueCode(v)
			if !ok || a.CodeValue(code) != v {
				t.Errorf("%s.ValueCode(%q) = %d, %v; CodeValue gives %q", name, v, code, ok, a.CodeValue(code))
				continue
			}
			if diff := cmp.Diff(want, a.ValueRows(code)); diff != "" {
				t.Errorf("%s.ValueRows(%q) (-want +got):\n%s", name, v, diff)
			}
			for _, row := range want {
				if a.Code(row) != code {
					t.Errorf("%s.Code(%d) = %d, want %d", name, row, a.Code(row), code)
				}
			}
		}
		if _, ok := a.ValueCode("no such value"); ok {
			t.Errorf("%s.ValueCode of an absent value found", name)
		}
		if a.Numeric() != numeric {
			t.Fatalf("%s.Numeric() = %v, want %v", name, a.Numeric(), numeric)
		}
		if !numeric {
			if got := a.RowsInRange(math.Inf(-1), math.Inf(1)); got != nil {
				t.Errorf("%s.RowsInRange of a text attribute = %v, want nil", name, got)
			}
			continue
		}
		ranges := [][2]float64{{math.Inf(-1), math.Inf(1)}, {10, 10}, {0, 0}, {40, math.Inf(1)}, {5, 4}, {math.NaN(), 3}}
		for range 30 {
			lo := float64(r.IntN(4200))/100 - 1
			ranges = append(ranges, [2]float64{lo, lo + float64(r.IntN(1500))/100})
		}
		for _, rg := range ranges {
			var want []int32
			for row := range nItems {
				if v, ok := ref.attrs[row][name]; ok {
					x, _ := strconv.ParseFloat(v, 64)
					if x >= rg[0] && x <= rg[1] {
						want = append(want, int32(row))
					}
				}
			}
			got := a.RowsInRange(rg[0], rg[1])
			for i := 1; i < len(got); i++ {
				p, _ := a.Number(got[i-1])
				q, _ := a.Number(got[i])
				if p > q || p == q && got[i-1] > got[i] {
					t.Errorf("%s.RowsInRange(%v, %v) not in value order at %d", name, rg[0], rg[1], i)
				}
			}
			if diff := cmp.Diff(want, a.AppendRowsInRange(nil, rg[0], rg[1])); diff != "" {
				t.Errorf("%s.RowsInRange(%v, %v) (-want +got):\n%s", name, rg[0], rg[1], diff)
			}
		}
	}

	var wantUnavail []int32
	for row := range nItems {
		switch strings.ToLower(ref.attrs[row]["in_stock"]) {
		case "false", "0", "no":
			wantUnavail = append(wantUnavail, int32(row))
		}
	}
	if len(wantUnavail) == 0 {
		t.Fatal("generated catalogue has no unavailable item")
	}
	if diff := cmp.Diff(wantUnavail, c.Unavailable()); diff != "" {
		t.Errorf("Unavailable() (-want +got):\n%s", diff)
	}
	if err := d.Verify(context.Background(), m.Version); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

func TestCatalogHierarchy(t *testing.T) {
	rows := []CatalogRow{
		{Row: 0, Category: "shoes"},
		{Row: 1, Category: "shoes/running"},
		{Row: 2, Category: "shoes/running/trail"},
		{Row: 3, Category: "shoes-care"},
		{Row: 5, Category: "books"},
		{Row: 6, Category: "shoes/kids"},
	}
	data, err := encodeCatalog(8, nil, rows)
	if err != nil {
		t.Fatal(err)
	}
	c, err := newCatalog(aligned(data), 8, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cat  string
		want []int32
	}{
		{"shoes", []int32{0, 1, 2, 6}},
		{"shoes/running", []int32{1, 2}},
		{"shoes/running/trail", []int32{2}},
		{"shoes/kids", []int32{6}},
		{"shoes-care", []int32{3}},
		{"books", []int32{5}},
	} {
		ci, ok := c.CategoryIndex(tc.cat)
		if !ok {
			t.Fatalf("CategoryIndex(%q) not found", tc.cat)
		}
		if diff := cmp.Diff(tc.want, c.CategoryRows(ci)); diff != "" {
			t.Errorf("CategoryRows(%q) (-want +got):\n%s", tc.cat, diff)
		}
	}
	for _, row := range []int32{4, 7, -1, 8} {
		if got := c.ItemCategory(row); got != -1 {
			t.Errorf("ItemCategory(%d) = %d, want -1", row, got)
		}
	}
}

func TestSetCatalogErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		attrs []string
		rows  []CatalogRow
		want  string
	}{
		{"row out of range", nil, []CatalogRow{{Row: 10}}, "out of range"},
		{"negative row", nil, []CatalogRow{{Row: -1}}, "out of range"},
		{"two rows", nil, []CatalogRow{{Row: 1}, {Row: 1}}, "two catalogue rows"},
		{"unknown attribute", []string{"brand"}, []CatalogRow{{Row: 1, Attrs: map[string]string{"colour": "red"}}}, "not among"},
		{"attribute twice", []string{"brand", "brand"}, nil, "named twice"},
		{"attribute without name", []string{""}, nil, "no name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDir(t)
			b, err := d.NewBuilder(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer b.Abort()
			if err := b.SetItems([]string{"a", "b", "c"}); err != nil {
				t.Fatal(err)
			}
			err = b.SetCatalog(tc.attrs, tc.rows)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("SetCatalog = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// aligned returns a copy of data starting at an 8-byte boundary.
func aligned(data []byte) []byte {
	buf := make([]uint64, (len(data)+7)/8)
	out := unsafeBytes(buf)[:len(data)]
	copy(out, data)
	return out
}

// reseal recomputes a catalogue file's checksums after a test changed it.
func reseal(data []byte) {
	binary.LittleEndian.PutUint32(data[32:36], crc32.Checksum(data[catalogHeaderSize:], castagnoli))
	binary.LittleEndian.PutUint32(data[36:40], crc32.Checksum(data[0:36], castagnoli))
}

// catalogArray returns the bytes of array i of a catalogue file.
func catalogArray(data []byte, i int) []byte {
	off := binary.LittleEndian.Uint64(data[catalogHeaderSize+16*i:])
	n := binary.LittleEndian.Uint64(data[catalogHeaderSize+16*i+8:])
	return data[off : off+n]
}

// TestCatalogCorruptStructure changes the structure behind valid
// checksums: newCatalog must refuse every change.
func TestCatalogCorruptStructure(t *testing.T) {
	const nItems = 60
	good, err := encodeCatalog(nItems, testCatalogAttrs, genCatalog(2, nItems))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newCatalog(aligned(good), nItems, true); err != nil {
		t.Fatalf("newCatalog(valid) = %v", err)
	}
	price := catalogFixedArrays + catalogAttrArrays*1 // first array of "price"
	for _, tc := range []struct {
		name   string
		change func(b []byte)
		nItems int
	}{
		{"item count", func(b []byte) {}, nItems + 1},
		{"future version", func(b []byte) { b[8] = catalogFormatVersion + 1 }, nItems},
		{"item category out of range", func(b []byte) { binary.LittleEndian.PutUint32(catalogArray(b, 3), 9999) }, nItems},
		{"item moved to another category", func(b []byte) {
			a := catalogArray(b, 3)
			for i := 0; i < len(a); i += 4 {
				if v := int32(binary.LittleEndian.Uint32(a[i:])); v >= 0 {
					binary.LittleEndian.PutUint32(a[i:], uint32(v+1)%3)
					break
				}
			}
		}, nItems},
		{"category parent", func(b []byte) { binary.LittleEndian.PutUint32(catalogArray(b, 2), 5) }, nItems},
		{"category rows unsorted", func(b []byte) {
			a := catalogArray(b, 5)
			copy(a[0:4], a[4:8])
		}, nItems},
		{"category names unsorted", func(b []byte) {
			a := catalogArray(b, 1)
			a[0], a[1] = 'z', 'z'
		}, nItems},
		{"unavailable row out of range", func(b []byte) {
			binary.LittleEndian.PutUint32(catalogArray(b, 8), nItems)
		}, nItems},
		{"attribute code out of range", func(b []byte) {
			binary.LittleEndian.PutUint32(catalogArray(b, catalogFixedArrays+2), 1<<20)
		}, nItems},
		{"price number changed", func(b []byte) {
			a := catalogArray(b, price+6)
			for i := 0; i < len(a); i += 8 {
				if v := math.Float64frombits(binary.LittleEndian.Uint64(a[i:])); !math.IsNaN(v) {
					binary.LittleEndian.PutUint64(a[i:], math.Float64bits(v+1))
					break
				}
			}
		}, nItems},
		{"array past the end", func(b []byte) {
			binary.LittleEndian.PutUint64(b[catalogHeaderSize+16*4+8:], 1<<40)
		}, nItems},
		{"array count", func(b []byte) { b[12]++ }, nItems},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := aligned(good)
			tc.change(data)
			reseal(data)
			_, err := newCatalog(data, tc.nItems, true)
			if err == nil {
				t.Fatal("newCatalog = nil error, want one")
			}
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrFormat) {
				t.Errorf("newCatalog = %v, want ErrCorrupt or ErrFormat", err)
			}
			t.Log(err)
		})
	}
}

func TestCorruptServingInputsFailVerify(t *testing.T) {
	f := newFixture(4, 50, 10, 4)
	for _, tc := range []struct {
		file  string
		extra func(b *Builder) error
	}{
		{CatalogFile, func(b *Builder) error { return b.SetCatalog(testCatalogAttrs, genCatalog(1, 50)) }},
		{FoldInFile, func(b *Builder) error {
			return b.SetFoldIn(FoldIn{Dims: 4, Alpha: 4, Lambda: 10, ViewWeight: 1, YtY: ItemGram(4, f.itemFactors)})
		}},
		{"scores." + ScoresTrending, func(b *Builder) error { return b.SetItemScores(ScoresTrending, f.popularity) }},
		{BasketNeighborsFile, func(b *Builder) error { return b.PutBasketNeighbors(3, []Neighbor{{Item: 4, Score: 1}}) }},
	} {
		t.Run(tc.file, func(t *testing.T) {
			d := newTestDir(t)
			m := buildServingVersion(t, d, f, tc.extra)
			ctx := context.Background()
			if err := d.Verify(ctx, m.Version); err != nil {
				t.Fatalf("Verify before corruption: %v", err)
			}
			p := filepath.Join(d.versionPath(m.Version), tc.file)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			data[len(data)-1] ^= 0x40
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := d.Verify(ctx, m.Version); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Verify after corrupting %s = %v, want ErrCorrupt", tc.file, err)
			}
			if s, err := d.Open(m.Version, OpenOptions{VerifyChecksums: true}); err == nil {
				s.Close()
				t.Errorf("Open with checksums after corrupting %s succeeded", tc.file)
			}
		})
	}
}

func TestSnapshotWithoutServingInputs(t *testing.T) {
	d := newTestDir(t)
	m := buildVersion(t, d, newFixture(1, 30, 5, 4))
	s := openT(t, d, m.Version, DefaultOpenOptions())
	if c, ok := s.Catalog(); ok || c != nil {
		t.Errorf("Catalog() = %v, %v, want nil, false", c, ok)
	}
	if _, ok := s.FoldIn(); ok {
		t.Error("FoldIn() found parameters in a version without them")
	}
	for _, name := range []string{ScoresTrending, ScoresBestsellers} {
		if _, ok := s.ItemScores(name); ok {
			t.Errorf("ItemScores(%q) found a list in a version without one", name)
		}
	}
	if s.HasBasketNeighbors() {
		t.Error("HasBasketNeighbors() = true without basket.csr")
	}
	got, err := s.BasketNeighbors(3, make([]Neighbor, 2))
	if err != nil || len(got) != 0 {
		t.Errorf("BasketNeighbors(3) = %v, %v, want empty", got, err)
	}
	if _, err := s.BasketNeighbors(30, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("BasketNeighbors(30) = %v, want ErrNotFound", err)
	}
	if err := d.Verify(context.Background(), m.Version); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

func TestFoldInScoresBasketRoundTrip(t *testing.T) {
	const nItems, dims = 40, 5
	f := newFixture(6, nItems, 10, dims)
	fi := FoldIn{Dims: dims, Alpha: 4, Lambda: 100, RegExponent: 0.5, RegItems: nItems, RegMeanWeight: 80, ViewWeight: 1,
		YtY: ItemGram(dims, f.itemFactors)}
	trending := make([]float32, nItems)
	for i := range trending {
		trending[i] = float32(i%7) / 3
	}
	basket := map[int32][]Neighbor{2: {{Item: 5, Score: 0.9}, {Item: 1, Score: 0.2}}, 39: {{Item: 0, Score: 0.5}}}
	d := newTestDir(t)
	m := buildServingVersion(t, d, f, func(b *Builder) error {
		if err := b.SetFoldIn(fi); err != nil {
			return err
		}
		if err := b.SetItemScores(ScoresTrending, trending); err != nil {
			return err
		}
		if err := b.SetItemScores(ScoresBestsellers, make([]float32, nItems)); err != nil {
			return err
		}
		for i, n := range basket {
			if err := b.PutBasketNeighbors(i, n); err != nil {
				return err
			}
		}
		return nil
	})
	if err := d.Verify(context.Background(), m.Version); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	s := openT(t, d, m.Version, OpenOptions{VerifyChecksums: true})
	got, ok := s.FoldIn()
	if !ok {
		t.Fatal("FoldIn() = false")
	}
	if diff := cmp.Diff(fi, got); diff != "" {
		t.Errorf("FoldIn() (-want +got):\n%s", diff)
	}
	if sc, ok := s.ItemScores(ScoresTrending); !ok || !slices.Equal(sc, trending) {
		t.Errorf("ItemScores(trending) = %v, %v, want %v", sc, ok, trending)
	}
	if sc, ok := s.ItemScores(ScoresBestsellers); !ok || len(sc) != nItems {
		t.Errorf("ItemScores(bestsellers) = %v, %v", sc, ok)
	}
	if !s.HasBasketNeighbors() {
		t.Fatal("HasBasketNeighbors() = false")
	}
	for i := range int32(nItems) {
		nb, err := s.BasketNeighbors(i, nil)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(basket[i], nb, cmp.Comparer(func(a, b []Neighbor) bool { return slices.Equal(a, b) })); len(nb)+len(basket[i]) > 0 && diff != "" {
			t.Errorf("BasketNeighbors(%d) (-want +got):\n%s", i, diff)
		}
	}
}

func TestFoldInRegFor(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    FoldIn
		sum  float64
		want float64
	}{
		{"unscaled", FoldIn{Lambda: 100, Alpha: 4}, 17, 100},
		{"unscaled ignores the inputs", FoldIn{Lambda: 2.5, Alpha: 4, RegItems: 10, RegMeanWeight: 3}, 1e6, 2.5},
		{"at the mean", FoldIn{Lambda: 100, Alpha: 4, RegExponent: 1, RegItems: 100, RegMeanWeight: 140}, 10, 100},
		{"square root", FoldIn{Lambda: 10, Alpha: 1, RegExponent: 0.5, RegItems: 300, RegMeanWeight: 100}, 100, float64(float32(20))},
		{"rounded like the trainer", FoldIn{Lambda: 1, Alpha: 1, RegExponent: 1, RegItems: 0, RegMeanWeight: 3}, 1, float64(float32(1.0 / 3))},
	} {
		if got := tc.f.RegFor(tc.sum); got != tc.want {
			t.Errorf("%s: RegFor(%v) = %v, want %v", tc.name, tc.sum, got, tc.want)
		}
	}
}

func TestServingInputErrors(t *testing.T) {
	f := newFixture(8, 10, 4, 3)
	for _, tc := range []struct {
		name string
		call func(b *Builder) error
		want string
	}{
		{"fold-in dims", func(b *Builder) error {
			return b.SetFoldIn(FoldIn{Dims: 2, YtY: make([]float64, 4)})
		}, "dims"},
		{"fold-in gram size", func(b *Builder) error { return b.SetFoldIn(FoldIn{Dims: 3, YtY: make([]float64, 4)}) }, "entries"},
		{"fold-in negative lambda", func(b *Builder) error {
			return b.SetFoldIn(FoldIn{Dims: 3, Lambda: -1, YtY: make([]float64, 9)})
		}, "out of range"},
		{"scores length", func(b *Builder) error { return b.SetItemScores("trending", make([]float32, 9)) }, "9 scores"},
		{"scores name", func(b *Builder) error { return b.SetItemScores("Trending", make([]float32, 10)) }, "invalid name"},
		{"scores NaN", func(b *Builder) error {
			s := make([]float32, 10)
			s[3] = float32(math.NaN())
			return b.SetItemScores("trending", s)
		}, "score of item 3"},
		{"scores twice", func(b *Builder) error {
			if err := b.SetItemScores("trending", make([]float32, 10)); err != nil {
				return err
			}
			return b.SetItemScores("trending", make([]float32, 10))
		}, "already written"},
		{"basket neighbour out of range", func(b *Builder) error {
			return b.PutBasketNeighbors(1, []Neighbor{{Item: 10}})
		}, "out of range"},
		{"AddFile of catalog.idx", func(b *Builder) error { return b.AddFile(CatalogFile, nil) }, "invalid auxiliary file name"},
		{"AddFile of a score list", func(b *Builder) error { return b.AddFile("scores.x", nil) }, "invalid auxiliary file name"},
		{"SetMatrix of foldin.bin", func(b *Builder) error { return b.SetMatrix(FoldInFile, 1, 1, []float32{1}) }, "invalid auxiliary file name"},
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
}

// TestVerifyFoldInGram: a YᵀY that is not the served factors' fails Verify.
func TestVerifyFoldInGram(t *testing.T) {
	f := newFixture(9, 20, 4, 3)
	g := ItemGram(3, f.itemFactors)
	g[4] += 1e-9
	d := newTestDir(t)
	m := buildServingVersion(t, d, f, func(b *Builder) error {
		return b.SetFoldIn(FoldIn{Dims: 3, Alpha: 1, Lambda: 1, YtY: g})
	})
	if err := d.Verify(context.Background(), m.Version); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "YᵀY") {
		t.Errorf("Verify = %v, want ErrCorrupt about YᵀY", err)
	}
}

func FuzzCatalog(f *testing.F) {
	for i, n := range []int{0, 1, 12} {
		data, err := encodeCatalog(n, testCatalogAttrs, genCatalog(uint64(i), n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		if len(data) >= 24 {
			n = int(min(binary.LittleEndian.Uint64(data[16:24]), 1<<20))
		}
		for _, verify := range []bool{false, true} {
			c, err := newCatalog(aligned(data), n, verify)
			if err != nil {
				continue
			}
			// Everything a valid catalogue answers must be in range.
			for cat := range int32(c.NumCategories()) {
				if p := c.Parent(cat); p >= cat {
					t.Fatalf("Parent(%d) = %d", cat, p)
				}
				if ci, ok := c.CategoryIndex(c.CategoryName(cat)); !ok || ci != cat {
					t.Fatalf("CategoryIndex(CategoryName(%d)) = %d, %v", cat, ci, ok)
				}
				if !ascendingRows(c.CategoryRows(cat), n) {
					t.Fatalf("CategoryRows(%d) out of range", cat)
				}
			}
			for _, name := range c.AttributeNames() {
				a, _ := c.Attribute(name)
				for row := range int32(n) {
					c.ItemCategory(row)
					a.Value(row)
					a.Number(row)
				}
				for code := range uint32(a.NumValues()) + 1 {
					if !ascendingRows(a.ValueRows(code), n) {
						t.Fatalf("ValueRows(%d) out of range", code)
					}
				}
				for _, row := range a.RowsInRange(math.Inf(-1), math.Inf(1)) {
					if row < 0 || int(row) >= n {
						t.Fatalf("RowsInRange row %d out of range", row)
					}
				}
			}
		}
	})
}

func unsafeBytes(buf []uint64) []byte {
	if len(buf) == 0 {
		return []byte{}
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), 8*len(buf))
}
