package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/borderproof/borderproof/internal/audit"
	"github.com/borderproof/borderproof/internal/billing"
	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/evidence"
	"github.com/borderproof/borderproof/internal/partnersim"
	"github.com/borderproof/borderproof/internal/partnersim/simtest"
	"github.com/borderproof/borderproof/internal/pipeline"
	"github.com/borderproof/borderproof/internal/risk"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/verification"
)

// process runs one task through the worker's mux, as asynq would.
func process(t *testing.T, w *Worker, typ string, payload []byte) error {
	t.Helper()
	return w.mux.ProcessTask(context.Background(), asynq.NewTask(typ, payload))
}

func (f *fixture) runChecks(w *Worker, v verification.Verification) {
	f.t.Helper()
	for _, c := range v.Checks {
		if err := process(f.t, w, verification.TaskCheckRun, verification.EncodeCheck(v.InsurerID, v.ID, c.ID)); err != nil {
			f.t.Fatalf("check:run %s: %v", c.Type, err)
		}
	}
}

func (f *fixture) score(w *Worker, v verification.Verification) {
	f.t.Helper()
	if err := process(f.t, w, verification.TaskScore, verification.EncodeVerification(v.InsurerID, v.ID)); err != nil {
		f.t.Fatalf("verification:score: %v", err)
	}
}

