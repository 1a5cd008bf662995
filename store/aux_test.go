package store

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
)

// checkAux compares the auxiliary files and matrices of s with f.
func checkAux(t *testing.T, s *Snapshot, f fixture) {
	t.Helper()
	var want []string
	for name := range f.files {
		want = append(want, name)
	}
	for name := range f.matrices {
		want = append(want, name)
	}
	slices.Sort(want)
	if got := s.AuxFiles(); !slices.Equal(got, want) {
		t.Errorf("AuxFiles() = %v, want %v", got, want)
	}
	page := uintptr(os.Getpagesize())
	for name, data := range f.files {
		got, ok := s.File(name)
		if !ok || string(got) != string(data) {
			t.Errorf("File(%q) = %q, %v, want %q", name, got, ok, data)
		}
		if len(got) > 0 && uintptr(unsafe.Pointer(&got[0]))%page != 0 {
			t.Errorf("File(%q) starts at %p, not page aligned", name, &got[0])
		}
		if _, ok := s.Matrix(name); ok {
			t.Errorf("Matrix(%q) of a plain file = _, true, want false", name)
		}
	}
	for name, fm := range f.matrices {
		m, ok := s.Matrix(name)
		if !ok || m.Rows != fm.rows || m.Dims != fm.dims || m.Stride != Stride(fm.dims) || len(m.Data) != m.Rows*m.Stride {
			t.Fatalf("Matrix(%q) = rows %d dims %d stride %d len %d, %v; want %d x %d", name, m.Rows, m.Dims, m.Stride, len(m.Data), ok, fm.rows, fm.dims)
		}
		var got []float32
		for i := range m.Rows {
			row := m.Row(i)
			if uintptr(unsafe.Pointer(&row[0]))%64 != 0 {
				t.Fatalf("Matrix(%q) row %d at %p, not 64-byte aligned", name, i, &row[0])
			}
			got = append(got, row...)
		}
		if diff := cmp.Diff(fm.data, got); diff != "" {
			t.Errorf("Matrix(%q) (-want +got):\n%s", name, diff)
		}
		raw, ok := s.File(name)
		if !ok || int64(len(raw)) != VecHeaderSize+int64(m.Rows*m.Stride*4) {
			t.Errorf("File(%q) = %d bytes, %v, want the whole vector file", name, len(raw), ok)
		}
	}
	for _, name := range []string{"missing.bin", "items.vec", "manifest.json", "../COMPLETE"} {
		if b, ok := s.File(name); ok {
			t.Errorf("File(%q) = %d bytes, true, want false", name, len(b))
		}
		if _, ok := s.Matrix(name); ok {
			t.Errorf("Matrix(%q) = _, true, want false", name)
		}
	}
}

