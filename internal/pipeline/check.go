package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/borderproof/borderproof/internal/audit"
	"github.com/borderproof/borderproof/internal/billing"
	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/id"
	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/partner"
	"github.com/borderproof/borderproof/internal/risk"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/vault"
	"github.com/borderproof/borderproof/internal/verification"
	"github.com/borderproof/borderproof/internal/webhook"
)

var open = []risk.CheckStatus{risk.CheckPending, risk.CheckAwaitingPartner}

// load reads the verification and finds the check in it.
func (p *Pipeline) load(ctx context.Context, pl verification.CheckPayload) (verification.Verification, verification.Check, error) {
	v, err := p.d.Store.PipelineVerification(ctx, pl.InsurerID, pl.VerificationID)
	if err != nil {
		return v, verification.Check{}, err
	}
	for _, c := range v.Checks {
		if c.ID == pl.CheckID {
			return v, c, nil
		}
	}
	return v, verification.Check{}, errs.E(errs.NotFound, "check not found")
}

// RunVerification runs a new verification's checks together (task
// verification:run, task id = verification id + ":run"): the verification,
// its personal data and the insurer's region are read once, the checks
// that call partners start in one transaction and call them side by side,
// and every answer is recorded in one more. A check whose partner asks to
// be called again later goes on alone as a check:run task; the others are
// not held back by it.
//
// When the run's own answers end every check, it scores the verification
// in the transaction that records them and bundles its evidence
// (Deps.Bundler). Otherwise final reports that every check is now
// terminal: the final score is the caller's to write, in the same task
// (worker.Run does, and queues it with QueueScore when it cannot); when it
// is false, scoring is queued as after any check.
func (p *Pipeline) RunVerification(ctx context.Context, pl verification.VerificationPayload) (final bool, err error) {
	in, err := p.d.Store.RunInputs(ctx, pl.InsurerID, pl.VerificationID)
	if err != nil {
		return false, err
	}
	v := in.Verification
	if v.Status.Terminal() {
		return false, nil
	}
	var pending []verification.Check
	for _, c := range v.Checks {
		if c.Status == risk.CheckPending {
			pending = append(pending, c)
		}
	}
	retries, scored, err := p.runChecks(ctx, v, pending, true, &in)
	if err != nil {
		return false, err
	}
	if scored {
		return false, nil
	}
	if err := ctx.Err(); err != nil {
		return false, err // shutting down: the task comes back for what is left
	}
	for _, r := range retries {
		p.continueAlone(ctx, v, r)
	}
	taskID, due := p.scoreDue(ctx, v.InsurerID, v.ID)
	if due && taskID == v.ID {
		return true, nil
	}
	if due {
		p.queueScore(ctx, v.InsurerID, v.ID, taskID)
	}
	return false, nil
}

// QueueScore queues the final score of a verification (task id =
// verification id).
func (p *Pipeline) QueueScore(ctx context.Context, insurerID, verificationID string) {
	p.queueScore(ctx, insurerID, verificationID, verificationID)
}

// RunCheck runs one check (task check:run, task id = check id): a check
// whose partner asked to be called again, or one the sweeper found without
// a task. It is idempotent: a check that is already terminal only makes
// sure scoring is queued; one that waits on a partner case is polled
// instead. The last check of a verification to end scores it with its
// answer, as a run does.
func (p *Pipeline) RunCheck(ctx context.Context, pl verification.CheckPayload) error {
	v, c, err := p.load(ctx, pl)
	if err != nil {
		return err
	}
	scored := false
	switch {
	case c.Status.Terminal() || v.Status.Terminal():
	case c.Status == risk.CheckAwaitingPartner:
		scored, err = p.poll(ctx, v, c)
	default:
		var retries []retry
		retries, scored, err = p.runChecks(ctx, v, []verification.Check{c}, true, nil)
		if err == nil && len(retries) > 0 {
			err = retries[0].err
		}
	}
	if err != nil || scored {
		return err
	}
	p.afterCheck(ctx, v.InsurerID, v.ID)
	return nil
}

// PollCheck asks the partner again about an open case (task check:poll).
func (p *Pipeline) PollCheck(ctx context.Context, pl verification.CheckPayload) error {
	v, c, err := p.load(ctx, pl)
	if err != nil {
		return err
	}
	switch {
	case c.Status.Terminal() || v.Status.Terminal():
		p.afterCheck(ctx, v.InsurerID, v.ID)
		return nil
	case c.Status == risk.CheckPending:
		return p.RunCheck(ctx, pl)
	}
	scored, err := p.poll(ctx, v, c)
	if err != nil || scored {
		return err
	}
	p.afterCheck(ctx, v.InsurerID, v.ID)
	return nil
}

