package partner

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
	"unicode"

	"github.com/borderproof/borderproof/internal/errs"
)

// Blinder computes the keyed digests a partner in privacy mode receives
// instead of clear identifiers. The key is shared with that partner only
// (credentials role "privacyKey"), so the partner can compare digests with
// its own records but nobody else can reverse or link them.
type Blinder interface {
	BlindDocumentNumber(ctx context.Context, partner, issuingCountry, number string) (string, error)
	BlindHolder(ctx context.Context, partner, surname string, dateOfBirth time.Time) (string, error)
}

// BlindDocumentNumber is the canonical document-number digest:
// lower-case hex of HMAC-SHA256(key, "doc\x00" + ISSUER + "\x00" + NUMBER)
// where NUMBER is upper case without spaces, dashes or MRZ filler.
func BlindDocumentNumber(key []byte, issuingCountry, number string) string {
	return mac(key, "doc", strings.ToUpper(strings.TrimRight(strings.TrimSpace(issuingCountry), "<")), normaliseNumber(number))
}

// BlindHolder is the canonical holder digest: HMAC-SHA256 over the surname
// (upper case letters only) and the date of birth (YYYY-MM-DD).
func BlindHolder(key []byte, surname string, dateOfBirth time.Time) string {
	return mac(key, "holder", normaliseName(surname), dateOfBirth.Format(time.DateOnly))
}

func mac(key []byte, parts ...string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h.Sum(nil))
}

func normaliseNumber(n string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '<' {
			return -1
		}
		return unicode.ToUpper(r)
	}, n)
}

func normaliseName(n string) string {
	return strings.Map(func(r rune) rune {
		if !unicode.IsLetter(r) {
			return -1
		}
		return unicode.ToUpper(r)
	}, n)
}

// KeyBlinder blinds with per-partner keys held in memory.
type KeyBlinder map[string][]byte

// NewKeyBlinder reads the "privacyKey" credential of every partner that has
// one.
func NewKeyBlinder(cfg Config, deps Deps) (KeyBlinder, error) {
	kb := KeyBlinder{}
	for _, p := range cfg.Partners {
		if _, ok := p.Credentials["privacyKey"]; !ok {
			continue
		}
		k, err := p.Secret(deps, "privacyKey")
		if err != nil {
			return nil, err
		}
		kb[p.Name] = []byte(k)
	}
	return kb, nil
}

func (kb KeyBlinder) key(partner string) ([]byte, error) {
	k, ok := kb[partner]
	if !ok || len(k) == 0 {
		return nil, errs.E(errs.FailedPrecondition, "partner %s has no privacy key", partner)
	}
	return k, nil
}

// BlindDocumentNumber implements Blinder.
func (kb KeyBlinder) BlindDocumentNumber(_ context.Context, partner, issuingCountry, number string) (string, error) {
	k, err := kb.key(partner)
	if err != nil {
		return "", err
	}
	return BlindDocumentNumber(k, issuingCountry, number), nil
}

// BlindHolder implements Blinder.
func (kb KeyBlinder) BlindHolder(_ context.Context, partner, surname string, dob time.Time) (string, error) {
	k, err := kb.key(partner)
	if err != nil {
		return "", err
	}
	return BlindHolder(k, surname, dob), nil
}

// Prepare computes the digests the decision needs (when full lacks them)
// with b, then minimises. It fails when the decision needs a digest and no
// blinder or source value is available, so a clear identifier never goes out
// in its place.
func Prepare(ctx context.Context, d Decision, full Request, partner string, b Blinder) (Request, error) {
	if !d.Allowed {
		return Minimise(d, full), nil
	}
	if d.Allows(FieldDocumentNumberBlinded) && full.Document.NumberBlinded == "" {
		if b == nil || full.Document.Number == "" {
			return Request{}, errs.E(errs.FailedPrecondition, "document number cannot be blinded")
		}
		v, err := b.BlindDocumentNumber(ctx, partner, full.Document.IssuingCountry, full.Document.Number)
		if err != nil {
			return Request{}, err
		}
		full.Document.NumberBlinded = v
	}
	if d.Allows(FieldHolderBlinded) && full.Subject.HolderBlinded == "" && full.Subject.Surname != "" && !full.Subject.DateOfBirth.IsZero() {
		if b == nil {
			return Request{}, errs.E(errs.FailedPrecondition, "holder cannot be blinded")
		}
		v, err := b.BlindHolder(ctx, partner, full.Subject.Surname, full.Subject.DateOfBirth)
		if err != nil {
			return Request{}, err
		}
		full.Subject.HolderBlinded = v
	}
	return Minimise(d, full), nil
}
