package store

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// Free space.
//
// Badger writes its write-ahead log, value log and tables through memory
// maps of sparse files. On a full file system the kernel cannot back a
// page the process writes to, and the process dies of SIGBUS inside
// Badger instead of seeing ENOSPC: no error to return, no staging
// directory removed, and the Go runtime's exit status 2 reads like "the
// quality gate refused". So a writer checks the free space before it
// writes (Builder.CheckSpace) against the size it expects the version to
// take; every other file of a version is written with write(2), whose
// ENOSPC comes back as an error. A file system that fills up between the
// check and the write (another process writing) can still fault in
// Badger: the check makes a full disk an error in the common case, it
// does not reserve the space.

// SizeHint describes a version about to be written, for the free-space
// check.
type SizeHint struct {
	Users, Items int
	Dims         int   // factors per row
	IDBytes      int64 // the user and item ids' lengths, summed
	Seen         int64 // seen (user, item) pairs
	Neighbors    int64 // co-occurrence neighbours, over all items
	// Extra are the bytes of everything else: auxiliary files, an
	// item-item model.
	Extra int64
}

// Headroom is added to every size estimate: the manifest, COMPLETE,
// Badger's own files, and space left for the rest of the system.
const Headroom = 64 << 20

// Bytes estimates the space a version of this size takes while it is
// written, high rather than low: the factor files; the id tables; the
// seen and neighbour lists, streamed to a temporary file and then
// assembled (twice their size); and Badger, which holds the ids, lists
// and popularity once in its write-ahead log and once in its tables, plus
// a compaction's copy.
func (h SizeHint) Bytes() int64 {
	stride := int64(Stride(max(h.Dims, 1)))
	vec := 4 * stride * int64(h.Users+h.Items)
	ids := 2*h.IDBytes + 16*int64(h.Users+h.Items)
	lists := 2 * (4*h.Seen + 8*h.Neighbors + 8*int64(h.Users+h.Items))
	// Badger: per entry a header and key prefix; ids twice (both
	// directions), the seen list as varints (at most 5 bytes an item).
	badger := 2*h.IDBytes + 32*int64(h.Users+h.Items) + 5*h.Seen + 8*h.Neighbors + 4*int64(h.Items)
	return vec + ids + lists + 3*badger + h.Extra + Headroom
}

// FreeSpaceFunc returns the bytes free for an unprivileged writer on the
// file system holding path.
type FreeSpaceFunc func(path string) (int64, error)

// FreeSpace is the FreeSpaceFunc of the operating system (statfs).
func FreeSpace(path string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// CheckSpace returns an error wrapping syscall.ENOSPC ("no space left on
// device") when the file system the version is written on has less room
// than h.Bytes(), measured by free (FreeSpace when nil). The builder stays
// usable: a caller that gets the error aborts it, which removes the
// staging directory.
func (b *Builder) CheckSpace(h SizeHint, free FreeSpaceFunc) error {
	if free == nil {
		free = FreeSpace
	}
	need := h.Bytes()
	have, err := free(b.staging)
	if err != nil {
		return fmt.Errorf("check free space for %s: %w", b.version, err)
	}
	if have < need {
		return fmt.Errorf("write %s: %w: it needs about %d MiB, %d MiB are free in %s",
			b.version, syscall.ENOSPC, (need+1<<20-1)>>20, have>>20, b.dir.path)
	}
	return nil
}
