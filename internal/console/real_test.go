package console_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/borderproof/borderproof/internal/billing"
	"github.com/borderproof/borderproof/internal/blob"
	"github.com/borderproof/borderproof/internal/console"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/user"
	"github.com/borderproof/borderproof/internal/vault"
	"github.com/borderproof/borderproof/internal/webhook"
)

var secretShown = regexp.MustCompile(`<code id="new-secret" class="mono">([^<]+)</code>`)

// TestRealServices drives the billing and webhooks pages over the domain
// services on SQLite.
func TestRealServices(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var bs *billing.Service
	var ws *webhook.Service
	e := newEnv(t, store.SQLite, func(_ *console.Config, d *console.Deps) {
		st := d.Settings.(*store.Store)
		fs, err := blob.NewFS(blob.FSConfig{Root: t.TempDir(), BaseURL: "http://blobs.example", SigningKey: []byte(strings.Repeat("s", 32))}, log)
		if err != nil {
			t.Fatal(err)
		}
		bs = billing.New(billing.Config{}, billing.Deps{Store: st, Blobs: fs, Logger: log})
		kp, err := vault.NewLocalFile(filepath.Join(t.TempDir(), "vault.key"), log)
		if err != nil {
			t.Fatal(err)
		}
		v, err := vault.New(vault.Config{}, kp, st, log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(v.Close)
		if ws, err = webhook.New(webhook.Config{}, st, v, noQueue{}, nil, log); err != nil {
			t.Fatal(err)
		}
		d.Billing, d.Webhooks = bs, ws
	})
	ep, _, err := ws.CreateEndpoint(ctx, webhook.CreateEndpointInput{InsurerID: e.ins.ID, Mode: tenant.Test,
		URL: "https://claims.acme.test/hooks", Events: []string{"verification.completed"}})
	if err != nil {
		t.Fatal(err)
	}

	fin := e.client(t).signIn(user.RoleFinance)
	p := fin.get("/console/billing")
	must(t, p, http.StatusOK, "Amount per day", "No usage in this period", "Stripe not configured")
	tok := csrfField.FindStringSubmatch(p.body)[1]
	must(t, fin.post("/console/billing/export", url.Values{"csrf": {tok}}), http.StatusOK, "Export ready", `href="http://blobs.example/blobs/exports/`+e.ins.ID)
	must(t, fin.get("/console/webhooks"), http.StatusForbidden)

	a := e.client(t).signIn(user.RoleAdmin)
	p = a.get("/console/webhooks")
	must(t, p, http.StatusOK, "https://claims.acme.test/hooks", "No deliveries yet", "no finished deliveries yet")
	tok = csrfField.FindStringSubmatch(p.body)[1]
	must(t, a.post("/console/webhooks/endpoints/"+ep.ID+"/test", url.Values{"csrf": {tok}}), http.StatusSeeOther)
	must(t, a.get("/console/webhooks"), http.StatusOK, "webhook.test", "Pending")
	p = a.post("/console/webhooks/endpoints/"+ep.ID+"/rotate", url.Values{"csrf": {tok}})
	must(t, p, http.StatusOK, "shown only once")
	if m := secretShown.FindStringSubmatch(p.body); m == nil || len(m[1]) < 20 {
		t.Fatal("no new secret on the rotation page")
	}
	must(t, a.post("/console/webhooks/endpoints/"+ep.ID+"/replay", url.Values{"csrf": {tok}, "since": {"2026-01-01T00:00"}}), http.StatusSeeOther)
	p = a.get("/console/billing")
	must(t, p, http.StatusOK, `action="/console/billing/budget"`)
	// No budget and no spend yet: the form asks for the plan's currency,
	// and the service names it when another is given.
	must(t, p, http.StatusOK, `id="budget-currency"`)
	p = a.post("/console/billing/budget", url.Values{"csrf": {tok}, "cap": {"250"}, "currency": {"XTS"}, "kind": {"hard"}})
	must(t, p, http.StatusBadRequest, "must be the plan&#39;s currency, EUR")
	p = a.post("/console/billing/budget", url.Values{"csrf": {tok}, "cap": {"250"}, "currency": {"EUR"}, "kind": {"hard"}})
	must(t, p, http.StatusSeeOther)
	must(t, a.get(p.header.Get("Location")), http.StatusOK, "The budget was saved.", "250.00 EUR (hard", `value="250.00"`)
	if st, err := bs.Budget(ctx, e.ins.ID); err != nil || st.Budget.CapMinor != 25000 || !st.Budget.Hard {
		t.Fatalf("budget %+v %v", st, err)
	}
	// The sandbox page does not reach live endpoints.
	must(t, a.post("/console/webhooks/endpoints/whk_nope/test", url.Values{"csrf": {tok}}), http.StatusNotFound)
}
