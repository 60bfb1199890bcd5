package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/audit"
	"github.com/borderproof/borderproof/internal/billing"
	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/id"
	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/pipeline"
	"github.com/borderproof/borderproof/internal/risk"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/store/storetest"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/verification"
	"github.com/borderproof/borderproof/internal/webhook"
)

// startCheck starts one check through StartChecks and reports whether it
// started.
func startCheck(ctx context.Context, s *store.Store, insurerID, checkID, partner string, at time.Time, e *audit.Entry) (bool, error) {
	started, _, err := s.StartChecks(ctx, insurerID, []pipeline.StartCheck{{CheckID: checkID, Partner: partner, Audit: e}}, at, "", nil)
	return started[checkID], err
}

// acme creates an insurer for a test.
func acme(t *testing.T, s *store.Store) tenant.Insurer {
	t.Helper()
	return insurerNamed(t, s, "Acme", "FRA")
}

// insurerNamed creates an insurer of the country.
func insurerNamed(t *testing.T, s *store.Store, name, country string) tenant.Insurer {
	t.Helper()
	ins, err := tenant.NewService(s, nil, discard()).CreateInsurer(context.Background(), tenant.CreateInsurerInput{Name: name, Country: country})
	if err != nil {
		t.Fatal(err)
	}
	return ins
}

// seedVerification writes a verification with one check of each given type.
func seedVerification(t *testing.T, s *store.Store, insurerID string, at time.Time, types ...risk.CheckType) verification.Verification {
	t.Helper()
	vid := id.NewAt(id.Verification, at)
	v := verification.Verification{ID: vid, InsurerID: insurerID, Mode: "TEST", Status: verification.StatusQueued,
		RequestHash: "h", APIKeyID: "key_x", DeadlineAt: at.Add(time.Minute), CreatedAt: at, UpdatedAt: at,
		Consent: verification.Consent{ID: id.New(id.Consent), Reference: "c", ObtainedAt: at, LawfulBasis: "CONSENT", Purposes: []string{"UNDERWRITING"}}}
	for _, ct := range types {
		v.Checks = append(v.Checks, verification.Check{ID: id.NewAt(id.Check, at), VerificationID: vid, InsurerID: insurerID,
			Type: ct, Status: risk.CheckPending, CreatedAt: at, UpdatedAt: at})
	}
	got, created, err := s.CreateVerification(context.Background(), verification.NewVerification{Verification: v,
		WrappedKey: []byte("k"), SealedPII: []byte("p"),
		BlindIndex: []verification.BlindEntry{{Kind: "document", Digest: "doc-" + insurerID}, {Kind: "person", Digest: "person-" + vid}}})
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	return got
}

