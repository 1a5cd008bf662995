package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// errLocked: a non-blocking flock found the file locked by someone else.
var errLocked = errors.New("locked")

// flockPath opens (creating if needed, mode 0600) the lock file at p and
// takes flock how on it (unix.LOCK_SH or LOCK_EX, optionally |LOCK_NB).
// It returns an error wrapping fs.ErrNotExist when p's directory is gone,
// errLocked when LOCK_NB could not lock, and checks after locking that p
// still names the locked file, so a lock on a file renamed away meanwhile
// (a version being removed) is never returned. Closing the file releases
// the lock.
func flockPath(p string, how int) (*os.File, error) {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		// Versions written before LOCK files existed get one on first use.
		f, err = os.OpenFile(p, os.O_RDONLY|os.O_CREATE, fileMode)
	}
	if err != nil {
		return nil, err
	}
	return flockOpened(f, p, how)
}

// flockOpened takes flock how on f, opened from path p, retrying on
// EINTR, and checks that p still names the locked file. On error it
// closes f; it returns errLocked when LOCK_NB could not lock and an error
// wrapping fs.ErrNotExist when p was renamed away or removed meanwhile.
func flockOpened(f *os.File, p string, how int) (*os.File, error) {
	var err error
	for {
		err = unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, errLocked
		}
		return nil, fmt.Errorf("flock %s: %w", filepath.Base(p), err)
	}
	held, err1 := f.Stat()
	now, err2 := os.Stat(p)
	if err1 != nil || err2 != nil || !os.SameFile(held, now) {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", p, fs.ErrNotExist)
	}
	return f, nil
}

// lockVersion takes flock how on versions/<v>/LOCK. A version that does not
// exist (or is being removed) yields an error wrapping ErrNotFound.
func (d *Dir) lockVersion(v string, how int) (*os.File, error) {
	f, err := flockPath(filepath.Join(d.versionPath(v), lockFile), how)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	return f, err
}

// lockPublish serialises changes of PUBLISHED and HISTORY, also across
// processes. Close the returned file to unlock.
func (d *Dir) lockPublish() (*os.File, error) {
	f, err := flockPath(filepath.Join(d.path, publishLockFile), unix.LOCK_EX)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", publishLockFile, err)
	}
	return f, nil
}
