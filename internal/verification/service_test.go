package verification_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/borderproof/borderproof/internal/audit"
	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/obs"
	"github.com/borderproof/borderproof/internal/queue"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/store/storetest"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/testenv"
	"github.com/borderproof/borderproof/internal/vault"
	"github.com/borderproof/borderproof/internal/verification"
)

// recorder is an Enqueuer that remembers what was queued.
type recorder struct {
	mu    sync.Mutex
	tasks map[string]string // task id → type
}

func (r *recorder) Enqueue(_ context.Context, typ string, payload []byte, taskID, _ string, _ time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if bytes.Contains(payload, []byte("Eriksson")) || bytes.Contains(payload, []byte("L898902C3")) {
		panic("personal data in a task payload")
	}
	r.tasks[taskID] = typ
	return nil
}

type env struct {
	st     *store.Store
	svc    *verification.Service
	vault  *vault.Vault
	logs   *bytes.Buffer
	q      *recorder
	a, b   context.Context // two insurers, every scope, test mode
	aLive  context.Context // insurer a, live key
	aRead  context.Context // insurer a, verifications:read only
	insA   tenant.Insurer
	now    time.Time
	logsMu *sync.Mutex
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func newEnv(t *testing.T, d store.Dialect, q verification.Enqueuer) *env {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t, d)
	e := &env{st: st, logs: &bytes.Buffer{}, logsMu: &sync.Mutex{}, now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	log := obs.NewLogger(lockedWriter{e.logsMu, e.logs}, slog.LevelDebug)
	kp, err := vault.NewLocalFile(filepath.Join(t.TempDir(), "vault.key"), log)
	if err != nil {
		t.Fatal(err)
	}
	e.vault, err = vault.New(vault.Config{}, kp, st, log)
	if err != nil {
		t.Fatal(err)
	}
	if q == nil {
		e.q = &recorder{tasks: map[string]string{}}
		q = e.q
	}
	e.svc = verification.NewService(verification.Deps{Store: st, Audit: st, Sealer: e.vault, Queue: q, Log: log,
		Now: func() time.Time { return e.now }})
	tenants := tenant.NewService(st, nil, log)
	principal := func(ins tenant.Insurer, mode tenant.Mode, scopes ...tenant.Scope) context.Context {
		_, plain, err := tenants.CreateKey(ctx, tenant.CreateKeyInput{InsurerID: ins.ID, Mode: mode, Scopes: scopes})
		if err != nil {
			t.Fatal(err)
		}
		p, err := tenants.Authenticate(ctx, plain)
		if err != nil {
			t.Fatal(err)
		}
		return tenant.WithPrincipal(ctx, p)
	}
	insA, err := tenants.CreateInsurer(ctx, tenant.CreateInsurerInput{Name: "Acme Mutual", Country: "FRA", Region: "EU"})
	if err != nil {
		t.Fatal(err)
	}
	insB, err := tenants.CreateInsurer(ctx, tenant.CreateInsurerInput{Name: "Other Re", Country: "GBR", Region: "UK"})
	if err != nil {
		t.Fatal(err)
	}
	e.insA = insA
	e.a = principal(insA, tenant.Test, tenant.AllScopes...)
	e.aLive = principal(insA, tenant.Live, tenant.AllScopes...)
	e.aRead = principal(insA, tenant.Test, tenant.ScopeVerificationsRead)
	e.b = principal(insB, tenant.Test, tenant.AllScopes...)
	return e
}

func input(key string) verification.SubmitInput {
	return verification.SubmitInput{
		IdempotencyKey:    key,
		ExternalReference: "policy-0001",
		Policyholder: verification.Policyholder{GivenNames: "Anna Maria", Surname: "Eriksson", DateOfBirth: "1974-08-12",
			Nationality: "SWE", Sex: "F", ResidenceCountry: "SWE"},
		Documents: []verification.Document{{Type: "PASSPORT", Number: "L898902C3", IssuingCountry: "SWE", ExpiryDate: "2030-04-15"}},
		Policy:    &verification.PolicyInput{Reference: "POL-1", Product: "TRAVEL", CoverageCountry: "FRA", StartDate: "2026-12-01"},
		Consent: verification.ConsentInput{Reference: "consent-123", ObtainedAt: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC),
			LawfulBasis: "CONSENT", Purposes: []string{"UNDERWRITING"}},
	}
}

