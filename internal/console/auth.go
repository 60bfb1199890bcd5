package console

import (
	"image/png"
	"net/http"
	"net/url"

	"github.com/pquerna/otp"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/user"
)

// cookiePath is where the console's cookies apply. A __Host- cookie must
// have the path "/".
func (c *Console) cookiePath() string {
	if c.cfg.Dev {
		return c.cfg.Base
	}
	return "/"
}

func (c *Console) setSession(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{Name: c.cookie, Value: token, Path: c.cookiePath(), HttpOnly: true,
		Secure: !c.cfg.Dev, SameSite: http.SameSiteLaxMode})
}

func (c *Console) clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: c.cookie, Value: "", Path: c.cookiePath(), MaxAge: -1, HttpOnly: true,
		Secure: !c.cfg.Dev, SameSite: http.SameSiteLaxMode})
}

// preSessionToken returns the double-submit token that protects the forms
// shown before there is a session (sign-in, invitations), setting its
// cookie when the browser has none.
func (c *Console) preSessionToken(w http.ResponseWriter, r *http.Request) string {
	if ck, err := r.Cookie(c.precsrf); err == nil && len(ck.Value) == 43 {
		return ck.Value
	}
	t := randomToken()
	http.SetCookie(w, &http.Cookie{Name: c.precsrf, Value: t, Path: c.cookiePath(), MaxAge: 3600, HttpOnly: true,
		Secure: !c.cfg.Dev, SameSite: http.SameSiteStrictMode})
	return t
}

// preSessionOK checks a pre-session form's token against its cookie.
func (c *Console) preSessionOK(r *http.Request) bool {
	ck, err := r.Cookie(c.precsrf)
	return err == nil && sameOrigin(r) && tokenMatches(r.PostFormValue("csrf"), ck.Value)
}

type signInData struct {
	Email string
	Next  string
}

func (c *Console) signInForm(w http.ResponseWriter, r *http.Request) {
	v := c.newView(r, nil, "Sign in", "", signInData{Next: c.safeNext(r.URL.Query().Get("next"))})
	v.CSRF = c.preSessionToken(w, r)
	c.render(w, r, http.StatusOK, "signin", v)
}

func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	r = withRequestID(r)
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil || !c.preSessionOK(r) {
		c.renderError(w, r, nil, http.StatusForbidden, "This form has expired. Reload the sign-in page and try again.")
		return
	}
	data := signInData{Email: r.PostFormValue("email"), Next: c.safeNext(r.PostFormValue("next"))}
	in, err := c.d.Users.SignIn(r.Context(), data.Email, r.PostFormValue("password"))
	if err != nil {
		status := http.StatusUnauthorized
		msg := "Sign-in failed."
		if e, ok := errs.As(err); ok && errs.Is(err, errs.Unauthenticated) {
			msg = e.Msg
		} else {
			c.d.Log.ErrorContext(r.Context(), "console sign-in", "err", err)
			status, msg = http.StatusServiceUnavailable, "Sign-in is unavailable at the moment; try again shortly."
		}
		v := c.newView(r, nil, "Sign in", "", data)
		v.CSRF, v.Error = c.preSessionToken(w, r), msg
		c.render(w, r, status, "signin", v)
		return
	}
	c.setSession(w, in.Token)
	if in.Session.MFAPending {
		http.Redirect(w, r, c.cfg.Base+"/signin/code?next="+url.QueryEscape(data.Next), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, data.Next, http.StatusSeeOther)
}

// pending returns the session waiting for its second factor.
func (c *Console) pending(r *http.Request) (user.Session, string, bool) {
	ck, err := r.Cookie(c.cookie)
	if err != nil {
		return user.Session{}, "", false
	}
	sess, _, err := c.d.Users.Authenticate(r.Context(), ck.Value)
	if err != nil || !sess.MFAPending {
		return user.Session{}, "", false
	}
	return sess, ck.Value, true
}

func (c *Console) codeForm(w http.ResponseWriter, r *http.Request) {
	sess, _, ok := c.pending(r)
	if !ok {
		http.Redirect(w, r, c.cfg.Base+"/signin", http.StatusSeeOther)
		return
	}
	v := c.newView(r, nil, "Authentication code", "", signInData{Next: c.safeNext(r.URL.Query().Get("next"))})
	v.CSRF = sess.CSRF
	c.render(w, r, http.StatusOK, "code", v)
}

func (c *Console) code(w http.ResponseWriter, r *http.Request) {
	r = withRequestID(r)
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	sess, token, ok := c.pending(r)
	if !ok {
		http.Redirect(w, r, c.cfg.Base+"/signin", http.StatusSeeOther)
		return
	}
	if err := r.ParseForm(); err != nil || !sameOrigin(r) || !tokenMatches(r.PostFormValue("csrf"), sess.CSRF) {
		c.renderError(w, r, nil, http.StatusForbidden, "This form has expired. Sign in again.")
		return
	}
	next := c.safeNext(r.PostFormValue("next"))
	in, err := c.d.Users.VerifyTOTP(r.Context(), token, r.PostFormValue("code"))
	if err != nil {
		if !errs.Is(err, errs.Unauthenticated) {
			c.fail(w, r, nil, err)
			return
		}
		e, _ := errs.As(err)
		v := c.newView(r, nil, "Authentication code", "", signInData{Next: next})
		v.CSRF, v.Error = sess.CSRF, e.Msg
		c.render(w, r, http.StatusUnauthorized, "code", v)
		return
	}
	c.setSession(w, in.Token)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) signOut(w http.ResponseWriter, r *http.Request, rq *request) {
	if err := c.d.Users.SignOut(r.Context(), rq.token); err != nil {
		c.fail(w, r, rq, err)
		return
	}
	c.clearSession(w)
	c.seeOther(w, r, c.cfg.Base+"/signin", "signed-out")
}

