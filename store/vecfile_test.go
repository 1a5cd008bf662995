package store

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
)

func TestVecFileRoundTrip(t *testing.T) {
	for _, c := range []struct{ rows, dims int }{{0, 1}, {1, 1}, {3, 16}, {5, 17}, {7, 64}} {
		p := filepath.Join(t.TempDir(), "x.vec")
		data := make([]float32, c.rows*c.dims)
		for i := range data {
			data[i] = float32(i) * 0.5
		}
		h, err := writeVecFile(p, c.rows, c.dims, data)
		if err != nil {
			t.Fatal(err)
		}
		v, err := openVecFile(p, true)
		if err != nil {
			t.Fatalf("open %dx%d: %v", c.rows, c.dims, err)
		}
		if v.header != h {
			t.Errorf("%dx%d: header %+v, want %+v", c.rows, c.dims, v.header, h)
		}
		m := v.matrix
		if m.Rows != c.rows || m.Dims != c.dims || m.Stride != Stride(c.dims) {
			t.Errorf("%dx%d: matrix shape %d x %d stride %d", c.rows, c.dims, m.Rows, m.Dims, m.Stride)
		}
		var got []float32
		for i := range m.Rows {
			row := m.Row(i)
			if uintptr(unsafe.Pointer(&m.Data[i*m.Stride]))%64 != 0 {
				t.Errorf("%dx%d: row %d not 64-byte aligned", c.rows, c.dims, i)
			}
			got = append(got, row...)
		}
		if diff := cmp.Diff(data, got, cmpEmptyFloats); diff != "" {
			t.Errorf("%dx%d: data (-want +got):\n%s", c.rows, c.dims, diff)
		}
		if err := v.close(); err != nil {
			t.Error(err)
		}
	}
}

var cmpEmptyFloats = cmp.FilterValues(func(x, y []float32) bool { return len(x) == 0 && len(y) == 0 }, cmp.Ignore())

// validHeader returns the header of a 3 x 5 float32 file.
func validHeader() []byte {
	b, _ := VecHeader{FormatVersion: 1, Rows: 3, Dims: 5, Stride: 16, PayloadCRC: 0xdeadbeef}.MarshalBinary()
	return b
}

func TestParseVecHeader(t *testing.T) {
	const size = 64 + 3*16*4
	fixCRC := func(b []byte) { binary.LittleEndian.PutUint32(b[36:40], crc32.Checksum(b[:36], castagnoli)) }
	tests := []struct {
		name    string
		edit    func([]byte) []byte
		size    int64
		wantErr error
		text    string
	}{
		{"valid", func(b []byte) []byte { return b }, size, nil, ""},
		{"size unchecked", func(b []byte) []byte { return b }, -1, nil, ""},
		{"short", func(b []byte) []byte { return b[:63] }, size, ErrCorrupt, "truncated header: 63 bytes, want 64"},
		{"magic", func(b []byte) []byte { b[0] = 'X'; return b }, size, ErrCorrupt, "bad magic"},
		{"newer version", func(b []byte) []byte { b[8] = 2; fixCRC(b); return b }, size, ErrFormat, "vector file format version 2"},
		{"newer version bad crc", func(b []byte) []byte { b[8] = 9; return b }, size, ErrFormat, "version 9"},
		{"version 0", func(b []byte) []byte { b[8] = 0; fixCRC(b); return b }, size, ErrCorrupt, "format version 0"},
		{"flipped rows", func(b []byte) []byte { b[16] ^= 1; return b }, size, ErrCorrupt, "header checksum mismatch"},
		{"flipped crc", func(b []byte) []byte { b[37] ^= 1; return b }, size, ErrCorrupt, "header checksum mismatch"},
		{"reserved", func(b []byte) []byte { b[50] = 1; return b }, size, ErrCorrupt, "non-zero reserved"},
		{"dtype", func(b []byte) []byte { b[12] = 1; fixCRC(b); return b }, size, ErrFormat, "unsupported dtype 1"},
		{"zero dims", func(b []byte) []byte { b[24] = 0; fixCRC(b); return b }, size, ErrCorrupt, "zero dims"},
		{"bad stride", func(b []byte) []byte { b[28] = 8; fixCRC(b); return b }, size, ErrCorrupt, "stride 8 for 5 dims, want 16"},
		{"huge rows", func(b []byte) []byte { binary.LittleEndian.PutUint64(b[16:], 1<<62); fixCRC(b); return b }, size, ErrCorrupt, "too large"},
		{"truncated payload", func(b []byte) []byte { return b }, size - 1, ErrCorrupt, "truncated or torn"},
		{"trailing bytes", func(b []byte) []byte { return b }, size + 4, ErrCorrupt, "truncated or torn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseVecHeader(tt.edit(validHeader()), tt.size)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("ParseVecHeader = %v", err)
				}
				want := VecHeader{FormatVersion: 1, Rows: 3, Dims: 5, Stride: 16, PayloadCRC: 0xdeadbeef}
				if h != want {
					t.Errorf("ParseVecHeader = %+v, want %+v", h, want)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("ParseVecHeader error = %v, want %v containing %q", err, tt.wantErr, tt.text)
			}
		})
	}
}