func TestPipelineStoreContract(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		tenants := tenant.NewService(s, nil, discard())
		ins, err := tenants.CreateInsurer(ctx, tenant.CreateInsurerInput{Name: "Acme", Country: "FRA", Region: "EU"})
		if err != nil {
			t.Fatal(err)
		}
		other, err := tenants.CreateInsurer(ctx, tenant.CreateInsurerInput{Name: "Other", Country: "USA"})
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now().UTC().Truncate(time.Microsecond).Add(-time.Hour)
		v := seedVerification(t, s, ins.ID, t0, risk.CheckDocumentRegistry, risk.CheckWatchlist)
		reg, wl := v.Checks[0], v.Checks[1]

		// Tenant isolation.
		if _, err := s.PipelineVerification(ctx, other.ID, v.ID); !errs.Is(err, errs.NotFound) {
			t.Fatalf("foreign verification: %v", err)
		}
		if ok, err := startCheck(ctx, s, other.ID, reg.ID, "p", t0, nil); err != nil || ok {
			t.Fatalf("foreign start: %v %v", ok, err)
		}

		// A start counts an attempt and moves QUEUED to RUNNING.
		if ok, err := startCheck(ctx, s, ins.ID, reg.ID, "docregistry-sim", t0.Add(time.Second), nil); err != nil || !ok {
			t.Fatalf("start: %v %v", ok, err)
		}
		got, err := s.PipelineVerification(ctx, ins.ID, v.ID)
		if err != nil || got.Status != verification.StatusRunning || got.Checks[0].Attempts != 1 || got.Checks[0].Partner != "docregistry-sim" {
			t.Fatalf("after start: %v %+v", err, got)
		}

		// A guarded update applies once; its usage row and events with it.
		at := t0.Add(2 * time.Second)
		use := &billing.Usage{ID: id.NewAt(id.Usage, at), InsurerID: ins.ID, Mode: "TEST", Meter: billing.MeterDocumentRegistry,
			Quantity: 1, Partner: "docregistry-sim", PartnerCost: billing.Money{Minor: 10, Currency: "EUR"}, VerificationID: v.ID, CheckID: reg.ID, OccurredAt: at}
		u := pipeline.CheckUpdate{InsurerID: ins.ID, VerificationID: v.ID, CheckID: reg.ID,
			From: []risk.CheckStatus{risk.CheckPending, risk.CheckAwaitingPartner}, Attempts: -1,
			Status: risk.CheckCompleted, Partner: "docregistry-sim", Outcome: "ALERT",
			Signals: []risk.Signal{{Code: risk.SignalDocumentStolen, CheckID: reg.ID}}, PartnerReference: "ref-1",
			EvidenceKey: "evidence/x.bin", Evidence: []byte{0, 1, 2, 0xff}, EvidenceSHA256: "d1g", At: at, Usage: use}
		if ok, err := s.UpdateCheck(ctx, u); err != nil || !ok {
			t.Fatalf("update: %v %v", ok, err)
		}
		again := *use
		again.ID = id.New(id.Usage)
		u.Usage = &again
		if ok, err := s.UpdateCheck(ctx, u); err != nil || ok {
			t.Fatalf("second update applied: %v %v", ok, err)
		}
		var n int
		if err := s.DB().QueryRow(`SELECT COUNT(*) FROM usage_events WHERE check_id = '` + reg.ID + `'`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("usage rows %d %v", n, err)
		}
		got, _ = s.PipelineVerification(ctx, ins.ID, v.ID)
		c := got.Checks[0]
		if c.Status != risk.CheckCompleted || c.Outcome != "ALERT" || len(c.Signals) != 1 || c.Signals[0].Code != risk.SignalDocumentStolen ||
			c.PartnerReference != "ref-1" || c.EvidenceKey != "evidence/x.bin" || c.EvidenceSHA256 != "d1g" || !c.CompletedAt.Equal(at) {
			t.Fatalf("check row: %+v", c)
		}
		// The sealed answer is kept with the result, byte for byte, and
		// only for the check that has one.
		if answers, err := s.CheckEvidence(ctx, ins.ID, v.ID); err != nil || len(answers) != 1 || !bytes.Equal(answers[reg.ID], []byte{0, 1, 2, 0xff}) {
			t.Fatalf("answers %v %v", answers, err)
		}
		if answers, err := s.CheckEvidence(ctx, other.ID, v.ID); err != nil || len(answers) != 0 {
			t.Fatalf("another insurer reads answers: %v %v", answers, err)
		}

		// An awaiting check moves the verification to AWAITING_PARTNER; the
		// attempts guard refuses a stale poll.
		poll := t0.Add(time.Minute)
		ev := outbox.Event{ID: id.NewAt(id.Event, at), InsurerID: ins.ID, Mode: "TEST", Type: outbox.CheckAwaitingPartner,
			SubjectID: v.ID, Payload: []byte(`{}`), CreatedAt: at}
		aw := pipeline.CheckUpdate{InsurerID: ins.ID, VerificationID: v.ID, CheckID: wl.ID, From: []risk.CheckStatus{risk.CheckPending},
			Attempts: 0, Status: risk.CheckAwaitingPartner, Partner: "watchlist-sim", PartnerReference: "case-1", PollAfter: poll,
			IncAttempts: true, At: at, Events: []outbox.Event{ev}}
		if ok, err := s.UpdateCheck(ctx, aw); err != nil || !ok {
			t.Fatalf("awaiting: %v %v", ok, err)
		}
		if ok, _ := s.UpdateCheck(ctx, aw); ok {
			t.Fatal("stale attempts applied")
		}
		got, _ = s.PipelineVerification(ctx, ins.ID, v.ID)
		if got.Status != verification.StatusAwaitingPartner || got.Checks[1].Attempts != 1 || !got.Checks[1].PollAfter.Equal(poll) {
			t.Fatalf("awaiting verification: %s %+v", got.Status, got.Checks[1])
		}

		// The sweeper's listings.
		if refs, err := s.StaleChecks(ctx, t0.Add(time.Hour), t0.Add(2*time.Minute), 10); err != nil || len(refs) != 1 || refs[0].CheckID != wl.ID || refs[0].Attempts != 1 {
			t.Fatalf("stale: %+v %v", refs, err)
		}
		if refs, err := s.StaleChecks(ctx, t0.Add(time.Hour), t0.Add(30*time.Second), 10); err != nil || len(refs) != 0 {
			t.Fatalf("stale before poll time: %+v %v", refs, err)
		}
		if refs, err := s.OverdueChecks(ctx, t0.Add(2*time.Minute), 10); err != nil || len(refs) != 1 || refs[0].CheckID != wl.ID {
			t.Fatalf("overdue: %+v %v", refs, err)
		}
		if refs, err := s.UnscoredVerifications(ctx, t0.Add(time.Hour), 10); err != nil || len(refs) != 0 {
			t.Fatalf("unscored with an open check: %+v %v", refs, err)
		}
		done := aw
		done.From, done.Attempts, done.Status, done.IncAttempts, done.Events = []risk.CheckStatus{risk.CheckAwaitingPartner}, 1, risk.CheckFailed, false, nil
		done.Reason = "PARTNER_TIMEOUT"
		if ok, err := s.UpdateCheck(ctx, done); err != nil || !ok {
			t.Fatalf("fail: %v %v", ok, err)
		}
		if refs, err := s.UnscoredVerifications(ctx, time.Now().Add(time.Hour), 10); err != nil || len(refs) != 1 || refs[0].ID != v.ID || refs[0].InsurerID != ins.ID {
			t.Fatalf("unscored: %+v %v", refs, err)
		}
		if evs, err := s.UnpublishedEvents(ctx, t0.Add(time.Hour), 10); err != nil || len(evs) != 1 || evs[0] != ev.ID {
			t.Fatalf("unpublished: %v %v", evs, err)
		}

		// Scores: a final outcome applies once, then the verification is
		// terminal.
		out := risk.Outcome{Score: 90, Band: risk.BandCritical, Decision: risk.DecisionDecline, PolicyVersion: 1}
		o := pipeline.OutcomeUpdate{InsurerID: ins.ID, VerificationID: v.ID, Outcome: out, Status: verification.StatusCompleted, At: at,
			Events: []outbox.Event{{ID: id.New(id.Event), InsurerID: ins.ID, Mode: "TEST", Type: outbox.VerificationCompleted, SubjectID: v.ID, Payload: []byte(`{}`), CreatedAt: at}}}
		if ok, err := s.SaveOutcome(ctx, o); err != nil || !ok {
			t.Fatalf("save outcome: %v %v", ok, err)
		}
		o.Events[0].ID = id.New(id.Event)
		if ok, err := s.SaveOutcome(ctx, o); err != nil || ok {
			t.Fatalf("second outcome applied: %v %v", ok, err)
		}
		got, _ = s.PipelineVerification(ctx, ins.ID, v.ID)
		if got.Status != verification.StatusCompleted || got.Outcome == nil || got.Outcome.Decision != risk.DecisionDecline || got.CompletedAt.IsZero() {
			t.Fatalf("scored: %+v", got)
		}
		if refs, _ := s.UnscoredVerifications(ctx, time.Now().Add(time.Hour), 10); len(refs) != 0 {
			t.Fatalf("scored verification still listed: %+v", refs)
		}

		// Document reuse: the same document digest under another person.
		w := seedVerification(t, s, ins.ID, t0.Add(time.Second), risk.CheckDocumentMRZ)
		if reused, err := s.DocumentReused(ctx, ins.ID, w.ID, []string{"doc-other", "doc-" + ins.ID}, "person-"+w.ID); err != nil || !reused {
			t.Fatalf("reuse by another person: %v %v", reused, err)
		}
		if reused, err := s.DocumentReused(ctx, ins.ID, w.ID, []string{"doc-" + ins.ID}, "person-"+v.ID); err != nil || reused {
			t.Fatalf("same person flagged: %v %v", reused, err)
		}
		if reused, err := s.DocumentReused(ctx, other.ID, w.ID, []string{"doc-" + ins.ID}, "person-"+w.ID); err != nil || reused {
			t.Fatalf("another insurer's index consulted: %v %v", reused, err)
		}

		// Risk policies: none stored, then the newest version wins.
		if _, ok, err := s.RiskPolicy(ctx, ins.ID); err != nil || ok {
			t.Fatalf("policy before any: %v %v", ok, err)
		}
		p2 := risk.DefaultPolicy().Clone()
		p2.InsurerID, p2.Version, p2.CreatedAt = ins.ID, 2, t0
		p2.Decisions.Review = 20
		if err := s.PutRiskPolicy(ctx, p2); err != nil {
			t.Fatal(err)
		}
		if err := s.PutRiskPolicy(ctx, p2); !errs.Is(err, errs.Conflict) {
			t.Fatalf("duplicate version: %v", err)
		}
		p3 := p2.Clone()
		p3.Version = 3
		if err := s.PutRiskPolicy(ctx, p3); err != nil {
			t.Fatal(err)
		}
		pol, ok, err := s.RiskPolicy(ctx, ins.ID)
		if err != nil || !ok || pol.Version != 3 || pol.Decisions.Review != 20 {
			t.Fatalf("current policy: %v %v %+v", ok, err, pol.Version)
		}
		if _, ok, _ := s.RiskPolicy(ctx, other.ID); ok {
			t.Fatal("another insurer's policy")
		}
	})
}

// PipelineVerification reads the verification and its checks in one query
// when it has checks; the result must match the two-query read, in the
// canonical check order, and a verification without checks still loads.
func TestPipelineVerificationOneQuery(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ins := acme(t, s)
		t0 := time.Now().UTC().Truncate(time.Microsecond).Add(-time.Hour)
		types := risk.CheckTypes()
		rev := make([]risk.CheckType, len(types))
		for i, ct := range types {
			rev[len(types)-1-i] = ct
		}
		v := seedVerification(t, s, ins.ID, t0, rev...)
		want, err := s.Verification(ctx, ins.ID, "TEST", v.ID)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.PipelineVerification(ctx, ins.ID, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != v.ID || got.Consent.Reference != "c" || got.Status != want.Status || !got.DeadlineAt.Equal(want.DeadlineAt) ||
			len(got.Checks) != len(types) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		for i, c := range got.Checks {
			if c.Type != types[i] || c.ID != want.Checks[i].ID || c.Status != risk.CheckPending || c.Signals == nil && want.Checks[i].Signals != nil {
				t.Fatalf("check %d: %+v, want type %s as %+v", i, c, types[i], want.Checks[i])
			}
		}

		bare := seedVerification(t, s, ins.ID, t0.Add(time.Second))
		if got, err := s.PipelineVerification(ctx, ins.ID, bare.ID); err != nil || got.ID != bare.ID || len(got.Checks) != 0 {
			t.Fatalf("without checks: %+v %v", got, err)
		}
		if _, err := s.PipelineVerification(ctx, ins.ID, "ver_missing"); !errs.Is(err, errs.NotFound) {
			t.Fatalf("missing: %v", err)
		}
	})
}

