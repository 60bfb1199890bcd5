// Package webhook sends BorderProof events to insurers' endpoints.
//
// This part signs messages by the Standard Webhooks specification
// (https://www.standardwebhooks.com), verifies them for receivers and
// tests, manages signing secrets, and guards outgoing connections against
// server-side request forgery (guard.go).
//
// A signed message carries three headers: webhook-id (the message id, the
// same on every retry), webhook-timestamp (Unix seconds of the attempt) and
// webhook-signature, a space-separated list of "v1,<base64 HMAC-SHA256>"
// over "id.timestamp.body", one entry per active secret.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
)

// Standard Webhooks header names. http.Header canonicalises them
// (Webhook-Id, ...); HTTP header names are case-insensitive.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// signatureVersion identifies HMAC-SHA256 signatures in webhook-signature.
const signatureVersion = "v1"

// maxMessageIDLen bounds a message id; ours are short prefixed ULIDs.
const maxMessageIDLen = 256

// Signing errors, usable with errors.Is.
var (
	ErrInvalidMessageID = errors.New("invalid webhook message id")
	ErrNoSecret         = errors.New("no webhook secret")
)

// Sign returns the webhook-signature header value for body sent as message
// msgID at ts: one "v1,<signature>" entry per secret, in the order given,
// separated by spaces. Pass every active secret (see Keyring.Active) so a
// receiver that still holds a rotated-out secret keeps verifying.
//
// msgID must be non-empty and hold no '.', whitespace or control
// characters: the id is part of the signed content "id.timestamp.body".
// ts is truncated to whole seconds.
func Sign(msgID string, ts time.Time, body []byte, secrets ...string) (string, error) {
	if err := checkMessageID(msgID); err != nil {
		return "", err
	}
	unix := ts.Unix()
	if unix < 0 {
		return "", errs.E(errs.Invalid, "webhook timestamp must not be before 1970")
	}
	if len(secrets) == 0 {
		return "", &errs.Error{Kind: errs.FailedPrecondition, Msg: "webhook endpoint has no signing secret", Err: ErrNoSecret}
	}
	var b strings.Builder
	b.Grow(len(secrets) * (len(signatureVersion) + 1 + base64.StdEncoding.EncodedLen(sha256.Size) + 1))
	for i, secret := range secrets {
		key, err := decodeSecret(secret)
		if err != nil {
			return "", err
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(signatureVersion)
		b.WriteByte(',')
		b.WriteString(signature(key, msgID, unix, body))
	}
	return b.String(), nil
}

// Headers returns the three Standard Webhooks headers for body sent as
// message msgID at ts, signed with secrets; see Sign.
func Headers(msgID string, ts time.Time, body []byte, secrets ...string) (http.Header, error) {
	sig, err := Sign(msgID, ts, body, secrets...)
	if err != nil {
		return nil, err
	}
	h := make(http.Header, 3)
	h.Set(HeaderID, msgID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return h, nil
}

// signature is base64(HMAC-SHA256(key, "msgID.unix.body")).
func signature(key []byte, msgID string, unix int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	var buf [24]byte
	prefix := append(buf[:0], '.')
	prefix = strconv.AppendInt(prefix, unix, 10)
	prefix = append(prefix, '.')
	mac.Write([]byte(msgID))
	mac.Write(prefix)
	mac.Write(body)
	var sum [sha256.Size]byte
	return base64.StdEncoding.EncodeToString(mac.Sum(sum[:0]))
}

func checkMessageID(msgID string) error {
	bad := func(msg string) error {
		return &errs.Error{Kind: errs.Invalid, Msg: msg, Err: ErrInvalidMessageID}
	}
	switch {
	case msgID == "":
		return bad("webhook message id is empty")
	case len(msgID) > maxMessageIDLen:
		return bad("webhook message id is too long")
	}
	for i := 0; i < len(msgID); i++ {
		c := msgID[i]
		if c == '.' {
			return bad("webhook message id must not contain '.'")
		}
		if c <= ' ' || c >= 0x7f {
			return bad("webhook message id must be printable ASCII without spaces")
		}
	}
	return nil
}
