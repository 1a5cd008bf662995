package store

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestTrainerKilledAtRandom builds the polecam binary, then trains on a
// small synthetic log again and again, killing the trainer with SIGKILL at
// seeded random moments. After every kill the published version must be
// the one from before (or, if the kill came after the run published, a
// new version that verifies), every listed version must verify, and no
// half-written version may sit in versions/. A final run that is not
// killed must succeed and publish.
func TestTrainerKilledAtRandom(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the polecam binary; skipped with -short")
	}
	ctx := context.Background()
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "polecam")
	build := exec.Command("go", "build", "-o", bin, "./cmd/polecam")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/polecam: %v\n%s", err, out)
	}
	logFile := filepath.Join(tmp, "events.csv")
	dataDir := filepath.Join(tmp, "data")
	polecam := func(args ...string) *exec.Cmd {
		c := exec.Command(bin, args...)
		c.Stdout, c.Stderr = new(bytes.Buffer), new(bytes.Buffer)
		return c
	}
	runOK := func(args ...string) time.Duration {
		t.Helper()
		c := polecam(args...)
		start := time.Now()
		if err := c.Run(); err != nil {
			t.Fatalf("polecam %v: %v\n%s", args, err, c.Stderr)
		}
		return time.Since(start)
	}
	runOK("gen", "--out", logFile, "--users", "300", "--items", "200", "--events", "15000", "--seed", "7")
	train := []string{"train", "--log-level", "warn", "--data-dir", dataDir, "--events", logFile, "--factors", "8", "--iterations", "4"}
	took := runOK(train...)

	d, err := OpenDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := d.Published()
	if err != nil {
		t.Fatal(err)
	}
	checkAll := func(i int) {
		t.Helper()
		entries, err := os.ReadDir(filepath.Join(dataDir, "versions"))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if _, err := os.Stat(filepath.Join(dataDir, "versions", e.Name(), "COMPLETE")); err != nil {
				t.Errorf("kill %d: versions/%s has no COMPLETE marker: %v", i, e.Name(), err)
			}
		}
		vs, err := d.Versions()
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != len(entries) {
			t.Errorf("kill %d: %d versions listed, %d directories in versions/", i, len(vs), len(entries))
		}
		for _, v := range vs {
			if err := d.Verify(ctx, v.Version); err != nil {
				t.Errorf("kill %d: %v", i, err)
			}
		}
	}

	r := rand.New(rand.NewPCG(42, 4))
	const kills = 8
	before := map[string]bool{pub: true}
	for i := range kills {
		c := polecam(train...)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		// Spread the kills over a whole run, from start-up to the publish.
		time.Sleep(time.Duration(r.Int64N(int64(took)*9/10 + 1)))
		killErr := c.Process.Signal(syscall.SIGKILL)
		waitErr := c.Wait()
		killed := killErr == nil && waitErr != nil
		if waitErr != nil && !killed {
			t.Fatalf("kill %d: train failed on its own: %v\n%s", i, waitErr, c.Stderr)
		}
		got, err := d.Published()
		if err != nil {
			t.Fatalf("kill %d: %v", i, err)
		}
		switch {
		case got == pub:
		case !before[got]:
			// The run got as far as publishing before the kill (or ended
			// before it): the new version must be whole.
			t.Logf("kill %d came after the publish of %s", i, got)
			if err := d.Verify(ctx, got); err != nil {
				t.Errorf("kill %d: newly published %v", i, err)
			}
			pub = got
		default:
			t.Errorf("kill %d: published version moved back to %s", i, got)
		}
		vs, err := d.Versions()
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			before[v.Version] = true
		}
		checkAll(i)
	}

	runOK(train...)
	got, err := d.Published()
	if err != nil || before[got] {
		t.Fatalf("after the final run Published() = %q, %v; want a new version", got, err)
	}
	if err := d.Verify(ctx, got); err != nil {
		t.Error(err)
	}
	s, err := d.Open(got, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.NumItems() == 0 || s.NumUsers() == 0 {
		t.Errorf("final snapshot has %d items, %d users", s.NumItems(), s.NumUsers())
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	if _, err := d.Rollback(); err != nil && !errors.Is(err, ErrNoPrevious) {
		t.Errorf("Rollback() after the kills: %v", err)
	}
}
