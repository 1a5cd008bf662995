//go:build race

package ann

// raceEnabled makes the tests use smaller catalogues under the race
// detector, which slows the build about tenfold.
const raceEnabled = true
