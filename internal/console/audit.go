package console

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/borderproof/borderproof/internal/audit"
	"github.com/borderproof/borderproof/internal/errs"
)

type auditFilter struct {
	Action, Actor, Verification, From, To, After string
}

type auditData struct {
	Filter   auditFilter
	Entries  []audit.Entry
	Actions  []string
	Actors   map[string]string // user id → "name <email>"
	NextURL  string
	FirstURL string
}

func (f auditFilter) query(after string) string {
	q := url.Values{}
	for k, v := range map[string]string{"action": f.Action, "actor": f.Actor, "verification": f.Verification,
		"from": f.From, "to": f.To, "after": after} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

func (c *Console) auditLog(w http.ResponseWriter, r *http.Request, rq *request) {
	if c.d.Verifications == nil {
		c.notConfigured(w, r, rq, "Audit log", "audit")
		return
	}
	q := r.URL.Query()
	af := auditFilter{Action: q.Get("action"), Actor: strings.TrimSpace(q.Get("actor")),
		Verification: strings.TrimSpace(q.Get("verification")), From: q.Get("from"), To: q.Get("to"), After: q.Get("after")}
	f := audit.Filter{Action: af.Action, Actor: af.Actor, VerificationID: af.Verification}
	var fe errs.Fields
	if af.From != "" {
		t, err := time.Parse(time.DateOnly, af.From)
		if err != nil {
			fe.Add("from", "must be a date")
		}
		f.From = t
	}
	if af.To != "" {
		t, err := time.Parse(time.DateOnly, af.To)
		if err != nil {
			fe.Add("to", "must be a date")
		}
		f.To = t.AddDate(0, 0, 1)
	}
	d := &auditData{Filter: af, Actors: map[string]string{},
		Actions: []string{audit.ActionPIIRead, audit.ActionErase, audit.ActionPartnerShare, audit.ActionRetentionErase}}
	v := c.newView(r, rq, "Audit log", "audit", d)
	if err := fe.Err(); err != nil {
		e, _ := errs.As(err)
		v.Error = fieldMessages(e)
		c.render(w, r, http.StatusBadRequest, "audit", v)
		return
	}
	entries, more, err := c.d.Verifications.AuditLog(r.Context(), f, c.cfg.PageSize, af.After)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	d.Entries = entries
	if users, err := c.d.Users.Users(r.Context()); err == nil {
		for _, u := range users {
			d.Actors[u.ID] = u.Name + " <" + u.Email + ">"
		}
	}
	if more && len(entries) > 0 {
		d.NextURL = c.cfg.Base + "/audit" + af.query(entries[len(entries)-1].ID)
	}
	if af.After != "" {
		d.FirstURL = c.cfg.Base + "/audit" + af.query("")
	}
	c.render(w, r, http.StatusOK, "audit", v)
}