// Erasing a verification drops the sealed answers its checks recorded
// (their key is gone with it) and keeps their digests, which the evidence
// bundle's manifest still lists.
func TestEraseDropsRecordedAnswers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ins := acme(t, s)
		at := time.Now().UTC().Truncate(time.Microsecond)
		v := seedVerification(t, s, ins.ID, at, risk.CheckWatchlist)
		c := v.Checks[0]
		if ok, err := s.UpdateCheck(ctx, pipeline.CheckUpdate{InsurerID: ins.ID, VerificationID: v.ID, CheckID: c.ID,
			From: []risk.CheckStatus{risk.CheckPending}, Attempts: -1, Status: risk.CheckCompleted, Outcome: "CLEAR",
			Evidence: []byte("sealed"), EvidenceSHA256: "digest", At: at}); err != nil || !ok {
			t.Fatalf("update: %v %v", ok, err)
		}
		erase(t, s, v, at)
		if answers, err := s.CheckEvidence(ctx, ins.ID, v.ID); err != nil || len(answers) != 0 {
			t.Fatalf("answers after erasure: %v %v", answers, err)
		}
		got, err := s.PipelineVerification(ctx, ins.ID, v.ID)
		if err != nil || got.Checks[0].EvidenceSHA256 != "digest" {
			t.Fatalf("digest after erasure: %+v %v", got.Checks, err)
		}
	})
}

// erase erases v as its insurer's key_x, at at.
func erase(t *testing.T, s *store.Store, v verification.Verification, at time.Time) {
	t.Helper()
	entry := audit.Entry{ID: id.New(id.Audit), InsurerID: v.InsurerID, Actor: "key_x", Action: audit.ActionErase,
		VerificationID: v.ID, Detail: []byte(`{}`), CreatedAt: at}
	ev := outbox.Event{ID: id.New(id.Event), InsurerID: v.InsurerID, Type: outbox.VerificationErased, SubjectID: v.ID,
		Payload: []byte(`{}`), CreatedAt: at}
	if _, err := s.Erase(context.Background(), v.InsurerID, v.ID, "key_x", "asked", at, entry, ev); err != nil {
		t.Fatal(err)
	}
}

// TestAnswersAfterErasureNotKept: a run seals its answers under the key it
// read before its calls; when the verification is erased meanwhile, its
// checks' results are written without them, one at a time or together.
func TestAnswersAfterErasureNotKept(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ins := acme(t, s)
		at := time.Now().UTC().Truncate(time.Microsecond)
		answer := func(v verification.Verification, c verification.Check) pipeline.CheckUpdate {
			return pipeline.CheckUpdate{InsurerID: ins.ID, VerificationID: v.ID, CheckID: c.ID,
				From: []risk.CheckStatus{risk.CheckPending}, Attempts: -1, Status: risk.CheckCompleted, Outcome: "CLEAR",
				Evidence: []byte("sealed " + c.ID), EvidenceSHA256: "digest", At: at}
		}
		kept := func(v verification.Verification) (answers int, digests int) {
			t.Helper()
			got, err := s.CheckEvidence(ctx, ins.ID, v.ID)
			if err != nil {
				t.Fatal(err)
			}
			pv, err := s.PipelineVerification(ctx, ins.ID, v.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range pv.Checks {
				if c.Status != risk.CheckCompleted {
					t.Errorf("check %s %s, want its result written", c.ID, c.Status)
				}
				if c.EvidenceSHA256 != "" {
					digests++
				}
			}
			return len(got), digests
		}

		live := seedVerification(t, s, ins.ID, at, risk.CheckWatchlist, risk.CheckDocumentRegistry)
		if _, err := s.UpdateChecks(ctx, []pipeline.CheckUpdate{answer(live, live.Checks[0]), answer(live, live.Checks[1])}); err != nil {
			t.Fatal(err)
		}
		if a, d := kept(live); a != 2 || d != 2 {
			t.Fatalf("not erased: %d answers, %d digests kept; want 2, 2", a, d)
		}

		both := seedVerification(t, s, ins.ID, at, risk.CheckWatchlist, risk.CheckDocumentRegistry)
		erase(t, s, both, at)
		if _, err := s.UpdateChecks(ctx, []pipeline.CheckUpdate{answer(both, both.Checks[0]), answer(both, both.Checks[1])}); err != nil {
			t.Fatal(err)
		}
		if a, d := kept(both); a != 0 || d != 0 {
			t.Fatalf("erased, answers together: %d answers, %d digests kept", a, d)
		}

		one := seedVerification(t, s, ins.ID, at, risk.CheckWatchlist)
		erase(t, s, one, at)
		if ok, err := s.UpdateCheck(ctx, answer(one, one.Checks[0])); err != nil || !ok {
			t.Fatalf("update: %v %v", ok, err)
		}
		if a, d := kept(one); a != 0 || d != 0 {
			t.Fatalf("erased, one answer: %d answers, %d digests kept", a, d)
		}
	})
}

// A completed verification is listed for its evidence bundle until the
// bundle is recorded; open ones and recent ones are not.
func TestUnbundledVerifications(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ins := acme(t, s)
		at := time.Now().UTC().Truncate(time.Microsecond).Add(-time.Minute)
		done := seedVerification(t, s, ins.ID, at, risk.CheckWatchlist)
		open := seedVerification(t, s, ins.ID, at, risk.CheckWatchlist)
		if _, err := s.DB().Exec(`UPDATE verifications SET status = 'COMPLETED', completed_at = ` +
			strconv.FormatInt(at.UnixMicro(), 10) + ` WHERE id = '` + done.ID + `'`); err != nil {
			t.Fatal(err)
		}
		list := func(before time.Time) []string {
			refs, err := s.UnbundledVerifications(ctx, before, 10)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range refs {
				if r.InsurerID != ins.ID {
					t.Fatalf("ref %+v", r)
				}
				ids = append(ids, r.ID)
			}
			return ids
		}
		if got := list(time.Now()); len(got) != 1 || got[0] != done.ID {
			t.Fatalf("unbundled = %v, want [%s] (not %s)", got, done.ID, open.ID)
		}
		if got := list(at); len(got) != 0 {
			t.Fatalf("completed at the cutoff listed: %v", got)
		}
		if err := s.RecordEvidence(ctx, ins.ID, done.ID, "digest"); err != nil {
			t.Fatal(err)
		}
		if got := list(time.Now()); len(got) != 0 {
			t.Fatalf("recorded bundle listed: %v", got)
		}
	})
}