// network returns the partners for the verification's mode: test-mode
// verifications always go to the sandbox.
func (p *Pipeline) network(v verification.Verification) Network {
	if v.Mode == string(tenant.Test) {
		return p.d.Test
	}
	return p.d.Live
}

// checkRun is one check's way through runChecks or poll: what it asks
// which partner, the change to record, the poll to queue after it, or why
// it must be tried again later.
type checkRun struct {
	c      verification.Check
	pt     *partner.Resilient
	req    partner.Request
	share  audit.Entry
	update *CheckUpdate
	next   *nextPoll
	err    error
}

// nextPoll is the check:poll task queued once an AWAITING_PARTNER update
// is recorded.
type nextPoll struct {
	taskID string
	at     time.Time
}

// retry is a check to be run again later, and why.
type retry struct {
	check verification.Check
	err   error
}

// runChecks runs PENDING checks of v: local ones (the document's zone, a
// deadline already past, a partner the rules forbid) are decided at once;
// the others start together, call their partners side by side and are
// recorded together. It returns the checks to try again later with the
// error that says when. With score, when the answers end every check of
// v, the final outcome is written with them and scored reports it.
func (p *Pipeline) runChecks(ctx context.Context, v verification.Verification, cs []verification.Check, score bool, in *RunInputs) (retries []retry, scored bool, err error) {
	if len(cs) == 0 {
		return nil, false, nil
	}
	now := p.now()
	openPII := sync.OnceValues(func() (*verification.PII, error) {
		if in != nil {
			return p.d.Opener.OpenSealed(ctx, v.InsurerID, v.ID, in.WrappedKey, in.Sealed)
		}
		return p.d.Opener.Open(ctx, v.InsurerID, v.Mode, v.ID)
	})
	runs := make([]*checkRun, len(cs))
	var (
		starts []StartCheck
		// document is the document check whose blind index answer the
		// start of the partner checks brings (a run with RunInputs).
		document *checkRun
	)
	for i, c := range cs {
		r := &checkRun{c: c}
		runs[i] = r
		switch {
		case c.Type == risk.CheckDocumentMRZ && in != nil:
			if r.update, r.err = p.mrzUpdate(ctx, v, c, now, openPII, nil); r.update != nil && r.update.Status == risk.CheckCompleted {
				document = r
			}
		case c.Type == risk.CheckDocumentMRZ:
			r.update, r.err = p.mrzUpdate(ctx, v, c, now, openPII, p.documentReused)
		case !now.Before(v.DeadlineAt):
			r.update = p.timedOut(v, c, now)
		default:
			p.prepare(ctx, v, r, now, openPII)
			if r.pt != nil {
				starts = append(starts, StartCheck{CheckID: c.ID, Partner: r.pt.Name(), Audit: &r.share})
			}
		}
	}
	if document != nil && len(starts) == 0 {
		reused, err := p.d.Store.DocumentReused(ctx, v.InsurerID, v.ID, in.Digests.Documents, in.Digests.Person)
		if err != nil {
			return nil, false, err
		}
		withReuse(document.update, document.c, reused)
	}
	if len(starts) > 0 {
		// The attempts and the records of what is shared commit together,
		// before the calls; the blind index is asked with them.
		var reuse *ReuseQuery
		if document != nil {
			reuse = &ReuseQuery{VerificationID: v.ID, Digests: in.Digests}
		}
		started, reused, err := p.d.Store.StartChecks(ctx, v.InsurerID, starts, now, p.cfg.Process, reuse)
		if err != nil {
			return nil, false, err
		}
		if document != nil {
			withReuse(document.update, document.c, reused)
		}
		key := p.subjectKey(ctx, v)
		if in != nil {
			// Read with the verification: should it be erased during the
			// calls, the record writes no answer (see Store).
			key = func() ([]byte, error) { return in.WrappedKey, nil }
		}
		var wg sync.WaitGroup
		for _, r := range runs {
			if r.pt == nil {
				continue
			}
			if !started[r.c.ID] {
				r.pt = nil // another run finished the check
				continue
			}
			wg.Go(func() {
				res, err := r.pt.Check(ctx, r.req)
				if err != nil {
					r.update, r.err = p.partnerError(ctx, v, r.c, r.pt.Name(), err)
					return
				}
				r.update, r.next, r.err = p.answer(ctx, v, r.c, r.pt, res, -1, key)
			})
		}
		wg.Wait()
	}
	var done *completion
	if score {
		done = p.complete(ctx, v, runs, in)
	}
	scored, err = p.record(ctx, v, runs, done)
	if done != nil && (!scored || err != nil) && p.d.Publisher != nil {
		// Not written, or not to be published here: a delivery written
		// leased is the sweeper's once its lease lapses.
		p.d.Publisher.Unhold(done.o.Deliveries)
	}
	if err != nil {
		return nil, false, err
	}
	for _, r := range runs {
		if r.err != nil {
			retries = append(retries, retry{check: r.c, err: r.err})
		}
	}
	if scored {
		p.completed(ctx, done, runs)
	} else if done != nil {
		p.lost(ctx, done)
	}
	return retries, scored, nil
}

