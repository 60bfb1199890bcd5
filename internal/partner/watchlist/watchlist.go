// Package watchlist is the client for the watchlist screening service:
// name, date of birth and nationality screened against sanctions lists.
// Auth is a static API token ("Authorization: Token …").
package watchlist

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/partner"
	"github.com/borderproof/borderproof/internal/risk"
)

// Protocol is the config protocol name.
const Protocol = "watchlist"

// Default thresholds (options strongThreshold and weakThreshold).
const (
	DefaultStrong = 0.92
	DefaultWeak   = 0.85
)

// Client talks to one screening service.
type Client struct {
	name, jurisdiction, base, token string
	strong, weak                    float64
	http                            *http.Client
}

var _ partner.Partner = (*Client)(nil)

// New builds a client. Credentials role: apiToken.
func New(cfg partner.PartnerConfig, deps partner.Deps) (*Client, error) {
	deps = deps.WithDefaults()
	tok, err := cfg.Secret(deps, "apiToken")
	if err != nil {
		return nil, err
	}
	c := &Client{name: cfg.Name, jurisdiction: cfg.Jurisdiction, base: strings.TrimRight(cfg.BaseURL, "/"), token: tok,
		strong: DefaultStrong, weak: DefaultWeak, http: &http.Client{Transport: partner.BaseTransport(deps)}}
	for key, dst := range map[string]*float64{"strongThreshold": &c.strong, "weakThreshold": &c.weak} {
		if v, ok := cfg.Options[key]; ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f <= 0 || f > 1 {
				return nil, errs.E(errs.Invalid, "partner %s: options.%s must be in (0,1]", cfg.Name, key)
			}
			*dst = f
		}
	}
	if c.weak > c.strong {
		return nil, errs.E(errs.Invalid, "partner %s: weakThreshold above strongThreshold", cfg.Name)
	}
	return c, nil
}

// Factory builds a client for the registry.
func Factory(cfg partner.PartnerConfig, deps partner.Deps) (partner.Partner, error) {
	return New(cfg, deps)
}

// Name implements partner.Partner.
func (c *Client) Name() string { return c.name }

// Jurisdiction implements partner.Partner.
func (c *Client) Jurisdiction() string { return c.jurisdiction }

// IdempotentCheck: screening is read-only.
func (c *Client) IdempotentCheck() bool { return true }

// Poll is not supported: screening answers at once.
func (c *Client) Poll(context.Context, string) (partner.Result, error) {
	return partner.Result{}, errs.E(errs.FailedPrecondition, "screening is synchronous")
}

// Check screens the subject.
func (c *Client) Check(ctx context.Context, req partner.Request) (partner.Result, error) {
	if req.Subject.Surname == "" && req.Subject.GivenNames == "" {
		return partner.Result{}, errs.E(errs.Invalid, "screening needs a name")
	}
	body := ScreenRequest{Reference: req.CheckID, MinScore: c.weak, Subject: Subject{
		GivenNames: req.Subject.GivenNames, Surname: req.Subject.Surname, Nationality: req.Subject.Nationality}}
	if !req.Subject.DateOfBirth.IsZero() {
		body.Subject.DateOfBirth = req.Subject.DateOfBirth.Format(time.DateOnly)
	}
	hreq, _, err := partner.NewJSONRequest(ctx, http.MethodPost, c.base+ScreenPath, body)
	if err != nil {
		return partner.Result{}, err
	}
	hreq.Header.Set("Authorization", "Token "+c.token)
	raw, _, err := partner.Exchange(c.http, hreq, c.name, func(status int, b []byte) string {
		// This dialect has no codes: name the error by its status.
		return "HTTP-" + strconv.Itoa(status)
	})
	if err != nil {
		return partner.Result{}, err
	}
	var sr ScreenResponse
	if err := json.Unmarshal(raw, &sr); err != nil {
		return partner.Result{}, partner.DecodeError(c.name, err)
	}
	res := c.Interpret(sr, req.CheckID)
	res.Evidence = raw
	return res, nil
}

// Interpret turns candidates into at most one signal, for the best
// candidate: STRONG at or above the strong threshold, or at or above the
// weak one when both the date of birth and the nationality match (two
// identifiers beside the name confirm it: a misspelt listed name is still
// the listed person); WEAK at or above the weak threshold otherwise. The
// listed entity's id is public list data, not the subject's.
func (c *Client) Interpret(sr ScreenResponse, checkID string) partner.Result {
	res := partner.Result{Reference: sr.Reference, Billable: true, Detail: map[string]string{
		"listVersion": sr.ListVersion, "candidates": strconv.Itoa(len(sr.Candidates)),
	}}
	var best *Candidate
	for i := range sr.Candidates {
		if best == nil || sr.Candidates[i].Score > best.Score {
			best = &sr.Candidates[i]
		}
	}
	if best != nil && best.Score >= c.weak {
		code := risk.SignalWatchlistWeak
		if best.Score >= c.strong || best.DateOfBirthMatch == MatchMatched && best.NationalityMatch == MatchMatched {
			code = risk.SignalWatchlistStrong
		}
		res.Signals = []risk.Signal{{Code: code, CheckID: checkID, CheckType: string(partner.CheckWatchlist), Strength: best.Score,
			Detail: map[string]string{"listVersion": sr.ListVersion, "listName": best.ListName, "entityId": best.EntityID,
				"score": strconv.FormatFloat(best.Score, 'f', 3, 64)}}}
	}
	res.Outcome = partner.OutcomeFor(res.Signals, risk.SignalWatchlistStrong)
	return res
}
