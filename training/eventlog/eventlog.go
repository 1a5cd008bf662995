package eventlog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Event is one good line of a log.
type Event struct {
	Time   time.Time // in UTC
	User   string
	Item   string
	Type   string  // event type as written in the log, e.g. "view"
	Weight float32 // Options.Weights[Type]
}

// Columns are the header names of the columns Read uses.
type Columns struct {
	Timestamp, User, Item, Event string
}

// Options control Read.
type Options struct {
	// Format is one of Formats: "auto" (or empty), "csv", "tsv", "jsonl",
	// "movielens", "retailrocket" or "access-log". Auto decides between CSV
	// and TSV by the file name (.csv, .tsv, optionally followed by .gz, .zst
	// or .zstd) and otherwise by a tab in the header line; the other formats
	// are never guessed.
	Format string
	// Columns name the fields of CSV, TSV and JSON lines.
	Columns Columns
	// AccessLog configures the "access-log" format.
	AccessLog AccessLogOptions
	// Weights maps event types to confidence weights. A line whose type is
	// not in the map is a bad line.
	Weights map[string]float32
	// RatingWeights makes a MovieLens rating the event's weight; without
	// it every rating weighs 1. Other formats ignore it.
	RatingWeights bool
	// MaxBadRatio is the largest share of bad data lines Read accepts
	// before failing with ErrTooManyBadLines; 0 accepts none.
	MaxBadRatio float64
	// MaxSamples is how many bad lines Stats.Samples keeps.
	MaxSamples int
	// Progress, if set, is called on Read's goroutine every 65,536 lines
	// and after each file with how far the read has come.
	Progress func(Progress) `json:"-"`
}

// Formats are the values of Options.Format.
var Formats = []string{"auto", "csv", "tsv", "jsonl", "movielens", "retailrocket", "access-log"}

// DefaultOptions returns auto format, the columns timestamp, user_id,
// item_id and event, DefaultWeights, a bad-line limit of 1 % and 20 samples.
func DefaultOptions() Options {
	return Options{
		Format:      "auto",
		Columns:     Columns{Timestamp: "timestamp", User: "user_id", Item: "item_id", Event: "event"},
		AccessLog:   DefaultAccessLogOptions(),
		Weights:     DefaultWeights(),
		MaxBadRatio: 0.01,
		MaxSamples:  20,
	}
}

// DefaultWeights returns a new map of the usual event types to weights: view
// 1, add_to_cart 4, purchase 10, with the aliases cart and addtocart (4) and
// transaction (10).
func DefaultWeights() map[string]float32 {
	return map[string]float32{
		"view":        1,
		"add_to_cart": 4,
		"cart":        4,
		"addtocart":   4,
		"purchase":    10,
		"transaction": 10,
	}
}

// IsCartType reports whether an event type is an add to cart under
// DefaultWeights' names: add_to_cart, cart or addtocart, in any case.
func IsCartType(typ string) bool {
	switch strings.ToLower(typ) {
	case "add_to_cart", "cart", "addtocart":
		return true
	}
	return false
}

// IsPurchaseType reports whether an event type is a purchase under
// DefaultWeights' names: purchase or transaction, in any case.
func IsPurchaseType(typ string) bool {
	switch strings.ToLower(typ) {
	case "purchase", "transaction":
		return true
	}
	return false
}

