package synth

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
)

// Options describe the log to generate. The zero values of Categories, Start
// and Days mean their defaults.
type Options struct {
	Users int // number of distinct users that may appear; at least 1
	Items int // number of items in the catalogue; at least 1
	// Events is the exact number of lines written after the header.
	Events int
	Seed   int64
	// Categories is the number of item categories, at most Items.
	// 0 means max(5, Items/200), capped at Items.
	Categories int
	// Start is the beginning of the log's window. The zero time means
	// 2026-01-01T00:00:00Z. It is truncated to whole seconds and written in
	// UTC.
	Start time.Time
	// Days is the length of the window: sessions start within
	// [Start, Start+Days×24h); the last ones may run a few hours past it.
	// 0 means 30.
	Days int
	// ItemLifetime, when positive, makes the catalogue change over the
	// window the way a shop's does: every item is launched at a time drawn
	// uniformly from [Start − Days, Start + Days) (so about half of them
	// exist when the log begins and the rest arrive during it), is (all but
	// never) viewed before its launch, and its appeal decays after it as
	// 0.05 + 0.95·exp(−age/ItemLifetime) — new items sell, old ones fade to
	// a small evergreen share. What was popular last week is then a
	// better guess for tomorrow than what was popular a month ago, as in
	// real shop logs. 0 (the default) keeps every item's appeal constant
	// and the log byte-identical to one generated without the option.
	ItemLifetime time.Duration
}

// Limits on Options, so that the packed in-memory representation holds.
const (
	MaxUsers  = 1 << 30
	MaxItems  = 1 << 30
	MaxEvents = 1 << 31
	MaxDays   = 10000
)

// DefaultStart is the Start of the window when Options.Start is zero.
var DefaultStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// DefaultOptions returns a small shop: 1000 users, 500 items, 50 000 events
// over 30 days from [DefaultStart], seed 1.
func DefaultOptions() Options {
	return Options{
		Users:  1000,
		Items:  500,
		Events: 50000,
		Seed:   1,
		Start:  DefaultStart,
		Days:   30,
	}
}

// Validate reports whether o can be generated.
func (o Options) Validate() error {
	var errs []error
	if o.Users < 1 || o.Users > MaxUsers {
		errs = append(errs, fmt.Errorf("users = %d, want 1..%d", o.Users, MaxUsers))
	}
	if o.Items < 1 || o.Items > MaxItems {
		errs = append(errs, fmt.Errorf("items = %d, want 1..%d", o.Items, MaxItems))
	}
	if o.Events < 0 || o.Events > MaxEvents {
		errs = append(errs, fmt.Errorf("events = %d, want 0..%d", o.Events, MaxEvents))
	}
	if o.Categories < 0 || (o.Items > 0 && o.Categories > o.Items) {
		errs = append(errs, fmt.Errorf("categories = %d, want 0 (automatic) or 1..items (%d)", o.Categories, o.Items))
	}
	if o.Days < 0 || o.Days > MaxDays {
		errs = append(errs, fmt.Errorf("days = %d, want 0 (default 30) or 1..%d", o.Days, MaxDays))
	}
	if o.ItemLifetime < 0 {
		errs = append(errs, fmt.Errorf("item lifetime = %v, want ≥ 0 (0: items never age)", o.ItemLifetime))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid synth options: %w", err)
	}
	return nil
}

// withDefaults fills the zero values that mean a default.
func (o Options) withDefaults() Options {
	if o.Categories == 0 {
		o.Categories = min(max(5, o.Items/200), o.Items)
	}
	if o.Start.IsZero() {
		o.Start = DefaultStart
	}
	o.Start = o.Start.UTC().Truncate(time.Second)
	if o.Days == 0 {
		o.Days = 30
	}
	return o
}

// Header is the first line Generate writes, without its newline.
const Header = "timestamp,user_id,item_id,event"

// Event types written to the log.
const (
	View      = "view"
	AddToCart = "add_to_cart"
	Purchase  = "purchase"
)

var eventNames = [...]string{View, AddToCart, Purchase}

const (
	typeView = iota
	typeCart
	typePurchase
)

// event is one line in memory: key is seconds since Start << 32 | sequence,
// so sorting by key orders by time and, within a second, by generation
// order; item holds the event type in its top two bits.
type event struct {
	key  uint64
	user uint32
	item uint32
}

