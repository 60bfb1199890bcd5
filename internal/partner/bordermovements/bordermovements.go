// Package bordermovements is the client for the border-movements service:
// entries, exits and refusals recorded for a travel document (modelled on
// the EU Entry/Exit System), reached over mutual TLS.
package bordermovements

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/partner"
	"github.com/borderproof/borderproof/internal/risk"
)

// Protocol is the config protocol name.
const Protocol = "bordermovements"

// Client talks to one border-movements service.
type Client struct {
	name, jurisdiction, base string
	http                     *http.Client
}

var _ partner.Partner = (*Client)(nil)

// New builds a client. cfg.TLS must name the CA bundle and our client
// certificate (or hold them in memory).
func New(cfg partner.PartnerConfig, deps partner.Deps) (*Client, error) {
	deps = deps.WithDefaults()
	tc, err := partner.ClientTLS(cfg.TLS)
	if err != nil {
		return nil, err
	}
	var tr *http.Transport
	if base, ok := partner.BaseTransport(deps).(*http.Transport); ok {
		tr = base.Clone()
	} else {
		tr = partner.BaseTransport(partner.Deps{}).(*http.Transport)
	}
	tr.TLSClientConfig = tc
	return &Client{name: cfg.Name, jurisdiction: cfg.Jurisdiction, base: strings.TrimRight(cfg.BaseURL, "/"),
		http: &http.Client{Transport: tr}}, nil
}

// Factory builds a client for the registry.
func Factory(cfg partner.PartnerConfig, deps partner.Deps) (partner.Partner, error) {
	return New(cfg, deps)
}

// Name implements partner.Partner.
func (c *Client) Name() string { return c.name }

// Jurisdiction implements partner.Partner.
func (c *Client) Jurisdiction() string { return c.jurisdiction }

// IdempotentCheck: a query is read-only.
func (c *Client) IdempotentCheck() bool { return true }

// Poll is not supported: queries answer at once.
func (c *Client) Poll(context.Context, string) (partner.Result, error) {
	return partner.Result{}, errs.E(errs.FailedPrecondition, "travel-history queries are synchronous")
}

// Check asks for the document's travel history over the last 180 days.
func (c *Client) Check(ctx context.Context, req partner.Request) (partner.Result, error) {
	if req.Document.Number == "" || req.Document.IssuingCountry == "" {
		return partner.Result{}, errs.E(errs.Invalid, "travel-history query needs document number and issuing state")
	}
	q := Query{QueryID: req.CheckID, Nationality: req.Subject.Nationality, LookbackDays: 180,
		TravelDocument: TravelDocument{Number: req.Document.Number, IssuingState: req.Document.IssuingCountry}}
	hreq, _, err := partner.NewJSONRequest(ctx, http.MethodPost, c.base+QueryPath, q)
	if err != nil {
		return partner.Result{}, err
	}
	raw, _, err := partner.Exchange(c.http, hreq, c.name, func(_ int, b []byte) string {
		var e ErrorBody
		if json.Unmarshal(b, &e) == nil {
			return e.Error.Code
		}
		return ""
	})
	if err != nil {
		return partner.Result{}, err
	}
	var h History
	if err := json.Unmarshal(raw, &h); err != nil {
		return partner.Result{}, partner.DecodeError(c.name, err)
	}
	res := Interpret(h, req)
	res.Evidence = raw
	return res, nil
}

// Interpret turns a history into signals. NOT_PRESENT_IN_COVERAGE_COUNTRY
// is raised only for a Schengen coverage country when the record shows the
// person left the area and has not come back.
func Interpret(h History, req partner.Request) partner.Result {
	s := h.Summary
	res := partner.Result{Reference: h.QueryID, Billable: true, Detail: map[string]string{
		"daysInLast180": strconv.Itoa(s.DaysInLast180),
		"movements":     strconv.Itoa(len(h.Movements)),
	}}
	add := func(code risk.SignalCode, strength float64, detail map[string]string) {
		res.Signals = append(res.Signals, risk.Signal{Code: code, CheckID: req.CheckID,
			CheckType: string(partner.CheckBorderMovements), Strength: strength, Detail: detail})
	}
	if s.OverstayDays > 0 {
		add(risk.SignalOverstay, risk.OverstayStrength(s.OverstayDays), map[string]string{risk.DetailOverstayDays: strconv.Itoa(s.OverstayDays)})
	}
	if s.Refusals > 0 {
		add(risk.SignalRefusedEntry, 0, map[string]string{"refusals": strconv.Itoa(s.Refusals)})
	}
	if slices.Contains(Schengen, req.CoverageCountry) && s.LastCrossing != nil && !s.PresentInArea {
		add(risk.SignalNotInCountry, 0, map[string]string{"lastCrossing": s.LastCrossing.Type})
	}
	res.Outcome = partner.OutcomeFor(res.Signals, risk.SignalOverstay)
	return res
}
