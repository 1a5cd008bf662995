package store

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
)

// FileKindMatrix is the FileInfo.Kind of an auxiliary file written by
// Builder.SetMatrix: a vector file, opened with Snapshot.Matrix.
const FileKindMatrix = "matrix"

// maxAuxNameLen bounds auxiliary file names.
const maxAuxNameLen = 100

// reservedNames are the names the store uses itself inside a version
// directory (LOCK and COMPLETE are upper case and so never valid anyway).
var reservedNames = []string{badgerDir, itemsVecFile, usersVecFile, itemsIDsFile, usersIDsFile, seenCSRFile, neighborsCSRFile,
	seenCSRFile + tmpSuffix, neighborsCSRFile + tmpSuffix, manifestFile, completeFile, lockFile}

// ValidAuxName reports whether name may be used for an auxiliary file: it
// matches [a-z0-9][a-z0-9._-]*, is at most 100 bytes long and is not a name
// the store uses itself (items.vec, users.vec, items.ids, users.ids,
// seen.csr, neighbors.csr and their .tmp files while building,
// manifest.json, badger).
func ValidAuxName(name string) bool {
	if name == "" || len(name) > maxAuxNameLen || slices.Contains(reservedNames, name) {
		return false
	}
	for i, c := range []byte(name) {
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// isAux reports whether a manifest file entry is an auxiliary file.
func isAux(name string) bool {
	switch name {
	case itemsVecFile, usersVecFile, itemsIDsFile, usersIDsFile, seenCSRFile, neighborsCSRFile:
		return false
	}
	return true
}

func (b *Builder) checkAux(name string) error {
	if err := b.usable(); err != nil {
		return err
	}
	if !ValidAuxName(name) || isOwnAux(name) {
		return fmt.Errorf("invalid auxiliary file name %q: want [a-z0-9][a-z0-9._-]*, at most %d bytes, not one the store uses", name, maxAuxNameLen)
	}
	if _, dup := b.aux[name]; dup {
		return fmt.Errorf("auxiliary file %s already written", name)
	}
	return nil
}

// AddFile writes an auxiliary file called name into the version: write is
// called once with a buffered writer to the new file (mode 0600), which is
// then fsynced. name must satisfy ValidAuxName, be unused in this version
// and not be one of the files the Builder writes through its own methods
// (CatalogFile, FoldInFile, BasketNeighborsFile, ItemItemRowsFile, "scores.*", …). The file is listed in Manifest.Files, covered by COMPLETE (size
// and CRC-32C), checked by Verify and OpenOptions.VerifyChecksums, and
// memory-mapped by Dir.Open (see Snapshot.File).
//
// The builder is locked while write runs: write must not call the Builder.
// If write fails the file is removed and the builder stays usable.
func (b *Builder) AddFile(name string, write func(w io.Writer) error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.addFile(name, write); err != nil {
		return fmt.Errorf("add file %s to %s: %w", name, b.version, err)
	}
	return nil
}

func (b *Builder) addFile(name string, write func(w io.Writer) error) error {
	if err := b.checkAux(name); err != nil {
		return err
	}
	if err := b.writeAux(name, write); err != nil {
		return err
	}
	b.aux[name] = ""
	return nil
}

// writeAux writes the file name into the staging directory with write.
func (b *Builder) writeAux(name string, write func(w io.Writer) error) error {
	p := filepath.Join(b.staging, name)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	err = write(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(p)
		return err
	}
	return nil
}

// SetMatrix writes a named float32 matrix, such as "itemitem.vec", as an
// auxiliary file in the vector file format (64-byte header, rows padded to a
// multiple of 16 floats so every row is 64-byte aligned): data is row-major
// with len(data) == rows*dims. Snapshot.Matrix maps it like the factors.
// name must satisfy ValidAuxName.
func (b *Builder) SetMatrix(name string, rows, dims int, data []float32) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.setMatrix(name, rows, dims, data); err != nil {
		return fmt.Errorf("set matrix %s of %s: %w", name, b.version, err)
	}
	return nil
}

func (b *Builder) setMatrix(name string, rows, dims int, data []float32) error {
	if err := b.checkAux(name); err != nil {
		return err
	}
	if dims <= 0 || dims > math.MaxUint32-RowAlign {
		return fmt.Errorf("invalid dims %d", dims)
	}
	p := filepath.Join(b.staging, name)
	if _, err := writeVecFile(p, rows, dims, data); err != nil {
		os.Remove(p)
		return err
	}
	b.aux[name] = FileKindMatrix
	return nil
}

// auxFile is a memory-mapped auxiliary file of an open snapshot.
type auxFile struct {
	m      *mappedFile
	matrix *Matrix // non-nil for FileKindMatrix
}

// openAux maps the auxiliary file described by fi in vdir and, for a
// matrix, validates its header (and with verify, its payload CRC).
func openAux(vdir string, fi FileInfo, verify bool) (*auxFile, error) {
	if !ValidAuxName(fi.Name) {
		return nil, fmt.Errorf("%w: manifest lists invalid file name %q", ErrCorrupt, fi.Name)
	}
	switch fi.Kind {
	case "":
		m, err := mapFile(filepath.Join(vdir, fi.Name))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fi.Name, err)
		}
		a := &auxFile{m: m}
		if int64(len(m.data)) != fi.Size {
			a.close()
			return nil, fmt.Errorf("%w: %s is %d bytes, manifest says %d", ErrCorrupt, fi.Name, len(m.data), fi.Size)
		}
		if verify {
			if got := crc32.Checksum(m.data, castagnoli); got != fi.CRC32C {
				a.close()
				return nil, fmt.Errorf("%w: %s checksum mismatch: computed %08x, manifest says %08x", ErrCorrupt, fi.Name, got, fi.CRC32C)
			}
		}
		return a, nil
	case FileKindMatrix:
		v, err := openVecFile(filepath.Join(vdir, fi.Name), verify)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fi.Name, err)
		}
		a := &auxFile{m: v.m, matrix: &v.matrix}
		if int64(len(v.m.data)) != fi.Size {
			a.close()
			return nil, fmt.Errorf("%w: %s is %d bytes, manifest says %d", ErrCorrupt, fi.Name, len(v.m.data), fi.Size)
		}
		return a, nil
	default:
		return nil, fmt.Errorf("%w: %s is of unknown kind %q", ErrFormat, fi.Name, fi.Kind)
	}
}