// Validate reports whether o can be used to read logs.
func (o Options) Validate() error {
	var errs []error
	switch o.Format {
	case "", "auto", "csv", "tsv", "jsonl", "movielens", "retailrocket":
	case "access-log":
		if err := o.AccessLog.validate(o.Weights); err != nil {
			errs = append(errs, err)
		}
	default:
		errs = append(errs, fmt.Errorf("format %q, want one of %s", o.Format, strings.Join(Formats, ", ")))
	}
	cols := []struct{ field, name string }{
		{"timestamp", o.Columns.Timestamp}, {"user", o.Columns.User},
		{"item", o.Columns.Item}, {"event", o.Columns.Event},
	}
	seen := map[string]string{}
	for _, c := range cols {
		name := strings.ToLower(strings.TrimSpace(c.name))
		if name == "" {
			errs = append(errs, fmt.Errorf("no column name for the %s", c.field))
			continue
		}
		if other, ok := seen[name]; ok {
			errs = append(errs, fmt.Errorf("the %s and %s columns are both named %q", other, c.field, c.name))
		}
		seen[name] = c.field
	}
	if len(o.Weights) == 0 {
		errs = append(errs, errors.New("no event weights"))
	}
	for _, typ := range slices.Sorted(maps.Keys(o.Weights)) {
		w := o.Weights[typ]
		if typ == "" {
			errs = append(errs, errors.New("weight for an empty event type"))
		}
		if math.IsNaN(float64(w)) || math.IsInf(float64(w), 0) {
			errs = append(errs, fmt.Errorf("weight of %q is %v, want a finite number", typ, w))
		}
	}
	if !(o.MaxBadRatio >= 0 && o.MaxBadRatio <= 1) {
		errs = append(errs, fmt.Errorf("max bad ratio %v, want 0..1", o.MaxBadRatio))
	}
	if o.MaxSamples < 0 {
		errs = append(errs, fmt.Errorf("max samples %d, want ≥ 0", o.MaxSamples))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid event log options: %w", err)
	}
	return nil
}

// BadLine is a skipped line of a log.
type BadLine struct {
	File   string
	Line   int // 1-based, counting the header
	Reason string
}

func (b BadLine) String() string {
	return fmt.Sprintf("%s:%d: %s", b.File, b.Line, b.Reason)
}

// Stats describe what Read read.
type Stats struct {
	Files  []string // the files read, after glob expansion, in reading order
	Lines  int64    // data lines, excluding headers and blank lines
	Events int64    // good events
	Bad    int64    // bad lines; Events + Bad + Dropped.Total() == Lines
	// Dropped counts the well-formed lines of access logs that are not
	// events; other formats drop nothing.
	Dropped Dropped
	// Samples are the first bad lines, at most Options.MaxSamples.
	Samples []BadLine
	// First and Last are the earliest and latest times of good events.
	First, Last time.Time
}

// Dropped counts the well-formed access-log lines that are not events.
type Dropped struct {
	Status int64 // responses outside 2xx
	Bots   int64 // user agents in AccessLogOptions.BotAgents, or none
	NoItem int64 // URLs that match no item pattern
	NoUser int64 // requests without the user cookie or a fallback
}

// Total is the number of dropped lines.
func (d Dropped) Total() int64 { return d.Status + d.Bots + d.NoItem + d.NoUser }

// ErrTooManyBadLines is the error (wrapped) when the share of bad lines
// exceeds Options.MaxBadRatio.
var ErrTooManyBadLines = errors.New("too many bad lines")

// How often Read checks its context, in lines.
const ctxEvery = 4096

// How often Read reports progress, in lines.
const progressEvery = 16 * ctxEvery

// Progress is how far Read has come.
type Progress struct {
	File       string // the file being read
	FileIndex  int    // its index in Stats.Files
	Files      int    // the number of files
	Bytes      int64  // bytes read from the files so far, as stored (compressed)
	TotalBytes int64  // the size of all files; 0 when unknown (ReadStream)
	Lines      int64  // data lines read so far
	Events     int64  // good events so far
}

// tick checks the context every ctxEvery lines of a file and reports
// progress every progressEvery.
func (r *reader) tick(ctx context.Context, n int) error {
	if n%ctxEvery != ctxEvery-1 {
		return nil
	}
	if n%progressEvery == progressEvery-1 {
		r.report()
	}
	return ctx.Err()
}