// completion is a verification as its run's answers leave it, every check
// terminal, with the final outcome to write with them.
type completion struct {
	v verification.Verification
	o OutcomeUpdate
	// asked: a run had started a check of v before this one, and may
	// have written a bundle before it died or lost (Bundler.Prune).
	asked bool
}

// complete returns v's completion when every check of v is terminal once
// the runs' updates apply; nil when one is not, or a run has no update.
func (p *Pipeline) complete(ctx context.Context, v verification.Verification, runs []*checkRun, in *RunInputs) *completion {
	byID := make(map[string]*checkRun, len(runs))
	for _, r := range runs {
		byID[r.c.ID] = r
	}
	after := v
	after.Checks = slices.Clone(v.Checks)
	for i, c := range after.Checks {
		if r := byID[c.ID]; r != nil {
			u := r.update
			if r.err != nil || u == nil {
				return nil
			}
			c.Status, c.Partner, c.Outcome, c.Signals, c.Reason = u.Status, u.Partner, u.Outcome, u.Signals, u.Reason
			c.PartnerReference, c.EvidenceKey, c.EvidenceSHA256 = u.PartnerReference, u.EvidenceKey, u.EvidenceSHA256
			c.UpdatedAt, c.CompletedAt = u.At, u.At
			after.Checks[i] = c
		}
		if !after.Checks[i].Status.Terminal() {
			return nil
		}
	}
	var (
		o   OutcomeUpdate
		err error
	)
	if in != nil {
		var pol risk.Policy
		if pol, err = policyOf(in); err == nil {
			o, err = p.outcomeWith(after, true, p.now(), pol)
		}
	} else {
		o, err = p.outcome(ctx, after, true, p.now())
	}
	if err != nil {
		p.log.WarnContext(ctx, "score in the run; scored on its own instead", "verification_id", v.ID, "err", err)
		return nil
	}
	if in != nil && p.d.Publisher != nil {
		// The events are published with the outcome, their deliveries
		// to the endpoints read with the verification.
		o.Published = true
		for _, ev := range o.Events {
			o.Deliveries = append(o.Deliveries, webhook.Fanout(ev, in.Endpoints, o.At)...)
		}
		o.Deliveries = p.d.Publisher.Hold(o.Deliveries, in.Endpoints, o.At)
	}
	after.Status, after.Outcome, after.CompletedAt, after.UpdatedAt = verification.StatusCompleted, &o.Outcome, o.At, o.At
	if p.d.Bundler != nil {
		// The bundle is written before the outcome commits, under its
		// digest, which the outcome records: a run that loses the race to
		// complete leaves a bundle nothing names. On failure the outcome
		// goes without, and the bundle is written after it.
		d, err := p.d.Bundler.Build(ctx, after, answersOf(runs))
		if err != nil {
			p.log.WarnContext(ctx, "bundle evidence with the outcome; after it instead", "verification_id", v.ID, "err", err)
		}
		o.EvidenceSHA256 = d
	}
	asked := slices.ContainsFunc(v.Checks, func(c verification.Check) bool { return c.Attempts > 0 })
	return &completion{v: after, o: o, asked: asked}
}

// answersOf is the sealed answers the runs hold, by check id.
func answersOf(runs []*checkRun) map[string][]byte {
	answers := map[string][]byte{}
	for _, r := range runs {
		if r.update != nil && len(r.update.Evidence) > 0 {
			answers[r.c.ID] = r.update.Evidence
		}
	}
	return answers
}

