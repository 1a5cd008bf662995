package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrPublishedChanged: the published version is not the one the caller
// expected (PublishOptions.Expect): someone else published or rolled back
// meanwhile.
var ErrPublishedChanged = errors.New("published version changed meanwhile")

// PublishOptions controls PublishVerified.
type PublishOptions struct {
	// SkipVerify publishes without reading the version whole first. Only
	// for operators who verified it another way (polecam publish
	// --no-verify); every other publish verifies.
	SkipVerify bool
	// CompareAndSwap makes the publish fail with ErrPublishedChanged unless
	// the published version, at the moment PUBLISHED is replaced, is still
	// Expected ("" meaning nothing is published).
	CompareAndSwap bool
	Expected       string
}

// DefaultPublishOptions returns the options of an operator's publish:
// verify, no compare-and-swap.
func DefaultPublishOptions() PublishOptions { return PublishOptions{} }

// ExpectPublished returns o with compare-and-swap against version v.
func (o PublishOptions) ExpectPublished(v string) PublishOptions {
	o.CompareAndSwap, o.Expected = true, v
	return o
}

// PublishVerified is the publish policy every caller uses (the CLI's
// publish, the admin service, training): it verifies version whole (see
// Verify) unless opts.SkipVerify, then publishes it atomically as Publish
// does, failing with ErrPublishedChanged if opts.CompareAndSwap is set and
// the published version is no longer opts.Expected. The version is held
// against removal from the start of the check to the pointer change. It
// returns the version published before. A version that fails verification
// is never published; the error wraps ErrCorrupt, ErrFormat or
// ErrNotFound.
func (d *Dir) PublishVerified(ctx context.Context, version string, opts PublishOptions) (previous string, err error) {
	previous, err = d.publishVerified(ctx, version, opts)
	if err != nil {
		return "", fmt.Errorf("publish %s: %w", version, err)
	}
	return previous, nil
}

func (d *Dir) publishVerified(ctx context.Context, version string, opts PublishOptions) (string, error) {
	if err := checkVersion(version); err != nil {
		return "", err
	}
	// A shared lock on the version from before the check to after the
	// pointer change keeps Retain from removing what was verified.
	vlock, err := d.lockVersion(version, unix.LOCK_SH)
	if err != nil {
		return "", err
	}
	defer vlock.Close()
	if !opts.SkipVerify {
		if err := d.verify(ctx, version); err != nil {
			return "", fmt.Errorf("refusing a version that fails verification: %w", err)
		}
	}
	var before string
	err = d.swapPublished(version, func(pub string, h []string) ([]string, error) {
		before = pub
		if opts.CompareAndSwap && pub != opts.Expected {
			return nil, fmt.Errorf("%w: expected %s, found %s", ErrPublishedChanged, orNone(opts.Expected), orNone(pub))
		}
		if pub == version {
			return nil, nil
		}
		return append(h, version), nil
	})
	return before, err
}

func orNone(v string) string {
	if v == "" {
		return "nothing published"
	}
	return v
}

// RollbackResult says what RollbackVerified did.
type RollbackResult struct {
	// Version is the version now published; Replaced the one it replaced.
	Version, Replaced string
	// Skipped are the earlier versions of the publish history passed over
	// because they failed verification or were removed, newest first, with
	// the reason.
	Skipped []SkippedVersion
}

// SkippedVersion is a version a rollback did not return to, and why.
type SkippedVersion struct {
	Version string
	Err     error
}

// RollbackVerified is the rollback policy every caller uses: it walks back
// through the publish history from the version published before the
// published one and publishes the newest that verifies, dropping the
// skipped ones from the history (they were passed over for a reason). It
// fails with an error wrapping ErrNoPrevious, naming every version it
// refused, when none verifies, and with ErrPublishedChanged when the
// published version changed while it was verifying.
func (d *Dir) RollbackVerified(ctx context.Context) (RollbackResult, error) {
	r, err := d.rollbackVerified(ctx)
	if err != nil {
		return r, fmt.Errorf("roll back %s: %w", d.path, err)
	}
	return r, nil
}

