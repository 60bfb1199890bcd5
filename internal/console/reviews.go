package console

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/verification"
)

// queueSize is how many queued reviews the page shows.
const queueSize = 100

type reviewsData struct {
	Page        verification.Page
	Fingerprint string
	CanReview   bool
	CSRF        string
	Base        string
}

func (c *Console) queue(r *http.Request, rq *request) (*reviewsData, error) {
	page, err := c.d.Verifications.ReviewQueue(r.Context(), queueSize, "")
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(page.Items))
	for i, v := range page.Items {
		ids[i] = v.ID
	}
	sum := sha256.Sum256([]byte(strings.Join(ids, ",")))
	return &reviewsData{Page: page, Fingerprint: hex.EncodeToString(sum[:8]), CanReview: rq.p.Has(tenant.ScopeReviewsWrite),
		CSRF: rq.sess.CSRF, Base: c.cfg.Base}, nil
}

func (c *Console) reviews(w http.ResponseWriter, r *http.Request, rq *request) {
	if c.d.Verifications == nil {
		c.notConfigured(w, r, rq, "Review queue", "reviews")
		return
	}
	d, err := c.queue(r, rq)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	c.render(w, r, http.StatusOK, "reviews", c.newView(r, rq, "Review queue", "reviews", d))
}

func (c *Console) resolve(w http.ResponseWriter, r *http.Request, rq *request) {
	if c.d.Verifications == nil {
		c.notConfigured(w, r, rq, "Review queue", "reviews")
		return
	}
	decision := r.PostFormValue("decision")
	if _, err := c.d.Verifications.ResolveReview(r.Context(), r.PathValue("id"), decision, r.PostFormValue("note")); err != nil {
		c.fail(w, r, rq, err)
		return
	}
	notice := "approved"
	if strings.EqualFold(decision, verification.ReviewDecline) {
		notice = "declined"
	}
	back := c.cfg.Base + "/reviews"
	if r.PostFormValue("from") == "detail" {
		back = c.cfg.Base + "/verifications/" + r.PathValue("id")
	}
	c.seeOther(w, r, back, notice)
}

// reviewEvents streams the queue's rows as server-sent events: the server
// polls the service every LivePoll and sends the rendered rows when the
// queue changed, and a comment now and then to keep proxies from closing
// the connection. The session is checked again on every poll.
func (c *Console) reviewEvents(w http.ResponseWriter, r *http.Request, rq *request) {
	if c.d.Verifications == nil {
		http.Error(w, "not configured", http.StatusServiceUnavailable)
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 5000\n\n")
	_ = rc.Flush()

	tick := time.NewTicker(c.cfg.LivePoll)
	defer tick.Stop()
	// The page was rendered with the queue it names; send rows only once
	// the queue differs from that.
	last, idle := r.URL.Query().Get("fp"), 0
	for {
		_ = rc.SetWriteDeadline(time.Now().Add(c.cfg.LivePoll + 30*time.Second))
		if _, _, err := c.d.Users.Authenticate(r.Context(), rq.token); err != nil {
			fmt.Fprint(w, "event: signedout\ndata: \n\n")
			_ = rc.Flush()
			return
		}
		d, err := c.queue(r, rq)
		if err != nil {
			if r.Context().Err() == nil {
				c.d.Log.WarnContext(r.Context(), "review stream", "err", err)
			}
			return
		}
		if d.Fingerprint != last {
			last, idle = d.Fingerprint, 0
			var buf bytes.Buffer
			if err := c.pages["reviews"].ExecuteTemplate(&buf, "rows", d); err != nil {
				c.d.Log.ErrorContext(r.Context(), "review stream render", "err", err)
				return
			}
			fmt.Fprintf(w, "event: queue\ndata: %s %d\n", d.Fingerprint, len(d.Page.Items))
			for _, line := range strings.Split(buf.String(), "\n") {
				fmt.Fprintf(w, "data: %s\n", line)
			}
			fmt.Fprint(w, "\n")
		} else if idle++; idle*int(c.cfg.LivePoll/time.Second+1) >= 15 {
			idle = 0
			fmt.Fprint(w, ": ping\n\n")
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}
