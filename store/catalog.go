package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unsafe"
)

// CatalogFile is the aux file holding the serving form of the item
// catalogue, written by Builder.SetCatalog and read by Snapshot.Catalog.
const CatalogFile = "catalog.idx"

// Catalogue file format constants. See the package documentation.
const (
	catalogHeaderSize    = 64
	catalogFormatVersion = 1
	// catalogFixedArrays are the arrays before the attributes' arrays;
	// catalogAttrArrays are the arrays of one attribute.
	catalogFixedArrays = 9
	catalogAttrArrays  = 9
)

var catalogMagic = [8]byte{'P', 'C', 'C', 'A', 'T', 'L', 'G', 0}

// CatalogRow is one item's catalogue row, as Builder.SetCatalog takes it.
type CatalogRow struct {
	Row      int32             // the item's dense index
	Category string            // e.g. "shoes/running"; "" for none
	Attrs    map[string]string // attribute name -> value; empty values are missing
}

// Catalog is a snapshot's item catalogue, indexed by item row (the model's
// dense item index), read in place from the mapped catalog.idx: nothing is
// decoded at open, but the whole structure is checked once (one pass over
// the file, no allocation per item), so no accessor can index out of range.
//
// Safe for concurrent use. Every slice and string it returns aliases the
// mapping: never write to a slice, and copy (strings.Clone) a string that
// must outlive the snapshot's Close.
type Catalog struct {
	nItems     int
	catNames   strTable
	catParent  []int32
	itemCat    []int32
	catRowOff  []uint64
	catRows    []int32
	unavail    []int32
	attrs      []*Attribute
	attrNames  []string // heap copies
	attrByName map[string]*Attribute
}

// Attribute is one attribute column of a Catalog: the distinct values, the
// value code of every row, an inverted index from value to rows and, for a
// numeric column, every row's number and the rows sorted by value.
type Attribute struct {
	name       string
	nItems     int
	values     strTable // sorted; value code c is values[c-1]
	codes      []uint32
	valRowOff  []uint64
	valRows    []int32
	numeric    bool
	numbers    []float64 // NaN for missing
	sortedRows []int32   // rows with a value, by value then row
	sortedVals []float64 // their values
}

// strTable is a table of strings in place: string i is
// data[off[i]:off[i+1]].
type strTable struct {
	off  []uint64
	data []byte
}

func (t strTable) len() int { return max(len(t.off)-1, 0) }

func (t strTable) bytes(i int) []byte { return t.data[t.off[i]:t.off[i+1]] }