// The last answers and the final outcome commit together when every
// answer applies; when one does not, the outcome is not written and the
// answers that applied stand, with the verification's status settled.
func TestUpdateChecksAndScore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ins := acme(t, s)
		at := time.Now().UTC().Truncate(time.Microsecond)
		answer := func(v verification.Verification, c verification.Check, from risk.CheckStatus) pipeline.CheckUpdate {
			return pipeline.CheckUpdate{InsurerID: ins.ID, VerificationID: v.ID, CheckID: c.ID, From: []risk.CheckStatus{from},
				Attempts: -1, Status: risk.CheckCompleted, Outcome: "CLEAR", At: at,
				Usage: &billing.Usage{ID: id.New(id.Usage), InsurerID: ins.ID, Mode: "TEST", Meter: billing.MeterWatchlist, Quantity: 1,
					Partner: "watchlist-sim", PartnerCost: billing.Money{Minor: 5, Currency: "EUR"}, VerificationID: v.ID, CheckID: c.ID, OccurredAt: at},
				Events: []outbox.Event{{ID: id.New(id.Event), InsurerID: ins.ID, Mode: "TEST", Type: "check.answered",
					SubjectID: c.ID, Payload: []byte(`{}`), CreatedAt: at}}}
		}
		// written counts v's usage rows and the events of its checks.
		written := func(v verification.Verification) (usage, checkEvents int) {
			t.Helper()
			if err := s.DB().QueryRow(`SELECT (SELECT COUNT(*) FROM usage_events WHERE verification_id = '`+v.ID+`'),
				(SELECT COUNT(*) FROM outbox_events WHERE type = 'check.answered' AND subject_id IN ('`+v.Checks[0].ID+`', '`+v.Checks[1].ID+`'))`).
				Scan(&usage, &checkEvents); err != nil {
				t.Fatal(err)
			}
			return usage, checkEvents
		}
		outcome := func(v verification.Verification) pipeline.OutcomeUpdate {
			return pipeline.OutcomeUpdate{InsurerID: ins.ID, VerificationID: v.ID, Status: verification.StatusCompleted, At: at.Add(time.Millisecond),
				Outcome: risk.Outcome{Score: 0, Band: risk.BandLow, Decision: risk.DecisionClear, PolicyVersion: 1},
				Events: []outbox.Event{{ID: id.New(id.Event), InsurerID: ins.ID, Mode: "TEST", Type: outbox.VerificationCompleted,
					SubjectID: v.ID, Payload: []byte(`{}`), CreatedAt: at}}}
		}
		events := func(v verification.Verification) int {
			n := 0
			if err := s.DB().QueryRow(`SELECT COUNT(*) FROM outbox_events WHERE subject_id = '` + v.ID + `' AND type = 'verification.completed'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}

		v := seedVerification(t, s, ins.ID, at, risk.CheckWatchlist, risk.CheckDocumentRegistry)
		applied, scored, err := s.UpdateChecksAndScore(ctx, []pipeline.CheckUpdate{
			answer(v, v.Checks[0], risk.CheckPending), answer(v, v.Checks[1], risk.CheckPending)}, outcome(v))
		if err != nil || !scored || !applied[0] || !applied[1] {
			t.Fatalf("all answers: applied %v scored %v %v", applied, scored, err)
		}
		got, _ := s.PipelineVerification(ctx, ins.ID, v.ID)
		if got.Status != verification.StatusCompleted || got.Outcome == nil || !got.CompletedAt.Equal(at.Add(time.Millisecond)) || events(v) != 1 {
			t.Fatalf("scored with its answers: %+v, %d events", got, events(v))
		}
		if u, e := written(v); u != 2 || e != 2 {
			t.Fatalf("scored with its answers: %d usage rows, %d check events; want 2, 2", u, e)
		}

		// One answer's guard fails (its check is no longer PENDING): no
		// outcome; the other answer stands and the verification runs on.
		w := seedVerification(t, s, ins.ID, at, risk.CheckWatchlist, risk.CheckDocumentRegistry)
		applied, scored, err = s.UpdateChecksAndScore(ctx, []pipeline.CheckUpdate{
			answer(w, w.Checks[0], risk.CheckPending), answer(w, w.Checks[1], risk.CheckAwaitingPartner)}, outcome(w))
		if err != nil || scored || !applied[0] || applied[1] {
			t.Fatalf("one answer refused: applied %v scored %v %v", applied, scored, err)
		}
		got, _ = s.PipelineVerification(ctx, ins.ID, w.ID)
		if got.Status != verification.StatusRunning || got.Outcome != nil || events(w) != 0 ||
			got.Checks[0].Status != risk.CheckCompleted && got.Checks[1].Status != risk.CheckCompleted {
			t.Fatalf("not scored: %+v, %d events", got, events(w))
		}
		if u, e := written(w); u != 1 || e != 1 {
			t.Fatalf("not scored: %d usage rows, %d check events; want those of the one answer applied", u, e)
		}
	})
}

// The checks a process started and left PENDING are listed by its name,
// up to the time given, with the unstarted checks of their verifications;
// one another process started since, one answered, one started under the
// name after that time (a successor that reused the pid), and the
// unstarted checks of other verifications are not.
func TestChecksStartedBy(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ins := acme(t, s)
		at := time.Now().UTC().Truncate(time.Microsecond)
		v := seedVerification(t, s, ins.ID, at, risk.CheckWatchlist, risk.CheckDocumentRegistry, risk.CheckImmigrationStatus,
			risk.CheckBorderMovements, risk.CheckDocumentMRZ)
		seedVerification(t, s, ins.ID, at, risk.CheckWatchlist, risk.CheckDocumentMRZ) // nobody's
		c := v.Checks
		ids := func(refs []pipeline.CheckRef) []string {
			var out []string
			for _, r := range refs {
				out = append(out, r.CheckID)
			}
			slices.Sort(out)
			return out
		}
		want := func(cs ...verification.Check) []string {
			var out []string
			for _, ch := range cs {
				out = append(out, ch.ID)
			}
			slices.Sort(out)
			return out
		}
		start := func(by string, when time.Time, cs ...verification.Check) {
			t.Helper()
			var items []pipeline.StartCheck
			for _, ch := range cs {
				items = append(items, pipeline.StartCheck{CheckID: ch.ID, Partner: "p"})
			}
			if started, _, err := s.StartChecks(ctx, ins.ID, items, when, by, nil); err != nil || len(started) != len(cs) {
				t.Fatalf("start: %v %v", started, err)
			}
		}
		dead, other := "host-a:41", "host-b:7"
		died := at.Add(time.Second)
		start(dead, at, c[0], c[1], c[2])
		start(other, died, c[1])
		start(dead, died.Add(time.Second), c[3])
		if ok, err := s.UpdateCheck(ctx, pipeline.CheckUpdate{InsurerID: ins.ID, VerificationID: v.ID, CheckID: c[2].ID,
			From: []risk.CheckStatus{risk.CheckPending}, Attempts: -1, Status: risk.CheckCompleted, Outcome: "CLEAR", At: died}); err != nil || !ok {
			t.Fatalf("answer: %v %v", ok, err)
		}
		refs, err := s.ChecksStartedBy(ctx, dead, died, 10)
		if err != nil || !slices.Equal(ids(refs), want(c[0], c[4])) {
			t.Fatalf("started by the dead process: %+v %v", refs, err)
		}
		for _, r := range refs {
			attempts := 0 // the machine-readable zone's, never started
			if r.CheckID == c[0].ID {
				attempts = 1
			}
			if r.VerificationID != v.ID || r.InsurerID != ins.ID || r.Status != risk.CheckPending || r.Attempts != attempts {
				t.Fatalf("ref %+v", r)
			}
		}
		if refs, err := s.ChecksStartedBy(ctx, other, died, 10); err != nil || !slices.Equal(ids(refs), want(c[1], c[4])) {
			t.Fatalf("started by the other: %+v %v", refs, err)
		}
		if refs, err := s.ChecksStartedBy(ctx, dead, at.Add(-time.Microsecond), 10); err != nil || len(refs) != 0 {
			t.Fatalf("before any start: %+v %v", refs, err)
		}
		if refs, err := s.ChecksStartedBy(ctx, dead, died.Add(time.Hour), 10); err != nil || !slices.Equal(ids(refs), want(c[0], c[3], c[4])) {
			t.Fatalf("up to later: %+v %v", refs, err)
		}
	})
}

// Several answers go in one statement; each check ends exactly as it does
// when its answer is applied alone, guards included, and the checks
// started together are started as one at a time would be.
func TestCheckBatchesMatchOneByOne(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ins := acme(t, s)
		at := time.Now().UTC().Truncate(time.Microsecond)
		types := []risk.CheckType{risk.CheckWatchlist, risk.CheckDocumentRegistry, risk.CheckImmigrationStatus, risk.CheckBorderMovements}
		open := []risk.CheckStatus{risk.CheckPending, risk.CheckAwaitingPartner}
		updates := func(v verification.Verification) []pipeline.CheckUpdate {
			c := v.Checks
			return []pipeline.CheckUpdate{
				{InsurerID: ins.ID, VerificationID: v.ID, CheckID: c[0].ID, From: open, Attempts: 1, Status: risk.CheckCompleted,
					Partner: "wl", Outcome: "ALERT", Signals: []risk.Signal{{Code: risk.SignalWatchlistStrong, CheckID: c[0].ID}},
					PartnerReference: "ref-0", EvidenceKey: "k-0", Evidence: []byte{0, 1, 2, 255}, EvidenceSHA256: "abc", At: at},
				{InsurerID: ins.ID, VerificationID: v.ID, CheckID: c[1].ID, From: open, Attempts: -1, Status: risk.CheckAwaitingPartner,
					Partner: "reg", PartnerReference: "case-1", PollAfter: at.Add(time.Minute), IncAttempts: true, At: at.Add(time.Millisecond)},
				// Its attempts guard fails: nothing written.
				{InsurerID: ins.ID, VerificationID: v.ID, CheckID: c[2].ID, From: open, Attempts: 7, Status: risk.CheckCompleted,
					Outcome: "CLEAR", At: at},
				{InsurerID: ins.ID, VerificationID: v.ID, CheckID: c[3].ID, From: []risk.CheckStatus{risk.CheckPending}, Attempts: -1,
					Status: risk.CheckFailed, Reason: "PARTNER_TIMEOUT", At: at.Add(2 * time.Millisecond),
					Events: []outbox.Event{{ID: id.New(id.Event), InsurerID: ins.ID, Mode: "TEST", Type: outbox.CheckAwaitingPartner,
						SubjectID: v.ID, Payload: []byte(`{}`), CreatedAt: at}}},
			}
		}
		prepare := func() verification.Verification { return seedVerification(t, s, ins.ID, at, types...) }

		// Started together against one at a time.
		batch, alone := prepare(), prepare()
		var items []pipeline.StartCheck
		entry := func(v verification.Verification, c verification.Check) *audit.Entry {
			return &audit.Entry{ID: id.New(id.Audit), InsurerID: ins.ID, Actor: "system", Action: "partner.data_shared",
				VerificationID: v.ID, Detail: json.RawMessage(`{"checkId":"` + c.ID + `"}`), CreatedAt: at}
		}
		audits := func(v verification.Verification) int {
			var n int
			if err := s.DB().QueryRow(`SELECT COUNT(*) FROM audit_log WHERE verification_id = '` + v.ID + `'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		for _, c := range batch.Checks[:3] {
			items = append(items, pipeline.StartCheck{CheckID: c.ID, Partner: "p-" + string(c.Type), Audit: entry(batch, c)})
		}
		items = append(items, pipeline.StartCheck{CheckID: alone.Checks[0].ID, Partner: "foreign"}) // another verification's: started too
		started, _, err := s.StartChecks(ctx, ins.ID, items, at, "", nil)
		if err != nil || len(started) != 4 {
			t.Fatalf("start together: %v %v", started, err)
		}
		for _, c := range alone.Checks[1:3] {
			if ok, err := startCheck(ctx, s, ins.ID, c.ID, "p-"+string(c.Type), at, nil); err != nil || !ok {
				t.Fatalf("start alone: %v %v", ok, err)
			}
		}
		for _, v := range []verification.Verification{batch, alone} {
			got, _ := s.PipelineVerification(ctx, ins.ID, v.ID)
			if got.Status != verification.StatusRunning {
				t.Fatalf("started verification %s", got.Status)
			}
			for i, c := range got.Checks {
				want := 1
				if i == 3 {
					want = 0
				}
				if c.Attempts != want || (i < 3 && c.Partner != "p-"+string(c.Type)) && !(v.ID == alone.ID && i == 0) {
					t.Fatalf("check %d started: %+v", i, c)
				}
			}
		}

		// Answered together against one at a time.
		applied, err := s.UpdateChecks(ctx, updates(batch))
		if err != nil {
			t.Fatal(err)
		}
		for i, u := range updates(alone) {
			ok, err := s.UpdateCheck(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			if ok != applied[i] {
				t.Fatalf("update %d: alone %v, together %v", i, ok, applied[i])
			}
		}
		if want := []bool{true, true, false, true}; !slices.Equal(applied, want) {
			t.Fatalf("applied %v, want %v", applied, want)
		}
		b, _ := s.PipelineVerification(ctx, ins.ID, batch.ID)
		a, _ := s.PipelineVerification(ctx, ins.ID, alone.ID)
		if b.Status != a.Status || b.Status != verification.StatusAwaitingPartner {
			t.Fatalf("status together %s, alone %s", b.Status, a.Status)
		}
		ea, _ := s.CheckEvidence(ctx, ins.ID, alone.ID)
		eb, _ := s.CheckEvidence(ctx, ins.ID, batch.ID)
		for i := range b.Checks {
			cb, ca := b.Checks[i], a.Checks[i]
			cb.ID, cb.VerificationID, ca.ID, ca.VerificationID = "", "", "", ""
			if i == 0 {
				cb.Partner, ca.Partner = "", "" // started under different names above
				for k := range cb.Signals {
					cb.Signals[k].CheckID, ca.Signals[k].CheckID = "", ""
				}
			}
			if fmt.Sprintf("%+v", cb) != fmt.Sprintf("%+v", ca) {
				t.Errorf("check %d\n together %+v\n alone    %+v", i, cb, ca)
			}
			if !bytes.Equal(eb[b.Checks[i].ID], ea[a.Checks[i].ID]) {
				t.Errorf("check %d evidence: together %x, alone %x", i, eb[b.Checks[i].ID], ea[a.Checks[i].ID])
			}
		}
		if !bytes.Equal(eb[b.Checks[0].ID], []byte{0, 1, 2, 255}) || b.Checks[0].EvidenceSHA256 != "abc" {
			t.Errorf("sealed answer %x %q", eb[b.Checks[0].ID], b.Checks[0].EvidenceSHA256)
		}
		if c := b.Checks[1]; c.Status != risk.CheckAwaitingPartner || !c.PollAfter.Equal(at.Add(time.Minute)) || c.Attempts != 2 || !c.CompletedAt.IsZero() {
			t.Errorf("awaiting check %+v", c)
		}
		if c := b.Checks[2]; c.Status != risk.CheckPending || c.Outcome != "" {
			t.Errorf("refused update written: %+v", c)
		}
		var n int
		if err := s.DB().QueryRow(`SELECT COUNT(*) FROM outbox_events WHERE subject_id = '` + batch.ID + `'`).Scan(&n); err != nil || n != 1 {
			t.Errorf("events of the applied updates: %d %v", n, err)
		}

		// Only the checks started have their sharing recorded: a start of
		// a check no longer PENDING writes nothing.
		if n := audits(batch); n != 3 {
			t.Fatalf("audit entries of three started checks: %d", n)
		}
		again, _, err := s.StartChecks(ctx, ins.ID, []pipeline.StartCheck{
			{CheckID: batch.Checks[0].ID, Partner: "late", Audit: entry(batch, batch.Checks[0])},
			{CheckID: batch.Checks[2].ID, Partner: "p-" + string(batch.Checks[2].Type), Audit: entry(batch, batch.Checks[2])}}, at, "", nil)
		if err != nil || len(again) != 1 || !again[batch.Checks[2].ID] || audits(batch) != 4 {
			t.Fatalf("start again: %v %v, %d audit entries", again, err, audits(batch))
		}

		// The same check twice in one call: the second sees the first.
		w := seedVerification(t, s, ins.ID, at, risk.CheckWatchlist)
		first := pipeline.CheckUpdate{InsurerID: ins.ID, VerificationID: w.ID, CheckID: w.Checks[0].ID, From: []risk.CheckStatus{risk.CheckPending},
			Attempts: -1, Status: risk.CheckAwaitingPartner, PollAfter: at.Add(time.Minute), At: at}
		second := first
		second.From, second.Status, second.PollAfter, second.Outcome = []risk.CheckStatus{risk.CheckAwaitingPartner}, risk.CheckCompleted, time.Time{}, "CLEAR"
		applied, err = s.UpdateChecks(ctx, []pipeline.CheckUpdate{first, second})
		if err != nil || !slices.Equal(applied, []bool{true, true}) {
			t.Fatalf("same check twice: %v %v", applied, err)
		}
	})
}

