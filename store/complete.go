package store

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// completeMarker is the content of a version's COMPLETE file: the SHA-256
// of the manifest JSON and the size and CRC-32C of every other file of the
// version, including Badger's. Open stats the listed files before opening
// Badger (which leaks goroutines when a table file is missing), and Verify
// checks their CRCs.
type completeMarker struct {
	manifestSHA256 string
	files          []FileInfo // Name is slash-separated, relative to the version dir
}

func (c completeMarker) marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "manifest sha256 %s\n", c.manifestSHA256)
	for _, f := range c.files {
		fmt.Fprintf(&b, "file %s %d %08x\n", f.Name, f.Size, f.CRC32C)
	}
	return b.Bytes()
}

func parseComplete(data []byte) (completeMarker, error) {
	var c completeMarker
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		switch {
		case n == 1 && len(f) == 3 && f[0] == "manifest" && f[1] == "sha256" && len(f[2]) == 64:
			c.manifestSHA256 = f[2]
		case n > 1 && len(f) == 4 && f[0] == "file" && filepath.IsLocal(f[1]) && !strings.Contains(f[1], `\`):
			size, err1 := strconv.ParseInt(f[2], 10, 64)
			sum, err2 := strconv.ParseUint(f[3], 16, 32)
			if err1 != nil || err2 != nil || size < 0 {
				return c, fmt.Errorf("%w: %s line %d: bad file entry", ErrCorrupt, completeFile, n)
			}
			c.files = append(c.files, FileInfo{Name: f[1], Size: size, CRC32C: uint32(sum)})
		default:
			return c, fmt.Errorf("%w: %s line %d: malformed", ErrCorrupt, completeFile, n)
		}
	}
	if c.manifestSHA256 == "" {
		return c, fmt.Errorf("%w: %s has no manifest checksum", ErrCorrupt, completeFile)
	}
	return c, nil
}

func manifestSHA256(manifestJSON []byte) string {
	sum := sha256.Sum256(manifestJSON)
	return hex.EncodeToString(sum[:])
}

// buildComplete lists every regular file under vdir with its size and CRC.
func buildComplete(vdir string, manifestJSON []byte) (completeMarker, error) {
	c := completeMarker{manifestSHA256: manifestSHA256(manifestJSON)}
	err := filepath.WalkDir(vdir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(vdir, p)
		if err != nil {
			return err
		}
		if rel == lockFile {
			return nil // flocked by readers, never part of the data
		}
		size, sum, err := crcOf(p)
		if err != nil {
			return err
		}
		c.files = append(c.files, FileInfo{Name: filepath.ToSlash(rel), Size: size, CRC32C: sum})
		return nil
	})
	slices.SortFunc(c.files, func(a, b FileInfo) int { return strings.Compare(a.Name, b.Name) })
	return c, err
}

// checkFiles checks that every file listed in c exists under vdir with its
// listed size and, if crc is set, its listed CRC-32C.
func (c completeMarker) checkFiles(vdir string, crc bool) error {
	for _, f := range c.files {
		p := filepath.Join(vdir, filepath.FromSlash(f.Name))
		if crc {
			size, sum, err := crcOf(p)
			if err != nil {
				return fmt.Errorf("%w: %s: %v", ErrCorrupt, f.Name, err)
			}
			if size != f.Size || sum != f.CRC32C {
				return fmt.Errorf("%w: %s is %d bytes with crc32c %08x, %s says %d bytes with %08x",
					ErrCorrupt, f.Name, size, sum, completeFile, f.Size, f.CRC32C)
			}
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrCorrupt, f.Name, err)
		}
		if st.Size() != f.Size {
			return fmt.Errorf("%w: %s is %d bytes, %s says %d: truncated or replaced", ErrCorrupt, f.Name, st.Size(), completeFile, f.Size)
		}
	}
	return nil
}