func (t strTable) str(i int) string {
	b := t.bytes(i)
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// find returns the index of s in a sorted table.
func (t strTable) find(s string) (int, bool) {
	n := t.len()
	i := sort.Search(n, func(i int) bool { return string(t.bytes(i)) >= s })
	if i < n && string(t.bytes(i)) == s {
		return i, true
	}
	return 0, false
}

// NumItems returns the number of item rows, the snapshot's NumItems.
func (c *Catalog) NumItems() int { return c.nItems }

// NumCategories returns the number of categories, the implied parents
// included.
func (c *Catalog) NumCategories() int { return c.catNames.len() }

// CategoryIndex returns the category called name exactly, e.g.
// "shoes/running" (no trimming or case folding).
func (c *Catalog) CategoryIndex(name string) (int32, bool) {
	i, ok := c.catNames.find(name)
	return int32(i), ok
}

// CategoryName returns the name of category cat, "" when out of range.
func (c *Catalog) CategoryName(cat int32) string {
	if cat < 0 || int(cat) >= c.NumCategories() {
		return ""
	}
	return c.catNames.str(int(cat))
}

// Parent returns the parent of category cat ("shoes" for "shoes/running"),
// -1 for a top-level category or one out of range.
func (c *Catalog) Parent(cat int32) int32 {
	if cat < 0 || int(cat) >= len(c.catParent) {
		return -1
	}
	return c.catParent[cat]
}

// ItemCategory returns the category of item row, -1 when the item has no
// category (or no catalogue row, or row is out of range).
func (c *Catalog) ItemCategory(row int32) int32 {
	if row < 0 || int(row) >= len(c.itemCat) {
		return -1
	}
	return c.itemCat[row]
}

// CategoryRows returns the rows whose category is cat or any descendant
// of it ("shoes" holds "shoes/running"), ascending, without duplicates;
// nil when cat is out of range.
func (c *Catalog) CategoryRows(cat int32) []int32 {
	if cat < 0 || int(cat) >= c.NumCategories() {
		return nil
	}
	return c.catRows[c.catRowOff[cat]:c.catRowOff[cat+1]]
}

// AttributeNames returns the attribute names in the catalogue's column
// order, without the id and category columns. The slice is shared: do not
// modify it.
func (c *Catalog) AttributeNames() []string { return c.attrNames }

// Attribute returns the attribute called name (as in the catalogue's
// header, exactly).
func (c *Catalog) Attribute(name string) (*Attribute, bool) {
	a, ok := c.attrByName[name]
	return a, ok
}

// Unavailable returns the rows whose catalogue row says they cannot be sold
// now — an "in_stock" or "available" attribute (name case-insensitive)
// equal to false, 0 or no (case-insensitive) — ascending.
func (c *Catalog) Unavailable() []int32 { return c.unavail }

// Name returns the attribute's name.
func (a *Attribute) Name() string { return a.name }

// NumValues returns the number of distinct non-empty values.
func (a *Attribute) NumValues() int { return a.values.len() }

// ValueCode returns the code of value (1..NumValues), exact match; 0 and
// false when no row has it.
func (a *Attribute) ValueCode(value string) (uint32, bool) {
	i, ok := a.values.find(value)
	if !ok {
		return 0, false
	}
	return uint32(i + 1), true
}

// CodeValue returns the value of code (1..NumValues), "" otherwise.
func (a *Attribute) CodeValue(code uint32) string {
	if code == 0 || int(code) > a.values.len() {
		return ""
	}
	return a.values.str(int(code - 1))
}

// Code returns row's value code, 0 when it has none (or row is out of
// range).
func (a *Attribute) Code(row int32) uint32 {
	if row < 0 || int(row) >= len(a.codes) {
		return 0
	}
	return a.codes[row]
}

// Value returns row's value as the catalogue wrote it (trimmed), and false
// when it has none.
func (a *Attribute) Value(row int32) (string, bool) {
	code := a.Code(row)
	if code == 0 {
		return "", false
	}
	return a.values.str(int(code - 1)), true
}

// ValueRows returns the rows whose value has code, ascending (the inverted
// index); nil for code 0 or out of range.
func (a *Attribute) ValueRows(code uint32) []int32 {
	if code == 0 || int(code) > a.values.len() {
		return nil
	}
	return a.valRows[a.valRowOff[code-1]:a.valRowOff[code]]
}

// Numeric reports whether every non-empty value parses as a finite float64
// (strconv.ParseFloat), and there is at least one.
func (a *Attribute) Numeric() bool { return a.numeric }

// Number returns row's value as a number, false when the attribute is not
// numeric or the row has no value.
func (a *Attribute) Number(row int32) (float64, bool) {
	if !a.numeric || row < 0 || int(row) >= len(a.numbers) {
		return 0, false
	}
	v := a.numbers[row]
	return v, !math.IsNaN(v)
}

// RowsInRange returns the rows with min <= value <= max (either bound may
// be ±Inf) of a numeric attribute, in ascending order of value, rows of
// equal value ascending — not in row order: the slice is a binary search
// in the rows sorted by value, aliasing the mapping. Sort a copy (or use
// AppendRowsInRange) for row order. Nil when the attribute is not numeric,
// a bound is NaN or min > max.
func (a *Attribute) RowsInRange(min, max float64) []int32 {
	if !a.numeric || math.IsNaN(min) || math.IsNaN(max) || min > max {
		return nil
	}
	lo, _ := slices.BinarySearch(a.sortedVals, min)
	hi := sort.SearchFloat64s(a.sortedVals[lo:], math.Nextafter(max, math.Inf(1))) + lo
	if math.IsInf(max, 1) {
		hi = len(a.sortedVals)
	}
	return a.sortedRows[lo:hi]
}

// AppendRowsInRange appends the rows of RowsInRange(min, max) to buf in
// ascending row order.
func (a *Attribute) AppendRowsInRange(buf []int32, min, max float64) []int32 {
	start := len(buf)
	buf = append(buf, a.RowsInRange(min, max)...)
	slices.Sort(buf[start:])
	return buf
}

// isUnavailableAttr reports whether an attribute named name marks
// availability, and isFalse whether a value of it says unavailable.
func isUnavailableAttr(name string) bool {
	return strings.EqualFold(name, "in_stock") || strings.EqualFold(name, "available")
}

func isFalse(v string) bool {
	return strings.EqualFold(v, "false") || v == "0" || strings.EqualFold(v, "no")
}

// NormalizeCategory returns the category name the catalogue stores for
// name: its "/"-separated parts trimmed of spaces, empty parts dropped
// (" shoes / running/" is "shoes/running"; "" and "/" are no category).
func NormalizeCategory(name string) string {
	if !strings.Contains(name, "/") {
		return strings.TrimSpace(name)
	}
	parts := strings.Split(name, "/")
	out := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "/")
}