// CreateVerification returns the verification exactly as reading it back
// does, which it no longer does.
func TestCreateVerificationReturnsItAsStored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ins := acme(t, s)
		paris := time.FixedZone("Paris", 3600)
		at := time.Date(2026, 11, 27, 13, 4, 5, 123456789, paris)
		for i, meta := range []string{`{"channel": "broker", "n": 2}`, "{}", ""} {
			vid := id.NewAt(id.Verification, at)
			v := verification.Verification{ID: vid, InsurerID: ins.ID, Mode: "LIVE", Status: verification.StatusQueued,
				ExternalReference: "ext-" + strconv.Itoa(i), IdempotencyKey: "idem-" + strconv.Itoa(i), RequestHash: "h", APIKeyID: "key_x",
				Product: "TRAVEL", CoverageCountry: "FRA", PolicyStart: "2026-12-01", PolicyEnd: "2027-01-01", Metadata: json.RawMessage(meta),
				DeadlineAt: at.Add(72 * time.Hour), CreatedAt: at, UpdatedAt: at,
				Consent: verification.Consent{ID: id.New(id.Consent), Reference: "c-1", ObtainedAt: at.Add(-time.Hour), LawfulBasis: "CONSENT",
					Purposes: []string{"UNDERWRITING", "FRAUD_PREVENTION"}}}
			if i == 2 {
				v.ExternalReference, v.IdempotencyKey = "", ""
			}
			for _, ct := range []risk.CheckType{risk.CheckWatchlist, risk.CheckDocumentMRZ, risk.CheckImmigrationStatus} {
				v.Checks = append(v.Checks, verification.Check{ID: id.NewAt(id.Check, at), VerificationID: vid, InsurerID: ins.ID,
					Type: ct, Status: risk.CheckPending, CreatedAt: at, UpdatedAt: at})
			}
			slices.Reverse(v.Checks) // not in id order
			got, created, err := s.CreateVerification(ctx, verification.NewVerification{Verification: v, WrappedKey: []byte("k"), SealedPII: []byte("p")})
			if err != nil || !created {
				t.Fatalf("create: %v %v", created, err)
			}
			read, err := s.Verification(ctx, ins.ID, "LIVE", vid)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, read) {
				t.Errorf("metadata %q:\n returned %+v\n read     %+v", meta, got, read)
			}
			if i != 0 {
				continue
			}
			// The same idempotency key again: the first is returned and
			// nothing of the second is written.
			again := v
			again.ID, again.Consent.ID = id.NewAt(id.Verification, at), id.New(id.Consent)
			again.Checks = []verification.Check{{ID: id.NewAt(id.Check, at), VerificationID: again.ID, InsurerID: ins.ID,
				Type: risk.CheckWatchlist, Status: risk.CheckPending, CreatedAt: at, UpdatedAt: at}}
			prev, created, err := s.CreateVerification(ctx, verification.NewVerification{Verification: again, WrappedKey: []byte("k"), SealedPII: []byte("p"),
				BlindIndex: []verification.BlindEntry{{Kind: "document", Digest: "d-again"}}})
			if err != nil || created || prev.ID != vid {
				t.Fatalf("same key: created %v, got %s, want %s: %v", created, prev.ID, vid, err)
			}
			// A later insert that fails takes the verification with it.
			broken := again
			broken.ID, broken.IdempotencyKey = id.NewAt(id.Verification, at), "idem-broken"
			dup := verification.Check{ID: id.NewAt(id.Check, at), VerificationID: broken.ID, InsurerID: ins.ID,
				Type: risk.CheckWatchlist, Status: risk.CheckPending, CreatedAt: at, UpdatedAt: at}
			broken.Checks = []verification.Check{dup, dup}
			if _, _, err := s.CreateVerification(ctx, verification.NewVerification{Verification: broken, WrappedKey: []byte("k"), SealedPII: []byte("p")}); err == nil {
				t.Fatal("a check twice: no error")
			}
			var n int
			if err := s.DB().QueryRow(`SELECT COUNT(*) FROM verifications WHERE id = '` + broken.ID + `'`).Scan(&n); err != nil || n != 0 {
				t.Fatalf("verification of a failed create: %d %v", n, err)
			}
			for _, table := range []string{"checks", "consents", "blind_index"} {
				var n int
				if err := s.DB().QueryRow(`SELECT COUNT(*) FROM ` + table + ` WHERE verification_id = '` + again.ID + `'`).Scan(&n); err != nil || n != 0 {
					t.Errorf("%s rows of the refused verification: %d %v", table, n, err)
				}
			}
		}
	})
}

