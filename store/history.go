package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrNoPrevious: there is no previously published version to roll back to,
// or it has been removed.
var ErrNoPrevious = errors.New("no previous published version")

// maxHistory bounds the publish history kept in HISTORY.
const maxHistory = 100

// readHistory returns the publish history, oldest first, reconciled with
// PUBLISHED (pub, "" if nothing is published). HISTORY is a stack of
// versions, one per line, whose last line is the published one; Publish
// pushes, Rollback pops. It is rewritten atomically before PUBLISHED is
// replaced, so a crash in between leaves HISTORY one step ahead of the
// pointer; the pointer wins: if the published version is in the history,
// everything after its last occurrence is dropped (an interrupted publish),
// otherwise it is pushed (an interrupted rollback, or a data directory from
// before HISTORY existed).
func (d *Dir) readHistory(pub string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(d.path, historyFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", historyFile, err)
	}
	var h []string
	for i, line := range strings.Split(string(b), "\n") {
		if line == "" {
			continue
		}
		if !ValidVersion(line) {
			return nil, fmt.Errorf("read %s: %w: line %d holds %q", historyFile, ErrCorrupt, i+1, line)
		}
		h = append(h, line)
	}
	if pub == "" {
		return h, nil
	}
	for i := len(h) - 1; i >= 0; i-- {
		if h[i] == pub {
			return h[:i+1], nil
		}
	}
	return append(h, pub), nil
}

func (d *Dir) writeHistory(h []string) error {
	if len(h) > maxHistory {
		h = h[len(h)-maxHistory:]
	}
	var b bytes.Buffer
	for _, v := range h {
		b.WriteString(v)
		b.WriteByte('\n')
	}
	if err := writeFileAtomic(filepath.Join(d.path, historyFile), b.Bytes()); err != nil {
		return fmt.Errorf("write %s: %w", historyFile, err)
	}
	return nil
}

// published returns the published version or "" if there is none.
func (d *Dir) published() (string, error) {
	pub, err := d.Published()
	if errors.Is(err, ErrNoPublished) {
		return "", nil
	}
	return pub, err
}

// Publish makes version the published one by atomically replacing
// PUBLISHED, without verifying it first and whatever is published now:
// the primitive under PublishVerified, which is the policy callers use.
// The version must exist and be complete. The publish is first recorded
// in the durable publish history (HISTORY, rewritten atomically), which
// Previous and Rollback read. Publishing the published version again
// changes nothing.
func (d *Dir) Publish(version string) error {
	_, err := d.PublishVerified(context.Background(), version, PublishOptions{SkipVerify: true})
	return err
}

// Previous returns the version that was published before the published
// one, or an error wrapping ErrNoPrevious if there is none or it has been
// removed.
func (d *Dir) Previous() (string, error) {
	v, err := d.previous()
	if err != nil {
		return "", fmt.Errorf("previous version in %s: %w", d.path, err)
	}
	return v, nil
}

func (d *Dir) previous() (string, error) {
	pub, err := d.published()
	if err != nil {
		return "", err
	}
	if pub == "" {
		return "", ErrNoPrevious
	}
	h, err := d.readHistory(pub)
	if err != nil {
		return "", err
	}
	if len(h) < 2 {
		return "", ErrNoPrevious
	}
	prev := h[len(h)-2]
	if _, err := d.readManifestFile(prev); errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("%w: %s was removed", ErrNoPrevious, prev)
	} else if err != nil {
		return "", fmt.Errorf("%s: %w", prev, err)
	}
	return prev, nil
}

// Rollback publishes the version that was published before the published
// one and returns it, without verifying it: the primitive under
// RollbackVerified, which is the policy callers use. Repeated rollbacks
// walk further back through the publish history. It fails with an error
// wrapping ErrNoPrevious if there is no previous version or it has been
// removed.
func (d *Dir) Rollback() (string, error) {
	prev, err := d.previous()
	if err == nil {
		err = d.rollbackTo(prev)
	}
	if err != nil {
		return "", fmt.Errorf("roll back %s: %w", d.path, err)
	}
	return prev, nil
}

// rollbackTo pops the history down to prev, which must be below its top.
func (d *Dir) rollbackTo(prev string) error {
	vlock, err := d.lockVersion(prev, unix.LOCK_SH)
	if err != nil {
		return err
	}
	defer vlock.Close()
	return d.swapPublished(prev, func(_ string, h []string) ([]string, error) {
		if len(h) < 2 || h[len(h)-2] != prev {
			return nil, fmt.Errorf("%w: history changed meanwhile", ErrNoPrevious)
		}
		return h[:len(h)-1], nil
	})
}