// SetCatalog writes the item catalogue as catalog.idx: attributes are the
// attribute column names in the catalogue's order (unique, non-empty), rows
// the catalogue rows of items the model knows (Row in [0, NumItems), each
// at most once; items without a row have no category and no attributes).
// Attribute names a row has that are not in attributes are an error.
// Call it after SetItems.
func (b *Builder) SetCatalog(attributes []string, rows []CatalogRow) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.setCatalog(attributes, rows); err != nil {
		return fmt.Errorf("set catalogue of %s: %w", b.version, err)
	}
	return nil
}

func (b *Builder) setCatalog(attributes []string, rows []CatalogRow) error {
	if b.nItems < 0 {
		return errors.New("items must be set first")
	}
	data, err := encodeCatalog(b.nItems, attributes, rows)
	if err != nil {
		return err
	}
	return b.addOwnFile(CatalogFile, "", func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// catalogEncoder lays out the arrays of a catalogue file.
type catalogEncoder struct {
	arrays [][]byte
}

func (e *catalogEncoder) add(b []byte) { e.arrays = append(e.arrays, b) }

func le64s(vs []uint64) []byte {
	b := make([]byte, 8*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint64(b[8*i:], v)
	}
	return b
}

func le32i(vs []int32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
	}
	return b
}

func le32u(vs []uint32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint32(b[4*i:], v)
	}
	return b
}

func lef64s(vs []float64) []byte {
	b := make([]byte, 8*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
	}
	return b
}

func (e *catalogEncoder) strings(ss []string) {
	off := make([]uint64, 0, len(ss)+1)
	var data []byte
	off = append(off, 0)
	for _, s := range ss {
		data = append(data, s...)
		off = append(off, uint64(len(data)))
	}
	e.add(le64s(off))
	e.add(data)
}

// csrOf returns the offsets and entries of lists.
func csrOf(lists [][]int32) ([]uint64, []int32) {
	off := make([]uint64, 1, len(lists)+1)
	var rows []int32
	for _, l := range lists {
		rows = append(rows, l...)
		off = append(off, uint64(len(rows)))
	}
	return off, rows
}