func (a *auxFile) close() error {
	if a == nil {
		return nil
	}
	if a.matrix != nil {
		*a.matrix = Matrix{}
	}
	return a.m.close()
}

// File returns the read-only memory-mapped bytes of the auxiliary file
// called name, and false if the version has no such file. The bytes are
// mapped at Open (nothing is decoded), start page aligned, and are valid
// until Close: never write to them or use them after Close. A matrix
// written by SetMatrix is returned whole, header included.
func (s *Snapshot) File(name string) ([]byte, bool) {
	a, ok := s.aux[name]
	if !ok {
		return nil, false
	}
	return a.m.data, true
}

// Matrix returns the matrix called name written by Builder.SetMatrix,
// mapped in place like the factor matrices, and false if the version has
// no such matrix. It is valid until Close.
func (s *Snapshot) Matrix(name string) (Matrix, bool) {
	a, ok := s.aux[name]
	if !ok || a.matrix == nil {
		return Matrix{}, false
	}
	return *a.matrix, true
}

// AuxFiles returns the names of the snapshot's auxiliary files, sorted.
func (s *Snapshot) AuxFiles() []string {
	names := make([]string, 0, len(s.aux))
	for n := range s.aux {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func closeAux(aux map[string]*auxFile) error {
	var errs []error
	for _, a := range aux {
		errs = append(errs, a.close())
	}
	return errors.Join(errs...)
}
