package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Names inside a data directory and a version directory.
const (
	publishedFile    = "PUBLISHED"
	versionsDir      = "versions"
	stagingDir       = "staging"
	badgerDir        = "badger"
	itemsVecFile     = "items.vec"
	usersVecFile     = "users.vec"
	itemsIDsFile     = "items.ids"
	usersIDsFile     = "users.ids"
	seenCSRFile      = "seen.csr"
	neighborsCSRFile = "neighbors.csr"
	manifestFile     = "manifest.json"
	completeFile     = "COMPLETE"
	lockFile         = "LOCK"

	historyFile     = "HISTORY"
	publishLockFile = "PUBLISH.LOCK"
	tombstonesFile  = "TOMBSTONES"
)

// StaleStagingAge is how old an entry in staging/ must be before NewBuilder
// removes it as the garbage of a failed or killed build.
const StaleStagingAge = time.Hour

const versionTimeLayout = "20060102T150405.000Z"

// Dir is a data directory holding snapshot versions. Its methods are safe for
// concurrent use, also by several processes: every change is a rename.
type Dir struct {
	path string
}

// OpenDir opens the data directory at path, creating the layout (mode 0700)
// if it is missing.
func OpenDir(path string) (*Dir, error) {
	if path == "" {
		return nil, errors.New("open data dir: empty path")
	}
	for _, p := range []string{path, filepath.Join(path, versionsDir), filepath.Join(path, stagingDir)} {
		if err := os.MkdirAll(p, dirMode); err != nil {
			return nil, fmt.Errorf("open data dir %s: %w", path, err)
		}
	}
	return &Dir{path: path}, nil
}

// Path returns the data directory path.
func (d *Dir) Path() string { return d.path }

func (d *Dir) versionPath(v string) string { return filepath.Join(d.path, versionsDir, v) }

// newVersionName returns a fresh sortable version name for time t.
func newVersionName(t time.Time) string {
	return t.UTC().Format(versionTimeLayout) + "-" + randHex(3)
}

// ValidVersion reports whether v is a well-formed version name such as
// "20261122T140621.123Z-a1b2c3". Only such names are ever joined into paths.
func ValidVersion(v string) bool {
	const tl = len(versionTimeLayout)
	if len(v) != tl+7 || v[tl] != '-' {
		return false
	}
	if _, err := time.Parse(versionTimeLayout, v[:tl]); err != nil {
		return false
	}
	for _, c := range v[tl+1:] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func checkVersion(v string) error {
	if !ValidVersion(v) {
		return fmt.Errorf("%w: invalid version name %q", ErrNotFound, v)
	}
	return nil
}

// readComplete returns the COMPLETE marker of version dir vdir, or an error
// wrapping ErrNotFound (no such version) or ErrCorrupt (incomplete).
func readComplete(vdir string) (completeMarker, error) {
	if _, err := os.Stat(vdir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return completeMarker{}, ErrNotFound
		}
		return completeMarker{}, err
	}
	b, err := os.ReadFile(filepath.Join(vdir, completeFile))
	if errors.Is(err, fs.ErrNotExist) {
		return completeMarker{}, fmt.Errorf("%w: no %s marker: version is incomplete", ErrCorrupt, completeFile)
	}
	if err != nil {
		return completeMarker{}, err
	}
	return parseComplete(b)
}

// checkManifest verifies manifest JSON against the COMPLETE marker and decodes it.
func checkManifest(complete completeMarker, manifestJSON []byte) (Manifest, error) {
	var m Manifest
	if got := manifestSHA256(manifestJSON); got != complete.manifestSHA256 {
		return m, fmt.Errorf("%w: manifest checksum %s does not match %s marker %s",
			ErrCorrupt, got, completeFile, complete.manifestSHA256)
	}
	if err := json.Unmarshal(manifestJSON, &m); err != nil {
		return m, fmt.Errorf("%w: decode manifest: %v", ErrCorrupt, err)
	}
	if m.FormatVersion > FormatVersion {
		return m, fmt.Errorf("%w: snapshot format version %d, this build reads up to %d", ErrFormat, m.FormatVersion, FormatVersion)
	}
	return m, nil
}

// readManifestFile reads and checks the manifest.json copy of version v.
func (d *Dir) readManifestFile(v string) (Manifest, error) {
	vdir := d.versionPath(v)
	complete, err := readComplete(vdir)
	if err != nil {
		return Manifest{}, err
	}
	b, err := os.ReadFile(filepath.Join(vdir, manifestFile))
	if err != nil {
		return Manifest{}, err
	}
	m, err := checkManifest(complete, b)
	if err != nil {
		return m, err
	}
	if m.Version != v {
		return m, fmt.Errorf("%w: manifest names version %q", ErrCorrupt, m.Version)
	}
	return m, nil
}

// Versions lists the complete versions, oldest first. Directories without a
// COMPLETE marker are not listed; a version whose manifest fails its
// checksum is skipped with a warning (Verify reports the details).
func (d *Dir) Versions() ([]VersionInfo, error) {
	entries, err := os.ReadDir(filepath.Join(d.path, versionsDir))
	if err != nil {
		return nil, fmt.Errorf("list versions: %w", err)
	}
	pub, prev, err := d.pointers()
	if err != nil {
		return nil, fmt.Errorf("list versions: %w", err)
	}
	var out []VersionInfo
	for _, e := range entries {
		v := e.Name()
		if !e.IsDir() || !ValidVersion(v) {
			continue
		}
		if _, err := os.Stat(filepath.Join(d.versionPath(v), completeFile)); err != nil {
			continue
		}
		info, err := d.info(v, pub, prev)
		if errors.Is(err, ErrNotFound) {
			continue // removed meanwhile
		}
		if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrFormat) {
			slog.Warn("skipping unreadable snapshot version", "dir", d.path, "version", v, "err", err)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list versions: %s: %w", v, err)
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b VersionInfo) int { return strings.Compare(a.Version, b.Version) })
	return out, nil
}