// report calls Options.Progress, if set.
func (r *reader) report() {
	if r.opts.Progress == nil {
		return
	}
	r.progress.Lines, r.progress.Events = r.stats.Lines, r.stats.Events
	r.progress.Bytes = r.doneBytes
	if r.counter != nil {
		r.progress.Bytes += r.counter.n
	}
	r.opts.Progress(r.progress)
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Read reads the logs matching patterns and calls fn for every good event,
// in file order. Each pattern is a filepath.Match glob (a plain path is a
// glob matching itself); a pattern that matches nothing is an error. The
// union of the matches is read in sorted order, each file plain, gzip or zstd.
//
// Bad lines are counted, sampled and skipped. The share of bad lines is
// checked after each file once 1000 lines were read, and at the end: above
// opts.MaxBadRatio, Read returns its Stats so far and an error wrapping
// ErrTooManyBadLines. An error from fn stops the read and is returned
// wrapped with the file and line of the event. The context is checked every
// few thousand lines.
func Read(ctx context.Context, patterns []string, opts Options, fn func(Event) error) (Stats, error) {
	if err := opts.Validate(); err != nil {
		return Stats{}, err
	}
	files, err := expand(patterns)
	if err != nil {
		return Stats{}, err
	}
	r := newReader(opts, fn)
	r.stats.Files = files
	r.progress.Files = len(files)
	if opts.Progress != nil {
		for _, name := range files {
			if fi, err := os.Stat(name); err == nil {
				r.progress.TotalBytes += fi.Size()
			}
		}
	}
	for k, name := range files {
		r.progress.File, r.progress.FileIndex = name, k
		if err := r.readFile(ctx, name); err != nil {
			return r.stats, err
		}
		r.report()
		if k < len(files)-1 && r.stats.Lines >= 1000 {
			if err := r.checkRatio(); err != nil {
				return r.stats, err
			}
		}
	}
	return r.stats, r.checkRatio()
}

// ReadStream is Read for one stream, such as standard input: name is used
// for the format decision and in messages.
func ReadStream(ctx context.Context, name string, src io.Reader, opts Options, fn func(Event) error) (Stats, error) {
	if err := opts.Validate(); err != nil {
		return Stats{}, err
	}
	r := newReader(opts, fn)
	r.stats.Files = []string{name}
	r.progress.File, r.progress.Files = name, 1
	r.counter = &countingReader{r: src}
	if err := r.readStream(ctx, name, r.counter); err != nil {
		return r.stats, err
	}
	r.report()
	return r.stats, r.checkRatio()
}

// expand returns the sorted union of the files matching patterns.
func expand(patterns []string) ([]string, error) {
	if len(patterns) == 0 {
		return nil, errors.New("no event log files given")
	}
	var files []string
	for _, p := range patterns {
		m, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("expand %q: %w", p, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("no event log files match %q", p)
		}
		files = append(files, m...)
	}
	slices.Sort(files)
	return slices.Compact(files), nil
}

type reader struct {
	opts   Options
	access *accessLog // compiled AccessLog options for the access-log format

	progress  Progress
	counter   *countingReader // counts the bytes of the file being read
	doneBytes int64           // bytes of the files read before it
	fn        func(Event) error
	stats     Stats
	known     string // the known event types, for messages
}

func newReader(opts Options, fn func(Event) error) *reader {
	if opts.Format == "retailrocket" {
		opts.Columns = RetailrocketColumns
		opts.Format = "csv"
	}
	types := slices.Sorted(maps.Keys(opts.Weights))
	known := strings.Join(types, ", ")
	if len(types) > 12 {
		known = strings.Join(types[:12], ", ") + ", …"
	}
	r := &reader{opts: opts, fn: fn, known: known}
	if opts.Format == "access-log" {
		r.access = newAccessLog(opts.AccessLog)
	}
	return r
}

func (r *reader) checkRatio() error {
	s := &r.stats
	if s.Lines == 0 || float64(s.Bad) <= r.opts.MaxBadRatio*float64(s.Lines) {
		return nil
	}
	first := ""
	if len(s.Samples) > 0 {
		first = "; first: " + s.Samples[0].String()
	}
	return fmt.Errorf("%w: %d of %d data lines (%.2f%%) are bad, the limit is %.2f%%%s",
		ErrTooManyBadLines, s.Bad, s.Lines, 100*float64(s.Bad)/float64(s.Lines), 100*r.opts.MaxBadRatio, first)
}

func (r *reader) readFile(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("read event log: %w", err)
	}
	defer f.Close()
	r.counter = &countingReader{r: f}
	defer func() { r.doneBytes += r.counter.n; r.counter = nil }()
	return r.readStream(ctx, name, r.counter)
}

