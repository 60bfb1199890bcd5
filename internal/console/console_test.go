package console_test

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/borderproof/borderproof/internal/audit"
	"github.com/borderproof/borderproof/internal/console"
	"github.com/borderproof/borderproof/internal/risk"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/store/storetest"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/user"
)

const csp = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"

func TestConsole(t *testing.T) {
	for _, d := range storetest.Backends {
		t.Run(string(d), func(t *testing.T) {
			e := newEnv(t, d)
			t.Run("sign-in", func(t *testing.T) { testSignIn(t, e) })
			t.Run("verifications", func(t *testing.T) { testVerifications(t, e) })
			t.Run("reviews", func(t *testing.T) { testReviews(t, e) })
			t.Run("csrf", func(t *testing.T) { testCSRF(t, e) })
			t.Run("roles", func(t *testing.T) { testRoles(t, e) })
			t.Run("settings", func(t *testing.T) { testSettings(t, e) })
			t.Run("totp", func(t *testing.T) { testTOTP(t, e) })
		})
	}
}

func testSignIn(t *testing.T, e *env) {
	c := e.client(t)
	p := c.get("/console/verifications?status=COMPLETED")
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/signin?next="+url.QueryEscape("/console/verifications?status=COMPLETED") {
		t.Fatalf("signed-out page: %d %s", p.status, p.header.Get("Location"))
	}
	p = c.get("/console/signin")
	must(t, p, http.StatusOK, `<label for="email">Email</label>`)
	for h, want := range map[string]string{"Content-Security-Policy": csp, "Cache-Control": "no-store", "X-Frame-Options": "DENY",
		"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
		if got := p.header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if strings.Contains(p.body, "<script>") || strings.Contains(p.body, "style=") || strings.Contains(p.body, " on") && regexp.MustCompile(` on[a-z]+=`).MatchString(p.body) {
		t.Error("inline script or style on the page")
	}
	tok := csrfField.FindStringSubmatch(p.body)[1]
	p = c.post("/console/signin", url.Values{"csrf": {tok}, "email": {e.emails[user.RoleUnderwriter]}, "password": {"wrong password!"}})
	must(t, p, http.StatusUnauthorized, "Sign-in failed")
	p = c.post("/console/signin", url.Values{"email": {e.emails[user.RoleUnderwriter]}, "password": {password}})
	must(t, p, http.StatusForbidden)
	// A next that leaves the console is ignored.
	p = c.post("/console/signin", url.Values{"csrf": {tok}, "email": {e.emails[user.RoleUnderwriter]}, "password": {password},
		"next": {"//evil.example/console/"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/verifications" {
		t.Fatalf("sign-in redirect: %d %q", p.status, p.header.Get("Location"))
	}
	ck := p.header.Get("Set-Cookie")
	if !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Lax") || !strings.HasPrefix(ck, "bp_console=") {
		t.Fatalf("session cookie: %s", ck)
	}
	must(t, c.get("/console/verifications"), http.StatusOK, "Verifications")
	// Static assets are served, versioned, with no inline code needed.
	must(t, c.get("/console/static/app.js"), http.StatusOK, "EventSource")
	tok = c.csrf("/console/account")
	if p := c.post("/console/signout", url.Values{"csrf": {tok}}); p.status != http.StatusSeeOther {
		t.Fatalf("sign out: %d", p.status)
	}
	if p := c.get("/console/verifications"); p.status != http.StatusSeeOther {
		t.Fatalf("after sign-out: %d", p.status)
	}
}

// TestSecureCookies checks the production cookie outside dev mode.
func TestSecureCookies(t *testing.T) {
	e := newEnv(t, store.SQLite, func(cfg *console.Config, _ *console.Deps) { cfg.Dev = false })
	rec := httptestRecorder(e, http.MethodGet, "/console/signin", nil)
	ck := rec.Header().Get("Set-Cookie")
	if !strings.HasPrefix(ck, "__Host-bp_console_csrf=") || !strings.Contains(ck, "Secure") || !strings.Contains(ck, "Path=/;") && !strings.HasSuffix(ck, "Path=/") {
		t.Fatalf("pre-session cookie: %s", ck)
	}
	if rec.Header().Get("Strict-Transport-Security") == "" {
		t.Fatal("no HSTS outside dev mode")
	}
}

func testVerifications(t *testing.T, e *env) {
	id := e.submitOne(t, "REF-LIST-1")
	other := e.submitOne(t, "REF-LIST-2")
	e.decide(t, other, risk.DecisionClear, 5)
	c := e.client(t).signIn(role(user.RoleUnderwriter))
	p := c.get("/console/verifications")
	must(t, p, http.StatusOK, id, other, "REF-LIST-1")
	if strings.Contains(p.body, "Eriksson") || strings.Contains(p.body, "L898902C3") {
		t.Fatal("personal data on the list")
	}
	p = c.get("/console/verifications?status=COMPLETED&decision=CLEAR")
	must(t, p, http.StatusOK, other)
	if strings.Contains(p.body, id) {
		t.Fatal("filter ignored")
	}
	must(t, c.get("/console/verifications?ref=REF-LIST-1"), http.StatusOK, id)
	must(t, c.get("/console/verifications?from=not-a-date"), http.StatusBadRequest, "from must be a date")
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	if p := c.get("/console/verifications?from=" + tomorrow); strings.Contains(p.body, id) {
		t.Fatal("date filter ignored")
	}

	p = c.get("/console/verifications/" + other)
	must(t, p, http.StatusOK, "Timeline", "Submitted", "VISA_EXPIRED", "partnersim", "Final.", "Reveal")
	if strings.Contains(p.body, "Eriksson") {
		t.Fatal("personal data before reveal")
	}
	must(t, c.get("/console/verifications/ver_unknown"), http.StatusNotFound)

	// Reveal writes the audit entry with the user as actor.
	tok := csrfField.FindStringSubmatch(p.body)[1]
	p = c.post("/console/verifications/"+other+"/reveal", url.Values{"csrf": {tok}, "purpose": {"CLAIMS"}})
	must(t, p, http.StatusOK, "Eriksson", "L898902C3", "recorded in the audit log")
	entries, err := e.st.AuditLog(context.Background(), e.ins.ID, audit.Filter{VerificationID: other, Action: audit.ActionPIIRead}, "", 10)
	if err != nil || len(entries) != 1 || entries[0].Actor != e.ids[user.RoleUnderwriter] || entries[0].Purpose != "CLAIMS" || entries[0].RequestID == "" {
		t.Fatalf("audit: %+v %v", entries, err)
	}
	must(t, c.post("/console/verifications/"+other+"/reveal", url.Values{"csrf": {tok}, "purpose": {"CURIOSITY"}}), http.StatusBadRequest)

	// The admin sees the entry in the audit log, with the user's name.
	a := e.client(t).signIn(user.RoleAdmin)
	must(t, a.get("/console/audit?action=pii.read&verification="+other), http.StatusOK, "Demo underwriter", "<td>Claims</td>")
}

func role(r user.Role) user.Role { return r }

func testReviews(t *testing.T, e *env) {
	id := e.submitOne(t, "REF-REVIEW")
	e.decide(t, id, risk.DecisionReview, 40)
	c := e.client(t).signIn(user.RoleUnderwriter)
	p := c.get("/console/reviews")
	must(t, p, http.StatusOK, id, "VISA_EXPIRED", "+40")
	tok := csrfField.FindStringSubmatch(p.body)[1]

	// The stream sends rows when the queue changes.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/console/reviews/events?fp=stale", nil)
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("stream content type %q", ct)
	}
	events := bufio.NewScanner(res.Body)
	next := func() string {
		var b strings.Builder
		for events.Scan() {
			line := events.Text()
			if line == "" && b.Len() > 0 {
				return b.String()
			}
			b.WriteString(line + "\n")
		}
		t.Fatalf("stream ended: %v", events.Err())
		return ""
	}
	for ev := next(); !strings.Contains(ev, "event: queue"); ev = next() {
	}
	second := e.submitOne(t, "REF-REVIEW-2")
	e.decide(t, second, risk.DecisionReview, 30)
	for {
		ev := next()
		if strings.Contains(ev, "event: queue") && strings.Contains(ev, second) {
			break
		}
	}

	p = c.post("/console/reviews/"+id, url.Values{"csrf": {tok}, "decision": {"APPROVE"}, "note": {"documents checked by phone"}})
	if p.status != http.StatusSeeOther || !strings.Contains(p.header.Get("Location"), "notice=approved") {
		t.Fatalf("resolve: %d %s", p.status, p.body)
	}
	v, err := e.verifs.Get(e.submit, id)
	if err != nil || v.Review == nil || v.Review.ReviewedBy != e.ids[user.RoleUnderwriter] || v.Review.Note != "documents checked by phone" {
		t.Fatalf("review: %+v %v", v.Review, err)
	}
	must(t, c.post("/console/reviews/"+id, url.Values{"csrf": {tok}, "decision": {"DECLINE"}}), http.StatusConflict, "already reviewed")
	if p := c.get("/console/reviews"); strings.Contains(p.body, id) {
		t.Fatal("resolved review still queued")
	}
}

