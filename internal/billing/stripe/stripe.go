// Package stripe implements billing.Stripe with stripe-go (Billing Meters,
// customers, invoice previews). Each Client is built from its own Config
// with client.API.Init, never the library's global key or backends, so the
// live-mode and test-mode clients (and tests against stripe-mock) live side
// by side. Stripe's errors become internal/errs kinds in one place,
// translate.
package stripe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/borderproof/borderproof/internal/billing"
	"github.com/borderproof/borderproof/internal/errs"
)

// Config configures one client.
type Config struct {
	// APIKey is a secret or restricted key (sk_… or rk_…).
	APIKey string
	// APIBase replaces https://api.stripe.com (stripe-mock in tests).
	APIBase string
	// TestModeOnly refuses a live-mode key: the client that receives
	// sandbox usage sets it, so sandbox usage can never reach live mode.
	TestModeOnly bool
	// HTTPClient is the transport; a client with a 30s timeout when nil.
	HTTPClient *http.Client
}

// Validate names the bad setting.
func (c Config) Validate() error {
	var f errs.Fields
	switch {
	case c.APIKey == "":
		f.Add("stripe.apiKey", "is required")
	case !strings.HasPrefix(c.APIKey, "sk_") && !strings.HasPrefix(c.APIKey, "rk_"):
		f.Add("stripe.apiKey", "must be a secret (sk_) or restricted (rk_) key")
	case c.TestModeOnly && LiveKey(c.APIKey):
		f.Add("stripe.apiKey", "must be a test-mode key: sandbox usage never goes to Stripe live mode")
	}
	if c.APIBase != "" {
		u, err := url.Parse(c.APIBase)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			f.Add("stripe.apiBase", "must be an http(s) origin such as https://api.stripe.com")
		}
	}
	return f.Err()
}

// LiveKey reports whether key is a live-mode key.
func LiveKey(key string) bool {
	return strings.HasPrefix(key, "sk_live_") || strings.HasPrefix(key, "rk_live_")
}

// Client talks to one Stripe account in one mode.
type Client struct {
	api     *client.API
	backend stripego.Backend
	key     string
	log     *slog.Logger
}

var _ billing.Stripe = (*Client)(nil)

// New builds a client. Retries are billing's business (it honours
// Retry-After and rate limits across requests), so stripe-go's own network
// retries are off.
func New(cfg Config, log *slog.Logger) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	bc := &stripego.BackendConfig{
		HTTPClient:        hc,
		MaxNetworkRetries: stripego.Int64(0),
		EnableTelemetry:   stripego.Bool(false),
		LeveledLogger:     slogLogger{log},
	}
	if cfg.APIBase != "" {
		bc.URL = stripego.String(strings.TrimSuffix(cfg.APIBase, "/"))
	}
	backend := stripego.GetBackendWithConfig(stripego.APIBackend, bc)
	api := &client.API{}
	api.Init(cfg.APIKey, &stripego.Backends{API: backend, Connect: backend, Uploads: backend})
	return &Client{api: api, backend: backend, key: cfg.APIKey, log: log}, nil
}

// Customer mapping and value keys of the meters Setup creates.
const (
	payloadCustomer = "stripe_customer_id"
	payloadValue    = "value"
)

// EnsureMeter implements billing.Stripe.
func (c *Client) EnsureMeter(ctx context.Context, m billing.Meter) (string, error) {
	lp := &stripego.BillingMeterListParams{Status: stripego.String(string(stripego.BillingMeterStatusActive))}
	lp.Context = ctx
	lp.Limit = stripego.Int64(100)
	it := c.api.BillingMeters.List(lp)
	for it.Next() {
		if mt := it.BillingMeter(); mt.EventName == string(m) {
			return mt.ID, nil
		}
	}
	if err := it.Err(); err != nil {
		return "", translate(err)
	}
	p := &stripego.BillingMeterParams{
		DisplayName:        stripego.String(displayName(m)),
		EventName:          stripego.String(string(m)),
		DefaultAggregation: &stripego.BillingMeterDefaultAggregationParams{Formula: stripego.String("sum")},
		CustomerMapping: &stripego.BillingMeterCustomerMappingParams{
			Type: stripego.String("by_id"), EventPayloadKey: stripego.String(payloadCustomer)},
		ValueSettings: &stripego.BillingMeterValueSettingsParams{EventPayloadKey: stripego.String(payloadValue)},
	}
	p.Context = ctx
	p.SetIdempotencyKey("meter-" + string(m))
	mt, err := c.api.BillingMeters.New(p)
	if err != nil {
		return "", translate(err)
	}
	return mt.ID, nil
}

