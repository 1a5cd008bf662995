package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/polecam/polecam/store"
)

// runErr runs the command line and returns stdout, stderr and the error.
func runErr(args ...string) (string, string, error) {
	var out, errb bytes.Buffer
	err := Run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), err
}

// trainSmall trains a tiny snapshot on logFile and returns its version.
func trainSmall(t *testing.T, dataDir, logFile string, extra ...string) string {
	t.Helper()
	args := append([]string{"train", "--log-level", "warn", "--data-dir", dataDir, "--events", logFile, "--factors", "4", "--iterations", "2", "--min-holdout-users", "0", "--tune-budget", "0"}, extra...)
	out := run(t, args...)
	m := regexp.MustCompile(`snapshot (\S+) `).FindStringSubmatch(out)
	if m == nil || !store.ValidVersion(m[1]) {
		t.Fatalf("train output = %q, want it to name the version", out)
	}
	return m[1]
}

func TestVersionCommands(t *testing.T) {
	tmp := t.TempDir()
	logFile := filepath.Join(tmp, "events.csv")
	dataDir := filepath.Join(tmp, "data")
	run(t, "gen", "--out", logFile, "--users", "60", "--items", "40", "--events", "2000", "--seed", "5")
	v1 := trainSmall(t, dataDir, logFile)
	v2 := trainSmall(t, dataDir, logFile, "--seed", "2")
	v3 := trainSmall(t, dataDir, logFile, "--no-publish")
	dir, err := store.OpenDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	wantPub := func(want string) {
		t.Helper()
		if got, err := dir.Published(); err != nil || got != want {
			t.Fatalf("Published() = %q, %v, want %q", got, err, want)
		}
	}
	wantPub(v2)
	dd := []string{"--data-dir", dataDir}

	t.Run("snapshots marks published and previous", func(t *testing.T) {
		out := run(t, append([]string{"snapshots"}, dd...)...)
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`(?m)^\* PUBLISHED +` + regexp.QuoteMeta(v2)),
			regexp.MustCompile(`(?m)^PREVIOUS +` + regexp.QuoteMeta(v1)),
			regexp.MustCompile(`(?m)^ +` + regexp.QuoteMeta(v3)),
		} {
			if !want.MatchString(out) {
				t.Errorf("snapshots output does not match %s:\n%s", want, out)
			}
		}
	})

	t.Run("inspect", func(t *testing.T) {
		out := run(t, append([]string{"inspect", v2}, dd...)...)
		for _, want := range []string{"version       " + v2, "state         published", "code version  dev", "items.vec", "users.vec", "badger/MANIFEST", "metrics:", "sources:", logFile} {
			if !strings.Contains(out, want) {
				t.Errorf("inspect output lacks %q:\n%s", want, out)
			}
		}
		raw, err := os.ReadFile(logFile)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(raw)
		out = run(t, append([]string{"inspect", "--json", v1}, dd...)...)
		var got inspectJSON
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("inspect --json output is not JSON: %v\n%s", err, out)
		}
		if got.Version != v1 || got.Manifest.Version != v1 || got.Published || !got.Previous || got.SizeBytes <= 0 {
			t.Errorf("inspect --json = version %q manifest %q published %v previous %v size %d; want %s, previous",
				got.Version, got.Manifest.Version, got.Published, got.Previous, got.SizeBytes, v1)
		}
		if len(got.Manifest.Sources) != 1 || got.Manifest.Sources[0].SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("inspect --json sources = %+v, want %s with sha256 %x", got.Manifest.Sources, logFile, sum)
		}
		if got.Manifest.Counts.Users == 0 || got.Manifest.Counts.Items == 0 || len(got.Files) < 5 {
			t.Errorf("inspect --json counts %+v, %d files; want non-zero counts and every file", got.Manifest.Counts, len(got.Files))
		}
		if _, _, err := runErr(append([]string{"inspect", "20200101T000000.000Z-000000"}, dd...)...); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("inspect of an unknown version: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("verify", func(t *testing.T) {
		out := run(t, append([]string{"verify", v1, v2}, dd...)...)
		if strings.Count(out, "ok ") != 2 {
			t.Errorf("verify output = %q, want two ok lines", out)
		}
		if _, _, err := runErr(append([]string{"verify"}, dd...)...); err == nil {
			t.Error("verify without versions or --all succeeded")
		}
		run(t, append([]string{"verify", "--all"}, dd...)...)
	})

	// Damage v3: verify names it and the file; publish refuses it.
	p := filepath.Join(dataDir, "versions", v3, "items.vec")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-3] ^= 0x10
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("verify reports damage", func(t *testing.T) {
		out, _, err := runErr(append([]string{"verify", "--all"}, dd...)...)
		if err == nil || !strings.Contains(err.Error(), "1 of 3 versions failed: "+v3) {
			t.Errorf("verify --all err = %v, want 1 of 3 failed naming %s", err, v3)
		}
		if !regexp.MustCompile(`FAILED .*` + regexp.QuoteMeta(v3) + `.*items\.vec`).MatchString(out) {
			t.Errorf("verify --all output does not name %s and items.vec:\n%s", v3, out)
		}
	})

	t.Run("publish and rollback", func(t *testing.T) {
		if _, _, err := runErr(append([]string{"publish", v3}, dd...)...); err == nil || !strings.Contains(err.Error(), "fails verification") {
			t.Errorf("publish of a damaged version: err = %v, want refusal", err)
		}
		wantPub(v2)
		out := run(t, append([]string{"rollback"}, dd...)...)
		if want := "rolled back from " + v2 + " to " + v1; !strings.Contains(out, want) {
			t.Errorf("rollback output = %q, want %q", out, want)
		}
		wantPub(v1)
		if _, _, err := runErr(append([]string{"rollback"}, dd...)...); !errors.Is(err, store.ErrNoPrevious) {
			t.Errorf("second rollback err = %v, want ErrNoPrevious", err)
		}
		wantPub(v1)
		if out := run(t, append([]string{"publish", v2}, dd...)...); !strings.Contains(out, "published "+v2) {
			t.Errorf("publish output = %q", out)
		}
		wantPub(v2)
	})

	t.Run("retain", func(t *testing.T) {
		if _, _, err := runErr(append([]string{"retain", "--keep", "-1"}, dd...)...); err == nil {
			t.Error("retain --keep -1 succeeded")
		}
		// v3 is newer than the published v2: a candidate kept for
		// inspection until a newer version is published.
		out := run(t, append([]string{"retain", "--keep", "0"}, dd...)...)
		if !strings.Contains(out, "removed 0, 3 versions left") {
			t.Errorf("retain --keep 0 output = %q, want nothing removed and 3 left", out)
		}
		if _, err := os.Stat(filepath.Join(dataDir, "versions", v3)); err != nil {
			t.Errorf("candidate %s removed by retain: %v", v3, err)
		}
	})

	t.Run("forget", func(t *testing.T) {
		const user = "user-forget-me@example.com"
		out, errOut, err := runErr(append([]string{"forget", "--user", user}, dd...)...)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, user) || strings.Contains(errOut, user) {
			t.Errorf("forget printed the user id:\nstdout: %s\nstderr: %s", out, errOut)
		}
		prefix := store.UserHash(user)[:12]
		if !strings.Contains(out, prefix) || !strings.Contains(errOut, "user_sha256_prefix="+prefix) {
			t.Errorf("forget output lacks the hash prefix %s for audit:\nstdout: %s\nstderr: %s", prefix, out, errOut)
		}
		ts, err := dir.Tombstones()
		if err != nil || !ts.Has(user) || ts.Len() != 1 {
			t.Errorf("Tombstones() = %d entries (has user: %v), %v; want the user", ts.Len(), ts.Has(user), err)
		}
		if _, _, err := runErr(append([]string{"forget"}, dd...)...); err == nil {
			t.Error("forget without --user succeeded")
		}
	})
}

