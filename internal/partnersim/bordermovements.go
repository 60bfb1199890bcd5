package partnersim

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/borderproof/borderproof/internal/partner/bordermovements"
)

// borderService simulates the border-movements service (EES-like), served
// only on the mutual-TLS listener.
type borderService struct{ s *Sim }

func newBorderService(s *Sim) *borderService { return &borderService{s: s} }

func (b *borderService) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+bordermovements.QueryPath, b.query)
	return mux
}

func (b *borderService) writeError(w http.ResponseWriter, status int, code, msg string) {
	codes := map[string]string{"RATE_LIMITED": "EES-4290", "UNAVAILABLE": "EES-5030", "INTERNAL": "EES-5000"}
	if mapped, ok := codes[code]; ok {
		code = mapped
	}
	writeJSON(w, status, bordermovements.ErrorBody{Error: bordermovements.ErrorDetail{Code: code, Message: msg, TraceID: randomID("ees-")}})
}

func (b *borderService) query(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		b.writeError(w, http.StatusForbidden, "EES-4030", "client certificate required")
		return
	}
	var q bordermovements.Query
	raw, err := readBody(r)
	if err != nil || json.Unmarshal(raw, &q) != nil {
		b.writeError(w, http.StatusBadRequest, "EES-4000", "malformed query")
		return
	}
	if q.QueryID == "" || q.TravelDocument.Number == "" || q.TravelDocument.IssuingState == "" {
		b.writeError(w, http.StatusUnprocessableEntity, "EES-4221", "queryId, travelDocument.number and travelDocument.issuingState are required")
		return
	}
	if q.LookbackDays <= 0 || q.LookbackDays > 1095 {
		q.LookbackDays = 1095
	}
	if magicFault(w, r, q.TravelDocument.Number, b.writeError) {
		return
	}
	now := b.s.clock.Now()
	today := day(now)
	var moves []Movement
	switch strings.ToUpper(q.TravelDocument.Number) {
	case MagicOverstay:
		moves = []Movement{{Type: "ENTRY", State: "FRA", Date: today.AddDate(0, 0, -120)}}
	case MagicRefused:
		moves = []Movement{{Type: "REFUSAL", State: "DEU", Date: today.AddDate(0, 0, -30)}}
	case MagicAbroad:
		moves = []Movement{{Type: "ENTRY", State: "FRA", Date: today.AddDate(0, 0, -60)}, {Type: "EXIT", State: "FRA", Date: today.AddDate(0, 0, -10)}}
	default:
		for _, p := range b.s.pop.ByDocument(q.TravelDocument.IssuingState, q.TravelDocument.Number) {
			if q.Nationality == "" || q.Nationality == p.Nationality {
				moves = p.Movements
				break
			}
		}
	}
	writeJSON(w, http.StatusOK, history(q, moves, today, now))
}

// history computes the answer over the window ending today.
func history(q bordermovements.Query, moves []Movement, today, now time.Time) bordermovements.History {
	from := today.AddDate(0, 0, -q.LookbackDays+1)
	h := bordermovements.History{QueryID: q.QueryID, AsOf: now, Movements: []bordermovements.Movement{}}
	perState := map[string]int{}
	last180 := 0
	var inSince *Movement
	countStay := func(state string, a, z time.Time) {
		for d := a; !d.After(z); d = d.AddDate(0, 0, 1) {
			if !d.Before(from) {
				perState[state]++
			}
			if !d.Before(today.AddDate(0, 0, -179)) {
				last180++
			}
		}
	}
	for i := range moves {
		m := moves[i]
		if m.Date.After(today) {
			continue
		}
		if !m.Date.Before(from) {
			h.Movements = append(h.Movements, bordermovements.Movement{Type: m.Type, MemberState: m.State, Date: date(m.Date)})
		}
		switch m.Type {
		case "ENTRY":
			inSince = &moves[i]
		case "EXIT":
			if inSince != nil {
				countStay(inSince.State, inSince.Date, m.Date)
				inSince = nil
			}
		case "REFUSAL":
			if !m.Date.Before(from) {
				h.Summary.Refusals++
			}
		}
		if m.Type != "REFUSAL" {
			lc := bordermovements.Movement{Type: m.Type, MemberState: m.State, Date: date(m.Date)}
			h.Summary.LastCrossing = &lc
		}
	}
	if inSince != nil {
		countStay(inSince.State, inSince.Date, today)
		h.Summary.PresentInArea = true
	}
	for st, n := range perState {
		h.Summary.DaysPresent = append(h.Summary.DaysPresent, bordermovements.StateDays{MemberState: st, Days: n})
	}
	slices.SortFunc(h.Summary.DaysPresent, func(a, b bordermovements.StateDays) int { return cmp.Compare(a.MemberState, b.MemberState) })
	h.Summary.DaysInLast180 = last180
	h.Summary.OverstayDays = max(0, last180-90)
	return h
}
