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
	idsFormatVersion = 1
)

var idsMagic = [8]byte{'P', 'C', 'I', 'D', 'S', 0, 0, 0}

type idsHeader struct {
	FormatVersion uint32
	Count         uint64
	BlobLen       uint64
	PayloadCRC    uint32
}

func (h idsHeader) marshal() []byte {
	b := make([]byte, idsHeaderSize)
	copy(b[0:8], idsMagic[:])
	binary.LittleEndian.PutUint32(b[8:12], h.FormatVersion)
	binary.LittleEndian.PutUint64(b[16:24], h.Count)
	binary.LittleEndian.PutUint64(b[24:32], h.BlobLen)
	binary.LittleEndian.PutUint32(b[32:36], h.PayloadCRC)
	binary.LittleEndian.PutUint32(b[36:40], crc32.Checksum(b[0:36], castagnoli))
	return b
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
	if want := idsHeaderSize + (h.Count+1)*8 + h.BlobLen; uint64(fileSize) != want {
		return h, fmt.Errorf("%w: file is %d bytes, header announces %d: truncated or torn", ErrCorrupt, fileSize, want)
	}
	return h, nil
}

// writeIDsFile writes the id table for ids at path (mode 0600, fsynced).
func writeIDsFile(path string, ids []string) error {
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
	if err := w.Flush(); err != nil {
		return err
	}
	h := idsHeader{FormatVersion: idsFormatVersion, Count: uint64(len(ids)), BlobLen: off, PayloadCRC: crc.Sum32()}
	if _, err := f.WriteAt(h.marshal(), 0); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// idTable is a memory-mapped id table: index -> external id without
// decoding anything at open.
type idTable struct {
	m       *mappedFile
	count   int
	offsets []byte // (count+1) uint64 LE
	blob    []byte
}

func openIDTable(path string, verify bool) (*idTable, error) {
	m, err := mapFile(path)
	if err != nil {
		return nil, err
	}
	h, err := parseIDsHeader(m.data, int64(len(m.data)))
	if err != nil {
		m.close()
		return nil, err
	}
	payload := m.data[idsHeaderSize:]
	if verify {
		if got := crc32.Checksum(payload, castagnoli); got != h.PayloadCRC {
			m.close()
			return nil, fmt.Errorf("%w: payload checksum mismatch: computed %08x, header says %08x", ErrCorrupt, got, h.PayloadCRC)
		}
	}
	n := int(h.Count)
	return &idTable{m: m, count: n, offsets: payload[:(n+1)*8], blob: payload[(n+1)*8:]}, nil
}

// id returns a copy of the id at index i. Offsets are checked on use, so a
// damaged table yields an error instead of a wrong slice.
func (t *idTable) id(i int) (string, error) {
	if i < 0 || i >= t.count {
		return "", fmt.Errorf("%w: index %d out of range [0, %d)", ErrNotFound, i, t.count)
	}
	lo := binary.LittleEndian.Uint64(t.offsets[i*8:])
	hi := binary.LittleEndian.Uint64(t.offsets[i*8+8:])
	if lo > hi || hi > uint64(len(t.blob)) {
		return "", fmt.Errorf("%w: id table offsets [%d, %d) invalid for index %d", ErrCorrupt, lo, hi, i)
	}
	return string(t.blob[lo:hi]), nil
}

func (t *idTable) close() error {
	if t == nil {
		return nil
	}
	t.offsets, t.blob, t.count = nil, nil, 0
	return t.m.close()
}