func count(t *testing.T, st *store.Store, table string) int {
	t.Helper()
	var n int
	if err := st.DB().QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSubmitReadAndTenancy(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st0 *store.Store) {
		e := newEnv(t, st0.Dialect(), nil)
		res, err := e.svc.Submit(e.a, input(""))
		if err != nil {
			t.Fatal(err)
		}
		v := res.Verification
		if v.Status != verification.StatusQueued || len(v.Checks) != 5 || res.Replayed || !strings.HasPrefix(v.ID, "ver_") {
			t.Fatalf("submitted: %+v", v)
		}
		// One task runs the checks, under the verification's run id.
		if e.q.tasks[verification.RunTaskID(v.ID)] != verification.TaskRun || len(e.q.tasks) != 1 {
			t.Fatalf("checks not queued as one run: %v", e.q.tasks)
		}
		got, err := e.svc.Get(e.a, v.ID)
		if err != nil || got.ID != v.ID || got.Consent.LawfulBasis != "CONSENT" || got.ExternalReference != "policy-0001" {
			t.Fatalf("get: %+v %v", got, err)
		}
		// Another insurer, and the same insurer's live mode, see nothing.
		for name, ctx := range map[string]context.Context{"other insurer": e.b, "live mode": e.aLive} {
			if _, err := e.svc.Get(ctx, v.ID); !errs.Is(err, errs.NotFound) {
				t.Fatalf("%s get: %v", name, err)
			}
			if page, err := e.svc.List(ctx, verification.Filter{}, 10, ""); err != nil || len(page.Items) != 0 {
				t.Fatalf("%s list: %+v %v", name, page, err)
			}
			if _, err := e.svc.Policyholder(ctx, v.ID, "", ""); !errs.Is(err, errs.NotFound) {
				t.Fatalf("%s pii: %v", name, err)
			}
			if _, err := e.svc.Cancel(ctx, v.ID); !errs.Is(err, errs.NotFound) {
				t.Fatalf("%s cancel: %v", name, err)
			}
			if _, err := e.svc.Erase(ctx, v.ID, "asked", ""); !errs.Is(err, errs.NotFound) {
				t.Fatalf("%s erase: %v", name, err)
			}
		}
		// Scopes.
		if _, err := e.svc.Submit(e.aRead, input("")); !errs.Is(err, errs.Forbidden) {
			t.Fatalf("submit without write scope: %v", err)
		}
		if _, err := e.svc.Policyholder(e.aRead, v.ID, "", ""); !errs.Is(err, errs.Forbidden) {
			t.Fatalf("pii without pii:read: %v", err)
		}
		// Reading personal data is audited, with the purpose.
		pii, err := e.svc.Policyholder(e.a, v.ID, "CLAIMS", "req_1")
		if err != nil || pii.Policyholder.Surname != "Eriksson" || pii.Documents[0].Number != "L898902C3" {
			t.Fatalf("pii: %+v %v", pii, err)
		}
		entries, err := e.st.AuditLog(context.Background(), e.insA.ID, audit.Filter{Action: audit.ActionPIIRead}, "", 10)
		if err != nil || len(entries) != 1 || entries[0].Purpose != "CLAIMS" || entries[0].VerificationID != v.ID || entries[0].RequestID != "req_1" {
			t.Fatalf("audit: %+v %v", entries, err)
		}
	})
}

