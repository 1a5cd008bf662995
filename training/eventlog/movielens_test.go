package eventlog_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/polecam/polecam/internal/testenv"
	"github.com/polecam/polecam/training/eventlog"
)

func movieLensOptions(ratingWeights bool) eventlog.Options {
	o := eventlog.DefaultOptions()
	o.Format = "movielens"
	o.RatingWeights = ratingWeights
	return o
}

func rating(user, item string, w float32, sec int64) eventlog.Event {
	return eventlog.Event{Time: unixUTC(sec), User: user, Item: item, Type: eventlog.MovieLensType, Weight: w}
}

func TestReadMovieLens(t *testing.T) {
	tmp := t.TempDir()
	gz := filepath.Join(tmp, "u.data.gz")
	zst := filepath.Join(tmp, "u.data.zst")
	gzipFile(t, "testdata/u.data", gz)
	zstdFile(t, "testdata/u.data", zst)

	uData := []struct {
		user, item string
		rating     float32
		sec        int64
	}{
		{"7101", "5242", 3, 882485516}, {"7102", "5302", 3, 892952309}, {"7103", "5377", 1, 880121683},
		{"7104", "5051", 2, 881841490}, {"7105", "5346", 1, 887632163}, {"7106", "5474", 4, 885417373},
		{"7107", "5265", 2, 882406055}, {"7108", "5465", 5, 892863034}, {"7109", "5451", 3, 887559384},
		{"7110", "5086", 3, 884837580},
	}
	var ones, rated []eventlog.Event
	for _, r := range uData {
		ones = append(ones, rating(r.user, r.item, 1, r.sec))
		rated = append(rated, rating(r.user, r.item, r.rating, r.sec))
	}

	tests := []struct {
		name string
		file string
		opts eventlog.Options
		want []eventlog.Event
	}{
		{"u.data weighs 1", "testdata/u.data", movieLensOptions(false), ones},
		{"u.data rating weights", "testdata/u.data", movieLensOptions(true), rated},
		{"gzip", gz, movieLensOptions(false), ones},
		{"zstd", zst, movieLensOptions(true), rated},
		{"ratings.dat with ::", "testdata/ratings.dat", movieLensOptions(true), []eventlog.Event{
			rating("41", "3193", 5, 979300760), rating("41", "2661", 3, 979302109), rating("42", "3357", 5, 979298709),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, st, err := collect(t, []string{tt.file}, tt.opts)
			if err != nil {
				t.Fatalf("Read(%s): %v", tt.file, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Read(%s) events (-want +got):\n%s", tt.file, diff)
			}
			if diff := cmp.Diff(wantStats([]string{tt.file}, tt.want, 0, nil), st); diff != "" {
				t.Errorf("Read(%s) stats (-want +got):\n%s", tt.file, diff)
			}
		})
	}
}

func TestReadMovieLensBadLines(t *testing.T) {
	const file = "testdata/u-bad.data"
	tests := []struct {
		name    string
		opts    eventlog.Options
		want    []eventlog.Event
		samples []eventlog.BadLine
	}{
		{
			name: "weights of 1",
			opts: movieLensOptions(false),
			want: []eventlog.Event{
				rating("7101", "5242", 1, 882485516), rating("7106", "5474", 1, 885417373), rating("7107", "5265", 1, 882406055),
			},
			samples: []eventlog.BadLine{
				{File: file, Line: 2, Reason: "3 fields, want 4: user, item, rating, timestamp"},
				{File: file, Line: 4, Reason: `rating "five" is not a number`},
				{File: file, Line: 5, Reason: "empty item"},
				{File: file, Line: 6, Reason: `timestamp "1997-02-01" is not Unix seconds`},
			},
		},
		{
			name: "rating weights refuse a zero rating",
			opts: movieLensOptions(true),
			want: []eventlog.Event{rating("7101", "5242", 3, 882485516), rating("7106", "5474", 4, 885417373)},
			samples: []eventlog.BadLine{
				{File: file, Line: 2, Reason: "3 fields, want 4: user, item, rating, timestamp"},
				{File: file, Line: 4, Reason: `rating "five" is not a number`},
				{File: file, Line: 5, Reason: "empty item"},
				{File: file, Line: 6, Reason: `timestamp "1997-02-01" is not Unix seconds`},
				{File: file, Line: 8, Reason: `rating "0" is not positive, so it cannot be a weight`},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.MaxBadRatio = 1
			got, st, err := collect(t, []string{file}, opts)
			if err != nil {
				t.Fatalf("Read(%s): %v", file, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Read(%s) events (-want +got):\n%s", file, diff)
			}
			want := wantStats([]string{file}, tt.want, int64(len(tt.samples)), tt.samples)
			if diff := cmp.Diff(want, st); diff != "" {
				t.Errorf("Read(%s) stats (-want +got):\n%s", file, diff)
			}
		})
	}
	// With the default limit of 1 % the file fails the read.
	if _, _, err := collect(t, []string{file}, movieLensOptions(false)); !errors.Is(err, eventlog.ErrTooManyBadLines) {
		t.Errorf("Read(%s) with the default limit: %v, want ErrTooManyBadLines", file, err)
	}
}

// TestReadMovieLens100K reads the real MovieLens-100K u.data when it is
// present: 100,000 ratings by 943 users of 1,682 films.
func TestReadMovieLens100K(t *testing.T) {
	path := testenv.ML100KRatings(t)
	users, items := map[string]bool{}, map[string]bool{}
	var sum float64
	st, err := eventlog.Read(context.Background(), []string{path}, movieLensOptions(true), func(e eventlog.Event) error {
		users[e.User], items[e.Item] = true, true
		sum += float64(e.Weight)
		return nil
	})
	if err != nil {
		t.Fatalf("Read(%s): %v", path, err)
	}
	if st.Events != 100000 || st.Bad != 0 || len(users) != 943 || len(items) != 1682 {
		t.Errorf("Read(%s): %d events, %d bad, %d users, %d items; want 100000, 0, 943, 1682",
			path, st.Events, st.Bad, len(users), len(items))
	}
	if mean := sum / float64(st.Events); mean < 3.5 || mean > 3.55 {
		t.Errorf("Read(%s): mean rating %.4f, want the published 3.53", path, mean)
	}
	if st.First.Year() != 1997 || st.Last.Year() != 1998 {
		t.Errorf("Read(%s): window %v – %v, want 1997–1998", path, st.First, st.Last)
	}
}

func FuzzMovieLens(f *testing.F) {
	for _, name := range []string{"testdata/u.data", "testdata/u-bad.data", "testdata/ratings.dat"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, true)
	}
	f.Add([]byte("1\t2\t3\t4\n1::2::3::4\n\t\t\t\n"), false)
	f.Add([]byte("1\t2\tNaN\t4\n1\t2\t-Inf\t99999999999999999999\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, ratingWeights bool) {
		opts := movieLensOptions(ratingWeights)
		checkStream(t, "u.data", data, opts, func(e eventlog.Event) {
			if e.Type != eventlog.MovieLensType || !(e.Weight > 0) || !ratingWeights && e.Weight != 1 {
				t.Errorf("bad rating handed out: %+v", e)
			}
			if strings.ContainsAny(e.User+e.Item, "\t\n") {
				t.Errorf("id with a separator handed out: %+v", e)
			}
		})
	})
}

// checkStream reads data as one stream and checks what every format
// promises: good events have ids and a UTC time, the counts add up, samples
// point at data lines of the stream.
func checkStream(t *testing.T, name string, data []byte, opts eventlog.Options, check func(eventlog.Event)) {
	t.Helper()
	var events int64
	st, err := eventlog.ReadStream(context.Background(), name, bytes.NewReader(data), opts, func(e eventlog.Event) error {
		events++
		if e.User == "" || e.Item == "" || e.Time.Location() != time.UTC {
			t.Errorf("bad event handed out: %+v", e)
		}
		check(e)
		return nil
	})
	if err != nil && !errors.Is(err, eventlog.ErrTooManyBadLines) {
		return // a structural error: broken compression, no header, …
	}
	if st.Events+st.Bad+st.Dropped.Total() != st.Lines || st.Events != events {
		t.Fatalf("inconsistent stats %+v with %d events handed out", st, events)
	}
	if len(st.Samples) > opts.MaxSamples || int64(len(st.Samples)) > st.Bad {
		t.Fatalf("%d samples for %d bad lines", len(st.Samples), st.Bad)
	}
	for _, s := range st.Samples {
		if s.Line < 1 || s.Reason == "" || s.File != name {
			t.Fatalf("sample %v, want a line of %s with a reason", s, name)
		}
	}
	if st.Events > 0 && st.Last.Before(st.First) {
		t.Fatalf("window %v – %v runs backwards", st.First, st.Last)
	}
}

// TestReadLongLine skips a line longer than the 1 MiB limit without
// holding it, and reads on.
func TestReadLongLine(t *testing.T) {
	data := "1\t2\t3\t882485516\n" + strings.Repeat("x", 3<<20) + "\n5\t6\t4\t881250950"
	var got []eventlog.Event
	st, err := eventlog.ReadStream(context.Background(), "u.data", strings.NewReader(data), movieLensOptions(false),
		func(e eventlog.Event) error { got = append(got, e); return nil })
	if !errors.Is(err, eventlog.ErrTooManyBadLines) {
		t.Errorf("ReadStream: %v, want ErrTooManyBadLines for 1 bad line in 3", err)
	}
	want := []eventlog.Event{rating("1", "2", 1, 882485516), rating("5", "6", 1, 881250950)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ReadStream events (-want +got):\n%s", diff)
	}
	wantSamples := []eventlog.BadLine{{File: "u.data", Line: 2, Reason: "line longer than 1048576 bytes"}}
	if diff := cmp.Diff(wantSamples, st.Samples); diff != "" {
		t.Errorf("ReadStream samples (-want +got):\n%s", diff)
	}
}
