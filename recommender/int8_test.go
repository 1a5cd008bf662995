package recommender

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
	"unsafe"

	"github.com/polecam/polecam/recommender/ann"
	"github.com/polecam/polecam/recommender/dot"
)

// int8File returns a valid int8 items file for d, in a fresh 8-byte
// aligned buffer.
func int8File(t testing.TB, d *modelData) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteInt8Items(&buf, packMatrix(d.itemVecs, d.dims())); err != nil {
		t.Fatalf("WriteInt8Items: %v", err)
	}
	return aligned(buf.Bytes())
}

// aligned copies b into memory aligned like a mapping's start.
func aligned(b []byte) []byte {
	words := make([]uint64, (len(b)+7)/8)
	out := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(words))), len(words)*8)[:len(b)]
	copy(out, b)
	return out
}

func TestWriteInt8ItemsRoundTrip(t *testing.T) {
	for _, dims := range []int{1, 31, 32, 33, 64} {
		d := randomData(101, dims)
		it, err := parseInt8Items(int8File(t, d))
		if err != nil {
			t.Fatalf("dims=%d: parseInt8Items: %v", dims, err)
		}
		w := dot.Int8Width(dims)
		if it.dims != dims || it.width != w || len(it.scales) != 101 || len(it.rows) != 101*w {
			t.Fatalf("dims=%d: parsed %d dims, width %d, %d scales, %d row bytes", dims, it.dims, it.width, len(it.scales), len(it.rows))
		}
		row := make([]int8, w)
		for i, v := range d.itemVecs {
			scale := dot.QuantizeVector(row, v)
			if scale != it.scales[i] || !bytes.Equal(int8Bytes(row), int8Bytes(it.rows[i*w:(i+1)*w])) {
				t.Errorf("dims=%d: row %d = %v × %v, want %v × %v", dims, i, it.rows[i*w:(i+1)*w], it.scales[i], row, scale)
			}
			if it.maxScale < scale {
				t.Errorf("dims=%d: maxScale %v below row %d's scale %v", dims, it.maxScale, i, scale)
			}
		}
	}
}

func int8Bytes(v []int8) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), len(v))
}

func TestParseInt8ItemsRejects(t *testing.T) {
	d := randomData(10, 40)
	good := int8File(t, d)
	_, rowsOff, _ := int8Layout(10, 64)
	tests := []struct {
		name   string
		edit   func(b []byte) []byte
		substr string
	}{
		{"empty", func(b []byte) []byte { return b[:0] }, "shorter than"},
		{"bad magic", func(b []byte) []byte { b[0] = 'X'; return b }, "bad magic"},
		{"future version", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[8:], 2); return b }, "format version 2"},
		{"zero dims", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[12:], 0); return b }, "0 dimensions"},
		{"wrong width", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[24:], 32); return b }, "row width 32"},
		{"huge row count", func(b []byte) []byte { binary.LittleEndian.PutUint64(b[16:], 1<<40); return b }, "do not fit"},
		{"moved scales", func(b []byte) []byte { binary.LittleEndian.PutUint64(b[32:], 128); return b }, "scales at offset"},
		{"moved rows", func(b []byte) []byte { binary.LittleEndian.PutUint64(b[40:], 0); return b }, "rows at offset"},
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }, "need"},
		{"trailing bytes", func(b []byte) []byte { return aligned(append(b, 0)) }, "need"},
		{"NaN scale", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[64+4*3:], math.Float32bits(float32(math.NaN())))
			return b
		}, "scale of row 3"},
		{"negative scale", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[64:], math.Float32bits(-1))
			return b
		}, "scale of row 0"},
		{"unaligned", func(b []byte) []byte { return append(make([]byte, 1, len(b)+8), b...)[1:] }, "aligned"},
	}
	for _, tt := range tests {
		b := tt.edit(aligned(good))
		if tt.name == "unaligned" && uintptr(unsafe.Pointer(unsafe.SliceData(b)))%4 == 0 {
			t.Fatalf("%s: could not make an unaligned buffer", tt.name)
		}
		_, err := parseInt8Items(b)
		if !errors.Is(err, errInt8Format) || !strings.Contains(err.Error(), tt.substr) {
			t.Errorf("%s: parseInt8Items = %v, want %v containing %q", tt.name, err, errInt8Format, tt.substr)
		}
	}
	if rowsOff%64 != 0 {
		t.Errorf("rows start at offset %d, want a multiple of 64", rowsOff)
	}
}

