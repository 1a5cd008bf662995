package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"time"

	"github.com/polecam/polecam/store"
	"github.com/polecam/polecam/training"
	"github.com/polecam/polecam/training/catalog"
	"github.com/polecam/polecam/training/eventlog"
)

// IngestOptions say how events become interactions, between reading the
// logs and training.
type IngestOptions struct {
	// HalfLife, when positive, decays each event's weight by its age
	// relative to the newest event of the logs (Stats.Last):
	// weight × 0.5^((Last − t) / HalfLife). An event more than about 150
	// half-lives older than a newer one weighs nothing (float32 underflow);
	// a pair whose weights all underflow is left out.
	HalfLife time.Duration
	// DedupWindow, when positive, counts an event only if the same user
	// did not have an event of the same type on the same item less than
	// DedupWindow before or after it (the last such event seen, counted or
	// not: a page reloaded every 10 s counts once with a 30 s window). It
	// keeps the time of the last event of each (user, item, type) — as a
	// 64-bit FNV-1a hash — and forgets those older than the window behind
	// the newest event seen, so logs read roughly in time order (daily
	// files in date order) need little memory; an event out of order by
	// more than that escapes de-duplication.
	DedupWindow time.Duration
	// MinUserItems and MinItemUsers, when positive, leave out users with
	// fewer distinct items and items with fewer distinct users, repeatedly
	// until both hold (training.Interactions.Filter).
	MinUserItems, MinItemUsers int
}

// Validate reports whether the options can be used.
func (o IngestOptions) Validate() error {
	var errs []error
	if o.HalfLife < 0 {
		errs = append(errs, fmt.Errorf("half-life %v, want ≥ 0", o.HalfLife))
	}
	if o.DedupWindow < 0 {
		errs = append(errs, fmt.Errorf("de-duplication window %v, want ≥ 0", o.DedupWindow))
	}
	if o.MinUserItems < 0 || o.MinItemUsers < 0 {
		errs = append(errs, fmt.Errorf("minimum support %d items per user, %d users per item, want ≥ 0", o.MinUserItems, o.MinItemUsers))
	}
	return errors.Join(errs...)
}

// IngestParams are the IngestOptions as recorded in the manifest.
type IngestParams struct {
	HalfLife     string `json:"half_life,omitempty"`
	DedupWindow  string `json:"dedup_window,omitempty"`
	MinUserItems int    `json:"min_user_items,omitempty"`
	MinItemUsers int    `json:"min_item_users,omitempty"`
	Format       string `json:"format"`
}

func (o Options) ingestParams() IngestParams {
	p := IngestParams{MinUserItems: o.Ingest.MinUserItems, MinItemUsers: o.Ingest.MinItemUsers, Format: o.Log.Format}
	if o.Ingest.HalfLife > 0 {
		p.HalfLife = o.Ingest.HalfLife.String()
	}
	if o.Ingest.DedupWindow > 0 {
		p.DedupWindow = o.Ingest.DedupWindow.String()
	}
	return p
}

// IngestStats describe the reading of the logs.
type IngestStats struct {
	Log        eventlog.Stats
	Duplicates int64 // events left out by de-duplication
	// FilteredUsers and FilteredItems are the users and items left out by
	// the minimum-support filters (and, with decay, those without weight).
	FilteredUsers, FilteredItems int
	Read, Filter                 time.Duration
}

// ingest reads the logs into an interaction matrix, leaving out the events
// for which skip, if not nil, returns true; counted, if not nil, sees every
// event that is added to the matrix (not skipped, not a duplicate), in
// reading order.
func ingest(ctx context.Context, opts Options, skip func(eventlog.Event) bool, counted func(eventlog.Event)) (*training.Interactions, IngestStats, error) {
	var st IngestStats
	in := opts.Ingest
	b := training.NewBuilder()
	dd := newDedup(in.DedupWindow)
	dc := decay{halfLife: in.HalfLife.Seconds()}
	start := time.Now()
	stats, err := eventlog.Read(ctx, opts.Events, opts.Log, func(e eventlog.Event) error {
		if skip != nil && skip(e) {
			return nil
		}
		if dd != nil && dd.seen(e) {
			st.Duplicates++
			if e.Type != "" && !e.Time.IsZero() {
				// A duplicate adds no weight, but it is the pair's
				// latest event of its kind.
				b.AddEvent(e.User, e.Item, e.Type, 0, e.Time)
			}
			return nil
		}
		if counted != nil {
			counted(e)
		}
		w := e.Weight
		if in.HalfLife > 0 {
			w = dc.weight(b, e.Time, w)
		}
		if e.Type != "" && !e.Time.IsZero() {
			// The times are the exclusion windows' of the merchandising
			// rules (store.SeenEventsFile).
			b.AddEvent(e.User, e.Item, e.Type, w, e.Time)
		} else {
			b.Add(e.User, e.Item, w)
		}
		return nil
	})
	st.Log = stats
	if err != nil {
		return nil, st, err
	}
	if in.HalfLife > 0 && dc.set {
		b.Scale(float32(math.Exp2(dc.ref.Sub(stats.Last).Seconds() / dc.halfLife)))
	}
	x := b.Build()
	st.Read = time.Since(start)

	if in.MinUserItems > 0 || in.MinItemUsers > 0 || in.HalfLife > 0 {
		t := time.Now()
		f := x.Filter(max(in.MinUserItems, 1), max(in.MinItemUsers, 1))
		st.FilteredUsers, st.FilteredItems = x.NumUsers()-f.NumUsers(), x.NumItems()-f.NumItems()
		x = f
		st.Filter = time.Since(t)
	}
	return x, st, nil
}

