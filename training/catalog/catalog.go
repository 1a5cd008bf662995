package catalog

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/polecam/polecam/training/eventlog"
)

// FileName is the name of the catalogue in a snapshot.
const FileName = "catalog.jsonl"

// Item is one row of a catalogue.
type Item struct {
	ID       string            `json:"item_id"`
	Category string            `json:"category"`
	Attrs    map[string]string `json:"attrs,omitempty"`
}

// Options control Read.
type Options struct {
	// IDColumn and CategoryColumn name the two required columns.
	IDColumn, CategoryColumn string
	// MaxBadRatio is the largest share of bad rows Read accepts.
	MaxBadRatio float64
	// MaxSamples is how many bad rows Stats.Samples keeps.
	MaxSamples int
}

// DefaultOptions returns the columns item_id and category, a bad-row limit
// of 1 % and 20 samples.
func DefaultOptions() Options {
	return Options{IDColumn: "item_id", CategoryColumn: "category", MaxBadRatio: 0.01, MaxSamples: 20}
}

// Validate reports whether o can be used.
func (o Options) Validate() error {
	var errs []error
	id, cat := strings.TrimSpace(o.IDColumn), strings.TrimSpace(o.CategoryColumn)
	if id == "" || cat == "" {
		errs = append(errs, errors.New("the item id and category columns need names"))
	} else if strings.EqualFold(id, cat) {
		errs = append(errs, fmt.Errorf("the item id and category columns are both named %q", id))
	}
	if !(o.MaxBadRatio >= 0 && o.MaxBadRatio <= 1) {
		errs = append(errs, fmt.Errorf("max bad ratio %v, want 0..1", o.MaxBadRatio))
	}
	if o.MaxSamples < 0 {
		errs = append(errs, fmt.Errorf("max samples %d, want ≥ 0", o.MaxSamples))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid catalogue options: %w", err)
	}
	return nil
}

// Stats describe what Read read.
type Stats struct {
	Lines int64 // data rows, excluding the header and blank lines
	Items int64 // good rows; Items + Bad == Lines
	Bad   int64
	// Samples are the first bad rows, at most Options.MaxSamples.
	Samples []eventlog.BadLine
	// Attributes are the names of the attribute columns, in file order.
	Attributes []string
}

// ErrTooManyBadLines is the error (wrapped) when the share of bad rows
// exceeds Options.MaxBadRatio.
var ErrTooManyBadLines = errors.New("too many bad catalogue rows")

// Read reads the catalogue file name and calls fn for every good item.
func Read(ctx context.Context, name string, opts Options, fn func(Item) error) (Stats, error) {
	if err := opts.Validate(); err != nil {
		return Stats{}, err
	}
	f, err := os.Open(name)
	if err != nil {
		return Stats{}, fmt.Errorf("read catalogue: %w", err)
	}
	defer f.Close()
	return ReadStream(ctx, name, f, opts, fn)
}