// TestRollbackSkipsCorrupt rolls back over a corrupt version of the
// publish history to the newest earlier one that verifies, and refuses
// when only corrupt ones are left.
func TestRollbackSkipsCorrupt(t *testing.T) {
	tmp := t.TempDir()
	logFile := filepath.Join(tmp, "events.csv")
	dataDir := filepath.Join(tmp, "data")
	dd := []string{"--data-dir", dataDir}
	run(t, "gen", "--out", logFile, "--users", "60", "--items", "40", "--events", "2000", "--seed", "5")
	var v []string
	for i := range 3 {
		v = append(v, trainSmall(t, dataDir, logFile, "--no-gate", "--seed", fmt.Sprint(i+1)))
	}
	damage := func(version string) {
		t.Helper()
		p := filepath.Join(dataDir, "versions", version, "items.vec")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)-3] ^= 0x10
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dir, err := store.OpenDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	wantPub := func(want string) {
		t.Helper()
		if got, err := dir.Published(); err != nil || got != want {
			t.Fatalf("Published() = %q, %v, want %q", got, err, want)
		}
	}
	damage(v[1])
	out := run(t, append([]string{"rollback"}, dd...)...)
	if !strings.Contains(out, "skipped "+v[1]) || !strings.Contains(out, "rolled back from "+v[2]+" to "+v[0]) {
		t.Errorf("rollback output = %q, want %s skipped and a rollback to %s", out, v[1], v[0])
	}
	wantPub(v[0])

	run(t, append([]string{"publish", v[2]}, dd...)...)
	damage(v[0])
	_, _, err = runErr(append([]string{"rollback"}, dd...)...)
	if !errors.Is(err, store.ErrNoPrevious) || !strings.Contains(err.Error(), v[0]) {
		t.Errorf("rollback onto corrupt %s: err = %v, want ErrNoPrevious naming it", v[0], err)
	}
	wantPub(v[2])
}

