package console

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/user"
)

type settingsData struct {
	Insurer     tenant.Insurer
	Keys        []tenant.APIKey
	Users       []user.User
	Invitations []user.Invitation
	Scopes      []tenant.Scope
	Purposes    []string
	Roles       []user.Role
	Self        string
	// CanRetention is false when no settings store is configured.
	CanRetention bool
	// NewKey and NewKeySecret are set once, right after a key is created.
	NewKey       *tenant.APIKey
	NewKeySecret string
	// InviteURL is set once, right after an invitation is created.
	InviteURL string
	Invited   *user.Invitation
	// Policy is nil when no policy service is configured.
	Policy *policySection
}

// settingsFor loads the admin page; tenant.Authorize is the same check the
// GraphQL apiKeys field makes.
func (c *Console) settingsFor(r *http.Request, rq *request) (*settingsData, error) {
	p, err := tenant.Authorize(r.Context(), tenant.ScopeAdmin)
	if err != nil {
		return nil, err
	}
	d := &settingsData{Insurer: p.Insurer, Scopes: tenant.AllScopes, Purposes: tenant.Purposes, Roles: user.Roles,
		Self: rq.user.ID, CanRetention: c.d.Settings != nil}
	if d.Keys, err = c.d.Tenants.APIKeys(r.Context(), p.Insurer.ID); err != nil {
		return nil, err
	}
	if d.Users, err = c.d.Users.Users(r.Context()); err != nil {
		return nil, err
	}
	if d.Invitations, err = c.d.Users.Invitations(r.Context()); err != nil {
		return nil, err
	}
	if c.d.Policies != nil {
		if d.Policy, err = c.loadPolicy(r.Context()); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (c *Console) settings(w http.ResponseWriter, r *http.Request, rq *request) {
	d, err := c.settingsFor(r, rq)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	c.render(w, r, http.StatusOK, "settings", c.newView(r, rq, "Settings", "settings", d))
}

// createKey shows the new key's secret once, on the page that answers the
// form; it is never stored or shown again.
func (c *Console) createKey(w http.ResponseWriter, r *http.Request, rq *request) {
	p, err := tenant.Authorize(r.Context(), tenant.ScopeAdmin)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	in := tenant.CreateKeyInput{InsurerID: p.Insurer.ID, Name: strings.TrimSpace(r.PostFormValue("name")),
		Mode: tenant.Mode(r.PostFormValue("mode")), Purposes: r.PostForm["purposes"]}
	for _, s := range r.PostForm["scopes"] {
		in.Scopes = append(in.Scopes, tenant.Scope(s))
	}
	key, secret, err := c.d.Tenants.CreateKey(r.Context(), in)
	if err != nil {
		c.settingsError(w, r, rq, err)
		return
	}
	d, err := c.settingsFor(r, rq)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	d.NewKey, d.NewKeySecret = &key, secret
	c.render(w, r, http.StatusOK, "settings", c.newView(r, rq, "Settings", "settings", d))
}

// settingsError shows a refused form on the settings page.
func (c *Console) settingsError(w http.ResponseWriter, r *http.Request, rq *request, err error) {
	if !errs.Is(err, errs.Invalid) && !errs.Is(err, errs.Conflict) && !errs.Is(err, errs.FailedPrecondition) {
		c.fail(w, r, rq, err)
		return
	}
	d, lerr := c.settingsFor(r, rq)
	if lerr != nil {
		c.fail(w, r, rq, lerr)
		return
	}
	e, _ := errs.As(err)
	v := c.newView(r, rq, "Settings", "settings", d)
	v.Error = fieldMessages(e)
	status := http.StatusBadRequest
	if !errs.Is(err, errs.Invalid) {
		status = http.StatusConflict
	}
	c.render(w, r, status, "settings", v)
}

func (c *Console) revokeKey(w http.ResponseWriter, r *http.Request, rq *request) {
	p, err := tenant.Authorize(r.Context(), tenant.ScopeAdmin)
	if err == nil {
		err = c.d.Tenants.RevokeKey(r.Context(), p.Insurer.ID, r.PathValue("id"))
	}
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	c.seeOther(w, r, c.cfg.Base+"/settings", "key-revoked")
}

func (c *Console) invite(w http.ResponseWriter, r *http.Request, rq *request) {
	inv, token, err := c.d.Users.Invite(r.Context(), user.InviteInput{Email: r.PostFormValue("email"), Role: user.Role(r.PostFormValue("role"))})
	if err != nil {
		c.settingsError(w, r, rq, err)
		return
	}
	d, err := c.settingsFor(r, rq)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	d.Invited, d.InviteURL = &inv, c.absolute(r, c.cfg.Base+"/invite/"+token)
	c.render(w, r, http.StatusOK, "settings", c.newView(r, rq, "Settings", "settings", d))
}

// absolute makes a link to share outside the browser.
func (c *Console) absolute(r *http.Request, path string) string {
	scheme := "https"
	if c.cfg.Dev && r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + r.Host + path
}

func (c *Console) revokeInvite(w http.ResponseWriter, r *http.Request, rq *request) {
	if err := c.d.Users.RevokeInvitation(r.Context(), r.PathValue("id")); err != nil {
		c.fail(w, r, rq, err)
		return
	}
	c.seeOther(w, r, c.cfg.Base+"/settings", "invite-revoked")
}

func (c *Console) changeRole(w http.ResponseWriter, r *http.Request, rq *request) {
	if _, err := c.d.Users.ChangeRole(r.Context(), r.PathValue("id"), user.Role(r.PostFormValue("role"))); err != nil {
		c.settingsError(w, r, rq, err)
		return
	}
	c.seeOther(w, r, c.cfg.Base+"/settings", "role-changed")
}

func (c *Console) disableUser(w http.ResponseWriter, r *http.Request, rq *request) {
	if _, err := c.d.Users.SetDisabled(r.Context(), r.PathValue("id"), true); err != nil {
		c.settingsError(w, r, rq, err)
		return
	}
	c.seeOther(w, r, c.cfg.Base+"/settings", "user-disabled")
}

func (c *Console) enableUser(w http.ResponseWriter, r *http.Request, rq *request) {
	if _, err := c.d.Users.SetDisabled(r.Context(), r.PathValue("id"), false); err != nil {
		c.settingsError(w, r, rq, err)
		return
	}
	c.seeOther(w, r, c.cfg.Base+"/settings", "user-enabled")
}

// setRetention stores the retention period. The bounds are the ones
// tenant.CreateInsurerInput.Validate applies when an insurer is created.
func (c *Console) setRetention(w http.ResponseWriter, r *http.Request, rq *request) {
	p, err := tenant.Authorize(r.Context(), tenant.ScopeAdmin)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	if c.d.Settings == nil {
		c.notConfigured(w, r, rq, "Retention settings", "settings")
		return
	}
	days, perr := strconv.Atoi(strings.TrimSpace(r.PostFormValue("retentionDays")))
	in := tenant.CreateInsurerInput{Name: p.Insurer.Name, Country: p.Insurer.Country, Region: p.Insurer.Region,
		Mode: p.Insurer.Mode, RetentionDays: days}
	bad := perr != nil || days == 0
	if e, ok := errs.As(in.Validate()); ok {
		for _, f := range e.Fields {
			bad = bad || f.Path == "retentionDays"
		}
	}
	if bad {
		c.settingsError(w, r, rq, errs.InvalidFields(errs.FieldError{Path: "retentionDays", Message: "must be between 1 and 3650"}))
		return
	}
	if err := c.d.Settings.UpdateInsurerSettings(r.Context(), p.Insurer.ID, in.RetentionDays, p.Insurer.Settings); err != nil {
		c.fail(w, r, rq, err)
		return
	}
	c.seeOther(w, r, c.cfg.Base+"/settings", "retention-saved")
}