// completed follows a run that wrote its verification's outcome: the
// outcome's events are published, and, when the bundle could not be
// written with the outcome, the evidence is bundled and recorded now.
func (p *Pipeline) completed(ctx context.Context, done *completion, runs []*checkRun) {
	v, o := done.v, done.o
	p.scored(ctx, o)
	if p.d.Bundler == nil {
		return
	}
	if o.EvidenceSHA256 == "" {
		if err := p.d.Bundler.Bundle(ctx, v, answersOf(runs)); err != nil {
			p.log.WarnContext(ctx, "bundle evidence; the sweeper will", "verification_id", v.ID, "err", err)
			return
		}
	}
	if done.asked {
		p.prune(ctx, v)
	}
}

// lost follows a run whose outcome, bundled before it, did not apply:
// another run completed the verification first. The bundle this run wrote
// is deleted, unless it is the one recorded.
func (p *Pipeline) lost(ctx context.Context, done *completion) {
	if p.d.Bundler != nil && done.o.EvidenceSHA256 != "" {
		p.prune(ctx, done.v)
	}
}

// prune deletes the bundles of v its record does not name; the next run
// or sweep of v does what a failure leaves.
func (p *Pipeline) prune(ctx context.Context, v verification.Verification) {
	if err := p.d.Bundler.Prune(ctx, v); err != nil {
		p.log.WarnContext(ctx, "delete the evidence bundles of runs that did not complete", "verification_id", v.ID, "err", err)
	}
}

// prepare routes a partner check and applies the data-sharing rules. It
// sets r.pt, r.req and r.share for a call to make, or r.update for a check
// that ends here, or r.err.
func (p *Pipeline) prepare(ctx context.Context, v verification.Verification, r *checkRun, now time.Time, openPII func() (*verification.PII, error)) {
	c := r.c
	net := p.network(v)
	if net.Router == nil {
		r.update = p.failed(c, now, ReasonNoPartner, risk.SignalPartnerUnavailable)
		return
	}
	pt, err := net.Router.Route(partner.CheckType(c.Type), v.CoverageCountry)
	if err != nil {
		r.update = p.failed(c, now, ReasonNoPartner, risk.SignalPartnerUnavailable)
		return
	}
	region, err := p.region(ctx, v.InsurerID)
	if err != nil {
		r.err = err
		return
	}
	pii, err := openPII()
	if errs.Is(err, errs.FailedPrecondition) {
		// Erased while queued: nothing may be sent any more.
		r.update = p.failed(c, now, ReasonErased, risk.SignalRequiredCheckNotRun)
		r.update.Status = risk.CheckSkipped
		return
	}
	if err != nil {
		r.err = err
		return
	}
	full := fullRequest(v, c, pii)
	d := partner.Decide(partner.SharingInput{
		InsurerRegion: region, SubjectNationality: pii.Policyholder.Nationality, SubjectResidence: pii.Policyholder.ResidenceCountry,
		PartnerJurisdiction: pt.Jurisdiction(), Protocol: pt.Config().Protocol, CheckType: full.CheckType,
		LawfulBasis: full.LawfulBasis, Purposes: full.Purposes, HasConsentReference: full.ConsentReference != "",
	})
	if !d.Allowed {
		r.update = p.failed(c, now, ReasonNotPermitted, risk.SignalDataSharingForbidden)
		r.update.Status, r.update.Partner = risk.CheckSkipped, pt.Name()
		r.update.Signals[0].Detail = map[string]string{"rule": d.Rule}
		return
	}
	req, err := partner.Prepare(ctx, d, full, pt.Name(), net.Blinder)
	if err != nil {
		r.err = err
		return
	}
	share, err := shareEntry(v, pt, req, d, now)
	if err != nil {
		r.err = err
		return
	}
	r.pt, r.req, r.share = pt, req, share
}

// continueAlone queues a check of a verification's run that must be tried
// again later as its own check:run task, at the time its error names. A
// failure to queue is logged: the sweeper queues a PENDING check without a
// task.
func (p *Pipeline) continueAlone(ctx context.Context, v verification.Verification, r retry) {
	delay := time.Second
	if e, ok := errs.As(r.err); ok && e.RetryAfterSeconds > 0 {
		delay = time.Duration(e.RetryAfterSeconds) * time.Second
	}
	p.log.InfoContext(ctx, "check continues on its own task", "check_id", r.check.ID, "kind", errs.KindOf(r.err).String(), "in", delay)
	if err := p.d.Queue.Enqueue(ctx, verification.TaskCheckRun, verification.EncodeCheck(v.InsurerID, v.ID, r.check.ID),
		r.check.ID, verification.QueueDefault, delay); err != nil {
		p.log.WarnContext(ctx, "enqueue check; the sweeper will retry", "check_id", r.check.ID, "err", err)
	}
}

