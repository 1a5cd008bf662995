package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"unsafe"
)

// List file format constants. See the package documentation.
const (
	csrHeaderSize    = 64
	csrFormatVersion = 1

	// csrKindSeen: entries are int32 item indexes, each list ascending.
	csrKindSeen = 1
	// csrKindNeighbors: entries are (int32 item, float32 score) pairs, best first.
	csrKindNeighbors = 2
	// csrKindEvents: entries are (int32 item, uint32 kind, uint32 time)
	// triples (SeenEvent), ascending by item, then kind.
	csrKindEvents = 3
)

var csrMagic = [8]byte{'P', 'C', 'C', 'S', 'R', 0, 0, 0}

// csrEntrySize returns the size in bytes of one entry of kind, 0 if the
// kind is unknown.
func csrEntrySize(kind uint32) uint64 {
	switch kind {
	case csrKindSeen:
		return 4
	case csrKindNeighbors:
		return 8
	case csrKindEvents:
		return 12
	}
	return 0
}

type csrHeader struct {
	FormatVersion uint32
	Kind          uint32
	Count         uint64 // lists
	Entries       uint64 // entries of all lists
	PayloadCRC    uint32
}

func (h csrHeader) marshal() []byte {
	b := make([]byte, csrHeaderSize)
	copy(b[0:8], csrMagic[:])
	binary.LittleEndian.PutUint32(b[8:12], h.FormatVersion)
	binary.LittleEndian.PutUint32(b[12:16], h.Kind)
	binary.LittleEndian.PutUint64(b[16:24], h.Count)
	binary.LittleEndian.PutUint64(b[24:32], h.Entries)
	binary.LittleEndian.PutUint32(b[32:36], h.PayloadCRC)
	binary.LittleEndian.PutUint32(b[36:40], crc32.Checksum(b[0:36], castagnoli))
	return b
}

func parseCSRHeader(b []byte, fileSize int64) (csrHeader, error) {
	var h csrHeader
	if len(b) < csrHeaderSize {
		return h, fmt.Errorf("%w: truncated header: %d bytes, want %d", ErrCorrupt, len(b), csrHeaderSize)
	}
	if [8]byte(b[0:8]) != csrMagic {
		return h, fmt.Errorf("%w: bad magic %q, want %q", ErrCorrupt, b[0:8], csrMagic[:])
	}
	h.FormatVersion = binary.LittleEndian.Uint32(b[8:12])
	if h.FormatVersion > csrFormatVersion {
		return h, fmt.Errorf("%w: list file format version %d, this build reads up to %d", ErrFormat, h.FormatVersion, csrFormatVersion)
	}
	if got, want := crc32.Checksum(b[0:36], castagnoli), binary.LittleEndian.Uint32(b[36:40]); got != want {
		return h, fmt.Errorf("%w: header checksum mismatch: computed %08x, stored %08x", ErrCorrupt, got, want)
	}
	for _, c := range b[40:csrHeaderSize] {
		if c != 0 {
			return h, fmt.Errorf("%w: non-zero reserved header bytes", ErrCorrupt)
		}
	}
	h.Kind = binary.LittleEndian.Uint32(b[12:16])
	h.Count = binary.LittleEndian.Uint64(b[16:24])
	h.Entries = binary.LittleEndian.Uint64(b[24:32])
	h.PayloadCRC = binary.LittleEndian.Uint32(b[32:36])
	es := csrEntrySize(h.Kind)
	if h.FormatVersion == 0 || es == 0 || h.Count > math.MaxInt32 || h.Entries > math.MaxInt64/16 {
		return h, fmt.Errorf("%w: invalid list file header", ErrCorrupt)
	}
	if want := csrHeaderSize + (h.Count+1)*8 + h.Entries*es; uint64(fileSize) != want {
		return h, fmt.Errorf("%w: file is %d bytes, header announces %d: truncated or torn", ErrCorrupt, fileSize, want)
	}
	return h, nil
}