func displayName(m billing.Meter) string {
	s := strings.ReplaceAll(string(m), "_", " ")
	return strings.ToUpper(s[:1]) + s[1:]
}

// EnsureCustomer implements billing.Stripe: the insurer id is the
// idempotency key and the customer's insurer_id metadata. The name is the
// insurer's company name, not personal data.
func (c *Client) EnsureCustomer(ctx context.Context, insurerID, name string) (string, error) {
	p := &stripego.CustomerParams{Name: stripego.String(name)}
	p.Context = ctx
	p.AddMetadata("insurer_id", insurerID)
	p.SetIdempotencyKey(insurerID)
	cu, err := c.api.Customers.New(p)
	if err != nil {
		return "", translate(err)
	}
	return cu.ID, nil
}

// SendMeterEvent implements billing.Stripe.
func (c *Client) SendMeterEvent(ctx context.Context, e billing.MeterEvent) error {
	p := &stripego.BillingMeterEventParams{
		EventName:  stripego.String(e.EventName),
		Identifier: stripego.String(e.Identifier),
		Payload:    map[string]string{payloadCustomer: e.CustomerID, payloadValue: strconv.FormatInt(e.Value, 10)},
		Timestamp:  stripego.Int64(e.Timestamp.Unix()),
	}
	p.Context = ctx
	_, err := c.api.BillingMeterEvents.New(p)
	if err != nil && duplicateEvent(err) {
		return nil
	}
	return translate(err)
}

// duplicateEvent recognises Stripe's refusal of an identifier it already
// holds: the event was recorded by an earlier attempt.
func duplicateEvent(err error) bool {
	var se *stripego.Error
	if !errors.As(err, &se) || se.HTTPStatusCode != http.StatusBadRequest {
		return false
	}
	msg := strings.ToLower(se.Msg)
	return se.Code == "duplicate_meter_event" || (strings.Contains(msg, "identifier") && strings.Contains(msg, "already exists"))
}

// MeterEventSummary implements billing.Stripe.
func (c *Client) MeterEventSummary(ctx context.Context, meterID, customerID string, start, end time.Time) (int64, error) {
	p := &stripego.BillingMeterEventSummaryListParams{
		ID:        stripego.String(meterID),
		Customer:  stripego.String(customerID),
		StartTime: stripego.Int64(start.Unix()),
		EndTime:   stripego.Int64(end.Unix()),
	}
	p.Context = ctx
	it := c.api.BillingMeterEventSummaries.List(p)
	var total float64
	for it.Next() {
		total += it.BillingMeterEventSummary().AggregatedValue
	}
	if err := it.Err(); err != nil {
		return 0, translate(err)
	}
	if math.IsNaN(total) || math.IsInf(total, 0) || math.Abs(total) > 1<<53 {
		return 0, errs.E(errs.Internal, "Stripe returned an unusable meter summary")
	}
	return int64(math.Round(total)), nil
}

// previewParams is POST /v1/invoices/create_preview, which stripe-go v76
// predates (its GET /v1/invoices/upcoming is gone from current API
// versions).
type previewParams struct {
	stripego.Params `form:"*"`
	Customer        *string `form:"customer"`
}

// PreviewInvoice implements billing.Stripe.
func (c *Client) PreviewInvoice(ctx context.Context, customerID string) (billing.StripeInvoice, error) {
	p := &previewParams{Customer: stripego.String(customerID)}
	p.Context = ctx
	var inv stripego.Invoice
	if err := c.backend.Call(http.MethodPost, "/v1/invoices/create_preview", c.key, p, &inv); err != nil {
		return billing.StripeInvoice{}, translate(err)
	}
	out := billing.StripeInvoice{
		ID:          inv.ID,
		Currency:    strings.ToUpper(string(inv.Currency)),
		Subtotal:    inv.Subtotal,
		Total:       inv.Total,
		PeriodStart: time.Unix(inv.PeriodStart, 0).UTC(),
		PeriodEnd:   time.Unix(inv.PeriodEnd, 0).UTC(),
	}
	if inv.Lines != nil {
		for _, l := range inv.Lines.Data {
			line := billing.InvoiceLine{Description: l.Description, Quantity: l.Quantity, Amount: l.Amount,
				Currency: strings.ToUpper(string(l.Currency))}
			if l.Price != nil && l.Price.Recurring != nil {
				line.StripeMeterID = l.Price.Recurring.Meter
			}
			out.Lines = append(out.Lines, line)
		}
	}
	return out, nil
}

