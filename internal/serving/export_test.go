package serving

import "time"

// SetClock makes w read the time from now (for back-off tests).
func SetClock(w *Watcher, now func() time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now = now
}