// When the last write of the answers' transaction fails, nothing of it
// stays: not the answers, not the usage rows, not the outcome; and the
// connection goes back to the pool out of any transaction.
func TestAnswersRollBackWhole(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ins := acme(t, s)
		at := time.Now().UTC().Truncate(time.Microsecond)
		v := seedVerification(t, s, ins.ID, at, risk.CheckWatchlist, risk.CheckDocumentRegistry)
		taken := id.New(id.Event)
		if _, err := s.DB().Exec(`INSERT INTO outbox_events (id, insurer_id, mode, type, subject_id, payload, created_at)
			VALUES ('` + taken + `', '` + ins.ID + `', 'TEST', 'x', 'y', '{}', 1)`); err != nil {
			t.Fatal(err)
		}
		var us []pipeline.CheckUpdate
		for _, c := range v.Checks {
			u := pipeline.CheckUpdate{InsurerID: ins.ID, VerificationID: v.ID, CheckID: c.ID, From: []risk.CheckStatus{risk.CheckPending},
				Attempts: -1, Status: risk.CheckCompleted, Outcome: "CLEAR", At: at}
			meter, _ := billing.MeterFor(c.Type)
			u.Usage = &billing.Usage{ID: id.New(id.Usage), InsurerID: ins.ID, Mode: "TEST", Meter: meter, Quantity: 1,
				Partner: "p", PartnerCost: billing.Money{Minor: 10, Currency: "EUR"}, VerificationID: v.ID, CheckID: c.ID, OccurredAt: at}
			us = append(us, u)
		}
		o := pipeline.OutcomeUpdate{InsurerID: ins.ID, VerificationID: v.ID, Status: verification.StatusCompleted, At: at,
			Outcome: risk.Outcome{Band: risk.BandLow, Decision: risk.DecisionClear, PolicyVersion: 1},
			Events: []outbox.Event{{ID: taken, InsurerID: ins.ID, Mode: "TEST", Type: outbox.VerificationCompleted, SubjectID: v.ID,
				Payload: []byte(`{}`), CreatedAt: at}}}
		if _, _, err := s.UpdateChecksAndScore(ctx, us, o); err == nil {
			t.Fatal("an event id taken: no error")
		}
		got, err := s.PipelineVerification(ctx, ins.ID, v.ID)
		if err != nil || got.Status != verification.StatusQueued || got.Outcome != nil {
			t.Fatalf("verification after the failed write: %+v %v", got, err)
		}
		for _, c := range got.Checks {
			if c.Status != risk.CheckPending {
				t.Fatalf("answer kept after the failed write: %+v", c)
			}
		}
		var n int
		if err := s.DB().QueryRow(`SELECT COUNT(*) FROM usage_events WHERE verification_id = '` + v.ID + `'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("usage rows kept: %d %v", n, err)
		}
		// Every connection of the pool is out of a transaction: writes on
		// each are seen from the others.
		for i := range 30 {
			w := seedVerification(t, s, ins.ID, at.Add(time.Duration(i+1)*time.Millisecond), risk.CheckWatchlist)
			if _, err := s.PipelineVerification(ctx, ins.ID, w.ID); err != nil {
				t.Fatalf("write %d not seen: %v", i, err)
			}
		}
		// The same answers with a fresh event id then go through.
		o.Events[0].ID = id.New(id.Event)
		applied, scored, err := s.UpdateChecksAndScore(ctx, us, o)
		if err != nil || !scored || slices.Contains(applied, false) {
			t.Fatalf("after the failure: applied %v scored %v %v", applied, scored, err)
		}
	})
}

// An outcome is written with its events or not at all: a provisional one
// leaves the verification open and without a completion time, a final one
// applies once, and a missing verification is NOT_FOUND.
func TestSaveOutcome(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ins := acme(t, s)
		at := time.Now().UTC().Truncate(time.Microsecond)
		v := seedVerification(t, s, ins.ID, at, risk.CheckWatchlist)
		events := func(typ string) int {
			var n int
			if err := s.DB().QueryRow(`SELECT COUNT(*) FROM outbox_events WHERE subject_id = '` + v.ID + `' AND type = '` + typ + `'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		outcome := func(status verification.Status, typ string, provisional bool) pipeline.OutcomeUpdate {
			return pipeline.OutcomeUpdate{InsurerID: ins.ID, VerificationID: v.ID, Status: status, At: at,
				Outcome: risk.Outcome{Score: 40, Band: risk.BandMedium, Decision: risk.DecisionReview, PolicyVersion: 3, Provisional: provisional},
				Events: []outbox.Event{{ID: id.New(id.Event), InsurerID: ins.ID, Mode: "TEST", Type: typ, SubjectID: v.ID,
					Payload: []byte(`{}`), CreatedAt: at}}}
		}
		if ok, err := s.SaveOutcome(ctx, outcome(verification.StatusAwaitingPartner, "verification.provisional", true)); err != nil || !ok {
			t.Fatalf("provisional: %v %v", ok, err)
		}
		got, _ := s.PipelineVerification(ctx, ins.ID, v.ID)
		if got.Status != verification.StatusAwaitingPartner || !got.CompletedAt.IsZero() || got.Outcome == nil || !got.Outcome.Provisional ||
			events("verification.provisional") != 1 {
			t.Fatalf("after the provisional outcome: %+v, %d events", got, events("verification.provisional"))
		}
		for i, want := range []bool{true, false} {
			ok, err := s.SaveOutcome(ctx, outcome(verification.StatusCompleted, outbox.VerificationCompleted, false))
			if err != nil || ok != want {
				t.Fatalf("final outcome %d: %v %v", i, ok, err)
			}
		}
		got, _ = s.PipelineVerification(ctx, ins.ID, v.ID)
		if got.Status != verification.StatusCompleted || !got.CompletedAt.Equal(at) || got.Outcome.Provisional ||
			events(outbox.VerificationCompleted) != 1 {
			t.Fatalf("after the final outcome: %+v, %d events", got, events(outbox.VerificationCompleted))
		}
		missing := outcome(verification.StatusCompleted, outbox.VerificationCompleted, false)
		missing.VerificationID = id.New(id.Verification)
		if _, err := s.SaveOutcome(ctx, missing); !errs.Is(err, errs.NotFound) {
			t.Fatalf("missing verification: %v", err)
		}
	})
}

