package console

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/id"
	"github.com/borderproof/borderproof/internal/obs"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/user"
	"github.com/borderproof/borderproof/internal/verification"
)

// request is a signed-in request.
type request struct {
	sess  user.Session
	user  user.User
	p     tenant.Principal
	token string
}

// view is what every page template receives.
type view struct {
	Title string
	Nav   string
	// Path is the page's own path and query, for forms that come back.
	Path   string
	Base   string
	Assets map[string]string
	CSRF   string
	User   *user.User
	// Insurer is the insurer's display name.
	Insurer string
	Mode    string
	CanLive bool
	Can     map[string]bool
	Notice  string
	Error   string
	Data    any
}

// assetURLs versions each static file's URL by its content, so browsers
// can cache them for a day and still see a change at once.
func assetURLs(base string) (map[string]string, error) {
	out := map[string]string{}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		name := strings.TrimPrefix(p, "static/")
		out[name] = base + "/static/" + name + "?v=" + hex.EncodeToString(sum[:6])
		return nil
	})
	return out, err
}

var funcs = template.FuncMap{
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
	},
	"date": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.DateOnly)
	},
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"since": func(from, to time.Time) string {
		if from.IsZero() || to.IsZero() {
			return "—"
		}
		return humanDuration(to.Sub(from))
	},
	"lower":    strings.ToLower,
	"slug":     func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "-")) },
	"label":    label,
	"join":     strings.Join,
	"contains": func(list []string, s string) bool { return contains(list, s) },
	"json": func(b json.RawMessage) string {
		var out bytes.Buffer
		if len(b) == 0 || json.Indent(&out, b, "", "  ") != nil {
			return string(b)
		}
		return out.String()
	},
	"scopes": func(sc []tenant.Scope) string {
		parts := make([]string, len(sc))
		for i, s := range sc {
			parts[i] = string(s)
		}
		return strings.Join(parts, ", ")
	},
	"money": money,
	"done": func(cs []verification.Check) int {
		n := 0
		for _, ch := range cs {
			if ch.Status.Terminal() {
				n++
			}
		}
		return n
	},
}

// money formats integer minor units with the currency's usual decimals
// (two, or none for the currencies that have none).
func money(minor int64, currency string) string {
	switch strings.ToUpper(currency) {
	case "JPY", "KRW", "ISK", "CLP", "VND", "XOF", "XAF", "UGX", "PYG":
		return fmt.Sprintf("%d %s", minor, currency)
	}
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, minor/100, minor%100, currency)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func humanDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "—"
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%d min %d s", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

