// Package console is the web app for an insurer's underwriters, finance
// staff and administrators, served by the api process under /console.
//
// Pages are rendered on the server with html/template; a small script adds
// live updates to the review queue. Everything (templates, styles, script)
// is embedded, nothing is loaded from elsewhere, and the Content-Security-
// Policy allows only the console's own origin with no inline script.
//
// The console holds no business rule of its own: a signed-in user becomes a
// tenant.Principal with the scopes of the user's role (package user), and
// every page calls the same domain services as the GraphQL API, which
// authorize by that principal.
package console

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/borderproof/borderproof/internal/audit"
	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/user"
	"github.com/borderproof/borderproof/internal/verification"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config tunes the console.
type Config struct {
	// Base is the path the console is mounted at (default "/console").
	Base string
	// Dev serves cookies without the Secure flag, for http://localhost.
	Dev bool
	// LivePoll is how often the review queue's live stream looks for
	// changes (default 3 seconds).
	LivePoll time.Duration
	// PageSize is the number of rows on list pages (default 50, at most 100).
	PageSize int
	Now      func() time.Time
}

// Verifications is what the console needs of verification.Service.
type Verifications interface {
	Get(ctx context.Context, id string) (verification.Verification, error)
	List(ctx context.Context, f verification.Filter, first int, after string) (verification.Page, error)
	Policyholder(ctx context.Context, verificationID, purpose, requestID string) (*verification.PII, error)
	ReviewQueue(ctx context.Context, first int, after string) (verification.Page, error)
	ResolveReview(ctx context.Context, verificationID, decision, note string) (verification.Verification, error)
	AuditLog(ctx context.Context, f audit.Filter, first int, after string) ([]audit.Entry, bool, error)
}

// Tenants is what the console needs of tenant.Service.
type Tenants interface {
	Insurer(ctx context.Context, id string) (tenant.Insurer, error)
	APIKeys(ctx context.Context, insurerID string) ([]tenant.APIKey, error)
	CreateKey(ctx context.Context, in tenant.CreateKeyInput) (tenant.APIKey, string, error)
	RevokeKey(ctx context.Context, insurerID, keyID string) error
}

// Settings stores an insurer's retention and defaults (tenant.Store).
type Settings interface {
	UpdateInsurerSettings(ctx context.Context, insurerID string, retentionDays int, s tenant.Settings) error
}

// Evidence links a verification's signed evidence bundle (evidence.Service).
type Evidence interface {
	SignedURL(ctx context.Context, insurerID, verificationID string, ttl time.Duration) (string, error)
}

// Deps are the console's collaborators. Verifications, Settings, Evidence,
// Billing, Webhooks and Policies are optional: a page whose service is
// missing says so.
type Deps struct {
	Users         *user.Service
	Tenants       Tenants
	Settings      Settings
	Verifications Verifications
	Evidence      Evidence
	Billing       Billing
	Webhooks      Webhooks
	Policies      Policies
	Log           *slog.Logger
}

// Console is the web app; it is an http.Handler.
type Console struct {
	cfg     Config
	d       Deps
	pages   map[string]*template.Template
	mux     *http.ServeMux
	assets  map[string]string // file name → URL with a content version
	cookie  string            // session cookie name
	precsrf string            // pre-session CSRF cookie name
}

// New builds the console.
func New(cfg Config, d Deps) (*Console, error) {
	if d.Users == nil || d.Tenants == nil || d.Log == nil {
		return nil, errors.New("console: Users, Tenants and Log are required")
	}
	if cfg.Base == "" {
		cfg.Base = "/console"
	}
	cfg.Base = "/" + strings.Trim(cfg.Base, "/")
	if cfg.LivePoll <= 0 {
		cfg.LivePoll = 3 * time.Second
	}
	if cfg.PageSize <= 0 || cfg.PageSize > verification.MaxPage {
		cfg.PageSize = 50
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Console{cfg: cfg, d: d, cookie: "__Host-bp_console", precsrf: "__Host-bp_console_csrf"}
	if cfg.Dev {
		c.cookie, c.precsrf = "bp_console", "bp_console_csrf"
	}
	var err error
	if c.assets, err = assetURLs(cfg.Base); err != nil {
		return nil, err
	}
	if c.pages, err = c.parseTemplates(); err != nil {
		return nil, err
	}
	c.mux = c.routes()
	return c, nil
}

// ServeHTTP serves the console with its security headers.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	if !c.cfg.Dev {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	c.mux.ServeHTTP(w, r)
}

