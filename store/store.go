package store

import (
	"encoding/json"
	"errors"
	"time"
)

// FormatVersion is the snapshot format version written into manifests.
// Opening a version with a larger FormatVersion fails with ErrFormat.
const FormatVersion = 1

// Errors returned (wrapped with context) by this package. Test with errors.Is.
var (
	// ErrNotFound: the version, or an index inside a snapshot, does not exist.
	ErrNotFound = errors.New("not found")
	// ErrNoPublished: no version has been published yet.
	ErrNoPublished = errors.New("no published version")
	// ErrCorrupt: a file is truncated, torn, or fails a checksum or consistency check.
	ErrCorrupt = errors.New("corrupt snapshot")
	// ErrFormat: the data was written by a newer format than this build reads.
	ErrFormat = errors.New("unsupported format")
)

// Matrix is a dense row-major float32 matrix whose rows are padded to Stride
// floats (a multiple of 16, so each row starts 64-byte aligned). For an opened
// snapshot Data points into a read-only memory mapping: never write to it, and
// never use it after the Snapshot is closed.
type Matrix struct {
	Rows, Dims, Stride int
	Data               []float32 // len Rows*Stride; row i is Data[i*Stride : i*Stride+Dims]
}

// Row returns row i without its padding. It panics if i is out of range.
func (m Matrix) Row(i int) []float32 {
	off := i * m.Stride
	return m.Data[off : off+m.Dims : off+m.Dims]
}

// Neighbor is one co-occurrence neighbour of an item.
type Neighbor struct {
	Item  int32
	Score float32
}

// Counts summarises the training data of a version.
type Counts struct {
	Users        int64 `json:"users"`
	Items        int64 `json:"items"`
	Events       int64 `json:"events"`
	Interactions int64 `json:"interactions"`
	BadLines     int64 `json:"bad_lines"`
}

// Window is the time range of the training data.
type Window struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// SourceFile identifies one input log file.
type SourceFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// FileInfo describes one data file of a version: the vector files, the
// id tables, the list files and any auxiliary files (Builder.AddFile, SetMatrix).
// CRC32C is the CRC-32C (Castagnoli) of the whole file. Kind is empty for
// plain files and FileKindMatrix for auxiliary matrices.
type FileInfo struct {
	Name   string `json:"name"`
	Kind   string `json:"kind,omitempty"`
	Size   int64  `json:"size"`
	CRC32C uint32 `json:"crc32c"`
}

// Manifest describes a version. Params and Metrics are opaque to the store.
type Manifest struct {
	FormatVersion int                `json:"format_version"`
	Version       string             `json:"version"`
	CreatedAt     time.Time          `json:"created_at"`
	CodeVersion   string             `json:"code_version,omitempty"`
	Params        json.RawMessage    `json:"params,omitempty"`
	Counts        Counts             `json:"counts"`
	Window        Window             `json:"window"`
	Sources       []SourceFile       `json:"sources,omitempty"`
	Metrics       map[string]float64 `json:"metrics,omitempty"`
	Files         []FileInfo         `json:"files"`
}

// File returns the FileInfo called name and whether it is listed.
func (m Manifest) File(name string) (FileInfo, bool) {
	for _, f := range m.Files {
		if f.Name == name {
			return f, true
		}
	}
	return FileInfo{}, false
}

// VersionInfo describes one complete version in a Dir.
type VersionInfo struct {
	Version   string
	Manifest  Manifest
	Published bool
	Previous  bool       // published before the published one; Rollback goes back to it
	SizeBytes int64      // total size of the version directory
	Files     []FileInfo // every file COMPLETE lists (Badger's included) with size and CRC-32C
}

// OpenOptions controls Dir.Open.
type OpenOptions struct {
	// VerifyChecksums reads every vector file, id table and list file
	// whole and checks their CRCs before returning. Off by default: opening is then
	// O(1) in the model size.
	VerifyChecksums bool
}

// DefaultOpenOptions returns the options used for serving: no full-file
// checksum pass.
func DefaultOpenOptions() OpenOptions { return OpenOptions{} }
