package tenant

import (
	"context"
	"time"
)

// Store persists insurers and keys. Every key method takes the insurer id
// except the lookup by hash, which is how a request finds its tenant.
type Store interface {
	CreateInsurer(ctx context.Context, ins Insurer) error
	Insurer(ctx context.Context, id string) (Insurer, error)
	Insurers(ctx context.Context) ([]Insurer, error)
	UpdateInsurerSettings(ctx context.Context, insurerID string, retentionDays int, s Settings) error

	CreateAPIKey(ctx context.Context, key APIKey, hash []byte) error
	// APIKeyByHash returns the key and its insurer; errs.NotFound when none.
	APIKeyByHash(ctx context.Context, hash []byte) (APIKey, Insurer, error)
	APIKeys(ctx context.Context, insurerID string) ([]APIKey, error)
	RevokeAPIKey(ctx context.Context, insurerID, keyID string, at time.Time) error
	TouchAPIKey(ctx context.Context, insurerID, keyID string, at time.Time) error
}