func encodeCatalog(nItems int, attributes []string, rows []CatalogRow) ([]byte, error) {
	attrIdx := make(map[string]int, len(attributes))
	for i, a := range attributes {
		if a == "" {
			return nil, fmt.Errorf("attribute %d has no name", i)
		}
		if _, dup := attrIdx[a]; dup {
			return nil, fmt.Errorf("attribute %q named twice", a)
		}
		attrIdx[a] = i
	}
	byRow := make([]int, nItems) // row -> index in rows + 1
	cats := map[string]bool{}
	for k, r := range rows {
		if r.Row < 0 || int(r.Row) >= nItems {
			return nil, fmt.Errorf("catalogue row for item %d out of range [0, %d)", r.Row, nItems)
		}
		if byRow[r.Row] != 0 {
			return nil, fmt.Errorf("two catalogue rows for item %d", r.Row)
		}
		byRow[r.Row] = k + 1
		for name := range r.Attrs {
			if _, ok := attrIdx[name]; !ok {
				return nil, fmt.Errorf("item %d has attribute %q, not among the attributes", r.Row, name)
			}
		}
		for c := NormalizeCategory(r.Category); c != ""; {
			cats[c] = true
			j := strings.LastIndexByte(c, '/')
			if j < 0 {
				break
			}
			c = c[:j]
		}
	}
	catNames := slices.Sorted(func(yield func(string) bool) {
		for c := range cats {
			if !yield(c) {
				return
			}
		}
	})
	catIndex := make(map[string]int32, len(catNames))
	for i, c := range catNames {
		catIndex[c] = int32(i)
	}
	parent := make([]int32, len(catNames))
	for i, c := range catNames {
		parent[i] = -1
		if j := strings.LastIndexByte(c, '/'); j >= 0 {
			parent[i] = catIndex[c[:j]]
		}
	}
	itemCat := make([]int32, nItems)
	catLists := make([][]int32, len(catNames))
	for row := range nItems {
		itemCat[row] = -1
		if byRow[row] == 0 {
			continue
		}
		c := NormalizeCategory(rows[byRow[row]-1].Category)
		if c == "" {
			continue
		}
		ci := catIndex[c]
		itemCat[row] = ci
		for ; ci >= 0; ci = parent[ci] {
			catLists[ci] = append(catLists[ci], int32(row))
		}
	}
	var e catalogEncoder
	e.strings(catNames)
	e.add(le32i(parent))
	e.add(le32i(itemCat))
	off, catRows := csrOf(catLists)
	e.add(le64s(off))
	e.add(le32i(catRows))
	e.strings(attributes)
	var unavail []int32
	for row := range nItems {
		if byRow[row] == 0 {
			continue
		}
		for name, v := range rows[byRow[row]-1].Attrs {
			if isUnavailableAttr(name) && isFalse(strings.TrimSpace(v)) {
				unavail = append(unavail, int32(row))
				break
			}
		}
	}
	e.add(le32i(unavail))
	for _, name := range attributes {
		encodeAttribute(&e, name, nItems, rows, byRow)
	}
	return e.marshal(nItems, len(catNames), len(attributes)), nil
}

func encodeAttribute(e *catalogEncoder, name string, nItems int, rows []CatalogRow, byRow []int) {
	vals := make([]string, nItems)
	distinct := map[string]bool{}
	for row := range nItems {
		if byRow[row] == 0 {
			continue
		}
		v := strings.TrimSpace(rows[byRow[row]-1].Attrs[name])
		vals[row] = v
		if v != "" {
			distinct[v] = true
		}
	}
	values := make([]string, 0, len(distinct))
	for v := range distinct {
		values = append(values, v)
	}
	slices.Sort(values)
	code := make(map[string]uint32, len(values))
	numeric := len(values) > 0
	nums := make([]float64, len(values))
	for i, v := range values {
		code[v] = uint32(i + 1)
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			numeric = false
		}
		nums[i] = f
	}
	codes := make([]uint32, nItems)
	lists := make([][]int32, len(values))
	for row, v := range vals {
		if v == "" {
			continue
		}
		c := code[v]
		codes[row] = c
		lists[c-1] = append(lists[c-1], int32(row))
	}
	e.strings(values)
	e.add(le32u(codes))
	off, vrows := csrOf(lists)
	e.add(le64s(off))
	e.add(le32i(vrows))
	var flags uint32
	var numbers, sortedVals []float64
	var sortedRows []int32
	if numeric {
		flags = 1
		numbers = make([]float64, nItems)
		for row, c := range codes {
			numbers[row] = math.NaN()
			if c != 0 {
				numbers[row] = nums[c-1]
				sortedRows = append(sortedRows, int32(row))
			}
		}
		slices.SortStableFunc(sortedRows, func(a, b int32) int { return cmp.Compare(numbers[a], numbers[b]) })
		sortedVals = make([]float64, len(sortedRows))
		for i, r := range sortedRows {
			sortedVals[i] = numbers[r]
		}
	}
	e.add(le32u([]uint32{flags}))
	e.add(lef64s(numbers))
	e.add(le32i(sortedRows))
	e.add(lef64s(sortedVals))
}

