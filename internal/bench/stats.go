package bench

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"slices"
	"sync"
	"time"
)

// Percentile is the nearest-rank percentile of sorted values: the smallest
// value with at least p% of all values at or below it. p is in (0, 100];
// an empty input gives 0.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// Summary describes a set of latencies.
type Summary struct {
	Count int
	Mean  time.Duration
	P50   time.Duration
	P99   time.Duration
	Max   time.Duration
}

// Latencies collects durations from many goroutines.
type Latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

// Add records one duration.
func (l *Latencies) Add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// Summary computes the figures of what was recorded so far.
func (l *Latencies) Summary() Summary {
	l.mu.Lock()
	d := slices.Clone(l.d)
	l.mu.Unlock()
	return Summarize(d)
}

// Summarize computes the figures of d (which it sorts).
func Summarize(d []time.Duration) Summary {
	if len(d) == 0 {
		return Summary{}
	}
	slices.Sort(d)
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return Summary{Count: len(d), Mean: sum / time.Duration(len(d)), P50: Percentile(d, 50), P99: Percentile(d, 99), Max: d[len(d)-1]}
}

// Ms expresses a duration in milliseconds, rounded to 0.01 ms.
func Ms(d time.Duration) float64 { return Round(float64(d)/float64(time.Millisecond), 2) }

// Round rounds x to the given number of decimals; NaN and infinities give 0
// so that the value can be written as JSON.
func Round(x float64, decimals int) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	p := math.Pow(10, float64(decimals))
	return math.Round(x*p) / p
}

// Ratio is a/b, or 0 when b is 0.
func Ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// WriteJSONLine writes v as one line of compact JSON (keys of maps sorted,
// struct fields in order), the last line every harness prints.
func WriteJSONLine(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}