const itemMask = 1<<30 - 1

// Generate writes a synthetic log for opts to w as CSV (see the package
// documentation). It buffers its writes; w needs no buffering of its own.
func Generate(w io.Writer, opts Options) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	o := opts.withDefaults()
	g := newGenerator(o, newWorld(o))
	return g.run(w)
}

// GenerateFile writes a synthetic log for opts to path, gzip-compressed when
// path ends in ".gz". The file appears atomically: it is written to a
// temporary file in the same directory and renamed over path when complete.
func GenerateFile(path string, opts Options) (err error) {
	if err := opts.Validate(); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("generate %s: %w", path, err)
	}
	tmp := f.Name()
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				f.Close()
			}
			os.Remove(tmp)
			err = fmt.Errorf("generate %s: %w", path, err)
		}
	}()
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	var out io.Writer = f
	var zw *gzip.Writer
	if strings.HasSuffix(path, ".gz") {
		zw, err = gzip.NewWriterLevel(f, gzip.BestSpeed)
		if err != nil {
			return err
		}
		out = zw
	}
	if err := Generate(out, opts); err != nil {
		return err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return err
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	closed = true
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

type generator struct {
	o         Options
	w         *world
	r         *rand.Rand
	seq       uint32
	sess      []event
	carted    []int
	userWidth int
	itemWidth int

	startUnix  int64
	dayUnix    int64 // midnight of the date in datePrefix
	datePrefix []byte
	out        []byte
}

func newGenerator(o Options, w *world) *generator {
	return &generator{
		o:         o,
		w:         w,
		r:         newRand(o.Seed, streamEvents),
		userWidth: digits(o.Users - 1),
		itemWidth: digits(o.Items - 1),
		startUnix: o.Start.Unix(),
		dayUnix:   math.MinInt64,
		out:       make([]byte, 0, 256<<10),
	}
}

const flushAt = 240 << 10

func (g *generator) run(w io.Writer) error {
	g.out = append(g.out, Header+"\n"...)
	total := int64(g.o.Events)
	// Day volumes: weekends are 20 % busier.
	weights := make([]float64, g.o.Days)
	var sum float64
	for d := range weights {
		weights[d] = 1
		switch g.o.Start.AddDate(0, 0, d).Weekday() {
		case time.Saturday, time.Sunday:
			weights[d] = 1.2
		}
		sum += weights[d]
	}
	var made int64
	var cum float64
	var cur, next, sorted []event
	var counts []int
	for d := range g.o.Days {
		cum += weights[d]
		target := int64(math.Round(float64(total) * cum / sum))
		if d == g.o.Days-1 {
			target = total
		}
		dayEnd := uint64(d+1) * 86400 << 32
		last := d == g.o.Days-1
		for made < target {
			s := g.session(d)
			n := min(int64(len(s)), total-made)
			for _, e := range s[:n] {
				if last || e.key < dayEnd {
					cur = append(cur, e)
				} else {
					next = append(next, e)
				}
			}
			made += n
		}
		sorted = sortByTime(cur, sorted[:0], &counts)
		for _, e := range sorted {
			g.appendLine(e)
			if len(g.out) >= flushAt {
				if err := g.flush(w); err != nil {
					return err
				}
			}
		}
		cur, next = next, cur[:0]
	}
	return g.flush(w)
}

// sortByTime appends evs to dst ordered by key. evs must be in sequence
// order, as the generator appends them, and span a small range of seconds:
// then a stable counting sort by second orders them by (second, sequence)
// in linear time, several times faster than a comparison sort.
func sortByTime(evs, dst []event, counts *[]int) []event {
	if len(evs) == 0 {
		return dst
	}
	lo, hi := evs[0].key>>32, evs[0].key>>32
	for _, e := range evs {
		lo, hi = min(lo, e.key>>32), max(hi, e.key>>32)
	}
	c := slices.Grow((*counts)[:0], int(hi-lo)+1)[:hi-lo+1]
	clear(c)
	for _, e := range evs {
		c[e.key>>32-lo]++
	}
	pos := 0
	for s, n := range c {
		c[s] = pos
		pos += n
	}
	base := len(dst)
	dst = slices.Grow(dst, len(evs))[:base+len(evs)]
	for _, e := range evs {
		k := e.key>>32 - lo
		dst[base+c[k]] = e
		c[k]++
	}
	*counts = c
	return dst
}

func (g *generator) flush(w io.Writer) error {
	if len(g.out) == 0 {
		return nil
	}
	_, err := w.Write(g.out)
	g.out = g.out[:0]
	if err != nil {
		return fmt.Errorf("write log: %w", err)
	}
	return nil
}

// session generates one session starting on day d, in time order.
func (g *generator) session(d int) []event {
	r, w := g.r, g.w
	u := w.activity.sample(r)
	t := uint32(d*86400 + w.hours.sample(r)*3600 + r.IntN(3600))
	views := 1 + min(maxViews-1, int(r.ExpFloat64()*3))
	c := w.sessionCategory(r, u)
	g.sess, g.carted = g.sess[:0], g.carted[:0]
	for v := range views {
		if v > 0 {
			t += 15 + uint32(min(885, r.ExpFloat64()*75))
			if r.Float64() < switchCategoryP {
				c = w.sessionCategory(r, u)
			}
		}
		i := w.pickItem(r, u, c, t)
		g.emit(t, u, i, typeView)
		if slices.Contains(g.carted, i) {
			continue
		}
		if r.Float64() < 0.07+0.10*sigmoid(4*(w.affinity(u, i)-0.5)) {
			t += 3 + uint32(r.IntN(45))
			g.emit(t, u, i, typeCart)
			g.carted = append(g.carted, i)
		}
	}
	for _, i := range g.carted {
		if r.Float64() < 0.3+0.2*sigmoid(4*(w.affinity(u, i)-0.5)) {
			t += 20 + uint32(r.IntN(120))
			g.emit(t, u, i, typePurchase)
		}
	}
	return g.sess
}

func sigmoid(x float32) float64 { return 1 / (1 + math.Exp(-float64(x))) }

func (g *generator) emit(t uint32, u, i, typ int) {
	g.sess = append(g.sess, event{
		key:  uint64(t)<<32 | uint64(g.seq),
		user: uint32(u),
		item: uint32(i) | uint32(typ)<<30,
	})
	g.seq++
}

func (g *generator) appendLine(e event) {
	abs := g.startUnix + int64(e.key>>32)
	if abs < g.dayUnix || abs >= g.dayUnix+86400 {
		t := time.Unix(abs, 0).UTC()
		y, m, d := t.Date()
		g.dayUnix = time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix()
		g.datePrefix = t.AppendFormat(g.datePrefix[:0], "2006-01-02T")
	}
	s := int(abs - g.dayUnix)
	b := append(g.out, g.datePrefix...)
	b = append2(b, s/3600)
	b = append(b, ':')
	b = append2(b, s/60%60)
	b = append(b, ':')
	b = append2(b, s%60)
	b = append(b, "Z,u"...)
	b = appendPadded(b, int(e.user), g.userWidth)
	b = append(b, ",sku-"...)
	b = appendPadded(b, int(e.item&itemMask), g.itemWidth)
	b = append(b, ',')
	b = append(b, eventNames[e.item>>30]...)
	g.out = append(b, '\n')
}

func append2(b []byte, n int) []byte {
	return append(b, byte('0'+n/10), byte('0'+n%10))
}

// appendPadded appends n in decimal, zero-padded to width digits.
func appendPadded(b []byte, n, width int) []byte {
	var buf [20]byte
	i := len(buf)
	for n >= 10 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	i--
	buf[i] = byte('0' + n)
	for pad := width - (len(buf) - i); pad > 0; pad-- {
		b = append(b, '0')
	}
	return append(b, buf[i:]...)
}

// digits is the number of decimal digits of n ≥ 0.
func digits(n int) int {
	return len(strconv.Itoa(max(n, 0)))
}

// UserID returns the id that the log written with opts uses for user index u.
func (o Options) UserID(u int) string {
	return string(appendPadded([]byte{'u'}, u, digits(o.Users-1)))
}

// ItemID returns the id that the log written with opts uses for item index i.
func (o Options) ItemID(i int) string {
	return string(appendPadded([]byte("sku-"), i, digits(o.Items-1)))
}
