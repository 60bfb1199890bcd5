//go:build race

package screening

// raceDetector reports whether the race detector slows this test binary.
const raceDetector = true
