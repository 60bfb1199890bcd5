package visastatus_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/partner"
	"github.com/borderproof/borderproof/internal/partner/visastatus"
	"github.com/borderproof/borderproof/internal/partnersim"
	"github.com/borderproof/borderproof/internal/partnersim/simtest"
	"github.com/borderproof/borderproof/internal/risk"
)

func request(number string) partner.Request {
	now := time.Now().UTC()
	return partner.Request{
		CheckID: "chk_" + number + now.Format("150405.000000000"), CheckType: partner.CheckImmigrationStatus,
		Subject:          partner.Subject{DateOfBirth: time.Date(1990, 5, 17, 0, 0, 0, 0, time.UTC)},
		Document:         partner.Document{Type: "PASSPORT", Number: number, IssuingCountry: "IND"},
		ConsentReference: "CNS-1", Product: partner.ProductHealth, CoverageCountry: "AUS",
		PolicyStart: now, PolicyEnd: now.AddDate(1, 0, 0),
	}
}

func newClient(t *testing.T, sim *partnersim.Sim, mod ...func(*partner.PartnerConfig)) (*visastatus.Client, partner.PartnerConfig) {
	t.Helper()
	cfg := simtest.PartnerConfig(t, sim, visastatus.Protocol)
	for _, m := range mod {
		m(&cfg)
	}
	c, err := visastatus.New(cfg, sim.Deps(nil))
	if err != nil {
		t.Fatal(err)
	}
	return c, cfg
}

func codes(r partner.Result) []risk.SignalCode {
	var out []risk.SignalCode
	for _, s := range r.Signals {
		out = append(out, s.Code)
	}
	return out
}

func TestOutcomes(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t)
	c, _ := newClient(t, sim)
	cases := []struct {
		number  string
		product partner.Product
		want    []risk.SignalCode
		outcome partner.Outcome
	}{
		{"X1234567", partner.ProductHealth, nil, partner.OutcomeClear},
		{partnersim.MagicNoVisa, partner.ProductHealth, []risk.SignalCode{risk.SignalNoValidVisa}, partner.OutcomeAlert},
		{partnersim.MagicVisaExpired, partner.ProductLife, []risk.SignalCode{risk.SignalVisaExpired}, partner.OutcomeAlert},
		{partnersim.MagicVisaShort, partner.ProductLife, []risk.SignalCode{risk.SignalVisaExpiresBeforePolicy}, partner.OutcomeConsider},
		{partnersim.MagicNoHealth, partner.ProductHealth, []risk.SignalCode{risk.SignalVisaConditionConflict}, partner.OutcomeConsider},
		{partnersim.MagicNoHealth, partner.ProductMotor, nil, partner.OutcomeClear},
	}
	for _, tc := range cases {
		req := request(tc.number)
		req.Product = tc.product
		res, err := c.Check(t.Context(), req)
		if err != nil {
			t.Fatalf("%s: %v", tc.number, err)
		}
		if !slices.Equal(codes(res), tc.want) || res.Outcome != tc.outcome {
			t.Errorf("%s/%s: signals %v outcome %s; want %v %s", tc.number, tc.product, codes(res), res.Outcome, tc.want, tc.outcome)
		}
		if len(res.Evidence) == 0 || !res.Billable || res.Reference == "" {
			t.Errorf("%s: evidence/billable/reference missing", tc.number)
		}
	}
}

func TestPopulation(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t)
	c, _ := newClient(t, sim)
	seen := map[partnersim.Label]bool{}
	for _, p := range sim.Population().People {
		if p.Policy.CoverageCountry != "AUS" || seen[p.Label] || p.Label == partnersim.LabelDocumentReuse {
			continue
		}
		seen[p.Label] = true
		req := request(p.Passport.Number)
		req.Document.IssuingCountry, req.Subject.DateOfBirth = p.Passport.IssuingCountry, p.DateOfBirth
		req.Product, req.PolicyStart, req.PolicyEnd = partner.Product(p.Policy.Product), p.Policy.StartDate, p.Policy.EndDate
		res, err := c.Check(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		want := map[partnersim.Label]risk.SignalCode{
			partnersim.LabelNoVisa: risk.SignalNoValidVisa, partnersim.LabelExpiredVisa: risk.SignalVisaExpired,
			partnersim.LabelVisaConditionConflict: risk.SignalVisaConditionConflict,
		}
		if code, ok := want[p.Label]; ok {
			if !slices.Contains(codes(res), code) {
				t.Errorf("%s: signals %v, want %s", p.Label, codes(res), code)
			}
		} else if p.Label == partnersim.LabelClean && len(res.Signals) != 0 {
			t.Errorf("CLEAN person: signals %v", codes(res))
		}
	}
	if !seen[partnersim.LabelClean] {
		t.Fatal("no clean AUS person in the population")
	}
}

