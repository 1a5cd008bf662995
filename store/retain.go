package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Retain removes old versions: it keeps the published version, the
// previous one (see Previous), every version newer than the published one
// (candidates not published yet, or refused by the quality gate and kept
// for inspection until a newer version is published) and the newest
// keepLast of the versions older than the published one, and removes the
// other older versions, oldest first, returning their names. With nothing
// published it keeps the newest keepLast versions. A version that any process has open (Dir.Open holds a shared lock
// on its LOCK file until Snapshot.Close) is skipped and left for a later
// Retain. Each removal first renames the version out of versions/ while
// holding the exclusive lock, then deletes it, so a crash never leaves a
// half-deleted version that looks complete; the leftovers in staging/ are
// swept by Clean. Directories in versions/ without a COMPLETE marker are
// left alone.
func (d *Dir) Retain(ctx context.Context, keepLast int) (removed []string, err error) {
	removed, err = d.retain(ctx, keepLast)
	if err != nil {
		return removed, fmt.Errorf("retain %d in %s: %w", keepLast, d.path, err)
	}
	return removed, nil
}

func (d *Dir) retain(ctx context.Context, keepLast int) ([]string, error) {
	if keepLast < 0 {
		return nil, fmt.Errorf("negative count %d of versions to keep", keepLast)
	}
	vs, err := d.Versions()
	if err != nil {
		return nil, err
	}
	pub, err := d.published()
	if err != nil {
		return nil, err
	}
	keep := map[string]bool{pub: true}
	older := vs
	if pub != "" {
		older = nil
		for _, v := range vs {
			if v.Version > pub { // names sort by creation time
				keep[v.Version] = true
			} else if v.Version < pub {
				older = append(older, v)
			}
		}
	}
	for _, v := range older[max(0, len(older)-keepLast):] {
		keep[v.Version] = true
	}
	prev, err := d.previous()
	switch {
	case err == nil:
		keep[prev] = true
	case !errors.Is(err, ErrNoPrevious):
		return nil, err
	}
	var removed []string
	for _, v := range vs {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		if keep[v.Version] {
			continue
		}
		ok, err := d.removeUnused(v.Version)
		if err != nil {
			return removed, fmt.Errorf("remove %s: %w", v.Version, err)
		}
		if ok {
			removed = append(removed, v.Version)
		}
	}
	return removed, nil
}

// removeUnused removes version v unless it is open somewhere or has become
// the published or previous version meanwhile. It reports whether it
// removed it.
func (d *Dir) removeUnused(v string) (bool, error) {
	lock, err := d.lockVersion(v, unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, errLocked) || errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer lock.Close()
	// Publish holds a shared lock on the version while it changes the
	// pointer, so with the exclusive lock held the pointer and the history
	// cannot move to v any more: check them now.
	pub, err := d.published()
	if err != nil {
		return false, err
	}
	if pub == v {
		return false, nil
	}
	if prev, err := d.previous(); err == nil && prev == v {
		return false, nil
	}
	trash := filepath.Join(d.path, stagingDir, v+".removed-"+randHex(3))
	if err := os.Rename(d.versionPath(v), trash); err != nil {
		return false, err
	}
	if err := syncDir(filepath.Join(d.path, versionsDir)); err != nil {
		return true, err
	}
	// Openers blocked on the lock meanwhile find the version gone; they
	// need not wait for the deletion.
	lock.Close()
	if err := os.RemoveAll(trash); err != nil {
		return true, err
	}
	return true, nil
}
