package tenant

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/id"
)

// Key format: "bp_live_" or "bp_test_" followed by 32 random bytes in
// unpadded base64url (43 characters).
const (
	livePrefix   = "bp_live_"
	testPrefix   = "bp_test_"
	visibleChars = 6 // random characters kept visible after the mode prefix
	// touchEvery bounds last-used writes to one per key per interval.
	touchEvery = time.Minute
)

// RegionOf derives a data-protection region from a country; the service is
// given one by its constructor so this package stays free of country data.
type RegionOf func(alpha3 string) string

// Service manages tenants and authenticates keys.
type Service struct {
	store  Store
	log    *slog.Logger
	region RegionOf
	now    func() time.Time

	mu      sync.Mutex
	touched map[string]time.Time // key id → last recorded use
}

// NewService builds the tenant service.
func NewService(store Store, region RegionOf, log *slog.Logger) *Service {
	return &Service{store: store, region: region, log: log, now: time.Now, touched: map[string]time.Time{}}
}

// CreateInsurer creates a tenant.
func (s *Service) CreateInsurer(ctx context.Context, in CreateInsurerInput) (Insurer, error) {
	if err := in.Validate(); err != nil {
		return Insurer{}, err
	}
	region := in.Region
	if region == "" && s.region != nil {
		region = s.region(in.Country)
	}
	if region == "" {
		region = "OTHER"
	}
	ins := Insurer{
		ID:            id.New(id.Insurer),
		Name:          in.Name,
		Country:       in.Country,
		Region:        region,
		Mode:          in.Mode,
		RetentionDays: in.RetentionDays,
		CreatedAt:     s.now().UTC().Truncate(time.Microsecond),
	}
	if err := s.store.CreateInsurer(ctx, ins); err != nil {
		return Insurer{}, err
	}
	return ins, nil
}

// CreateKey creates an API key and returns it with its plaintext, which is
// never stored and cannot be shown again.
func (s *Service) CreateKey(ctx context.Context, in CreateKeyInput) (APIKey, string, error) {
	if err := in.Validate(); err != nil {
		return APIKey{}, "", err
	}
	ins, err := s.store.Insurer(ctx, in.InsurerID)
	if err != nil {
		return APIKey{}, "", err
	}
	if in.Mode == Live && ins.Mode != Live {
		return APIKey{}, "", errs.E(errs.FailedPrecondition, "insurer is sandbox-only: live keys are not allowed")
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return APIKey{}, "", err
	}
	prefix := testPrefix
	if in.Mode == Live {
		prefix = livePrefix
	}
	plain := prefix + base64.RawURLEncoding.EncodeToString(raw[:])
	key := APIKey{
		ID:        id.New(id.APIKey),
		InsurerID: ins.ID,
		Name:      in.Name,
		Prefix:    plain[:len(prefix)+visibleChars],
		Mode:      in.Mode,
		Scopes:    in.Scopes,
		Purposes:  in.Purposes,
		CreatedAt: s.now().UTC().Truncate(time.Microsecond),
	}
	if err := s.store.CreateAPIKey(ctx, key, HashKey(plain)); err != nil {
		return APIKey{}, "", err
	}
	return key, plain, nil
}

// HashKey is the stored form of a key.
func HashKey(plain string) []byte {
	h := sha256.Sum256([]byte(plain))
	return h[:]
}

// LooksLikeKey reports whether s has the shape of an API key, so obviously
// wrong credentials are refused without a database round trip.
func LooksLikeKey(s string) bool {
	rest, ok := strings.CutPrefix(s, livePrefix)
	if !ok {
		rest, ok = strings.CutPrefix(s, testPrefix)
	}
	return ok && len(rest) == 43
}

var errBadKey = errs.E(errs.Unauthenticated, "invalid or revoked API key")

// Authenticate resolves a presented key to its principal. Every failure is
// the same Unauthenticated error so callers learn nothing about which keys
// exist.
func (s *Service) Authenticate(ctx context.Context, plain string) (Principal, error) {
	if !LooksLikeKey(plain) {
		return Principal{}, errBadKey
	}
	key, ins, err := s.store.APIKeyByHash(ctx, HashKey(plain))
	if errs.Is(err, errs.NotFound) {
		return Principal{}, errBadKey
	}
	if err != nil {
		return Principal{}, err
	}
	if key.Revoked() {
		return Principal{}, errBadKey
	}
	s.touch(ctx, key)
	return Principal{Insurer: ins, Key: key}, nil
}

// touch records last use at most once per key per minute per process, so a
// busy key does not turn every read into a write.
func (s *Service) touch(ctx context.Context, key APIKey) {
	now := s.now()
	s.mu.Lock()
	last, ok := s.touched[key.ID]
	if !ok {
		last = key.LastUsedAt
	}
	due := now.Sub(last) >= touchEvery
	if due {
		s.touched[key.ID] = now
	}
	s.mu.Unlock()
	if !due {
		return
	}
	if err := s.store.TouchAPIKey(ctx, key.InsurerID, key.ID, now); err != nil {
		s.log.WarnContext(ctx, "record key use", "key_id", key.ID, "err", err)
	}
}

// RevokeKey revokes a key of the insurer.
func (s *Service) RevokeKey(ctx context.Context, insurerID, keyID string) error {
	return s.store.RevokeAPIKey(ctx, insurerID, keyID, s.now())
}

// Insurer returns one insurer.
func (s *Service) Insurer(ctx context.Context, id string) (Insurer, error) {
	return s.store.Insurer(ctx, id)
}

// Insurers lists every insurer (operators and admins only).
func (s *Service) Insurers(ctx context.Context) ([]Insurer, error) { return s.store.Insurers(ctx) }

// APIKeys lists an insurer's keys.
func (s *Service) APIKeys(ctx context.Context, insurerID string) ([]APIKey, error) {
	return s.store.APIKeys(ctx, insurerID)
}

// RequireScope returns Forbidden unless p carries scope.
func RequireScope(p Principal, scope Scope) error {
	if p.Has(scope) {
		return nil
	}
	return errs.E(errs.Forbidden, "this API key lacks the %s scope", scope)
}