// TestRunInputsMatchTheirReads: what a run reads in one round trip equals
// the separate reads it replaces, reuse included: the same document under
// another person of the insurer is reuse, under the same person or at
// another insurer it is not.
func TestRunInputsMatchTheirReads(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ins, other := acme(t, s), insurerNamed(t, s, "Other", "USA")
		t0 := time.Now().UTC().Truncate(time.Microsecond).Add(-time.Hour)
		type seeded struct {
			v      verification.Verification
			docs   []string
			person string
			reused bool
		}
		seed := func(insurerID string, at time.Duration, person string, reused bool, docs ...string) seeded {
			t.Helper()
			v := seedVerification(t, s, insurerID, t0.Add(at), risk.CheckDocumentMRZ, risk.CheckWatchlist)
			blind := []verification.BlindEntry{{Kind: "person", Digest: person}}
			for _, d := range docs {
				blind = append(blind, verification.BlindEntry{Kind: "document", Digest: d})
			}
			if _, err := s.DB().ExecContext(ctx, rebind(s, `DELETE FROM blind_index WHERE verification_id = $1`), v.ID); err != nil {
				t.Fatal(err)
			}
			for _, b := range blind {
				if _, err := s.DB().ExecContext(ctx, rebind(s, `INSERT INTO blind_index (insurer_id, kind, digest, verification_id, created_at)
					VALUES ($1, $2, $3, $4, 0)`), insurerID, b.Kind, b.Digest, v.ID); err != nil {
					t.Fatal(err)
				}
			}
			return seeded{v, docs, person, reused}
		}
		all := []seeded{
			seed(ins.ID, 0, "p1", false, "d1"),
			seed(ins.ID, time.Second, "p1", false, "d1"), // the same person again
			seed(ins.ID, 2*time.Second, "p2", true, "d2", "d3"),
			seed(ins.ID, 3*time.Second, "p3", true, "d3"), // d3 under another person
			seed(other.ID, 4*time.Second, "p9", false, "d1"),
			seed(ins.ID, 5*time.Second, "p4", false),
		}
		check := func(sd seeded, wantPolicy risk.Policy, stored bool) {
			t.Helper()
			in, err := s.RunInputs(ctx, sd.v.InsurerID, sd.v.ID)
			if err != nil {
				t.Fatal(err)
			}
			v, _ := s.PipelineVerification(ctx, sd.v.InsurerID, sd.v.ID)
			if !reflect.DeepEqual(in.Verification, v) {
				t.Errorf("verification\n got  %+v\n want %+v", in.Verification, v)
			}
			wk, sealed, _ := s.Sealed(ctx, sd.v.InsurerID, sd.v.Mode, sd.v.ID)
			if !bytes.Equal(in.WrappedKey, wk) || !bytes.Equal(in.Sealed, sealed) || (wk == nil) != (in.WrappedKey == nil) {
				t.Errorf("sealed: %q %q, want %q %q", in.WrappedKey, in.Sealed, wk, sealed)
			}
			docs := slices.Sorted(slices.Values(in.Digests.Documents))
			if !slices.Equal(docs, sd.docs) || in.Digests.Person != sd.person {
				t.Errorf("digests %+v, want %v %q", in.Digests, sd.docs, sd.person)
			}
			reused, err := s.DocumentReused(ctx, sd.v.InsurerID, sd.v.ID, sd.docs, sd.person)
			if err != nil || reused != sd.reused {
				t.Errorf("%s %v: reused %v %v, want %v", sd.person, sd.docs, reused, err, sd.reused)
			}
			// The start of a partner check answers it too, and so does a
			// start that finds nothing left to start.
			for _, c := range in.Verification.Checks {
				if c.Type != risk.CheckWatchlist {
					continue
				}
				_, reused, err := s.StartChecks(ctx, sd.v.InsurerID, []pipeline.StartCheck{{CheckID: c.ID, Partner: "sim"}}, t0, "",
					&pipeline.ReuseQuery{VerificationID: sd.v.ID, Digests: in.Digests})
				if err != nil || reused != sd.reused {
					t.Errorf("%s %v: reused at the start %v %v, want %v", sd.person, sd.docs, reused, err, sd.reused)
				}
			}
			if in.PolicyStored != stored || (stored && !reflect.DeepEqual(in.Policy, wantPolicy)) {
				t.Errorf("policy: stored %v %+v, want %v %+v", in.PolicyStored, in.Policy.Version, stored, wantPolicy.Version)
			}
		}
		for _, sd := range all {
			check(sd, risk.Policy{}, false)
		}
		p2 := risk.DefaultPolicy().Clone()
		p2.InsurerID, p2.Version, p2.CreatedAt = ins.ID, 2, t0
		p2.Decisions.Review = 20
		if err := s.PutRiskPolicy(ctx, p2); err != nil {
			t.Fatal(err)
		}
		stored, _, _ := s.RiskPolicy(ctx, ins.ID)
		check(all[0], stored, true)
		check(all[4], risk.Policy{}, false) // the other insurer's

		// An unreadable policy does not fail the read: the run scores on
		// its own task instead.
		if _, err := s.DB().ExecContext(ctx, rebind(s, `INSERT INTO risk_policies (insurer_id, version, policy, created_at)
			VALUES ($1, 99, 'not json', 0)`), ins.ID); err != nil {
			t.Fatal(err)
		}
		if in, err := s.RunInputs(ctx, ins.ID, all[0].v.ID); err != nil || in.PolicyStored || !errs.Is(in.PolicyErr, errs.Internal) {
			t.Fatalf("unreadable policy: %v stored %v %v", err, in.PolicyStored, in.PolicyErr)
		}
		if _, err := s.DB().ExecContext(ctx, `DELETE FROM risk_policies WHERE version = 99`); err != nil {
			t.Fatal(err)
		}

		// Erased: no sealed data, and its digests are gone with it.
		e := all[3]
		if _, err := s.Erase(ctx, ins.ID, e.v.ID, "usr_1", "request", t0.Add(time.Minute),
			audit.Entry{ID: id.New(id.Audit), InsurerID: ins.ID, Actor: "usr_1", Action: "verification.erased", VerificationID: e.v.ID, CreatedAt: t0},
			outbox.Event{ID: id.New(id.Event), InsurerID: ins.ID, Mode: "TEST", Type: outbox.VerificationErased, SubjectID: e.v.ID, Payload: []byte(`{}`), CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		if in, err := s.RunInputs(ctx, ins.ID, e.v.ID); err != nil || in.WrappedKey != nil || in.Sealed != nil || in.Digests.Documents != nil || in.Digests.Person != "" {
			t.Fatalf("erased: %v %q %q digests %+v", err, in.WrappedKey, in.Sealed, in.Digests)
		}
		all[2].reused = false
		check(all[2], stored, true)

		if _, err := s.RunInputs(ctx, other.ID, all[0].v.ID); !errs.Is(err, errs.NotFound) {
			t.Fatalf("another insurer's verification: %v", err)
		}
	})
}

