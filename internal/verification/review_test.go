package verification_test

import (
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/store/storetest"
	"github.com/borderproof/borderproof/internal/verification"
)

func TestReviewQueueAndResolve(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st0 *store.Store) {
		e := newEnv(t, st0.Dialect(), nil)
		var ids []string
		for range 3 {
			e.now = e.now.Add(time.Second) // ids order by creation time
			res, err := e.svc.Submit(e.a, input(""))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, res.Verification.ID)
		}
		// The pipeline scores; here two outcomes are set to REVIEW by hand.
		for _, id := range ids[:2] {
			if _, err := e.st.DB().Exec(`UPDATE verifications SET status = 'COMPLETED', decision = 'REVIEW' WHERE id = '` + id + `'`); err != nil {
				t.Fatal(err)
			}
		}
		page, err := e.svc.ReviewQueue(e.a, 10, "")
		if err != nil || len(page.Items) != 2 || page.Items[0].ID != ids[0] {
			t.Fatalf("queue oldest first: %+v %v", page.Items, err)
		}
		if p, _ := e.svc.ReviewQueue(e.b, 10, ""); len(p.Items) != 0 {
			t.Fatal("another insurer sees the queue")
		}
		if _, err := e.svc.ResolveReview(e.aRead, ids[0], "APPROVE", ""); !errs.Is(err, errs.Forbidden) {
			t.Fatalf("without reviews:write: %v", err)
		}
		if _, err := e.svc.ResolveReview(e.a, ids[0], "MAYBE", ""); !errs.Is(err, errs.Invalid) {
			t.Fatalf("bad decision: %v", err)
		}
		if _, err := e.svc.ResolveReview(e.a, ids[2], "APPROVE", ""); !errs.Is(err, errs.FailedPrecondition) {
			t.Fatalf("review of an unscored verification: %v", err)
		}
		v, err := e.svc.ResolveReview(e.a, ids[0], "approve", "documents seen in branch")
		if err != nil || v.Review == nil || v.Review.Decision != verification.ReviewApprove || v.Review.Note != "documents seen in branch" {
			t.Fatalf("resolve: %+v %v", v.Review, err)
		}
		if _, err := e.svc.ResolveReview(e.a, ids[0], "DECLINE", ""); !errs.Is(err, errs.Conflict) {
			t.Fatalf("second review: %v", err)
		}
		if _, err := e.svc.ResolveReview(e.b, ids[1], "DECLINE", ""); !errs.Is(err, errs.NotFound) {
			t.Fatalf("foreign review: %v", err)
		}
		page, _ = e.svc.ReviewQueue(e.a, 10, "")
		if len(page.Items) != 1 || page.Items[0].ID != ids[1] {
			t.Fatalf("queue after review: %+v", page.Items)
		}
		var events int
		e.st.DB().QueryRow(`SELECT COUNT(*) FROM outbox_events WHERE type = 'verification.reviewed'`).Scan(&events)
		if events != 1 {
			t.Fatalf("reviewed events: %d", events)
		}
	})
}
