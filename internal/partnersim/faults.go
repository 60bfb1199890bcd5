package partnersim

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Fault is the fault injection of one simulated partner. The zero value
// injects nothing.
type Fault struct {
	// Latency is added to every answer, plus a uniform random Jitter.
	Latency Duration `json:"latency" yaml:"latency"`
	Jitter  Duration `json:"jitter" yaml:"jitter"`
	// ErrorRate in [0,1] is the share of requests answered with the
	// partner's server error (ErrorStatus, default 503).
	ErrorRate   float64 `json:"errorRate" yaml:"errorRate"`
	ErrorStatus int     `json:"errorStatus,omitempty" yaml:"errorStatus,omitempty"`
	// HangRate in [0,1] is the share of requests that never answer (until
	// the client gives up).
	HangRate float64 `json:"hangRate" yaml:"hangRate"`
	// RateLimit is the partner's own limit in requests per second (0: none);
	// beyond it the partner answers 429 with Retry-After.
	RateLimit float64 `json:"rateLimit" yaml:"rateLimit"`
	Burst     int     `json:"burst" yaml:"burst"`
	// Outages are windows of simulated time in which the partner answers
	// 503 with Retry-After until the window ends.
	Outages []Outage `json:"outages,omitempty" yaml:"outages,omitempty"`
}

// Outage is a scheduled outage in simulated time.
type Outage struct {
	From time.Time `json:"from" yaml:"from"`
	To   time.Time `json:"to" yaml:"to"`
}

// Duration is a time.Duration written as "150ms" in JSON.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "150ms" or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*d = Duration(n)
	return nil
}

// faultState applies a Fault to one partner's requests.
type faultState struct {
	mu      sync.Mutex
	f       Fault
	limiter *rate.Limiter
	rnd     *rand.Rand
}

func newFaultState(f Fault, seed uint64) *faultState {
	s := &faultState{rnd: rand.New(rand.NewPCG(seed, 0x5eed))}
	s.set(f)
	return s
}

func (s *faultState) set(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.f = f
	s.limiter = nil
	if f.RateLimit > 0 {
		b := f.Burst
		if b < 1 {
			b = max(1, int(f.RateLimit))
		}
		s.limiter = rate.NewLimiter(rate.Limit(f.RateLimit), b)
	}
}

func (s *faultState) get() Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f
}

// errorWriter writes an error in a partner's own dialect.
type errorWriter func(w http.ResponseWriter, status int, code, message string)

// decision is what the fault layer does with one request.
type decision struct {
	delay      time.Duration
	hang       bool
	status     int // 0: pass
	retryAfter time.Duration
}

func (s *faultState) decide(now time.Time) decision {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.f
	var d decision
	for _, o := range f.Outages {
		if !now.Before(o.From) && now.Before(o.To) {
			d.status = http.StatusServiceUnavailable
			d.retryAfter = o.To.Sub(now)
			return d
		}
	}
	if s.limiter != nil {
		r := s.limiter.Reserve()
		if wait := r.Delay(); wait > 0 {
			r.Cancel()
			d.status = http.StatusTooManyRequests
			d.retryAfter = wait
			return d
		}
	}
	d.delay = time.Duration(f.Latency)
	if f.Jitter > 0 {
		d.delay += time.Duration(s.rnd.Int64N(int64(f.Jitter)))
	}
	if f.HangRate > 0 && s.rnd.Float64() < f.HangRate {
		d.hang = true
		return d
	}
	if f.ErrorRate > 0 && s.rnd.Float64() < f.ErrorRate {
		d.status = f.ErrorStatus
		if d.status == 0 {
			d.status = http.StatusServiceUnavailable
		}
	}
	return d
}

// middleware applies the partner's faults before its handler.
func (s *faultState) middleware(clock *Clock, writeErr errorWriter, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := s.decide(clock.Now())
		if d.hang {
			<-r.Context().Done()
			return
		}
		if d.delay > 0 {
			t := time.NewTimer(d.delay)
			select {
			case <-r.Context().Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		switch d.status {
		case 0:
			next.ServeHTTP(w, r)
		case http.StatusTooManyRequests:
			w.Header().Set("Retry-After", retryAfterSeconds(d.retryAfter))
			writeErr(w, d.status, "RATE_LIMITED", "rate limit exceeded")
		case http.StatusServiceUnavailable:
			if d.retryAfter > 0 {
				w.Header().Set("Retry-After", retryAfterSeconds(d.retryAfter))
			}
			writeErr(w, d.status, "UNAVAILABLE", "service temporarily unavailable")
		default:
			writeErr(w, d.status, "INTERNAL", "internal error")
		}
	})
}

func retryAfterSeconds(d time.Duration) string {
	s := int64(d / time.Second)
	if d%time.Second != 0 || s == 0 {
		s++
	}
	return strconv.FormatInt(s, 10)
}