func testCSRF(t *testing.T, e *env) {
	id := e.submitOne(t, "REF-CSRF")
	e.decide(t, id, risk.DecisionReview, 40)
	c := e.client(t).signIn(user.RoleUnderwriter)
	must(t, c.post("/console/reviews/"+id, url.Values{"decision": {"APPROVE"}}), http.StatusForbidden, "did not come from the console")
	must(t, c.post("/console/reviews/"+id, url.Values{"csrf": {"forged"}, "decision": {"APPROVE"}}), http.StatusForbidden)
	tok := c.csrf("/console/reviews")
	// A valid token does not help a request the browser marks cross-site.
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/console/reviews/"+id, strings.NewReader(url.Values{"csrf": {tok}, "decision": {"APPROVE"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	must(t, c.do(req), http.StatusForbidden)
	req, _ = http.NewRequest(http.MethodPost, e.srv.URL+"/console/reviews/"+id, strings.NewReader(url.Values{"csrf": {tok}, "decision": {"APPROVE"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	must(t, c.do(req), http.StatusForbidden)
	// Another user's token is not this session's.
	other := e.client(t).signIn(user.RoleAdmin)
	must(t, c.post("/console/reviews/"+id, url.Values{"csrf": {other.csrf("/console/reviews")}, "decision": {"APPROVE"}}), http.StatusForbidden)
	v, _ := e.verifs.Get(e.submit, id)
	if v.Review != nil {
		t.Fatal("a refused request changed the verification")
	}
	// The header form works for scripts.
	req, _ = http.NewRequest(http.MethodPost, e.srv.URL+"/console/reviews/"+id, strings.NewReader(url.Values{"decision": {"APPROVE"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-CSRF-Token", tok)
	if p := c.do(req); p.status != http.StatusSeeOther {
		t.Fatalf("header token: %d", p.status)
	}
}

func testRoles(t *testing.T, e *env) {
	id := e.submitOne(t, "REF-ROLE")
	e.decide(t, id, risk.DecisionReview, 40)
	fin := e.client(t).signIn(user.RoleFinance)
	p := fin.get("/console/verifications/" + id)
	must(t, p, http.StatusOK, "Your role cannot see personal data")
	if strings.Contains(p.body, `id="reveal"`) || strings.Contains(p.body, `value="APPROVE"`) {
		t.Fatal("finance is offered reveal or review")
	}
	tok := csrfField.FindStringSubmatch(p.body)[1]
	must(t, fin.post("/console/verifications/"+id+"/reveal", url.Values{"csrf": {tok}, "purpose": {"UNDERWRITING"}}), http.StatusForbidden, "pii:read")
	must(t, fin.post("/console/reviews/"+id, url.Values{"csrf": {tok}, "decision": {"APPROVE"}}), http.StatusForbidden, "reviews:write")
	must(t, fin.get("/console/audit"), http.StatusForbidden)
	must(t, fin.get("/console/settings"), http.StatusForbidden)
	must(t, fin.post("/console/settings/keys", url.Values{"csrf": {tok}, "name": {"x"}, "mode": {"TEST"}, "scopes": {"admin"}}), http.StatusForbidden)
	entries, _ := e.st.AuditLog(context.Background(), e.ins.ID, audit.Filter{VerificationID: id}, "", 10)
	if len(entries) != 0 {
		t.Fatalf("a refused reveal was audited or opened: %+v", entries)
	}
	uw := e.client(t).signIn(user.RoleUnderwriter)
	must(t, uw.get("/console/settings"), http.StatusForbidden)
	must(t, uw.get("/console/billing"), http.StatusForbidden, "billing:read")
}

func testSettings(t *testing.T, e *env) {
	a := e.client(t).signIn(user.RoleAdmin)
	p := a.get("/console/settings")
	must(t, p, http.StatusOK, "API keys", "integration", "Users and roles", e.emails[user.RoleFinance], "365")
	tok := csrfField.FindStringSubmatch(p.body)[1]

	p = a.post("/console/settings/keys", url.Values{"csrf": {tok}, "name": {"claims system"}, "mode": {"TEST"},
		"scopes": {"verifications:read", "pii:read"}, "purposes": {"CLAIMS"}})
	must(t, p, http.StatusOK, "shown only once")
	secret := regexp.MustCompile(`id="new-key" class="mono">(bp_test_[A-Za-z0-9_-]{43})<`).FindStringSubmatch(p.body)
	if secret == nil {
		t.Fatal("no key on the page")
	}
	pr, err := e.tenants.Authenticate(context.Background(), secret[1])
	if err != nil || !pr.Has(tenant.ScopePIIRead) || pr.Has(tenant.ScopeAdmin) || !pr.AllowsPurpose("CLAIMS") || pr.AllowsPurpose("RENEWAL") {
		t.Fatalf("created key: %+v %v", pr.Key, err)
	}
	if p := a.get("/console/settings"); strings.Contains(p.body, secret[1]) {
		t.Fatal("the key is shown again")
	}
	must(t, a.post("/console/settings/keys", url.Values{"csrf": {tok}, "name": {"bad"}, "mode": {"TEST"}}), http.StatusBadRequest, "scope")
	if p := a.post("/console/settings/keys/"+pr.Key.ID+"/revoke", url.Values{"csrf": {tok}}); p.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", p.status)
	}
	if _, err := e.tenants.Authenticate(context.Background(), secret[1]); err == nil {
		t.Fatal("revoked key still works")
	}

	// Invite, accept, sign in, change role, disable.
	p = a.post("/console/settings/users/invite", url.Values{"csrf": {tok}, "email": {"New.Hire@acme.test"}, "role": {"UNDERWRITER"}})
	must(t, p, http.StatusOK, "new.hire@acme.test", "works once")
	link := regexp.MustCompile(`id="invite-url" class="mono">http://[^/]+(/console/invite/[A-Za-z0-9_-]+)<`).FindStringSubmatch(p.body)
	if link == nil {
		t.Fatal("no invitation link")
	}
	n := e.client(t)
	itok := n.csrf(link[1])
	must(t, n.post(link[1], url.Values{"csrf": {itok}, "name": {"New Hire"}, "password": {"short"}}), http.StatusBadRequest, "password must be")
	if p := n.post(link[1], url.Values{"csrf": {itok}, "name": {"New Hire"}, "password": {password}}); p.status != http.StatusSeeOther {
		t.Fatalf("accept: %d %s", p.status, snippet(p.body))
	}
	must(t, n.get(link[1]), http.StatusNotFound, "not valid any more")
	hire, err := e.users.UserByEmail(context.Background(), "new.hire@acme.test")
	if err != nil || hire.Role != user.RoleUnderwriter {
		t.Fatalf("hire: %+v %v", hire, err)
	}
	e.emails["HIRE"] = hire.Email
	hc := e.client(t).signIn("HIRE")
	must(t, hc.get("/console/settings"), http.StatusForbidden)
	if p := a.post("/console/settings/users/"+hire.ID+"/role", url.Values{"csrf": {tok}, "role": {"ADMIN"}}); p.status != http.StatusSeeOther {
		t.Fatalf("role: %d %s", p.status, snippet(p.body))
	}
	must(t, hc.get("/console/settings"), http.StatusOK, "API keys")
	if p := a.post("/console/settings/users/"+hire.ID+"/disable", url.Values{"csrf": {tok}}); p.status != http.StatusSeeOther {
		t.Fatalf("disable: %d", p.status)
	}
	if p := hc.get("/console/settings"); p.status != http.StatusSeeOther {
		t.Fatalf("disabled user's session: %d", p.status)
	}
	must(t, a.post("/console/settings/users/"+e.ids[user.RoleAdmin]+"/disable", url.Values{"csrf": {tok}}), http.StatusConflict, "your own account")

	must(t, a.post("/console/settings/retention", url.Values{"csrf": {tok}, "retentionDays": {"9999"}}), http.StatusBadRequest, "between 1 and 3650")
	if p := a.post("/console/settings/retention", url.Values{"csrf": {tok}, "retentionDays": {"90"}}); p.status != http.StatusSeeOther {
		t.Fatalf("retention: %d", p.status)
	}
	ins, _ := e.tenants.Insurer(context.Background(), e.ins.ID)
	if ins.RetentionDays != 90 {
		t.Fatalf("retention stored: %d", ins.RetentionDays)
	}
}

var secretOnPage = regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`)

func testTOTP(t *testing.T, e *env) {
	ctx := context.Background()
	if _, err := e.users.CreateUser(ctx, user.CreateUserInput{InsurerID: e.ins.ID, Email: "two@acme.test", Name: "Two Step",
		Role: user.RoleUnderwriter, Password: password}); err != nil {
		t.Fatal(err)
	}
	e.emails["TWO"] = "two@acme.test"
	c := e.client(t).signIn("TWO")
	tok := c.csrf("/console/account")
	if p := c.post("/console/account/totp/start", url.Values{"csrf": {tok}}); p.status != http.StatusSeeOther {
		t.Fatalf("start: %d", p.status)
	}
	p := c.get("/console/account")
	m := secretOnPage.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no secret: %s", snippet(p.body))
	}
	if img := c.get("/console/account/totp.png"); img.status != http.StatusOK || img.header.Get("Content-Type") != "image/png" {
		t.Fatalf("qr: %d", img.status)
	}
	opts := totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	code, _ := totp.GenerateCodeCustom(m[1], time.Now(), opts)
	if p := c.post("/console/account/totp/confirm", url.Values{"csrf": {tok}, "code": {code}}); p.status != http.StatusSeeOther {
		t.Fatalf("confirm: %d %s", p.status, snippet(p.body))
	}
	// A new sign-in waits for a code; nothing else opens meanwhile.
	n := e.client(t)
	stok := n.csrf("/console/signin")
	p = n.post("/console/signin", url.Values{"csrf": {stok}, "email": {"two@acme.test"}, "password": {password}})
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/console/signin/code") {
		t.Fatalf("password step: %d %s", p.status, p.header.Get("Location"))
	}
	if p := n.get("/console/verifications"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/signin/code" {
		t.Fatalf("pending session opened a page: %d %s", p.status, p.header.Get("Location"))
	}
	ctok := n.csrf("/console/signin/code")
	must(t, n.post("/console/signin/code", url.Values{"csrf": {ctok}, "code": {"12345"}}), http.StatusUnauthorized, "not valid")
	// The code used to enrol cannot be used again; wait for the next one.
	next, _ := totp.GenerateCodeCustom(m[1], time.Now().Add(30*time.Second), opts)
	p = n.post("/console/signin/code", url.Values{"csrf": {ctok}, "code": {next}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("code step: %d %s", p.status, snippet(p.body))
	}
	must(t, n.get("/console/verifications"), http.StatusOK)
	// Sign out everywhere ends both sessions.
	if p := n.post("/console/signout/everywhere", url.Values{"csrf": {n.csrf("/console/account")}}); p.status != http.StatusSeeOther {
		t.Fatalf("everywhere: %d", p.status)
	}
	if p := c.get("/console/verifications"); p.status != http.StatusSeeOther {
		t.Fatalf("other session after sign-out everywhere: %d", p.status)
	}
}

// TestNotConfigured shows the pages of missing services.
func TestNotConfigured(t *testing.T) {
	e := newEnv(t, store.SQLite, func(_ *console.Config, d *console.Deps) { d.Verifications = nil })
	c := e.client(t).signIn(user.RoleAdmin)
	must(t, c.get("/console/verifications"), http.StatusServiceUnavailable, "Verifications is not configured")
	must(t, c.get("/console/webhooks"), http.StatusServiceUnavailable, "Webhooks is not configured")
	must(t, c.get("/console/settings"), http.StatusOK, "API keys")
	must(t, c.get("/console/nowhere"), http.StatusNotFound)
}

// TestDemoUsers checks the dev-mode users sign in, twice.
func TestDemoUsers(t *testing.T) {
	e := newEnv(t, store.SQLite)
	for round := 0; round < 2; round++ {
		demo, err := e.console.EnsureDemoUsers(context.Background(), e.ins.ID)
		if err != nil || len(demo) != 3 {
			t.Fatalf("demo users: %+v %v", demo, err)
		}
		for _, d := range demo {
			in, err := e.users.SignIn(context.Background(), d.Email, d.Password)
			if err != nil || in.User.Role != d.Role {
				t.Fatalf("demo %s: %v", d.Role, err)
			}
		}
	}
}