// TestVerifyAllCountsUnreadable damages the published version's manifest:
// verify --all names it and exits non-zero, snapshots says a directory
// cannot be read, and staging leftovers are listed, then removed by retain.
func TestVerifyAllCountsUnreadable(t *testing.T) {
	tmp := t.TempDir()
	logFile := filepath.Join(tmp, "events.csv")
	dataDir := filepath.Join(tmp, "data")
	dd := []string{"--data-dir", dataDir}
	run(t, "gen", "--out", logFile, "--users", "60", "--items", "40", "--events", "2000", "--seed", "5")
	v1 := trainSmall(t, dataDir, logFile, "--no-gate")
	v2 := trainSmall(t, dataDir, logFile, "--no-gate", "--seed", "2")
	if err := os.WriteFile(filepath.Join(dataDir, "versions", v2, "manifest.json"), []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(dataDir, "staging", "20261202T000000.000Z-dead00")
	if err := os.MkdirAll(filepath.Join(leftover, "badger"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(leftover, "badger", "000001.vlog"), make([]byte, 5000), 0o600); err != nil {
		t.Fatal(err)
	}

	out, _, err := runErr(append([]string{"verify", "--all"}, dd...)...)
	if err == nil || !strings.Contains(err.Error(), "1 of 2 versions failed: "+v2) {
		t.Errorf("verify --all with a corrupt manifest: err = %v, want 1 of 2 failed naming %s", err, v2)
	}
	if !strings.Contains(out, "ok      "+v1) || !regexp.MustCompile(`FAILED .*`+regexp.QuoteMeta(v2)).MatchString(out) {
		t.Errorf("verify --all output does not pass %s and fail %s:\n%s", v1, v2, out)
	}
	if !strings.Contains(out, "staging leftovers: 1") || !strings.Contains(out, "leftover  20261202T000000.000Z-dead00") {
		t.Errorf("verify --all output does not list the staging leftover:\n%s", out)
	}

	out = run(t, append([]string{"snapshots"}, dd...)...)
	if !strings.Contains(out, "1 version directories cannot be read") || !strings.Contains(out, "20261202T000000.000Z-dead00") {
		t.Errorf("snapshots output does not mention the unreadable version and the leftover:\n%s", out)
	}

	out = run(t, append([]string{"retain", "--keep", "5"}, dd...)...)
	if !strings.Contains(out, "removed leftover staging/20261202T000000.000Z-dead00") {
		t.Errorf("retain output = %q, want the leftover removed", out)
	}
	if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover still there after retain: %v", err)
	}
}

func TestVersionCommandsNeedExistingDataDir(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	for _, args := range [][]string{
		{"inspect", "20200101T000000.000Z-000000"},
		{"verify", "--all"},
		{"publish", "20200101T000000.000Z-000000"},
		{"rollback"},
		{"retain", "--keep", "1"},
		{"forget", "--user", "x"},
	} {
		err := Run(context.Background(), append(args, "--data-dir", missing), io.Discard, io.Discard)
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("polecam %s on a missing data dir: err = %v, want not exist", strings.Join(args, " "), err)
		}
		if _, err := os.Stat(missing); err == nil {
			t.Fatalf("polecam %s created the missing data dir", strings.Join(args, " "))
		}
	}
}
