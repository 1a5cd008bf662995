package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInCI(t *testing.T) {
	for _, tt := range []struct {
		value string
		set   bool
		want  bool
	}{
		{"", false, false},
		{"", true, false},
		{"true", true, true},
		{"1", true, true},
		{"false", true, false},
		{"0", true, false},
		{"FALSE", true, false},
		{"yes", true, true},
	} {
		if tt.set {
			t.Setenv("CI", tt.value)
		} else {
			t.Setenv("CI", "")
			os.Unsetenv("CI")
		}
		if got := InCI(); got != tt.want {
			t.Errorf("InCI() with CI=%q (set %v) = %v, want %v", tt.value, tt.set, got, tt.want)
		}
	}
}

// recorder is a testing.TB that records Skip and Fatalf instead of
// stopping the goroutine.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Skip(args ...any)                  { r.skipped = fmt.Sprint(args...) }
func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestML100KRatings(t *testing.T) {
	present := t.TempDir()
	if err := os.WriteFile(filepath.Join(present, "u.data"), []byte("1\t2\t3\t4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "ml-100k")
	for _, tt := range []struct {
		name, dir, ci      string
		wantPath           string
		wantSkip, wantFail bool
	}{
		{"present", present, "", filepath.Join(present, "u.data"), false, false},
		{"present in CI", present, "true", filepath.Join(present, "u.data"), false, false},
		{"absent", missing, "", "", true, false},
		{"absent in CI", missing, "true", "", false, true},
		{"absent, CI=false", missing, "false", "", true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(ML100KEnv, tt.dir)
			t.Setenv("CI", tt.ci)
			r := &recorder{TB: t}
			got := ML100KRatings(r)
			if got != tt.wantPath || (r.skipped != "") != tt.wantSkip || (r.failed != "") != tt.wantFail {
				t.Fatalf("ML100KRatings() = %q, skipped %q, failed %q; want %q, skip %v, fail %v",
					got, r.skipped, r.failed, tt.wantPath, tt.wantSkip, tt.wantFail)
			}
			// Skipping and failing give the same message, naming where
			// the data was looked for and how to point at it.
			msg := r.skipped + r.failed
			if msg != "" && (!strings.Contains(msg, filepath.Join(missing, "u.data")) || !strings.Contains(msg, ML100KEnv)) {
				t.Errorf("message %q does not name %s and %s", msg, filepath.Join(missing, "u.data"), ML100KEnv)
			}
		})
	}
}

// TestML100KDirDefault checks the default: ../shared/data/ml-100k next to
// the repository root, whatever package directory the test runs in.
func TestML100KDirDefault(t *testing.T) {
	t.Setenv(ML100KEnv, "")
	got, err := ML100KDir()
	if err != nil {
		t.Fatalf("ML100KDir: %v", err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	// This package is internal/testenv, two levels below the root.
	want := filepath.Join(wd, "..", "..", "..", "shared", "data", "ml-100k")
	if filepath.Clean(got) != filepath.Clean(want) {
		t.Errorf("ML100KDir() = %q, want %q", got, want)
	}
}
