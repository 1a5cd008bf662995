package ann

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
)

const (
	smallRows = 300
	smallDims = 8
)

// smallIndex returns a small built index, its vectors and its bytes.
func smallIndex(tb testing.TB) (*Index, []float32, []byte) {
	tb.Helper()
	data := clustered(12, smallRows, smallDims)
	opts := DefaultOptions()
	opts.M = 4
	opts.Workers = 1
	ix, err := Build(context.Background(), data, smallRows, smallDims, smallDims, opts)
	if err != nil {
		tb.Fatalf("Build: %v", err)
	}
	var buf bytes.Buffer
	if _, err := ix.WriteTo(&buf); err != nil {
		tb.Fatalf("WriteTo: %v", err)
	}
	return ix, data, buf.Bytes()
}

// reseal recomputes both checksums of b in place, as a forger would.
func reseal(b []byte) []byte {
	le := binary.LittleEndian
	le.PutUint32(b[44:], crc32.Checksum(b[headerSize:], castagnoli))
	le.PutUint32(b[60:], crc32.Checksum(b[:60], castagnoli))
	return b
}

func TestLoadRejects(t *testing.T) {
	ix, data, good := smallIndex(t)
	m0 := 2 * ix.m
	level0At := func(row, word int) int { return headerSize + 4*(row*(m0+1)+word) }
	levelsAt := headerSize + 4*(len(ix.level0)+len(ix.upperOff)+len(ix.upper))
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	setWord := func(off int, v uint32) func([]byte) []byte {
		return func(b []byte) []byte { binary.LittleEndian.PutUint32(b[off:], v); return b }
	}
	// A row with at least one link, to corrupt.
	linked := 0
	for ix.level0[linked*(m0+1)] == 0 {
		linked++
	}
	tests := []struct {
		name    string
		b       []byte
		rows    int
		dims    int
		corrupt bool // the error wraps ErrCorrupt
	}{
		{"empty", nil, smallRows, smallDims, true},
		{"header cut short", good[:headerSize-1], smallRows, smallDims, true},
		{"truncated by one byte", good[:len(good)-1], smallRows, smallDims, true},
		{"truncated body", good[:headerSize+100], smallRows, smallDims, true},
		{"trailing byte", append(bytes.Clone(good), 0), smallRows, smallDims, true},
		{"bad magic", mutate(func(b []byte) []byte { b[0] ^= 1; return b }), smallRows, smallDims, true},
		{"header bit flip", mutate(func(b []byte) []byte { b[20] ^= 1; return b }), smallRows, smallDims, true},
		{"body bit flip", mutate(func(b []byte) []byte { b[len(b)/2] ^= 0x10; return b }), smallRows, smallDims, true},
		{"newer version", mutate(func(b []byte) []byte { return reseal(setWord(8, 2)(b)) }), smallRows, smallDims, true},
		{"M out of range", mutate(func(b []byte) []byte { return reseal(setWord(20, 1)(b)) }), smallRows, smallDims, true},
		{"zero EfSearch", mutate(func(b []byte) []byte { return reseal(setWord(24, 0)(b)) }), smallRows, smallDims, true},
		{"top layer too high", mutate(func(b []byte) []byte { return reseal(setWord(28, maxLevels)(b)) }), smallRows, smallDims, true},
		{"entry outside rows", mutate(func(b []byte) []byte { return reseal(setWord(32, smallRows)(b)) }), smallRows, smallDims, true},
		{"more nodes than rows", mutate(func(b []byte) []byte { return reseal(setWord(36, smallRows+1)(b)) }), smallRows, smallDims, true},
		{"reserved byte set", mutate(func(b []byte) []byte { b[50] = 1; return reseal(b) }), smallRows, smallDims, true},
		{"link outside rows", mutate(func(b []byte) []byte { return reseal(setWord(level0At(linked, 1), smallRows)(b)) }), smallRows, smallDims, true},
		{"count over capacity", mutate(func(b []byte) []byte { return reseal(setWord(level0At(linked, 0), uint32(m0+1))(b)) }), smallRows, smallDims, true},
		{"row above the top layer", mutate(func(b []byte) []byte { b[levelsAt+linked] = maxLevels - 1; return reseal(b) }), smallRows, smallDims, true},
		{"upper lists past the end", mutate(func(b []byte) []byte {
			b[levelsAt+linked] = 1
			return reseal(setWord(headerSize+4*(len(ix.level0)+linked), 1<<30)(b))
		}), smallRows, smallDims, true},
		{"other row count", good, smallRows - 1, smallDims, false},
		{"other dims", good, smallRows, smallDims - 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lx, err := Load(tt.b, data, tt.rows, tt.dims, smallDims)
			if err == nil {
				t.Fatalf("Load(%s) = %v, nil; want an error", tt.name, lx)
			}
			if errors.Is(err, ErrCorrupt) != tt.corrupt {
				t.Errorf("Load(%s) = %v; errors.Is(err, ErrCorrupt) = %v, want %v", tt.name, err, !tt.corrupt, tt.corrupt)
			}
		})
	}
	if _, err := Load(good, data[:len(data)-1], smallRows, smallDims, smallDims); err == nil {
		t.Errorf("Load with too little vector data succeeded")
	}
	if _, err := Load(good, data, smallRows, smallDims, smallDims); err != nil {
		t.Errorf("Load(untouched bytes) = %v", err)
	}
}

// TestFuzzSeedLoads checks that the committed index in testdata still
// loads: a format change must bump the version and regenerate it (with
// ANN_UPDATE_TESTDATA=1 set).
func TestFuzzSeedLoads(t *testing.T) {
	_, data, good := smallIndex(t)
	path := filepath.Join("testdata", "index-300x8.bin")
	if os.Getenv("ANN_UPDATE_TESTDATA") != "" {
		if err := os.WriteFile(path, good, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read fixture (regenerate with ANN_UPDATE_TESTDATA=1): %v", err)
	}
	if _, err := Load(b, data, smallRows, smallDims, smallDims); err != nil {
		t.Errorf("Load(%s) = %v; a format change needs a new version and fixture", path, err)
	}
}

func FuzzLoad(f *testing.F) {
	_, data, good := smallIndex(f)
	f.Add(good)
	f.Add(good[:headerSize])
	f.Add([]byte(magic))
	q := data[:smallDims]
	f.Fuzz(func(t *testing.T, b []byte) {
		// Checksums would stop almost every mutation at the door; seal
		// them so the fuzzer reaches the structural checks, too.
		for _, in := range [][]byte{b, resealIfLong(bytes.Clone(b))} {
			ix, err := Load(in, data, smallRows, smallDims, smallDims)
			if err != nil {
				continue
			}
			ix.Search(q, 5, 0, nil, nil, nil)
			ix.Search(q, 5, 10, func(i int32) bool { return i%2 == 0 }, nil, nil)
		}
	})
}

func resealIfLong(b []byte) []byte {
	if len(b) < headerSize {
		return b
	}
	return reseal(b)
}
