package ann

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"unsafe"
)

// The serialised index: a 64-byte header, then the body, all little-endian
// and every section a multiple of 4 bytes long, so that each starts 4-byte
// aligned when the whole starts so (a memory-mapped file does).
//
//	offset size  header field
//	 0      8    magic "PCMANNI\x00"
//	 8      4    format version (1)
//	12      4    rows
//	16      4    dims
//	20      4    M (layer 0 lists hold 2*M)
//	24      4    default EfSearch
//	28      4    top layer
//	32      4    entry row (0xFFFFFFFF when the graph is empty)
//	36      4    nodes in the graph
//	40      4    words in the upper-layer lists
//	44      4    CRC-32C of the body
//	48     12    zero
//	60      4    CRC-32C of header bytes 0..59
//
//	body section     size in bytes
//	layer 0 lists    rows * (2*M+1) * 4   per row: count, 2*M neighbour rows
//	upper offsets    rows * 4             per row: first word of its upper lists
//	upper lists      words * 4            per layer 1..L of a row: count, M rows
//	levels           rows, zero-padded to a multiple of 4
const (
	magic         = "PCMANNI\x00"
	formatVersion = 1
	headerSize    = 64
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// littleEndian reports whether this machine stores words little-endian,
// as the format does; only then can Load use the bytes in place.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// sections returns the body as byte slices, in order. On a big-endian
// machine the word sections are encoded into new buffers.
func (ix *Index) sections() [][]byte {
	lv := ix.levels
	if pad := (4 - len(lv)%4) % 4; pad != 0 {
		lv = append(lv[:len(lv):len(lv)], make([]byte, pad)...)
	}
	return [][]byte{wordBytes(ix.level0), wordBytes(ix.upperOff), wordBytes(ix.upper), lv}
}

func wordBytes(w []uint32) []byte {
	if len(w) == 0 {
		return nil
	}
	if littleEndian {
		return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), 4*len(w))
	}
	b := make([]byte, 4*len(w))
	for i, v := range w {
		binary.LittleEndian.PutUint32(b[4*i:], v)
	}
	return b
}

// WriteTo writes the index in the format Load reads. The vectors are not
// part of it: Load is given them again.
func (ix *Index) WriteTo(w io.Writer) (int64, error) {
	secs := ix.sections()
	var crc uint32
	for _, s := range secs {
		crc = crc32.Update(crc, castagnoli, s)
	}
	var h [headerSize]byte
	copy(h[:], magic)
	le := binary.LittleEndian
	for i, v := range []uint32{formatVersion, uint32(ix.rows), uint32(ix.dims), uint32(ix.m), uint32(ix.efSearch),
		uint32(ix.maxLevel), ix.entry, uint32(ix.nodes), uint32(len(ix.upper)), crc} {
		le.PutUint32(h[8+4*i:], v)
	}
	le.PutUint32(h[60:], crc32.Checksum(h[:60], castagnoli))
	n, err := w.Write(h[:])
	total := int64(n)
	if err != nil {
		return total, fmt.Errorf("write ann index: %w", err)
	}
	for _, s := range secs {
		n, err := w.Write(s)
		total += int64(n)
		if err != nil {
			return total, fmt.Errorf("write ann index: %w", err)
		}
	}
	return total, nil
}

// Size returns the number of bytes WriteTo writes.
func (ix *Index) Size() int64 {
	return headerSize + 4*int64(len(ix.level0)+len(ix.upperOff)+len(ix.upper)) + int64(pad4(len(ix.levels)))
}

func pad4(n int) int { return (n + 3) &^ 3 }

// ErrCorrupt is wrapped by every error of Load about the bytes themselves
// (as opposed to a mismatch with the vectors it is given).
var ErrCorrupt = errors.New("corrupt ann index")