// ReadStream is Read for one stream; name is used in messages.
func ReadStream(ctx context.Context, name string, src io.Reader, opts Options, fn func(Item) error) (Stats, error) {
	var st Stats
	if err := opts.Validate(); err != nil {
		return st, err
	}
	text, release, err := eventlog.Decompress(name, src)
	if err != nil {
		return st, fmt.Errorf("read catalogue: %w", err)
	}
	defer release()
	cr := csv.NewReader(bufio.NewReaderSize(text, 64<<10))
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return st, fmt.Errorf("read catalogue %s: no header line", name)
	}
	if err != nil {
		return st, fmt.Errorf("read catalogue %s: header: %w", name, err)
	}
	idCol, catCol := -1, -1
	attrCols := []int{}
	for k, h := range header {
		if k == 0 {
			h = strings.TrimPrefix(h, "\ufeff")
		}
		h = strings.TrimSpace(h)
		switch {
		case strings.EqualFold(h, strings.TrimSpace(opts.IDColumn)) && idCol < 0:
			idCol = k
		case strings.EqualFold(h, strings.TrimSpace(opts.CategoryColumn)) && catCol < 0:
			catCol = k
		case h == "":
			return st, fmt.Errorf("read catalogue %s: column %d has no name", name, k+1)
		default:
			for _, a := range st.Attributes {
				if strings.EqualFold(a, h) {
					return st, fmt.Errorf("read catalogue %s: header has two %q columns", name, h)
				}
			}
			st.Attributes = append(st.Attributes, h)
			attrCols = append(attrCols, k)
		}
	}
	if idCol < 0 || catCol < 0 {
		return st, fmt.Errorf("read catalogue %s: header needs %q and %q columns", name, opts.IDColumn, opts.CategoryColumn)
	}

	bad := func(line int, reason string) {
		st.Bad++
		if len(st.Samples) < opts.MaxSamples {
			st.Samples = append(st.Samples, eventlog.BadLine{File: name, Line: line, Reason: reason})
		}
	}
	seen := make(map[string]int)
	for n := 0; ; n++ {
		if n%4096 == 4095 {
			if err := ctx.Err(); err != nil {
				return st, err
			}
		}
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return st, fmt.Errorf("read catalogue %s: %w", name, err)
			}
			st.Lines++
			if errors.Is(pe.Err, csv.ErrFieldCount) {
				bad(pe.StartLine, fmt.Sprintf("%d fields, want %d as in the header", len(rec), len(header)))
			} else {
				bad(pe.StartLine, fmt.Sprintf("malformed CSV: %v", pe.Err))
			}
			continue
		}
		st.Lines++
		line, _ := cr.FieldPos(0)
		id := strings.TrimSpace(rec[idCol])
		if id == "" {
			bad(line, "empty "+opts.IDColumn)
			continue
		}
		if len(id) > eventlog.MaxIDLen {
			bad(line, fmt.Sprintf("%s of %d bytes is longer than the limit of %d", opts.IDColumn, len(id), eventlog.MaxIDLen))
			continue
		}
		if first, dup := seen[id]; dup {
			bad(line, fmt.Sprintf("item %q already at line %d", id, first))
			continue
		}
		seen[id] = line
		it := Item{ID: id, Category: strings.TrimSpace(rec[catCol])}
		for k, col := range attrCols {
			if v := strings.TrimSpace(rec[col]); v != "" {
				if it.Attrs == nil {
					it.Attrs = make(map[string]string, len(attrCols))
				}
				it.Attrs[st.Attributes[k]] = v
			}
		}
		st.Items++
		if err := fn(it); err != nil {
			return st, fmt.Errorf("handle catalogue item at %s:%d: %w", name, line, err)
		}
	}
	if st.Lines > 0 && float64(st.Bad) > opts.MaxBadRatio*float64(st.Lines) {
		first := ""
		if len(st.Samples) > 0 {
			first = "; first: " + st.Samples[0].String()
		}
		return st, fmt.Errorf("%w: %d of %d rows are bad, the limit is %.2f%%%s",
			ErrTooManyBadLines, st.Bad, st.Lines, 100*opts.MaxBadRatio, first)
	}
	return st, nil
}

// Writer writes items in the stored form.
type Writer struct {
	enc *json.Encoder
}

// NewWriter returns a Writer to w.
func NewWriter(w io.Writer) *Writer {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &Writer{enc: enc}
}

// Write writes one item as a JSON line.
func (w *Writer) Write(it Item) error {
	if err := w.enc.Encode(it); err != nil {
		return fmt.Errorf("write catalogue item %q: %w", it.ID, err)
	}
	return nil
}

// Decode reads items in the stored form and calls fn for each.
func Decode(r io.Reader, fn func(Item) error) error {
	dec := json.NewDecoder(r)
	for n := 1; ; n++ {
		var it Item
		if err := dec.Decode(&it); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("decode catalogue item %d: %w", n, err)
		}
		if err := fn(it); err != nil {
			return err
		}
	}
}
