// Package visastatus is the client for the visa-status service: a
// synchronous JSON API, modelled on Australia's VEVO, that answers which visa
// a travel document holds, its dates and its conditions. Auth is OAuth 2.0
// client credentials; the client caches the token and fetches a new one when
// the service rejects it.
package visastatus

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/partner"
	"github.com/borderproof/borderproof/internal/risk"
)

// Protocol is the config protocol name.
const Protocol = "visastatus"

// requiredConditions lists, per product, visa conditions the product
// relies on: a health policy sold to a visa holder assumes condition 8501
// (the holder must keep adequate health insurance); without it the holder
// may be covered elsewhere and the policy is likely mis-sold.
var requiredConditions = map[partner.Product][]string{
	partner.ProductHealth: {ConditionHealthInsurance},
}

// Client talks to one visa-status service.
type Client struct {
	name, jurisdiction, base string
	http                     *http.Client
	tokens                   *tokenCache
}

var _ partner.Partner = (*Client)(nil)

// New builds a client. Credentials roles: clientId, clientSecret. Option
// tokenURL overrides base URL + /oauth2/token.
func New(cfg partner.PartnerConfig, deps partner.Deps) (*Client, error) {
	deps = deps.WithDefaults()
	id, err := cfg.Secret(deps, "clientId")
	if err != nil {
		return nil, err
	}
	secret, err := cfg.Secret(deps, "clientSecret")
	if err != nil {
		return nil, err
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	tokenURL := cfg.Options["tokenURL"]
	if tokenURL == "" {
		tokenURL = base + TokenPath
	}
	hc := &http.Client{Transport: partner.BaseTransport(deps)}
	return &Client{
		name: cfg.Name, jurisdiction: cfg.Jurisdiction, base: base, http: hc,
		tokens: &tokenCache{name: cfg.Name, http: hc, cc: clientcredentials.Config{
			ClientID: id, ClientSecret: secret, TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInHeader,
		}},
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

// IdempotentCheck: the enquiry reference is the check id, and the service
// answers a repeated reference with the first answer.
func (c *Client) IdempotentCheck() bool { return true }

// Poll is not supported: the service answers at once.
func (c *Client) Poll(context.Context, string) (partner.Result, error) {
	return partner.Result{}, errs.E(errs.FailedPrecondition, "visa status enquiries are synchronous")
}

// Check asks which visa the request's travel document holds.
func (c *Client) Check(ctx context.Context, req partner.Request) (partner.Result, error) {
	if req.ConsentReference == "" {
		return partner.Result{}, errs.E(errs.Invalid, "visa status enquiry needs a consent reference")
	}
	if req.Document.Number == "" || req.Subject.DateOfBirth.IsZero() {
		return partner.Result{}, errs.E(errs.Invalid, "visa status enquiry needs document number and date of birth")
	}
	body := EnquiryRequest{
		EnquiryReference: req.CheckID,
		ConsentReference: req.ConsentReference,
		Person:           Person{DateOfBirth: req.Subject.DateOfBirth.Format(time.DateOnly)},
		TravelDocument: TravelDocument{Type: req.Document.Type, Number: req.Document.Number,
			CountryOfIssue: req.Document.IssuingCountry},
	}
	raw, err := c.post(ctx, body, false)
	if errs.Is(err, errs.Unauthenticated) {
		// The token expired or was revoked before its stated expiry:
		// fetch a new one once.
		raw, err = c.post(ctx, body, true)
	}
	if err != nil {
		return partner.Result{}, err
	}
	var resp EnquiryResponse
	if err := json.Unmarshal(raw, &resp); err != nil {
		return partner.Result{}, partner.DecodeError(c.name, err)
	}
	res := Interpret(resp, req)
	res.Evidence = raw
	return res, nil
}

func (c *Client) post(ctx context.Context, body EnquiryRequest, refresh bool) ([]byte, error) {
	tok, err := c.tokens.get(ctx, refresh)
	if err != nil {
		return nil, err
	}
	hreq, _, err := partner.NewJSONRequest(ctx, http.MethodPost, c.base+EnquiryPath, body)
	if err != nil {
		return nil, err
	}
	tok.SetAuthHeader(hreq)
	hreq.Header.Set("Idempotency-Key", body.EnquiryReference)
	raw, _, err := partner.Exchange(c.http, hreq, c.name, errorCode)
	return raw, err
}

// errorCode reads either dialect: {"errors":[{"code":...}]} or the OAuth
// {"error":"invalid_token"}.
func errorCode(_ int, body []byte) string {
	var e struct {
		ErrorResponse
		TokenError
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	if len(e.Errors) > 0 {
		return e.Errors[0].Code
	}
	return e.TokenError.Error
}

// Interpret turns an answer into signals, judged at the service's
// CheckedAt time against the request's product and policy dates.
func Interpret(resp EnquiryResponse, req partner.Request) partner.Result {
	v := resp.Visa
	res := partner.Result{
		Reference: resp.EnquiryID,
		Billable:  true,
		Detail:    map[string]string{"visaStatus": v.Status},
	}
	if v.Subclass != "" {
		res.Detail["visaSubclass"] = v.Subclass
	}
	if len(v.Conditions) > 0 {
		codes := make([]string, len(v.Conditions))
		for i, cnd := range v.Conditions {
			codes[i] = cnd.Code
		}
		res.Detail["visaConditions"] = strings.Join(codes, ",")
	}
	asAt := resp.CheckedAt
	if asAt.IsZero() {
		asAt = time.Now()
	}
	expiry, _ := time.Parse(time.DateOnly, v.ExpiryDate)
	var sig []risk.Signal
	add := func(code risk.SignalCode, detail map[string]string) {
		sig = append(sig, risk.Signal{Code: code, CheckID: req.CheckID, CheckType: string(partner.CheckImmigrationStatus), Detail: detail})
	}
	switch v.Status {
	case StatusNoVisaFound:
		add(risk.SignalNoValidVisa, nil)
	case StatusCeased:
		if !expiry.IsZero() && expiry.Before(asAt) {
			add(risk.SignalVisaExpired, nil)
		} else {
			add(risk.SignalNoValidVisa, map[string]string{"visaStatus": v.Status})
		}
	case StatusInEffect:
		switch {
		case !expiry.IsZero() && expiry.Before(asAt):
			add(risk.SignalVisaExpired, nil)
		case !expiry.IsZero() && !req.PolicyEnd.IsZero() && expiry.Before(req.PolicyEnd):
			add(risk.SignalVisaExpiresBeforePolicy, nil)
		case !expiry.IsZero() && req.PolicyEnd.IsZero() && !req.PolicyStart.IsZero() && expiry.Before(req.PolicyStart):
			add(risk.SignalVisaExpiresBeforePolicy, nil)
		}
		for _, need := range requiredConditions[req.Product] {
			if !slices.ContainsFunc(v.Conditions, func(c Condition) bool { return c.Code == need }) {
				add(risk.SignalVisaConditionConflict, map[string]string{"missingCondition": need, "product": string(req.Product)})
			}
		}
	default:
		add(risk.SignalStatusUnverified, map[string]string{"visaStatus": v.Status})
	}
	res.Signals = sig
	res.Outcome = partner.OutcomeFor(sig, risk.SignalNoValidVisa, risk.SignalVisaExpired)
	return res
}

// tokenCache holds one access token and fetches a new one when it is
// expired or the service rejected it.
type tokenCache struct {
	name string
	http *http.Client
	cc   clientcredentials.Config

	mu  sync.Mutex
	tok *oauth2.Token
}

func (t *tokenCache) get(ctx context.Context, refresh bool) (*oauth2.Token, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !refresh && t.tok.Valid() {
		return t.tok, nil
	}
	tok, err := t.cc.Token(context.WithValue(ctx, oauth2.HTTPClient, t.http))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil {
			code := re.ErrorCode
			return nil, partner.StatusError(t.name, re.Response.StatusCode, code, re.Response.Header)
		}
		return nil, partner.TransportError(t.name, err)
	}
	t.tok = tok
	return tok, nil
}