const bufSize = 64 << 10

func (r *reader) readStream(ctx context.Context, name string, src io.Reader) error {
	br, closeFn, err := decompress(name, src)
	if err != nil {
		return err
	}
	defer closeFn()
	switch r.opts.Format {
	case "movielens":
		return r.readMovieLens(ctx, name, br)
	case "jsonl":
		return r.readJSONLines(ctx, name, br)
	case "access-log":
		return r.readAccessLog(ctx, name, br)
	}
	return r.readDelimited(ctx, name, br)
}

// MaxIDLen is the longest user or item id, in bytes, an event may carry;
// a line with a longer one is bad. 1 KiB holds any SKU, URL slug or
// session token a shop uses, and keeps every id well inside the snapshot
// store's key limit.
const MaxIDLen = 1 << 10

// emit checks the ids' lengths, counts a good event, widens the time
// window and hands the event on.
func (r *reader) emit(name string, line int, e Event) error {
	s := &r.stats
	if len(e.User) > MaxIDLen || len(e.Item) > MaxIDLen {
		what, n := "user id", len(e.User)
		if n <= MaxIDLen {
			what, n = "item id", len(e.Item)
		}
		r.bad(name, line, fmt.Sprintf("%s of %d bytes is longer than the limit of %d", what, n, MaxIDLen))
		return nil
	}
	s.Events++
	if s.First.IsZero() || e.Time.Before(s.First) {
		s.First = e.Time
	}
	if s.Last.IsZero() || e.Time.After(s.Last) {
		s.Last = e.Time
	}
	if err := r.fn(e); err != nil {
		return fmt.Errorf("handle event at %s:%d: %w", name, line, err)
	}
	return nil
}

// weight looks an event type up in Options.Weights, as written and then in
// lower case.
func (r *reader) weight(typ string) (float32, bool) {
	w, ok := r.opts.Weights[typ]
	if !ok {
		w, ok = r.opts.Weights[strings.ToLower(typ)]
	}
	return w, ok
}

// readDelimited reads CSV or TSV with a header line.
func (r *reader) readDelimited(ctx context.Context, name string, br *bufio.Reader) error {
	tsv, err := r.isTSV(name, br)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	format := "CSV"
	if tsv {
		cr.Comma = '\t'
		cr.LazyQuotes = true
		format = "TSV"
	}

	header, err := cr.Read()
	if err == io.EOF {
		return fmt.Errorf("read %s: no header line", name)
	}
	if err != nil {
		return fmt.Errorf("read %s: header: %w", name, err)
	}
	nfields := len(header)
	cols, err := r.columns(header)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}

	s := &r.stats
	c := &r.opts.Columns
	for n := 0; ; n++ {
		if err := r.tick(ctx, n); err != nil {
			return err
		}
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return fmt.Errorf("read %s: %w", name, err)
			}
			s.Lines++
			if errors.Is(pe.Err, csv.ErrFieldCount) {
				r.bad(name, pe.StartLine, fmt.Sprintf("%d fields, want %d as in the header", len(rec), nfields))
			} else {
				r.bad(name, pe.StartLine, fmt.Sprintf("malformed %s: %v", format, pe.Err))
			}
			continue
		}
		s.Lines++
		line, _ := cr.FieldPos(0)
		ts := strings.TrimSpace(rec[cols.ts])
		user := strings.TrimSpace(rec[cols.user])
		item := strings.TrimSpace(rec[cols.item])
		typ := strings.TrimSpace(rec[cols.event])
		switch {
		case user == "":
			r.bad(name, line, "empty "+c.User)
			continue
		case item == "":
			r.bad(name, line, "empty "+c.Item)
			continue
		case typ == "":
			r.bad(name, line, "empty "+c.Event)
			continue
		}
		t, ok := parseTime(ts)
		if !ok {
			r.bad(name, line, fmt.Sprintf("%s %s is not RFC 3339, \"2006-01-02 15:04:05\" or Unix seconds or milliseconds", c.Timestamp, quote(ts)))
			continue
		}
		w, ok := r.weight(typ)
		if !ok {
			r.bad(name, line, fmt.Sprintf("unknown %s %s (known: %s)", c.Event, quote(typ), r.known))
			continue
		}
		if err := r.emit(name, line, Event{Time: t, User: user, Item: item, Type: typ, Weight: w}); err != nil {
			return err
		}
	}
}

