// Package statuscase is the client for the status-case service, an
// asynchronous immigration-status verification modelled on US SAVE: Check
// opens a case (idempotent on the check id) and returns AWAITING with the
// case number; Poll asks again until the case is resolved. Auth is an API
// key header.
package statuscase

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/partner"
	"github.com/borderproof/borderproof/internal/risk"
)

// Protocol is the config protocol name.
const Protocol = "statuscase"

// Client talks to one status-case service.
type Client struct {
	name, jurisdiction, base, key string
	http                          *http.Client
	now                           func() time.Time
}

var _ partner.Partner = (*Client)(nil)

// New builds a client. Credentials role: apiKey.
func New(cfg partner.PartnerConfig, deps partner.Deps) (*Client, error) {
	deps = deps.WithDefaults()
	key, err := cfg.Secret(deps, "apiKey")
	if err != nil {
		return nil, err
	}
	return &Client{name: cfg.Name, jurisdiction: cfg.Jurisdiction, base: strings.TrimRight(cfg.BaseURL, "/"), key: key,
		http: &http.Client{Transport: partner.BaseTransport(deps)}, now: deps.Now}, nil
}

// Factory builds a client for the registry.
func Factory(cfg partner.PartnerConfig, deps partner.Deps) (partner.Partner, error) {
	return New(cfg, deps)
}

// Name implements partner.Partner.
func (c *Client) Name() string { return c.name }

// Jurisdiction implements partner.Partner.
func (c *Client) Jurisdiction() string { return c.jurisdiction }

// IdempotentCheck: opening a case is keyed by the check id.
func (c *Client) IdempotentCheck() bool { return true }

// Check opens a case and returns AWAITING with the case number.
func (c *Client) Check(ctx context.Context, req partner.Request) (partner.Result, error) {
	if req.CheckID == "" || req.Document.Number == "" || req.Subject.Surname == "" || req.Subject.DateOfBirth.IsZero() {
		return partner.Result{}, errs.E(errs.Invalid, "status case needs check id, surname, date of birth and document number")
	}
	body := InitiateRequest{
		RequestID: req.CheckID,
		Applicant: Applicant{LastName: req.Subject.Surname, FirstName: req.Subject.GivenNames,
			DateOfBirth: req.Subject.DateOfBirth.Format(time.DateOnly)},
		Document: CaseDoc{TypeCode: req.Document.Type, Number: req.Document.Number, CountryOfIssuance: req.Document.IssuingCountry},
		Benefit:  "INSURANCE_" + string(req.Product),
	}
	hreq, _, err := partner.NewJSONRequest(ctx, http.MethodPost, c.base+CasesPath, body)
	if err != nil {
		return partner.Result{}, err
	}
	return c.do(hreq, req.CheckID)
}

// Poll asks about an open case.
func (c *Client) Poll(ctx context.Context, ref string) (partner.Result, error) {
	if ref == "" {
		return partner.Result{}, errs.E(errs.Invalid, "case number required")
	}
	hreq, _, err := partner.NewJSONRequest(ctx, http.MethodGet, c.base+CasesPath+"/"+url.PathEscape(ref), nil)
	if err != nil {
		return partner.Result{}, err
	}
	return c.do(hreq, "")
}

func (c *Client) do(hreq *http.Request, checkID string) (partner.Result, error) {
	hreq.Header.Set(APIKeyHeader, c.key)
	raw, _, err := partner.Exchange(c.http, hreq, c.name, func(_ int, body []byte) string {
		var f Fault
		if json.Unmarshal(body, &f) == nil {
			return f.Fault.FaultCode
		}
		return ""
	})
	if err != nil {
		return partner.Result{}, err
	}
	var cs Case
	if err := json.Unmarshal(raw, &cs); err != nil {
		return partner.Result{}, partner.DecodeError(c.name, err)
	}
	if checkID == "" {
		checkID = cs.RequestID
	}
	res := Interpret(cs, checkID, c.now())
	res.Evidence = raw
	return res, nil
}

// Interpret turns a case into a result; now is our clock, for PollAfter.
func Interpret(cs Case, checkID string, now time.Time) partner.Result {
	res := partner.Result{Reference: cs.CaseNumber, Detail: map[string]string{"caseStatus": cs.Status}}
	sig := func(code risk.SignalCode, detail map[string]string) risk.Signal {
		return risk.Signal{Code: code, CheckID: checkID, CheckType: string(partner.CheckImmigrationStatus), Detail: detail}
	}
	switch cs.Status {
	case StatusInitialPending, StatusAdditionalVerification:
		res.Outcome = partner.OutcomeAwaiting
		wait := time.Duration(cs.NextPollSeconds) * time.Second
		if wait <= 0 {
			wait = 30 * time.Second
		}
		res.PollAfter = now.Add(wait)
		if cs.EstimatedCompletion != nil {
			res.Detail["estimatedCompletion"] = cs.EstimatedCompletion.UTC().Format(time.RFC3339)
		}
		return res
	case StatusResubmit:
		res.Billable = true
		res.Signals = []risk.Signal{sig(risk.SignalStatusUnverified, map[string]string{"caseStatus": cs.Status})}
	case StatusVerified:
		res.Billable = true
		el := Eligibility{}
		if cs.Eligibility != nil {
			el = *cs.Eligibility
		}
		res.Detail["statement"] = el.Statement
		switch el.Statement {
		case StatementLawfulStatus:
			if until, err := time.Parse(time.DateOnly, el.AdmittedUntil); err == nil && until.Before(cs.AsOf) {
				res.Signals = append(res.Signals, sig(risk.SignalVisaExpired, nil))
			}
		case StatementNoLawfulStatus:
			res.Signals = append(res.Signals, sig(risk.SignalNoValidVisa, nil))
		default:
			res.Signals = append(res.Signals, sig(risk.SignalStatusUnverified, map[string]string{"statement": el.Statement}))
		}
	default:
		res.Signals = []risk.Signal{sig(risk.SignalStatusUnverified, map[string]string{"caseStatus": cs.Status})}
	}
	res.Outcome = partner.OutcomeFor(res.Signals, risk.SignalNoValidVisa, risk.SignalVisaExpired)
	return res
}
