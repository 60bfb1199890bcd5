package partnersim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/borderproof/borderproof/internal/partner/statuscase"
)

// caseService simulates the status-case service (SAVE-like): API key
// header, cases opened and polled, additional verification taking working
// days on the simulated clock.
type caseService struct {
	s     *Sim
	mu    sync.Mutex
	seq   int
	cases map[string]*simCase
	byReq map[string]*simCase
}

type simCase struct {
	number    string
	requestID string
	digest    string
	created   time.Time
	// avrUntil is when additional verification ends (zero: none).
	avrUntil  time.Time
	final     string // VERIFIED_STATUS or RESUBMIT_WITH_DOCUMENTS
	statement string
	class     string
	until     string
}

func newCaseService(s *Sim) *caseService {
	return &caseService{s: s, cases: map[string]*simCase{}, byReq: map[string]*simCase{}}
}

func (c *caseService) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+statuscase.CasesPath, c.auth(c.open))
	mux.HandleFunc("GET "+statuscase.CasesPath+"/{number}", c.auth(c.get))
	return mux
}

func (c *caseService) writeError(w http.ResponseWriter, status int, code, msg string) {
	codes := map[string]string{"RATE_LIMITED": "E4290", "UNAVAILABLE": "E5030", "INTERNAL": "E5000"}
	if mapped, ok := codes[code]; ok {
		code = mapped
	}
	writeJSON(w, status, statuscase.Fault{Fault: statuscase.FaultDetail{FaultCode: code, FaultString: msg}})
}

func (c *caseService) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch key := r.Header.Get(statuscase.APIKeyHeader); {
		case key == "":
			c.writeError(w, http.StatusUnauthorized, "E1001", "API key missing")
		case key != c.s.cfg.Credentials.StatusCaseAPIKey:
			c.writeError(w, http.StatusUnauthorized, "E1002", "API key not recognised")
		default:
			next(w, r)
		}
	}
}

func (c *caseService) open(w http.ResponseWriter, r *http.Request) {
	raw, err := readBody(r)
	var req statuscase.InitiateRequest
	if err != nil || json.Unmarshal(raw, &req) != nil {
		c.writeError(w, http.StatusBadRequest, "E2000", "malformed request")
		return
	}
	if req.RequestID == "" || req.Applicant.LastName == "" || req.Applicant.DateOfBirth == "" || req.Document.Number == "" {
		c.writeError(w, http.StatusBadRequest, "E2001", "requestId, applicant.lastName, applicant.dateOfBirth and document.number are required")
		return
	}
	if _, err := time.Parse(time.DateOnly, req.Applicant.DateOfBirth); err != nil {
		c.writeError(w, http.StatusBadRequest, "E2002", "applicant.dateOfBirth must be YYYY-MM-DD")
		return
	}
	if magicFault(w, r, req.Document.Number, c.writeError) {
		return
	}
	digest := fmt.Sprintf("%x", raw)
	now := c.s.clock.Now()
	c.mu.Lock()
	if cs, ok := c.byReq[req.RequestID]; ok {
		c.mu.Unlock()
		if cs.digest != digest {
			c.writeError(w, http.StatusConflict, "E3001", "requestId already used for a different case")
			return
		}
		writeJSON(w, http.StatusOK, c.view(cs, now))
		return
	}
	c.seq++
	cs := &simCase{number: fmt.Sprintf("SAV%013d", c.seq), requestID: req.RequestID, digest: digest, created: now}
	c.resolve(cs, req, now)
	c.cases[cs.number] = cs
	c.byReq[req.RequestID] = cs
	c.mu.Unlock()
	writeJSON(w, http.StatusCreated, c.view(cs, now))
}

func (c *caseService) get(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	cs, ok := c.cases[r.PathValue("number")]
	c.mu.Unlock()
	if !ok {
		c.writeError(w, http.StatusNotFound, "E4004", "case not found")
		return
	}
	writeJSON(w, http.StatusOK, c.view(cs, c.s.clock.Now()))
}

// resolve decides at opening how the case will end.
func (c *caseService) resolve(cs *simCase, req statuscase.InitiateRequest, now time.Time) {
	today := day(now)
	cs.final, cs.statement, cs.class = statuscase.StatusVerified, statuscase.StatementLawfulStatus, "F-1"
	cs.until = date(today.AddDate(3, 0, 0))
	slow := func(days int) { cs.avrUntil = addWorkingDays(now, days) }
	switch strings.ToUpper(req.Document.Number) {
	case MagicSlowCase:
		slow(3)
		return
	case MagicResubmit:
		cs.final = statuscase.StatusResubmit
		return
	case MagicNoVisa:
		cs.statement, cs.class, cs.until = statuscase.StatementNoLawfulStatus, "", ""
		return
	case MagicVisaExpired:
		cs.until = date(today.AddDate(0, 0, -45))
		return
	}
	// The case names the visa when the holder has one, else the passport.
	for _, p := range c.s.pop.Holders(req.Document.CountryOfIssuance, req.Document.Number) {
		if date(p.DateOfBirth) != req.Applicant.DateOfBirth {
			continue
		}
		if p.CaseDelayWorkingDays > 0 {
			slow(p.CaseDelayWorkingDays)
		}
		if p.Visa == nil || p.Visa.Country != "USA" {
			cs.statement, cs.class, cs.until = statuscase.StatementNoLawfulStatus, "", ""
			return
		}
		cs.class, cs.until = p.Visa.Subclass, date(p.Visa.ExpiryDate)
		return
	}
}

func (c *caseService) view(cs *simCase, now time.Time) statuscase.Case {
	v := statuscase.Case{CaseNumber: cs.number, RequestID: cs.requestID, CreatedAt: cs.created, AsOf: now}
	pendingUntil := cs.created.Add(max(c.s.cfg.CaseInitialDelay, 0))
	switch {
	case now.Before(pendingUntil):
		v.Status = statuscase.StatusInitialPending
		v.NextPollSeconds = secondsUntil(now, pendingUntil)
	case !cs.avrUntil.IsZero() && now.Before(cs.avrUntil):
		v.Status = statuscase.StatusAdditionalVerification
		v.NextPollSeconds = min(secondsUntil(now, cs.avrUntil), 6*3600)
		est := cs.avrUntil
		v.EstimatedCompletion = &est
	case cs.final == statuscase.StatusResubmit:
		v.Status = statuscase.StatusResubmit
	default:
		v.Status = statuscase.StatusVerified
		v.Eligibility = &statuscase.Eligibility{Statement: cs.statement, Class: cs.class, AdmittedUntil: cs.until}
	}
	return v
}

func secondsUntil(now, t time.Time) int {
	d := t.Sub(now)
	s := int(d / time.Second)
	if d%time.Second != 0 {
		s++
	}
	return max(s, 1)
}
