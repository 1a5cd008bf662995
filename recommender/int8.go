package recommender

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"unsafe"

	"github.com/polecam/polecam/recommender/dot"
	"github.com/polecam/polecam/store"
)

// Int8ItemsFile is the name of the auxiliary snapshot file holding the
// int8-quantised item vectors that ModelOptions.Int8 shortlists with.
//
// The file is read in place from the memory-mapped snapshot. It is
// little-endian:
//
//	offset  size  field
//	0       8     magic "PCI8ITM\x00"
//	8       4     format version (1)
//	12      4     factor dimensions d
//	16      8     rows n (the number of items)
//	24      4     row width w in bytes: d rounded up to a multiple of 32
//	28      4     reserved, 0
//	32      8     offset of the scales: 64
//	40      8     offset of the rows: 64 + 4n rounded up to a multiple of 64
//	48      16    reserved, 0
//	64      4n    one float32 scale per row
//	...           zero padding
//	rows    n*w   row i: w int8s, round(x/scale) for its d factors, then zeros
//
// Row i approximates item i's factors as scale[i]*row[i][j]; see
// dot.QuantizeRows. The file is written by WriteInt8Items.
const Int8ItemsFile = "items.i8"

const (
	int8Version    = 1
	int8HeaderSize = 64
	int8MaxDims    = 1 << 16 // dot.ScoresInt8's width limit
)

var int8Magic = [8]byte{'P', 'C', 'I', '8', 'I', 'T', 'M', 0}

// int8Layout returns the offsets and total size of an int8 items file.
func int8Layout(rows, width int) (scalesOff, rowsOff, size int) {
	scalesOff = int8HeaderSize
	rowsOff = (scalesOff + 4*rows + 63) &^ 63
	return scalesOff, rowsOff, rowsOff + rows*width
}

// WriteInt8Items quantises every row of items (see dot.QuantizeRows) and
// writes them to w in the Int8ItemsFile format. The training pipeline
// calls it with the item factors of the snapshot it is writing.
func WriteInt8Items(w io.Writer, items store.Matrix) error {
	if err := checkMatrix(items); err != nil {
		return fmt.Errorf("write int8 items: %w", err)
	}
	if items.Rows < 0 || items.Dims <= 0 || items.Dims > int8MaxDims {
		return fmt.Errorf("write int8 items: %d rows of %d dimensions, want at least 1 and at most %d dimensions", items.Rows, items.Dims, int8MaxDims)
	}
	n, d := items.Rows, items.Dims
	width := dot.Int8Width(d)
	scalesOff, rowsOff, _ := int8Layout(n, width)

	bw := bufio.NewWriterSize(w, 1<<16)
	var hdr [int8HeaderSize]byte
	copy(hdr[0:8], int8Magic[:])
	binary.LittleEndian.PutUint32(hdr[8:], int8Version)
	binary.LittleEndian.PutUint32(hdr[12:], uint32(d))
	binary.LittleEndian.PutUint64(hdr[16:], uint64(n))
	binary.LittleEndian.PutUint32(hdr[24:], uint32(width))
	binary.LittleEndian.PutUint64(hdr[32:], uint64(scalesOff))
	binary.LittleEndian.PutUint64(hdr[40:], uint64(rowsOff))
	bw.Write(hdr[:])

	// Quantise in blocks: scales first, so the rows are quantised twice
	// rather than held in memory.
	const block = 4096
	scales := make([]float32, block)
	rows := make([]int8, block*width)
	var b4 [4]byte
	for lo := 0; lo < n; lo += block {
		hi := min(lo+block, n)
		dot.QuantizeRows(rows, width, scales[:hi-lo], items.Data[lo*items.Stride:], items.Stride, d)
		for _, s := range scales[:hi-lo] {
			binary.LittleEndian.PutUint32(b4[:], math.Float32bits(s))
			bw.Write(b4[:])
		}
	}
	bw.Write(make([]byte, rowsOff-scalesOff-4*n))
	for lo := 0; lo < n; lo += block {
		hi := min(lo+block, n)
		dot.QuantizeRows(rows, width, scales[:hi-lo], items.Data[lo*items.Stride:], items.Stride, d)
		bw.Write(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(rows))), (hi-lo)*width))
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write int8 items: %w", err)
	}
	return nil
}

// int8Items is a parsed Int8ItemsFile, read in place.
type int8Items struct {
	dims   int
	width  int // bytes per row
	scales []float32
	rows   []int8
	// maxScale is the largest scale; with the model's maxL1 it bounds the
	// quantisation error of any score (see shortlistMargin).
	maxScale float32
}

// errInt8Format marks an int8 items file that cannot be used.
var errInt8Format = errors.New("malformed int8 items file")