// csrFile is a memory-mapped list file: list i of count lists is
// entries[off[i]:off[i+1]], read in place without decoding anything at
// open. Offsets are checked on use.
type csrFile struct {
	m       *mappedFile
	count   int
	offsets []byte      // (count+1) uint64 LE, in entries
	seen    []int32     // the entries of a csrKindSeen file
	nbrs    []Neighbor  // the entries of a csrKindNeighbors file
	events  []SeenEvent // the entries of a csrKindEvents file
}

func openCSRFile(path string, kind uint32, verify bool) (*csrFile, error) {
	m, err := mapFile(path)
	if err != nil {
		return nil, err
	}
	t, err := newCSRFile(m.data, kind, verify)
	if err != nil {
		m.close()
		return nil, err
	}
	t.m = m
	return t, nil
}

// newCSRFile checks the header of the list file in data (and the payload
// CRC if verify), that it holds lists of kind, and returns a csrFile
// reading data in place. data must be 8-byte aligned, as a mapping is.
func newCSRFile(data []byte, kind uint32, verify bool) (*csrFile, error) {
	if !littleEndianHost {
		return nil, errors.New("memory-mapped list files need a little-endian host")
	}
	h, err := parseCSRHeader(data, int64(len(data)))
	if err != nil {
		return nil, err
	}
	if h.Kind != kind {
		return nil, fmt.Errorf("%w: list file of kind %d, want %d", ErrCorrupt, h.Kind, kind)
	}
	payload := data[csrHeaderSize:]
	if verify {
		if got := crc32.Checksum(payload, castagnoli); got != h.PayloadCRC {
			return nil, fmt.Errorf("%w: payload checksum mismatch: computed %08x, header says %08x", ErrCorrupt, got, h.PayloadCRC)
		}
	}
	n := int(h.Count)
	t := &csrFile{count: n, offsets: payload[:(n+1)*8]}
	entries := payload[(n+1)*8:]
	if uintptr(unsafe.Pointer(unsafe.SliceData(entries)))%8 != 0 {
		return nil, errors.New("list file entries not 8-byte aligned")
	}
	if h.Entries > 0 {
		p := unsafe.Pointer(&entries[0])
		switch kind {
		case csrKindSeen:
			t.seen = unsafe.Slice((*int32)(p), h.Entries)
		case csrKindNeighbors:
			t.nbrs = unsafe.Slice((*Neighbor)(p), h.Entries)
		case csrKindEvents:
			t.events = unsafe.Slice((*SeenEvent)(p), h.Entries)
		}
	}
	return t, nil
}

// span returns the bounds of list i in entries, checked against the
// number of entries. i must be in [0, count).
func (t *csrFile) span(i int, entries int) (lo, hi uint64, err error) {
	lo = binary.LittleEndian.Uint64(t.offsets[i*8:])
	hi = binary.LittleEndian.Uint64(t.offsets[i*8+8:])
	if lo > hi || hi > uint64(entries) {
		return 0, 0, fmt.Errorf("%w: list file offsets [%d, %d) invalid for index %d", ErrCorrupt, lo, hi, i)
	}
	return lo, hi, nil
}

// seenList appends list i (in [0, count)) to buf and checks that it is
// strictly increasing and below n. On error buf is returned as passed.
func (t *csrFile) seenList(buf []int32, i, n int) ([]int32, error) {
	lo, hi, err := t.span(i, len(t.seen))
	if err != nil {
		return buf, err
	}
	start := len(buf)
	buf = append(buf, t.seen[lo:hi]...)
	prev := int64(-1)
	for _, it := range buf[start:] {
		if int64(it) <= prev || int64(it) >= int64(n) {
			return buf[:start], fmt.Errorf("%w: seen list of %d: item %d after %d, range [0, %d)", ErrCorrupt, i, it, prev, n)
		}
		prev = int64(it)
	}
	return buf, nil
}

// neighborList appends list i (in [0, count)) to buf and checks that every
// item is in [0, n). On error buf is returned as passed.
func (t *csrFile) neighborList(buf []Neighbor, i, n int) ([]Neighbor, error) {
	lo, hi, err := t.span(i, len(t.nbrs))
	if err != nil {
		return buf, err
	}
	start := len(buf)
	buf = append(buf, t.nbrs[lo:hi]...)
	for _, nb := range buf[start:] {
		if uint32(nb.Item) >= uint32(n) {
			return buf[:start], fmt.Errorf("%w: neighbour %d out of range [0, %d)", ErrCorrupt, nb.Item, n)
		}
	}
	return buf, nil
}