func (c *Console) signOutEverywhere(w http.ResponseWriter, r *http.Request, rq *request) {
	if _, err := c.d.Users.SignOutEverywhere(r.Context(), rq.user); err != nil {
		c.fail(w, r, rq, err)
		return
	}
	c.clearSession(w)
	c.seeOther(w, r, c.cfg.Base+"/signin", "everywhere")
}

func (c *Console) setMode(w http.ResponseWriter, r *http.Request, rq *request) {
	if _, err := c.d.Users.SetMode(r.Context(), rq.sess, tenant.Mode(r.PostFormValue("mode"))); err != nil {
		c.fail(w, r, rq, err)
		return
	}
	c.seeOther(w, r, c.safeNext(r.PostFormValue("next")), "")
}

type inviteData struct {
	Invitation user.Invitation
	Token      string
	Name       string
}

func (c *Console) inviteForm(w http.ResponseWriter, r *http.Request) {
	r = withRequestID(r)
	token := r.PathValue("token")
	inv, err := c.d.Users.Invitation(r.Context(), token)
	if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	v := c.newView(r, nil, "Join "+c.insurerName(r, inv.InsurerID), "", inviteData{Invitation: inv, Token: token})
	v.CSRF = c.preSessionToken(w, r)
	c.render(w, r, http.StatusOK, "invite", v)
}

func (c *Console) acceptInvite(w http.ResponseWriter, r *http.Request) {
	r = withRequestID(r)
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil || !c.preSessionOK(r) {
		c.renderError(w, r, nil, http.StatusForbidden, "This form has expired. Open the invitation link again.")
		return
	}
	token := r.PathValue("token")
	_, err := c.d.Users.AcceptInvitation(r.Context(), user.AcceptInput{Token: token, Name: r.PostFormValue("name"),
		Password: r.PostFormValue("password")})
	if errs.Is(err, errs.Invalid) {
		inv, ierr := c.d.Users.Invitation(r.Context(), token)
		if ierr != nil {
			c.fail(w, r, nil, ierr)
			return
		}
		e, _ := errs.As(err)
		v := c.newView(r, nil, "Join "+c.insurerName(r, inv.InsurerID), "", inviteData{Invitation: inv, Token: token, Name: r.PostFormValue("name")})
		v.CSRF, v.Error = c.preSessionToken(w, r), fieldMessages(e)
		c.render(w, r, http.StatusBadRequest, "invite", v)
		return
	}
	if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	c.seeOther(w, r, c.cfg.Base+"/signin", "welcome")
}

func fieldMessages(e *errs.Error) string {
	if e == nil {
		return ""
	}
	msg := ""
	for i, f := range e.Fields {
		if i > 0 {
			msg += "; "
		}
		msg += f.Path + " " + f.Message
	}
	if msg == "" {
		return e.Msg
	}
	return "Please correct: " + msg + "."
}

func (c *Console) insurerName(r *http.Request, insurerID string) string {
	ins, err := c.d.Tenants.Insurer(r.Context(), insurerID)
	if err != nil {
		return "BorderProof"
	}
	return ins.Name
}

type accountData struct {
	Enrolment *user.Enrolment
}

func (c *Console) account(w http.ResponseWriter, r *http.Request, rq *request) {
	var d accountData
	if e, ok := c.d.Users.PendingEnrolment(r.Context(), rq.sess, rq.user); ok && !rq.user.HasTOTP() {
		d.Enrolment = &e
	}
	c.render(w, r, http.StatusOK, "account", c.newView(r, rq, "Your account", "account", d))
}

func (c *Console) totpStart(w http.ResponseWriter, r *http.Request, rq *request) {
	if rq.user.HasTOTP() {
		c.seeOther(w, r, c.cfg.Base+"/account", "")
		return
	}
	if _, err := c.d.Users.StartTOTP(r.Context(), rq.sess, rq.user); err != nil {
		c.fail(w, r, rq, err)
		return
	}
	c.seeOther(w, r, c.cfg.Base+"/account", "")
}

func (c *Console) totpConfirm(w http.ResponseWriter, r *http.Request, rq *request) {
	if err := c.d.Users.ConfirmTOTP(r.Context(), rq.sess, rq.user, r.PostFormValue("code")); err != nil {
		if errs.Is(err, errs.Unauthenticated) {
			e, _ := errs.As(err)
			d := accountData{}
			if en, ok := c.d.Users.PendingEnrolment(r.Context(), rq.sess, rq.user); ok {
				d.Enrolment = &en
			}
			v := c.newView(r, rq, "Your account", "account", d)
			v.Error = e.Msg
			c.render(w, r, http.StatusBadRequest, "account", v)
			return
		}
		c.fail(w, r, rq, err)
		return
	}
	c.seeOther(w, r, c.cfg.Base+"/account", "totp-on")
}

func (c *Console) totpDisable(w http.ResponseWriter, r *http.Request, rq *request) {
	if err := c.d.Users.DisableTOTP(r.Context(), rq.user, r.PostFormValue("password")); err != nil {
		c.fail(w, r, rq, err)
		return
	}
	c.seeOther(w, r, c.cfg.Base+"/account", "totp-off")
}

// totpQR draws the enrolment's otpauth URL as a QR code.
func (c *Console) totpQR(w http.ResponseWriter, r *http.Request, rq *request) {
	e, ok := c.d.Users.PendingEnrolment(r.Context(), rq.sess, rq.user)
	if !ok {
		http.NotFound(w, r)
		return
	}
	key, err := otp.NewKeyFromURL(e.URL)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	img, err := key.Image(240, 240)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	_ = png.Encode(w, img)
}
