package rules

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	rulesV1  = "rules: [{name: v1, boost: {multiplier: 2, match: {categories: bags}}}]\n"
	rulesV2  = "rules: [{name: v2, boost: {multiplier: 3, match: {categories: shoes}}}]\n"
	rulesBad = "rules: [{name: v3, boost: {multiplier: 0, match: {categories: shoes}}}]\n"
)

func quietOptions() WatchOptions {
	o := DefaultWatchOptions()
	o.Interval = time.Hour // tests call Reload themselves unless they say otherwise
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return o
}

func ruleNames(r *Rules) string {
	var names []string
	for _, rl := range r.File().Rules {
		names = append(names, rl.Name)
	}
	return strings.Join(names, ",")
}

func TestWatchReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeFile(t, path, rulesV1)
	var log bytes.Buffer
	opts := quietOptions()
	opts.Logger = slog.New(slog.NewTextHandler(&log, nil))
	var changes []string
	opts.OnChange = func(f *File, err error) {
		if err != nil {
			changes = append(changes, "error")
		} else {
			changes = append(changes, f.Rules[0].Name)
		}
	}
	w, err := Watch(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	defer w.Close()
	items := shop()
	r1 := w.For(items)
	if got := ruleNames(r1); got != "v1" {
		t.Fatalf("For = rules %q, want v1", got)
	}
	if w.For(items) != r1 {
		t.Errorf("For(same items) compiled again")
	}

	step := func(name, content string, wantChanged bool, wantErr bool, wantRules string) {
		t.Helper()
		if content != "" {
			writeFile(t, path, content)
		}
		changed, err := w.Reload()
		if changed != wantChanged || (err != nil) != wantErr {
			t.Errorf("%s: Reload() = %v, %v; want changed %v, error %v", name, changed, err, wantChanged, wantErr)
		}
		if got := ruleNames(w.For(items)); got != wantRules {
			t.Errorf("%s: rules in force %q, want %q", name, got, wantRules)
		}
	}
	step("unchanged", "", false, false, "v1")
	step("same content rewritten", rulesV1, false, false, "v1")
	step("new content", rulesV2, true, false, "v2")
	if w.For(items) == r1 {
		t.Errorf("For after a reload returned the old rules")
	}
	step("bad content", rulesBad, false, true, "v2")
	var p *Problem
	if st := w.Stats(); st.Errors != 1 || !errors.As(st.LastError, &p) || p.Field != "boost.multiplier" {
		t.Errorf("Stats after a bad file = %+v, want 1 error about boost.multiplier", st)
	}
	step("bad content again", "", false, false, "v2")
	if st := w.Stats(); st.Errors != 1 {
		t.Errorf("the same bad content counted %d times, want once", st.Errors)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	step("file removed", "", false, true, "v2")
	step("file still removed", "", false, true, "v2")
	if st := w.Stats(); st.Errors != 2 || !errors.Is(st.LastError, os.ErrNotExist) {
		t.Errorf("Stats after removing the file = %+v, want 2 errors, the last os.ErrNotExist", st)
	}
	step("fixed", rulesV2, true, false, "v2")
	if st := w.Stats(); st.Reloads != 3 || st.Errors != 2 || st.LastError != nil {
		t.Errorf("Stats after fixing = %+v, want 3 reloads, 2 errors, no last error", st)
	}
	if want := "v2,error,error,v2"; strings.Join(changes, ",") != want {
		t.Errorf("OnChange calls %q, want %q", strings.Join(changes, ","), want)
	}
	if !strings.Contains(log.String(), "rules file rejected; the previous rules stay in force") {
		t.Errorf("log has no rejection line:\n%s", log.String())
	}
}

func TestWatchBadStart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	writeFile(t, path, rulesBad)
	if _, err := Watch(context.Background(), path, quietOptions()); err == nil {
		t.Errorf("Watch(bad file) succeeded")
	}
	if _, err := Watch(context.Background(), filepath.Join(dir, "none.yaml"), quietOptions()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Watch(missing file) = %v, want os.ErrNotExist", err)
	}
	opts := quietOptions()
	opts.Interval = 0
	if _, err := Watch(context.Background(), path, opts); err == nil {
		t.Errorf("Watch(interval 0) succeeded")
	}
}

