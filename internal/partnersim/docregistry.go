package partnersim

import (
	"crypto/hmac"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/borderproof/borderproof/internal/country"
	"github.com/borderproof/borderproof/internal/partner"
	"github.com/borderproof/borderproof/internal/partner/docregistry"
)

// registryService simulates the document registry (SLTD-like): API key id
// plus HMAC request signature, clear or blinded document numbers.
type registryService struct {
	s          *Sim
	privacyKey []byte
	// byBlind maps a blinded number to the clear document key
	// (DocKey) it stands for; magic numbers are indexed under every
	// issuing state.
	byBlind map[string]string
}

var magicRegistry = map[string]string{
	MagicStolen: "STOLEN", MagicLost: "LOST", MagicRevoked: "REVOKED", MagicInvalidated: "INVALIDATED",
}

func newRegistryService(s *Sim) *registryService {
	r := &registryService{s: s, privacyKey: []byte(s.cfg.Credentials.RegistryPrivacyKey), byBlind: map[string]string{}}
	for _, p := range s.pop.People {
		d := p.Passport
		r.byBlind[partner.BlindDocumentNumber(r.privacyKey, d.IssuingCountry, d.Number)] = DocKey(d.IssuingCountry, d.Number)
	}
	magic := []string{MagicStolen, MagicLost, MagicRevoked, MagicInvalidated, MagicMismatch, MagicUnavailable, MagicHang}
	for _, c := range country.All() {
		for _, m := range magic {
			r.byBlind[partner.BlindDocumentNumber(r.privacyKey, c.Alpha3, m)] = DocKey(c.Alpha3, m)
		}
	}
	return r
}

func (g *registryService) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+docregistry.SearchPath, g.search)
	return mux
}

func (g *registryService) writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/problem+json")
	b, _ := json.Marshal(docregistry.Problem{Status: status, ErrorCode: "SLTD-" + code, Detail: msg})
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (g *registryService) search(w http.ResponseWriter, r *http.Request) {
	raw, err := readBody(r)
	if err != nil {
		g.writeError(w, http.StatusBadRequest, "400-BODY", "unreadable body")
		return
	}
	c := g.s.cfg.Credentials
	if r.Header.Get(docregistry.HeaderKeyID) != c.RegistryKeyID {
		g.writeError(w, http.StatusUnauthorized, "401-KEY", "unknown key id")
		return
	}
	ts := r.Header.Get(docregistry.HeaderTimestamp)
	t, err := time.Parse(time.RFC3339, ts)
	if err != nil || time.Since(t).Abs() > docregistry.MaxSkew {
		g.writeError(w, http.StatusUnauthorized, "401-SKEW", "timestamp missing or outside the allowed skew")
		return
	}
	// The signature covers the path the client called, before our
	// /docregistry prefix was stripped.
	path := r.RequestURI
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil {
		path = u.EscapedPath()
	}
	want := docregistry.Sign([]byte(c.RegistrySigningSecret), r.Method, path, ts, raw)
	if !hmac.Equal([]byte(want), []byte(r.Header.Get(docregistry.HeaderSignature))) {
		g.writeError(w, http.StatusUnauthorized, "401-SIGNATURE", "request signature does not verify")
		return
	}
	var req docregistry.SearchRequest
	if json.Unmarshal(raw, &req) != nil {
		g.writeError(w, http.StatusBadRequest, "400-JSON", "body is not valid JSON")
		return
	}
	if req.SearchID == "" || req.Document.IssuingCountry == "" || (req.Document.Number == "") == (req.Document.NumberHMAC == "") {
		g.writeError(w, http.StatusBadRequest, "400-FIELDS", "searchId, document.issuingCountry and exactly one of document.number or document.numberHmac are required")
		return
	}
	key := DocKey(req.Document.IssuingCountry, req.Document.Number)
	if req.Document.NumberHMAC != "" {
		k, ok := g.byBlind[strings.ToLower(req.Document.NumberHMAC)]
		if !ok {
			k = ""
		}
		key = k
	}
	number := ""
	if i := strings.IndexByte(key, '|'); i >= 0 {
		number = key[i+1:]
	}
	if magicFault(w, r, number, g.writeError) {
		return
	}
	now := g.s.clock.Now()
	resp := docregistry.SearchResponse{SearchID: req.SearchID, SearchedAt: now, Result: docregistry.ResultNoHit,
		HolderCheck: docregistry.HolderNotChecked}
	if reason, ok := magicRegistry[number]; ok {
		resp.Result = docregistry.ResultHit
		resp.Hit = &docregistry.Hit{Reason: reason, ReportedOn: date(day(now).AddDate(0, -3, 0)), ReportingCountry: key[:strings.IndexByte(key, '|')]}
	}
	if number == MagicMismatch && req.HolderDigest != "" {
		resp.HolderCheck = docregistry.HolderMismatch
	}
	if people := g.s.pop.byDoc[key]; len(people) > 0 {
		rec := people[0].Registry
		if rec.Reason != "" {
			resp.Result = docregistry.ResultHit
			resp.Hit = &docregistry.Hit{Reason: rec.Reason, ReportedOn: date(rec.ReportedOn), ReportingCountry: rec.Reporter}
		}
		if req.HolderDigest != "" {
			resp.HolderCheck = docregistry.HolderMismatch
			if hmac.Equal([]byte(strings.ToLower(req.HolderDigest)),
				[]byte(partner.BlindHolder(g.privacyKey, rec.HolderSurname, rec.HolderDateOfBirth))) {
				resp.HolderCheck = docregistry.HolderMatch
			}
		}
	}
	writeJSON(w, http.StatusOK, resp)
}
