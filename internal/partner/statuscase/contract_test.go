package statuscase_test

import (
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/partner"
	"github.com/borderproof/borderproof/internal/partner/statuscase"
	"github.com/borderproof/borderproof/internal/partnersim"
	"github.com/borderproof/borderproof/internal/partnersim/simtest"
	"github.com/borderproof/borderproof/internal/risk"
)

func request(number string) partner.Request {
	return partner.Request{
		CheckID: "chk_" + number + "_" + time.Now().Format("150405.000000000"), CheckType: partner.CheckImmigrationStatus,
		Subject:  partner.Subject{GivenNames: "ANA", Surname: "SILVA", DateOfBirth: time.Date(1991, 2, 3, 0, 0, 0, 0, time.UTC)},
		Document: partner.Document{Type: "PASSPORT", Number: number, IssuingCountry: "BRA"},
		Product:  partner.ProductHealth, CoverageCountry: "USA",
	}
}

func newClient(t *testing.T, sim *partnersim.Sim) *statuscase.Client {
	t.Helper()
	c, err := statuscase.New(simtest.PartnerConfig(t, sim, statuscase.Protocol), sim.Deps(nil))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func codes(r partner.Result) []risk.SignalCode {
	var out []risk.SignalCode
	for _, s := range r.Signals {
		out = append(out, s.Code)
	}
	return out
}

func TestCaseLifecycle(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t, func(c *partnersim.Config) { c.CaseInitialDelay = 2 * time.Second })
	c := newClient(t, sim)
	cases := []struct {
		number  string
		want    []risk.SignalCode
		outcome partner.Outcome
	}{
		{"FS1234567", nil, partner.OutcomeClear},
		{partnersim.MagicNoVisa, []risk.SignalCode{risk.SignalNoValidVisa}, partner.OutcomeAlert},
		{partnersim.MagicVisaExpired, []risk.SignalCode{risk.SignalVisaExpired}, partner.OutcomeAlert},
		{partnersim.MagicResubmit, []risk.SignalCode{risk.SignalStatusUnverified}, partner.OutcomeConsider},
	}
	refs := make([]string, len(cases))
	for i, tc := range cases {
		res, err := c.Check(t.Context(), request(tc.number))
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != partner.OutcomeAwaiting || res.Reference == "" || res.PollAfter.IsZero() || res.Billable {
			t.Fatalf("%s: opened case = %+v; want AWAITING with a case number", tc.number, res)
		}
		refs[i] = res.Reference
	}
	// Still pending on the simulator's clock.
	if res, err := c.Poll(t.Context(), refs[0]); err != nil || res.Outcome != partner.OutcomeAwaiting {
		t.Fatalf("poll before initial delay: %+v %v", res, err)
	}
	simtest.Admin(t, sim, http.MethodPost, "/clock", map[string]string{"advance": "3s"})
	for i, tc := range cases {
		res, err := c.Poll(t.Context(), refs[i])
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != tc.outcome || !slices.Equal(codes(res), tc.want) || !res.Billable {
			t.Errorf("%s: %s %v; want %s %v", tc.number, res.Outcome, codes(res), tc.outcome, tc.want)
		}
	}
}

func TestAdditionalVerificationResolvesWithClock(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t)
	c := newClient(t, sim)
	res, err := c.Check(t.Context(), request(partnersim.MagicSlowCase))
	if err != nil {
		t.Fatal(err)
	}
	ref := res.Reference
	res, err = c.Poll(t.Context(), ref)
	if err != nil || res.Outcome != partner.OutcomeAwaiting || res.Detail["caseStatus"] != statuscase.StatusAdditionalVerification {
		t.Fatalf("slow case: %+v %v", res, err)
	}
	if res.Detail["estimatedCompletion"] == "" {
		t.Fatal("no estimated completion")
	}
	// Two days on: still in additional verification (three working days).
	simtest.Admin(t, sim, http.MethodPost, "/clock", map[string]string{"advance": "26h"})
	if res, _ = c.Poll(t.Context(), ref); res.Outcome != partner.OutcomeAwaiting {
		t.Fatalf("resolved after one day: %+v", res)
	}
	simtest.Admin(t, sim, http.MethodPost, "/clock", map[string]string{"advance": "120h"})
	res, err = c.Poll(t.Context(), ref)
	if err != nil || res.Outcome != partner.OutcomeClear || res.Detail["caseStatus"] != statuscase.StatusVerified {
		t.Fatalf("after five more days: %+v %v", res, err)
	}
}

func TestPopulationSlowCase(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t, func(c *partnersim.Config) {
		c.Mix = partnersim.Mix{partnersim.LabelSlowCase: 1}
		c.Population = 3
	})
	c := newClient(t, sim)
	p := sim.Population().People[0]
	req := request(p.Passport.Number)
	req.Subject.DateOfBirth, req.Document.IssuingCountry = p.DateOfBirth, p.Passport.IssuingCountry
	res, err := c.Check(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := c.Poll(t.Context(), res.Reference); res.Detail["caseStatus"] != statuscase.StatusAdditionalVerification {
		t.Fatalf("SLOW_CASE person: %+v", res)
	}
}

func TestIdempotentInitiate(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t)
	c := newClient(t, sim)
	req := request("FS7777777")
	a, err := c.Check(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Check(t.Context(), req)
	if err != nil || a.Reference != b.Reference {
		t.Fatalf("second initiate with the same check id opened case %q, first %q (%v)", b.Reference, a.Reference, err)
	}
	req.Document.Number = "FS8888888"
	var ce *partner.CallError
	if _, err := c.Check(t.Context(), req); !errs.Is(err, errs.Conflict) || !errors.As(err, &ce) || ce.Code != "E3001" {
		t.Fatalf("check id reused for another case: %v", err)
	}
}

func TestErrorDialect(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t)
	c := newClient(t, sim)
	var ce *partner.CallError
	if _, err := c.Poll(t.Context(), "SAV0000000000999"); !errs.Is(err, errs.NotFound) || !errors.As(err, &ce) || ce.Code != "E4004" {
		t.Fatalf("unknown case: %v", err)
	}
	if _, err := c.Check(t.Context(), request(partnersim.MagicUnavailable)); !errs.Is(err, errs.Unavailable) || !errors.As(err, &ce) || ce.Code != "E5030" {
		t.Fatalf("503: %v", err)
	}
	cfg := simtest.PartnerConfig(t, sim, statuscase.Protocol)
	bad, err := statuscase.New(cfg, partner.Deps{LookupEnv: func(string) (string, bool) { return "wrong", true }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Check(t.Context(), request("FS1")); !errs.Is(err, errs.Unauthenticated) || !errors.As(err, &ce) || ce.Code != "E1002" {
		t.Fatalf("bad key: %v", err)
	}
	if err := sim.SetFault(partnersim.StatusCase, partnersim.Fault{RateLimit: 0.01, Burst: 1}); err != nil {
		t.Fatal(err)
	}
	_, _ = c.Check(t.Context(), request("FS2"))
	_, err = c.Check(t.Context(), request("FS3"))
	if !errs.Is(err, errs.RateLimited) || !errors.As(err, &ce) || ce.Code != "E4290" || ce.RetryAfter < time.Second {
		t.Fatalf("429: %v", err)
	}
	if e, _ := errs.As(err); e.RetryAfterSeconds < 1 {
		t.Fatalf("RetryAfterSeconds = %d", e.RetryAfterSeconds)
	}
}
