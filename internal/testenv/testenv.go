// Package testenv tells tests where the data they need lives outside the
// repository and what to do when it is absent.
//
// MovieLens-100K is never copied into the repository. Tests find it at
// $POLECAM_ML100K or, when that is unset, at ../shared/data/ml-100k
// relative to the repository root (the directory holding go.mod). When it
// is absent a test skips with a message saying where it looked, except in
// continuous integration (the CI environment variable set, see InCI), where the same message fails the test: there the data is
// part of the environment, and a quality test that silently stops running
// would guard nothing.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ML100KEnv names the environment variable that points at the ml-100k
// directory.
const ML100KEnv = "POLECAM_ML100K"

// InCI reports whether the CI environment variable asks for a
// continuous-integration run: set to anything but "", "0" or "false" (in
// any case). .ci/run applies the same rule.
func InCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "0" && !strings.EqualFold(v, "false")
}

// ML100KDir returns the ml-100k directory tests should read: $POLECAM_ML100K,
// or ../shared/data/ml-100k relative to the repository root found from the
// working directory. It does not check that the directory exists.
func ML100KDir() (string, error) {
	if dir := os.Getenv(ML100KEnv); dir != "" {
		return dir, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "..", "shared", "data", "ml-100k"), nil
}

// ML100KRatings returns the path of MovieLens-100K's u.data. When it cannot
// be read the test skips with a message naming where it looked, or fails
// with that message when InCI is true.
func ML100KRatings(t testing.TB) string {
	t.Helper()
	path, err := ml100kRatings()
	if err != nil {
		absent(t, err.Error())
	}
	return path
}

func ml100kRatings() (string, error) {
	dir, err := ML100KDir()
	if err != nil {
		return "", fmt.Errorf("MovieLens-100K not found (set %s to the ml-100k directory): %w", ML100KEnv, err)
	}
	path := filepath.Join(dir, "u.data")
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("MovieLens-100K not found at %s (set %s to the ml-100k directory): %w", path, ML100KEnv, err)
	}
	return path, nil
}

// absent skips t with msg, or fails it with msg in CI.
func absent(t testing.TB, msg string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s; CI is set, so missing data fails the test instead of skipping it", msg)
		return
	}
	t.Skip(msg)
}

// repoRoot walks up from the working directory (a test runs in its
// package's directory) to the first directory holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("find the repository root: %w", err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find the repository root: no go.mod above the working directory")
		}
		dir = parent
	}
}