func pad8(n uint64) uint64 { return (n + 7) &^ 7 }

// marshal lays out header, directory and arrays (each 8-byte aligned).
func (e *catalogEncoder) marshal(nItems, nCats, nAttrs int) []byte {
	dirSize := uint64(16 * len(e.arrays))
	pos := pad8(catalogHeaderSize + dirSize)
	dir := make([]byte, dirSize)
	for i, a := range e.arrays {
		binary.LittleEndian.PutUint64(dir[16*i:], pos)
		binary.LittleEndian.PutUint64(dir[16*i+8:], uint64(len(a)))
		pos = pad8(pos + uint64(len(a)))
	}
	out := make([]byte, pos)
	copy(out[catalogHeaderSize:], dir)
	for i, a := range e.arrays {
		copy(out[binary.LittleEndian.Uint64(dir[16*i:]):], a)
	}
	h := out[:catalogHeaderSize]
	copy(h[0:8], catalogMagic[:])
	binary.LittleEndian.PutUint32(h[8:12], catalogFormatVersion)
	binary.LittleEndian.PutUint32(h[12:16], uint32(len(e.arrays)))
	binary.LittleEndian.PutUint64(h[16:24], uint64(nItems))
	binary.LittleEndian.PutUint32(h[24:28], uint32(nCats))
	binary.LittleEndian.PutUint32(h[28:32], uint32(nAttrs))
	binary.LittleEndian.PutUint32(h[32:36], crc32.Checksum(out[catalogHeaderSize:], castagnoli))
	binary.LittleEndian.PutUint32(h[36:40], crc32.Checksum(h[0:36], castagnoli))
	return out
}

// catalogReader hands out the arrays of a catalogue file in order.
type catalogReader struct {
	data []byte
	dir  []byte
	next int
	err  error
}

func (r *catalogReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
}

// array returns the next array, which must be a multiple of size bytes.
func (r *catalogReader) array(what string, size uint64) []byte {
	if r.err != nil {
		return nil
	}
	i := r.next
	r.next++
	off := binary.LittleEndian.Uint64(r.dir[16*i:])
	n := binary.LittleEndian.Uint64(r.dir[16*i+8:])
	if off%8 != 0 || off > uint64(len(r.data)) || n > uint64(len(r.data))-off || n%size != 0 {
		r.fail("%s: array at %d of %d bytes invalid in a %d-byte file", what, off, n, len(r.data))
		return nil
	}
	return r.data[off : off+n]
}

func castU64(b []byte) []uint64 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*uint64)(unsafe.Pointer(&b[0])), len(b)/8)
}

func castI32(b []byte) []int32 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*int32)(unsafe.Pointer(&b[0])), len(b)/4)
}

func castU32(b []byte) []uint32 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*uint32)(unsafe.Pointer(&b[0])), len(b)/4)
}

func castF64(b []byte) []float64 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*float64)(unsafe.Pointer(&b[0])), len(b)/8)
}