// decay weighs events by 2^((t − ref)/halfLife) for a reference time that
// moves forward whenever an event would weigh more than 2^64, rescaling
// the sums so far; the caller rescales to the newest event at the end.
type decay struct {
	halfLife float64 // seconds
	ref      time.Time
	set      bool
}

func (d *decay) weight(b *training.Builder, t time.Time, w float32) float32 {
	if !d.set {
		d.ref, d.set = t, true
	}
	e := t.Sub(d.ref).Seconds() / d.halfLife
	if e > 64 {
		b.Scale(float32(math.Exp2(-e)))
		d.ref, e = t, 0
	}
	return w * float32(math.Exp2(e))
}

// dedup remembers the last time of each (user, item, type).
type dedup struct {
	window int64 // nanoseconds
	last   map[uint64]int64
	newest int64
	added  int
}

// pruneEvery is how many new keys dedup adds between forgetting old ones.
const pruneEvery = 1 << 20

func newDedup(window time.Duration) *dedup {
	if window <= 0 {
		return nil
	}
	return &dedup{window: int64(window), last: make(map[uint64]int64)}
}

// seen records e and reports whether it repeats an event within the window.
func (d *dedup) seen(e eventlog.Event) bool {
	key := fnv64a(fnv64a(fnv64a(fnvOffset, e.User), "\x00"+e.Item), "\x00"+e.Type)
	t := e.Time.UnixNano()
	d.newest = max(d.newest, t)
	prev, ok := d.last[key]
	if !ok {
		d.last[key] = t
		if d.added++; d.added >= pruneEvery {
			d.prune()
		}
		return false
	}
	d.last[key] = max(prev, t)
	diff := t - prev
	if diff < 0 {
		diff = -diff
	}
	return diff < d.window
}

func (d *dedup) prune() {
	d.added = 0
	for k, t := range d.last {
		if t < d.newest-d.window {
			delete(d.last, k)
		}
	}
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// fnv64a continues the 64-bit FNV-1a hash h over s without allocating.
func fnv64a(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// auxFile is an auxiliary file written into the snapshot: with AddFile
// and write, or by set when the store has a method for it.
type auxFile struct {
	name  string
	write func(io.Writer) error
	set   func(*store.Builder) error
}

// catalogAux returns the auxiliary files that store opts.Catalog, if set
// — catalog.jsonl as read and catalog.idx, its serving form, from the same
// reading — and the Stats its reading fills in when the snapshot is
// written.
func catalogAux(ctx context.Context, opts Options, x *training.Interactions, log *slog.Logger) ([]auxFile, *CatalogStats) {
	if opts.Catalog == "" {
		return nil, nil
	}
	cs := &CatalogStats{}
	ci := &catalogIndex{}
	write := func(w io.Writer) error {
		cw := catalog.NewWriter(w)
		known := make([]bool, x.NumItems())
		st, err := catalog.Read(ctx, opts.Catalog, catalog.DefaultOptions(), func(it catalog.Item) error {
			if i, ok := x.ItemIndex(it.ID); ok {
				known[i] = true
				cs.InModel++
			}
			ci.add(x, it)
			return cw.Write(it)
		})
		for _, s := range st.Samples {
			log.Warn("skipped bad catalogue row", "file", s.File, "line", s.Line, "reason", s.Reason)
		}
		if err != nil {
			return err
		}
		cs.Items, cs.Bad = st.Items, st.Bad
		for _, k := range known {
			if !k {
				cs.Missing++
			}
		}
		ci.attributes, ci.read = st.Attributes, true
		log.Info("stored catalogue", "items", st.Items, "bad_rows", st.Bad, "in_model", cs.InModel,
			"model_items_missing", cs.Missing, "attributes", st.Attributes)
		return nil
	}
	return []auxFile{{name: catalog.FileName, write: write}, ci.aux()}, cs
}

// CatalogStats describe the catalogue stored with a snapshot.
type CatalogStats struct {
	Items   int64 // good catalogue rows
	Bad     int64 // bad rows
	InModel int64 // rows whose item the model knows
	Missing int64 // model items without a row
}

// Stage is the time one stage of a run took.
type Stage struct {
	Name    string
	Elapsed time.Duration
}

// Summary describes a successful run, for the person or scheduler that
// started it.
type Summary struct {
	Version    string
	Files      int
	Lines      int64 // data lines read
	Events     int64 // good events
	BadLines   int64
	Dropped    eventlog.Dropped // access-log lines that are not events
	Duplicates int64            // events left out by de-duplication
	Forgotten  int64            // events of forgotten users left out
	// Users, Items and Interactions are those trained on, after filtering.
	Users, Items, Interactions   int
	FilteredUsers, FilteredItems int
	Catalog                      *CatalogStats // nil without a catalogue
	Stages                       []Stage
	// Gate is what the quality gate measured and decided; nil without it.
	Gate *GateResult
	// Tuning is what the tuning measured and chose; nil without it.
	Tuning *Tuning
}

func summarize(m store.Manifest, in IngestStats, x *training.Interactions, cs *CatalogStats, forgotten int64, stages []Stage, gate *GateResult) Summary {
	return Summary{
		Version: m.Version, Files: len(in.Log.Files), Lines: in.Log.Lines, Events: in.Log.Events,
		BadLines: in.Log.Bad, Dropped: in.Log.Dropped, Duplicates: in.Duplicates, Forgotten: forgotten,
		Users: x.NumUsers(), Items: x.NumItems(), Interactions: x.NNZ(),
		FilteredUsers: in.FilteredUsers, FilteredItems: in.FilteredItems,
		Catalog: cs, Stages: stages, Gate: gate,
	}
}
