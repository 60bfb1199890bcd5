package console_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/console"
	"github.com/borderproof/borderproof/internal/risk"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/store/storetest"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/user"
	"github.com/borderproof/borderproof/internal/vault"
	"github.com/borderproof/borderproof/internal/verification"
)

// noQueue accepts every task; the tests move verifications along with SQL.
type noQueue struct{}

func (noQueue) Enqueue(context.Context, string, []byte, string, string, time.Duration) error {
	return nil
}

const password = "correct horse battery"

// env is a console over a real store, with one LIVE insurer whose sandbox
// (TEST) data the tests look at, and one user per role.
type env struct {
	st      *store.Store
	users   *user.Service
	tenants *tenant.Service
	verifs  *verification.Service
	console *console.Console
	srv     *httptest.Server
	ins     tenant.Insurer
	submit  context.Context // a TEST key with every scope
	emails  map[user.Role]string
	ids     map[user.Role]string
}

type envOption func(*console.Config, *console.Deps)

func newEnv(t testing.TB, d store.Dialect, opts ...envOption) *env {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := storetest.Open(t, d)
	e := &env{st: st, emails: map[user.Role]string{}, ids: map[user.Role]string{}}
	kp, err := vault.NewLocalFile(filepath.Join(t.TempDir(), "vault.key"), log)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.New(vault.Config{}, kp, st, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	e.tenants = tenant.NewService(st, nil, log)
	e.verifs = verification.NewService(verification.Deps{Store: st, Audit: st, Sealer: v, Queue: noQueue{}, Log: log})
	if e.users, err = user.New(user.Config{Argon2: user.Argon2{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		Sealer: v}, st, e.tenants, log); err != nil {
		t.Fatal(err)
	}
	if e.ins, err = e.tenants.CreateInsurer(ctx, tenant.CreateInsurerInput{Name: "Acme Mutual", Country: "FRA", Mode: tenant.Live}); err != nil {
		t.Fatal(err)
	}
	_, plain, err := e.tenants.CreateKey(ctx, tenant.CreateKeyInput{InsurerID: e.ins.ID, Name: "integration", Mode: tenant.Test, Scopes: tenant.AllScopes})
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.tenants.Authenticate(ctx, plain)
	if err != nil {
		t.Fatal(err)
	}
	e.submit = tenant.WithPrincipal(ctx, p)
	for _, role := range user.Roles {
		email := strings.ToLower(string(role)) + "@acme.test"
		u, err := e.users.CreateUser(ctx, user.CreateUserInput{InsurerID: e.ins.ID, Email: email, Name: "Demo " + strings.ToLower(string(role)),
			Role: role, Password: password})
		if err != nil {
			t.Fatal(err)
		}
		e.emails[role], e.ids[role] = email, u.ID
	}
	cfg := console.Config{Dev: true, LivePoll: 200 * time.Millisecond}
	deps := console.Deps{Users: e.users, Tenants: e.tenants, Settings: st, Verifications: e.verifs, Log: log}
	for _, o := range opts {
		o(&cfg, &deps)
	}
	if e.console, err = console.New(cfg, deps); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/console/", e.console)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

// submitOne records a sandbox verification with sealed personal data.
func (e *env) submitOne(t testing.TB, ref string) string {
	t.Helper()
	res, err := e.verifs.Submit(e.submit, verification.SubmitInput{
		ExternalReference: ref,
		Policyholder: verification.Policyholder{GivenNames: "Anna Maria", Surname: "Eriksson", DateOfBirth: "1974-08-12",
			Nationality: "UTO", Sex: "F", ResidenceCountry: "FRA"},
		Documents: []verification.Document{{Type: "PASSPORT", Number: "L898902C3", IssuingCountry: "UTO", ExpiryDate: "2032-04-15"}},
		Policy:    &verification.PolicyInput{Product: "TRAVEL", CoverageCountry: "ESP", Reference: "POL-" + ref},
		Consent: verification.ConsentInput{Reference: "consent-" + ref, ObtainedAt: time.Now().Add(-time.Hour), LawfulBasis: "CONSENT",
			Purposes: []string{"UNDERWRITING"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.Verification.ID
}

// decide completes a verification with a decision, as the scoring task
// would, through SQL.
func (e *env) decide(t testing.TB, id string, decision risk.Decision, score int) {
	t.Helper()
	now := time.Now().UTC()
	o := risk.Outcome{Score: score, Band: risk.BandMedium, Decision: decision, PolicyVersion: 1, Reasons: []risk.Reason{
		{Code: "VISA_EXPIRED", Message: "The visa expired before the policy starts.", Points: score, CheckType: risk.CheckImmigrationStatus,
			Resolution: "A valid visa for the policy period."},
	}}
	b, _ := json.Marshal(o)
	ctx := context.Background()
	if _, err := e.st.DB().ExecContext(ctx, q(e.st, `UPDATE verifications SET status = 'COMPLETED', decision = $1, score = $2, band = $3,
		outcome = $4, completed_at = $5, updated_at = $5 WHERE id = $6`), string(decision), score, string(o.Band), string(b), now.UnixMicro(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.DB().ExecContext(ctx, q(e.st, `UPDATE checks SET status = 'COMPLETED', partner = 'partnersim', outcome = 'CLEAR',
		signals = '[]', partner_reference = 'ref-' || id, attempts = 1, completed_at = $1, updated_at = $1 WHERE verification_id = $2`),
		now.UnixMicro(), id); err != nil {
		t.Fatal(err)
	}
}

var placeholder = regexp.MustCompile(`\$(\d+)`)

// q rewrites $N placeholders for SQLite.
func q(st *store.Store, query string) string {
	if st.Dialect() == store.SQLite {
		return placeholder.ReplaceAllString(query, "?$1")
	}
	return query
}

// client is a browser stand-in: a cookie jar that does not follow
// redirects, so tests see them.
type client struct {
	t    testing.TB
	e    *env
	http *http.Client
}

func (e *env) client(t testing.TB) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, e: e, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type page struct {
	status int
	body   string
	header http.Header
}

func (c *client) do(req *http.Request) page {
	c.t.Helper()
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return page{status: res.StatusCode, body: string(b), header: res.Header}
}

func (c *client) get(path string) page {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.e.srv.URL+path, nil)
	return c.do(req)
}

// post sends a form; csrf "" sends none.
func (c *client) post(path string, form url.Values) page {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the form token from a page.
func (c *client) csrf(path string) string {
	c.t.Helper()
	p := c.get(path)
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		c.t.Fatalf("no csrf token on %s (%d)", path, p.status)
	}
	return m[1]
}

func (c *client) signIn(role user.Role) *client {
	c.t.Helper()
	tok := c.csrf("/console/signin")
	p := c.post("/console/signin", url.Values{"csrf": {tok}, "email": {c.e.emails[role]}, "password": {password}})
	if p.status != http.StatusSeeOther {
		c.t.Fatalf("sign in as %s: %d %s", role, p.status, p.body)
	}
	// Look at the sandbox data the tests submit.
	tok = c.csrf("/console/account")
	if p := c.post("/console/mode", url.Values{"csrf": {tok}, "mode": {"TEST"}, "next": {"/console/account"}}); p.status != http.StatusSeeOther {
		c.t.Fatalf("mode: %d", p.status)
	}
	return c
}

func must(t testing.TB, p page, status int, contains ...string) {
	t.Helper()
	if p.status != status {
		t.Fatalf("status %d, want %d: %s", p.status, status, snippet(p.body))
	}
	for _, s := range contains {
		if !strings.Contains(p.body, s) {
			t.Fatalf("page lacks %q: %s", s, snippet(p.body))
		}
	}
}

func snippet(s string) string {
	if i := strings.Index(s, "<main"); i >= 0 {
		s = s[i:]
	}
	if len(s) > 1500 {
		s = s[:1500]
	}
	return s
}

func httptestRecorder(e *env, method, path string, body io.Reader) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.console.ServeHTTP(rec, httptest.NewRequest(method, path, body))
	return rec
}
