package bench

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

var schemaName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// FreshDatabase prepares an empty database for one run and returns its
// URL. For PostgreSQL it creates the schema name and points search_path at
// it (drop removes the schema and everything in it); for anything else,
// taken as SQLite, it uses a new file under dir (drop deletes it).
func FreshDatabase(ctx context.Context, databaseURL, name, dir string) (freshURL string, drop func(context.Context) error, err error) {
	if err := CheckLoopback(databaseURL); err != nil {
		return "", nil, err
	}
	if !schemaName.MatchString(name) {
		return "", nil, fmt.Errorf("schema name %q: use lower-case letters, digits and '_'", name)
	}
	if !strings.HasPrefix(databaseURL, "postgres://") && !strings.HasPrefix(databaseURL, "postgresql://") {
		path := filepath.Join(dir, name+".db")
		return path, func(context.Context) error {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				os.Remove(path + suffix)
			}
			return nil
		}, nil
	}
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "", nil, fmt.Errorf("database URL: %w", err)
	}
	db, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return "", nil, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+name); err != nil {
		return "", nil, fmt.Errorf("create schema %s: %w", name, err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String(), func(ctx context.Context) error {
		db, err := sql.Open("pgx", databaseURL)
		if err != nil {
			return err
		}
		defer db.Close()
		_, err = db.ExecContext(ctx, "DROP SCHEMA "+name+" CASCADE")
		return err
	}, nil
}

// Outcomes returns, for every verification with a final outcome
// (COMPLETED or FAILED), when it got it.
func Outcomes(ctx context.Context, db *sql.DB) (map[string]time.Time, error) {
	rows, err := db.QueryContext(ctx, `SELECT id, COALESCE(completed_at, updated_at) FROM verifications
		WHERE status IN ('COMPLETED', 'FAILED') AND outcome IS NOT NULL`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var id string
		var us int64
		if err := rows.Scan(&id, &us); err != nil {
			return nil, err
		}
		out[id] = time.UnixMicro(us)
	}
	return out, rows.Err()
}

// CountOutcomes is len(Outcomes) without reading the rows.
func CountOutcomes(ctx context.Context, db *sql.DB) (int, error) {
	var n int
	err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM verifications
		WHERE status IN ('COMPLETED', 'FAILED') AND outcome IS NOT NULL`).Scan(&n)
	return n, err
}

// CountWebhookEvents counts the outbox events of WebhookEvents: the
// messages a receiver subscribed to them should get, once each.
func CountWebhookEvents(ctx context.Context, db *sql.DB) (int, error) {
	var n int
	ev := WebhookEvents()
	err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox_events WHERE type IN ('`+ev[0]+`', '`+ev[1]+`')`).Scan(&n)
	return n, err
}

// UsageAnomalies counts usage rows that should not exist: rows sharing a
// check id with another (rows − distinct check ids; the unique index should
// make it 0) plus rows billing a check that is not COMPLETED.
func UsageAnomalies(ctx context.Context, db *sql.DB) (int, error) {
	var dup, notCompleted int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) - COUNT(DISTINCT check_id) FROM usage_events`).Scan(&dup); err != nil {
		return 0, err
	}
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM usage_events u
		LEFT JOIN checks c ON c.id = u.check_id WHERE c.status IS NULL OR c.status <> 'COMPLETED'`).Scan(&notCompleted); err != nil {
		return 0, err
	}
	return dup + notCompleted, nil
}

// Analyze refreshes the planner's statistics of the run's tables, as
// autovacuum does in a running database within a minute of the first
// writes. A fresh schema has none, and without them PostgreSQL plans a
// lookup by id through any index that starts with the insurer, reading
// every row of that insurer: a cost no database in service pays, and one
// that grows through the run.
func Analyze(ctx context.Context, db *sql.DB, dialect string) error {
	if dialect != "postgres" {
		_, err := db.ExecContext(ctx, "ANALYZE")
		return err
	}
	rows, err := db.QueryContext(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema()`)
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, t := range tables {
		if _, err := db.ExecContext(ctx, `ANALYZE "`+strings.ReplaceAll(t, `"`, `""`)+`"`); err != nil {
			return fmt.Errorf("analyze %s: %w", t, err)
		}
	}
	return nil
}