func TestListPagesAndFilters(t *testing.T) {
	e := newEnv(t, store.SQLite, nil)
	var ids []string
	for i := range 7 {
		in := input("")
		in.ExternalReference = fmt.Sprintf("ref-%d", i%2)
		e.now = e.now.Add(time.Second)
		res, err := e.svc.Submit(e.a, in)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.Verification.ID)
	}
	var seen []string
	after := ""
	for {
		page, err := e.svc.List(e.a, verification.Filter{}, 3, after)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page.Items {
			seen = append(seen, v.ID)
		}
		if !page.HasNext {
			break
		}
		after = page.EndCursor
	}
	if len(seen) != 7 || seen[0] != ids[6] || seen[6] != ids[0] {
		t.Fatalf("pages newest first: %v", seen)
	}
	page, err := e.svc.List(e.a, verification.Filter{ExternalReference: "ref-1"}, 100, "")
	if err != nil || len(page.Items) != 3 {
		t.Fatalf("filter by reference: %d %v", len(page.Items), err)
	}
	if _, err := e.svc.List(e.a, verification.Filter{}, 101, ""); !errs.Is(err, errs.Invalid) {
		t.Fatalf("first over 100: %v", err)
	}
	page, err = e.svc.List(e.a, verification.Filter{CreatedFrom: e.now.Add(-2 * time.Second)}, 100, "")
	if err != nil || len(page.Items) != 3 {
		t.Fatalf("filter by created: %d %v", len(page.Items), err)
	}
}

func TestValidationReportsEveryFieldAndWritesNothing(t *testing.T) {
	e := newEnv(t, store.SQLite, nil)
	in := input("")
	in.Policyholder.Surname = "Ерикссон"
	in.Policyholder.DateOfBirth = "2031-02-30"
	in.Policyholder.Nationality = "XYZ"
	in.Policyholder.Sex = "Q"
	in.Documents = append(in.Documents, verification.Document{Type: "PASSPORT", Number: "AB-12", IssuingCountry: "FRA",
		ExpiryDate: "2020-13-01", MRZ: []string{"P<UTOERIKSSON<<ANNA<MARIA", "short"}})
	in.Consent.LawfulBasis = "BECAUSE"
	in.Consent.Purposes = []string{"MARKETING"}
	in.Checks = []string{"WATCHLIST", "WATCHLIST"}
	_, err := e.svc.Submit(e.a, in)
	ee, ok := errs.As(err)
	if !ok || ee.Kind != errs.Invalid {
		t.Fatalf("want invalid: %v", err)
	}
	paths := map[string]bool{}
	for _, f := range ee.Fields {
		paths[f.Path] = true
		if strings.Contains(f.Message, "Ерикссон") || strings.Contains(f.Message, "P<UTO") {
			t.Fatalf("message echoes input: %s", f.Message)
		}
	}
	for _, want := range []string{"policyholder.surname", "policyholder.dateOfBirth", "policyholder.nationality", "policyholder.sex",
		"documents[1].expiryDate", "documents[1].mrz", "consent.lawfulBasis", "consent.purposes[0]", "checks[1]"} {
		if !paths[want] {
			t.Errorf("no error for %s; got %v", want, paths)
		}
	}
	if paths["documents[1].number"] {
		t.Error("a number with a dash should be normalised, not refused")
	}
	if n := count(t, e.st, "verifications"); n != 0 {
		t.Fatalf("invalid input wrote %d rows", n)
	}
	// A past expiry date is not an input error: it is scored later.
	ok2 := input("")
	ok2.Documents[0].ExpiryDate = "2001-01-01"
	if _, err := e.svc.Submit(e.a, ok2); err != nil {
		t.Fatalf("expired document refused: %v", err)
	}
	// A purpose the key may not declare is forbidden.
	_, err = e.svc.Submit(e.a, func() verification.SubmitInput { i := input(""); i.Consent.Purposes = []string{"CLAIMS"}; return i }())
	if err != nil {
		t.Fatalf("unrestricted key: %v", err)
	}
}

