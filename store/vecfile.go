package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Vector file format constants. See the package documentation for the layout.
const (
	// VecHeaderSize is the size of a vector file header; the payload starts here.
	VecHeaderSize = 64
	// VecFormatVersion is the vector file format version this package writes and reads.
	VecFormatVersion = 1
	// DTypeFloat32 is the only supported element type: IEEE-754 float32, little-endian.
	DTypeFloat32 = 0
	// RowAlign is the number of floats every row is padded to (16 floats = 64 bytes).
	RowAlign = 16
)

var vecMagic = [8]byte{'P', 'C', 'V', 'E', 'C', 0, 0, 0}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// VecHeader is the decoded 64-byte header of a vector file.
type VecHeader struct {
	FormatVersion uint32
	DType         uint32
	Rows          uint64
	Dims          uint32
	Stride        uint32
	PayloadCRC    uint32
}

// Stride returns the number of floats per stored row for dims: dims rounded up
// to a multiple of RowAlign.
func Stride(dims int) int { return (dims + RowAlign - 1) / RowAlign * RowAlign }

// PayloadSize returns the payload size in bytes announced by the header.
func (h VecHeader) PayloadSize() uint64 { return h.Rows * uint64(h.Stride) * 4 }

// MarshalBinary encodes the header into its 64-byte form, computing the
// header CRC.
func (h VecHeader) MarshalBinary() ([]byte, error) {
	b := make([]byte, VecHeaderSize)
	copy(b[0:8], vecMagic[:])
	binary.LittleEndian.PutUint32(b[8:12], h.FormatVersion)
	binary.LittleEndian.PutUint32(b[12:16], h.DType)
	binary.LittleEndian.PutUint64(b[16:24], h.Rows)
	binary.LittleEndian.PutUint32(b[24:28], h.Dims)
	binary.LittleEndian.PutUint32(b[28:32], h.Stride)
	binary.LittleEndian.PutUint32(b[32:36], h.PayloadCRC)
	binary.LittleEndian.PutUint32(b[36:40], crc32.Checksum(b[0:36], castagnoli))
	return b, nil
}

// ParseVecHeader decodes and validates a vector file header. fileSize is the
// size of the whole file; a negative fileSize skips the size check. Errors
// wrap ErrCorrupt, or ErrFormat for a newer format version or unknown dtype.
func ParseVecHeader(b []byte, fileSize int64) (VecHeader, error) {
	var h VecHeader
	if len(b) < VecHeaderSize {
		return h, fmt.Errorf("%w: truncated header: %d bytes, want %d", ErrCorrupt, len(b), VecHeaderSize)
	}
	if [8]byte(b[0:8]) != vecMagic {
		return h, fmt.Errorf("%w: bad magic %q, want %q", ErrCorrupt, b[0:8], vecMagic[:])
	}
	h.FormatVersion = binary.LittleEndian.Uint32(b[8:12])
	// Magic and version keep their positions in every format version, so a
	// newer file is recognised as such before its header is interpreted.
	if h.FormatVersion > VecFormatVersion {
		return h, fmt.Errorf("%w: vector file format version %d, this build reads up to %d", ErrFormat, h.FormatVersion, VecFormatVersion)
	}
	if got, want := crc32.Checksum(b[0:36], castagnoli), binary.LittleEndian.Uint32(b[36:40]); got != want {
		return h, fmt.Errorf("%w: header checksum mismatch: computed %08x, stored %08x", ErrCorrupt, got, want)
	}
	if h.FormatVersion == 0 {
		return h, fmt.Errorf("%w: vector file format version 0", ErrCorrupt)
	}
	for _, c := range b[40:VecHeaderSize] {
		if c != 0 {
			return h, fmt.Errorf("%w: non-zero reserved header bytes", ErrCorrupt)
		}
	}
	h.DType = binary.LittleEndian.Uint32(b[12:16])
	h.Rows = binary.LittleEndian.Uint64(b[16:24])
	h.Dims = binary.LittleEndian.Uint32(b[24:28])
	h.Stride = binary.LittleEndian.Uint32(b[28:32])
	h.PayloadCRC = binary.LittleEndian.Uint32(b[32:36])
	if h.DType != DTypeFloat32 {
		return h, fmt.Errorf("%w: unsupported dtype %d", ErrFormat, h.DType)
	}
	if h.Dims == 0 {
		return h, fmt.Errorf("%w: zero dims", ErrCorrupt)
	}
	if want := Stride(int(h.Dims)); uint64(h.Stride) != uint64(want) {
		return h, fmt.Errorf("%w: stride %d for %d dims, want %d", ErrCorrupt, h.Stride, h.Dims, want)
	}
	if h.Rows > (math.MaxInt64-VecHeaderSize)/(uint64(h.Stride)*4) {
		return h, fmt.Errorf("%w: row count %d too large", ErrCorrupt, h.Rows)
	}
	if fileSize >= 0 {
		if want := VecHeaderSize + h.PayloadSize(); uint64(fileSize) != want {
			return h, fmt.Errorf("%w: file is %d bytes, header announces %d (%d rows x %d floats): truncated or torn",
				ErrCorrupt, fileSize, want, h.Rows, h.Stride)
		}
	}
	return h, nil
}

