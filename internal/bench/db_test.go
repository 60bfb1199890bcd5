package bench

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/borderproof/borderproof/internal/id"
	"github.com/borderproof/borderproof/internal/testenv"
)

// Analyze gives every table of the run's fresh schema, and only those,
// planner statistics.
func TestAnalyzeGathersTheFreshSchemasStatistics(t *testing.T) {
	base := testenv.Require(t, testenv.PostgresURLVar)
	ctx := t.Context()
	name := "analyze_" + id.New("t")[2:]
	url, drop, err := FreshDatabase(ctx, base, name, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Not ctx: t.Context is cancelled before cleanups run, and the schema
	// would stay behind.
	t.Cleanup(func() { drop(context.Background()) })
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE a (id TEXT PRIMARY KEY)`, `CREATE TABLE b (id TEXT PRIMARY KEY)`,
		`INSERT INTO a SELECT 'a' || g FROM generate_series(1, 100) g`, `INSERT INTO b VALUES ('x')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	analyzed := func() int {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_stat_user_tables
			WHERE schemaname = current_schema() AND last_analyze IS NOT NULL`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := analyzed(); n != 0 {
		t.Fatalf("%d tables analyzed before Analyze", n)
	}
	if err := Analyze(ctx, db, "postgres"); err != nil {
		t.Fatal(err)
	}
	if n := analyzed(); n != 2 {
		t.Fatalf("%d of 2 tables analyzed", n)
	}
	var tuples float64
	if err := db.QueryRowContext(ctx, `SELECT reltuples FROM pg_class WHERE oid = 'a'::regclass`).Scan(&tuples); err != nil || tuples != 100 {
		t.Fatalf("reltuples of a: %v, %v", tuples, err)
	}
}

func TestAnalyzeSQLite(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{`CREATE TABLE a (id TEXT PRIMARY KEY, k TEXT)`, `CREATE INDEX a_k ON a (k)`,
		`INSERT INTO a VALUES ('1', 'x'), ('2', 'y')`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if err := Analyze(t.Context(), db, "sqlite"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl = 'a'`).Scan(&n); err != nil || n == 0 {
		t.Fatalf("sqlite_stat1 rows for a: %d, %v", n, err)
	}
}