func (r *reader) bad(file string, line int, reason string) {
	r.stats.Bad++
	if len(r.stats.Samples) < r.opts.MaxSamples {
		r.stats.Samples = append(r.stats.Samples, BadLine{File: file, Line: line, Reason: reason})
	}
}

// isTSV decides the format of a file whose decompressed text br holds.
func (r *reader) isTSV(name string, br *bufio.Reader) (bool, error) {
	switch r.opts.Format {
	case "csv":
		return false, nil
	case "tsv":
		return true, nil
	}
	switch filepath.Ext(trimCompression(strings.ToLower(name))) {
	case ".csv":
		return false, nil
	case ".tsv":
		return true, nil
	}
	// Sniff the header line: peek further until it ends or the buffer is
	// full, so that a slow stream is not waited on for more than its header.
	for n := 512; ; n *= 2 {
		head, err := br.Peek(min(n, bufSize))
		nl := bytes.IndexByte(head, '\n')
		if nl >= 0 || err != nil || n >= bufSize {
			if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
				return false, err
			}
			if nl >= 0 {
				head = head[:nl]
			}
			return bytes.IndexByte(head, '\t') >= 0, nil
		}
	}
}

type columnIndex struct{ ts, user, item, event int }

// columns finds the wanted columns in a header.
func (r *reader) columns(header []string) (columnIndex, error) {
	idx := columnIndex{-1, -1, -1, -1}
	c := &r.opts.Columns
	wanted := []struct {
		name string
		at   *int
	}{{c.Timestamp, &idx.ts}, {c.User, &idx.user}, {c.Item, &idx.item}, {c.Event, &idx.event}}
	names := make([]string, len(header))
	for k, h := range header {
		if k == 0 {
			h = strings.TrimPrefix(h, "\ufeff") // a byte order mark
		}
		names[k] = strings.TrimSpace(h)
		for _, w := range wanted {
			if !strings.EqualFold(names[k], strings.TrimSpace(w.name)) {
				continue
			}
			if *w.at >= 0 {
				return idx, fmt.Errorf("header has two %q columns", w.name)
			}
			*w.at = k
		}
	}
	for _, w := range wanted {
		if *w.at < 0 {
			return idx, fmt.Errorf("header has no %q column (it has %s)", w.name, quoteList(names))
		}
	}
	return idx, nil
}

// parseTime parses the timestamp formats of the package documentation.
func parseTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	if isDigits(s) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, false
		}
		if n > 1e11 {
			return time.UnixMilli(n).UTC(), true
		}
		return time.Unix(n, 0).UTC(), true
	}
	if len(s) == len(time.DateTime) && s[10] == ' ' {
		t, err := time.Parse(time.DateTime, s)
		return t, err == nil
	}
	t, err := time.Parse(time.RFC3339Nano, s) // fractional seconds optional
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// quote quotes a field for a message, shortened so that a runaway field
// cannot bloat the samples.
func quote(s string) string {
	const max = 40
	if len(s) > max {
		return strconv.Quote(strings.ToValidUTF8(s[:max], "")) + "…"
	}
	return strconv.Quote(s)
}

func quoteList(names []string) string {
	q := make([]string, 0, min(len(names), 10))
	for _, n := range names[:min(len(names), 10)] {
		q = append(q, quote(n))
	}
	if len(names) > 10 {
		q = append(q, "…")
	}
	return strings.Join(q, ", ")
}
