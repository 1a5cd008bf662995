package store

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Tombstones is the set of forgotten users, read from TOMBSTONES by
// Dir.Tombstones. It holds only SHA-256 hashes of user ids. The zero value
// is an empty set. It is immutable and safe for concurrent use.
type Tombstones struct {
	hashes map[[sha256.Size]byte]struct{}
}

// Has reports whether userID has been forgotten.
func (t Tombstones) Has(userID string) bool {
	if len(t.hashes) == 0 {
		return false
	}
	_, ok := t.hashes[sha256.Sum256([]byte(userID))]
	return ok
}

// Len returns the number of forgotten users.
func (t Tombstones) Len() int { return len(t.hashes) }

// UserHash returns the lowercase hex SHA-256 of userID: what TOMBSTONES
// records instead of the id, and what may be logged for audit.
func UserHash(userID string) string {
	sum := sha256.Sum256([]byte(userID))
	return hex.EncodeToString(sum[:])
}

// Forget records userID as forgotten: it appends the hex SHA-256 of the id
// (never the id itself) as a line to TOMBSTONES (mode 0600) and fsyncs the
// file, and the data directory when it creates the file. Servers polling
// TombstonesStamp stop serving the user; trainers exclude them. Forgetting
// a user twice changes nothing.
func (d *Dir) Forget(userID string) error {
	if userID == "" {
		return errors.New("forget: empty user id")
	}
	if err := d.forget(userID); err != nil {
		// The error names the hash prefix, never the id.
		return fmt.Errorf("forget user %.12s: %w", UserHash(userID), err)
	}
	return nil
}

func (d *Dir) forget(userID string) error {
	p := filepath.Join(d.path, tombstonesFile)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_APPEND, fileMode)
	if err != nil {
		return err
	}
	defer f.Close()
	// Appends of one short line with O_APPEND do not interleave; the
	// exclusive lock keeps two processes from both reading "absent" and
	// appending the same line, and from reading a torn tail.
	lock, err := flockPath(filepath.Join(d.path, tombstonesFile+".LOCK"), unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer lock.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	t, err := parseTombstones(data)
	if err != nil {
		return err
	}
	if t.Has(userID) {
		return nil
	}
	if i := bytes.LastIndexByte(data, '\n'); i+1 < len(data) {
		// Drop the torn line of a Forget killed mid-write (it never
		// reported success) so it cannot merge with this one.
		if err := f.Truncate(int64(i + 1)); err != nil {
			return err
		}
		data = data[:i+1]
	}
	line := make([]byte, 0, 1+2*sha256.Size)
	line = append(line, UserHash(userID)...)
	line = append(line, '\n')
	if _, err := f.Write(line); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if len(data) == 0 {
		return syncDir(d.path)
	}
	return nil
}

// parseTombstones decodes TOMBSTONES: one lowercase hex SHA-256 a line. An
// unterminated last line is the torn tail of an interrupted Forget (which
// never reported success) and is ignored; any other malformed line is
// ErrCorrupt.
func parseTombstones(data []byte) (Tombstones, error) {
	t := Tombstones{hashes: map[[sha256.Size]byte]struct{}{}}
	if i := bytes.LastIndexByte(data, '\n'); i+1 < len(data) {
		data = data[:i+1]
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		var h [sha256.Size]byte
		if len(line) != 2*sha256.Size || !isLowerHex(line) {
			return t, fmt.Errorf("%w: %s line %d is not a SHA-256", ErrCorrupt, tombstonesFile, n)
		}
		hex.Decode(h[:], line)
		t.hashes[h] = struct{}{}
	}
	return t, sc.Err()
}

func isLowerHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Tombstones reads the set of forgotten users. A data directory in which
// nobody was forgotten has an empty set.
func (d *Dir) Tombstones() (Tombstones, error) {
	data, err := os.ReadFile(filepath.Join(d.path, tombstonesFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Tombstones{}, nil
	}
	if err != nil {
		return Tombstones{}, fmt.Errorf("read tombstones: %w", err)
	}
	t, err := parseTombstones(data)
	if err != nil {
		return Tombstones{}, fmt.Errorf("read tombstones: %w", err)
	}
	return t, nil
}

// TombstonesStamp returns a value that changes whenever a user is
// forgotten (the size of TOMBSTONES; 0 if nobody was). Servers poll it and
// call Tombstones again when it changes: a stat, no read.
func (d *Dir) TombstonesStamp() (int64, error) {
	st, err := os.Stat(filepath.Join(d.path, tombstonesFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("stat tombstones: %w", err)
	}
	return st.Size(), nil
}