// strings reads a string table of n strings (n < 0: as many as it holds);
// sorted requires them to be strictly ascending.
func (r *catalogReader) strings(what string, n int, sorted bool) strTable {
	off := castU64(r.array(what+" offsets", 8))
	data := r.array(what, 1)
	if r.err != nil {
		return strTable{}
	}
	if n < 0 {
		n = len(off) - 1
	}
	if n < 0 {
		r.fail("%s: no offsets", what)
		return strTable{}
	}
	if len(off) != n+1 || off[0] != 0 || off[n] != uint64(len(data)) {
		r.fail("%s: %d offsets for %d strings of %d bytes", what, len(off), n, len(data))
		return strTable{}
	}
	for i := range n {
		if off[i] > off[i+1] {
			r.fail("%s: offsets decrease at %d", what, i)
			return strTable{}
		}
	}
	t := strTable{off: off, data: data}
	if sorted {
		for i := 1; i < n; i++ {
			if bytes.Compare(t.bytes(i-1), t.bytes(i)) >= 0 {
				r.fail("%s: not strictly ascending at %d", what, i)
				return strTable{}
			}
		}
	}
	return t
}

// lists reads count ascending row lists, every row below nItems, and
// returns their offsets and entries.
func (r *catalogReader) lists(what string, count, nItems int) ([]uint64, []int32) {
	off := castU64(r.array(what+" offsets", 8))
	rows := castI32(r.array(what, 4))
	if r.err != nil {
		return nil, nil
	}
	if len(off) != count+1 || off[0] != 0 || off[count] != uint64(len(rows)) {
		r.fail("%s: %d offsets for %d lists of %d rows", what, len(off), count, len(rows))
		return nil, nil
	}
	for i := range count {
		if off[i] > off[i+1] {
			r.fail("%s: offsets decrease at %d", what, i)
			return nil, nil
		}
		if !ascendingRows(rows[off[i]:off[i+1]], nItems) {
			r.fail("%s: list %d not ascending rows below %d", what, i, nItems)
			return nil, nil
		}
	}
	return off, rows
}

func ascendingRows(rows []int32, n int) bool {
	prev := int64(-1)
	for _, r := range rows {
		if int64(r) <= prev || int(r) >= n {
			return false
		}
		prev = int64(r)
	}
	return true
}

