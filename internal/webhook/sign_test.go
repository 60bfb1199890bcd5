package webhook

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
)

// vector is one record of testdata/webhook_vectors.jsonl. Only the fields
// the Standard Webhooks tests read are decoded.
type vector struct {
	ID                string          `json:"id"`
	Scheme            string          `json:"scheme"`
	Kind              string          `json:"kind"`
	Name              string          `json:"name"`
	Secret            string          `json:"secret"`
	SecretKeyB64      string          `json:"secret_key_bytes_b64"`
	MsgID             string          `json:"msg_id"`
	Timestamp         json.RawMessage `json:"timestamp"`
	Payload           string          `json:"payload"`
	SignedContent     string          `json:"signed_content"`
	ExpectedSignature string          `json:"expected_signature"`
	HeaderSignature   string          `json:"header_signature"`
	Modification      string          `json:"modification"`
	Expect            string          `json:"expect"`
}

// standardVectors returns the Standard Webhooks records of the vector file.
// The Stripe records are skipped: Stripe signs "t.body" with the raw secret
// and hex output, a different scheme that billing verifies with stripe-go.
func standardVectors(t testing.TB) []vector {
	t.Helper()
	f, err := os.Open("testdata/webhook_vectors.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []vector
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v vector
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("bad vector line: %v", err)
		}
		if strings.HasPrefix(v.ID, "sw-") {
			out = append(out, v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSignStaticVectors(t *testing.T) {
	t.Parallel()
	n := 0
	for _, v := range standardVectors(t) {
		if v.Kind != "static_sign_vector" {
			continue
		}
		n++
		t.Run(v.ID, func(t *testing.T) {
			var unix int64
			if err := json.Unmarshal(v.Timestamp, &unix); err != nil {
				t.Fatalf("timestamp: %v", err)
			}
			ts := time.Unix(unix, 0)
			for _, secret := range []string{v.Secret, v.SecretKeyB64} {
				got, err := Sign(v.MsgID, ts, []byte(v.Payload), secret)
				if err != nil {
					t.Fatalf("Sign: %v", err)
				}
				if got != v.ExpectedSignature {
					t.Errorf("Sign(%s) = %q, want %q", v.ID, got, v.ExpectedSignature)
				}
			}
			if v.SignedContent != "" {
				want := v.MsgID + "." + string(v.Timestamp) + "." + v.Payload
				if v.SignedContent != want {
					t.Errorf("signed content %q, vector says %q", want, v.SignedContent)
				}
			}
			h, err := Headers(v.MsgID, ts, []byte(v.Payload), v.Secret)
			if err != nil {
				t.Fatal(err)
			}
			if err := Verify(v.Secret, h, []byte(v.Payload), ts.Add(time.Second), 0); err != nil {
				t.Errorf("Verify of own signature: %v", err)
			}
			if err := Verify(v.Secret, h, []byte(v.Payload+" "), ts, 0); !errors.Is(err, ErrNoMatchingSignature) {
				t.Errorf("Verify of changed body = %v, want ErrNoMatchingSignature", err)
			}
		})
	}
	if n < 2 {
		t.Fatalf("found %d static Standard Webhooks vectors, want at least 2", n)
	}
}

func TestStaticNegativeVectors(t *testing.T) {
	t.Parallel()
	n := 0
	now := time.Now()
	for _, v := range standardVectors(t) {
		if v.Kind != "static_negative" {
			continue
		}
		n++
		h := http.Header{}
		h.Set(HeaderID, v.MsgID)
		h.Set(HeaderTimestamp, unixString(now))
		h.Set(HeaderSignature, v.HeaderSignature)
		err := Verify(v.Secret, h, []byte(v.Payload), now, 0)
		if v.Expect != "error" {
			t.Fatalf("%s: unexpected expectation %q", v.ID, v.Expect)
		}
		if !errors.Is(err, ErrNoMatchingSignature) {
			t.Errorf("%s: Verify = %v, want ErrNoMatchingSignature", v.ID, err)
		}
	}
	if n == 0 {
		t.Fatal("no static_negative vectors")
	}
}

func TestSignSeveralSecrets(t *testing.T) {
	t.Parallel()
	a, b, c := NewSecret(), NewSecret(), NewSecret()
	ts := time.Unix(1_700_000_000, 0)
	body := []byte(`{"type":"verification.completed"}`)
	sig, err := Sign("msg_1", ts, body, a, b)
	if err != nil {
		t.Fatal(err)
	}
	entries := strings.Split(sig, " ")
	if len(entries) != 2 {
		t.Fatalf("Sign with two secrets gave %d entries: %q", len(entries), sig)
	}
	for i, secret := range []string{a, b} {
		one, err := Sign("msg_1", ts, body, secret)
		if err != nil {
			t.Fatal(err)
		}
		if entries[i] != one {
			t.Errorf("entry %d = %q, want the single-secret signature %q", i, entries[i], one)
		}
	}
	h, err := Headers("msg_1", ts, body, a, b)
	if err != nil {
		t.Fatal(err)
	}
	for name, secret := range map[string]string{"current": a, "previous": b} {
		if err := Verify(secret, h, body, ts, 0); err != nil {
			t.Errorf("Verify with %s secret: %v", name, err)
		}
	}
	if err := Verify(c, h, body, ts, 0); !errors.Is(err, ErrNoMatchingSignature) {
		t.Errorf("Verify with unrelated secret = %v, want ErrNoMatchingSignature", err)
	}
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	secret := NewSecret()
	ts := time.Unix(1_700_000_123, 999_000_000)
	h, err := Headers("msg_01J", ts, []byte("{}"), secret)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Get("webhook-id"); got != "msg_01J" {
		t.Errorf("webhook-id = %q", got)
	}
	if got := h.Get("webhook-timestamp"); got != "1700000123" {
		t.Errorf("webhook-timestamp = %q, want whole seconds 1700000123", got)
	}
	if got := h.Get("webhook-signature"); !strings.HasPrefix(got, "v1,") {
		t.Errorf("webhook-signature = %q", got)
	}
	if len(h) != 3 {
		t.Errorf("Headers set %d headers, want 3", len(h))
	}
}

func TestSignRejects(t *testing.T) {
	t.Parallel()
	good := NewSecret()
	ts := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name    string
		msgID   string
		ts      time.Time
		secrets []string
		kind    errs.Kind
		sentErr error
	}{
		{"empty id", "", ts, []string{good}, errs.Invalid, ErrInvalidMessageID},
		{"dot in id", "msg.1", ts, []string{good}, errs.Invalid, ErrInvalidMessageID},
		{"space in id", "msg 1", ts, []string{good}, errs.Invalid, ErrInvalidMessageID},
		{"newline in id", "msg\n1", ts, []string{good}, errs.Invalid, ErrInvalidMessageID},
		{"non-ASCII id", "msg_é", ts, []string{good}, errs.Invalid, ErrInvalidMessageID},
		{"long id", strings.Repeat("a", 257), ts, []string{good}, errs.Invalid, ErrInvalidMessageID},
		{"before 1970", "msg_1", time.Unix(-1, 0), []string{good}, errs.Invalid, nil},
		{"no secret", "msg_1", ts, nil, errs.FailedPrecondition, ErrNoSecret},
		{"empty secret", "msg_1", ts, []string{""}, errs.Invalid, ErrInvalidSecret},
		{"prefix only", "msg_1", ts, []string{"whsec_"}, errs.Invalid, ErrInvalidSecret},
		{"not base64", "msg_1", ts, []string{"whsec_not*base64"}, errs.Invalid, ErrInvalidSecret},
		{"second secret bad", "msg_1", ts, []string{good, "whsec_%%%"}, errs.Invalid, ErrInvalidSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := Sign(tt.msgID, tt.ts, []byte("{}"), tt.secrets...)
			if err == nil {
				t.Fatalf("Sign = %q, want error", sig)
			}
			if k := errs.KindOf(err); k != tt.kind {
				t.Errorf("kind = %v, want %v (%v)", k, tt.kind, err)
			}
			if tt.sentErr != nil && !errors.Is(err, tt.sentErr) {
				t.Errorf("error %v is not %v", err, tt.sentErr)
			}
			for _, s := range tt.secrets {
				if len(s) > len(SecretPrefix) && strings.Contains(err.Error(), s) {
					t.Errorf("error text contains the secret: %v", err)
				}
			}
		})
	}
}

func unixString(t time.Time) string {
	b, _ := json.Marshal(t.Unix())
	return string(b)
}

// benchBody is a 1 KiB JSON-ish body.
func benchBody() []byte {
	b := []byte(`{"type":"verification.completed","data":{"id":"ver_01","pad":"`)
	for len(b) < 1024-3 {
		b = append(b, 'x')
	}
	return append(b, `"}}`...)
}

func BenchmarkSign1KiB(b *testing.B) {
	body := benchBody()
	secret := NewSecret()
	ts := time.Unix(1_700_000_000, 0)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sign("msg_01JABCDEFGHJKMNPQRSTVWXYZ0", ts, body, secret); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSign1KiBTwoSecrets(b *testing.B) {
	body := benchBody()
	s1, s2 := NewSecret(), NewSecret()
	ts := time.Unix(1_700_000_000, 0)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sign("msg_01JABCDEFGHJKMNPQRSTVWXYZ0", ts, body, s1, s2); err != nil {
			b.Fatal(err)
		}
	}
}
