package synth_test

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/polecam/polecam/training/synth"
)

type line struct {
	time       time.Time
	user, item string
	event      string
}

// parseLog parses a log written by Generate, failing the test on any line
// that does not follow the documented format.
func parseLog(t testing.TB, r io.Reader) []line {
	t.Helper()
	sc := bufio.NewScanner(r)
	if !sc.Scan() {
		t.Fatalf("log has no header: %v", sc.Err())
	}
	if got := sc.Text(); got != synth.Header {
		t.Fatalf("header = %q, want %q", got, synth.Header)
	}
	var lines []line
	n := 1
	for sc.Scan() {
		n++
		f := strings.Split(sc.Text(), ",")
		if len(f) != 4 {
			t.Fatalf("line %d: %q has %d fields, want 4", n, sc.Text(), len(f))
		}
		ts, err := time.Parse(time.RFC3339, f[0])
		if err != nil {
			t.Fatalf("line %d: timestamp: %v", n, err)
		}
		if !strings.HasPrefix(f[1], "u") || !strings.HasPrefix(f[2], "sku-") {
			t.Fatalf("line %d: ids %q, %q, want u… and sku-…", n, f[1], f[2])
		}
		switch f[3] {
		case synth.View, synth.AddToCart, synth.Purchase:
		default:
			t.Fatalf("line %d: event %q", n, f[3])
		}
		lines = append(lines, line{ts, f[1], f[2], f[3]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func generate(t testing.TB, o synth.Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := synth.Generate(&buf, o); err != nil {
		t.Fatalf("Generate(%+v): %v", o, err)
	}
	return buf.Bytes()
}

func TestDeterminism(t *testing.T) {
	o := synth.DefaultOptions()
	o.Events = 20000
	a, b := generate(t, o), generate(t, o)
	if !bytes.Equal(a, b) {
		t.Fatal("two runs with the same options differ")
	}
	o.Seed++
	if c := generate(t, o); bytes.Equal(a, c) {
		t.Fatal("runs with different seeds are identical")
	}

	var ca, cb bytes.Buffer
	o.Seed--
	if err := synth.Catalog(&ca, o); err != nil {
		t.Fatal(err)
	}
	if err := synth.Catalog(&cb, o); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ca.Bytes(), cb.Bytes()) {
		t.Fatal("two catalogues with the same options differ")
	}
}

func TestCountsAndFormat(t *testing.T) {
	tests := []synth.Options{
		{Users: 1, Items: 1, Events: 1, Seed: 7},
		{Users: 3, Items: 2, Events: 0, Seed: 7},
		{Users: 10, Items: 1000, Events: 777, Seed: 3, Days: 1},
		{Users: 1000, Items: 500, Events: 30000, Seed: 1, Categories: 12, Days: 7,
			Start: time.Date(2026, 11, 1, 12, 30, 0, 0, time.FixedZone("CET", 3600))},
		{Users: 12345, Items: 100000, Events: 5000, Seed: 2, Days: 400},
	}
	for _, o := range tests {
		t.Run(fmt.Sprintf("%d-users-%d-items-%d-events", o.Users, o.Items, o.Events), func(t *testing.T) {
			lines := parseLog(t, bytes.NewReader(generate(t, o)))
			if len(lines) != o.Events {
				t.Fatalf("got %d events, want %d", len(lines), o.Events)
			}
			start := o.Start
			if start.IsZero() {
				start = synth.DefaultStart
			}
			days := cmp.Or(o.Days, 30)
			end := start.Add(time.Duration(days) * 24 * time.Hour)
			users, items := map[string]bool{}, map[string]bool{}
			for i, l := range lines {
				if i > 0 && l.time.Before(lines[i-1].time) {
					t.Fatalf("line %d at %v is before line %d at %v", i+2, l.time, i+1, lines[i-1].time)
				}
				if l.time.Before(start) || l.time.After(end.Add(12*time.Hour)) {
					t.Fatalf("line %d at %v is outside [%v, %v+12h]", i+2, l.time, start, end)
				}
				users[l.user], items[l.item] = true, true
			}
			if len(users) > o.Users || len(items) > o.Items {
				t.Errorf("%d users and %d items in the log, want at most %d and %d", len(users), len(items), o.Users, o.Items)
			}
			for u := range users {
				if len(u) != len(o.UserID(o.Users-1)) {
					t.Errorf("user id %q, want the width of %q", u, o.UserID(o.Users-1))
				}
			}
		})
	}
}

func TestFunnelOrder(t *testing.T) {
	o := synth.DefaultOptions()
	lines := parseLog(t, bytes.NewReader(generate(t, o)))
	type key struct{ user, item string }
	viewed, carted := map[key]bool{}, map[key]bool{}
	count := map[string]int{}
	for i, l := range lines {
		k := key{l.user, l.item}
		count[l.event]++
		switch l.event {
		case synth.View:
			viewed[k] = true
		case synth.AddToCart:
			if !viewed[k] {
				t.Fatalf("line %d: %s adds %s to the cart without a view before", i+2, l.user, l.item)
			}
			carted[k] = true
		case synth.Purchase:
			if !carted[k] {
				t.Fatalf("line %d: %s buys %s without adding it to the cart before", i+2, l.user, l.item)
			}
		}
	}
	// The funnel narrows at the documented rates.
	cartRate := float64(count[synth.AddToCart]) / float64(count[synth.View])
	buyRate := float64(count[synth.Purchase]) / float64(count[synth.AddToCart])
	if cartRate < 0.07 || cartRate > 0.17 {
		t.Errorf("add_to_cart/view = %.3f, want within [0.07, 0.17]", cartRate)
	}
	if buyRate < 0.3 || buyRate > 0.5 {
		t.Errorf("purchase/add_to_cart = %.3f, want within [0.3, 0.5]", buyRate)
	}
}

func TestPowerLaws(t *testing.T) {
	o := synth.DefaultOptions()
	lines := parseLog(t, bytes.NewReader(generate(t, o)))
	views, byUser := map[string]int{}, map[string]int{}
	total := 0
	for _, l := range lines {
		byUser[l.user]++
		if l.event == synth.View {
			views[l.item]++
			total++
		}
	}
	top := topShare(views, o.Items/100, total)
	t.Logf("top 1%% of items hold %.1f%% of views", 100*top)
	if top < 0.15 {
		t.Errorf("top 1%% of items hold %.1f%% of views, want > 15%%", 100*top)
	}
	if top > 0.5 {
		t.Errorf("top 1%% of items hold %.1f%% of views, want a long tail (< 50%%)", 100*top)
	}
	// Few heavy users, many light ones: the top 10 % of users make more than
	// a third of the events, and most users make fewer than the mean.
	if s := topShare(byUser, len(byUser)/10, len(lines)); s < 1.0/3 {
		t.Errorf("top 10%% of users make %.1f%% of events, want > 33%%", 100*s)
	}
	mean := float64(len(lines)) / float64(len(byUser))
	light := 0
	for _, n := range byUser {
		if float64(n) < mean {
			light++
		}
	}
	if f := float64(light) / float64(len(byUser)); f < 0.6 {
		t.Errorf("%.0f%% of users are below the mean activity, want > 60%%", 100*f)
	}
}

// topShare is the share of total held by the k largest counts.
func topShare(counts map[string]int, k, total int) float64 {
	var c []int
	for _, n := range counts {
		c = append(c, n)
	}
	slices.SortFunc(c, func(a, b int) int { return b - a })
	sum := 0
	for _, n := range c[:min(k, len(c))] {
		sum += n
	}
	return float64(sum) / float64(total)
}

// TestTasteStructure checks that the log carries personal structure beyond
// popularity: ranking items by popularity within the categories a user
// browsed in the first part of the window recalls their later items
// clearly better than ranking all items by popularity.
func TestTasteStructure(t *testing.T) {
	o := synth.DefaultOptions()
	lines := parseLog(t, bytes.NewReader(generate(t, o)))
	var cat bytes.Buffer
	if err := synth.Catalog(&cat, o); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&cat).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	category := map[string]string{}
	for _, r := range rows[1:] {
		category[r[0]] = r[1]
	}

	split := lines[len(lines)*4/5].time
	pop := map[string]int{}
	userCat := map[string]map[string]int{}
	test := map[string]map[string]bool{}
	for _, l := range lines {
		if l.time.Before(split) {
			pop[l.item]++
			if userCat[l.user] == nil {
				userCat[l.user] = map[string]int{}
			}
			userCat[l.user][category[l.item]]++
		} else if userCat[l.user] != nil {
			if test[l.user] == nil {
				test[l.user] = map[string]bool{}
			}
			test[l.user][l.item] = true
		}
	}
	items := make([]string, 0, len(pop))
	for i := range pop {
		items = append(items, i)
	}
	slices.Sort(items)
	rank := func(score func(string) float64) []string {
		s := slices.Clone(items)
		slices.SortStableFunc(s, func(a, b string) int { return cmp.Compare(score(b), score(a)) })
		return s[:10]
	}
	popTop := rank(func(i string) float64 { return float64(pop[i]) })
	var popRecall, catRecall float64
	users := make([]string, 0, len(test))
	for u := range test {
		users = append(users, u)
	}
	slices.Sort(users)
	for _, u := range users {
		want := test[u]
		catTop := rank(func(i string) float64 { return float64(pop[i]) * float64(userCat[u][category[i]]) })
		popRecall += recall(popTop, want)
		catRecall += recall(catTop, want)
	}
	popRecall /= float64(len(users))
	catRecall /= float64(len(users))
	t.Logf("recall@10 over %d users: popularity %.3f, category-aware popularity %.3f", len(users), popRecall, catRecall)
	if catRecall < 1.3*popRecall {
		t.Errorf("category-aware recall@10 = %.3f, want at least 1.3 × popularity's %.3f", catRecall, popRecall)
	}
}

func recall(top []string, want map[string]bool) float64 {
	hit := 0
	for _, i := range top {
		if want[i] {
			hit++
		}
	}
	return float64(hit) / float64(min(len(want), len(top)))
}

func TestCatalog(t *testing.T) {
	o := synth.DefaultOptions()
	o.Categories = 7
	var buf bytes.Buffer
	if err := synth.Catalog(&buf, o); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rows[0], ","); got != synth.CatalogHeader {
		t.Fatalf("header = %q, want %q", got, synth.CatalogHeader)
	}
	if len(rows)-1 != o.Items {
		t.Fatalf("%d items, want %d", len(rows)-1, o.Items)
	}
	cats := map[string]int{}
	for i, r := range rows[1:] {
		if r[0] != o.ItemID(i) {
			t.Fatalf("row %d: item %q, want %q", i+2, r[0], o.ItemID(i))
		}
		cats[r[1]]++
	}
	if len(cats) != o.Categories {
		t.Errorf("%d categories in the catalogue, want %d", len(cats), o.Categories)
	}
	for c := range o.Categories {
		if cats[synth.CategoryName(c)] == 0 {
			t.Errorf("category %q has no items", synth.CategoryName(c))
		}
	}
	// Categories are DEPARTMENT/SUB, three to a department.
	depts := map[string]int{}
	for c := range cats {
		dept, sub, ok := strings.Cut(c, "/")
		if !ok || dept == "" || sub == "" || strings.Contains(sub, "/") {
			t.Errorf("category %q, want DEPARTMENT/SUB", c)
		}
		depts[dept]++
	}
	if want := map[string]int{"electronics": 3, "books": 3, "home-garden": 1}; !maps.Equal(depts, want) {
		t.Errorf("departments %v, want %v", depts, want)
	}
	unavailable := 0
	for _, r := range rows[1:] {
		if p, err := strconv.ParseFloat(r[3], 64); err != nil || !(p > 0) {
			t.Errorf("item %s: price %q, want a positive number", r[0], r[3])
		}
		switch r[4] {
		case "false":
			unavailable++
		case "true":
		default:
			t.Errorf("item %s: in_stock %q, want true or false", r[0], r[4])
		}
	}
	if n := len(rows) - 1; unavailable == 0 || unavailable > n/5 {
		t.Errorf("%d of %d items out of stock, want a few", unavailable, n)
	}
}

func TestCategoryNames(t *testing.T) {
	for _, tc := range []struct {
		c    int
		want string
	}{
		{0, "electronics/phones"}, {2, "electronics/audio"}, {3, "books/fiction"},
		{43, "shoes/trail"}, {59, "kitchen/tableware"}, {60, "electronics-2/phones"}, {125, "books-3/children"},
	} {
		if got := synth.CategoryName(tc.c); got != tc.want {
			t.Errorf("CategoryName(%d) = %q, want %q", tc.c, got, tc.want)
		}
	}
	seen := map[string]int{}
	for c := range 500 {
		name := synth.CategoryName(c)
		if d, dup := seen[name]; dup {
			t.Fatalf("CategoryName(%d) = CategoryName(%d) = %q", c, d, name)
		}
		seen[name] = c
	}
}

func TestGenerateFile(t *testing.T) {
	o := synth.DefaultOptions()
	o.Events = 5000
	want := generate(t, o)
	dir := t.TempDir()
	for _, name := range []string{"events.csv", "events.csv.gz"} {
		path := filepath.Join(dir, name)
		if err := synth.GenerateFile(path, o); err != nil {
			t.Fatalf("GenerateFile(%s): %v", name, err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = f
		if strings.HasSuffix(name, ".gz") {
			zr, err := gzip.NewReader(f)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			r = zr
		}
		got, err := io.ReadAll(r)
		f.Close()
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from Generate's output", name)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries, want the 2 files and no temporaries", len(entries))
	}
	if err := synth.GenerateFile(filepath.Join(dir, "missing", "x.csv"), o); err == nil {
		t.Error("GenerateFile into a missing directory succeeded, want an error")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*synth.Options)
		ok   bool
	}{
		{"default", func(*synth.Options) {}, true},
		{"zero defaults", func(o *synth.Options) { o.Categories, o.Days, o.Start = 0, 0, time.Time{} }, true},
		{"no users", func(o *synth.Options) { o.Users = 0 }, false},
		{"no items", func(o *synth.Options) { o.Items = 0 }, false},
		{"negative events", func(o *synth.Options) { o.Events = -1 }, false},
		{"more categories than items", func(o *synth.Options) { o.Categories = o.Items + 1 }, false},
		{"negative days", func(o *synth.Options) { o.Days = -1 }, false},
	}
	for _, tt := range tests {
		o := synth.DefaultOptions()
		tt.edit(&o)
		err := o.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil {
			if gerr := synth.Generate(io.Discard, o); gerr == nil {
				t.Errorf("%s: Generate accepted options that Validate rejects", tt.name)
			}
		}
	}
}

type failWriter struct{ n int }

var errDiskFull = errors.New("disk full")

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, errDiskFull
	}
	return len(p), nil
}

