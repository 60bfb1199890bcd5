package stripe

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/billing"
	"github.com/borderproof/borderproof/internal/errs"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{APIKey: "sk_test_1"}, true},
		{Config{APIKey: "sk_live_1"}, true},
		{Config{APIKey: "rk_test_1", APIBase: "http://127.0.0.1:12111"}, true},
		{Config{APIKey: "sk_test_1", TestModeOnly: true}, true},
		{Config{APIKey: "sk_live_1", TestModeOnly: true}, false},
		{Config{APIKey: "rk_live_1", TestModeOnly: true}, false},
		{Config{}, false},
		{Config{APIKey: "pk_test_1"}, false},
		{Config{APIKey: "sk_test_1", APIBase: "ftp://x"}, false},
		{Config{APIKey: "sk_test_1", APIBase: "https://api.stripe.com/v1"}, false},
	} {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc.cfg, err)
		}
	}
}

// TestTranslate: every Stripe answer becomes one error kind, with
// Retry-After carried for retries.
func TestTranslate(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		header     string
		body       string
		kind       errs.Kind
		retryAfter int
		nilErr     bool
	}{
		{"rate limited", 429, "3", `{"error":{"type":"invalid_request_error","message":"Too many requests"}}`, errs.RateLimited, 3, false},
		{"server error", 500, "", `{"error":{"type":"api_error","message":"boom"}}`, errs.Unavailable, 0, false},
		{"unavailable", 503, "", `{"error":{"type":"api_error","message":"down"}}`, errs.Unavailable, 0, false},
		{"conflict", 409, "", `{"error":{"type":"invalid_request_error","message":"lock"}}`, errs.Unavailable, 0, false},
		{"bad key", 401, "", `{"error":{"type":"invalid_request_error","message":"Invalid API Key"}}`, errs.FailedPrecondition, 0, false},
		{"not found", 404, "", `{"error":{"type":"invalid_request_error","message":"No such customer"}}`, errs.NotFound, 0, false},
		{"refused", 400, "", `{"error":{"type":"invalid_request_error","message":"No active meter"}}`, errs.Invalid, 0, false},
		{"duplicate", 400, "", `{"error":{"type":"invalid_request_error","message":"An event already exists with identifier use_1."}}`, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.header != "" {
					w.Header().Set("Retry-After", tc.header)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			}))
			defer srv.Close()
			c, err := New(Config{APIKey: "sk_test_1", APIBase: srv.URL}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			err = c.SendMeterEvent(context.Background(), billing.MeterEvent{Identifier: "use_1", EventName: "watchlist_screenings",
				CustomerID: "cus_1", Value: 1, Timestamp: time.Now()})
			if tc.nilErr {
				if err != nil {
					t.Fatalf("duplicate identifier: %v", err)
				}
				return
			}
			e, ok := errs.As(err)
			if !ok || e.Kind != tc.kind || e.RetryAfterSeconds != tc.retryAfter {
				t.Fatalf("got %v (retry after %d), want %v", err, e.RetryAfterSeconds, tc.kind)
			}
		})
	}
	// Nothing listening: Unavailable.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, _ := New(Config{APIKey: "sk_test_1", APIBase: url}, nil)
	if _, err := c.MeterEventSummary(context.Background(), "mtr_1", "cus_1", time.Now().Add(-time.Hour), time.Now()); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("unreachable: %v", err)
	}
}

func TestNewStripes(t *testing.T) {
	s, err := NewStripes(ModesConfig{}, nil)
	if err != nil || s.Live != nil || s.Test != nil || len(s.Modes()) != 0 {
		t.Fatalf("unconfigured: %+v %v", s, err)
	}
	s, err = NewStripes(ModesConfig{APIKey: "sk_live_1", TestAPIKey: "sk_test_1"}, nil)
	if err != nil || s.Live == nil || s.Test == nil {
		t.Fatalf("both: %+v %v", s, err)
	}
	if _, err := NewStripes(ModesConfig{APIKey: "sk_live_1", TestAPIKey: "sk_live_2"}, nil); !errs.Is(err, errs.Invalid) {
		t.Fatalf("live key for sandbox usage: %v", err)
	}
}
