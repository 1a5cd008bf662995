package eventlog_test

import (
	"os"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/polecam/polecam/training/eventlog"
)

// zstdFile compresses src into dst.
func zstdFile(t testing.TB, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer zw.Close()
	if err := os.WriteFile(dst, zw.EncodeAll(data, nil), 0o644); err != nil {
		t.Fatal(err)
	}
}

// unixUTC is a Unix time in seconds as a UTC time.
func unixUTC(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

// stats returns the Stats of a read of files that gave want and bad lines.
func wantStats(files []string, want []eventlog.Event, bad int64, samples []eventlog.BadLine) eventlog.Stats {
	st := eventlog.Stats{Files: files, Lines: int64(len(want)) + bad, Events: int64(len(want)), Bad: bad, Samples: samples}
	for _, e := range want {
		if st.First.IsZero() || e.Time.Before(st.First) {
			st.First = e.Time
		}
		if st.Last.IsZero() || e.Time.After(st.Last) {
			st.Last = e.Time
		}
	}
	return st
}
