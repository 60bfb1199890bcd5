package partnersim

import (
	"bytes"
	"crypto/subtle"
	"encoding/csv"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/partner/watchlist"
	"github.com/borderproof/borderproof/internal/screening"
)

// watchService simulates the watchlist screening service over the OFAC SDN
// list (embedded, or --sdn DIR) plus the sandbox's magic names.
type watchService struct{ s *Sim }

func newWatchService(s *Sim) *watchService { return &watchService{s: s} }

func (ws *watchService) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+watchlist.ScreenPath, ws.screen)
	return mux
}

func (ws *watchService) writeError(w http.ResponseWriter, status int, _ string, msg string) {
	if status == http.StatusTooManyRequests {
		msg = "Too Many Attempts."
	}
	writeJSON(w, status, watchlist.ErrorBody{Message: msg})
}

func (ws *watchService) listVersion() string { return ws.s.list.Version() + "+sandbox" }

func (ws *watchService) screen(w http.ResponseWriter, r *http.Request) {
	tok := bearer(r, "Token")
	if subtle.ConstantTimeCompare([]byte(tok), []byte(ws.s.cfg.Credentials.WatchlistToken)) != 1 {
		writeJSON(w, http.StatusUnauthorized, watchlist.ErrorBody{Message: "Unauthenticated."})
		return
	}
	var req watchlist.ScreenRequest
	raw, err := readBody(r)
	if err != nil || json.Unmarshal(raw, &req) != nil {
		writeJSON(w, http.StatusBadRequest, watchlist.ErrorBody{Message: "Malformed JSON."})
		return
	}
	fields := map[string][]string{}
	if req.Reference == "" {
		fields["reference"] = []string{"The reference field is required."}
	}
	if strings.TrimSpace(req.Subject.Surname+req.Subject.GivenNames) == "" {
		fields["subject.surname"] = []string{"The subject.surname field is required."}
	}
	var dob time.Time
	if req.Subject.DateOfBirth != "" {
		if dob, err = time.Parse(time.DateOnly, req.Subject.DateOfBirth); err != nil {
			fields["subject.dateOfBirth"] = []string{"The subject.dateOfBirth is not a valid date."}
		}
	}
	if req.MinScore < 0 || req.MinScore > 1 {
		fields["minScore"] = []string{"The minScore must be between 0 and 1."}
	}
	if len(fields) > 0 {
		writeJSON(w, http.StatusUnprocessableEntity, watchlist.ErrorBody{Message: "The given data was invalid.", Errors: fields})
		return
	}
	if magicFault(w, r, strings.ToUpper(req.Subject.Surname), ws.writeError) {
		return
	}
	min := req.MinScore
	if min == 0 {
		min = screening.DefaultThreshold
	}
	resp := watchlist.ScreenResponse{Reference: req.Reference, ListVersion: ws.listVersion(), ScreenedAt: ws.s.clock.Now(),
		Candidates: []watchlist.Candidate{}}
	switch strings.ToUpper(strings.TrimSpace(req.Subject.Surname)) {
	case MagicSanctioned:
		resp.Candidates = append(resp.Candidates, magicCandidate("SANDBOX-1", "SANCTIONED, Magic", 0.99))
	case MagicWeakMatch:
		resp.Candidates = append(resp.Candidates, magicCandidate("SANDBOX-2", "SANCTIONISCH, Magic", 0.87))
	}
	q := screening.Query{GivenNames: req.Subject.GivenNames, Surname: req.Subject.Surname, BirthDate: dob, Nationality: req.Subject.Nationality}
	if q.Validate() != nil {
		q.Nationality = "" // an unknown nationality code screens on the name alone
	}
	cands, err := ws.s.list.Screen(q, screening.WithThreshold(min))
	if err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, watchlist.ErrorBody{Message: "The given data was invalid."})
		return
	}
	for _, c := range cands {
		resp.Candidates = append(resp.Candidates, watchlist.Candidate{
			EntityID: c.EntityID, ListName: c.ListName, MatchedName: c.MatchedName, Score: c.Score, NameScore: c.NameScore,
			DateOfBirthMatch: string(c.BirthDateMatch), NationalityMatch: string(c.NationalityMatch), Programs: c.Programs,
		})
	}
	writeJSON(w, http.StatusOK, resp)
}

func magicCandidate(id, name string, score float64) watchlist.Candidate {
	return watchlist.Candidate{EntityID: id, ListName: "BorderProof sandbox", MatchedName: name, Score: score, NameScore: score,
		DateOfBirthMatch: string(screening.MatchUnknown), NationalityMatch: string(screening.MatchUnknown), Programs: []string{"SANDBOX"}}
}

// WatchlistNames returns the listed individuals of the OFAC SDN files in
// fsys (sdn.csv, in file order) that have one exact date of birth, a
// nationality and a name of plain Latin letters: names the population can
// borrow for WATCHLIST_HIT people so that screening finds them.
func WatchlistNames(list *screening.List, fsys fs.FS) ([]WatchlistName, error) {
	raw, err := fs.ReadFile(fsys, "sdn.csv")
	if err != nil {
		return nil, errs.Wrap(err, errs.Invalid, "cannot read sdn.csv")
	}
	rd := csv.NewReader(bytes.NewReader(raw))
	rd.LazyQuotes = true
	rd.FieldsPerRecord = -1
	var out []WatchlistName
	for {
		row, err := rd.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, errs.Wrap(err, errs.Invalid, "sdn.csv is not valid CSV")
		}
		if len(row) < 3 || strings.TrimSpace(row[2]) != "individual" {
			continue
		}
		e, ok := list.Entity(strings.TrimSpace(row[0]))
		if !ok || len(e.BirthDates) != 1 || len(e.Nationalities) == 0 {
			continue
		}
		bd := e.BirthDates[0]
		if !bd.From.Equal(bd.To) || bd.Circa {
			continue
		}
		sur, given, ok := strings.Cut(e.Name, ", ")
		if !ok || !plainName(sur) || !plainName(given) {
			continue
		}
		out = append(out, WatchlistName{EntityID: e.ID, Surname: strings.ToUpper(sur), GivenNames: strings.ToUpper(given),
			DateOfBirth: bd.From, Nationality: e.Nationalities[0]})
	}
	return out, nil
}

func plainName(s string) bool {
	if s == "" || len(s) > 30 {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r == ' ') {
			return false
		}
	}
	return true
}
