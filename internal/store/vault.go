package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/borderproof/borderproof/internal/vault"
)

var _ vault.KeyStore = (*Store)(nil)

// InsurerKey returns the insurer's wrapped data key.
func (s *Store) InsurerKey(ctx context.Context, insurerID string) ([]byte, error) {
	var wrapped []byte
	err := s.pool().row(ctx, `SELECT wrapped FROM insurer_keys WHERE insurer_id = $1`, insurerID).Scan(&wrapped)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("insurer key")
	}
	return wrapped, err
}

// PutInsurerKeyIfAbsent stores the wrapped key unless one exists, and
// returns whichever key the table holds afterwards, so racing processes
// agree on one key.
func (s *Store) PutInsurerKeyIfAbsent(ctx context.Context, insurerID string, wrapped []byte) ([]byte, error) {
	if _, err := s.pool().exec(ctx, `INSERT INTO insurer_keys (insurer_id, wrapped, created_at) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, insurerID, wrapped, micros(s.now())); err != nil {
		return nil, err
	}
	return s.InsurerKey(ctx, insurerID)
}
