package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Leftover is an entry of staging/: a version being built, or what a
// failed or killed build, or an interrupted removal, left behind.
type Leftover struct {
	Name      string // the entry's name in staging/
	SizeBytes int64
	ModTime   time.Time // the newest modification time below it
	// InUse is set while a live Builder holds the entry's lock: a build in
	// progress, never removed.
	InUse bool
}

// Leftovers lists the entries of staging/, oldest name first, saying which
// a live Builder holds.
func (d *Dir) Leftovers() ([]Leftover, error) {
	entries, err := os.ReadDir(filepath.Join(d.path, stagingDir))
	if err != nil {
		return nil, fmt.Errorf("list leftovers in %s: %w", d.path, err)
	}
	var out []Leftover
	for _, e := range entries {
		p := filepath.Join(d.path, stagingDir, e.Name())
		l := Leftover{Name: e.Name()}
		if e.IsDir() {
			lock, err := lockDir(p, unix.LOCK_EX|unix.LOCK_NB)
			switch {
			case errors.Is(err, errLocked):
				l.InUse = true
			case errors.Is(err, fs.ErrNotExist):
				continue // finished or removed meanwhile
			case err != nil:
				return nil, fmt.Errorf("list leftovers in %s: %w", d.path, err)
			default:
				lock.Close()
			}
		}
		var err error
		if l.SizeBytes, err = dirSize(p); err == nil {
			l.ModTime, err = newestModTime(p)
		}
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list leftovers in %s: %w", d.path, err)
		}
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b Leftover) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// RemoveLeftovers removes every entry of staging/ that no live Builder
// holds, whatever its age, and returns what it removed. Builds by polecam
// versions before the staging lock hold none: do not run it while such
// an old build runs.
func (d *Dir) RemoveLeftovers(ctx context.Context) ([]Leftover, error) {
	ls, err := d.Leftovers()
	if err != nil {
		return nil, err
	}
	var removed []Leftover
	for _, l := range ls {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		if l.InUse {
			continue
		}
		ok, err := d.removeLeftover(l.Name, time.Time{})
		if err != nil {
			return removed, fmt.Errorf("remove leftover %s in %s: %w", l.Name, d.path, err)
		}
		if ok {
			removed = append(removed, l)
		}
	}
	return removed, nil
}

// removeLeftover removes staging/<name> unless a live Builder holds it or
// something below it was modified after cutoff (zero: no age check). It
// reports whether it removed it.
func (d *Dir) removeLeftover(name string, cutoff time.Time) (bool, error) {
	p := filepath.Join(d.path, stagingDir, name)
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if fi.IsDir() {
		// Holding the lock while removing makes a Builder that created
		// the directory but has not locked it yet start over elsewhere.
		lock, err := lockDir(p, unix.LOCK_EX|unix.LOCK_NB)
		if errors.Is(err, errLocked) || errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		defer lock.Close()
	}
	if !cutoff.IsZero() {
		mtime, err := newestModTime(p)
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if !mtime.Before(cutoff) {
			return false, nil
		}
	}
	if err := os.RemoveAll(p); err != nil {
		return false, err
	}
	return true, nil
}

// lockDir takes flock how on directory p and checks that p still names
// it afterwards. It returns errLocked when LOCK_NB could not lock and an
// error wrapping fs.ErrNotExist when p is gone.
func lockDir(p string, how int) (*os.File, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	return flockOpened(f, p, how)
}
