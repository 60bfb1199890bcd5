package partnersim

import (
	"sync"
	"time"
)

// Clock is the simulator's notion of now: wall time plus an offset that the
// admin endpoint moves forward, so that a case that resolves in three
// working days resolves in a test within seconds. Token expiry, case
// resolution, scheduled outages and "as at" dates in answers follow it;
// rate limits and request signatures use wall time.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
	wall   func() time.Time
}

// NewClock returns a clock that starts at wall time.
func NewClock() *Clock { return &Clock{wall: time.Now} }

// Now returns the simulated time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wall().Add(c.offset).UTC()
}

// Advance moves the clock forward by d (a negative d is ignored).
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	if d > 0 {
		c.offset += d
	}
	c.mu.Unlock()
	return c.Now()
}

// Set moves the clock to t if t is later than now.
func (c *Clock) Set(t time.Time) time.Time {
	c.mu.Lock()
	if d := t.Sub(c.wall().Add(c.offset)); d > 0 {
		c.offset += d
	}
	c.mu.Unlock()
	return c.Now()
}

// Offset returns how far the clock is ahead of wall time.
func (c *Clock) Offset() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offset
}

// addWorkingDays returns t plus n working days (Monday to Friday).
func addWorkingDays(t time.Time, n int) time.Time {
	for n > 0 {
		t = t.AddDate(0, 0, 1)
		if wd := t.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n--
		}
	}
	return t
}