func TestIdempotency(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st0 *store.Store) {
		e := newEnv(t, st0.Dialect(), nil)
		first, err := e.svc.Submit(e.a, input("key-1"))
		if err != nil {
			t.Fatal(err)
		}
		again, err := e.svc.Submit(e.a, input("key-1"))
		if err != nil || !again.Replayed || again.Verification.ID != first.Verification.ID {
			t.Fatalf("replay: %+v %v", again, err)
		}
		changed := input("key-1")
		changed.Policyholder.GivenNames = "Anna"
		_, err = e.svc.Submit(e.a, changed)
		if !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "key-1") {
			t.Fatalf("different body, same key: %v", err)
		}
		// The same key is free for another insurer and for the other mode.
		if res, err := e.svc.Submit(e.b, input("key-1")); err != nil || res.Replayed {
			t.Fatalf("other insurer's key space: %+v %v", res, err)
		}
		if res, err := e.svc.Submit(e.aLive, input("key-1")); err != nil || res.Replayed {
			t.Fatalf("live key space: %+v %v", res, err)
		}
		// Twenty concurrent submits with one key make one verification.
		var wg sync.WaitGroup
		results := make([]verification.SubmitResult, 20)
		errsList := make([]error, 20)
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errsList[i] = e.svc.Submit(e.a, input("concurrent"))
			}()
		}
		wg.Wait()
		ids := map[string]bool{}
		created := 0
		for i := range 20 {
			if errsList[i] != nil {
				t.Fatalf("concurrent submit %d: %v", i, errsList[i])
			}
			ids[results[i].Verification.ID] = true
			if !results[i].Replayed {
				created++
			}
		}
		var rows, checks int
		e.st.DB().QueryRow(`SELECT COUNT(*) FROM verifications WHERE idempotency_key = 'concurrent'`).Scan(&rows)
		e.st.DB().QueryRow(`SELECT COUNT(*) FROM checks c JOIN verifications v ON v.id = c.verification_id WHERE v.idempotency_key = 'concurrent'`).Scan(&checks)
		if len(ids) != 1 || created != 1 || rows != 1 || checks != 5 {
			t.Fatalf("concurrent: ids %d, created %d, rows %d, checks %d", len(ids), created, rows, checks)
		}
	})
}

// overBudget refuses every submission once closed.
type overBudget struct{ closed atomic.Bool }

func (b *overBudget) CheckBudget(context.Context, string, string) (string, error) {
	if b.closed.Load() {
		return "", errs.E(errs.BudgetExceeded, "spending cap reached")
	}
	return "", nil
}

// TestReplayWritesNothing: a repeated key is found by the insert itself,
// which then writes nothing; and a repeated request gets its first answer
// even once the insurer is over its cap, which refuses new ones.
func TestReplayWritesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st0 *store.Store) {
		e := newEnv(t, st0.Dialect(), nil)
		budget := &overBudget{}
		e.svc = verification.NewService(verification.Deps{Store: e.st, Audit: e.st, Sealer: e.vault, Queue: e.q,
			Budget: budget, Log: obs.NewLogger(io.Discard, slog.LevelInfo), Now: func() time.Time { return e.now }})
		first, err := e.svc.Submit(e.a, input("key-1"))
		if err != nil {
			t.Fatal(err)
		}
		tables := []string{"verifications", "checks", "consents", "blind_index", "audit_log"}
		before := map[string]int{}
		for _, tb := range tables {
			before[tb] = count(t, e.st, tb)
		}
		again, err := e.svc.Submit(e.a, input("key-1"))
		if err != nil || !again.Replayed || again.Verification.ID != first.Verification.ID ||
			len(again.Verification.Checks) != len(first.Verification.Checks) {
			t.Fatalf("replay: %+v %v", again, err)
		}
		budget.closed.Store(true)
		again, err = e.svc.Submit(e.a, input("key-1"))
		if err != nil || !again.Replayed || again.Verification.ID != first.Verification.ID {
			t.Fatalf("replay over budget: %+v %v", again, err)
		}
		changed := input("key-1")
		changed.Policyholder.GivenNames = "Anna"
		if _, err := e.svc.Submit(e.a, changed); !errs.Is(err, errs.Conflict) {
			t.Fatalf("different body, same key, over budget: %v", err)
		}
		if _, err := e.svc.Submit(e.a, input("key-2")); !errs.Is(err, errs.BudgetExceeded) {
			t.Fatalf("new request over budget: %v", err)
		}
		for _, tb := range tables {
			if n := count(t, e.st, tb); n != before[tb] {
				t.Errorf("%s: %d rows after the replays, %d before", tb, n, before[tb])
			}
		}
	})
}