// newCatalog checks the catalogue file in data (and its payload CRC if
// verify) for a snapshot of nItems items and returns a Catalog reading it
// in place. data must be 8-byte aligned, as a mapping is.
func newCatalog(data []byte, nItems int, verify bool) (*Catalog, error) {
	if !littleEndianHost {
		return nil, errors.New("memory-mapped catalogues need a little-endian host")
	}
	if len(data) < catalogHeaderSize {
		return nil, fmt.Errorf("%w: truncated header: %d bytes, want %d", ErrCorrupt, len(data), catalogHeaderSize)
	}
	if uintptr(unsafe.Pointer(&data[0]))%8 != 0 {
		return nil, errors.New("catalogue not 8-byte aligned")
	}
	h := data[:catalogHeaderSize]
	if [8]byte(h[0:8]) != catalogMagic {
		return nil, fmt.Errorf("%w: bad magic %q, want %q", ErrCorrupt, h[0:8], catalogMagic[:])
	}
	if v := binary.LittleEndian.Uint32(h[8:12]); v > catalogFormatVersion {
		return nil, fmt.Errorf("%w: catalogue format version %d, this build reads up to %d", ErrFormat, v, catalogFormatVersion)
	} else if v == 0 {
		return nil, fmt.Errorf("%w: catalogue format version 0", ErrCorrupt)
	}
	if got, want := crc32.Checksum(h[0:36], castagnoli), binary.LittleEndian.Uint32(h[36:40]); got != want {
		return nil, fmt.Errorf("%w: header checksum mismatch: computed %08x, stored %08x", ErrCorrupt, got, want)
	}
	for _, c := range h[40:] {
		if c != 0 {
			return nil, fmt.Errorf("%w: non-zero reserved header bytes", ErrCorrupt)
		}
	}
	if verify {
		if got, want := crc32.Checksum(data[catalogHeaderSize:], castagnoli), binary.LittleEndian.Uint32(h[32:36]); got != want {
			return nil, fmt.Errorf("%w: payload checksum mismatch: computed %08x, header says %08x", ErrCorrupt, got, want)
		}
	}
	narrays := uint64(binary.LittleEndian.Uint32(h[12:16]))
	items := binary.LittleEndian.Uint64(h[16:24])
	ncats := int(binary.LittleEndian.Uint32(h[24:28]))
	nattrs := uint64(binary.LittleEndian.Uint32(h[28:32]))
	if items != uint64(nItems) {
		return nil, fmt.Errorf("%w: catalogue of %d items, the snapshot has %d", ErrCorrupt, items, nItems)
	}
	if narrays != catalogFixedArrays+catalogAttrArrays*nattrs || catalogHeaderSize+16*narrays > uint64(len(data)) {
		return nil, fmt.Errorf("%w: %d arrays for %d attributes in a %d-byte file", ErrCorrupt, narrays, nattrs, len(data))
	}
	r := &catalogReader{data: data, dir: data[catalogHeaderSize : catalogHeaderSize+16*narrays]}
	c := &Catalog{nItems: nItems}
	c.catNames = r.strings("category names", ncats, true)
	c.catParent = castI32(r.array("category parents", 4))
	c.itemCat = castI32(r.array("item categories", 4))
	c.catRowOff, c.catRows = r.lists("category rows", ncats, nItems)
	attrNames := r.strings("attribute names", int(nattrs), false)
	c.unavail = castI32(r.array("unavailable rows", 4))
	if r.err != nil {
		return nil, r.err
	}
	if err := c.checkCategories(); err != nil {
		return nil, err
	}
	if !ascendingRows(c.unavail, nItems) {
		return nil, fmt.Errorf("%w: unavailable rows not ascending rows below %d", ErrCorrupt, nItems)
	}
	c.attrByName = make(map[string]*Attribute, nattrs)
	for i := range int(nattrs) {
		name := string(attrNames.bytes(i))
		if name == "" {
			return nil, fmt.Errorf("%w: attribute %d has no name", ErrCorrupt, i)
		}
		if _, dup := c.attrByName[name]; dup {
			return nil, fmt.Errorf("%w: attribute %q twice", ErrCorrupt, name)
		}
		a, err := r.attribute(name, nItems)
		if err != nil {
			return nil, err
		}
		c.attrs = append(c.attrs, a)
		c.attrNames = append(c.attrNames, name)
		c.attrByName[name] = a
	}
	return c, nil
}

// checkCategories checks the hierarchy, the items' categories and that
// each category's rows are exactly the items in it or below it.
func (c *Catalog) checkCategories() error {
	n := c.NumCategories()
	if len(c.catParent) != n || len(c.itemCat) != c.nItems {
		return fmt.Errorf("%w: %d parents for %d categories, %d item categories for %d items", ErrCorrupt, len(c.catParent), n, len(c.itemCat), c.nItems)
	}
	for i := range n {
		name := c.catNames.bytes(i)
		p := c.catParent[i]
		j := bytes.LastIndexByte(name, '/')
		switch {
		case len(name) == 0:
			return fmt.Errorf("%w: category %d has no name", ErrCorrupt, i)
		case j < 0 && p != -1, j >= 0 && (p < 0 || int(p) >= i || !bytes.Equal(c.catNames.bytes(int(p)), name[:j])):
			return fmt.Errorf("%w: category %q has parent %d", ErrCorrupt, name, p)
		}
	}
	var want uint64
	for row, cat := range c.itemCat {
		if cat < -1 || int(cat) >= n {
			return fmt.Errorf("%w: item %d in category %d of %d", ErrCorrupt, row, cat, n)
		}
		for ; cat >= 0; cat = c.catParent[cat] {
			want++
		}
	}
	if want != uint64(len(c.catRows)) {
		return fmt.Errorf("%w: category lists hold %d rows, the items' categories need %d", ErrCorrupt, len(c.catRows), want)
	}
	// Lists are ascending without duplicates (checked by lists) and their
	// total is right, so it is enough that every listed row is in or below
	// the list's category.
	for cat := range n {
		for _, row := range c.CategoryRows(int32(cat)) {
			ic := c.itemCat[row]
			for ic >= 0 && ic != int32(cat) {
				ic = c.catParent[ic]
			}
			if ic != int32(cat) {
				return fmt.Errorf("%w: item %d listed in category %d it is not in", ErrCorrupt, row, cat)
			}
		}
	}
	return nil
}

