package store

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
)

// Id table file format constants. See the package documentation.
const (
	idsHeaderSize    = 64
	idsFormatVersion = 2
	// idsMaxHashBits bounds the hash table of a version-2 file: 2^32 slots
	// hold any count up to math.MaxInt32 at load factor 1/2.
	idsMaxHashBits = 32
)

var idsMagic = [8]byte{'P', 'C', 'I', 'D', 'S', 0, 0, 0}

type idsHeader struct {
	FormatVersion uint32
	HashBits      uint32 // version 2: the hash table has 1<<HashBits slots; 0 in version 1
	Count         uint64
	BlobLen       uint64
	PayloadCRC    uint32
}

func (h idsHeader) marshal() []byte {
	b := make([]byte, idsHeaderSize)
	copy(b[0:8], idsMagic[:])
	binary.LittleEndian.PutUint32(b[8:12], h.FormatVersion)
	binary.LittleEndian.PutUint32(b[12:16], h.HashBits)
	binary.LittleEndian.PutUint64(b[16:24], h.Count)
	binary.LittleEndian.PutUint64(b[24:32], h.BlobLen)
	binary.LittleEndian.PutUint32(b[32:36], h.PayloadCRC)
	binary.LittleEndian.PutUint32(b[36:40], crc32.Checksum(b[0:36], castagnoli))
	return b
}

// blobPadded returns the blob length rounded up to 8 bytes (version 2).
func (h idsHeader) blobPadded() uint64 {
	if h.FormatVersion < 2 {
		return h.BlobLen
	}
	return (h.BlobLen + 7) &^ 7
}

// slots returns the number of hash table slots (0 in version 1).
func (h idsHeader) slots() uint64 {
	if h.FormatVersion < 2 {
		return 0
	}
	return 1 << h.HashBits
}

func parseIDsHeader(b []byte, fileSize int64) (idsHeader, error) {
	var h idsHeader
	if len(b) < idsHeaderSize {
		return h, fmt.Errorf("%w: truncated header: %d bytes, want %d", ErrCorrupt, len(b), idsHeaderSize)
	}
	if [8]byte(b[0:8]) != idsMagic {
		return h, fmt.Errorf("%w: bad magic %q, want %q", ErrCorrupt, b[0:8], idsMagic[:])
	}
	h.FormatVersion = binary.LittleEndian.Uint32(b[8:12])
	if h.FormatVersion > idsFormatVersion {
		return h, fmt.Errorf("%w: id table format version %d, this build reads up to %d", ErrFormat, h.FormatVersion, idsFormatVersion)
	}
	if got, want := crc32.Checksum(b[0:36], castagnoli), binary.LittleEndian.Uint32(b[36:40]); got != want {
		return h, fmt.Errorf("%w: header checksum mismatch: computed %08x, stored %08x", ErrCorrupt, got, want)
	}
	h.Count = binary.LittleEndian.Uint64(b[16:24])
	h.BlobLen = binary.LittleEndian.Uint64(b[24:32])
	h.PayloadCRC = binary.LittleEndian.Uint32(b[32:36])
	if h.FormatVersion == 0 || h.Count > math.MaxInt32 || h.BlobLen > math.MaxInt64/2 {
		return h, fmt.Errorf("%w: invalid id table header", ErrCorrupt)
	}
	if h.FormatVersion >= 2 {
		h.HashBits = binary.LittleEndian.Uint32(b[12:16])
		if h.HashBits > idsMaxHashBits || h.slots() < 2*h.Count {
			return h, fmt.Errorf("%w: hash table of %d bits for %d ids", ErrCorrupt, h.HashBits, h.Count)
		}
	}
	if want := idsHeaderSize + (h.Count+1)*8 + h.blobPadded() + 4*h.slots(); uint64(fileSize) != want {
		return h, fmt.Errorf("%w: file is %d bytes, header announces %d: truncated or torn", ErrCorrupt, fileSize, want)
	}
	return h, nil
}

// idHash is the hash of the id table: 64-bit FNV-1a of the id's bytes with
// the high half folded into the low one, so that the low bits that pick a
// slot depend on all of it. It is part of the file format.
func idHash(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return h ^ h>>32
}

// idsHashBits returns the smallest b with 1<<b >= 2*count.
func idsHashBits(count int) uint32 {
	var b uint32
	for uint64(1)<<b < 2*uint64(count) {
		b++
	}
	return b
}

// buildIDHash returns the hash table slots for ids (unique): slot s holds
// index+1 of the id stored there, 0 when empty; collisions probe linearly.
func buildIDHash(ids []string, bits uint32) []uint32 {
	slots := make([]uint32, 1<<bits)
	mask := uint64(len(slots) - 1)
	for i, id := range ids {
		s := idHash(id) & mask
		for slots[s] != 0 {
			s = (s + 1) & mask
		}
		slots[s] = uint32(i) + 1
	}
	return slots
}

// writeIDsFile writes the id table for ids at path (mode 0600, fsynced) in
// the current format.
func writeIDsFile(path string, ids []string) error {
	return writeIDsFileVersion(path, ids, idsFormatVersion)
}