func TestCancel(t *testing.T) {
	e := newEnv(t, store.SQLite, nil)
	res, _ := e.svc.Submit(e.a, input(""))
	v, err := e.svc.Cancel(e.a, res.Verification.ID)
	if err != nil || v.Status != verification.StatusCancelled {
		t.Fatalf("cancel: %+v %v", v, err)
	}
	for _, c := range v.Checks {
		if c.Status != "SKIPPED" || c.Reason != "CANCELLED" {
			t.Fatalf("check after cancel: %+v", c)
		}
	}
	if _, err := e.svc.Cancel(e.a, res.Verification.ID); !errs.Is(err, errs.FailedPrecondition) {
		t.Fatalf("cancel twice: %v", err)
	}
	if n := count(t, e.st, "outbox_events"); n != 1 {
		t.Fatalf("outbox events after cancel: %d", n)
	}
}

// TestErasureLeavesNoWayToDecrypt captures the sealed bytes before erasure
// and shows that afterwards no key anywhere in the database opens them.
func TestErasureLeavesNoWayToDecrypt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st0 *store.Store) {
		e := newEnv(t, st0.Dialect(), nil)
		ctx := context.Background()
		res, _ := e.svc.Submit(e.a, input(""))
		keep, _ := e.svc.Submit(e.a, input(""))
		vid := res.Verification.ID
		_, sealed, err := e.st.Sealed(ctx, e.insA.ID, "TEST", vid)
		if err != nil || len(sealed) == 0 {
			t.Fatal(err)
		}
		var blindBefore int
		e.st.DB().QueryRow(`SELECT COUNT(*) FROM blind_index WHERE verification_id = '` + vid + `'`).Scan(&blindBefore)
		if blindBefore == 0 {
			t.Fatal("no blind-index entries were written")
		}
		v, err := e.svc.Erase(e.a, vid, "policyholder asked", "req_9")
		if err != nil || v.ErasedAt.IsZero() || v.EraseReason != "policyholder asked" {
			t.Fatalf("erase: %+v %v", v, err)
		}
		if pii, err := e.svc.Policyholder(e.a, vid, "", ""); err != nil || pii != nil {
			t.Fatalf("pii after erasure: %+v %v", pii, err)
		}
		var blindAfter int
		e.st.DB().QueryRow(`SELECT COUNT(*) FROM blind_index WHERE verification_id = '` + vid + `'`).Scan(&blindAfter)
		if blindAfter != 0 {
			t.Fatal("blind-index entries survive erasure")
		}
		// Try every wrapped key left in the database against the old bytes.
		rows, err := e.st.DB().Query(`SELECT id, wrapped_key FROM verifications WHERE wrapped_key IS NOT NULL`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		tried := 0
		for rows.Next() {
			var id string
			var wrapped []byte
			rows.Scan(&id, &wrapped)
			for _, subject := range []string{id, vid} {
				if _, err := e.vault.Open(ctx, e.insA.ID, subject, wrapped, vault.PurposePolicyholder, sealed); err == nil {
					t.Fatalf("erased data opened with the key of %s", id)
				}
				tried++
			}
		}
		if tried == 0 {
			t.Fatal("no other keys to try")
		}
		// The other verification still opens; the outcome row stays.
		if pii, err := e.svc.Policyholder(e.a, keep.Verification.ID, "", ""); err != nil || pii == nil {
			t.Fatalf("other verification after erasure: %v", err)
		}
		if _, err := e.svc.Get(e.a, vid); err != nil {
			t.Fatalf("erased verification's outcome row is gone: %v", err)
		}
		if _, err := e.svc.Erase(e.a, vid, "again", ""); !errs.Is(err, errs.FailedPrecondition) {
			t.Fatalf("erase twice: %v", err)
		}
		entries, _ := e.st.AuditLog(ctx, e.insA.ID, audit.Filter{Action: audit.ActionErase}, "", 10)
		if len(entries) != 1 || entries[0].VerificationID != vid {
			t.Fatalf("erasure audit: %+v", entries)
		}
	})
}

