package console

import (
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/obs"
	"github.com/borderproof/borderproof/internal/risk"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/verification"
)

// listFilter is the verifications list's query string.
type listFilter struct {
	Status, Decision, From, To, Ref, After string
}

type listData struct {
	Filter    listFilter
	Page      verification.Page
	Statuses  []verification.Status
	Decisions []string
	NextURL   string
	FirstURL  string
}

func (f listFilter) query(after string) string {
	q := url.Values{}
	for k, v := range map[string]string{"status": f.Status, "decision": f.Decision, "from": f.From, "to": f.To, "ref": f.Ref, "after": after} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// parseFilter reads the list filters; dates are whole UTC days and "to" is
// inclusive.
func parseFilter(r *http.Request) (listFilter, verification.Filter, error) {
	q := r.URL.Query()
	lf := listFilter{Status: q.Get("status"), Decision: q.Get("decision"), From: q.Get("from"), To: q.Get("to"),
		Ref: strings.TrimSpace(q.Get("ref")), After: q.Get("after")}
	f := verification.Filter{Status: verification.Status(lf.Status), Decision: lf.Decision, ExternalReference: lf.Ref}
	var fe errs.Fields
	if lf.Decision != "" && !slices.Contains([]string{"CLEAR", "REVIEW", "DECLINE"}, lf.Decision) {
		fe.Add("decision", "must be CLEAR, REVIEW or DECLINE")
	}
	if lf.From != "" {
		t, err := time.Parse(time.DateOnly, lf.From)
		if err != nil {
			fe.Add("from", "must be a date")
		}
		f.CreatedFrom = t
	}
	if lf.To != "" {
		t, err := time.Parse(time.DateOnly, lf.To)
		if err != nil {
			fe.Add("to", "must be a date")
		}
		f.CreatedTo = t.AddDate(0, 0, 1)
	}
	return lf, f, fe.Err()
}

func (c *Console) verifications(w http.ResponseWriter, r *http.Request, rq *request) {
	if c.d.Verifications == nil {
		c.notConfigured(w, r, rq, "Verifications", "verifications")
		return
	}
	lf, f, err := parseFilter(r)
	d := listData{Filter: lf, Statuses: verification.Statuses, Decisions: []string{"CLEAR", "REVIEW", "DECLINE"}}
	if err == nil {
		d.Page, err = c.d.Verifications.List(r.Context(), f, c.cfg.PageSize, lf.After)
	}
	v := c.newView(r, rq, "Verifications", "verifications", &d)
	if err != nil {
		if !errs.Is(err, errs.Invalid) {
			c.fail(w, r, rq, err)
			return
		}
		e, _ := errs.As(err)
		v.Error = fieldMessages(e)
		c.render(w, r, http.StatusBadRequest, "verifications", v)
		return
	}
	if d.Page.HasNext {
		d.NextURL = c.cfg.Base + "/verifications" + lf.query(d.Page.EndCursor)
	}
	if lf.After != "" {
		d.FirstURL = c.cfg.Base + "/verifications" + lf.query("")
	}
	c.render(w, r, http.StatusOK, "verifications", v)
}

// event is one line of a verification's timeline.
type event struct {
	At   time.Time
	What string
	Kind string // css hint: start, check, done, warn
}

type detailData struct {
	V           verification.Verification
	Timeline    []event
	PII         *verification.PII
	Purpose     string
	Purposes    []string
	HasEvidence bool
	Reviewable  bool
}

func timeline(v verification.Verification) []event {
	ev := []event{{At: v.CreatedAt, What: "Submitted", Kind: "start"}}
	for _, ch := range v.Checks {
		if ch.CompletedAt.IsZero() {
			continue
		}
		what := label(string(ch.Type)) + " check " + strings.ToLower(string(ch.Status))
		if ch.Outcome != "" {
			what += ": " + ch.Outcome
		}
		kind := "check"
		if ch.Status == risk.CheckFailed || ch.Outcome == "ALERT" {
			kind = "warn"
		}
		ev = append(ev, event{At: ch.CompletedAt, What: what, Kind: kind})
	}
	if !v.CompletedAt.IsZero() {
		what := "Completed"
		if v.Status == verification.StatusFailed {
			what = "Failed"
		}
		if v.Outcome != nil {
			what += ", decision " + string(v.Outcome.Decision)
		}
		ev = append(ev, event{At: v.CompletedAt, What: what, Kind: "done"})
	}
	if !v.CancelledAt.IsZero() {
		ev = append(ev, event{At: v.CancelledAt, What: "Cancelled", Kind: "warn"})
	}
	if v.Review != nil {
		ev = append(ev, event{At: v.Review.ReviewedAt, What: "Reviewed: " + strings.ToLower(v.Review.Decision), Kind: "done"})
	}
	if v.Erased() {
		ev = append(ev, event{At: v.ErasedAt, What: "Personal data erased", Kind: "warn"})
	}
	sort.SliceStable(ev, func(i, j int) bool { return ev[i].At.Before(ev[j].At) })
	return ev
}

func label(s string) string {
	s = strings.ReplaceAll(strings.ToLower(s), "_", " ")
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (c *Console) detail(v verification.Verification, rq *request) *detailData {
	d := &detailData{V: v, Timeline: timeline(v), Purposes: verification.Purposes}
	for _, ch := range v.Checks {
		d.HasEvidence = d.HasEvidence || ch.EvidenceKey != "" || ch.EvidenceSHA256 != ""
	}
	d.HasEvidence = d.HasEvidence && c.d.Evidence != nil
	d.Reviewable = v.Status == verification.StatusCompleted && v.Outcome != nil && v.Outcome.Decision == risk.DecisionReview &&
		v.Review == nil && !v.Erased() && rq.p.Has(tenant.ScopeReviewsWrite)
	return d
}

func (c *Console) verification(w http.ResponseWriter, r *http.Request, rq *request) {
	if c.d.Verifications == nil {
		c.notConfigured(w, r, rq, "Verifications", "verifications")
		return
	}
	v, err := c.d.Verifications.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	c.render(w, r, http.StatusOK, "verification", c.newView(r, rq, "Verification "+v.ID, "verifications", c.detail(v, rq)))
}

// reveal opens the personal data for a declared purpose. The service
// checks pii:read and writes the audit entry before it returns anything.
func (c *Console) reveal(w http.ResponseWriter, r *http.Request, rq *request) {
	if c.d.Verifications == nil {
		c.notConfigured(w, r, rq, "Verifications", "verifications")
		return
	}
	purpose := r.PostFormValue("purpose")
	if !slices.Contains(verification.Purposes, purpose) {
		c.renderError(w, r, rq, http.StatusBadRequest, "Choose why you need the personal data.")
		return
	}
	id := r.PathValue("id")
	pii, err := c.d.Verifications.Policyholder(r.Context(), id, purpose, obs.RequestID(r.Context()))
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	v, err := c.d.Verifications.Get(r.Context(), id)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	d := c.detail(v, rq)
	d.PII, d.Purpose = pii, purpose
	c.render(w, r, http.StatusOK, "verification", c.newView(r, rq, "Verification "+v.ID, "verifications", d))
}

// evidence sends the browser to a short-lived link to the signed bundle.
func (c *Console) evidence(w http.ResponseWriter, r *http.Request, rq *request) {
	if c.d.Verifications == nil || c.d.Evidence == nil {
		c.notConfigured(w, r, rq, "Evidence", "verifications")
		return
	}
	v, err := c.d.Verifications.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	link, err := c.d.Evidence.SignedURL(r.Context(), v.InsurerID, v.ID, 5*time.Minute)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, link, http.StatusSeeOther)
}

func (c *Console) notConfigured(w http.ResponseWriter, r *http.Request, rq *request, what, nav string) {
	v := c.newView(r, rq, what, nav, what)
	c.render(w, r, http.StatusServiceUnavailable, "unconfigured", v)
}
