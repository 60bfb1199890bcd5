package billing_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
)

// recorder is a reverse proxy in front of stripe-mock that records what
// reaches it and injects faults. stripe-mock is stateless, so counting what
// is sent, and refusing what Stripe would refuse, happens here.
type recorder struct {
	t        testing.TB
	upstream string
	srv      *httptest.Server

	mu        sync.Mutex
	requests  []recorded
	attempts  map[string]int // meter event identifier → attempts seen
	forwarded map[string]int // identifier → events stripe-mock accepted

	// failFirst answers 500 to the first failFirst attempts of every
	// meter event identifier.
	failFirst int
	// rateLimitFirst answers 429 with Retry-After: 1 to the first meter
	// event request.
	rateLimitFirst bool
	// dedup answers Stripe's duplicate-identifier error for identifiers
	// already accepted, as Stripe does within its uniqueness window.
	dedup bool
}

type recorded struct {
	Method, Path   string
	Form           url.Values
	IdempotencyKey string
}

func newRecorder(t testing.TB, upstream string) *recorder {
	r := &recorder{t: t, upstream: upstream, attempts: map[string]int{}, forwarded: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) URL() string { return r.srv.URL }

// configure changes the faults under the recorder's lock.
func (r *recorder) configure(fn func(r *recorder)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(r)
}

func (r *recorder) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	form, _ := url.ParseQuery(string(body))
	if req.Method == http.MethodGet {
		form = req.URL.Query()
	}
	ident := ""
	isEvent := req.Method == http.MethodPost && req.URL.Path == "/v1/billing/meter_events"
	r.mu.Lock()
	r.requests = append(r.requests, recorded{Method: req.Method, Path: req.URL.Path, Form: form, IdempotencyKey: req.Header.Get("Idempotency-Key")})
	var fault func()
	if isEvent {
		ident = form.Get("identifier")
		r.attempts[ident]++
		total := 0
		for _, n := range r.attempts {
			total += n
		}
		switch {
		case r.rateLimitFirst && total == 1:
			fault = func() {
				w.Header().Set("Retry-After", "1")
				stripeError(w, http.StatusTooManyRequests, "rate_limit", "Too many requests")
			}
		case r.attempts[ident] <= r.failFirst:
			fault = func() { stripeError(w, http.StatusInternalServerError, "api_error", "An unknown error occurred") }
		case r.dedup && r.forwarded[ident] > 0:
			fault = func() {
				stripeError(w, http.StatusBadRequest, "invalid_request_error", "An event already exists with identifier "+ident+".")
			}
		}
	}
	r.mu.Unlock()
	if fault != nil {
		fault()
		return
	}

	up, err := http.NewRequestWithContext(req.Context(), req.Method, r.upstream+req.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	up.Header = req.Header.Clone()
	res, err := http.DefaultClient.Do(up)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	if isEvent && res.StatusCode == http.StatusOK {
		r.mu.Lock()
		r.forwarded[ident]++
		r.mu.Unlock()
	}
	for k, v := range res.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(res.StatusCode)
	_, _ = io.Copy(w, res.Body)
}

func stripeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"type":%q,"message":%q}}`, typ, msg)
}

// sent returns, per identifier, how many meter events stripe-mock accepted.
func (r *recorder) sent() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.forwarded))
	for k, v := range r.forwarded {
		out[k] = v
	}
	return out
}

// eventForms returns the forms of the meter events stripe-mock accepted,
// by identifier (the last one seen).
func (r *recorder) eventForms() map[string]url.Values {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]url.Values{}
	for _, q := range r.requests {
		if q.Path == "/v1/billing/meter_events" {
			out[q.Form.Get("identifier")] = q.Form
		}
	}
	return out
}

func (r *recorder) requestsTo(method, path string) []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []recorded
	for _, q := range r.requests {
		if q.Method == method && q.Path == path {
			out = append(out, q)
		}
	}
	return out
}