func (t *csrFile) close() error {
	if t == nil {
		return nil
	}
	t.offsets, t.seen, t.nbrs, t.events, t.count = nil, nil, nil, nil, 0
	return t.m.close()
}

// csrWriter collects the lists of one list file while a version is built.
// Lists may come in any order, be replaced (the last one wins, as in
// Badger) or never come (empty). Their entries are streamed to a
// temporary file in the staging directory; only each list's position and
// length stay in memory (12 bytes per index, allocated on the first list).
// writeFile assembles the final file in index order.
type csrWriter struct {
	kind  uint32
	count int
	tmp   string // path of the temporary file

	f     *os.File // nil until the first non-empty list
	w     *bufio.Writer
	total uint64   // entries written to the temporary file
	off   []uint64 // index -> first entry in the temporary file
	n     []uint32 // index -> entries
	err   error    // sticky write error
}

func newCSRWriter(kind uint32, count int, tmp string) *csrWriter {
	return &csrWriter{kind: kind, count: count, tmp: tmp}
}

// put records list i, whose entries are encoded in data (len a multiple of
// the entry size) exactly as in the final file.
func (c *csrWriter) put(i int, data []byte) error {
	if c.err != nil {
		return c.err
	}
	es := csrEntrySize(c.kind)
	if c.off == nil {
		c.off = make([]uint64, c.count)
		c.n = make([]uint32, c.count)
	}
	if len(data) == 0 {
		c.off[i], c.n[i] = 0, 0
		return nil
	}
	if c.f == nil {
		f, err := os.OpenFile(c.tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			c.err = err
			return err
		}
		c.f, c.w = f, bufio.NewWriterSize(f, 1<<20)
	}
	if _, err := c.w.Write(data); err != nil {
		c.err = fmt.Errorf("write %s: %w", c.tmp, err)
		return c.err
	}
	k := uint64(len(data)) / es
	c.off[i], c.n[i] = c.total, uint32(k)
	c.total += k
	return nil
}

// writeFile writes the list file at path (mode 0600, fsynced), replacing
// any earlier one, from the lists put so far. The writer stays usable.
func (c *csrWriter) writeFile(path string) error {
	if c.err != nil {
		return c.err
	}
	var src []byte
	if c.f != nil {
		if err := c.w.Flush(); err != nil {
			return fmt.Errorf("write %s: %w", c.tmp, err)
		}
		m, err := mapFile(c.tmp)
		if err != nil {
			return fmt.Errorf("read %s: %w", c.tmp, err)
		}
		defer m.close()
		src = m.data
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, csrHeaderSize)); err != nil {
		return err
	}
	crc := crc32.New(castagnoli)
	w := bufio.NewWriterSize(io.MultiWriter(f, crc), 1<<20)
	var b [8]byte
	var total uint64
	for i := 0; i <= c.count; i++ {
		binary.LittleEndian.PutUint64(b[:], total)
		if _, err := w.Write(b[:]); err != nil {
			return err
		}
		if i < c.count && c.n != nil {
			total += uint64(c.n[i])
		}
	}
	es := csrEntrySize(c.kind)
	for i := 0; i < c.count && c.n != nil; i++ {
		lo, hi := c.off[i]*es, (c.off[i]+uint64(c.n[i]))*es
		if hi > uint64(len(src)) {
			return fmt.Errorf("%s holds %d bytes, list %d ends at %d", c.tmp, len(src), i, hi)
		}
		if _, err := w.Write(src[lo:hi]); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	h := csrHeader{FormatVersion: csrFormatVersion, Kind: c.kind, Count: uint64(c.count), Entries: total, PayloadCRC: crc.Sum32()}
	if _, err := f.WriteAt(h.marshal(), 0); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// close closes and removes the temporary file.
func (c *csrWriter) close() error {
	if c == nil || c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f, c.w = nil, nil
	if c.err == nil {
		c.err = errors.New("list writer closed")
	}
	return errors.Join(err, os.Remove(c.tmp))
}