func (c *Console) routes() *http.ServeMux {
	m := http.NewServeMux()
	b := c.cfg.Base
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix(b+"/static/", http.FileServerFS(static))
	m.Handle("GET "+b+"/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	}))
	m.HandleFunc("GET "+b+"/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, b+"/verifications", http.StatusSeeOther)
	})

	m.HandleFunc("GET "+b+"/signin", c.signInForm)
	m.HandleFunc("POST "+b+"/signin", c.signIn)
	m.HandleFunc("GET "+b+"/signin/code", c.codeForm)
	m.HandleFunc("POST "+b+"/signin/code", c.code)
	m.HandleFunc("GET "+b+"/invite/{token}", c.inviteForm)
	m.HandleFunc("POST "+b+"/invite/{token}", c.acceptInvite)
	m.Handle("POST "+b+"/signout", c.action(c.signOut))
	m.Handle("POST "+b+"/signout/everywhere", c.action(c.signOutEverywhere))
	m.Handle("POST "+b+"/mode", c.action(c.setMode))

	m.Handle("GET "+b+"/account", c.page(c.account))
	m.Handle("POST "+b+"/account/totp/start", c.action(c.totpStart))
	m.Handle("POST "+b+"/account/totp/confirm", c.action(c.totpConfirm))
	m.Handle("POST "+b+"/account/totp/disable", c.action(c.totpDisable))
	m.Handle("GET "+b+"/account/totp.png", c.page(c.totpQR))

	m.Handle("GET "+b+"/verifications", c.page(c.verifications))
	m.Handle("GET "+b+"/verifications/{id}", c.page(c.verification))
	m.Handle("POST "+b+"/verifications/{id}/reveal", c.action(c.reveal))
	m.Handle("GET "+b+"/verifications/{id}/evidence", c.page(c.evidence))

	m.Handle("GET "+b+"/reviews", c.page(c.reviews))
	m.Handle("GET "+b+"/reviews/events", c.page(c.reviewEvents))
	m.Handle("POST "+b+"/reviews/{id}", c.action(c.resolve))

	m.Handle("GET "+b+"/audit", c.page(c.auditLog))

	m.Handle("GET "+b+"/settings", c.page(c.settings))
	m.Handle("POST "+b+"/settings/keys", c.action(c.createKey))
	m.Handle("POST "+b+"/settings/keys/{id}/revoke", c.action(c.revokeKey))
	m.Handle("POST "+b+"/settings/users/invite", c.action(c.invite))
	m.Handle("POST "+b+"/settings/invitations/{id}/revoke", c.action(c.revokeInvite))
	m.Handle("POST "+b+"/settings/users/{id}/role", c.action(c.changeRole))
	m.Handle("POST "+b+"/settings/users/{id}/disable", c.action(c.disableUser))
	m.Handle("POST "+b+"/settings/users/{id}/enable", c.action(c.enableUser))
	m.Handle("POST "+b+"/settings/retention", c.action(c.setRetention))
	m.Handle("POST "+b+"/settings/risk-policy", c.action(c.savePolicy))
	m.Handle("POST "+b+"/settings/risk-policy/simulate", c.action(c.simulatePolicy))

	m.Handle("GET "+b+"/billing", c.page(c.billing))
	m.Handle("POST "+b+"/billing/budget", c.action(c.setBudget))
	m.Handle("POST "+b+"/billing/export", c.action(c.exportUsage))

	m.Handle("GET "+b+"/webhooks", c.page(c.webhooks))
	m.Handle("POST "+b+"/webhooks/deliveries/{id}/replay", c.action(c.replayDelivery))
	m.Handle("POST "+b+"/webhooks/endpoints/{id}/replay", c.action(c.replayFailed))
	m.Handle("POST "+b+"/webhooks/endpoints/{id}/test", c.action(c.sendTest))
	m.Handle("POST "+b+"/webhooks/endpoints/{id}/rotate", c.action(c.rotateSecret))
	m.HandleFunc(b+"/", func(w http.ResponseWriter, r *http.Request) {
		c.renderError(w, r, nil, http.StatusNotFound, "There is no such page.")
	})
	return m
}

// randomToken returns 32 random bytes in base64url.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// DemoUser is a dev-mode user to print and write into dev.json.
type DemoUser struct {
	Role     user.Role `json:"role"`
	Email    string    `json:"email"`
	Password string    `json:"password"`
}

// EnsureDemoUsers gives the insurer one user per role with a fresh random
// password, creating the users or resetting their passwords. For dev mode
// only: it needs no principal.
func (c *Console) EnsureDemoUsers(ctx context.Context, insurerID string) ([]DemoUser, error) {
	suffix := strings.ToLower(insurerID)
	if len(suffix) > 8 {
		suffix = suffix[len(suffix)-8:]
	}
	var out []DemoUser
	for _, role := range user.Roles {
		email := strings.ToLower(string(role)) + "+" + suffix + "@demo.borderproof.dev"
		password := randomToken()[:20]
		u, err := c.d.Users.UserByEmail(ctx, email)
		switch {
		case err == nil && u.InsurerID == insurerID:
			if err := c.d.Users.ResetPassword(ctx, insurerID, u.ID, password); err != nil {
				return nil, err
			}
		case err == nil:
			return nil, errors.New("console: demo email belongs to another insurer")
		case !errs.Is(err, errs.NotFound):
			return nil, err
		default:
			name := "Demo " + strings.ToLower(string(role))
			if _, err := c.d.Users.CreateUser(ctx, user.CreateUserInput{InsurerID: insurerID, Email: email, Name: name,
				Role: role, Password: password}); err != nil {
				return nil, err
			}
		}
		out = append(out, DemoUser{Role: role, Email: email, Password: password})
	}
	return out, nil
}