// Load returns the index serialised in b over rows [0, rows) of data, as
// Build took them. It validates the header, both checksums and every link
// of the graph, so a damaged or hostile b gives an error, never a panic or
// an out-of-range read later in Search.
//
// When b starts 4-byte aligned (as a memory-mapped file does) on a
// little-endian machine the index uses b in place: nothing is decoded or
// copied, and b must stay mapped and unchanged while the index is used.
// Otherwise Load copies it. Load reads b once, to check it: about 150 MB
// for 1M rows with M=16.
func Load(b []byte, data []float32, rows, dims, stride int) (*Index, error) {
	ix, err := load(b, data, rows, dims, stride)
	if err != nil {
		return nil, fmt.Errorf("load ann index: %w", err)
	}
	return ix, nil
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

func load(b []byte, data []float32, rows, dims, stride int) (*Index, error) {
	if err := checkShape(data, rows, dims, stride); err != nil {
		return nil, err
	}
	if len(b) < headerSize {
		return nil, corrupt("%d bytes are shorter than the %d-byte header", len(b), headerSize)
	}
	if string(b[:8]) != magic {
		return nil, corrupt("bad magic %q", b[:8])
	}
	le := binary.LittleEndian
	if got, want := le.Uint32(b[60:]), crc32.Checksum(b[:60], castagnoli); got != want {
		return nil, corrupt("header checksum %08x, computed %08x", got, want)
	}
	word := func(i int) uint32 { return le.Uint32(b[8+4*i:]) }
	if v := word(0); v != formatVersion {
		return nil, fmt.Errorf("%w: format version %d, this build reads %d", ErrCorrupt, v, formatVersion)
	}
	hRows, hDims, m, ef := int64(word(1)), int64(word(2)), int64(word(3)), int64(word(4))
	top, entry, nodes, upperLen, bodyCRC := int64(word(5)), word(6), int64(word(7)), int64(word(8)), word(9)
	switch {
	case hRows != int64(rows):
		return nil, fmt.Errorf("index has %d rows, the vectors %d", hRows, rows)
	case hDims != int64(dims):
		return nil, fmt.Errorf("index has %d dimensions, the vectors %d", hDims, dims)
	case m < 2 || m > MaxM:
		return nil, corrupt("M %d is outside 2..%d", m, MaxM)
	case ef < 1 || ef > MaxEf:
		return nil, corrupt("EfSearch %d is outside 1..%d", ef, MaxEf)
	case top >= maxLevels:
		return nil, corrupt("top layer %d is above %d", top, maxLevels-1)
	case nodes > hRows:
		return nil, corrupt("%d nodes for %d rows", nodes, hRows)
	case (nodes == 0) != (entry == none):
		return nil, corrupt("entry %d with %d nodes", entry, nodes)
	case entry != none && int64(entry) >= hRows:
		return nil, corrupt("entry %d is outside %d rows", entry, hRows)
	}
	for _, x := range b[48:60] {
		if x != 0 {
			return nil, corrupt("reserved header bytes are not zero")
		}
	}
	m0 := 2 * m
	n0, nUpper := hRows*(m0+1), upperLen
	want := headerSize + 4*(n0+hRows+nUpper) + int64(pad4(int(hRows)))
	if int64(len(b)) != want {
		return nil, corrupt("%d bytes, the header describes %d", len(b), want)
	}
	if got := crc32.Checksum(b[headerSize:], castagnoli); got != bodyCRC {
		return nil, corrupt("body checksum %08x, header says %08x", got, bodyCRC)
	}

	body := b[headerSize:]
	if len(body) > 0 && (!littleEndian || uintptr(unsafe.Pointer(&body[0]))%4 != 0) {
		body = alignedCopy(body, n0+hRows+nUpper)
	}
	ix := &Index{
		data: data, rows: rows, dims: dims, stride: stride,
		m: int(m), m0: int(m0), efSearch: int(ef), maxLevel: int(top), entry: entry, nodes: int(nodes),
	}
	off := int64(0)
	ix.level0 = words(body, off, n0)
	off += 4 * n0
	ix.upperOff = words(body, off, hRows)
	off += 4 * hRows
	ix.upper = words(body, off, nUpper)
	off += 4 * nUpper
	ix.levels = body[off : off+hRows]
	if err := ix.checkGraph(); err != nil {
		return nil, err
	}
	return ix, nil
}

// alignedCopy copies b into a 4-byte aligned buffer, converting its first
// nWords words to the machine's byte order.
func alignedCopy(b []byte, nWords int64) []byte {
	w := make([]uint32, (len(b)+3)/4)
	out := unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), 4*len(w))[:len(b)]
	copy(out, b)
	if !littleEndian {
		for i := range nWords {
			w[i] = binary.LittleEndian.Uint32(b[4*i:])
		}
	}
	return out
}

// words views n little-endian words at b[off:] as []uint32.
func words(b []byte, off, n int64) []uint32 {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*uint32)(unsafe.Pointer(&b[off])), n)
}

// checkGraph checks every list of a loaded index: counts within capacity,
// neighbours inside the rows and present on the list's layer, layers
// within the top and upper lists inside the upper section.
func (ix *Index) checkGraph() error {
	for i := range ix.rows {
		lv := int(ix.levels[i])
		if lv > ix.maxLevel {
			return corrupt("row %d is on layer %d above the top %d", i, lv, ix.maxLevel)
		}
		if lv > 0 && int64(ix.upperOff[i])+int64(lv)*int64(ix.m+1) > int64(len(ix.upper)) {
			return corrupt("row %d's upper lists run past the upper section", i)
		}
		for l := 0; l <= lv; l++ {
			lst := ix.list(uint32(i), l)
			if int(lst[0]) > len(lst)-1 {
				return corrupt("row %d has %d links on layer %d, capacity %d", i, lst[0], l, len(lst)-1)
			}
			for _, nb := range lst[1 : 1+lst[0]] {
				if int64(nb) >= int64(ix.rows) || int(ix.levels[nb]) < l {
					return corrupt("row %d links to %d, not a node of layer %d", i, nb, l)
				}
			}
		}
	}
	if ix.entry != none && int(ix.levels[ix.entry]) != ix.maxLevel {
		return corrupt("entry %d is not on the top layer %d", ix.entry, ix.maxLevel)
	}
	return nil
}
