//go:build race

package fs

// raceEnabled: timings under the race detector are not meaningful.
const raceEnabled = true
