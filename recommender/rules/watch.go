package rules

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"
)

// WatchOptions control a [Watcher].
type WatchOptions struct {
	// Interval is how often the file is re-read (5s by default).
	Interval time.Duration
	// Logger receives a line per reload and per rejected file
	// (slog.Default() when nil).
	Logger *slog.Logger
	// OnChange, when set, is called from the watching goroutine after
	// every reload attempt that found new content: with the new file, or
	// with the error that kept the old one.
	OnChange func(f *File, err error)
}

// DefaultWatchOptions returns an interval of 5s and the default logger.
func DefaultWatchOptions() WatchOptions {
	return WatchOptions{Interval: 5 * time.Second}
}

// Validate reports whether o can be used.
func (o WatchOptions) Validate() error {
	if o.Interval <= 0 {
		return fmt.Errorf("invalid watch options: interval %v, want > 0", o.Interval)
	}
	return nil
}

// WatchStats counts a Watcher's reloads.
type WatchStats struct {
	Reloads   uint64 // new files taken, the first load included
	Errors    uint64 // new contents rejected (or unreadable files)
	LastError error  // the latest rejection, nil when the current file is the latest content
}

// Watcher holds the rules of one file and re-reads it when its content
// changes. The rules compiled for the catalogues asked of [Watcher.For]
// are swapped atomically: requests never wait for a reload.
type Watcher struct {
	path   string
	opts   WatchOptions
	log    *slog.Logger
	state  atomic.Pointer[watchState]
	mu     sync.Mutex // serialises reloads and compiles
	hash   [32]byte   // of the last content read, good or bad
	stats  WatchStats
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// watchState is immutable: the current file and its compiled forms for
// the two catalogues asked last (two, so requests still on the previous
// model do not recompile while a new model takes over).
type watchState struct {
	file     *File
	compiled [2]*Rules
}

// Watch loads the rules file at path and re-reads it every
// opts.Interval until ctx is cancelled or [Watcher.Close] is called. A
// file that fails to load at the start is an error; later, a bad new
// content is logged, counted and reported to OnChange, and the old rules
// stay in force until the file is fixed.
func Watch(ctx context.Context, path string, opts WatchOptions) (*Watcher, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	w := &Watcher{path: path, opts: opts, log: opts.Logger}
	if w.log == nil {
		w.log = slog.Default()
	}
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	w.hash = sha256.Sum256(data)
	w.stats.Reloads = 1
	w.state.Store(&watchState{file: f})
	ctx, w.cancel = context.WithCancel(ctx)
	w.wg.Add(1)
	go w.run(ctx)
	return w, nil
}

func (w *Watcher) run(ctx context.Context) {
	defer w.wg.Done()
	t := time.NewTicker(w.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = w.Reload()
		}
	}
}

// Close stops the watching goroutine and waits for it.
func (w *Watcher) Close() error {
	w.cancel()
	w.wg.Wait()
	return nil
}

// File returns the rules in force.
func (w *Watcher) File() *File { return w.state.Load().file }

// Stats returns the reload counts.
func (w *Watcher) Stats() WatchStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

// Reload re-reads the file now (the goroutine does it every Interval;
// call it on SIGHUP, say). It reports whether new rules were taken, and
// the error that kept the old ones. Content already seen, good or bad,
// is neither reloaded nor reported again.
func (w *Watcher) Reload() (bool, error) {
	data, err := readFile(w.path)
	var f *File
	if err == nil {
		f, err = Parse(w.path, data)
	}
	w.mu.Lock()
	if data != nil || err == nil {
		h := sha256.Sum256(data)
		if bytes.Equal(h[:], w.hash[:]) {
			w.mu.Unlock()
			return false, nil
		}
		w.hash = h
	} else {
		w.hash = [32]byte{} // whatever is read next is new
	}
	if err != nil {
		if w.stats.LastError != nil && w.stats.LastError.Error() == err.Error() {
			w.mu.Unlock()
			return false, err // an unreadable file is reported once
		}
		w.stats.Errors++
		w.stats.LastError = err
		w.mu.Unlock()
		w.log.Error("rules file rejected; the previous rules stay in force", "path", w.path, "err", err)
		if w.opts.OnChange != nil {
			w.opts.OnChange(nil, err)
		}
		return false, err
	}
	old := w.state.Load()
	next := &watchState{file: f}
	for i, r := range old.compiled {
		if r != nil {
			next.compiled[i] = Compile(f, r.items)
		}
	}
	w.state.Store(next)
	w.stats.Reloads++
	w.stats.LastError = nil
	w.mu.Unlock()
	w.log.Info("rules file reloaded", "path", w.path, "rules", len(f.Rules))
	for _, r := range next.compiled {
		if r != nil {
			for _, warn := range r.Warnings() {
				w.log.Warn("rules: " + warn)
			}
		}
	}
	if w.opts.OnChange != nil {
		w.opts.OnChange(f, nil)
	}
	return true, nil
}

// For returns the rules in force compiled against items. The two latest
// catalogues' compiled rules are kept, so after a model swap the first
// request of the new model compiles (call For once before publishing the
// model to take that off the request path) and requests still on the old
// one do not. items should be comparable (a pointer): other Items are
// compiled on every call.
func (w *Watcher) For(items Items) *Rules {
	if r := w.state.Load().lookup(items); r != nil {
		return r
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.state.Load()
	if r := st.lookup(items); r != nil {
		return r
	}
	r := Compile(st.file, items)
	for _, warn := range r.Warnings() {
		w.log.Warn("rules: " + warn)
	}
	if !reflect.TypeOf(items).Comparable() {
		return r // cannot be a cache key: compiled per call
	}
	w.state.Store(&watchState{file: st.file, compiled: [2]*Rules{r, st.compiled[0]}})
	return r
}

func (s *watchState) lookup(items Items) *Rules {
	for _, r := range s.compiled {
		if r != nil && r.items == items {
			return r
		}
	}
	return nil
}
