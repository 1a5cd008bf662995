package eventlog_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/polecam/polecam/training/eventlog"
	"github.com/polecam/polecam/training/synth"
)

func TestReadProgress(t *testing.T) {
	dir := t.TempDir()
	o := synth.DefaultOptions()
	o.Events = 150_000
	var total int64
	names := []string{filepath.Join(dir, "a.csv"), filepath.Join(dir, "b.csv.gz")}
	for _, name := range names {
		if err := synth.GenerateFile(name, o); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		total += fi.Size()
	}
	opts := eventlog.DefaultOptions()
	var got []eventlog.Progress
	opts.Progress = func(p eventlog.Progress) { got = append(got, p) }
	st, err := eventlog.Read(context.Background(), names, opts, func(eventlog.Event) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	// Two reports within each file of 150,000 lines and one after it.
	if len(got) != 6 {
		t.Fatalf("%d progress reports, want 6: %+v", len(got), got)
	}
	for k, p := range got {
		if p.Files != 2 || p.TotalBytes != total || p.File != names[p.FileIndex] {
			t.Errorf("report %d = %+v, want 2 files of %d bytes", k, p, total)
		}
		if k > 0 && (p.Lines < got[k-1].Lines || p.Bytes < got[k-1].Bytes) {
			t.Errorf("report %d = %+v goes back from %+v", k, p, got[k-1])
		}
	}
	last := got[len(got)-1]
	if last.Bytes != total || last.Lines != st.Lines || last.Events != st.Events {
		t.Errorf("last report %+v, want %d bytes, %d lines, %d events", last, total, st.Lines, st.Events)
	}
}