func TestIdempotentReplay(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t)
	c, _ := newClient(t, sim)
	req := request("X7654321")
	a, err := c.Check(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Check(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if a.Reference != b.Reference || string(a.Evidence) != string(b.Evidence) {
		t.Fatal("repeated enquiry reference got a different answer")
	}
	req.Document.Number = "X0000001"
	if _, err := c.Check(t.Context(), req); !errs.Is(err, errs.Conflict) {
		t.Fatalf("reference reused for another enquiry: %v, want Conflict", err)
	}
}

func TestErrorDialect(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t)
	c, _ := newClient(t, sim)
	req := request("X1")
	req.Subject.DateOfBirth = time.Time{}
	if _, err := c.Check(t.Context(), req); !errs.Is(err, errs.Invalid) {
		t.Fatalf("missing dob: %v", err)
	}
	// The service's own validation: a raw enquiry without consent.
	_, err := c.Check(t.Context(), partner.Request{CheckID: "chk_x", Subject: req.Subject, Document: req.Document})
	if !errs.Is(err, errs.Invalid) {
		t.Fatalf("no consent: %v", err)
	}
	_, err = c.Check(t.Context(), request(partnersim.MagicUnavailable))
	var ce *partner.CallError
	if !errs.Is(err, errs.Unavailable) || !asCallError(err, &ce) || ce.Code != "VEVO-UNAVAILABLE" || ce.RetryAfter != time.Second {
		t.Fatalf("503: %v (%+v)", err, ce)
	}
	bad, err := visastatus.New(func() partner.PartnerConfig {
		cfg := simtest.PartnerConfig(t, sim, visastatus.Protocol)
		cfg.Credentials = map[string]string{"clientId": "ID", "clientSecret": "WRONG"}
		return cfg
	}(), partner.Deps{LookupEnv: func(k string) (string, bool) { return "nope-" + k, true }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.Check(t.Context(), request("X1"))
	if !errs.Is(err, errs.Unauthenticated) || !asCallError(err, &ce) || ce.Code != "invalid_client" {
		t.Fatalf("bad client secret: %v", err)
	}
}

func asCallError(err error, ce **partner.CallError) bool {
	return err != nil && errors.As(err, ce)
}

func TestTokenExpiryAndRefresh(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t)
	c, _ := newClient(t, sim)
	if _, err := c.Check(t.Context(), request("X1")); err != nil {
		t.Fatal(err)
	}
	// The simulator's clock moves past the token's one-hour life; the
	// client still thinks it valid, gets 401 invalid_token, and fetches a
	// new one.
	simtest.Admin(t, sim, http.MethodPost, "/clock", map[string]string{"advance": "2h"})
	if _, err := c.Check(t.Context(), request("X2")); err != nil {
		t.Fatalf("after token expiry: %v", err)
	}
	simtest.Admin(t, sim, http.MethodPost, "/visastatus/revoke-tokens", nil)
	if _, err := c.Check(t.Context(), request("X3")); err != nil {
		t.Fatalf("after revocation: %v", err)
	}
}

func TestRateLimitThroughResilience(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t)
	_, cfg := newClient(t, sim)
	c, _ := newClient(t, sim)
	r := partner.Wrap(c, cfg, nil, nil)
	// Token fetch and first enquiry pass; the next enquiry meets the
	// partner's limit, waits its Retry-After (1s) and succeeds.
	if err := sim.SetFault(partnersim.VisaStatus, partnersim.Fault{RateLimit: 1, Burst: 2}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for i := range 3 {
		if _, err := r.Check(ctx, request("X"+string(rune('A'+i)))); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	// With the wait capped below Retry-After, the caller gets RateLimited
	// and the seconds to wait.
	cfg.MaxRetryAfter = time.Millisecond
	if err := sim.SetFault(partnersim.VisaStatus, partnersim.Fault{RateLimit: 0.1, Burst: 1}); err != nil {
		t.Fatal(err)
	}
	r2 := partner.Wrap(c, cfg, nil, nil)
	var last error
	for i := range 3 {
		_, last = r2.Check(ctx, request("Y"+string(rune('A'+i))))
	}
	e, _ := errs.As(last)
	if e == nil || e.Kind != errs.RateLimited || e.RetryAfterSeconds < 1 {
		t.Fatalf("over the partner's limit: %v", last)
	}
}
