package pipeline

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/polecam/polecam/store"
	"github.com/polecam/polecam/training/eventlog"
	"github.com/polecam/polecam/training/synth"
)

// options returns small, fast training options for a log in dir.
func options(t *testing.T, dataDir string, events ...string) Options {
	t.Helper()
	o := DefaultOptions()
	o.DataDir = dataDir
	o.Events = events
	o.ALS.Factors = 8
	o.ALS.Iterations = 3
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return o
}

func sampleLog(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.csv")
	g := synth.DefaultOptions()
	g.Users, g.Items, g.Events, g.Seed = 200, 100, 8000, 5
	if err := synth.GenerateFile(path, g); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTrainPublishesCompleteVersion(t *testing.T) {
	logFile := sampleLog(t)
	dataDir := t.TempDir()
	m, err := Train(context.Background(), options(t, dataDir, logFile))
	if err != nil {
		t.Fatalf("Train() error = %v", err)
	}
	dir, err := store.OpenDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := dir.Published(); err != nil || v != m.Version {
		t.Fatalf("Published() = %q, %v; want %q", v, err, m.Version)
	}
	if err := dir.Verify(context.Background(), m.Version); err != nil {
		t.Errorf("Verify(%s) = %v", m.Version, err)
	}
	if m.Counts.Events != 8000 || m.Counts.Items == 0 || m.Counts.Users == 0 || m.Counts.Interactions == 0 {
		t.Errorf("manifest counts = %+v, want 8000 events and non-zero users, items, interactions", m.Counts)
	}
	if len(m.Sources) != 1 || m.Sources[0].Path != logFile || len(m.Sources[0].SHA256) != 64 {
		t.Errorf("manifest sources = %+v, want %s with its SHA-256", m.Sources, logFile)
	}
	if m.Window.From.IsZero() || !m.Window.To.After(m.Window.From) {
		t.Errorf("manifest window = %+v, want the log's time span", m.Window)
	}
	if !strings.Contains(string(m.Params), `"factors"`) {
		t.Errorf("manifest params = %s, want the ALS parameters", m.Params)
	}
	snap, err := dir.Open(m.Version, store.OpenOptions{VerifyChecksums: true})
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	if got := snap.ItemFactors(); got.Rows != int(m.Counts.Items) || got.Dims != 8 {
		t.Errorf("item factors %dx%d, want %dx8", got.Rows, got.Dims, m.Counts.Items)
	}
}

// A run that fails must leave the published version as it was and add no
// version.
func TestFailedRunPublishesNothing(t *testing.T) {
	logFile := sampleLog(t)
	dataDir := t.TempDir()
	first, err := Train(context.Background(), options(t, dataDir, logFile))
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.csv")
	content := "timestamp,user_id,item_id,event\n" +
		"2026-11-01T10:00:00Z,u1,sku-1,view\n" +
		"not-a-time,u1,sku-2,view\n" +
		"2026-11-01T10:00:00Z,,sku-2,view\n" +
		"2026-11-01T10:00:00Z,u2,sku-2,teleport\n"
	if err := os.WriteFile(bad, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		opts Options
		want error
	}{
		{"too many bad lines", context.Background(), options(t, dataDir, bad), eventlog.ErrTooManyBadLines},
		{"no such file", context.Background(), options(t, dataDir, filepath.Join(t.TempDir(), "missing-*.csv")), nil},
		{"cancelled", ctx, options(t, dataDir, logFile), context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Train(tt.ctx, tt.opts)
			if err == nil {
				t.Fatal("Train() error = nil, want an error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Train() error = %v, want %v", err, tt.want)
			}
			dir, err := store.OpenDir(dataDir)
			if err != nil {
				t.Fatal(err)
			}
			if v, err := dir.Published(); err != nil || v != first.Version {
				t.Errorf("Published() = %q, %v after a failed run; want %q", v, err, first.Version)
			}
			vs, err := dir.Versions()
			if err != nil || len(vs) != 1 {
				t.Errorf("Versions() = %d versions, %v after a failed run; want 1", len(vs), err)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Options)
	}{
		{"no data dir", func(o *Options) { o.DataDir = "" }},
		{"no events", func(o *Options) { o.Events = nil }},
		{"no logger", func(o *Options) { o.Logger = nil }},
		{"bad factors", func(o *Options) { o.ALS.Factors = -1 }}, // 0 is automatic
		{"bad ratio", func(o *Options) { o.Log.MaxBadRatio = -1 }},
	}
	for _, tt := range tests {
		o := DefaultOptions()
		o.Events = []string{"x.csv"}
		if err := o.Validate(); err != nil {
			t.Fatalf("defaults: Validate() = %v", err)
		}
		tt.modify(&o)
		if err := o.Validate(); err == nil {
			t.Errorf("%s: Validate() = nil, want an error", tt.name)
		}
	}
}
