package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/polecam/polecam/internal/pipeline"
	"github.com/polecam/polecam/training/catalog"
	"github.com/polecam/polecam/training/eventlog"
)

func TestExitCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{fmt.Errorf("train: %w", &pipeline.GateError{Version: "v2", Published: "v1"}), 2},
		{fmt.Errorf("train: read events: %w: %w", pipeline.ErrInputRejected, eventlog.ErrTooManyBadLines), 3},
		{fmt.Errorf("train: read events: %w", eventlog.ErrTooManyBadLines), 3},
		{fmt.Errorf("train: write catalogue: %w", catalog.ErrTooManyBadLines), 3},
		{fmt.Errorf("train: %w: the logs hold no usable events", pipeline.ErrInputRejected), 3},
		{fmt.Errorf("train: write v2: %w", syscall.ENOSPC), 1},
		{errors.New("bad --log-level"), 1},
	}
	for _, tt := range tests {
		if got := ExitCode(tt.err); got != tt.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

// TestTrainExitCodes drives train on inputs it must reject: exit 3, not
// the gate's 2 nor a failure's 1.
func TestTrainExitCodes(t *testing.T) {
	tmp := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var tiny strings.Builder
	tiny.WriteString("timestamp,user_id,item_id,event\n")
	for u := range 5 {
		for i := range 3 {
			fmt.Fprintf(&tiny, "2026-11-%02dT10:00:00Z,u%d,sku-%d,view\n", 1+u+i, u, i)
		}
	}
	tests := []struct {
		name, log string
		want      int
		says      string
	}{
		{"tiny log", write("tiny.csv", tiny.String()), 3, "5 users (the minimum is 50)"},
		{"bad lines", write("bad.csv", "timestamp,user_id,item_id,event\nnope,u1,sku-1,view\n2026-11-01T10:00:00Z,u1,sku-1,view\n"), 3, "too many bad lines"},
		{"no events", write("empty.csv", "timestamp,user_id,item_id,event\n"), 3, "no usable events"},
		{"missing file", filepath.Join(tmp, "missing.csv"), 1, "missing.csv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := Run(context.Background(), []string{"train", "--log-level", "error", "--data-dir", filepath.Join(tmp, "data-"+tt.name),
				"--events", tt.log, "--factors", "256"}, &out, &errb)
			if got := ExitCode(err); got != tt.want || err == nil || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("train: %v (exit %d), want exit %d saying %q", err, got, tt.want, tt.says)
			}
		})
	}
}