// record applies the runs' updates in one transaction, then queues what
// follows each applied one: its events' publication, the usage roll-up,
// its next poll.
func (p *Pipeline) record(ctx context.Context, v verification.Verification, runs []*checkRun, done *completion) (scored bool, err error) {
	var us []CheckUpdate
	var from []*checkRun
	for _, r := range runs {
		if r.update == nil {
			continue
		}
		if r.update.Signals == nil {
			r.update.Signals = []risk.Signal{}
		}
		us = append(us, *r.update)
		from = append(from, r)
	}
	if len(us) == 0 {
		return false, nil
	}
	var applied []bool
	if done != nil {
		applied, scored, err = p.d.Store.UpdateChecksAndScore(ctx, us, done.o)
	} else {
		applied, err = p.d.Store.UpdateChecks(ctx, us)
	}
	if err != nil {
		return false, err
	}
	for i, ok := range applied {
		if !ok {
			continue
		}
		p.publish(ctx, us[i].Events)
		if us[i].Usage != nil {
			p.rollUpSoon(ctx, us[i].At)
		}
		if n := from[i].next; n != nil {
			if err := p.d.Queue.Enqueue(ctx, verification.TaskCheckPoll, verification.EncodeCheck(v.InsurerID, v.ID, from[i].c.ID),
				n.taskID, verification.QueueDefault, max(n.at.Sub(us[i].At), time.Second)); err != nil {
				p.log.WarnContext(ctx, "enqueue poll; the sweeper will retry", "check_id", from[i].c.ID, "err", err)
			}
		}
	}
	return scored, nil
}

// region returns the insurer's region, read once per process.
func (p *Pipeline) region(ctx context.Context, insurerID string) (string, error) {
	if r, ok := p.regions.Get(insurerID); ok {
		return r, nil
	}
	ins, err := p.d.Tenants.Insurer(ctx, insurerID)
	if err != nil {
		return "", err
	}
	p.regions.Add(insurerID, ins.Region)
	return ins.Region, nil
}

// fullRequest is everything the partners could be sent; Prepare minimises.
func fullRequest(v verification.Verification, c verification.Check, pii *verification.PII) partner.Request {
	ph := pii.Policyholder
	req := partner.Request{
		CheckID: c.ID, CheckType: partner.CheckType(c.Type),
		Subject: partner.Subject{GivenNames: ph.GivenNames, Surname: ph.Surname, DateOfBirth: date(ph.DateOfBirth),
			Nationality: ph.Nationality, Sex: ph.Sex, ResidenceCountry: ph.ResidenceCountry},
		ConsentReference: v.Consent.Reference,
		LawfulBasis:      partner.LawfulBasis(v.Consent.LawfulBasis),
		Product:          partner.Product(product(v)),
		CoverageCountry:  v.CoverageCountry,
		PolicyStart:      date(v.PolicyStart),
		PolicyEnd:        date(v.PolicyEnd),
	}
	for _, pu := range v.Consent.Purposes {
		req.Purposes = append(req.Purposes, partner.Purpose(pu))
	}
	if doc, ok := primaryDocument(pii.Documents, c.Type); ok {
		req.Document = partner.Document{Type: doc.Type, Number: doc.Number, IssuingCountry: doc.IssuingCountry, ExpiryDate: date(doc.ExpiryDate)}
	}
	return req
}

// primaryDocument picks the document a partner check is about: a visa or
// residence permit for immigration status when there is one, else the first
// passport, else the first document.
func primaryDocument(docs []verification.Document, t risk.CheckType) (verification.Document, bool) {
	if len(docs) == 0 {
		return verification.Document{}, false
	}
	prefer := []string{"PASSPORT", "NATIONAL_ID"}
	if t == risk.CheckImmigrationStatus {
		prefer = []string{"VISA", "RESIDENCE_PERMIT", "PASSPORT"}
	}
	for _, typ := range prefer {
		for _, d := range docs {
			if d.Type == typ {
				return d, true
			}
		}
	}
	return docs[0], true
}

func product(v verification.Verification) risk.Product {
	if v.Product == "" {
		return risk.ProductTravel
	}
	return risk.Product(v.Product)
}

