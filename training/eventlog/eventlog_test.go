package eventlog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/gzip"

	"github.com/polecam/polecam/training/eventlog"
	"github.com/polecam/polecam/training/synth"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// collect reads patterns and returns the events handed to the callback.
func collect(t testing.TB, patterns []string, opts eventlog.Options) ([]eventlog.Event, eventlog.Stats, error) {
	t.Helper()
	var got []eventlog.Event
	st, err := eventlog.Read(context.Background(), patterns, opts, func(e eventlog.Event) error {
		got = append(got, e)
		return nil
	})
	if int64(len(got)) != st.Events {
		t.Errorf("callback saw %d events, Stats.Events = %d", len(got), st.Events)
	}
	if st.Events+st.Bad+st.Dropped.Total() != st.Lines {
		t.Errorf("Stats: events %d + bad %d + dropped %d != lines %d", st.Events, st.Bad, st.Dropped.Total(), st.Lines)
	}
	return got, st, err
}

// gzipFile compresses src into dst.
func gzipFile(t testing.TB, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

var (
	day1 = []eventlog.Event{
		{Time: utc("2026-11-01T08:15:02Z"), User: "u1842", Item: "sku-0117", Type: "view", Weight: 1},
		{Time: utc("2026-11-01T08:15:40Z"), User: "u1842", Item: "sku-0117", Type: "add_to_cart", Weight: 4},
		{Time: utc("2026-11-01T08:21:13.25Z"), User: "u1842", Item: "sku-0117", Type: "purchase", Weight: 10},
		{Time: utc("2026-11-01T09:02:11Z"), User: "u0007", Item: "sku-2231", Type: "view", Weight: 1},
	}
	day2 = []eventlog.Event{
		{Time: utc("2026-11-02T07:30:00Z"), User: "u0007", Item: "sku-2231", Type: "view", Weight: 1},
		{Time: utc("2026-11-02T07:31:05.25Z"), User: "u0007", Item: "sku-0042", Type: "cart", Weight: 4},
		{Time: utc("2026-11-02T09:00:00Z"), User: "u1842", Item: "sku-0042", Type: "View", Weight: 1},
	}
	day3 = []eventlog.Event{
		{Time: utc("2026-11-03T20:45:00Z"), User: "u0311", Item: "sku-0117", Type: "transaction", Weight: 10},
	}
	tsvEvents = []eventlog.Event{
		{Time: utc("2026-11-01T08:15:02Z"), User: "u1842", Item: "sku-0117", Type: "view", Weight: 1},
		{Time: utc("2026-11-01T08:16:30Z"), User: "u1842", Item: `sku-"deluxe"`, Type: "view", Weight: 1},
		{Time: utc("2026-11-01T08:17:00Z"), User: "u1842", Item: `sku-"deluxe"`, Type: "addtocart", Weight: 4},
	}
)

func concat(evs ...[]eventlog.Event) []eventlog.Event {
	var all []eventlog.Event
	for _, e := range evs {
		all = append(all, e...)
	}
	return all
}

func TestRead(t *testing.T) {
	tmp := t.TempDir()
	gzipFile(t, "testdata/events-2026-11-01.csv", filepath.Join(tmp, "events-2026-11-01.csv.gz"))
	gzipFile(t, "testdata/events.tsv", filepath.Join(tmp, "events.log")) // format from the header
	gzipFile(t, "testdata/events-2026-11-02.csv", filepath.Join(tmp, "day2.tsv.gz"))

	custom := eventlog.DefaultOptions()
	custom.Columns = eventlog.Columns{Timestamp: "time", User: "customer", Item: "sku", Event: "action"}
	forceCSV := eventlog.DefaultOptions()
	forceCSV.Format = "csv"

	tests := []struct {
		name     string
		patterns []string
		opts     eventlog.Options
		want     []eventlog.Event
		files    []string
	}{
		{
			name:     "csv",
			patterns: []string{"testdata/events-2026-11-01.csv"},
			want:     day1,
			files:    []string{"testdata/events-2026-11-01.csv"},
		},
		{
			name:     "tsv",
			patterns: []string{"testdata/events.tsv"},
			want:     tsvEvents,
			files:    []string{"testdata/events.tsv"},
		},
		{
			name:     "daily glob in date order",
			patterns: []string{"testdata/events-2026-11-0?.csv"},
			want:     concat(day1, day2, day3),
			files: []string{"testdata/events-2026-11-01.csv", "testdata/events-2026-11-02.csv",
				"testdata/events-2026-11-03.csv"},
		},
		{
			name:     "patterns overlap and are sorted",
			patterns: []string{"testdata/events-2026-11-03.csv", "testdata/events-2026-11-0[12].csv", "testdata/events-2026-11-01.csv"},
			want:     concat(day1, day2, day3),
			files: []string{"testdata/events-2026-11-01.csv", "testdata/events-2026-11-02.csv",
				"testdata/events-2026-11-03.csv"},
		},
		{
			name:     "gzip",
			patterns: []string{filepath.Join(tmp, "events-2026-11-01.csv.gz")},
			want:     day1,
			files:    []string{filepath.Join(tmp, "events-2026-11-01.csv.gz")},
		},
		{
			name:     "gzip tsv without extension",
			patterns: []string{filepath.Join(tmp, "events.log")},
			want:     tsvEvents,
			files:    []string{filepath.Join(tmp, "events.log")},
		},
		{
			name:     "format option beats the name",
			patterns: []string{filepath.Join(tmp, "day2.tsv.gz")},
			opts:     forceCSV,
			want:     day2,
			files:    []string{filepath.Join(tmp, "day2.tsv.gz")},
		},
		{
			name:     "custom column names and extra columns",
			patterns: []string{"testdata/custom-columns.csv"},
			opts:     custom,
			want: []eventlog.Event{
				{Time: utc("2026-11-01T12:00:00Z"), User: "c-77", Item: "A-100", Type: "view", Weight: 1},
				{Time: utc("2026-11-01T12:01:30Z"), User: "c-77", Item: "A-100", Type: "purchase", Weight: 10},
			},
			files: []string{"testdata/custom-columns.csv"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			if opts.Weights == nil {
				opts = eventlog.DefaultOptions()
			}
			got, st, err := collect(t, tt.patterns, opts)
			if err != nil {
				t.Fatalf("Read(%q): %v", tt.patterns, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Read(%q) events (-want +got):\n%s", tt.patterns, diff)
			}
			wantStats := eventlog.Stats{
				Files:  tt.files,
				Lines:  int64(len(tt.want)),
				Events: int64(len(tt.want)),
				First:  tt.want[0].Time,
				Last:   tt.want[0].Time,
			}
			for _, e := range tt.want {
				wantStats.First = minTime(wantStats.First, e.Time)
				wantStats.Last = maxTime(wantStats.Last, e.Time)
			}
			if diff := cmp.Diff(wantStats, st); diff != "" {
				t.Errorf("Read(%q) stats (-want +got):\n%s", tt.patterns, diff)
			}
		})
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func TestReadBadLines(t *testing.T) {
	const file = "testdata/bad-lines.csv"
	wantBad := []struct {
		line   int
		reason string
	}{
		{3, "3 fields, want 4"},
		{4, "empty user_id"},
		{5, "empty item_id"},
		{6, `timestamp "2026-13-01T08:00:04Z" is not RFC 3339`},
		{7, `unknown event "click" (known: add_to_cart, addtocart, cart, purchase, transaction, view)`},
		{8, `malformed CSV: bare "`},
		{9, "empty event"},
	}

	opts := eventlog.DefaultOptions()
	opts.MaxBadRatio = 1
	got, st, err := collect(t, []string{file}, opts)
	if err != nil {
		t.Fatalf("Read(%s) with MaxBadRatio 1: %v", file, err)
	}
	if len(got) != 2 || got[0].User != "u1" || got[1].User != "u2" {
		t.Errorf("good events = %+v, want the lines of u1 and u2", got)
	}
	if st.Lines != 9 || st.Bad != int64(len(wantBad)) {
		t.Errorf("Stats lines %d bad %d, want 9 and %d", st.Lines, st.Bad, len(wantBad))
	}
	if len(st.Samples) != len(wantBad) {
		t.Fatalf("samples = %v, want %d", st.Samples, len(wantBad))
	}
	for k, w := range wantBad {
		s := st.Samples[k]
		if s.File != file || s.Line != w.line || !strings.Contains(s.Reason, w.reason) {
			t.Errorf("sample %d = %v, want %s:%d with reason containing %q", k, s, file, w.line, w.reason)
		}
	}

	t.Run("samples are capped", func(t *testing.T) {
		opts := opts
		opts.MaxSamples = 2
		_, st, err := collect(t, []string{file}, opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Samples) != 2 || st.Bad != int64(len(wantBad)) {
			t.Errorf("%d samples of %d bad lines, want 2 of %d", len(st.Samples), st.Bad, len(wantBad))
		}
	})

	t.Run("ratio exceeded", func(t *testing.T) {
		_, st, err := collect(t, []string{file}, eventlog.DefaultOptions())
		if !errors.Is(err, eventlog.ErrTooManyBadLines) {
			t.Fatalf("Read(%s) = %v, want ErrTooManyBadLines", file, err)
		}
		for _, want := range []string{"7 of 9", "limit is 1.00%", file + ":3:"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not cite %q", err, want)
			}
		}
		if st.Bad != int64(len(wantBad)) {
			t.Errorf("Stats.Bad = %d with the error, want %d", st.Bad, len(wantBad))
		}
	})

	t.Run("ratio over all files", func(t *testing.T) {
		// 7 bad lines in 9 + 8 good events in the daily files: 7/17 is
		// within a 50 % limit, 7/9 alone would not be.
		opts := eventlog.DefaultOptions()
		opts.MaxBadRatio = 0.5
		_, st, err := collect(t, []string{file, "testdata/events-2026-11-0?.csv"}, opts)
		if err != nil {
			t.Fatalf("Read: %v (stats %+v)", err, st)
		}
		opts.MaxBadRatio = 0.4
		if _, _, err := collect(t, []string{file, "testdata/events-2026-11-0?.csv"}, opts); !errors.Is(err, eventlog.ErrTooManyBadLines) {
			t.Fatalf("Read with limit 40%% = %v, want ErrTooManyBadLines", err)
		}
	})
}

func TestReadErrors(t *testing.T) {
	tmp := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(tmp, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	empty := write("empty.csv", "")
	dup := write("dup.csv", "timestamp,user_id,item_id,event,USER_ID\n")
	notGzip := write("broken.csv.gz", "\x1f\x8bnot really gzip")
	badOpts := eventlog.DefaultOptions()
	badOpts.Format = "json"

	tests := []struct {
		name     string
		patterns []string
		opts     eventlog.Options
		want     []string // substrings of the error
		is       error
	}{
		{"missing column", []string{"testdata/missing-column.csv"}, eventlog.DefaultOptions(),
			[]string{"testdata/missing-column.csv", `no "user_id" column`, `"user"`}, nil},
		{"no match", []string{"testdata/events-1999-*.csv"}, eventlog.DefaultOptions(),
			[]string{`no event log files match "testdata/events-1999-*.csv"`}, nil},
		{"missing plain path", []string{"testdata/nope.csv"}, eventlog.DefaultOptions(),
			[]string{`"testdata/nope.csv"`}, nil},
		{"bad pattern", []string{"testdata/[.csv"}, eventlog.DefaultOptions(),
			[]string{"testdata/[.csv"}, filepath.ErrBadPattern},
		{"no patterns", nil, eventlog.DefaultOptions(), []string{"no event log files given"}, nil},
		{"no header", []string{empty}, eventlog.DefaultOptions(), []string{empty, "no header line"}, nil},
		{"duplicate column", []string{dup}, eventlog.DefaultOptions(), []string{dup, `two "user_id" columns`}, nil},
		{"corrupt gzip", []string{notGzip}, eventlog.DefaultOptions(), []string{notGzip, "gzip"}, nil},
		{"a directory", []string{tmp}, eventlog.DefaultOptions(), []string{tmp}, nil},
		{"invalid options", []string{"testdata/events.tsv"}, badOpts, []string{`format "json"`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := collect(t, tt.patterns, tt.opts)
			if err == nil {
				t.Fatalf("Read(%q) succeeded, want an error", tt.patterns)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Read(%q) = %q, want it to mention %q", tt.patterns, err, w)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Read(%q) = %v, want errors.Is %v", tt.patterns, err, tt.is)
			}
		})
	}
}

func TestReadCallbackError(t *testing.T) {
	errStop := errors.New("stop here")
	n := 0
	st, err := eventlog.Read(context.Background(), []string{"testdata/events-2026-11-0?.csv"}, eventlog.DefaultOptions(),
		func(e eventlog.Event) error {
			if n++; n == 2 {
				return errStop
			}
			return nil
		})
	if !errors.Is(err, errStop) || !strings.Contains(err.Error(), "testdata/events-2026-11-01.csv:3") {
		t.Fatalf("Read = %v, want %v at events-2026-11-01.csv:3", err, errStop)
	}
	if n != 2 || st.Events != 2 {
		t.Errorf("callback ran %d times, Stats.Events = %d, want 2 and 2", n, st.Events)
	}
}

func TestReadCancel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.csv")
	o := synth.DefaultOptions()
	o.Events = 20000
	if err := synth.GenerateFile(path, o); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	_, err := eventlog.Read(ctx, []string{path}, eventlog.DefaultOptions(), func(eventlog.Event) error {
		if n++; n == 10 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Read with a cancelled context = %v, want context.Canceled", err)
	}
	if n >= o.Events {
		t.Errorf("callback ran %d times after the cancel, want the read to stop early", n)
	}

	// A context cancelled before the start reads nothing.
	n = 0
	if _, err := eventlog.Read(ctx, []string{path}, eventlog.DefaultOptions(), func(eventlog.Event) error {
		n++
		return nil
	}); !errors.Is(err, context.Canceled) || n != 0 {
		t.Errorf("Read with a done context = %v after %d events, want context.Canceled and none", err, n)
	}
}

// TestReadSynth reads a generated log whole: every line is a good event.
func TestReadSynth(t *testing.T) {
	o := synth.DefaultOptions()
	o.Events = 10000
	dir := t.TempDir()
	for _, name := range []string{"events.csv", "events.csv.gz"} {
		path := filepath.Join(dir, name)
		if err := synth.GenerateFile(path, o); err != nil {
			t.Fatal(err)
		}
		_, st, err := collect(t, []string{path}, eventlog.DefaultOptions())
		if err != nil {
			t.Fatalf("Read(%s): %v", name, err)
		}
		if st.Events != int64(o.Events) || st.Bad != 0 {
			t.Errorf("Read(%s): %d events, %d bad, want %d and 0 (samples %v)", name, st.Events, st.Bad, o.Events, st.Samples)
		}
		if st.First.Before(synth.DefaultStart) || !st.Last.After(st.First) {
			t.Errorf("Read(%s): window %v – %v, want within the log's days", name, st.First, st.Last)
		}
	}
}

func TestReadStream(t *testing.T) {
	data, err := os.ReadFile("testdata/events.tsv")
	if err != nil {
		t.Fatal(err)
	}
	var got []eventlog.Event
	st, err := eventlog.ReadStream(context.Background(), "stdin", bytes.NewReader(data), eventlog.DefaultOptions(),
		func(e eventlog.Event) error {
			got = append(got, e)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tsvEvents, got); diff != "" {
		t.Errorf("ReadStream events (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"stdin"}, st.Files); diff != "" {
		t.Errorf("ReadStream files (-want +got):\n%s", diff)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*eventlog.Options)
		want string // substring of the error; empty for valid
	}{
		{"default", func(*eventlog.Options) {}, ""},
		{"empty format is auto", func(o *eventlog.Options) { o.Format = "" }, ""},
		{"format", func(o *eventlog.Options) { o.Format = "xml" }, `format "xml"`},
		{"no column", func(o *eventlog.Options) { o.Columns.Item = " " }, "no column name for the item"},
		{"same column", func(o *eventlog.Options) { o.Columns.Item = "USER_ID" }, "both named"},
		{"no weights", func(o *eventlog.Options) { o.Weights = nil }, "no event weights"},
		{"NaN weight", func(o *eventlog.Options) { o.Weights["view"] = float32(nanf()) }, `weight of "view"`},
		{"ratio", func(o *eventlog.Options) { o.MaxBadRatio = 1.5 }, "max bad ratio"},
		{"samples", func(o *eventlog.Options) { o.MaxSamples = -1 }, "max samples"},
	}
	for _, tt := range tests {
		o := eventlog.DefaultOptions()
		tt.edit(&o)
		err := o.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: Validate() = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func nanf() float64 {
	zero := 0.0
	return zero / zero
}

func FuzzRead(f *testing.F) {
	files, err := filepath.Glob("testdata/*.*sv")
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, strings.HasSuffix(name, ".tsv"))
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("timestamp,user_id,item_id,event\n1793604600,u1,sku-1,view\n"))
	zw.Close()
	f.Add(gz.Bytes(), false)
	f.Add([]byte("timestamp,user_id,item_id,event\n\"unterminated,u1,sku-1,view\n"), false)
	f.Add([]byte("timestamp\tuser_id\titem_id\tevent\n\"x\ty\tz\n"), true)

	opts := eventlog.DefaultOptions()
	f.Fuzz(func(t *testing.T, data []byte, tsv bool) {
		name := "fuzz.csv"
		if tsv {
			name = "fuzz.tsv"
		}
		var events int64
		st, err := eventlog.ReadStream(context.Background(), name, bytes.NewReader(data), opts, func(e eventlog.Event) error {
			events++
			if e.User == "" || e.Item == "" || e.Time.Location() != time.UTC {
				t.Errorf("bad event handed out: %+v", e)
			}
			if w, ok := opts.Weights[e.Type]; ok && w != e.Weight {
				t.Errorf("event %+v has weight %v, want %v", e, e.Weight, w)
			}
			return nil
		})
		if err != nil && !errors.Is(err, eventlog.ErrTooManyBadLines) {
			return // a structural error: no header, broken gzip, …
		}
		if st.Events+st.Bad != st.Lines || st.Events != events {
			t.Fatalf("inconsistent stats %+v with %d events handed out", st, events)
		}
		if len(st.Samples) > opts.MaxSamples || int64(len(st.Samples)) > st.Bad {
			t.Fatalf("%d samples for %d bad lines", len(st.Samples), st.Bad)
		}
		for _, s := range st.Samples {
			if s.Line < 2 || s.Reason == "" || s.File != name {
				t.Fatalf("sample %v, want a data line of %s with a reason", s, name)
			}
		}
		if st.Events > 0 && st.Last.Before(st.First) {
			t.Fatalf("window %v – %v runs backwards", st.First, st.Last)
		}
	})
}

func ExampleRead() {
	opts := eventlog.DefaultOptions()
	st, err := eventlog.Read(context.Background(), []string{"testdata/events-2026-11-*.csv"}, opts,
		func(e eventlog.Event) error {
			fmt.Println(e.Time.Format(time.RFC3339), e.User, e.Item, e.Type, e.Weight)
			return nil
		})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d files, %d events, %d bad lines\n", len(st.Files), st.Events, st.Bad)
	// Output:
	// 2026-11-01T08:15:02Z u1842 sku-0117 view 1
	// 2026-11-01T08:15:40Z u1842 sku-0117 add_to_cart 4
	// 2026-11-01T08:21:13Z u1842 sku-0117 purchase 10
	// 2026-11-01T09:02:11Z u0007 sku-2231 view 1
	// 2026-11-02T07:30:00Z u0007 sku-2231 view 1
	// 2026-11-02T07:31:05Z u0007 sku-0042 cart 4
	// 2026-11-02T09:00:00Z u1842 sku-0042 View 1
	// 2026-11-03T20:45:00Z u0311 sku-0117 transaction 10
	// 3 files, 8 events, 0 bad lines
}

func BenchmarkRead(b *testing.B) {
	const lines = 1_000_000
	dir := b.TempDir()
	o := synth.Options{Users: 50_000, Items: 10_000, Events: lines, Seed: 1}
	for _, name := range []string{"events.csv", "events.csv.gz"} {
		path := filepath.Join(dir, name)
		if err := synth.GenerateFile(path, o); err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				st, err := eventlog.Read(context.Background(), []string{path}, eventlog.DefaultOptions(),
					func(eventlog.Event) error { return nil })
				if err != nil || st.Lines != lines {
					b.Fatalf("Read = %d lines, %v", st.Lines, err)
				}
			}
			b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

// TestReadLongIDs checks that an id over MaxIDLen — here 100 KB, beyond
// the snapshot store's key limit — is a counted bad line in every format,
// reported with its file, line and length but not the id itself.
func TestReadLongIDs(t *testing.T) {
	long := strings.Repeat("x", 100_000)
	atLimit := strings.Repeat("y", eventlog.MaxIDLen)
	tmp := t.TempDir()
	for _, tc := range []struct {
		name, format, file, content string
		wantLines                   []int // lines of the bad ones
		wantWhat                    []string
	}{
		{"csv", "auto", "e.csv",
			"timestamp,user_id,item_id,event\n" +
				"1793520940,u1," + long + ",view\n" +
				"1793520941," + long + ",i1,view\n" +
				"1793520942," + atLimit + ",i1,view\n" +
				"1793520943,u2,i2,view\n",
			[]int{2, 3}, []string{"item id", "user id"}},
		{"jsonl", "jsonl", "e.jsonl",
			`{"timestamp":1793520940,"user_id":"u1","item_id":"` + long + `","event":"view"}` + "\n" +
				`{"timestamp":1793520941,"user_id":"` + long + `","item_id":"i1","event":"view"}` + "\n" +
				`{"timestamp":1793520942,"user_id":"` + atLimit + `","item_id":"i1","event":"view"}` + "\n" +
				`{"timestamp":1793520943,"user_id":"u2","item_id":"i2","event":"view"}` + "\n",
			[]int{1, 2}, []string{"item id", "user id"}},
		{"movielens", "movielens", "u.data",
			"1\t" + long + "\t5\t979300760\n" +
				long + "\t2\t5\t979300761\n" +
				atLimit + "\t2\t5\t979300762\n" +
				"2\t3\t4\t979300763\n",
			[]int{1, 2}, []string{"item id", "user id"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(tmp, tc.file)
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			opts := eventlog.DefaultOptions()
			opts.Format = tc.format
			opts.MaxBadRatio = 0.5
			got, st, err := collect(t, []string{path}, opts)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if len(got) != 2 || st.Bad != 2 {
				t.Fatalf("%d events and %d bad lines, want 2 and 2 (samples %v)", len(got), st.Bad, st.Samples)
			}
			if got[0].User != atLimit {
				t.Errorf("an id of exactly MaxIDLen bytes was not kept")
			}
			for k, s := range st.Samples {
				if s.File != path || s.Line != tc.wantLines[k] {
					t.Errorf("sample %d at %s:%d, want %s:%d", k, s.File, s.Line, path, tc.wantLines[k])
				}
				want := fmt.Sprintf("%s of 100000 bytes is longer than the limit of %d", tc.wantWhat[k], eventlog.MaxIDLen)
				if s.Reason != want {
					t.Errorf("sample %d reason %q, want %q", k, s.Reason, want)
				}
			}
		})
	}
}