func TestWatchPolls(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeFile(t, path, rulesV1)
	opts := quietOptions()
	opts.Interval = 5 * time.Millisecond
	changed := make(chan string, 10)
	opts.OnChange = func(f *File, err error) {
		if err == nil {
			changed <- f.Rules[0].Name
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	w, err := Watch(ctx, path, opts)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, rulesV2)
	select {
	case name := <-changed:
		if name != "v2" {
			t.Errorf("OnChange(%q), want v2", name)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the watcher did not notice the new file")
	}
	if got := w.File().Rules[0].Name; got != "v2" {
		t.Errorf("File() = %q, want v2", got)
	}
	cancel() // the goroutine ends with ctx; Close waits for it
	if err := w.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestWatchCatalogues(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeFile(t, path, rulesV1)
	w, err := Watch(context.Background(), path, quietOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	a, b, c := shop(), shop(), newItems("x0 bags")
	ra, rb := w.For(a), w.For(b)
	if w.For(a) != ra || w.For(b) != rb {
		t.Errorf("the two latest catalogues' rules were compiled again")
	}
	if ra.Items() != Items(a) || rb.Items() != Items(b) {
		t.Errorf("Rules.Items does not return the catalogue compiled for")
	}
	rc := w.For(c)
	if rc.rows != 1 {
		t.Errorf("For(c) compiled for %d rows, want 1", rc.rows)
	}
	if w.For(a) == ra {
		t.Errorf("For(a) after two newer catalogues kept the oldest compile")
	}
	// A reload recompiles the cached catalogues before it swaps them in.
	writeFile(t, path, rulesV2)
	if changed, err := w.Reload(); !changed || err != nil {
		t.Fatalf("Reload() = %v, %v", changed, err)
	}
	st := w.state.Load()
	for i, r := range st.compiled {
		if r == nil || ruleNames(r) != "v2" {
			t.Errorf("cached compile %d after reload: %v, want v2", i, r)
		}
	}
}

// TestWatchConcurrent runs requests against the rules while they are
// reloaded and the catalogue swapped, for the race detector.
func TestWatchConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeFile(t, path, rulesV1)
	w, err := Watch(context.Background(), path, quietOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cats := []*fakeItems{shop(), shop()}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out Output
			req := ApplyRequest{N: 3, Candidates: []Candidate{c(0, 3, 1), c(4, 2, 1), c(5, 1, 1)}, Now: now}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := w.For(cats[(g+i)%2]).Apply(req, &out); err != nil {
					t.Error(err)
					return
				}
				if len(out.Items) != 3 {
					t.Errorf("Apply returned %d items, want 3", len(out.Items))
					return
				}
			}
		}()
	}
	for i := range 20 {
		content := rulesV1
		if i%2 == 1 {
			content = rulesV2
		}
		writeFile(t, path, content)
		if _, err := w.Reload(); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}

// sliceItems is an Items that cannot be compared.
type sliceItems []string

func (s sliceItems) Len() int                               { return len(s) }
func (s sliceItems) Row(string) (int32, bool)               { return -1, false }
func (s sliceItems) Category(row int32) string              { return s[row] }
func (s sliceItems) Attribute(int32, string) (string, bool) { return "", false }

func TestWatchIncomparableItems(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeFile(t, path, rulesV1)
	w, err := Watch(context.Background(), path, quietOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	items := sliceItems{"bags", "shoes"}
	r1, r2 := w.For(items), w.For(items) // must not panic
	if r1 == r2 || r1.rows != 2 {
		t.Errorf("For(incomparable items) = %p, %p with %d rows; want two compiles of 2 rows", r1, r2, r1.rows)
	}
	if w.For(shop()) == nil {
		t.Error("For(shop()) = nil")
	}
}
