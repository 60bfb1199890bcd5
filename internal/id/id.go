// Package id makes the service's identifiers: a short type prefix and a
// ULID in lower case (for example "ver_01jd8x…"). They sort by creation
// time, are opaque to clients, and are safe to use as asynq task ids.
package id

import (
	"crypto/rand"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
)

// Prefixes of every identifier type.
const (
	Insurer      = "ins"
	APIKey       = "key"
	Verification = "ver"
	Check        = "chk"
	Document     = "doc"
	Event        = "evt"
	Usage        = "use"
	Webhook      = "whk"
	Delivery     = "dlv"
	Audit        = "aud"
	Consent      = "cns"
	User         = "usr"
	Export       = "exp"
)

// New returns a new identifier with the given prefix.
func New(prefix string) string {
	return NewAt(prefix, time.Now())
}

// NewAt returns a new identifier whose time component is t.
func NewAt(prefix string, t time.Time) string {
	u := ulid.MustNew(ulid.Timestamp(t), rand.Reader)
	return prefix + "_" + strings.ToLower(u.String())
}

// HasPrefix reports whether s looks like an identifier of the given type.
func HasPrefix(s, prefix string) bool {
	if !strings.HasPrefix(s, prefix+"_") {
		return false
	}
	_, err := ulid.ParseStrict(strings.ToUpper(s[len(prefix)+1:]))
	return err == nil
}