// translate is the one place Stripe's errors become error kinds. Messages
// are safe to show: we never send Stripe personal data.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var se *stripego.Error
	if !errors.As(err, &se) {
		return errs.Wrap(err, errs.Unavailable, "Stripe could not be reached")
	}
	switch code := se.HTTPStatusCode; {
	case code == http.StatusTooManyRequests:
		e := errs.Wrap(err, errs.RateLimited, "Stripe's rate limit was reached")
		e.RetryAfterSeconds = retryAfter(se)
		return e
	case code == http.StatusConflict:
		// A concurrent request on the same object (lock timeout): retry.
		return errs.Wrap(err, errs.Unavailable, "Stripe is busy with a conflicting request")
	case code >= 500:
		e := errs.Wrap(err, errs.Unavailable, "Stripe is unavailable")
		e.RetryAfterSeconds = retryAfter(se)
		return e
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return errs.Wrap(err, errs.FailedPrecondition, "Stripe refused the API key")
	case code == http.StatusNotFound:
		return errs.Wrap(err, errs.NotFound, "Stripe object not found")
	case code == 0:
		return errs.Wrap(err, errs.Unavailable, "Stripe answered unexpectedly")
	}
	msg := "Stripe refused the request"
	if se.Msg != "" {
		m := se.Msg
		if len(m) > 200 {
			m = m[:200]
		}
		msg = fmt.Sprintf("%s: %s", msg, m)
	}
	return errs.Wrap(err, errs.Invalid, msg)
}

func retryAfter(se *stripego.Error) int {
	if se.LastResponse == nil {
		return 0
	}
	v := se.LastResponse.Header.Get("Retry-After")
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return min(n, 300)
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return min(int(math.Ceil(d.Seconds())), 300)
		}
	}
	return 0
}

// slogLogger routes stripe-go's own log lines to slog at debug level: the
// caller logs the classified outcome.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Debugf(format string, v ...any) {
	s.l.Debug("stripe: " + fmt.Sprintf(format, v...))
}
func (s slogLogger) Infof(format string, v ...any) { s.l.Debug("stripe: " + fmt.Sprintf(format, v...)) }
func (s slogLogger) Warnf(format string, v ...any) { s.l.Debug("stripe: " + fmt.Sprintf(format, v...)) }
func (s slogLogger) Errorf(format string, v ...any) {
	s.l.Debug("stripe: " + fmt.Sprintf(format, v...))
}

// ModesConfig is the Stripe configuration of the service: one key for live
// usage and an optional test-mode key for sandbox usage.
type ModesConfig struct {
	// APIKey receives LIVE usage (BORDERPROOF_STRIPE_API_KEY); empty keeps
	// all usage in the ledger.
	APIKey string
	// TestAPIKey receives TEST usage (BORDERPROOF_STRIPE_TEST_API_KEY); it
	// must be a test-mode key. Empty keeps sandbox usage in the ledger.
	TestAPIKey string
	// APIBase replaces https://api.stripe.com for both
	// (BORDERPROOF_STRIPE_API_BASE).
	APIBase    string
	HTTPClient *http.Client
}

// NewStripes builds the clients of the configured modes.
func NewStripes(cfg ModesConfig, log *slog.Logger) (billing.Stripes, error) {
	var out billing.Stripes
	if cfg.APIKey != "" {
		c, err := New(Config{APIKey: cfg.APIKey, APIBase: cfg.APIBase, HTTPClient: cfg.HTTPClient}, log)
		if err != nil {
			return out, err
		}
		out.Live = c
	}
	if cfg.TestAPIKey != "" {
		c, err := New(Config{APIKey: cfg.TestAPIKey, APIBase: cfg.APIBase, HTTPClient: cfg.HTTPClient, TestModeOnly: true}, log)
		if err != nil {
			return out, err
		}
		out.Test = c
	}
	return out, nil
}
