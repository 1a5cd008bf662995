package cli

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/polecam/polecam/store"
)

func TestBenchFixture(t *testing.T) {
	tmp := t.TempDir()
	dataDir, export := filepath.Join(tmp, "data"), filepath.Join(tmp, "export")
	out := run(t, "bench", "fixture", "--data-dir", dataDir, "--items", "200", "--users", "30", "--factors", "8", "--export", export)
	if !strings.Contains(out, "published") {
		t.Errorf("bench fixture output = %q, want it to say the snapshot was published", out)
	}
	d, err := store.OpenDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Published(); err != nil {
		t.Errorf("Published() error = %v after bench fixture", err)
	}
	for _, f := range []string{"items.npy", "users.npy", "fixture.json"} {
		if _, err := os.Stat(filepath.Join(export, f)); err != nil {
			t.Errorf("export %s: %v", f, err)
		}
	}
}

func TestBenchRejectsBadFlags(t *testing.T) {
	tests := [][]string{
		{"bench", "fixture"},
		{"bench", "fixture", "--data-dir", "x", "--items", "0"},
		{"bench", "load", "--addr", "no-port", "--duration", "1s", "--wait", "0s"},
		{"bench", "load", "--similar", "2"},
		{"bench", "compare", "only-one.json"},
		{"bench", "compare", "missing-a.json", "missing-b.json"},
	}
	for _, args := range tests {
		if err := Run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("polecam %s: error = nil, want an error", strings.Join(args, " "))
		}
	}
}
