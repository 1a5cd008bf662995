package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

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
	o.Tune.Budget = 0 // tuning has its own tests (tune_test.go)
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
			if ls, err := dir.Leftovers(); err != nil || len(ls) != 0 {
				t.Errorf("Leftovers() = %+v, %v after a failed run; want none", ls, err)
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
		{"negative popularity half-life", func(o *Options) { o.PopularityHalfLife = -time.Hour }},
		{"negative recency weight", func(o *Options) { o.RecencyWeight = -0.1 }},
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

// A full disk is found before the write: the run fails with ENOSPC ("no
// space left on device"), leaves no staging directory and keeps the
// published version. The disk is full only from the n-th check on, so
// that the gate's holdout version, the final version, or both fail.
func TestTrainFullDisk(t *testing.T) {
	logFile := sampleLog(t)
	for _, fullFrom := range []int{1, 2} {
		t.Run(fmt.Sprintf("full from check %d", fullFrom), func(t *testing.T) {
			dataDir := t.TempDir()
			first, err := Train(context.Background(), options(t, dataDir, logFile))
			if err != nil {
				t.Fatal(err)
			}
			o := options(t, dataDir, logFile)
			checks := 0
			o.FreeSpace = func(path string) (int64, error) {
				if checks++; checks >= fullFrom {
					return 1 << 20, nil
				}
				return store.FreeSpace(path)
			}
			_, err = Train(context.Background(), o)
			if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "no space left on device") {
				t.Fatalf("Train() on a full disk = %v, want ENOSPC", err)
			}
			if checks != fullFrom {
				t.Errorf("free space checked %d times, want %d", checks, fullFrom)
			}
			if es, err := os.ReadDir(filepath.Join(dataDir, "staging")); err != nil || len(es) != 0 {
				t.Errorf("staging holds %d entries (%v) after the failed run, want none", len(es), err)
			}
			dir, err := store.OpenDir(dataDir)
			if err != nil {
				t.Fatal(err)
			}
			if v, err := dir.Published(); err != nil || v != first.Version {
				t.Errorf("Published() = %q, %v; want %q", v, err, first.Version)
			}
			if vs, _ := dir.Versions(); len(vs) != 1 {
				t.Errorf("%d versions after the failed run, want 1", len(vs))
			}
		})
	}
}

// A 100 KB id is a bad line like any other, not a failure at the write.
func TestTrainLongID(t *testing.T) {
	logFile := sampleLog(t)
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 100_000)
	b = append(b, "2026-11-01T10:00:00Z,"+long+",sku-1,view\n2026-11-01T10:00:01Z,u1,"+long+",view\n"...)
	if err := os.WriteFile(logFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var sum Summary
	o := options(t, t.TempDir(), logFile)
	o.Summary = func(s Summary) { sum = s }
	m, err := Train(context.Background(), o)
	if err != nil {
		t.Fatalf("Train() = %v", err)
	}
	if m.Counts.BadLines != 2 || sum.BadLines != 2 {
		t.Errorf("manifest bad lines %d, summary %d; want 2", m.Counts.BadLines, sum.BadLines)
	}
}

// A log below the minimum sizes is rejected before training unless
// forced; forced, it publishes.
func TestTrainBelowMinimum(t *testing.T) {
	var log strings.Builder
	log.WriteString("timestamp,user_id,item_id,event\n")
	for u := range 5 {
		for i := range 3 {
			fmt.Fprintf(&log, "2026-11-%02dT10:00:00Z,u%d,sku-%d,view\n", 1+u+i, u, i)
		}
	}
	logFile := filepath.Join(t.TempDir(), "tiny.csv")
	if err := os.WriteFile(logFile, []byte(log.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	o := options(t, dataDir, logFile)
	o.ALS.Factors = 256
	_, err := Train(context.Background(), o)
	if !errors.Is(err, ErrInputRejected) || !strings.Contains(err.Error(), "5 users (the minimum is 50), 3 items (the minimum is 10)") {
		t.Fatalf("Train() on 5 users and 3 items = %v, want ErrInputRejected naming both", err)
	}
	dir, err := store.OpenDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if vs, _ := dir.Versions(); len(vs) != 0 {
		t.Errorf("%d versions written below the minimum, want none", len(vs))
	}
	o.Gate.Force = true
	m, err := Train(context.Background(), o)
	if err != nil {
		t.Fatalf("forced Train() = %v", err)
	}
	if v, _ := dir.Published(); v != m.Version {
		t.Errorf("forced: published %q, want %q", v, m.Version)
	}
}