func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// shareEntry is the audit entry that records, before the call, which
// fields go to which partner and why (names only, never values).
func shareEntry(v verification.Verification, pt *partner.Resilient, req partner.Request, d partner.Decision, now time.Time) (audit.Entry, error) {
	rec := partner.NewAuditRecord(pt, req, d, now)
	detail, err := json.Marshal(map[string]any{
		"partner": rec.Partner, "jurisdiction": rec.Jurisdiction, "checkId": rec.CheckID, "checkType": rec.CheckType,
		"fields": rec.Fields, "rule": rec.Rule, "rules": rec.Rules, "lawfulBasis": rec.LawfulBasis, "blinded": rec.Blinded,
	})
	if err != nil {
		return audit.Entry{}, err
	}
	purposes := make([]string, len(rec.Purposes))
	for i, pu := range rec.Purposes {
		purposes[i] = string(pu)
	}
	return audit.Entry{
		ID: id.NewAt(id.Audit, now), InsurerID: v.InsurerID, Actor: "system", Action: audit.ActionPartnerShare,
		VerificationID: v.ID, Purpose: joinPurposes(purposes), Detail: detail, CreatedAt: now,
	}, nil
}

func joinPurposes(ps []string) string {
	b := bytes.Buffer{}
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p)
	}
	return b.String()
}

// partnerError decides what a failed call means. A partner that is rate
// limited or unavailable is asked again later (the returned error, which
// the queue does not count as a failure) until the deadline; one that
// refuses the request will never answer it, so the check fails now (the
// returned update).
func (p *Pipeline) partnerError(ctx context.Context, v verification.Verification, c verification.Check, name string, err error) (*CheckUpdate, error) {
	if ctx.Err() != nil {
		return nil, err
	}
	now := p.now()
	switch errs.KindOf(err) {
	case errs.RateLimited, errs.Unavailable, errs.Internal:
		if !now.Before(v.DeadlineAt) {
			u := p.timedOut(v, c, now)
			u.Partner = name
			return u, nil
		}
		p.log.InfoContext(ctx, "partner call failed; will retry", "check_id", c.ID, "partner", name, "kind", errs.KindOf(err).String())
		return nil, p.retryLater(err, c, v.DeadlineAt.Sub(now))
	}
	p.log.WarnContext(ctx, "partner refused the check", "check_id", c.ID, "partner", name, "kind", errs.KindOf(err).String())
	u := p.failed(c, now, ReasonPartnerRejected, risk.SignalPartnerUnavailable)
	u.Partner = name
	return u, nil
}

// retryLater makes sure err says when to try again: the partner's own
// Retry-After when it gave one, else 2^attempts seconds (at most 256), and
// never much later than the deadline, where the next run fails the check.
func (p *Pipeline) retryLater(err error, c verification.Check, left time.Duration) error {
	e, ok := errs.As(err)
	if !ok {
		e = errs.Wrap(err, errs.KindOf(err), "partner call failed")
	} else {
		cp := *e
		e = &cp
	}
	if e.RetryAfterSeconds <= 0 {
		e.RetryAfterSeconds = 1 << min(max(c.Attempts, 0), 8)
	}
	if limit := int(left/time.Second) + 1; e.RetryAfterSeconds > limit {
		e.RetryAfterSeconds = max(limit, 1)
	}
	return e
}

// poll asks the partner about the check's open case and records what it
// says (with the final outcome, scored reports, when that answer ends the
// verification's last open check); a partner to ask again later is the
// returned error.
func (p *Pipeline) poll(ctx context.Context, v verification.Verification, c verification.Check) (scored bool, err error) {
	r := &checkRun{c: c}
	now := p.now()
	net := p.network(v)
	var pt *partner.Resilient
	ok := false
	if net.Router != nil {
		pt, ok = net.Router.Get(c.Partner)
	}
	switch {
	case !now.Before(v.DeadlineAt):
		r.update = p.timedOut(v, c, now)
	case !ok:
		r.update = p.failed(c, now, ReasonNoPartner, risk.SignalPartnerUnavailable)
	default:
		res, err := pt.Poll(ctx, c.PartnerReference)
		if err != nil {
			r.update, r.err = p.partnerError(ctx, v, c, pt.Name(), err)
		} else {
			r.update, r.next, r.err = p.answer(ctx, v, c, pt, res, c.Attempts, p.subjectKey(ctx, v))
		}
	}
	runs := []*checkRun{r}
	done := p.complete(ctx, v, runs, nil)
	if scored, err = p.record(ctx, v, runs, done); err != nil {
		return false, err
	}
	if scored {
		p.completed(ctx, done, runs)
	} else if done != nil {
		p.lost(ctx, done)
	}
	return scored, r.err
}

