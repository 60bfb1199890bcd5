// Package docregistry is the client for the document registry of lost,
// stolen, revoked and invalidated travel documents (modelled on INTERPOL
// SLTD through a national central bureau). Requests carry an API key id and
// an HMAC request signature. In privacy mode the registry receives only
// keyed digests of the document number and of the holder.
package docregistry

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
const Protocol = "docregistry"

// Client talks to one registry.
type Client struct {
	name, jurisdiction, base, path string
	keyID                          string
	secret                         []byte
	privacy                        bool
	http                           *http.Client
	now                            func() time.Time
}

var _ partner.Partner = (*Client)(nil)

// New builds a client. Credentials roles: keyId, signingSecret. Option
// privacyMode "true" (the default) refuses to send a clear number.
func New(cfg partner.PartnerConfig, deps partner.Deps) (*Client, error) {
	deps = deps.WithDefaults()
	keyID, err := cfg.Secret(deps, "keyId")
	if err != nil {
		return nil, err
	}
	secret, err := cfg.Secret(deps, "signingSecret")
	if err != nil {
		return nil, err
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	u, err := url.Parse(base + SearchPath)
	if err != nil {
		return nil, errs.Wrap(err, errs.Invalid, "bad registry URL")
	}
	return &Client{
		name: cfg.Name, jurisdiction: cfg.Jurisdiction, base: base, path: u.EscapedPath(),
		keyID: keyID, secret: []byte(secret), privacy: cfg.Options["privacyMode"] != "false",
		http: &http.Client{Transport: partner.BaseTransport(deps)}, now: deps.Now,
	}, nil
}

// Factory builds a client for the registry.
func Factory(cfg partner.PartnerConfig, deps partner.Deps) (partner.Partner, error) {
	return New(cfg, deps)
}

// Name implements partner.Partner.
func (c *Client) Name() string { return c.name }

// Jurisdiction implements partner.Partner.
func (c *Client) Jurisdiction() string { return c.jurisdiction }

// IdempotentCheck: a search is read-only.
func (c *Client) IdempotentCheck() bool { return true }

// Poll is not supported: searches answer at once.
func (c *Client) Poll(context.Context, string) (partner.Result, error) {
	return partner.Result{}, errs.E(errs.FailedPrecondition, "registry searches are synchronous")
}

// Check searches the request's document.
func (c *Client) Check(ctx context.Context, req partner.Request) (partner.Result, error) {
	doc := SearchDoc{IssuingCountry: req.Document.IssuingCountry, Type: req.Document.Type, NumberHMAC: req.Document.NumberBlinded}
	if c.privacy {
		if doc.NumberHMAC == "" {
			return partner.Result{}, errs.E(errs.Invalid, "registry privacy mode needs the blinded document number")
		}
	} else if doc.NumberHMAC == "" {
		doc.Number = req.Document.Number
	}
	if (doc.Number == "" && doc.NumberHMAC == "") || doc.IssuingCountry == "" {
		return partner.Result{}, errs.E(errs.Invalid, "registry search needs a document number and issuing country")
	}
	body := SearchRequest{SearchID: req.CheckID, Document: doc, HolderDigest: req.Subject.HolderBlinded}
	hreq, raw, err := partner.NewJSONRequest(ctx, http.MethodPost, c.base+SearchPath, body)
	if err != nil {
		return partner.Result{}, err
	}
	ts := c.now().UTC().Format(time.RFC3339)
	hreq.Header.Set(HeaderKeyID, c.keyID)
	hreq.Header.Set(HeaderTimestamp, ts)
	hreq.Header.Set(HeaderSignature, Sign(c.secret, http.MethodPost, c.path, ts, raw))
	resp, _, err := partner.Exchange(c.http, hreq, c.name, func(_ int, b []byte) string {
		var p Problem
		if json.Unmarshal(b, &p) == nil {
			return p.ErrorCode
		}
		return ""
	})
	if err != nil {
		return partner.Result{}, err
	}
	var sr SearchResponse
	if err := json.Unmarshal(resp, &sr); err != nil {
		return partner.Result{}, partner.DecodeError(c.name, err)
	}
	res := Interpret(sr, req.CheckID)
	res.Evidence = resp
	return res, nil
}

var hitSignals = map[string]risk.SignalCode{
	"STOLEN":      risk.SignalDocumentStolen,
	"LOST":        risk.SignalDocumentLost,
	"REVOKED":     risk.SignalDocumentRevoked,
	"INVALIDATED": risk.SignalDocumentInvalidated,
}

// Interpret turns a search answer into a result.
func Interpret(sr SearchResponse, checkID string) partner.Result {
	res := partner.Result{Reference: sr.SearchID, Billable: true,
		Detail: map[string]string{"result": sr.Result, "holderCheck": sr.HolderCheck}}
	add := func(code risk.SignalCode, detail map[string]string) {
		res.Signals = append(res.Signals, risk.Signal{Code: code, CheckID: checkID, CheckType: string(partner.CheckDocumentRegistry), Detail: detail})
	}
	if sr.Result == ResultHit && sr.Hit != nil {
		code, ok := hitSignals[sr.Hit.Reason]
		if !ok {
			code = risk.SignalDocumentInvalidated
		}
		d := map[string]string{"reason": sr.Hit.Reason, "reportedOn": sr.Hit.ReportedOn}
		if sr.Hit.ReportingCountry != "" {
			d["reportingCountry"] = sr.Hit.ReportingCountry
		}
		add(code, d)
	}
	if sr.HolderCheck == HolderMismatch {
		add(risk.SignalIdentityMismatch, nil)
	}
	res.Outcome = partner.OutcomeFor(res.Signals, risk.SignalDocumentStolen, risk.SignalDocumentLost,
		risk.SignalDocumentRevoked, risk.SignalDocumentInvalidated, risk.SignalIdentityMismatch)
	return res
}