func TestGenerateWriteError(t *testing.T) {
	o := synth.DefaultOptions()
	err := synth.Generate(&failWriter{n: 1 << 20}, o)
	if !errors.Is(err, errDiskFull) {
		t.Fatalf("Generate to a failing writer = %v, want %v", err, errDiskFull)
	}
}

func ExampleGenerate() {
	o := synth.Options{Users: 20, Items: 50, Events: 6, Seed: 42, Days: 1}
	if err := synth.Generate(os.Stdout, o); err != nil {
		fmt.Println(err)
	}
	// Output:
	// timestamp,user_id,item_id,event
	// 2026-01-01T15:45:53Z,u12,sku-12,view
	// 2026-01-01T15:48:08Z,u12,sku-41,view
	// 2026-01-01T15:48:24Z,u12,sku-13,view
	// 2026-01-01T15:48:45Z,u12,sku-13,add_to_cart
	// 2026-01-01T15:51:57Z,u12,sku-19,view
	// 2026-01-01T15:53:06Z,u12,sku-43,view
}

func ExampleCatalog() {
	o := synth.Options{Users: 20, Items: 4, Seed: 42, Categories: 2}
	if err := synth.Catalog(os.Stdout, o); err != nil {
		fmt.Println(err)
	}
	// Output:
	// item_id,category,brand,price,in_stock
	// sku-0,electronics/laptops,brand-2,16.06,true
	// sku-1,electronics/laptops,brand-3,28.98,true
	// sku-2,electronics/phones,brand-1,8.50,true
	// sku-3,electronics/laptops,brand-2,46.74,true
}