func (r *catalogReader) attribute(name string, nItems int) (*Attribute, error) {
	a := &Attribute{name: name, nItems: nItems}
	a.values = r.strings(name+" values", -1, true)
	a.codes = castU32(r.array(name+" codes", 4))
	nv := a.values.len()
	a.valRowOff, a.valRows = r.lists(name+" value rows", nv, nItems)
	flags := castU32(r.array(name+" flags", 4))
	a.numbers = castF64(r.array(name+" numbers", 8))
	a.sortedRows = castI32(r.array(name+" rows by value", 4))
	a.sortedVals = castF64(r.array(name+" sorted values", 8))
	if r.err != nil {
		return nil, fmt.Errorf("attribute %q: %w", name, r.err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: attribute %q: %s", ErrCorrupt, name, fmt.Sprintf(format, args...))
	}
	if len(a.codes) != nItems {
		return nil, bad("%d codes for %d items", len(a.codes), nItems)
	}
	if len(flags) != 1 || flags[0]&^1 != 0 {
		return nil, bad("invalid flags")
	}
	a.numeric = flags[0] == 1
	var withValue int
	for row, code := range a.codes {
		if int(code) > nv {
			return nil, bad("item %d has code %d of %d values", row, code, nv)
		}
		if code != 0 {
			withValue++
		}
	}
	if len(a.valRows) != withValue {
		return nil, bad("inverted index holds %d rows, %d have a value", len(a.valRows), withValue)
	}
	for code := uint32(1); int(code) <= nv; code++ {
		for _, row := range a.ValueRows(code) {
			if a.codes[row] != code {
				return nil, bad("item %d listed under value %d, has %d", row, code, a.codes[row])
			}
		}
	}
	if !a.numeric {
		if len(a.numbers) != 0 || len(a.sortedRows) != 0 || len(a.sortedVals) != 0 {
			return nil, bad("numbers for a text attribute")
		}
		return a, nil
	}
	if nv == 0 || len(a.numbers) != nItems || len(a.sortedRows) != withValue || len(a.sortedVals) != withValue {
		return nil, bad("%d numbers, %d sorted rows, %d sorted values for %d items, %d with a value",
			len(a.numbers), len(a.sortedRows), len(a.sortedVals), nItems, withValue)
	}
	for row, v := range a.numbers {
		if math.IsNaN(v) != (a.codes[row] == 0) || math.IsInf(v, 0) {
			return nil, bad("item %d has number %v and code %d", row, v, a.codes[row])
		}
	}
	for i, row := range a.sortedRows {
		if row < 0 || int(row) >= nItems || a.sortedVals[i] != a.numbers[row] {
			return nil, bad("sorted entry %d (item %d) does not match the numbers", i, row)
		}
		// Ascending by value, rows of equal value ascending: no row twice.
		if i > 0 && (a.sortedVals[i-1] > a.sortedVals[i] || a.sortedVals[i-1] == a.sortedVals[i] && a.sortedRows[i-1] >= row) {
			return nil, bad("rows by value out of order at %d", i)
		}
	}
	return a, nil
}
