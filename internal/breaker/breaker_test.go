package breaker_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/borderproof/borderproof/internal/breaker"
)

var errDown = errors.New("down")

// TestOpeningsBackOff: each failed trial doubles the next opening up to
// MaxOpenFor; while an opening lasts no call reaches the service, even
// after gobreaker's own (shortest) timeout; a successful trial closes the
// breaker and the next opening is short again.
func TestOpeningsBackOff(t *testing.T) {
	t.Parallel()
	const base = 150 * time.Millisecond
	var mu sync.Mutex
	var openings []time.Duration
	b := breaker.New[int](breaker.Settings{
		Name: "svc", Failures: 1, OpenFor: base, MaxOpenFor: 4 * base,
		OnStateChange: func(_, to gobreaker.State, d time.Duration) {
			if to == gobreaker.StateOpen {
				mu.Lock()
				openings = append(openings, d)
				mu.Unlock()
			}
		},
	})
	calls := 0
	call := func(fail bool) error {
		_, err := b.Execute(func() (int, error) {
			calls++
			if fail {
				return 0, errDown
			}
			return 1, nil
		})
		return err
	}
	// turnedAway checks that a call now is turned away without reaching
	// the service and is told to wait no longer than the rest of the
	// opening that began by opened and lasts d.
	turnedAway := func(opened time.Time, d time.Duration) {
		t.Helper()
		before, left := calls, time.Until(opened.Add(d))
		err := call(false)
		var oe *breaker.OpenError
		if !errors.As(err, &oe) || !errors.Is(err, gobreaker.ErrOpenState) {
			t.Fatalf("%s into a %s opening: %v, want turned away", time.Since(opened).Round(time.Millisecond), d, err)
		}
		if oe.Wait <= 0 || oe.Wait > left {
			t.Fatalf("told to wait %s with %s of the opening left", oe.Wait, left)
		}
		if calls != before {
			t.Fatal("a call reached the service while open")
		}
		if b.State() != gobreaker.StateOpen || b.Held() <= 0 {
			t.Fatalf("state %s, held %s while open", b.State(), b.Held())
		}
	}

	// opened is taken after the call that opens the breaker, so the
	// opening ends no later than opened plus its length.
	if err := call(true); !errors.Is(err, errDown) {
		t.Fatalf("first failure: %v", err)
	}
	opened := time.Now()
	for i, d := range []time.Duration{base, 2 * base, 4 * base, 4 * base} {
		turnedAway(opened, d)
		if d > base {
			// Past gobreaker's own timeout, still held.
			time.Sleep(time.Until(opened.Add(base + 30*time.Millisecond)))
			turnedAway(opened, d)
		}
		time.Sleep(time.Until(opened.Add(d + 10*time.Millisecond)))
		if i == 3 {
			break
		}
		if err := call(true); !errors.Is(err, errDown) {
			t.Fatalf("trial %d: %v, want it to reach the service", i+1, err)
		}
		opened = time.Now()
	}
	if err := call(false); err != nil || b.State() != gobreaker.StateClosed {
		t.Fatalf("successful trial: %v, state %s", err, b.State())
	}
	_ = call(true)
	turnedAway(time.Now(), base)

	mu.Lock()
	defer mu.Unlock()
	want := []time.Duration{base, 2 * base, 4 * base, 4 * base, base}
	if len(openings) != len(want) {
		t.Fatalf("openings %v, want %v", openings, want)
	}
	for i := range want {
		if openings[i] != want[i] {
			t.Fatalf("openings %v, want %v", openings, want)
		}
	}
}

// TestTrialUnderWay: while the half-open trial runs, other calls are told
// to come back in TrialWait.
func TestTrialUnderWay(t *testing.T) {
	t.Parallel()
	b := breaker.New[int](breaker.Settings{Name: "svc", Failures: 1, OpenFor: 50 * time.Millisecond})
	_, _ = b.Execute(func() (int, error) { return 0, errDown })
	time.Sleep(60 * time.Millisecond)
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := b.Execute(func() (int, error) { close(started); <-release; return 1, nil })
		done <- err
	}()
	<-started
	_, err := b.Execute(func() (int, error) { t.Error("second call during the trial"); return 0, nil })
	var oe *breaker.OpenError
	if !errors.As(err, &oe) || oe.Wait != breaker.TrialWait || !errors.Is(err, gobreaker.ErrTooManyRequests) {
		t.Fatalf("during the trial: %v", err)
	}
	close(release)
	if err := <-done; err != nil || b.State() != gobreaker.StateClosed || b.Held() != 0 {
		t.Fatalf("trial: %v, state %s", err, b.State())
	}
}

// TestNoBackoffByDefault: without MaxOpenFor every opening lasts OpenFor.
func TestNoBackoffByDefault(t *testing.T) {
	t.Parallel()
	var got []time.Duration
	b := breaker.New[int](breaker.Settings{
		Name: "svc", Failures: 2, OpenFor: 40 * time.Millisecond,
		OnStateChange: func(_, to gobreaker.State, d time.Duration) {
			if to == gobreaker.StateOpen {
				got = append(got, d)
			}
		},
	})
	fail := func() (int, error) { return 0, errDown }
	_, _ = b.Execute(fail)
	if b.State() != gobreaker.StateClosed {
		t.Fatal("opened after one failure of two")
	}
	_, _ = b.Execute(fail)
	for range 2 {
		time.Sleep(50 * time.Millisecond)
		_, _ = b.Execute(fail)
	}
	if len(got) != 3 || got[0] != 40*time.Millisecond || got[1] != got[0] || got[2] != got[0] {
		t.Fatalf("openings %v, want three of 40ms", got)
	}
}