func (d *Dir) rollbackVerified(ctx context.Context) (RollbackResult, error) {
	var r RollbackResult
	pub, err := d.published()
	if err != nil {
		return r, err
	}
	if pub == "" {
		return r, ErrNoPrevious
	}
	h, err := d.readHistory(pub)
	if err != nil {
		return r, err
	}
	r.Replaced = pub
	for i := len(h) - 2; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		v := h[i]
		if v == pub {
			continue
		}
		ok, err := d.tryRollbackTo(ctx, v, i, pub)
		if err != nil && (errors.Is(err, ErrCorrupt) || errors.Is(err, ErrFormat) || errors.Is(err, ErrNotFound)) {
			r.Skipped = append(r.Skipped, SkippedVersion{Version: v, Err: err})
			continue
		}
		if err != nil {
			return r, err
		}
		if ok {
			r.Version = v
			return r, nil
		}
	}
	if len(r.Skipped) == 0 {
		return r, ErrNoPrevious
	}
	var why []string
	for _, s := range r.Skipped {
		why = append(why, s.Err.Error())
	}
	return r, fmt.Errorf("%w that verifies: refused %s", ErrNoPrevious, strings.Join(why, "; "))
}

// tryRollbackTo verifies v, the i-th entry of the history, and publishes
// it, truncating the history after it, if pub is still published and the
// history still holds v at i.
func (d *Dir) tryRollbackTo(ctx context.Context, v string, i int, pub string) (bool, error) {
	vlock, err := d.lockVersion(v, unix.LOCK_SH)
	if err != nil {
		return false, fmt.Errorf("%s: %w", v, err)
	}
	defer vlock.Close()
	if err := d.verify(ctx, v); err != nil {
		return false, fmt.Errorf("verify %s: %w", v, err)
	}
	err = d.swapPublished(v, func(now string, h []string) ([]string, error) {
		if now != pub || len(h) <= i || h[i] != v {
			return nil, fmt.Errorf("%w: expected %s, found %s", ErrPublishedChanged, pub, orNone(now))
		}
		return h[:i+1], nil
	})
	return err == nil, err
}

// swapPublished points PUBLISHED at version under the publish lock. next
// receives the published version and the history and returns the new
// history (nil: change nothing) or an error. The caller holds a lock on
// version.
func (d *Dir) swapPublished(version string, next func(pub string, h []string) ([]string, error)) error {
	plock, err := d.lockPublish()
	if err != nil {
		return err
	}
	defer plock.Close()
	if _, err := d.readManifestFile(version); err != nil {
		return err
	}
	pub, err := d.published()
	if err != nil {
		return err
	}
	h, err := d.readHistory(pub)
	if err != nil {
		return err
	}
	h, err = next(pub, h)
	if err != nil || h == nil {
		return err
	}
	if err := d.writeHistory(h); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(d.path, publishedFile), []byte(version+"\n"))
}

// History returns the publish history, oldest first, the published
// version last; nil if nothing is published. Versions in it may have
// been removed since.
func (d *Dir) History() ([]string, error) {
	pub, err := d.published()
	if err != nil || pub == "" {
		return nil, err
	}
	h, err := d.readHistory(pub)
	if err != nil {
		return nil, fmt.Errorf("read publish history in %s: %w", d.path, err)
	}
	return h, nil
}

// VersionStamp returns a fingerprint of the files of version: the name,
// size, modification time and inode of every file in its
// directory. It changes whenever a file is replaced, resized, written or
// removed, so a reader that refused a version can retry once it was
// repaired without re-reading it whole. A version that does not exist
// yields an error wrapping ErrNotFound.
func (d *Dir) VersionStamp(version string) (string, error) {
	if err := checkVersion(version); err != nil {
		return "", err
	}
	var b strings.Builder
	root := d.versionPath(version)
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(&b, "%s %d %d", rel, fi.Size(), fi.ModTime().UnixNano())
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			fmt.Fprintf(&b, " %d", st.Ino)
		}
		b.WriteByte('\n')
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("stamp %s: %w", version, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("stamp %s: %w", version, err)
	}
	return b.String(), nil
}
