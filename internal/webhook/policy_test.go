package webhook

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

func TestJudge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		out  outcome
		want verdict
	}{
		{outcome{status: 200}, verdict{success: true}},
		{outcome{status: 204}, verdict{success: true}},
		{outcome{status: 299}, verdict{success: true}},
		{outcome{status: 410}, verdict{gone: true}},
		{outcome{status: 408}, verdict{}},
		{outcome{status: 429}, verdict{}},
		{outcome{status: 500}, verdict{}},
		{outcome{status: 503}, verdict{}},
		{outcome{status: 599}, verdict{}},
		{outcome{status: 301}, verdict{flag: true}},
		{outcome{status: 304}, verdict{flag: true}},
		{outcome{status: 400}, verdict{flag: true}},
		{outcome{status: 401}, verdict{flag: true}},
		{outcome{status: 404}, verdict{flag: true}},
		{outcome{status: 413}, verdict{flag: true}},
		{outcome{status: 101}, verdict{flag: true}},
		{outcome{err: "request timed out"}, verdict{}},
		{outcome{status: 200, err: "connection closed before a response"}, verdict{}},
	}
	for _, tt := range tests {
		if got := judge(tt.out); got != tt.want {
			t.Errorf("judge(%+v) = %+v, want %+v", tt.out, got, tt.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-5", 0},
		{"120", 2 * time.Minute},
		{" 7 ", 7 * time.Second},
		{"99999999999999", 365 * 24 * time.Hour},
		{"soon", 0},
		{"1.5", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.in, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestDelay(t *testing.T) {
	t.Parallel()
	s := &Service{cfg: Config{}.withDefaults()}
	for step := 1; step < len(DefaultSchedule); step++ {
		base := DefaultSchedule[step]
		for range 200 {
			d := s.delay(step, 0)
			if d < time.Duration(float64(base)*0.9) || d > time.Duration(float64(base)*1.1) {
				t.Fatalf("step %d: delay %v outside %v ±10%%", step, d, base)
			}
		}
	}
	if d := s.delay(1, 10*time.Minute); d != 10*time.Minute {
		t.Fatalf("Retry-After 10m at step 1: %v", d)
	}
	if d := s.delay(1, 48*time.Hour); d != time.Hour {
		t.Fatalf("Retry-After beyond the cap: %v", d)
	}
	if d := s.delay(6, 2*time.Hour); d < 9*time.Hour {
		t.Fatalf("a short Retry-After must not shorten the schedule: %v", d)
	}
	s.cfg.Jitter = -1
	if d := s.delay(2, 0); d != 5*time.Minute {
		t.Fatalf("without jitter: %v", d)
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("dial: %w", ErrForbiddenAddress), "webhook endpoint must not point at a private, loopback or otherwise non-public address"},
		{CheckIP(netip.MustParseAddr("10.1.2.3"), Allowlist{}), "webhook endpoint must not point at a private, loopback or otherwise non-public address"},
		{fmt.Errorf("post: %w", context.DeadlineExceeded), "request timed out"},
		{&net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}, "webhook endpoint host could not be resolved"},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, "connection refused"},
		{&net.OpError{Op: "read", Err: syscall.ECONNRESET}, "connection closed before a response"},
		{fmt.Errorf("something odd at 10.0.0.1"), "connection failed"},
	}
	for _, tt := range tests {
		if got := describe(tt.err); got != tt.want {
			t.Errorf("describe(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