// VersionNames lists every entry of versions/ with a version name,
// oldest first: the complete versions Versions lists and also those it
// skips because their manifest or COMPLETE marker is missing or damaged,
// so that Verify can report on every one.
func (d *Dir) VersionNames() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(d.path, versionsDir))
	if err != nil {
		return nil, fmt.Errorf("list versions: %w", err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && ValidVersion(e.Name()) {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out, nil
}

// Info describes one complete version: its manifest, whether it is the
// published or the previous one, its size and every file COMPLETE lists.
// It reads the manifest copy and COMPLETE, checking the manifest checksum,
// but no data file: Verify does that.
func (d *Dir) Info(version string) (VersionInfo, error) {
	if err := checkVersion(version); err != nil {
		return VersionInfo{}, fmt.Errorf("describe %s: %w", version, err)
	}
	pub, prev, err := d.pointers()
	if err != nil {
		return VersionInfo{}, fmt.Errorf("describe %s: %w", version, err)
	}
	info, err := d.info(version, pub, prev)
	if err != nil {
		return VersionInfo{}, fmt.Errorf("describe %s: %w", version, err)
	}
	return info, nil
}

// pointers returns the published and previous versions ("" for none).
func (d *Dir) pointers() (pub, prev string, err error) {
	if pub, err = d.published(); err != nil {
		return "", "", err
	}
	prev, err = d.previous()
	if errors.Is(err, ErrNoPrevious) {
		return pub, "", nil
	}
	return pub, prev, err
}

func (d *Dir) info(v, pub, prev string) (VersionInfo, error) {
	m, err := d.readManifestFile(v)
	if err != nil {
		return VersionInfo{}, err
	}
	complete, err := readComplete(d.versionPath(v))
	if err != nil {
		return VersionInfo{}, err
	}
	size, err := dirSize(d.versionPath(v))
	if errors.Is(err, fs.ErrNotExist) {
		return VersionInfo{}, ErrNotFound
	}
	if err != nil {
		return VersionInfo{}, fmt.Errorf("size: %w", err)
	}
	return VersionInfo{
		Version: v, Manifest: m, Published: v == pub, Previous: v == prev,
		SizeBytes: size, Files: complete.files,
	}, nil
}

// Published returns the published version name, or an error wrapping
// ErrNoPublished if nothing has been published.
func (d *Dir) Published() (string, error) {
	b, err := os.ReadFile(filepath.Join(d.path, publishedFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read published version in %s: %w", d.path, ErrNoPublished)
	}
	if err != nil {
		return "", fmt.Errorf("read published version: %w", err)
	}
	v, ok := strings.CutSuffix(string(b), "\n")
	if !ok || !ValidVersion(v) {
		return "", fmt.Errorf("read published version: %w: %s holds %q", ErrCorrupt, publishedFile, b)
	}
	return v, nil
}

// Remove deletes a complete or incomplete version. The published version
// cannot be removed. Snapshots already open on it keep working (their files
// stay mapped until closed).
func (d *Dir) Remove(version string) error {
	if err := checkVersion(version); err != nil {
		return fmt.Errorf("remove %s: %w", version, err)
	}
	if pub, err := d.Published(); err == nil && pub == version {
		return fmt.Errorf("remove %s: it is the published version", version)
	}
	src := d.versionPath(version)
	if _, err := os.Stat(src); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", version, ErrNotFound)
		}
		return fmt.Errorf("remove %s: %w", version, err)
	}
	// Move it out of versions/ atomically first so it is never seen half-deleted.
	dst := filepath.Join(d.path, stagingDir, version+".removed-"+randHex(3))
	if err := os.Rename(src, dst); err != nil {
		return fmt.Errorf("remove %s: %w", version, err)
	}
	if err := syncDir(filepath.Join(d.path, versionsDir)); err != nil {
		return fmt.Errorf("remove %s: %w", version, err)
	}
	if err := os.RemoveAll(dst); err != nil {
		return fmt.Errorf("remove %s: %w", version, err)
	}
	return nil
}

// Clean removes entries of staging/ (and stray PUBLISHED temp files) in
// which nothing was modified for more than olderThan and that no live
// Builder holds: the leftovers of failed or killed builds and interrupted
// removals. RemoveLeftovers removes them whatever their age.
func (d *Dir) Clean(ctx context.Context, olderThan time.Duration) error {
	cutoff := time.Now().Add(-olderThan)
	entries, err := os.ReadDir(filepath.Join(d.path, stagingDir))
	if err != nil {
		return fmt.Errorf("clean staging in %s: %w", d.path, err)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := d.removeLeftover(e.Name(), cutoff); err != nil {
			return fmt.Errorf("clean staging in %s: %w", d.path, err)
		}
	}
	tmpPrefix := "." + publishedFile + ".tmp-"
	entries, err = os.ReadDir(d.path)
	if err != nil {
		return fmt.Errorf("clean %s: %w", d.path, err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tmpPrefix) {
			continue
		}
		p := filepath.Join(d.path, e.Name())
		if fi, err := os.Stat(p); err == nil && fi.ModTime().Before(cutoff) {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("clean %s: %w", d.path, err)
			}
		}
	}
	return nil
}

// newestModTime returns the latest modification time of p and, if p is a
// directory, of anything below it.
func newestModTime(p string) (time.Time, error) {
	var newest time.Time
	err := filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if t := info.ModTime(); t.After(newest) {
			newest = t
		}
		return nil
	})
	return newest, err
}
