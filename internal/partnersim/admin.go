package partnersim

import (
	"encoding/json"
	"net/http"
	"time"
)

// adminHandler serves the sandbox controls (loopback only, no auth):
//
//	GET    /admin/faults              every partner's fault injection
//	GET    /admin/faults/{partner}    one partner's
//	PUT    /admin/faults/{partner}    replace it (JSON Fault)
//	DELETE /admin/faults/{partner}    clear it
//	GET    /admin/clock               {"now", "offset"}
//	POST   /admin/clock               {"advance": "72h"} or {"now": RFC 3339}
//	POST   /admin/visastatus/revoke-tokens   forget every OAuth token
//	GET    /admin/population          size, seed, asOf and counts by label
func (s *Sim) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/faults", func(w http.ResponseWriter, _ *http.Request) {
		all := map[string]Fault{}
		for _, p := range Protocols {
			all[p] = s.faults[p].get()
		}
		writeJSON(w, http.StatusOK, all)
	})
	mux.HandleFunc("GET /admin/faults/{partner}", func(w http.ResponseWriter, r *http.Request) {
		f, ok := s.Fault(r.PathValue("partner"))
		if !ok {
			adminError(w, http.StatusNotFound, "unknown partner")
			return
		}
		writeJSON(w, http.StatusOK, f)
	})
	mux.HandleFunc("PUT /admin/faults/{partner}", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			adminError(w, http.StatusBadRequest, "body must be a fault object")
			return
		}
		if f.ErrorRate < 0 || f.ErrorRate > 1 || f.HangRate < 0 || f.HangRate > 1 || f.RateLimit < 0 {
			adminError(w, http.StatusBadRequest, "rates must be in [0,1] and rateLimit not negative")
			return
		}
		if err := s.SetFault(r.PathValue("partner"), f); err != nil {
			adminError(w, http.StatusNotFound, "unknown partner")
			return
		}
		writeJSON(w, http.StatusOK, f)
	})
	mux.HandleFunc("DELETE /admin/faults/{partner}", func(w http.ResponseWriter, r *http.Request) {
		if err := s.SetFault(r.PathValue("partner"), Fault{}); err != nil {
			adminError(w, http.StatusNotFound, "unknown partner")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	clock := func(w http.ResponseWriter) {
		writeJSON(w, http.StatusOK, map[string]string{"now": s.clock.Now().Format(time.RFC3339), "offset": s.clock.Offset().String()})
	}
	mux.HandleFunc("GET /admin/clock", func(w http.ResponseWriter, _ *http.Request) { clock(w) })
	mux.HandleFunc("POST /admin/clock", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Advance string    `json:"advance"`
			Now     time.Time `json:"now"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<12)).Decode(&body); err != nil {
			adminError(w, http.StatusBadRequest, "body must be {\"advance\": \"72h\"} or {\"now\": \"2026-01-02T15:04:05Z\"}")
			return
		}
		switch {
		case body.Advance != "":
			d, err := time.ParseDuration(body.Advance)
			if err != nil || d < 0 {
				adminError(w, http.StatusBadRequest, "advance must be a positive duration such as 72h")
				return
			}
			s.clock.Advance(d)
		case !body.Now.IsZero():
			s.clock.Set(body.Now)
		}
		clock(w)
	})
	mux.HandleFunc("POST /admin/visastatus/revoke-tokens", func(w http.ResponseWriter, _ *http.Request) {
		s.visa.revokeTokens()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /admin/population", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"size": len(s.pop.People), "seed": s.pop.Seed, "asOf": date(s.pop.AsOf), "counts": s.pop.Counts(),
			"sanctionsList": s.list.Version(),
		})
	})
	return mux
}

func adminError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