// rebind writes $n placeholders as the store's database wants them.
func rebind(s *store.Store, q string) string {
	if s.Dialect() == store.SQLite {
		return regexpDollar.ReplaceAllString(q, "?")
	}
	return q
}

var regexpDollar = regexp.MustCompile(`\$\d+`)

// TestOutcomePublishedWithItsDeliveries: a run reads the endpoints an
// outcome's events go to with its verification, and the outcome, its
// events (published) and their deliveries commit together, or none of
// them when the outcome's guard fails.
func TestOutcomePublishedWithItsDeliveries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		f := newWHFixture(t, s)
		ctx := f.ctx
		want := f.endpoint(f.a, tenant.Test, outbox.VerificationCompleted)
		other := f.endpoint(f.a, tenant.Test, outbox.VerificationErased)
		disabled := f.endpoint(f.a, tenant.Test, outbox.VerificationCompleted)
		disabled.Enabled, disabled.DisabledReason, disabled.DisabledAt = false, webhook.DisabledManually, f.now
		if err := s.UpdateWebhookEndpoint(ctx, disabled); err != nil {
			t.Fatal(err)
		}
		f.endpoint(f.a, tenant.Live, outbox.VerificationCompleted)
		f.endpoint(f.b, tenant.Test, outbox.VerificationCompleted)

		at := time.Now().UTC().Truncate(time.Microsecond)
		v := seedVerification(t, s, f.a, at, risk.CheckWatchlist)
		in, err := s.RunInputs(ctx, f.a, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, e := range in.Endpoints {
			ids = append(ids, e.ID)
		}
		if !slices.Equal(ids, []string{want.ID, other.ID}) {
			t.Fatalf("endpoints read with the verification: %v, want %v", ids, []string{want.ID, other.ID})
		}

		ev := outbox.Event{ID: id.New(id.Event), InsurerID: f.a, Mode: "TEST", Type: outbox.VerificationCompleted,
			SubjectID: v.ID, Payload: []byte(`{}`), CreatedAt: at}
		o := pipeline.OutcomeUpdate{InsurerID: f.a, VerificationID: v.ID, Status: verification.StatusCompleted, At: at,
			Outcome: risk.Outcome{Band: risk.BandLow, Decision: risk.DecisionClear, PolicyVersion: 1},
			Events:  []outbox.Event{ev}, Published: true, Deliveries: webhook.Fanout(ev, in.Endpoints, at)}
		if len(o.Deliveries) != 1 || o.Deliveries[0].EndpointID != want.ID {
			t.Fatalf("fan-out: %+v", o.Deliveries)
		}
		answer := pipeline.CheckUpdate{InsurerID: f.a, VerificationID: v.ID, CheckID: v.Checks[0].ID, From: []risk.CheckStatus{risk.CheckPending},
			Attempts: -1, Status: risk.CheckCompleted, Outcome: "CLEAR", At: at}
		published := func() (events, publishedAt, deliveries int) {
			t.Helper()
			if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*), COUNT(published_at) FROM outbox_events WHERE subject_id = '`+v.ID+`'`).
				Scan(&events, &publishedAt); err != nil {
				t.Fatal(err)
			}
			ds, err := s.WebhookDeliveries(ctx, webhook.DeliveryFilter{InsurerID: f.a, Mode: tenant.Test, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range ds {
				if d.EventID != ev.ID || d.EndpointID != want.ID || d.Status != webhook.Pending || d.ID != o.Deliveries[0].ID {
					t.Errorf("delivery %+v", d)
				}
			}
			return events, publishedAt, len(ds)
		}

		// The guard fails (the check is not AWAITING_PARTNER): nothing.
		refused := answer
		refused.From = []risk.CheckStatus{risk.CheckAwaitingPartner}
		if _, scored, err := s.UpdateChecksAndScore(ctx, []pipeline.CheckUpdate{refused}, o); err != nil || scored {
			t.Fatalf("refused: scored %v %v", scored, err)
		}
		if e, p, d := published(); e != 0 || p != 0 || d != 0 {
			t.Fatalf("refused outcome left %d events (%d published), %d deliveries", e, p, d)
		}
		if _, scored, err := s.UpdateChecksAndScore(ctx, []pipeline.CheckUpdate{answer}, o); err != nil || !scored {
			t.Fatalf("scored %v %v", scored, err)
		}
		if e, p, d := published(); e != 1 || p != 1 || d != 1 {
			t.Fatalf("outcome written with %d events (%d published), %d deliveries; want 1, 1, 1", e, p, d)
		}
	})
}