// parseInt8Items checks the header and layout of an Int8ItemsFile held in
// b and returns views into b. b must be 4-byte aligned (a memory mapping
// is) for the scales to be read in place; an unaligned b is an error.
func parseInt8Items(b []byte) (*int8Items, error) {
	if len(b) < int8HeaderSize {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", errInt8Format, len(b), int8HeaderSize)
	}
	if [8]byte(b[0:8]) != int8Magic {
		return nil, fmt.Errorf("%w: bad magic %q", errInt8Format, b[0:8])
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != int8Version {
		return nil, fmt.Errorf("%w: format version %d, want %d", errInt8Format, v, int8Version)
	}
	d := binary.LittleEndian.Uint32(b[12:])
	n := binary.LittleEndian.Uint64(b[16:])
	width := binary.LittleEndian.Uint32(b[24:])
	if d == 0 || d > int8MaxDims {
		return nil, fmt.Errorf("%w: %d dimensions", errInt8Format, d)
	}
	if width != uint32(dot.Int8Width(int(d))) {
		return nil, fmt.Errorf("%w: row width %d for %d dimensions, want %d", errInt8Format, width, d, dot.Int8Width(int(d)))
	}
	if n > math.MaxInt32 || n*uint64(width) > uint64(len(b)) {
		return nil, fmt.Errorf("%w: %d rows of %d bytes do not fit in %d bytes", errInt8Format, n, width, len(b))
	}
	scalesOff, rowsOff, size := int8Layout(int(n), int(width))
	if got := binary.LittleEndian.Uint64(b[32:]); got != uint64(scalesOff) {
		return nil, fmt.Errorf("%w: scales at offset %d, want %d", errInt8Format, got, scalesOff)
	}
	if got := binary.LittleEndian.Uint64(b[40:]); got != uint64(rowsOff) {
		return nil, fmt.Errorf("%w: rows at offset %d, want %d", errInt8Format, got, rowsOff)
	}
	if len(b) != size {
		return nil, fmt.Errorf("%w: %d bytes, %d rows of %d dimensions need %d", errInt8Format, len(b), n, d, size)
	}
	if uintptr(unsafe.Pointer(unsafe.SliceData(b)))%4 != 0 {
		return nil, fmt.Errorf("%w: not 4-byte aligned in memory", errInt8Format)
	}
	it := &int8Items{dims: int(d), width: int(width)}
	if n > 0 {
		it.scales = unsafe.Slice((*float32)(unsafe.Pointer(&b[scalesOff])), n)
		it.rows = unsafe.Slice((*int8)(unsafe.Pointer(&b[rowsOff])), int(n)*int(width))
	}
	if !littleEndian() {
		return nil, fmt.Errorf("%w: this machine is big-endian", errInt8Format)
	}
	for i, s := range it.scales {
		if !(s >= 0) || math.IsInf(float64(s), 0) {
			return nil, fmt.Errorf("%w: scale of row %d is %v", errInt8Format, i, s)
		}
		it.maxScale = max(it.maxScale, s)
	}
	return it, nil
}

func littleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}

// int8SpotChecks is how many rows loadInt8 re-quantises to check that the
// int8 file belongs to the float factors beside it.
const int8SpotChecks = 64

// loadInt8 parses the snapshot's int8 items file, if it has one and opts
// asks for it, and checks that it matches the item factors: same shape,
// and a spread of rows that quantise to exactly what the file holds.
func (m *Model) loadInt8(s Snapshot) error {
	f, ok := s.(auxFiles)
	if !ok {
		return nil
	}
	b, ok := f.File(Int8ItemsFile)
	if !ok {
		return nil
	}
	it, err := parseInt8Items(b)
	if err != nil {
		return fmt.Errorf("%s: %w", Int8ItemsFile, err)
	}
	if len(it.scales) != m.n || it.dims != m.items.Dims {
		return fmt.Errorf("%s: %d rows of %d dimensions for %d items of %d", Int8ItemsFile, len(it.scales), it.dims, m.n, m.items.Dims)
	}
	row := make([]int8, it.width)
	for k := range min(m.n, int8SpotChecks) {
		i := int(uint64(k) * uint64(m.n) / uint64(min(m.n, int8SpotChecks)))
		scale := dot.QuantizeVector(row, m.items.Row(i))
		if scale != it.scales[i] || string(unsafe.Slice((*byte)(unsafe.Pointer(&row[0])), it.width)) !=
			string(unsafe.Slice((*byte)(unsafe.Pointer(&it.rows[i*it.width])), it.width)) {
			return fmt.Errorf("%s: row %d does not match the item factors", Int8ItemsFile, i)
		}
	}
	m.i8 = it
	return nil
}

// auxFiles is the part of a snapshot that holds auxiliary files;
// *store.Snapshot implements it. A Snapshot without it has none.
type auxFiles interface {
	// File returns the bytes of the named file, mapped read-only, and
	// whether the snapshot has it. They must stay valid until Close.
	File(name string) ([]byte, bool)
}

// shortlistSize is how many int8 candidates Recommend shortlists for n
// results; wideShortlistSize how many when that shortlist could not be
// proved to hold the exact top n.
func shortlistSize(n int) int     { return 4*n + 64 }
func wideShortlistSize(n int) int { return 16*n + 1024 }

// shortlistMargin bounds, for any item, how far its exact float score can
// lie above the int8 score it was shortlisted by, for query q quantised
// with scale qScale, with sK the int8 score of the last candidate kept.
//
// With row i stored as r = rs*a + er and q = qs*b + eq (|er| <= rs/2,
// |eq| <= qs/2 per factor):
//
//	|<r,q> - rs*qs*<a,b>| <= qs/2*‖rs*a‖₁ + rs/2*‖q‖₁
//	                      <= qs/2*(‖r‖₁ + d*rs/2) + rs/2*‖q‖₁
//
// taken at the largest ‖r‖₁ and rs of the catalogue, plus the rounding of
// both float32 computations, bounded by (d+4)*2⁻²³ times the magnitude of
// the sums involved.
func (m *Model) shortlistMargin(q []float32, qScale, sK float32) float64 {
	var l1q, maxQ float64
	for _, x := range q {
		a := math.Abs(float64(x))
		l1q += a
		maxQ = max(maxQ, a)
	}
	rs := float64(m.i8.maxScale)
	d := float64(len(q))
	quant := float64(qScale)/2*(m.maxL1+d*rs/2) + rs/2*l1q
	round := (d + 4) * 0x1p-23 * (math.Abs(float64(sK)) + quant + m.maxL1*maxQ)
	return quant + round
}