func TestRetentionPurge(t *testing.T) {
	e := newEnv(t, store.SQLite, nil)
	old, _ := e.svc.Submit(e.a, input(""))
	e.now = e.now.AddDate(0, 0, 400)
	fresh, _ := e.svc.Submit(e.a, input(""))
	n, err := e.svc.PurgeExpired(context.Background(), e.insA, 100)
	if err != nil || n != 1 {
		t.Fatalf("purged %d, %v", n, err)
	}
	if v, _ := e.svc.Get(e.a, old.Verification.ID); v.ErasedAt.IsZero() {
		t.Fatal("old verification kept")
	}
	if v, _ := e.svc.Get(e.a, fresh.Verification.ID); !v.ErasedAt.IsZero() {
		t.Fatal("fresh verification erased")
	}
}

// TestNoPlaintextPersonalDataAtRest scans every column of every table, and
// the logs, for the policyholder's details.
func TestNoPlaintextPersonalDataAtRest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st0 *store.Store) {
		e := newEnv(t, st0.Dialect(), nil)
		for i := range 3 {
			in := input(fmt.Sprintf("scan-%d", i))
			in.Documents[0].MRZ = []string{
				"P<SWEERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
				"L898902C36SWE7408122F3004159ZE184226B<<<<<10",
			}
			if _, err := e.svc.Submit(e.a, in); err != nil {
				t.Fatal(err)
			}
		}
		res, _ := e.svc.Submit(e.a, input(""))
		if _, err := e.svc.Policyholder(e.a, res.Verification.ID, "UNDERWRITING", ""); err != nil {
			t.Fatal(err)
		}
		needles := []string{"Eriksson", "ERIKSSON", "Anna Maria", "1974-08-12", "740812", "L898902C3", "POL-1"}
		tables := []string{"insurers", "api_keys", "insurer_keys", "audit_log", "verifications", "checks", "consents", "blind_index", "outbox_events", "usage_events"}
		for _, table := range tables {
			rows, err := e.st.DB().Query(`SELECT * FROM ` + table)
			if err != nil {
				t.Fatal(err)
			}
			cols, _ := rows.Columns()
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				for i, v := range vals {
					var s string
					switch x := v.(type) {
					case []byte:
						s = string(x)
					case string:
						s = x
					default:
						continue
					}
					for _, n := range needles {
						if strings.Contains(s, n) {
							t.Errorf("%s.%s holds %q in clear", table, cols[i], n)
						}
					}
				}
			}
			rows.Close()
		}
		e.logsMu.Lock()
		logs := e.logs.String()
		e.logsMu.Unlock()
		for _, n := range needles {
			if strings.Contains(logs, n) {
				t.Errorf("logs hold %q", n)
			}
		}
	})
}

// TestTasksAreQueuedInRedisUnderCheckIDs submits through a real asynq client
// and finds one task per check, under the check's id, holding ids only.
func TestTasksAreQueuedInRedisUnderCheckIDs(t *testing.T) {
	addr := testenv.Require(t, testenv.RedisAddrVar)
	opt := asynq.RedisClientOpt{Addr: addr, DB: 7}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	_, _ = insp.DeleteAllPendingTasks(verification.QueueDefault)
	enq := queue.NewEnqueuer(opt)
	defer enq.Close()
	e := newEnv(t, store.SQLite, enq)
	res, err := e.svc.Submit(e.a, input(""))
	if err != nil {
		t.Fatal(err)
	}
	runID := verification.RunTaskID(res.Verification.ID)
	info, err := insp.GetTaskInfo(verification.QueueDefault, runID)
	if err != nil {
		t.Fatalf("run task: %v", err)
	}
	if info.Type != verification.TaskRun || bytes.Contains(info.Payload, []byte("Eriksson")) {
		t.Fatalf("task %+v", info)
	}
	var p verification.VerificationPayload
	if err := json.Unmarshal(info.Payload, &p); err != nil || p.VerificationID != res.Verification.ID || p.InsurerID == "" {
		t.Fatalf("payload %s", info.Payload)
	}
	// Enqueueing the same run again is "already queued", not an error.
	if err := enq.Enqueue(context.Background(), verification.TaskRun, nil, runID, verification.QueueDefault, 0); err != nil {
		t.Fatalf("re-enqueue: %v", err)
	}
	_, _ = insp.DeleteAllPendingTasks(verification.QueueDefault)
}