// answer turns a partner's answer into the check's update, storing the raw
// answer as sealed evidence first, and for an open case the poll to queue.
// attempts ≥ 0 guards a poll's update on the attempt it was made for; key
// returns the verification's wrapped subject key (subjectKey).
func (p *Pipeline) answer(ctx context.Context, v verification.Verification, c verification.Check, pt *partner.Resilient, res partner.Result, attempts int, key func() ([]byte, error)) (*CheckUpdate, *nextPoll, error) {
	now := p.now()
	signals := stamp(res.Signals, c)
	u := &CheckUpdate{
		InsurerID: v.InsurerID, VerificationID: v.ID, CheckID: c.ID, From: open, Attempts: attempts,
		Partner: pt.Name(), PartnerReference: res.Reference, Signals: signals, Outcome: string(res.Outcome), At: now,
	}
	if u.PartnerReference == "" {
		u.PartnerReference = c.PartnerReference
	}
	switch res.Outcome {
	case partner.OutcomeAwaiting:
		next := p.awaiting(v, c, u, res.PollAfter)
		return u, next, nil
	case partner.OutcomeUnavailable:
		u.Status, u.Reason = risk.CheckFailed, ReasonPartnerUnavailable
		u.Signals = append(u.Signals, risk.Signal{Code: risk.SignalPartnerUnavailable, CheckID: c.ID, CheckType: string(c.Type)})
	default:
		u.Status = risk.CheckCompleted
		if use, ok := billing.NewUsage(billing.CheckInfo{CheckID: c.ID, VerificationID: v.ID, InsurerID: v.InsurerID,
			Mode: v.Mode, Type: c.Type, Status: u.Status, Outcome: res.Outcome, PartnerBillable: res.Billable}, pt.Config(), now); ok {
			u.Usage = &use
		}
	}
	if len(res.Evidence) > 0 {
		sealed, err := p.sealEvidence(ctx, v, res.Evidence, key)
		if err != nil {
			return nil, nil, err
		}
		if sealed != nil {
			sum := sha256.Sum256(sealed)
			u.Evidence, u.EvidenceSHA256 = sealed, hex.EncodeToString(sum[:])
		}
	}
	return u, nil, nil
}

// stamp makes every signal name its check.
func stamp(in []risk.Signal, c verification.Check) []risk.Signal {
	out := slices.Clone(in)
	for i := range out {
		out[i].CheckID, out[i].CheckType = c.ID, string(c.Type)
	}
	if out == nil {
		out = []risk.Signal{}
	}
	return out
}

// subjectKey reads the verification's wrapped subject key once, when the
// first answer needs it, after the partners were called: a verification
// erased meanwhile has none, and then no evidence is kept.
func (p *Pipeline) subjectKey(ctx context.Context, v verification.Verification) func() ([]byte, error) {
	return sync.OnceValues(func() ([]byte, error) {
		wrapped, _, err := p.d.Store.Sealed(ctx, v.InsurerID, v.Mode, v.ID)
		return wrapped, err
	})
}

// sealEvidence seals the raw answer under the verification's key, to be
// recorded with the check's result (in the same transaction) and bundled
// when the verification completes. nil: the verification was erased
// meanwhile, and nothing personal is kept.
func (p *Pipeline) sealEvidence(ctx context.Context, v verification.Verification, raw []byte, key func() ([]byte, error)) ([]byte, error) {
	wrapped, err := key()
	if err != nil || wrapped == nil {
		return nil, err
	}
	return p.d.Sealer.Seal(ctx, v.InsurerID, v.ID, wrapped, vault.PurposeEvidence, raw)
}

// awaiting makes u record an open case, and returns the poll to queue
// after it: no later than the deadline (where the poll fails the check).
func (p *Pipeline) awaiting(v verification.Verification, c verification.Check, u *CheckUpdate, pollAfter time.Time) *nextPoll {
	now := u.At
	if !pollAfter.After(now) {
		pollAfter = now.Add(p.cfg.DefaultPollInterval)
	}
	if pollAfter.After(v.DeadlineAt) {
		pollAfter = v.DeadlineAt
	}
	u.Status, u.PollAfter, u.IncAttempts, u.Outcome = risk.CheckAwaitingPartner, pollAfter, true, ""
	// Each poll counts an attempt, and its task id names the attempt, so
	// the next poll never collides with the task running now. A check
	// that was PENDING also had its call counted by StartChecks.
	next := c.Attempts + 1
	if c.Status == risk.CheckPending {
		next++
		u.Events = []outbox.Event{event(v, outbox.CheckAwaitingPartner, now, map[string]any{
			"checkId": c.ID, "checkType": c.Type, "status": risk.CheckAwaitingPartner, "pollAfter": pollAfter.Format(time.RFC3339),
		})}
	}
	return &nextPoll{taskID: c.ID + ":poll:" + strconv.Itoa(next), at: pollAfter}
}

