package webhook

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
)

// TestBehaviouralVectors runs every Standard Webhooks behavioural record of
// the vector file. Each record's modification is implemented below; whether
// it must verify comes from the record's "expect" field. The sentinel is
// our classification of the failure.
func TestBehaviouralVectors(t *testing.T) {
	t.Parallel()
	const (
		secret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		bareKey = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		msgID   = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		wrong   = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
	)
	body := []byte(`{"test": 2432232314}`)
	// A clock with a fractional second, like a real one.
	now := time.Unix(1_700_000_000, 250_000_000)
	tol := 5 * time.Minute
	signed := func(t *testing.T, at time.Time) http.Header {
		t.Helper()
		h, err := Headers(msgID, at, body, secret)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	type result struct {
		err  error
		want error // sentinel when the vector expects an error
	}
	cases := map[string]func(t *testing.T) result{
		"sw-behav-0": func(t *testing.T) result {
			return result{Verify(secret, signed(t, now), body, now, tol), nil}
		},
		"sw-behav-1": func(t *testing.T) result {
			h := signed(t, now)
			h.Del(HeaderID)
			return result{Verify(secret, h, body, now, tol), ErrMissingHeader}
		},
		"sw-behav-2": func(t *testing.T) result {
			h := signed(t, now)
			h.Del(HeaderTimestamp)
			return result{Verify(secret, h, body, now, tol), ErrMissingHeader}
		},
		"sw-behav-3": func(t *testing.T) result {
			h := signed(t, now)
			h.Del(HeaderSignature)
			return result{Verify(secret, h, body, now, tol), ErrMissingHeader}
		},
		"sw-behav-4": func(t *testing.T) result {
			h := signed(t, now)
			h.Set(HeaderSignature, wrong)
			return result{Verify(secret, h, body, now, tol), ErrNoMatchingSignature}
		},
		"sw-behav-5": func(t *testing.T) result {
			h := signed(t, now)
			h.Set(HeaderSignature, "v1,")
			return result{Verify(secret, h, body, now, tol), ErrNoMatchingSignature}
		},
		"sw-behav-6": func(t *testing.T) result {
			return result{Verify(secret, signed(t, now.Add(-tol)), body, now, tol), ErrTimestampTooOld}
		},
		"sw-behav-7": func(t *testing.T) result {
			return result{Verify(secret, signed(t, now.Add(tol+time.Second)), body, now, tol), ErrTimestampTooNew}
		},
		"sw-behav-8": func(t *testing.T) result {
			h := signed(t, now)
			valid := h.Get(HeaderSignature)
			h.Set(HeaderSignature, strings.Join([]string{
				wrong, "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=", valid, wrong,
			}, " "))
			return result{Verify(secret, h, body, now, tol), nil}
		},
		"sw-behav-9": func(t *testing.T) result {
			return result{Verify(secret, signed(t, now.Add(-tol)), body, now, SkipTimestampCheck), nil}
		},
		"sw-behav-10": func(t *testing.T) result {
			return result{Verify(secret, signed(t, now.Add(tol)), body, now, SkipTimestampCheck), nil}
		},
		"sw-behav-11": func(t *testing.T) result {
			h := signed(t, now)
			h.Set(HeaderTimestamp, "946684800")
			return result{Verify(secret, h, body, now, SkipTimestampCheck), ErrNoMatchingSignature}
		},
		"sw-behav-12": func(t *testing.T) result {
			h := signed(t, now)
			return result{errors.Join(
				Verify(bareKey, h, body, now, tol),
				Verify(secret, h, body, now, tol),
			), nil}
		},
		"sw-behav-13": func(t *testing.T) result {
			return result{Verify("", signed(t, now), body, now, tol), ErrInvalidSecret}
		},
		"sw-behav-14": func(t *testing.T) result {
			return result{Verify("whsec_", signed(t, now), body, now, tol), ErrInvalidSecret}
		},
		"sw-behav-15": func(t *testing.T) result {
			_, err := Sign(msgID, now, body, "")
			return result{err, ErrInvalidSecret}
		},
		"sw-behav-unpadded": func(t *testing.T) result {
			var all []error
			for _, pair := range [][2]string{
				{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
				{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS=", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS"},
				{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr==", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr"},
			} {
				h, err := Headers(msgID, now, body, pair[0])
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, Verify(pair[1], h, body, now, tol), Verify(SecretPrefix+pair[1], h, body, now, tol))
			}
			return result{errors.Join(all...), nil}
		},
	}

	seen := 0
	for _, v := range standardVectors(t) {
		if v.Kind != "behavioural" {
			continue
		}
		seen++
		run, ok := cases[v.ID]
		if !ok {
			t.Errorf("behavioural vector %s (%s) has no test case", v.ID, v.Name)
			continue
		}
		t.Run(v.ID, func(t *testing.T) {
			r := run(t)
			switch {
			case strings.HasPrefix(v.Expect, "ok"):
				if r.err != nil {
					t.Errorf("%s: got %v, vector expects ok", v.Name, r.err)
				}
			case strings.HasPrefix(v.Expect, "error"):
				if r.err == nil {
					t.Fatalf("%s: got nil, vector expects an error", v.Name)
				}
				if r.want != nil && !errors.Is(r.err, r.want) {
					t.Errorf("%s: got %v, want %v", v.Name, r.err, r.want)
				}
			default:
				t.Fatalf("%s: unknown expectation %q", v.ID, v.Expect)
			}
		})
	}
	if seen != len(cases) {
		t.Errorf("vector file has %d behavioural records, test implements %d", seen, len(cases))
	}
}

func TestVerifyTimestampWindow(t *testing.T) {
	t.Parallel()
	secret := NewSecret()
	body := []byte(`{}`)
	now := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name      string
		offset    time.Duration // signing time relative to now
		tolerance time.Duration
		want      error
	}{
		{"now", 0, 0, nil},
		{"default window, 4m59s old", -(5*time.Minute - time.Second), 0, nil},
		{"default window, 5m old", -5 * time.Minute, 0, ErrTimestampTooOld},
		{"default window, 4m59s ahead", 5*time.Minute - time.Second, 0, nil},
		{"default window, 5m ahead", 5 * time.Minute, 0, ErrTimestampTooNew},
		{"10s window, 15s old", -15 * time.Second, 10 * time.Second, ErrTimestampTooOld},
		{"20s window, 15s old", -15 * time.Second, 20 * time.Second, nil},
		{"skip, a year old", -365 * 24 * time.Hour, SkipTimestampCheck, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := Headers("msg_1", now.Add(tt.offset), body, secret)
			if err != nil {
				t.Fatal(err)
			}
			err = Verify(secret, h, body, now, tt.tolerance)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if k := errs.KindOf(err); k != errs.Unauthenticated {
				t.Errorf("kind = %v, want unauthenticated", k)
			}
		})
	}
}