func TestOpenVecFileRefusesDamage(t *testing.T) {
	tests := []struct {
		name   string
		damage func(b []byte) []byte
		verify bool
		text   string
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)-3] }, false, "truncated or torn"},
		{"torn header", func(b []byte) []byte { return b[:40] }, false, "truncated header"},
		{"payload byte", func(b []byte) []byte { b[100] ^= 1; return b }, true, "payload checksum mismatch"},
		{"padding byte", func(b []byte) []byte { b[64+4*15] ^= 1; return b }, true, "payload checksum mismatch"},
		{"header byte", func(b []byte) []byte { b[20] ^= 1; return b }, false, "header checksum mismatch"},
		{"empty", func(b []byte) []byte { return nil }, false, "truncated header: 0 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "x.vec")
			if _, err := writeVecFile(p, 4, 3, make([]float32, 12)); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(p)
			os.WriteFile(p, tt.damage(b), 0o600)
			if !tt.verify {
				if _, err := openVecFile(p, false); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.text) {
					t.Errorf("openVecFile = %v, want ErrCorrupt containing %q", err, tt.text)
				}
				return
			}
			v, err := openVecFile(p, false)
			if err != nil {
				t.Fatalf("openVecFile without verification: %v", err)
			}
			v.close()
			if _, err := openVecFile(p, true); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("openVecFile(verify) = %v, want ErrCorrupt containing %q", err, tt.text)
			}
		})
	}
}

func FuzzVectorHeader(f *testing.F) {
	f.Add(validHeader(), int64(64+3*16*4))
	f.Add(validHeader()[:10], int64(10))
	f.Add([]byte("PCVEC\x00\x00\x00\x02\x00\x00\x00"), int64(-1))
	f.Fuzz(func(t *testing.T, b []byte, size int64) {
		h, err := ParseVecHeader(b, size)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrFormat) {
				t.Fatalf("ParseVecHeader error %v wraps neither ErrCorrupt nor ErrFormat", err)
			}
			return
		}
		// A header that parses re-encodes to the same 64 bytes and parses again.
		enc, _ := h.MarshalBinary()
		if string(enc) != string(b[:VecHeaderSize]) {
			t.Fatalf("re-encoded header differs:\n got %x\nwant %x", enc, b[:VecHeaderSize])
		}
		h2, err := ParseVecHeader(enc, size)
		if err != nil || h2 != h {
			t.Fatalf("round trip = %+v, %v, want %+v", h2, err, h)
		}
		if size >= 0 && uint64(size) != VecHeaderSize+h.PayloadSize() {
			t.Fatalf("accepted size %d for %+v", size, h)
		}
	})
}