// parseTemplates builds one template set per page: the layout, the shared
// partials and the page.
func (c *Console) parseTemplates() (map[string]*template.Template, error) {
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" || name == "partials" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// newView fills the parts of a view every page shares.
func (c *Console) newView(r *http.Request, rq *request, title, nav string, data any) *view {
	v := &view{Title: title, Nav: nav, Path: r.URL.RequestURI(), Base: c.cfg.Base, Assets: c.assets, Data: data, Can: map[string]bool{}}
	if msg, ok := notices[r.URL.Query().Get("notice")]; ok {
		v.Notice = msg
	}
	if rq != nil {
		u := rq.user
		v.User, v.CSRF, v.Mode = &u, rq.sess.CSRF, string(rq.sess.Mode)
		v.Insurer, v.CanLive = rq.p.Insurer.Name, rq.p.Insurer.Mode == tenant.Live
		for name, scope := range map[string]tenant.Scope{
			"verifications": tenant.ScopeVerificationsRead, "pii": tenant.ScopePIIRead, "reviews": tenant.ScopeReviewsWrite,
			"billing": tenant.ScopeBillingRead, "webhooks": tenant.ScopeWebhooksManage, "admin": tenant.ScopeAdmin,
		} {
			v.Can[name] = rq.p.Has(scope)
		}
	}
	return v
}

// render writes a page. Pages may hold personal data: nothing is cached.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	t, ok := c.pages[name]
	if !ok {
		c.d.Log.ErrorContext(r.Context(), "console template missing", "template", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		c.d.Log.ErrorContext(r.Context(), "console render", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// notices are the fixed messages a redirect may ask a page to show.
var notices = map[string]string{
	"approved":        "Review recorded: approved.",
	"declined":        "Review recorded: declined.",
	"key-revoked":     "The API key was revoked.",
	"role-changed":    "The role was changed.",
	"user-disabled":   "The user was disabled and signed out everywhere.",
	"user-enabled":    "The user can sign in again.",
	"retention-saved": "The retention period was saved.",
	"invite-revoked":  "The invitation was withdrawn.",
	"totp-on":         "Two-step sign-in is on.",
	"totp-off":        "Two-step sign-in is off.",
	"signed-out":      "You are signed out.",
	"everywhere":      "You are signed out on every device.",
	"welcome":         "Your account is ready. Sign in with your email and password.",
	"mode":            "You are now looking at other data.",
}

// fail renders an error from a domain service with the matching status.
// Messages of classified errors are safe to show; anything else is logged
// and shown as an internal error with the request id.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, rq *request, err error) {
	e, _ := errs.As(err)
	kind := errs.KindOf(err)
	msg := ""
	if e != nil {
		msg = e.Msg
		for _, f := range e.Fields {
			msg += "; " + f.Path + ": " + f.Message
		}
	}
	status := http.StatusInternalServerError
	switch kind {
	case errs.Invalid:
		status = http.StatusBadRequest
	case errs.NotFound:
		status = http.StatusNotFound
	case errs.Forbidden:
		// The domain speaks of API keys; here the principal is a role.
		msg = strings.Replace(msg, "this API key lacks", "your role lacks", 1)
		status, msg = http.StatusForbidden, "Your role does not allow this ("+msg+")."
	case errs.Unauthenticated:
		if r.Method == http.MethodGet && rq == nil {
			c.toSignIn(w, r)
			return
		}
		status = http.StatusUnauthorized
	case errs.Conflict, errs.FailedPrecondition:
		status = http.StatusConflict
	case errs.RateLimited:
		status = http.StatusTooManyRequests
	case errs.BudgetExceeded:
		status = http.StatusPaymentRequired
	case errs.Unavailable:
		status = http.StatusServiceUnavailable
	default:
		c.d.Log.ErrorContext(r.Context(), "console", "path", r.URL.Path, "err", err)
		msg = "Something went wrong. Quote request id " + obs.RequestID(r.Context()) + " if you report it."
	}
	c.renderError(w, r, rq, status, msg)
}

func (c *Console) renderError(w http.ResponseWriter, r *http.Request, rq *request, status int, msg string) {
	v := c.newView(r, rq, http.StatusText(status), "", nil)
	v.Error = msg
	c.render(w, r, status, "error", v)
}

func (c *Console) toSignIn(w http.ResponseWriter, r *http.Request) {
	next := r.URL.Path
	if r.URL.RawQuery != "" {
		next += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, c.cfg.Base+"/signin?next="+url.QueryEscape(next), http.StatusSeeOther)
}

// safeNext returns next when it is a path inside the console, else the
// verifications list.
func (c *Console) safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") ||
		!strings.HasPrefix(u.Path, c.cfg.Base+"/") || strings.HasPrefix(u.Path, c.cfg.Base+"/signin") {
		return c.cfg.Base + "/verifications"
	}
	return next
}

// withRequestID makes sure the request carries an id for audit entries and
// logs (the api middleware normally sets one).
func withRequestID(r *http.Request) *http.Request {
	if obs.RequestID(r.Context()) != "" {
		return r
	}
	return r.WithContext(obs.WithRequestID(r.Context(), id.New("req")))
}

var errMFA = errs.E(errs.Unauthenticated, "enter your authentication code")

// authenticate resolves the session cookie to a signed-in request and
// puts the user's principal in the context.
func (c *Console) authenticate(r *http.Request) (*request, *http.Request, error) {
	ck, err := r.Cookie(c.cookie)
	if err != nil || ck.Value == "" {
		return nil, r, errs.E(errs.Unauthenticated, "sign in first")
	}
	sess, u, err := c.d.Users.Authenticate(r.Context(), ck.Value)
	if err != nil {
		return nil, r, err
	}
	if sess.MFAPending {
		return nil, r, errMFA
	}
	p, err := c.d.Users.Principal(r.Context(), sess, u)
	if err != nil {
		return nil, r, err
	}
	ctx := tenant.WithPrincipal(r.Context(), p)
	ctx = obs.WithInsurerID(ctx, p.Insurer.ID)
	return &request{sess: sess, user: u, p: p, token: ck.Value}, r.WithContext(ctx), nil
}

type handler func(w http.ResponseWriter, r *http.Request, rq *request)

// page serves a signed-in GET.
func (c *Console) page(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = withRequestID(r)
		rq, r, err := c.authenticate(r)
		if err != nil {
			c.unauthenticated(w, r, err)
			return
		}
		h(w, r, rq)
	})
}

func (c *Console) unauthenticated(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case err == errMFA:
		http.Redirect(w, r, c.cfg.Base+"/signin/code", http.StatusSeeOther)
	case errs.Is(err, errs.Unauthenticated) && r.Method == http.MethodGet:
		c.toSignIn(w, r)
	case errs.Is(err, errs.Unauthenticated):
		c.renderError(w, r, nil, http.StatusUnauthorized, "Your session has ended. Sign in again.")
	default:
		c.fail(w, r, nil, err)
	}
}

// maxForm bounds a console form body.
const maxForm = 64 << 10

// action serves a signed-in state change: it refuses a request from
// another site and one without the session's CSRF token.
func (c *Console) action(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = withRequestID(r)
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if !sameOrigin(r) {
			c.renderError(w, r, nil, http.StatusForbidden, "This request came from another site and was refused.")
			return
		}
		rq, r, err := c.authenticate(r)
		if err != nil {
			c.unauthenticated(w, r, err)
			return
		}
		if err := r.ParseForm(); err != nil {
			c.renderError(w, r, rq, http.StatusBadRequest, "The form could not be read.")
			return
		}
		if !tokenMatches(csrfToken(r), rq.sess.CSRF) {
			c.renderError(w, r, rq, http.StatusForbidden,
				"This form has expired or did not come from the console. Reload the page and try again.")
			return
		}
		h(w, r, rq)
	})
}

// csrfToken is the token a request presents, in the form or a header.
func csrfToken(r *http.Request) string {
	if t := r.Header.Get("X-CSRF-Token"); t != "" {
		return t
	}
	return r.PostFormValue("csrf")
}

func tokenMatches(got, want string) bool {
	return got != "" && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// sameOrigin refuses what browsers mark as cross-site, and an Origin
// header naming another host.
func sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s == "cross-site" || s == "same-site" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	return true
}

// seeOther redirects after a successful change (post/redirect/get).
func (c *Console) seeOther(w http.ResponseWriter, r *http.Request, to, notice string) {
	if notice != "" {
		sep := "?"
		if strings.Contains(to, "?") {
			sep = "&"
		}
		to += sep + "notice=" + url.QueryEscape(notice)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}
