package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/risk"
	"github.com/borderproof/borderproof/internal/tenant"
)

// Policies is what the console needs of pipeline.Policies: the insurer's
// risk policy, its versions, and changes tried out or saved.
type Policies interface {
	Current(ctx context.Context) (risk.Policy, error)
	Update(ctx context.Context, doc []byte) (risk.Policy, error)
	Simulate(ctx context.Context, doc []byte, limit int) (risk.Summary, error)
	Versions(ctx context.Context) ([]risk.Policy, error)
}

// simulateLimit is how many recent verifications "Try it" rescores.
const simulateLimit = 1000

// policySection is the risk policy part of the settings page.
type policySection struct {
	Current  risk.Policy
	Versions []risk.Policy
	// Doc is the text in the editor: the current policy, or what was
	// submitted when it was refused or tried out.
	Doc    string
	Errors []errs.FieldError
	// Simulation is set after "Try it".
	Simulation *risk.Summary
}

// loadPolicy fills the section from the current policy.
func (c *Console) loadPolicy(ctx context.Context) (*policySection, error) {
	cur, err := c.d.Policies.Current(ctx)
	if err != nil {
		return nil, err
	}
	vs, err := c.d.Policies.Versions(ctx)
	if err != nil {
		return nil, err
	}
	doc, err := policyDocument(cur)
	if err != nil {
		return nil, err
	}
	return &policySection{Current: cur, Versions: vs, Doc: doc}, nil
}

// policyDocument is the editable JSON of a policy, without the fields the
// service sets (owner, version, creation time).
func policyDocument(p risk.Policy) (string, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", err
	}
	delete(m, "insurerId")
	delete(m, "version")
	delete(m, "createdAt")
	out, err := json.MarshalIndent(m, "", "  ")
	return string(out), err
}

// savePolicy stores the submitted document as the next policy version.
func (c *Console) savePolicy(w http.ResponseWriter, r *http.Request, rq *request) {
	c.policyAction(w, r, rq, false)
}

// simulatePolicy rescores recent verifications under the submitted
// document and shows how decisions would move; nothing is stored.
func (c *Console) simulatePolicy(w http.ResponseWriter, r *http.Request, rq *request) {
	c.policyAction(w, r, rq, true)
}

func (c *Console) policyAction(w http.ResponseWriter, r *http.Request, rq *request, simulate bool) {
	if _, err := tenant.Authorize(r.Context(), tenant.ScopeAdmin); err != nil {
		c.fail(w, r, rq, err)
		return
	}
	if c.d.Policies == nil {
		c.notConfigured(w, r, rq, "Risk policy", "settings")
		return
	}
	doc := r.PostFormValue("policy")
	var (
		saved risk.Policy
		sum   risk.Summary
		err   error
	)
	if simulate {
		sum, err = c.d.Policies.Simulate(r.Context(), []byte(doc), simulateLimit)
	} else {
		saved, err = c.d.Policies.Update(r.Context(), []byte(doc))
	}
	if err != nil && !errs.Is(err, errs.Invalid) && !errs.Is(err, errs.Conflict) {
		c.fail(w, r, rq, err)
		return
	}
	d, lerr := c.settingsFor(r, rq)
	if lerr != nil {
		c.fail(w, r, rq, lerr)
		return
	}
	v := c.newView(r, rq, "Settings", "settings", d)
	status := http.StatusOK
	switch {
	case err != nil:
		// Keep what was typed, and say what is wrong with it.
		d.Policy.Doc = doc
		e, _ := errs.As(err)
		if e != nil && len(e.Fields) > 0 {
			d.Policy.Errors = e.Fields
			v.Error = "The risk policy was not saved: please correct the fields listed below."
		} else if e != nil {
			v.Error = e.Msg
		}
		status = http.StatusBadRequest
		if errs.Is(err, errs.Conflict) {
			v.Error = "Someone else saved the risk policy meanwhile. Reload the page and apply your change again."
			status = http.StatusConflict
		}
		if simulate {
			v.Error = "The draft cannot be tried: please correct the fields listed below."
		}
	case simulate:
		d.Policy.Doc, d.Policy.Simulation = doc, &sum
	default:
		v.Notice = fmt.Sprintf("Saved as version %d.", saved.Version)
	}
	c.render(w, r, status, "settings", v)
}
