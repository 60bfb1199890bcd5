package partnersim

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/borderproof/borderproof/internal/partner/visastatus"
)

var conditionTitles = map[string]string{
	"8101": "No work",
	"8105": "Work limitation",
	"8107": "Work only for the sponsor",
	"8201": "Study limitation",
	"8501": "Maintain adequate health insurance",
	"8503": "No further stay",
}

// visaService simulates the visa-status service (VEVO-like): OAuth 2.0
// client credentials, synchronous JSON enquiries.
type visaService struct {
	s      *Sim
	replay *replayStore
	mu     sync.Mutex
	tokens map[string]time.Time // access token → expiry (simulated time)
}

func newVisaService(s *Sim) *visaService {
	return &visaService{s: s, replay: newReplayStore(), tokens: map[string]time.Time{}}
}

func (v *visaService) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+visastatus.TokenPath, v.token)
	mux.HandleFunc("POST "+visastatus.EnquiryPath, v.enquiry)
	return mux
}

// writeError is the service's business error dialect.
func (v *visaService) writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, visastatus.ErrorResponse{Errors: []visastatus.APIError{{Code: "VEVO-" + code, Message: msg}}})
}

func (v *visaService) tokenError(w http.ResponseWriter, status int, code, desc string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer error="`+code+`"`)
	}
	writeJSON(w, status, visastatus.TokenError{Error: code, ErrorDescription: desc})
}

func (v *visaService) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		v.tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "client_credentials only")
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	c := v.s.cfg.Credentials
	if id != c.VisaClientID || secret != c.VisaClientSecret {
		v.tokenError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	tok := randomID("vevo_at_")
	ttl := v.s.cfg.TokenTTL
	v.mu.Lock()
	v.tokens[tok] = v.s.clock.Now().Add(ttl)
	v.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok, "token_type": "Bearer", "expires_in": int(ttl / time.Second),
	})
}

// revokeTokens forgets every access token.
func (v *visaService) revokeTokens() {
	v.mu.Lock()
	clear(v.tokens)
	v.mu.Unlock()
}

func (v *visaService) authorised(r *http.Request) bool {
	tok := bearer(r, "Bearer")
	v.mu.Lock()
	defer v.mu.Unlock()
	exp, ok := v.tokens[tok]
	return ok && v.s.clock.Now().Before(exp)
}

func (v *visaService) enquiry(w http.ResponseWriter, r *http.Request) {
	if !v.authorised(r) {
		v.tokenError(w, http.StatusUnauthorized, "invalid_token", "the access token is missing, expired or revoked")
		return
	}
	raw, err := readBody(r)
	var req visastatus.EnquiryRequest
	if err != nil || json.Unmarshal(raw, &req) != nil {
		v.writeError(w, http.StatusBadRequest, "400-MALFORMED", "request body is not valid JSON")
		return
	}
	switch {
	case req.EnquiryReference == "":
		v.writeError(w, http.StatusBadRequest, "400-REFERENCE", "enquiryReference is required")
		return
	case req.ConsentReference == "":
		v.writeError(w, http.StatusBadRequest, "400-CONSENT", "consentReference is required: the visa holder's consent must be recorded")
		return
	case req.TravelDocument.Number == "" || req.TravelDocument.CountryOfIssue == "" || req.Person.DateOfBirth == "":
		v.writeError(w, http.StatusUnprocessableEntity, "422-FIELDS", "travelDocument.number, travelDocument.countryOfIssue and person.dateOfBirth are required")
		return
	}
	if magicFault(w, r, req.TravelDocument.Number, v.writeError) {
		return
	}
	if rep, found, conflict := v.replay.lookup(req.EnquiryReference, raw); conflict {
		v.writeError(w, http.StatusConflict, "409-REFERENCE", "enquiryReference was used for a different enquiry")
		return
	} else if found {
		writeRaw(w, rep.status, rep.body)
		return
	}
	now := v.s.clock.Now()
	resp := visastatus.EnquiryResponse{
		EnquiryID: randomID("VEVO-"), EnquiryReference: req.EnquiryReference, CheckedAt: now,
		Visa: v.lookup(req, now),
	}
	body, _ := json.Marshal(resp)
	v.replay.store(req.EnquiryReference, raw, http.StatusOK, body)
	writeRaw(w, http.StatusOK, body)
}

func (v *visaService) lookup(req visastatus.EnquiryRequest, now time.Time) visastatus.Visa {
	today := day(now)
	in := func(class, sub, name string, expiry time.Time, conds ...string) visastatus.Visa {
		vs := visastatus.Visa{Status: visastatus.StatusInEffect, Class: class, Subclass: sub, SubclassName: name,
			GrantDate: date(today.AddDate(-1, 0, 0)), ExpiryDate: date(expiry)}
		for _, c := range conds {
			vs.Conditions = append(vs.Conditions, visastatus.Condition{Code: c, Title: conditionTitles[c]})
		}
		return vs
	}
	switch strings.ToUpper(req.TravelDocument.Number) {
	case MagicNoVisa:
		return visastatus.Visa{Status: visastatus.StatusNoVisaFound}
	case MagicVisaExpired:
		vs := in("TU", "500", "Student", today.AddDate(0, 0, -45), "8105", "8501")
		vs.Status = visastatus.StatusCeased
		return vs
	case MagicVisaShort:
		return in("TU", "500", "Student", today.AddDate(0, 0, 30), "8105", "8501")
	case MagicNoHealth:
		return in("FA", "600", "Visitor", today.AddDate(2, 0, 0), "8101", "8201")
	}
	// The enquiry names the visa when the holder has one, else the passport.
	people := v.s.pop.Holders(req.TravelDocument.CountryOfIssue, req.TravelDocument.Number)
	if len(people) == 0 {
		// Sandbox default: any other document holds a student visa in
		// effect for three more years, with condition 8501.
		return in("TU", "500", "Student", today.AddDate(3, 0, 0), "8105", "8501")
	}
	for _, p := range people {
		// In the sandbox this service answers for every immigration
		// authority but the United States one (the status-case service).
		if date(p.DateOfBirth) != req.Person.DateOfBirth || p.Visa == nil || p.Visa.Country == "USA" {
			continue
		}
		pv := p.Visa
		vs := visastatus.Visa{Status: pv.Status, Class: pv.Class, Subclass: pv.Subclass, SubclassName: pv.SubclassName,
			GrantDate: date(pv.GrantDate), ExpiryDate: date(pv.ExpiryDate)}
		for _, c := range pv.Conditions {
			vs.Conditions = append(vs.Conditions, visastatus.Condition{Code: c, Title: conditionTitles[c]})
		}
		return vs
	}
	// The document is known but not with this date of birth, or its holder
	// holds no visa this service knows.
	return visastatus.Visa{Status: visastatus.StatusNoVisaFound}
}
