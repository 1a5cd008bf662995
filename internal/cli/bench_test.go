package cli

import (
	"context"
	"encoding/json"
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

// TestBenchRecall measures a small fixture with an index: the served
// answers find most of the exact ones, and the JSON says what was run.
func TestBenchRecall(t *testing.T) {
	tmp := t.TempDir()
	dataDir, jsonOut := filepath.Join(tmp, "data"), filepath.Join(tmp, "recall.json")
	run(t, "bench", "fixture", "--data-dir", dataDir, "--items", "3000", "--users", "200", "--factors", "16", "--ann")
	out := run(t, "bench", "recall", "--data-dir", dataDir, "--users", "50", "--json", jsonOut)
	if !strings.Contains(out, "recall@10 over 50 users") {
		t.Errorf("bench recall output = %q, want it to name recall@10 over 50 users", out)
	}
	b, err := os.ReadFile(jsonOut)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Items, Users, Measured, N int
		Recall                    float64
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("bench recall JSON: %v\n%s", err, b)
	}
	if r.Items != 3000 || r.Users != 200 || r.Measured != 50 || r.N != 10 {
		t.Errorf("bench recall JSON = %+v, want 3000 items, 200 users, 50 measured, n 10", r)
	}
	// The index is calibrated to recall@10 0.97 on the users' vectors;
	// seen items excluded and 50 users leave room below that.
	if r.Recall < 0.9 || r.Recall > 1 {
		t.Errorf("bench recall = %.4f, want in [0.9, 1]", r.Recall)
	}
	t.Logf("%s", out)
}

func TestBenchRejectsBadFlags(t *testing.T) {
	tests := [][]string{
		{"bench", "fixture"},
		{"bench", "fixture", "--data-dir", "x", "--items", "0"},
		{"bench", "load", "--addr", "no-port", "--duration", "1s", "--wait", "0s"},
		{"bench", "load", "--similar", "2"},
		{"bench", "compare", "only-one.json"},
		{"bench", "compare", "missing-a.json", "missing-b.json"},
		{"bench", "recall"},
		{"bench", "recall", "--data-dir", "x", "--users", "0"},
	}
	for _, args := range tests {
		if err := Run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("polecam %s: error = nil, want an error", strings.Join(args, " "))
		}
	}
}