func TestValidAuxName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"itemitem.vec", true},
		{"a", true},
		{"0-x_y.z", true},
		{"ann.hnsw", true},
		{strings.Repeat("a", 100), true},
		{strings.Repeat("a", 101), false},
		{"", false},
		{"Items", false},
		{".hidden", false},
		{"-x", false},
		{"_x", false},
		{"a/b", false},
		{"../x", false},
		{"a b", false},
		{"items.vec", false},
		{"users.vec", false},
		{"items.ids", false},
		{"users.ids", false},
		{"seen.csr", false},
		{"neighbors.csr", false},
		{"seen.csr.tmp", false},
		{"neighbors.csr.tmp", false},
		{"seen.csr.old", true},
		{"manifest.json", false},
		{"badger", false},
		{"COMPLETE", false},
		{"LOCK", false},
	}
	for _, tt := range tests {
		if got := ValidAuxName(tt.name); got != tt.want {
			t.Errorf("ValidAuxName(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestAddFileRejects(t *testing.T) {
	ctx := context.Background()
	d := newTestDir(t)
	b, err := d.NewBuilder(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Abort()
	write := func(s string) func(io.Writer) error {
		return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
	}
	if err := b.AddFile("badger", write("x")); err == nil || !strings.Contains(err.Error(), "invalid auxiliary file name") {
		t.Errorf("AddFile(badger) = %v, want invalid name", err)
	}
	if err := b.SetMatrix("users.vec", 1, 1, []float32{1}); err == nil || !strings.Contains(err.Error(), "invalid auxiliary file name") {
		t.Errorf("SetMatrix(users.vec) = %v, want invalid name", err)
	}
	boom := errors.New("boom")
	if err := b.AddFile("x.bin", func(w io.Writer) error { io.WriteString(w, "partial"); return boom }); !errors.Is(err, boom) {
		t.Errorf("AddFile with failing writer = %v, want %v", err, boom)
	}
	if _, err := os.Stat(filepath.Join(b.staging, "x.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed AddFile left x.bin behind: stat err = %v", err)
	}
	// The name is free again after a failed write.
	if err := b.AddFile("x.bin", write("ok")); err != nil {
		t.Errorf("AddFile after failure: %v", err)
	}
	if err := b.AddFile("x.bin", write("again")); err == nil || !strings.Contains(err.Error(), "already written") {
		t.Errorf("second AddFile(x.bin) = %v, want already written", err)
	}
	if err := b.SetMatrix("x.bin", 1, 1, []float32{1}); err == nil || !strings.Contains(err.Error(), "already written") {
		t.Errorf("SetMatrix(x.bin) after AddFile = %v, want already written", err)
	}
	if err := b.SetMatrix("m.vec", 2, 3, []float32{1, 2}); err == nil {
		t.Error("SetMatrix with short data succeeded")
	}
	if err := b.SetMatrix("m.vec", 1, 0, nil); err == nil {
		t.Error("SetMatrix with zero dims succeeded")
	}
	if err := b.SetMatrix("m.vec", 1, 2, []float32{1, 2}); err != nil {
		t.Errorf("SetMatrix(m.vec) after failures: %v", err)
	}
	if err := b.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := b.AddFile("y.bin", write("late")); err == nil {
		t.Error("AddFile after Abort succeeded")
	}
}

func TestAuxFileCorruption(t *testing.T) {
	tests := []struct {
		name     string
		damage   func(t *testing.T, vdir string)
		openErr  string // error of Open without checksums ("" = opens)
		checkErr string // error of Open(VerifyChecksums) and Verify
		errIs    error
	}{
		{
			name:     "flipped byte in plain file",
			damage:   func(t *testing.T, vdir string) { flipByte(t, filepath.Join(vdir, "notes.txt"), 7) },
			checkErr: "notes.txt",
			errIs:    ErrCorrupt,
		},
		{
			name:     "truncated plain file",
			damage:   func(t *testing.T, vdir string) { os.Truncate(filepath.Join(vdir, "notes.txt"), 3) },
			openErr:  "notes.txt is 3 bytes, COMPLETE says",
			checkErr: "notes.txt",
			errIs:    ErrCorrupt,
		},
		{
			name:     "missing plain file",
			damage:   func(t *testing.T, vdir string) { os.Remove(filepath.Join(vdir, "empty.bin")) },
			openErr:  "empty.bin: stat",
			checkErr: "empty.bin",
			errIs:    ErrCorrupt,
		},
		{
			name:     "flipped matrix payload byte",
			damage:   func(t *testing.T, vdir string) { flipByte(t, filepath.Join(vdir, "itemitem.vec"), -5) },
			checkErr: "itemitem.vec",
			errIs:    ErrCorrupt,
		},
		{
			name:     "flipped matrix header byte",
			damage:   func(t *testing.T, vdir string) { flipByte(t, filepath.Join(vdir, "itemitem.vec"), 20) },
			openErr:  "itemitem.vec: corrupt snapshot: header checksum mismatch",
			checkErr: "itemitem.vec",
			errIs:    ErrCorrupt,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDir(t)
			v := buildVersion(t, d, newFixture(13, 20, 10, 3)).Version
			tt.damage(t, d.versionPath(v))
			check := func(what string, err error, want string) {
				t.Helper()
				if want == "" {
					if err != nil {
						t.Errorf("%s: unexpected error %v", what, err)
					}
					return
				}
				if !errors.Is(err, tt.errIs) || !strings.Contains(err.Error(), want) {
					t.Errorf("%s error = %v, want %v containing %q", what, err, tt.errIs, want)
				}
			}
			s, err := d.Open(v, OpenOptions{})
			if err == nil {
				s.Close()
			}
			check("Open", err, tt.openErr)
			s, err = d.Open(v, OpenOptions{VerifyChecksums: true})
			if err == nil {
				s.Close()
			}
			check("Open(VerifyChecksums)", err, tt.checkErr)
			check("Verify", d.Verify(context.Background(), v), tt.checkErr)
		})
	}
}