// writeVecFile writes a vector file at path (mode 0600, fsynced) from
// row-major data of rows x dims, padding every row to the stride. It returns
// the header written.
func writeVecFile(path string, rows, dims int, data []float32) (VecHeader, error) {
	if rows < 0 || dims <= 0 {
		return VecHeader{}, fmt.Errorf("invalid shape %d x %d", rows, dims)
	}
	if len(data) != rows*dims {
		return VecHeader{}, fmt.Errorf("data has %d floats, want %d x %d = %d", len(data), rows, dims, rows*dims)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return VecHeader{}, err
	}
	defer f.Close()
	stride := Stride(dims)
	h := VecHeader{FormatVersion: VecFormatVersion, DType: DTypeFloat32, Rows: uint64(rows), Dims: uint32(dims), Stride: uint32(stride)}
	// Reserve the header, stream the payload, then go back for the header.
	if _, err := f.Write(make([]byte, VecHeaderSize)); err != nil {
		return h, err
	}
	crc := crc32.New(castagnoli)
	w := bufio.NewWriterSize(io.MultiWriter(f, crc), 1<<20)
	row := make([]byte, stride*4)
	for i := range rows {
		for j, v := range data[i*dims : (i+1)*dims] {
			binary.LittleEndian.PutUint32(row[j*4:], math.Float32bits(v))
		}
		if _, err := w.Write(row); err != nil {
			return h, err
		}
	}
	if err := w.Flush(); err != nil {
		return h, err
	}
	h.PayloadCRC = crc.Sum32()
	hb, _ := h.MarshalBinary()
	if _, err := f.WriteAt(hb, 0); err != nil {
		return h, err
	}
	if err := f.Sync(); err != nil {
		return h, err
	}
	return h, f.Close()
}

// mappedFile is a read-only shared memory mapping of a whole file.
type mappedFile struct {
	data []byte
}

func mapFile(path string) (*mappedFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size == 0 {
		return &mappedFile{}, nil
	}
	if size > math.MaxInt {
		return nil, fmt.Errorf("file too large to map: %d bytes", size)
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap: %w", err)
	}
	mappedBytes.Add(int64(len(data)))
	return &mappedFile{data: data}, nil
}

func (m *mappedFile) close() error {
	if m == nil || m.data == nil {
		return nil
	}
	n := len(m.data)
	err := unix.Munmap(m.data)
	m.data = nil
	mappedBytes.Add(-int64(n))
	return err
}

// mappedBytes counts the bytes of all live mappings made by mapFile.
var mappedBytes atomic.Int64

// MappedBytes returns how many bytes the vector files, id tables and
// auxiliary files of all open Snapshots in this process currently map
// (Badger's own mappings are not counted). It returns to its earlier value
// once the snapshots opened since are closed, so tests and metrics can
// check that no mapping leaks.
func MappedBytes() int64 { return mappedBytes.Load() }

// vecFile is an open, validated, memory-mapped vector file.
type vecFile struct {
	m      *mappedFile
	header VecHeader
	matrix Matrix
}

var littleEndianHost = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// openVecFile maps and validates the vector file at path. When verify is
// set the payload CRC is checked too (reads the whole file).
func openVecFile(path string, verify bool) (*vecFile, error) {
	if !littleEndianHost {
		return nil, errors.New("memory-mapped vector files need a little-endian host")
	}
	m, err := mapFile(path)
	if err != nil {
		return nil, err
	}
	h, err := ParseVecHeader(m.data, int64(len(m.data)))
	if err != nil {
		m.close()
		return nil, err
	}
	payload := m.data[VecHeaderSize:]
	if verify {
		if got := crc32.Checksum(payload, castagnoli); got != h.PayloadCRC {
			m.close()
			return nil, fmt.Errorf("%w: payload checksum mismatch: computed %08x, header says %08x", ErrCorrupt, got, h.PayloadCRC)
		}
	}
	v := &vecFile{m: m, header: h}
	v.matrix = Matrix{Rows: int(h.Rows), Dims: int(h.Dims), Stride: int(h.Stride)}
	if n := int(h.Rows) * int(h.Stride); n > 0 {
		// The mapping is page aligned and the header is 64 bytes, so every
		// row starts on a 64-byte boundary.
		v.matrix.Data = unsafe.Slice((*float32)(unsafe.Pointer(&payload[0])), n)
	}
	return v, nil
}

func (v *vecFile) close() error {
	if v == nil {
		return nil
	}
	v.matrix = Matrix{}
	return v.m.close()
}

// crcOf returns the CRC-32C of the whole file at path and its size.
func crcOf(path string) (size int64, sum uint32, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	var h hash.Hash32 = crc32.New(castagnoli)
	n, err := io.Copy(h, f)
	return n, h.Sum32(), err
}