func BenchmarkGenerate(b *testing.B) {
	for _, events := range []int{100_000, 1_000_000} {
		o := synth.Options{Users: 10_000, Items: 5_000, Events: events, Seed: 1}
		b.Run(fmt.Sprintf("events=%d", events), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := synth.Generate(io.Discard, o); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func BenchmarkGenerateFile(b *testing.B) {
	for _, name := range []string{"events.csv", "events.csv.gz"} {
		o := synth.Options{Users: 10_000, Items: 5_000, Events: 1_000_000, Seed: 1}
		b.Run(name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), name)
			b.ReportAllocs()
			for b.Loop() {
				if err := synth.GenerateFile(path, o); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(o.Events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// TestItemLifetime checks that Options.ItemLifetime makes the catalogue
// change over the window (items appear throughout it) and makes recent
// popularity the better guess for the last day, while the default log's
// items are all there from the start and the option at 0 changes nothing.
func TestItemLifetime(t *testing.T) {
	base := synth.Options{Users: 3000, Items: 400, Events: 80000, Seed: 5, Days: 30}
	aged := base
	aged.ItemLifetime = 5 * 24 * time.Hour
	if a, b := generate(t, aged), generate(t, aged); !bytes.Equal(a, b) {
		t.Fatal("two runs with the same item lifetime differ")
	}
	start := synth.DefaultStart
	lastDay := start.AddDate(0, 0, base.Days-1)
	// topOverlap is how many of the 20 most viewed items of lines in
	// [from, lastDay) are among the 20 most viewed of the last day.
	type stats struct {
		lateItems, items int // items first seen after day 10; all items seen
		recent, allTime  int // top-20 overlap with the last day
	}
	measure := func(o synth.Options) stats {
		lines := parseLog(t, bytes.NewReader(generate(t, o)))
		first := map[string]time.Time{}
		for _, l := range lines {
			if _, ok := first[l.item]; !ok {
				first[l.item] = l.time
			}
		}
		var s stats
		for _, at := range first {
			s.items++
			if at.After(start.AddDate(0, 0, 10)) {
				s.lateItems++
			}
		}
		top := func(from, to time.Time) map[string]bool {
			n := map[string]int{}
			for _, l := range lines {
				if l.event == synth.View && !l.time.Before(from) && l.time.Before(to) {
					n[l.item]++
				}
			}
			ids := slices.SortedFunc(maps.Keys(n), func(a, b string) int {
				return cmp.Or(n[b]-n[a], strings.Compare(a, b))
			})
			m := map[string]bool{}
			for _, id := range ids[:min(20, len(ids))] {
				m[id] = true
			}
			return m
		}
		last := top(lastDay, lastDay.AddDate(0, 0, 2))
		overlap := func(m map[string]bool) int {
			k := 0
			for id := range m {
				if last[id] {
					k++
				}
			}
			return k
		}
		s.recent = overlap(top(lastDay.AddDate(0, 0, -7), lastDay))
		s.allTime = overlap(top(start, lastDay))
		return s
	}
	still, moving := measure(base), measure(aged)
	t.Logf("without lifetime %+v; with %v: %+v", still, aged.ItemLifetime, moving)
	if still.lateItems*20 > still.items {
		t.Errorf("without a lifetime %d of %d items first appear after day 10, want under 5 %%", still.lateItems, still.items)
	}
	if moving.lateItems*4 < moving.items {
		t.Errorf("with a lifetime only %d of %d items first appear after day 10, want at least 25 %%", moving.lateItems, moving.items)
	}
	// Zipf popularity still dominates (an old bestseller keeps 5 % of its
	// appeal), so the difference is a few items, not most of them; the
	// default log has it at 1.
	if moving.recent < moving.allTime+3 {
		t.Errorf("with a lifetime the last week's top 20 shares %d items with the last day's, all time's %d: want the last week ahead by 3", moving.recent, moving.allTime)
	}
}
