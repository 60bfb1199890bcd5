package store_test

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/risk"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/store/storetest"
	"github.com/borderproof/borderproof/internal/verification"
)

// planFixture is PostgreSQL's planner where it went wrong under load:
// statistics gathered when no check was open, then a backlog of open
// checks. It returns an open verification and its first check.
func planFixture(t *testing.T) (s *store.Store, insurerID, verificationID, checkID string) {
	t.Helper()
	s = storetest.Open(t, store.Postgres)
	ctx := context.Background()
	ins := acme(t, s)
	t0 := time.Now().UTC().Truncate(time.Microsecond).Add(-time.Hour)
	types := risk.CheckTypes()
	for i := range 50 {
		seedVerification(t, s, ins.ID, t0.Add(time.Duration(i)*time.Millisecond), types...)
	}
	for _, q := range []string{`UPDATE checks SET status = 'COMPLETED'`, `UPDATE verifications SET status = 'COMPLETED'`,
		`ANALYZE checks`, `ANALYZE verifications`} {
		if _, err := s.DB().ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var v verification.Verification
	for i := range 150 {
		v = seedVerification(t, s, ins.ID, t0.Add(time.Minute+time.Duration(i)*time.Millisecond), types...)
	}
	return s, ins.ID, v.ID, v.Checks[0].ID
}

// partialIndexes names the partial indexes of checks and verifications.
func partialIndexes(t *testing.T, s *store.Store) []string {
	t.Helper()
	rows, err := s.DB().Query(`SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indpred IS NOT NULL AND i.indrelid IN ('checks'::regclass, 'verifications'::regclass)`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestGuardedLookupsUseKeys: each statement that finds a row by id and
// checks its status goes by a key, never by a partial index. They used to
// scan the sweeper's (their guards implied its predicate), reading every
// open row per statement.
func TestGuardedLookupsUseKeys(t *testing.T) {
	s, insurerID, vid, cid := planFixture(t)
	partial := partialIndexes(t, s)
	if len(partial) < 4 {
		t.Fatalf("partial indexes %v: the sweeper's are missing", partial)
	}
	args := map[string][]any{
		"start a check":             {insurerID, int64(1), "host:1", cid, "partner"},
		"start checks":              {insurerID, int64(1), "host:1", cid, "a", cid, "b", cid, "c", cid, "d"},
		"run a verification":        {insurerID, vid, int64(1)},
		"a verification's progress": {insurerID, vid},
	}
	args["start checks, PostgreSQL"] = append(slices.Clone(args["start checks"]),
		"aud_1", insurerID, "system", "partner.data_shared", vid, "", "", "{}", int64(1), cid,
		"aud_2", insurerID, "system", "partner.data_shared", vid, "", "", "{}", int64(1), cid,
		vid, "person-digest", "document-digest")
	for range 4 {
		args["record answers"] = append(args["record answers"], insurerID, cid, "COMPLETED", "partner", nil, "[]", "", "", "",
			nil, int64(1), int64(1), 0, nil, "", "PENDING", "AWAITING_PARTNER", -1)
	}
	for name, query := range store.GuardedLookups {
		a, ok := args[name]
		if !ok {
			t.Fatalf("no arguments for %q", name)
		}
		plan, scans := explain(t, s, false, query, a...)
		for _, sc := range scans {
			if sc.node == "Seq Scan" && sc.relation == "checks" {
				t.Errorf("%s: %s on %s; want a key\n%s", name, sc.node, sc.relation, plan)
			}
			if slices.Contains(partial, sc.index) {
				t.Errorf("%s: %s on %s %s; want a key\n%s", name, sc.node, sc.relation, sc.index, plan)
			}
		}
	}
}

// TestSweeperQueriesUseTheirIndexes: the sweeper's scans can use the
// partial indexes, whose predicates they state whole. With sequential
// scans ruled out, a query that could not would fall back to one anyway.
func TestSweeperQueriesUseTheirIndexes(t *testing.T) {
	s, _, _, _ := planFixture(t)
	want := map[string][]string{
		"stale checks":            {"checks_pending_since", "checks_awaiting_poll"},
		"checks started by":       {"checks_pending_since"},
		"overdue checks":          {"verifications_open_deadline_at"},
		"unscored verifications":  {"verifications_open_since"},
		"unbundled verifications": {"verifications_unbundled"},
	}
	for name, query := range store.SweeperQueries {
		idx, ok := want[name]
		if !ok {
			t.Fatalf("no expected index for %q", name)
		}
		n := 0
		for _, m := range regexp.MustCompile(`\$(\d+)`).FindAllStringSubmatch(query, -1) {
			n = max(n, atoi(t, m[1]))
		}
		a := make([]any, n)
		for i := range a {
			a[i] = int64(1)
		}
		if name == "checks started by" {
			a[0] = "host:1" // the process name
		}
		plan, scans := explain(t, s, true, query, a...)
		for _, want := range idx {
			if !slices.ContainsFunc(scans, func(sc planScan) bool { return sc.index == want }) {
				t.Errorf("%s: %s unused\n%s", name, want, plan)
			}
		}
	}
}

// explain returns the JSON plan of query and its scans, with sequential
// scans ruled out when noSeqScan.
func explain(t *testing.T, s *store.Store, noSeqScan bool, query string, args ...any) (string, []planScan) {
	t.Helper()
	tx, err := s.DB().Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if noSeqScan {
		if _, err := tx.Exec(`SET LOCAL enable_seqscan = off`); err != nil {
			t.Fatal(err)
		}
	}
	var plan string
	if err := tx.QueryRow(`EXPLAIN (FORMAT JSON) `+query, args...).Scan(&plan); err != nil {
		t.Fatalf("explain %s: %v", query, err)
	}
	var nodes []any
	if err := json.Unmarshal([]byte(plan), &nodes); err != nil {
		t.Fatal(err)
	}
	scans := planScans(nodes)
	if len(scans) == 0 {
		t.Fatalf("no scan in the plan %s", plan)
	}
	return plan, scans
}

type planScan struct{ node, relation, index string }

// planScans lists every scan node of an EXPLAIN (FORMAT JSON) plan.
func planScans(v any) []planScan {
	var out []planScan
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			out = append(out, planScans(e)...)
		}
	case map[string]any:
		node, _ := x["Node Type"].(string)
		rel, _ := x["Relation Name"].(string)
		idx, _ := x["Index Name"].(string)
		if (rel != "" || idx != "") && node != "ModifyTable" {
			out = append(out, planScan{node: node, relation: rel, index: idx}) // a bitmap index scan names no relation
		}
		for _, e := range x {
			out = append(out, planScans(e)...)
		}
	}
	return out
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReuseCheckReadsFewRows: the reuse check (RunInputs' read of a
// verification's digests, then DocumentReused's lookup of them, which
// StartChecks makes) reads a handful of blind-index rows whatever the
// table holds, even before PostgreSQL has any statistics on it (a fresh
// database, or one just loaded). A join of the table with itself did not:
// without statistics the planner read every row for each row, seconds per
// run at a few thousand verifications; and a lookup that started from the
// verification read the insurer's whole document index. Rows read are
// counted from EXPLAIN ANALYZE, not timed.
func TestReuseCheckReadsFewRows(t *testing.T) {
	s := storetest.Open(t, store.Postgres)
	ctx := context.Background()
	ins := acme(t, s)
	for _, q := range []string{
		`ALTER TABLE blind_index SET (autovacuum_enabled = false)`,
		// 3,000 verifications, each with a document and a person; the
		// first three share a document, the third is the first's person.
		`INSERT INTO blind_index (insurer_id, kind, digest, verification_id, created_at)
			SELECT $1, 'document', CASE WHEN g <= 3 THEN 'shared' ELSE 'doc-' || g END, 'ver_' || g, 0 FROM generate_series(1, 3000) g
			UNION ALL
			SELECT $1, 'person', CASE WHEN g = 3 THEN 'person-1' ELSE 'person-' || g END, 'ver_' || g, 0 FROM generate_series(1, 3000) g`,
	} {
		var args []any
		if strings.Contains(q, "$1") {
			args = []any{ins.ID}
		}
		if _, err := s.DB().ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	explain := func(t *testing.T, q string, args ...any) []any {
		t.Helper()
		var plan string
		if err := s.DB().QueryRowContext(ctx, `EXPLAIN (ANALYZE, FORMAT JSON) `+q, args...).Scan(&plan); err != nil {
			t.Fatal(err)
		}
		var nodes []any
		if err := json.Unmarshal([]byte(plan), &nodes); err != nil {
			t.Fatal(err)
		}
		if n := rowsRead(nodes, "blind_index"); n > 50 {
			t.Errorf("%v blind-index rows read\n%s", n, plan)
		}
		return nodes
	}
	for _, c := range []struct {
		vid    string
		reused bool
	}{{"ver_1", true}, {"ver_2", true}, {"ver_3", true}, {"ver_4", false}, {"ver_2999", false}} {
		var doc, person string
		rows, err := s.DB().QueryContext(ctx, store.RunDigestsSQL, ins.ID, c.vid)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var kind, digest string
			if err := rows.Scan(&kind, &digest); err != nil {
				t.Fatal(err)
			}
			if kind == "document" {
				doc = digest
			} else {
				person = digest
			}
		}
		rows.Close()
		explain(t, store.RunDigestsSQL, ins.ID, c.vid)
		var reused bool
		if err := s.DB().QueryRowContext(ctx, store.ReusedSQL, ins.ID, c.vid, person, doc).Scan(&reused); err != nil || reused != c.reused {
			t.Fatalf("%s: reused %v %v, want %v", c.vid, reused, err, c.reused)
		}
		explain(t, store.ReusedSQL, ins.ID, c.vid, person, doc)
	}
}

// rowsRead adds up the rows each scan of relation returned or filtered
// out, over all its loops, in an EXPLAIN (ANALYZE, FORMAT JSON) plan.
func rowsRead(v any, relation string) float64 {
	n := 0.0
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			n += rowsRead(e, relation)
		}
	case map[string]any:
		if x["Relation Name"] == relation {
			loops, _ := x["Actual Loops"].(float64)
			rows, _ := x["Actual Rows"].(float64)
			removed, _ := x["Rows Removed by Filter"].(float64)
			recheck, _ := x["Rows Removed by Index Recheck"].(float64)
			n += (rows + removed + recheck) * loops
		}
		for _, e := range x {
			n += rowsRead(e, relation)
		}
	}
	return n
}