func (f *fixture) count(query string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.store.DB().QueryRow(query, args...).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

func checkOf(v verification.Verification, t risk.CheckType) verification.Check {
	for _, c := range v.Checks {
		if c.Type == t {
			return c
		}
	}
	return verification.Check{}
}

func codes(sigs []risk.Signal) []string {
	var out []string
	for _, s := range sigs {
		out = append(out, string(s.Code))
	}
	slices.Sort(out)
	return out
}

func TestCheckRunAndScoreThroughProcessTask(t *testing.T) {
	f := newFixture(t)
	w := f.worker(context.Background(), 1)

	v := f.submit(submission(1, "L898902C3"))
	f.runChecks(w, v)
	got := f.get(v.ID)
	// The last check to end scored the verification with its answer.
	if got.Status != verification.StatusCompleted {
		t.Fatalf("status after checks = %s, want COMPLETED", got.Status)
	}
	if n := f.count(`SELECT COUNT(*) FROM verifications WHERE id = $1 AND evidence_sha256 IS NOT NULL`, v.ID); n != 1 {
		t.Fatal("the last check did not bundle the evidence")
	}
	for _, c := range got.Checks {
		if c.Status != risk.CheckCompleted || c.Outcome != "CLEAR" {
			t.Fatalf("check %s: %s %s %s", c.Type, c.Status, c.Outcome, c.Reason)
		}
		if c.Type != risk.CheckDocumentMRZ && (len(c.EvidenceSHA256) != 64 || c.EvidenceKey != "" || c.Partner == "") {
			t.Fatalf("check %s: evidence %q %q partner %q", c.Type, c.EvidenceSHA256, c.EvidenceKey, c.Partner)
		}
	}
	// Four partner answers are billable; the local MRZ check is not.
	if n := f.count(`SELECT COUNT(*) FROM usage_events WHERE verification_id = $1`, v.ID); n != 4 {
		t.Fatalf("usage rows = %d, want 4", n)
	}
	// Written unpriced with the result; a roll-up task prices them.
	if n := f.count(`SELECT COUNT(*) FROM usage_events WHERE verification_id = $1 AND priced_at IS NULL`, v.ID); n != 4 {
		t.Fatalf("unpriced usage rows = %d, want 4", n)
	}
	insp := asynq.NewInspector(f.stack.redis)
	defer insp.Close()
	scheduled, err := insp.ListScheduledTasks(verification.QueueDefault)
	if err != nil {
		t.Fatal(err)
	}
	var rollUp *asynq.TaskInfo
	for _, ti := range scheduled {
		if ti.Type == billing.TaskRollUp {
			rollUp = ti
		}
	}
	if rollUp == nil {
		t.Fatalf("no %s task queued after billable checks", billing.TaskRollUp)
	}
	if err := process(t, w, billing.TaskRollUp, rollUp.Payload); err != nil {
		t.Fatal(err)
	}
	if n := f.count(`SELECT COUNT(*) FROM usage_events WHERE verification_id = $1 AND priced_at IS NOT NULL AND plan_id <> ''`, v.ID); n != 4 {
		t.Fatalf("priced usage rows = %d, want 4", n)
	}
	// Each answer is recorded with its result, sealed (the stored bytes
	// are not the partner's JSON), under the digest recorded beside it.
	answers, err := f.store.CheckEvidence(context.Background(), v.InsurerID, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(answers) != 4 {
		t.Fatalf("answers recorded = %d, want 4", len(answers))
	}
	for _, c := range got.Checks {
		b, ok := answers[c.ID]
		if c.EvidenceSHA256 == "" {
			if ok {
				t.Fatalf("check %s holds an answer without a digest", c.Type)
			}
			continue
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != c.EvidenceSHA256 {
			t.Fatalf("answer of %s does not match its digest", c.Type)
		}
		if json.Valid(b) {
			t.Fatalf("evidence of %s is readable JSON: not sealed", c.Type)
		}
	}
	// One audit entry per outbound request, naming fields only.
	entries, err := f.store.AuditLog(context.Background(), v.InsurerID, audit.Filter{Action: audit.ActionPartnerShare, VerificationID: v.ID}, "", 50)
	if err != nil || len(entries) != 4 {
		t.Fatalf("audit entries = %d, %v", len(entries), err)
	}
	for _, e := range entries {
		if s := string(e.Detail); contains(s, "Eriksson") || contains(s, "L898902C3") || contains(s, "1974") {
			t.Fatalf("audit detail holds personal data: %s", s)
		}
	}

	// Running a terminal check again changes nothing.
	f.runChecks(w, v)
	if n := f.count(`SELECT COUNT(*) FROM usage_events WHERE verification_id = $1`, v.ID); n != 4 {
		t.Fatalf("usage rows after a second run = %d, want 4", n)
	}

	f.score(w, v) // a score task after that writes nothing new
	got = f.get(v.ID)
	if got.Status != verification.StatusCompleted || got.Outcome == nil || got.Outcome.Decision != risk.DecisionClear ||
		got.Outcome.Provisional || got.Outcome.PolicyVersion != 1 || got.CompletedAt.IsZero() {
		t.Fatalf("scored: %s %+v", got.Status, got.Outcome)
	}
	f.score(w, v) // idempotent
	if n := f.count(`SELECT COUNT(*) FROM outbox_events WHERE subject_id = $1 AND type = 'verification.completed'`, v.ID); n != 1 {
		t.Fatalf("completed events = %d, want 1", n)
	}
	var payload string
	if err := f.store.DB().QueryRow(`SELECT payload FROM outbox_events WHERE subject_id = $1 AND type = 'verification.completed'`, v.ID).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	if contains(payload, "Eriksson") || !contains(payload, `"decision":"CLEAR"`) {
		t.Fatalf("event payload: %s", payload)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestMagicValuesScore(t *testing.T) {
	f := newFixture(t)
	w := f.worker(context.Background(), 1)
	cases := []struct {
		number   string
		decision risk.Decision
		first    risk.SignalCode
	}{
		{"STOLEN001", risk.DecisionDecline, risk.SignalDocumentStolen},
		{"LOST00001", risk.DecisionReview, risk.SignalDocumentLost},
		{"OVERSTAY1", risk.DecisionReview, risk.SignalOverstay}, // 31 days score 10 points; rule OVERSTAY_RECORDED
	}
	for i, tc := range cases {
		t.Run(tc.number, func(t *testing.T) {
			v := f.submit(submission(10+i, tc.number))
			f.runChecks(w, v)
			f.score(w, v)
			got := f.get(v.ID)
			if got.Status != verification.StatusCompleted || got.Outcome == nil || got.Outcome.Decision != tc.decision {
				t.Fatalf("%s: outcome %+v, want %s", got.Status, got.Outcome, tc.decision)
			}
			if len(got.Outcome.Reasons) == 0 || got.Outcome.Reasons[0].Code != tc.first {
				t.Fatalf("reasons %+v, want %s first", got.Outcome.Reasons, tc.first)
			}
			if tc.decision == risk.DecisionReview {
				if n := f.count(`SELECT COUNT(*) FROM outbox_events WHERE subject_id = $1 AND type = 'verification.review_required'`, v.ID); n != 1 {
					t.Fatalf("review_required events = %d", n)
				}
			}
		})
	}
}

func TestDocumentCheckSignals(t *testing.T) {
	f := newFixture(t)
	w := f.worker(context.Background(), 1)
	// The ICAO 9303 specimen passport: a UTO document that expired in 2012,
	// typed as Swedish and valid until 2030.
	in := submission(1, "L898902C3")
	in.Checks = []string{"DOCUMENT_MRZ"}
	in.Documents[0].MRZ = []string{"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"}
	v := f.submit(in)
	f.runChecks(w, v)
	c := checkOf(f.get(v.ID), risk.CheckDocumentMRZ)
	want := []string{"DOCUMENT_EXPIRED", "MRZ_FIELD_MISMATCH", "SPECIMEN_DOCUMENT"}
	if !slices.Equal(codes(c.Signals), want) || c.Outcome != "ALERT" {
		t.Fatalf("signals %v outcome %s, want %v ALERT", codes(c.Signals), c.Outcome, want)
	}
	for _, s := range c.Signals {
		if s.Code == risk.SignalMRZFieldMismatch && s.Detail["fields"] != "expiryDate,nationality" {
			t.Fatalf("mismatch detail %v", s.Detail)
		}
	}

	// The same document for another person is reused; for the same
	// person it is not.
	same := submission(2, "X1234567")
	same.Checks = []string{"DOCUMENT_MRZ"}
	f.runChecks(w, f.submit(same))
	again := f.submit(same)
	f.runChecks(w, again)
	if got := codes(checkOf(f.get(again.ID), risk.CheckDocumentMRZ).Signals); slices.Contains(got, "DOCUMENT_REUSE") {
		t.Fatalf("same person flagged as reuse: %v", got)
	}
	other := submission(3, "X1234567")
	other.Checks = []string{"DOCUMENT_MRZ"}
	other.Policyholder.GivenNames, other.Policyholder.Surname = "Bob", "Other"
	ov := f.submit(other)
	f.runChecks(w, ov)
	if got := codes(checkOf(f.get(ov.ID), risk.CheckDocumentMRZ).Signals); !slices.Contains(got, "DOCUMENT_REUSE") {
		t.Fatalf("another person's document not flagged: %v", got)
	}
	// A run with a partner check asks the blind index with its start.
	carol := submission(4, "X1234567").Policyholder
	carol.GivenNames, carol.Surname = "Carol", "Third"
	own := submission(5, "Y7654321")
	own.Checks = []string{"DOCUMENT_MRZ"}
	f.runChecks(w, f.submit(own))
	for i, c := range []struct {
		holder   verification.Policyholder
		document string
		reused   bool
	}{{carol, "X1234567", true}, {own.Policyholder, "Y7654321", false}} {
		withPartner := submission(6+i, c.document)
		withPartner.Checks = []string{"DOCUMENT_MRZ", "WATCHLIST"}
		withPartner.Policyholder = c.holder
		wv := f.submit(withPartner)
		if err := process(t, w, verification.TaskRun, verification.EncodeVerification(wv.InsurerID, wv.ID)); err != nil {
			t.Fatal(err)
		}
		got := f.get(wv.ID)
		if s := checkOf(got, risk.CheckWatchlist).Status; s != risk.CheckCompleted {
			t.Fatalf("%s: watchlist check %s, want it run", c.holder.GivenNames, s)
		}
		doc := checkOf(got, risk.CheckDocumentMRZ)
		if slices.Contains(codes(doc.Signals), "DOCUMENT_REUSE") != c.reused || (c.reused && doc.Outcome != "ALERT") {
			t.Fatalf("%s: signals %v outcome %s, reuse want %v", c.holder.GivenNames, codes(doc.Signals), doc.Outcome, c.reused)
		}
	}
}

func TestDataSharingRefusalSkipsCheck(t *testing.T) {
	f := newFixture(t)
	w := f.worker(context.Background(), 1)
	// An EU insurer may send an EU resident's data outside the EEA only on
	// consent: under CONTRACT the Australian visa service is refused.
	in := submission(1, "L898902C3")
	in.Consent.LawfulBasis = "CONTRACT"
	in.Checks = []string{"IMMIGRATION_STATUS", "DOCUMENT_REGISTRY"}
	v := f.submit(in)
	f.runChecks(w, v)
	got := f.get(v.ID)
	c := checkOf(got, risk.CheckImmigrationStatus)
	if c.Status != risk.CheckSkipped || c.Reason != pipeline.ReasonNotPermitted || !slices.Equal(codes(c.Signals), []string{"DATA_SHARING_NOT_PERMITTED"}) {
		t.Fatalf("refused check: %s %s %v", c.Status, c.Reason, codes(c.Signals))
	}
	if n := f.count(`SELECT COUNT(*) FROM usage_events WHERE check_id = $1`, c.ID); n != 0 {
		t.Fatalf("a refused check was billed")
	}
	if r := checkOf(got, risk.CheckDocumentRegistry); r.Status != risk.CheckCompleted {
		t.Fatalf("registry (FRA) should run: %s", r.Status)
	}
}

func TestConcurrentRunsApplyOnce(t *testing.T) {
	f := newFixture(t)
	w := f.worker(context.Background(), 1)
	in := submission(1, "L898902C3")
	in.Checks = []string{"WATCHLIST"}
	v := f.submit(in)
	c := v.Checks[0]
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := process(t, w, verification.TaskCheckRun, verification.EncodeCheck(v.InsurerID, v.ID, c.ID)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := f.count(`SELECT COUNT(*) FROM usage_events WHERE check_id = $1`, c.ID); n != 1 {
		t.Fatalf("usage rows = %d, want 1", n)
	}
	if got := checkOf(f.get(v.ID), risk.CheckWatchlist); got.Status != risk.CheckCompleted {
		t.Fatalf("check %s", got.Status)
	}
}

// bundlesOf lists the evidence bundles stored for v, recorded or not.
func (f *fixture) bundlesOf(v verification.Verification) []string {
	f.t.Helper()
	keys, err := f.blobs.List(context.Background(), evidence.Folder(v.InsurerID, v.ID)+".")
	if err != nil {
		f.t.Fatal(err)
	}
	return keys
}

// TestRerunDeletesTheBundleOfADeadRun: a run died after writing its bundle
// and before its outcome committed, as a SIGKILL between the two leaves
// it. The run after it completes the verification and deletes that
// bundle, so the verification has one signed account: the recorded one.
func TestRerunDeletesTheBundleOfADeadRun(t *testing.T) {
	f := newFixture(t)
	w := f.worker(context.Background(), 1)
	v := f.submit(submission(1, "L898902C3"))
	ctx := context.Background()
	// What the dead run left: its checks started, its bundle stored.
	if _, err := f.store.DB().ExecContext(ctx, `UPDATE checks SET attempts = 1 WHERE verification_id = $1 AND type <> 'DOCUMENT_MRZ'`, v.ID); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("the dead run's manifest"))
	dead := evidence.BundleKeyOf(v.InsurerID, v.ID, hex.EncodeToString(sum[:]))
	if err := f.blobs.Put(ctx, dead, strings.NewReader("signed bundle"), int64(len("signed bundle")), evidence.BundleContentType); err != nil {
		t.Fatal(err)
	}
	if err := process(t, w, verification.TaskRun, verification.EncodeVerification(v.InsurerID, v.ID)); err != nil {
		t.Fatal(err)
	}
	m, err := f.evidence.Get(ctx, v.InsurerID, v.ID)
	if err != nil {
		t.Fatalf("recorded bundle: %v", err)
	}
	if got, want := f.bundlesOf(v), []string{evidence.BundleKeyOf(v.InsurerID, v.ID, m.Digest)}; !slices.Equal(got, want) {
		t.Fatalf("bundles %q, want only the recorded %q", got, want)
	}
}

// TestConcurrentRunsLeaveOneBundle: runs of one verification side by side
// each call the partners and bundle their answers before their outcome;
// one outcome applies, and the others delete the bundles they wrote.
func TestConcurrentRunsLeaveOneBundle(t *testing.T) {
	f := newFixture(t)
	f.slowPartners(100 * time.Millisecond) // the runs overlap
	w := f.worker(context.Background(), 1)
	v := f.submit(submission(1, "L898902C3"))
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if err := process(t, w, verification.TaskRun, verification.EncodeVerification(v.InsurerID, v.ID)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := f.count(`SELECT COUNT(*) FROM checks WHERE verification_id = $1 AND attempts > 1`, v.ID); n == 0 {
		t.Fatal("the runs did not overlap: every check was asked once")
	}
	m, err := f.evidence.Get(context.Background(), v.InsurerID, v.ID)
	if err != nil {
		t.Fatalf("recorded bundle: %v", err)
	}
	if got, want := f.bundlesOf(v), []string{evidence.BundleKeyOf(v.InsurerID, v.ID, m.Digest)}; !slices.Equal(got, want) {
		t.Fatalf("bundles %q, want only the recorded %q", got, want)
	}
}

// TestDeadlineNeverClear: a partner that never answers leaves its check
// FAILED with PARTNER_TIMEOUT at the deadline, and the outcome is REVIEW.
func TestDeadlineNeverClear(t *testing.T) {
	f := newFixture(t, func(o *fixtureOptions) { o.settings = tenant.Settings{TestDeadlineSeconds: 3} })
	if err := f.sim.SetFault(partnersim.DocRegistry, partnersim.Fault{ErrorRate: 1}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := f.worker(ctx, 5)
	go w.Run(ctx)
	in := submission(1, "L898902C3")
	in.Checks = []string{"DOCUMENT_MRZ", "DOCUMENT_REGISTRY", "WATCHLIST"}
	v := f.submit(in)
	f.waitAll([]string{v.ID}, 20*time.Second, time.Second)
	got := f.get(v.ID)
	c := checkOf(got, risk.CheckDocumentRegistry)
	if c.Status != risk.CheckFailed || c.Reason != pipeline.ReasonPartnerTimeout {
		t.Fatalf("registry check %s %s", c.Status, c.Reason)
	}
	if got.Outcome.Decision == risk.DecisionClear || got.Outcome.HardRule != risk.RulePartnerDidNotAnswer {
		t.Fatalf("outcome %+v", got.Outcome)
	}
	if n := f.count(`SELECT COUNT(*) FROM usage_events WHERE check_id = $1`, c.ID); n != 0 {
		t.Fatal("an unanswered check was billed")
	}
}

// TestAwaitingPartnerPollsThenScores: a partner that opens a case leaves the
// check AWAITING_PARTNER with a provisional outcome; the poll after the case
// resolves completes it, bills it once and scores for good.
func TestAwaitingPartnerPollsThenScores(t *testing.T) {
	f := newFixture(t)
	w := f.worker(context.Background(), 1)
	in := submission(1, "SLOWCASE1")
	in.Policy.CoverageCountry = "USA" // the status-case partner
	in.Checks = []string{"DOCUMENT_MRZ", "IMMIGRATION_STATUS"}
	v := f.submit(in)
	f.runChecks(w, v)
	got := f.get(v.ID)
	c := checkOf(got, risk.CheckImmigrationStatus)
	if got.Status != verification.StatusAwaitingPartner || c.Status != risk.CheckAwaitingPartner || c.PartnerReference == "" || c.PollAfter.IsZero() {
		t.Fatalf("after check:run: %s, check %s ref %q poll %v", got.Status, c.Status, c.PartnerReference, c.PollAfter)
	}
	if n := f.count(`SELECT COUNT(*) FROM outbox_events WHERE subject_id = $1 AND type = 'check.awaiting_partner'`, v.ID); n != 1 {
		t.Fatalf("awaiting events = %d", n)
	}
	if n := f.count(`SELECT COUNT(*) FROM usage_events WHERE check_id = $1`, c.ID); n != 0 {
		t.Fatal("an open case was billed")
	}
	f.score(w, v)
	f.score(w, v) // the same state writes nothing new
	got = f.get(v.ID)
	if got.Outcome == nil || !got.Outcome.Provisional || got.Status != verification.StatusAwaitingPartner {
		t.Fatalf("provisional: %s %+v", got.Status, got.Outcome)
	}
	if n := f.count(`SELECT COUNT(*) FROM outbox_events WHERE subject_id = $1 AND type = 'verification.provisional'`, v.ID); n != 1 {
		t.Fatalf("provisional events = %d", n)
	}

	// Still pending at the partner: the poll schedules the next one.
	poll := verification.EncodeCheck(v.InsurerID, v.ID, c.ID)
	if err := process(t, w, verification.TaskCheckPoll, poll); err != nil {
		t.Fatal(err)
	}
	if again := checkOf(f.get(v.ID), risk.CheckImmigrationStatus); again.Status != risk.CheckAwaitingPartner || again.Attempts != c.Attempts+1 {
		t.Fatalf("after an early poll: %s attempts %d (was %d)", again.Status, again.Attempts, c.Attempts)
	}
	simtest.Admin(t, f.sim, "POST", "/clock", map[string]string{"advance": "120h"})
	if err := process(t, w, verification.TaskCheckPoll, poll); err != nil {
		t.Fatal(err)
	}
	got = f.get(v.ID)
	c = checkOf(got, risk.CheckImmigrationStatus)
	if c.Status != risk.CheckCompleted || c.EvidenceSHA256 == "" {
		t.Fatalf("after the case resolved: %s %s", c.Status, c.Reason)
	}
	if n := f.count(`SELECT COUNT(*) FROM usage_events WHERE check_id = $1`, c.ID); n != 1 {
		t.Fatalf("usage rows = %d", n)
	}
	f.score(w, v)
	got = f.get(v.ID)
	if got.Status != verification.StatusCompleted || got.Outcome.Provisional {
		t.Fatalf("final: %s %+v", got.Status, got.Outcome)
	}
}

// A new verification's checks run in one verification:run task: every
// check is answered and recorded, each partner call audited, each answer
// billed once; running it again changes nothing.
func TestVerificationRunRecordsEveryCheck(t *testing.T) {
	f := newFixture(t)
	w := f.worker(context.Background(), 1)
	v := f.submit(submission(1, "L898902C3"))
	late := 0 // bundles recorded after their outcome
	f.bundler.Store = lateRecords{f.bundler.Store, &late}
	run := verification.EncodeVerification(v.InsurerID, v.ID)
	if err := process(t, w, verification.TaskRun, run); err != nil {
		t.Fatal(err)
	}
	got := f.get(v.ID)
	for _, c := range got.Checks {
		if c.Status != risk.CheckCompleted || c.Outcome != "CLEAR" {
			t.Fatalf("check %s: %s %s %s", c.Type, c.Status, c.Outcome, c.Reason)
		}
		if c.Type != risk.CheckDocumentMRZ && (c.Attempts != 1 || c.EvidenceSHA256 == "") {
			t.Fatalf("check %s: attempts %d evidence %q", c.Type, c.Attempts, c.EvidenceSHA256)
		}
	}
	entries, err := f.store.AuditLog(context.Background(), v.InsurerID, audit.Filter{Action: audit.ActionPartnerShare, VerificationID: v.ID}, "", 50)
	if err != nil || len(entries) != 4 {
		t.Fatalf("audit entries = %d, %v", len(entries), err)
	}
	if err := process(t, w, verification.TaskRun, run); err != nil {
		t.Fatal(err)
	}
	if n := f.count(`SELECT COUNT(*) FROM usage_events WHERE verification_id = $1`, v.ID); n != 4 {
		t.Fatalf("usage rows = %d, want 4", n)
	}
	if n := f.count(`SELECT COALESCE(SUM(attempts), 0) FROM checks WHERE verification_id = $1`, v.ID); n != 4 {
		t.Fatalf("attempts after a second run = %d, want 4", n)
	}
	// Every check answered: the run scored the verification itself, with
	// its answers, and bundled its evidence from them.
	if got := f.get(v.ID); got.Status != verification.StatusCompleted || got.Outcome == nil || got.Outcome.Decision != risk.DecisionClear {
		t.Fatalf("after the run: %s %+v", got.Status, got.Outcome)
	}
	m, err := f.evidence.Get(context.Background(), v.InsurerID, v.ID)
	if err != nil || len(m.Items()) != 4 || m.Decision != string(risk.DecisionClear) {
		t.Fatalf("bundle after the run: %+v %v", m, err)
	}
	if n := f.count(`SELECT COUNT(*) FROM verifications WHERE id = $1 AND evidence_sha256 = $2`, v.ID, m.Digest); n != 1 {
		t.Fatal("the run's bundle is not recorded")
	}
	if late != 0 {
		t.Fatalf("the run recorded its bundle after its outcome (%d times), not with it", late)
	}
	// A bundle built again from the database is the same bytes.
	if err := f.bundler.Bundle(context.Background(), f.get(v.ID), nil); err != nil {
		t.Fatal(err)
	}
	if again, err := f.evidence.Get(context.Background(), v.InsurerID, v.ID); err != nil || again.Digest != m.Digest {
		t.Fatalf("rebuilt from the database: %s, run's %s (%v)", again.Digest, m.Digest, err)
	}
	insp := asynq.NewInspector(f.stack.redis)
	defer insp.Close()
	if _, err := insp.GetTaskInfo(verification.QueueCritical, v.ID); err == nil {
		t.Fatal("a score task was queued for a verification the run scored")
	}
}

// When scoring in the run fails, the run still succeeds (its checks are
// recorded) and the score goes on as its own task.
func TestVerificationRunQueuesAScoreItCouldNotWrite(t *testing.T) {
	f := newFixture(t)
	broken := Handler{Type: verification.TaskScore, Fn: func(context.Context, []byte) error {
		return errs.E(errs.Unavailable, "database restarting")
	}}
	h := Run(f.stack.pipe, broken)
	v := f.submit(submission(5, "L898902C3"))
	// The insurer's policy cannot be read: the run cannot score with its
	// answers, and the score handler it falls back to fails too.
	if _, err := f.store.DB().Exec(`INSERT INTO risk_policies (insurer_id, version, policy, created_at) VALUES ($1, 99, 'not json', 0)`,
		v.InsurerID); err != nil {
		t.Fatal(err)
	}
	payload := verification.EncodeVerification(v.InsurerID, v.ID)
	if err := h.Fn(context.Background(), payload); err != nil {
		t.Fatalf("the run failed with its score: %v", err)
	}
	got := f.get(v.ID)
	if got.Status == verification.StatusCompleted {
		t.Fatal("scored without a policy")
	}
	for _, c := range got.Checks {
		if !c.Status.Terminal() {
			t.Fatalf("check %s left %s", c.Type, c.Status)
		}
	}
	if _, err := f.store.DB().Exec(`DELETE FROM risk_policies WHERE version = 99`); err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspector(f.stack.redis)
	defer insp.Close()
	info, err := insp.GetTaskInfo(verification.QueueCritical, v.ID)
	if err != nil || info.Type != verification.TaskScore {
		t.Fatalf("score task: %+v %v", info, err)
	}
	w := f.worker(context.Background(), 1)
	if err := process(t, w, verification.TaskScore, info.Payload); err != nil {
		t.Fatal(err)
	}
	if got := f.get(v.ID); got.Status != verification.StatusCompleted {
		t.Fatalf("after the score task: %s", got.Status)
	}
}

// A partner that fails in a verification's run does not hold the others
// back: they are recorded, and its check goes on as its own check:run task
// at the time the retry policy names, then completes.
func TestVerificationRunContinuesAFailedCheckAlone(t *testing.T) {
	f := newFixture(t)
	w := f.worker(context.Background(), 1)
	if err := f.sim.SetFault(partnersim.Watchlist, partnersim.Fault{ErrorRate: 1}); err != nil {
		t.Fatal(err)
	}
	v := f.submit(submission(2, "L898902C3"))
	if err := process(t, w, verification.TaskRun, verification.EncodeVerification(v.InsurerID, v.ID)); err != nil {
		t.Fatalf("the run failed as a whole: %v", err)
	}
	got := f.get(v.ID)
	for _, c := range got.Checks {
		want := risk.CheckCompleted
		if c.Type == risk.CheckWatchlist {
			want = risk.CheckPending
		}
		if c.Status != want {
			t.Fatalf("check %s: %s, want %s", c.Type, c.Status, want)
		}
	}
	wl := checkOf(got, risk.CheckWatchlist)
	insp := asynq.NewInspector(f.stack.redis)
	defer insp.Close()
	info, err := insp.GetTaskInfo(verification.QueueDefault, wl.ID)
	if err != nil || info.Type != verification.TaskCheckRun || info.State != asynq.TaskStateScheduled || !info.NextProcessAt.After(time.Now()) {
		t.Fatalf("the failed check's own task: %+v %v", info, err)
	}
	if _, err := insp.GetTaskInfo(verification.QueueCritical, v.ID); err == nil {
		t.Fatal("scored with a check still open")
	}
	_ = f.sim.SetFault(partnersim.Watchlist, partnersim.Fault{})
	time.Sleep(1100 * time.Millisecond) // the fixture's breaker stays open for a second
	if err := process(t, w, verification.TaskCheckRun, info.Payload); err != nil {
		t.Fatal(err)
	}
	if c := checkOf(f.get(v.ID), risk.CheckWatchlist); c.Status != risk.CheckCompleted || c.Attempts != 2 {
		t.Fatalf("watchlist after its own run: %s, %d attempts", c.Status, c.Attempts)
	}
}

// The sweeper leaves alone the PENDING checks of a verification whose run
// task is still queued (a check:run beside it would call the partner
// twice), and queues them one by one once that task is gone.
func TestSweeperWaitsForAQueuedRun(t *testing.T) {
	f := newFixture(t, func(o *fixtureOptions) { o.pipeline = pipeline.Config{StaleAfter: time.Millisecond} })
	w := f.worker(context.Background(), 1)
	v := f.submit(submission(3, "L898902C3")) // its run task waits in Redis
	time.Sleep(20 * time.Millisecond)
	if err := process(t, w, verification.TaskOutboxSweep, nil); err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspector(f.stack.redis)
	defer insp.Close()
	for _, c := range v.Checks {
		if _, err := insp.GetTaskInfo(verification.QueueDefault, c.ID); err == nil {
			t.Fatalf("check:run queued for %s beside its verification's run", c.Type)
		}
	}
	if err := insp.DeleteTask(verification.QueueDefault, verification.RunTaskID(v.ID)); err != nil {
		t.Fatal(err)
	}
	if err := process(t, w, verification.TaskOutboxSweep, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range v.Checks {
		if info, err := insp.GetTaskInfo(verification.QueueDefault, c.ID); err != nil || info.Type != verification.TaskCheckRun {
			t.Fatalf("check:run of %s after the run was lost: %+v %v", c.Type, info, err)
		}
	}
}

// A verification erased while its run waits in the queue sends nothing:
// every check ends SKIPPED with reason ERASED, without a partner call, a
// usage row or evidence.
func TestErasedBeforeItsRunSendsNothing(t *testing.T) {
	f := newFixture(t)
	w := f.worker(context.Background(), 1)
	v := f.submit(submission(4, "L898902C3"))
	if _, err := f.stack.verifs.Erase(f.ctx, v.ID, "policyholder asked", "req-erase"); err != nil {
		t.Fatal(err)
	}
	if err := process(t, w, verification.TaskRun, verification.EncodeVerification(v.InsurerID, v.ID)); err != nil {
		t.Fatal(err)
	}
	got, err := f.store.PipelineVerification(context.Background(), v.InsurerID, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range got.Checks {
		if c.Status != risk.CheckSkipped || c.Reason != pipeline.ReasonErased || c.EvidenceSHA256 != "" || c.Attempts != 0 {
			t.Fatalf("check %s: %s %s attempts %d evidence %q", c.Type, c.Status, c.Reason, c.Attempts, c.EvidenceSHA256)
		}
	}
	if n := f.count(`SELECT COUNT(*) FROM usage_events WHERE verification_id = $1`, v.ID); n != 0 {
		t.Fatalf("usage rows = %d", n)
	}
	entries, err := f.store.AuditLog(context.Background(), v.InsurerID, audit.Filter{Action: audit.ActionPartnerShare, VerificationID: v.ID}, "", 50)
	if err != nil || len(entries) != 0 {
		t.Fatalf("partner shares after erasure: %d %v", len(entries), err)
	}
	if answers, err := f.store.CheckEvidence(context.Background(), v.InsurerID, v.ID); err != nil || len(answers) != 0 {
		t.Fatalf("answers kept after erasure: %d %v", len(answers), err)
	}
}

// A verification whose bundle was never written (its task lost between the
// outcome and the bundle) gets it from the sweeper: the score is queued
// again, and the bundle built from the answers the checks recorded.
func TestSweeperWritesAMissingBundle(t *testing.T) {
	f := newFixture(t, func(o *fixtureOptions) { o.pipeline = pipeline.Config{EventGrace: time.Millisecond} })
	w := f.worker(context.Background(), 1)
	v := f.submit(submission(2, "L898902C3"))
	if err := process(t, w, verification.TaskRun, verification.EncodeVerification(v.InsurerID, v.ID)); err != nil {
		t.Fatal(err)
	}
	first, err := f.evidence.Get(context.Background(), v.InsurerID, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n := f.count(`SELECT COUNT(*) FROM verifications WHERE id = $1 AND evidence_sha256 = $2`, v.ID, first.Digest); n != 1 {
		t.Fatal("the bundle's digest is not recorded")
	}
	res, err := f.pipe.Sweep(context.Background(), f.requeue)
	if err != nil || res[pipeline.SweepBundle] != 0 {
		t.Fatalf("swept a recorded bundle: %v %v", res, err)
	}

	// Lose the bundle as a lost task would have: never written.
	if err := os.Remove(filepath.Join(f.Dir, "blobs", "data", evidence.BundleKeyOf(v.InsurerID, v.ID, first.Digest))); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.DB().Exec(`UPDATE verifications SET evidence_sha256 = NULL WHERE id = $1`, v.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)
	res, err = f.pipe.Sweep(context.Background(), f.requeue)
	if err != nil || res[pipeline.SweepBundle] != 1 {
		t.Fatalf("sweep: %v %v", res, err)
	}
	insp := asynq.NewInspector(f.stack.redis)
	defer insp.Close()
	info, err := insp.GetTaskInfo(verification.QueueCritical, v.ID)
	if err != nil || info.Type != verification.TaskScore {
		t.Fatalf("score task: %+v %v", info, err)
	}
	if err := process(t, w, verification.TaskScore, info.Payload); err != nil {
		t.Fatal(err)
	}
	again, err := f.evidence.Get(context.Background(), v.InsurerID, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The same outcome and answers sign to the same bundle.
	if again.Digest != first.Digest || len(again.Items()) != 4 {
		t.Fatalf("rebuilt bundle %s with %d answers, first %s", again.Digest, len(again.Items()), first.Digest)
	}
	if err := f.evidence.Check(context.Background(), v.InsurerID, v.ID); err != nil {
		t.Fatal(err)
	}
	if n := f.count(`SELECT COUNT(*) FROM verifications WHERE id = $1 AND evidence_sha256 = $2`, v.ID, first.Digest); n != 1 {
		t.Fatal("the rebuilt bundle is not recorded")
	}
}

// lateRecords counts the bundles recorded on their own, after their
// verification's outcome.
type lateRecords struct {
	VerificationLoader
	n *int
}

func (l lateRecords) RecordEvidence(ctx context.Context, insurerID, verificationID, digest string) error {
	*l.n++
	return l.VerificationLoader.RecordEvidence(ctx, insurerID, verificationID, digest)
}