// TestNewModelRejectsForeignInt8 checks that an int8 file that does not
// belong to the item factors beside it stops the model loading, unless
// int8 is switched off.
func TestNewModelRejectsForeignInt8(t *testing.T) {
	d := randomData(200, 16)
	other := randomData(200, 16)
	other.itemVecs[0][0] += 1 // row 0 is among the spot checks
	fewer := randomData(199, 16)
	wider := randomData(200, 17)
	for name, file := range map[string]*modelData{"different vectors": other, "fewer rows": fewer, "more dims": wider} {
		f := newFake("v", d)
		f.files = map[string][]byte{Int8ItemsFile: int8File(t, file)}
		if m, err := NewModel(f); err == nil {
			m.Close()
			t.Errorf("%s: NewModel accepted an int8 file of other vectors", name)
		} else if !strings.Contains(err.Error(), Int8ItemsFile) {
			t.Errorf("%s: NewModel error %q does not name %s", name, err, Int8ItemsFile)
		}
		opts := DefaultModelOptions()
		opts.Int8 = false
		m, err := NewModelWithOptions(f.reopen(), opts)
		if err != nil {
			t.Errorf("%s: NewModelWithOptions without int8: %v", name, err)
			continue
		}
		if m.UsesInt8() {
			t.Errorf("%s: UsesInt8() = true with Int8 off", name)
		}
		m.Close()
	}
}

func TestModelOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*ModelOptions)
		ok   bool
	}{
		{"defaults", func(*ModelOptions) {}, true},
		{"one worker", func(o *ModelOptions) { o.Workers = 1 }, true},
		{"no workers", func(o *ModelOptions) { o.Workers = 0 }, false},
		{"too many workers", func(o *ModelOptions) { o.Workers = maxWorkers + 1 }, false},
		{"zero threshold", func(o *ModelOptions) { o.ParallelMinItems = 0 }, false},
		{"zero int8 threshold", func(o *ModelOptions) { o.Int8ParallelMinItems = 0 }, false},
		{"int8 threshold of 1", func(o *ModelOptions) { o.Int8ParallelMinItems = 1 }, true},
		{"ann ef set", func(o *ModelOptions) { o.ANNEf = 64 }, true},
		{"negative ann ef", func(o *ModelOptions) { o.ANNEf = -1 }, false},
		{"ann ef too large", func(o *ModelOptions) { o.ANNEf = ann.MaxEf + 1 }, false},
	}
	for _, tt := range tests {
		o := DefaultModelOptions()
		tt.edit(&o)
		if err := o.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", tt.name, err, tt.ok)
		}
		m, err := NewModelWithOptions(newFake("v", smallData()), o)
		if (err == nil) != tt.ok {
			t.Errorf("%s: NewModelWithOptions error = %v, want ok %v", tt.name, err, tt.ok)
		}
		if err == nil {
			m.Close()
		}
	}
}

// FuzzParseInt8Items checks that no file makes the parser panic or hand
// out views outside the file.
func FuzzParseInt8Items(f *testing.F) {
	f.Add(int8File(f, randomData(3, 5)))
	f.Add(int8File(f, randomData(1, 64)))
	f.Add([]byte("PCI8ITM\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		b = aligned(b)
		it, err := parseInt8Items(b)
		if err != nil {
			return
		}
		lo := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		hi := lo + uintptr(len(b))
		inside := func(p unsafe.Pointer, n uintptr) bool {
			return n == 0 || uintptr(p) >= lo && uintptr(p)+n <= hi
		}
		if !inside(unsafe.Pointer(unsafe.SliceData(it.scales)), 4*uintptr(len(it.scales))) ||
			!inside(unsafe.Pointer(unsafe.SliceData(it.rows)), uintptr(len(it.rows))) ||
			len(it.rows) != len(it.scales)*it.width {
			t.Fatalf("parseInt8Items(%d bytes) views lie outside the file", len(b))
		}
	})
}