func TestVerifyMalformedHeaders(t *testing.T) {
	t.Parallel()
	secret := NewSecret()
	body := []byte(`{"a":1}`)
	now := time.Unix(1_700_000_000, 0)
	base, err := Headers("msg_1", now, body, secret)
	if err != nil {
		t.Fatal(err)
	}
	valid := base.Get(HeaderSignature)
	tests := []struct {
		name   string
		header string
		value  string
		want   error
		msg    string // client-facing message must mention this
	}{
		{"timestamp with sign", HeaderTimestamp, "+1700000000", ErrInvalidTimestamp, "webhook-timestamp"},
		{"timestamp negative", HeaderTimestamp, "-1", ErrInvalidTimestamp, "webhook-timestamp"},
		{"timestamp fraction", HeaderTimestamp, "1700000000.5", ErrInvalidTimestamp, "webhook-timestamp"},
		{"timestamp milliseconds", HeaderTimestamp, "1700000000000", ErrTimestampTooNew, "future"},
		{"timestamp huge", HeaderTimestamp, "99999999999999999999", ErrInvalidTimestamp, "webhook-timestamp"},
		{"timestamp far future", HeaderTimestamp, "999999999999999999", ErrTimestampTooNew, "future"},
		{"timestamp zero", HeaderTimestamp, "0", ErrTimestampTooOld, "old"},
		{"timestamp words", HeaderTimestamp, "yesterday", ErrInvalidTimestamp, "webhook-timestamp"},
		{"missing id", HeaderID, "", ErrMissingHeader, "webhook-id"},
		{"other version only", HeaderSignature, "v1a," + strings.TrimPrefix(valid, "v1,"), ErrNoMatchingSignature, "signature"},
		{"no comma", HeaderSignature, strings.TrimPrefix(valid, "v1,"), ErrNoMatchingSignature, "signature"},
		{"truncated", HeaderSignature, valid[:len(valid)-2], ErrNoMatchingSignature, "signature"},
		{"id changed", HeaderID, "msg_2", ErrNoMatchingSignature, "signature"},
		{"timestamp changed", HeaderTimestamp, "1700000001", ErrNoMatchingSignature, "signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := base.Clone()
			h.Set(tt.header, tt.value)
			err := Verify(secret, h, body, now, 0)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			e, ok := errs.As(err)
			if !ok || e.Kind != errs.Unauthenticated {
				t.Fatalf("error %v is not an unauthenticated *errs.Error", err)
			}
			if !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("message %q does not mention %q", e.Msg, tt.msg)
			}
		})
	}
	t.Run("extra spaces between signatures", func(t *testing.T) {
		h := base.Clone()
		h.Set(HeaderSignature, "  v1,AAAA   "+valid+"  ")
		if err := Verify(secret, h, body, now, 0); err != nil {
			t.Fatalf("Verify = %v", err)
		}
	})
	t.Run("lower-case header map", func(t *testing.T) {
		// Header names are case-insensitive; a receiver may build the map
		// itself with the spec's lower-case names.
		h := http.Header{}
		for k, v := range base {
			h.Set(strings.ToLower(k), v[0])
		}
		if err := Verify(secret, h, body, now, 0); err != nil {
			t.Fatalf("Verify = %v", err)
		}
	})
}

func BenchmarkVerify1KiB(b *testing.B) {
	body := benchBody()
	secret := NewSecret()
	ts := time.Unix(1_700_000_000, 0)
	h, err := Headers("msg_01JABCDEFGHJKMNPQRSTVWXYZ0", ts, body, secret)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Verify(secret, h, body, ts, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify1KiBRotated verifies with the second of two signatures,
// the receiver's view during a secret rotation.
func BenchmarkVerify1KiBRotated(b *testing.B) {
	body := benchBody()
	current, previous := NewSecret(), NewSecret()
	ts := time.Unix(1_700_000_000, 0)
	h, err := Headers("msg_01JABCDEFGHJKMNPQRSTVWXYZ0", ts, body, current, previous)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Verify(previous, h, body, ts, 0); err != nil {
			b.Fatal(err)
		}
	}
}