// failed builds the update of a check that ends without an answer.
func (p *Pipeline) failed(c verification.Check, now time.Time, reason string, code risk.SignalCode) *CheckUpdate {
	return &CheckUpdate{
		InsurerID: c.InsurerID, VerificationID: c.VerificationID, CheckID: c.ID, From: open, Attempts: -1,
		Status: risk.CheckFailed, Reason: reason, Partner: c.Partner, PartnerReference: c.PartnerReference, At: now,
		Signals: []risk.Signal{{Code: code, CheckID: c.ID, CheckType: string(c.Type)}},
	}
}

func (p *Pipeline) timedOut(v verification.Verification, c verification.Check, now time.Time) *CheckUpdate {
	return p.failed(c, now, ReasonPartnerTimeout, risk.SignalPartnerTimeout)
}

// rollUpSoon queues the pricing of the usage row just written: one task
// per second, a second later, prices every row of that second together.
// The scheduler's periodic roll-up covers a failure.
func (p *Pipeline) rollUpSoon(ctx context.Context, at time.Time) {
	sec := at.Unix()
	if p.rolledUp.Load() == sec {
		return // this process queued it already
	}
	if err := p.d.Queue.Enqueue(ctx, billing.TaskRollUp, nil, billing.RollUpTaskID(at), verification.QueueDefault, time.Second); err != nil {
		p.log.WarnContext(ctx, "enqueue usage roll-up; the scheduler will run it", "err", err)
		return
	}
	p.rolledUp.Store(sec)
}

// afterCheck queues scoring: the final score once every check is terminal
// (task id = verification id), a provisional one when no check is still
// pending but some wait on a partner (task id = verification id,
// "provisional" and the number of terminal checks, so each new answer
// rescores once).
func (p *Pipeline) afterCheck(ctx context.Context, insurerID, verificationID string) {
	if taskID, due := p.scoreDue(ctx, insurerID, verificationID); due {
		p.queueScore(ctx, insurerID, verificationID, taskID)
	}
}

// scoreDue tells whether a score is due and its task id (see afterCheck).
func (p *Pipeline) scoreDue(ctx context.Context, insurerID, verificationID string) (string, bool) {
	pr, err := p.d.Store.CheckProgress(ctx, insurerID, verificationID)
	if err != nil {
		p.log.WarnContext(ctx, "reload verification; the sweeper will score it", "verification_id", verificationID, "err", err)
		return "", false
	}
	if pr.Status.Terminal() {
		return "", false
	}
	switch {
	case pr.Terminal == pr.Checks:
		return verificationID, true
	case pr.Pending == 0:
		return fmt.Sprintf("%s:provisional:%d", verificationID, pr.Terminal), true
	}
	return "", false
}

func (p *Pipeline) queueScore(ctx context.Context, insurerID, verificationID, taskID string) {
	if err := p.d.Queue.Enqueue(ctx, verification.TaskScore, verification.EncodeVerification(insurerID, verificationID),
		taskID, verification.QueueCritical, 0); err != nil {
		p.log.WarnContext(ctx, "enqueue score; the sweeper will retry", "verification_id", verificationID, "err", err)
	}
}

// publish publishes each event after commit, in this task when the
// pipeline has a Publisher, else (or when that fails) by queueing its
// event:publish task; the sweeper covers a failure to queue.
func (p *Pipeline) publish(ctx context.Context, events []outbox.Event) {
	for _, ev := range events {
		if p.d.Publisher != nil {
			err := p.d.Publisher.PublishEvent(ctx, ev)
			if err == nil {
				continue
			}
			p.log.WarnContext(ctx, "publish event; queued instead", "event_id", ev.ID, "err", err)
		}
		if err := p.d.Queue.Enqueue(ctx, outbox.TaskPublish, outbox.EncodePublish(ev.ID), ev.ID, verification.QueueCritical, 0); err != nil {
			p.log.WarnContext(ctx, "enqueue event; the sweeper will retry", "event_id", ev.ID, "err", err)
		}
	}
}
