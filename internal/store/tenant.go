package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/tenant"
)

var _ tenant.Store = (*Store)(nil)

func (s *Store) CreateInsurer(ctx context.Context, ins tenant.Insurer) error {
	settings, err := json.Marshal(ins.Settings)
	if err != nil {
		return err
	}
	_, err = s.pool().exec(ctx, `INSERT INTO insurers (id, name, country, region, mode, retention_days, settings, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		ins.ID, ins.Name, ins.Country, ins.Region, string(ins.Mode), ins.RetentionDays, string(settings), micros(ins.CreatedAt))
	if isUnique(err) {
		return errs.E(errs.Conflict, "insurer already exists")
	}
	return err
}

const insurerCols = `i.id, i.name, i.country, i.region, i.mode, i.retention_days, i.settings, i.created_at`

func scanInsurer(sc interface{ Scan(...any) error }, extra ...any) (tenant.Insurer, error) {
	var ins tenant.Insurer
	var mode, settings string
	var created int64
	dest := append([]any{&ins.ID, &ins.Name, &ins.Country, &ins.Region, &mode, &ins.RetentionDays, &settings, &created}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return ins, err
	}
	ins.Mode = tenant.Mode(mode)
	ins.CreatedAt = fromMicros(created)
	if err := json.Unmarshal([]byte(settings), &ins.Settings); err != nil {
		return ins, err
	}
	return ins, nil
}

func (s *Store) Insurer(ctx context.Context, id string) (tenant.Insurer, error) {
	ins, err := scanInsurer(s.pool().row(ctx, `SELECT `+insurerCols+` FROM insurers i WHERE i.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return ins, notFound("insurer")
	}
	return ins, err
}

func (s *Store) Insurers(ctx context.Context) ([]tenant.Insurer, error) {
	rows, err := s.pool().query(ctx, `SELECT `+insurerCols+` FROM insurers i ORDER BY i.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []tenant.Insurer
	for rows.Next() {
		ins, err := scanInsurer(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ins)
	}
	return out, rows.Err()
}

func (s *Store) UpdateInsurerSettings(ctx context.Context, insurerID string, retentionDays int, st tenant.Settings) error {
	settings, err := json.Marshal(st)
	if err != nil {
		return err
	}
	res, err := s.pool().exec(ctx, `UPDATE insurers SET retention_days = $2, settings = $3 WHERE id = $1`,
		insurerID, retentionDays, string(settings))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("insurer")
	}
	return nil
}

func (s *Store) CreateAPIKey(ctx context.Context, k tenant.APIKey, hash []byte) error {
	_, err := s.pool().exec(ctx, `INSERT INTO api_keys (id, insurer_id, name, prefix, hash, mode, scopes, purposes, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		k.ID, k.InsurerID, k.Name, k.Prefix, hash, string(k.Mode), joinScopes(k.Scopes), strings.Join(k.Purposes, " "), micros(k.CreatedAt))
	if isUnique(err) {
		return errs.E(errs.Conflict, "API key already exists")
	}
	return err
}

const keyCols = `k.id, k.insurer_id, k.name, k.prefix, k.mode, k.scopes, k.purposes, k.created_at, k.revoked_at, k.last_used_at`

func keyDest(k *tenant.APIKey, mode, scopes, purposes *string, created *int64, revoked, used *sql.NullInt64) []any {
	return []any{&k.ID, &k.InsurerID, &k.Name, &k.Prefix, mode, scopes, purposes, created, revoked, used}
}

func finishKey(k *tenant.APIKey, mode, scopes, purposes string, created int64, revoked, used sql.NullInt64) {
	k.Mode = tenant.Mode(mode)
	k.Scopes = splitScopes(scopes)
	k.Purposes = strings.Fields(purposes)
	k.CreatedAt = fromMicros(created)
	k.RevokedAt = fromNullMicros(revoked)
	k.LastUsedAt = fromNullMicros(used)
}

func (s *Store) APIKeyByHash(ctx context.Context, hash []byte) (tenant.APIKey, tenant.Insurer, error) {
	var k tenant.APIKey
	var mode, scopes, purposes string
	var created int64
	var revoked, used sql.NullInt64
	row := s.pool().row(ctx, `SELECT `+insurerCols+`, `+keyCols+`
		FROM api_keys k JOIN insurers i ON i.id = k.insurer_id WHERE k.hash = $1`, hash)
	ins, err := scanInsurer(row, keyDest(&k, &mode, &scopes, &purposes, &created, &revoked, &used)...)
	if errors.Is(err, sql.ErrNoRows) {
		return k, ins, notFound("API key")
	}
	if err != nil {
		return k, ins, err
	}
	finishKey(&k, mode, scopes, purposes, created, revoked, used)
	return k, ins, nil
}

func (s *Store) APIKeys(ctx context.Context, insurerID string) ([]tenant.APIKey, error) {
	rows, err := s.pool().query(ctx, `SELECT `+keyCols+` FROM api_keys k WHERE k.insurer_id = $1 ORDER BY k.created_at, k.id`, insurerID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []tenant.APIKey
	for rows.Next() {
		var k tenant.APIKey
		var mode, scopes, purposes string
		var created int64
		var revoked, used sql.NullInt64
		if err := rows.Scan(keyDest(&k, &mode, &scopes, &purposes, &created, &revoked, &used)...); err != nil {
			return nil, err
		}
		finishKey(&k, mode, scopes, purposes, created, revoked, used)
		out = append(out, k)
	}
	return out, rows.Err()
}

func (s *Store) RevokeAPIKey(ctx context.Context, insurerID, keyID string, at time.Time) error {
	res, err := s.pool().exec(ctx, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE insurer_id = $1 AND id = $2`,
		insurerID, keyID, micros(at))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("API key")
	}
	return nil
}

func (s *Store) TouchAPIKey(ctx context.Context, insurerID, keyID string, at time.Time) error {
	_, err := s.pool().exec(ctx, `UPDATE api_keys SET last_used_at = $3 WHERE insurer_id = $1 AND id = $2`,
		insurerID, keyID, micros(at))
	return err
}

func joinScopes(sc []tenant.Scope) string {
	parts := make([]string, len(sc))
	for i, s := range sc {
		parts[i] = string(s)
	}
	return strings.Join(parts, " ")
}

func splitScopes(s string) []tenant.Scope {
	var out []tenant.Scope
	for _, f := range strings.Fields(s) {
		out = append(out, tenant.Scope(f))
	}
	return out
}
