package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/store/storetest"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/user"
)

// benchRows is the number of verifications the list benchmark stores.
const benchRows = 100_000

// seed inserts n sandbox verifications of the insurer with their consents
// and five checks each, in three INSERT … SELECT statements.
func seed(b *testing.B, e *env, n int) {
	b.Helper()
	ctx := context.Background()
	series, num := "generate_series(1, $2) AS g(i)", "lpad(i::text, 8, '0')"
	prefix := ""
	if e.st.Dialect() == store.SQLite {
		prefix = "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < $2) "
		series, num = "g", "printf('%08d', i)"
	}
	start := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	decision := "CASE i % 4 WHEN 0 THEN 'CLEAR' WHEN 1 THEN 'CLEAR' WHEN 2 THEN 'REVIEW' ELSE 'DECLINE' END"
	stmts := []string{
		prefix + `INSERT INTO verifications (id, insurer_id, mode, status, external_reference, request_hash, api_key_id, product,
			deadline_at, decision, score, band, outcome, created_at, updated_at, completed_at)
		SELECT 'ver_bench' || ` + num + `, $1, 'TEST', CASE WHEN i % 20 = 0 THEN 'AWAITING_PARTNER' ELSE 'COMPLETED' END,
			'REF-' || i, 'hash', 'key_bench', 'TRAVEL', CAST($3 AS BIGINT) + CAST(i AS BIGINT) * 60000000 + 600000000, ` + decision + `, i % 100, 'MEDIUM',
			'{"score":' || (i % 100) || ',"band":"MEDIUM","decision":"' || ` + decision + ` ||
			'","reasons":[{"code":"VISA_EXPIRED","message":"The visa expired.","points":' || (i % 100) || '}],"policyVersion":1,"provisional":false}',
			CAST($3 AS BIGINT) + CAST(i AS BIGINT) * 60000000, CAST($3 AS BIGINT) + CAST(i AS BIGINT) * 60000000, CAST($3 AS BIGINT) + CAST(i AS BIGINT) * 60000000 + 5000000
		FROM ` + series,
		prefix + `INSERT INTO consents (id, insurer_id, verification_id, reference, obtained_at, lawful_basis, purposes, created_at)
		SELECT 'cns_bench' || ` + num + `, $1, 'ver_bench' || ` + num + `, 'consent', CAST($3 AS BIGINT), 'CONSENT', 'UNDERWRITING', CAST($3 AS BIGINT) + CAST(i AS BIGINT) * 60000000
		FROM ` + series,
	}
	for k, typ := range []string{"DOCUMENT_MRZ", "DOCUMENT_REGISTRY", "IMMIGRATION_STATUS", "BORDER_MOVEMENTS", "WATCHLIST"} {
		stmts = append(stmts, prefix+`INSERT INTO checks (id, verification_id, insurer_id, type, status, partner, outcome, signals,
			attempts, created_at, updated_at, completed_at)
		SELECT 'chk_bench'  || `+num+` || '`+string(rune('a'+k))+`', 'ver_bench' || `+num+`, $1, '`+typ+`', 'COMPLETED', 'partnersim', 'CLEAR', '[]',
			1, CAST($3 AS BIGINT) + CAST(i AS BIGINT) * 60000000, CAST($3 AS BIGINT) + CAST(i AS BIGINT) * 60000000, CAST($3 AS BIGINT) + CAST(i AS BIGINT) * 60000000 + 5000000
		FROM `+series)
	}
	stmts = append(stmts, "ANALYZE")
	for _, s := range stmts {
		args := []any{e.ins.ID, n, start}
		if s == "ANALYZE" {
			args = nil
		}
		if _, err := e.st.DB().ExecContext(ctx, q(e.st, s), args...); err != nil {
			b.Fatalf("seed: %v\n%s", err, s)
		}
	}
}

// BenchmarkVerificationsList times the verifications page (service, store
// and template, no network) with 100,000 verifications stored.
func BenchmarkVerificationsList(b *testing.B) {
	for _, d := range storetest.Backends {
		b.Run(string(d), func(b *testing.B) {
			e := newEnv(b, d)
			t0 := time.Now()
			seed(b, e, benchRows)
			b.Logf("%s: seeded %d verifications with 5 checks each in %v", d, benchRows, time.Since(t0).Round(time.Millisecond))
			ctx := context.Background()
			in, err := e.users.SignIn(ctx, e.emails[user.RoleUnderwriter], password)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := e.users.SetMode(ctx, in.Session, tenant.Test); err != nil {
				b.Fatal(err)
			}
			for _, bc := range []struct{ name, query, want string }{
				{"first page", "", "ver_bench00100000"},
				{"status AWAITING_PARTNER", "?status=AWAITING_PARTNER", "ver_bench00100000"},
				{"decision REVIEW", "?decision=REVIEW", "ver_bench00099998"},
				{"external reference", "?ref=REF-54321", "ver_bench00054321"},
				{"date range", "?from=2026-10-01&to=2026-10-31", "ver_bench000"},
				{"status and decision", "?status=COMPLETED&decision=DECLINE", "ver_bench00099999"},
				{"deep page", "?after=ver_bench00050000", "ver_bench00049999"},
			} {
				b.Run(bc.name, func(b *testing.B) {
					req := httptest.NewRequest(http.MethodGet, "/console/verifications"+bc.query, nil)
					req.AddCookie(&http.Cookie{Name: "bp_console", Value: in.Token})
					rec := httptest.NewRecorder()
					e.console.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), bc.want) {
						b.Fatalf("%s: %d, lacks %s", bc.query, rec.Code, bc.want)
					}
					b.ReportAllocs()
					for b.Loop() {
						rec := httptest.NewRecorder()
						e.console.ServeHTTP(rec, req)
						if rec.Code != http.StatusOK {
							b.Fatal(rec.Code)
						}
					}
				})
			}
		})
	}
}