// writeIDsFileVersion writes format version 1 (no hash table) or 2. Version
// 1 is kept so that tests can write what older builds wrote.
func writeIDsFileVersion(path string, ids []string, version uint32) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, idsHeaderSize)); err != nil {
		return err
	}
	crc := crc32.New(castagnoli)
	w := bufio.NewWriterSize(io.MultiWriter(f, crc), 1<<20)
	var b [8]byte
	var off uint64
	for i := 0; i <= len(ids); i++ {
		binary.LittleEndian.PutUint64(b[:], off)
		if _, err := w.Write(b[:]); err != nil {
			return err
		}
		if i < len(ids) {
			off += uint64(len(ids[i]))
		}
	}
	for _, id := range ids {
		if _, err := w.WriteString(id); err != nil {
			return err
		}
	}
	h := idsHeader{FormatVersion: version, Count: uint64(len(ids)), BlobLen: off}
	if version >= 2 {
		if _, err := w.Write(make([]byte, h.blobPadded()-off)); err != nil {
			return err
		}
		h.HashBits = idsHashBits(len(ids))
		for _, v := range buildIDHash(ids, h.HashBits) {
			binary.LittleEndian.PutUint32(b[:4], v)
			if _, err := w.Write(b[:4]); err != nil {
				return err
			}
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	h.PayloadCRC = crc.Sum32()
	if _, err := f.WriteAt(h.marshal(), 0); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// idTable is a memory-mapped id table: index -> external id and, from
// format version 2, external id -> index, without decoding anything at open.
type idTable struct {
	m       *mappedFile
	count   int
	offsets []byte // (count+1) uint64 LE
	blob    []byte
	slots   []byte // 4<<HashBits bytes of uint32 LE; nil in version 1
}

func openIDTable(path string, verify bool) (*idTable, error) {
	m, err := mapFile(path)
	if err != nil {
		return nil, err
	}
	t, err := newIDTable(m.data, verify)
	if err != nil {
		m.close()
		return nil, err
	}
	t.m = m
	return t, nil
}

// newIDTable checks the header of the id table in data (and the payload
// CRC if verify) and returns a table reading data in place.
func newIDTable(data []byte, verify bool) (*idTable, error) {
	h, err := parseIDsHeader(data, int64(len(data)))
	if err != nil {
		return nil, err
	}
	payload := data[idsHeaderSize:]
	if verify {
		if got := crc32.Checksum(payload, castagnoli); got != h.PayloadCRC {
			return nil, fmt.Errorf("%w: payload checksum mismatch: computed %08x, header says %08x", ErrCorrupt, got, h.PayloadCRC)
		}
	}
	n := int(h.Count)
	t := &idTable{count: n, offsets: payload[:(n+1)*8]}
	rest := payload[(n+1)*8:]
	t.blob = rest[:h.BlobLen:h.BlobLen]
	if h.FormatVersion >= 2 {
		t.slots = rest[h.blobPadded():]
	}
	return t, nil
}

// hashed reports whether the table can map ids to indexes (version 2).
func (t *idTable) hashed() bool { return t != nil && t.slots != nil }

// span returns the bounds of id i in the blob, checked against the blob.
func (t *idTable) span(i int) (lo, hi uint64, err error) {
	lo = binary.LittleEndian.Uint64(t.offsets[i*8:])
	hi = binary.LittleEndian.Uint64(t.offsets[i*8+8:])
	if lo > hi || hi > uint64(len(t.blob)) {
		return 0, 0, fmt.Errorf("%w: id table offsets [%d, %d) invalid for index %d", ErrCorrupt, lo, hi, i)
	}
	return lo, hi, nil
}

// id returns a copy of the id at index i. Offsets are checked on use, so a
// damaged table yields an error instead of a wrong slice.
func (t *idTable) id(i int) (string, error) {
	if i < 0 || i >= t.count {
		return "", fmt.Errorf("%w: index %d out of range [0, %d)", ErrNotFound, i, t.count)
	}
	lo, hi, err := t.span(i)
	if err != nil {
		return "", err
	}
	return string(t.blob[lo:hi]), nil
}

// index returns the index of id through the hash table, and whether it is
// there. It does not allocate. Every slot and offset read is checked, so a
// damaged table yields ErrCorrupt or a miss, never another id's index: a
// candidate is returned only if its bytes equal id. The table must be
// hashed.
func (t *idTable) index(id string) (int, bool, error) {
	n := uint64(len(t.slots) / 4)
	mask := n - 1
	s := idHash(id) & mask
	for range n {
		v := binary.LittleEndian.Uint32(t.slots[s*4:])
		if v == 0 {
			return 0, false, nil
		}
		i := uint64(v - 1)
		if i >= uint64(t.count) {
			return 0, false, fmt.Errorf("%w: hash slot %d holds index %d, out of range [0, %d)", ErrCorrupt, s, i, t.count)
		}
		lo, hi, err := t.span(int(i))
		if err != nil {
			return 0, false, err
		}
		if string(t.blob[lo:hi]) == id {
			return int(i), true, nil
		}
		s = (s + 1) & mask
	}
	return 0, false, fmt.Errorf("%w: hash table of %d slots has no empty slot", ErrCorrupt, n)
}

// checkIndex checks that the hash table maps every id to its own index and
// holds nothing else. It reads the whole table.
func (t *idTable) checkIndex() error {
	if !t.hashed() {
		return nil
	}
	used := 0
	for s := 0; s < len(t.slots); s += 4 {
		if binary.LittleEndian.Uint32(t.slots[s:]) != 0 {
			used++
		}
	}
	if used != t.count {
		return fmt.Errorf("%w: hash table holds %d entries for %d ids", ErrCorrupt, used, t.count)
	}
	for i := range t.count {
		id, err := t.id(i)
		if err != nil {
			return err
		}
		j, ok, err := t.index(id)
		if err != nil {
			return err
		}
		if !ok || j != i {
			return fmt.Errorf("%w: hash table maps id %q of index %d to %d (found %v)", ErrCorrupt, id, i, j, ok)
		}
	}
	return nil
}

func (t *idTable) close() error {
	if t == nil {
		return nil
	}
	t.offsets, t.blob, t.slots, t.count = nil, nil, nil, 0
	return t.m.close()
}
