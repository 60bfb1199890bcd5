// Package breaker is a circuit breaker (github.com/sony/gobreaker) whose
// open period backs off, and which says how long a call it turned away
// should wait.
//
// gobreaker opens for a fixed Timeout and then lets a trial call through.
// A fixed period forces a choice between trying a dead service often and
// noticing late that it is back. Here the first opening is short
// (Settings.OpenFor), each trial that fails doubles the next opening up to
// Settings.MaxOpenFor, and a trial that succeeds closes the breaker and
// starts the sequence again: a blip costs a few seconds, a long outage one
// trial call per MaxOpenFor.
package breaker

import (
	"errors"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
)

// TrialWait is how long a call turned away while the half-open trial is
// under way should wait: by then the trial has usually decided.
const TrialWait = time.Second

// Settings configures a Breaker.
type Settings struct {
	Name string
	// Failures is how many consecutive failures open it (at least 1).
	Failures uint32
	// HalfOpenRequests is how many trial calls pass while half-open
	// (default 1).
	HalfOpenRequests uint32
	// OpenFor is how long the first opening lasts; each failed trial
	// doubles the next, up to MaxOpenFor (default OpenFor: no backoff).
	OpenFor    time.Duration
	MaxOpenFor time.Duration
	// IsSuccessful and IsExcluded are gobreaker's: which errors count as
	// successes, and which are not counted at all.
	IsSuccessful func(error) bool
	IsExcluded   func(error) bool
	// OnStateChange, when set, is told of every change; openFor is the
	// opening's length when to is StateOpen. It must not call the breaker.
	OnStateChange func(from, to gobreaker.State, openFor time.Duration)
}

// OpenError is what Execute returns for a call it turned away.
type OpenError struct {
	// Wait is how long until a trial call may pass: the rest of the
	// opening, or TrialWait while a trial is under way.
	Wait time.Duration
	err  error // gobreaker.ErrOpenState or gobreaker.ErrTooManyRequests
}

func (e *OpenError) Error() string { return e.err.Error() }
func (e *OpenError) Unwrap() error { return e.err }

// Breaker is a circuit breaker whose open period backs off. It is safe for
// concurrent use.
type Breaker[T any] struct {
	cb *gobreaker.CircuitBreaker[T]
	s  Settings

	mu    sync.Mutex
	trips int       // openings since it last closed
	until time.Time // when the current opening ends
}

// New returns a closed breaker.
func New[T any](s Settings) *Breaker[T] {
	s.Failures = max(s.Failures, 1)
	s.HalfOpenRequests = max(s.HalfOpenRequests, 1)
	s.MaxOpenFor = max(s.MaxOpenFor, s.OpenFor)
	b := &Breaker[T]{s: s}
	b.cb = gobreaker.NewCircuitBreaker[T](gobreaker.Settings{
		Name:        s.Name,
		MaxRequests: s.HalfOpenRequests,
		// gobreaker half-opens after the shortest opening; a longer one is
		// held here until it ends.
		Timeout:       s.OpenFor,
		ReadyToTrip:   func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= s.Failures },
		OnStateChange: b.changed,
		IsSuccessful:  s.IsSuccessful,
		IsExcluded:    s.IsExcluded,
	})
	return b
}

// openFor is the length of the opening after trips openings in a row.
func (s Settings) openFor(trips int) time.Duration {
	d := s.OpenFor
	for i := 1; i < trips && d < s.MaxOpenFor; i++ {
		d *= 2
	}
	return min(d, s.MaxOpenFor)
}

// changed is gobreaker's OnStateChange; gobreaker holds its own lock.
func (b *Breaker[T]) changed(_ string, from, to gobreaker.State) {
	var d time.Duration
	b.mu.Lock()
	switch to {
	case gobreaker.StateOpen:
		b.trips++
		d = b.s.openFor(b.trips)
		b.until = time.Now().Add(d)
	case gobreaker.StateClosed:
		b.trips = 0
	}
	b.mu.Unlock()
	if b.s.OnStateChange != nil {
		b.s.OnStateChange(from, to, d)
	}
}

// Held reports how long the breaker stays open: zero when a call now would
// reach gobreaker (closed, half-open, or an opening that has ended).
func (b *Breaker[T]) Held() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.trips == 0 {
		return 0
	}
	return max(time.Until(b.until), 0)
}

// State is the breaker's state: open while an opening lasts, whatever
// gobreaker's own clock says.
func (b *Breaker[T]) State() gobreaker.State {
	if b.Held() > 0 {
		return gobreaker.StateOpen
	}
	return b.cb.State()
}

// Execute runs fn unless the breaker is open, or half-open with its trial
// calls under way; then it returns an *OpenError saying how long to wait.
func (b *Breaker[T]) Execute(fn func() (T, error)) (T, error) {
	if w := b.Held(); w > 0 {
		var zero T
		return zero, &OpenError{Wait: w, err: gobreaker.ErrOpenState}
	}
	res, err := b.cb.Execute(fn)
	switch {
	case errors.Is(err, gobreaker.ErrOpenState):
		// Opened by another call since Held looked.
		return res, &OpenError{Wait: b.Held(), err: err}
	case errors.Is(err, gobreaker.ErrTooManyRequests):
		return res, &OpenError{Wait: TrialWait, err: err}
	}
	return res, err
}
