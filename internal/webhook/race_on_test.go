//go:build race

package webhook_test

// raceDetector reports whether the race detector slows this test binary.
const raceDetector = true
