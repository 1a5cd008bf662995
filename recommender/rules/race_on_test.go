//go:build race

package rules

// raceEnabled reports whether the race detector is on; it adds
// allocations of its own (and sync.Pool drops items under it), so
// allocation counts are checked without it.
const raceEnabled = true
