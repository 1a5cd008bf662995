package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// TrainLockFile is the file in the data directory a training run holds an
// exclusive flock on from its start to its publish, so that runs on one
// data directory take turns: the second run's gate then compares against
// what the first one published. It holds the pid and start time of the
// holder, for the message of a run that waits.
const TrainLockFile = "TRAIN.LOCK"

// ErrLocked: another training run holds the data directory's lock and did
// not release it within Options.LockTimeout.
var ErrLocked = errors.New("another training run holds the data directory")

// lockPoll is how often a waiting run tries the lock again.
const lockPoll = 200 * time.Millisecond

// lockTraining takes the training lock of dataDir, waiting up to timeout
// (0: not at all) and saying that it waits. Close the file to unlock; the
// kernel also releases it when the process dies.
func lockTraining(ctx context.Context, dataDir string, timeout time.Duration, log *slog.Logger) (*os.File, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("lock %s: %w", dataDir, err)
	}
	p := filepath.Join(dataDir, TrainLockFile)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	deadline := time.Now().Add(timeout)
	waiting := false
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", p, err)
		}
		holder := readHolder(p)
		if !time.Now().Before(deadline) {
			f.Close()
			return nil, fmt.Errorf("%w (%s, lock %s) after waiting %v; raise --lock-timeout to wait longer", ErrLocked, holder, p, timeout)
		}
		if !waiting {
			waiting = true
			log.Warn("waiting for another training run on this data directory to finish", "holder", holder, "lock", p, "timeout", timeout)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(min(lockPoll, time.Until(deadline))):
		}
	}
	if waiting {
		log.Info("took the training lock", "lock", p)
	}
	host, _ := os.Hostname()
	rec := fmt.Sprintf("pid %d on %s since %s\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(rec), 0) // informative only
	}
	return f, nil
}

// readHolder returns what the lock holder wrote into the lock file.
func readHolder(p string) string {
	b, err := os.ReadFile(p)
	if s := strings.TrimSpace(string(b)); err == nil && s != "" {
		return s
	}
	return "holder unknown"
}
