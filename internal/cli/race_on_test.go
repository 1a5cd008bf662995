//go:build race

package cli

// raceEnabled reports whether the race detector is on; it makes training
// about ten times slower, so the quality test runs one seed under it.
const raceEnabled = true
