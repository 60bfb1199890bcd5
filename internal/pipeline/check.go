package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
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

// RunCheck runs one check (task check:run). It is idempotent: a check that
// is already terminal only makes sure scoring is queued; one that waits on a
// partner case is polled instead.
func (p *Pipeline) RunCheck(ctx context.Context, pl verification.CheckPayload) error {
	v, c, err := p.load(ctx, pl)
	if err != nil {
		return err
	}
	switch {
	case c.Status.Terminal() || v.Status.Terminal():
		p.afterCheck(ctx, v.InsurerID, v.ID)
		return nil
	case c.Status == risk.CheckAwaitingPartner:
		return p.poll(ctx, v, c)
	}
	now := p.now()
	if c.Type == risk.CheckDocumentMRZ {
		return p.runMRZ(ctx, v, c, now)
	}
	if !now.Before(v.DeadlineAt) {
		return p.finish(ctx, v, c, p.timedOut(v, c, now))
	}
	return p.runPartner(ctx, v, c, now)
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
	return p.poll(ctx, v, c)
}

// network returns the partners for the verification's mode: test-mode
// verifications always go to the sandbox.
func (p *Pipeline) network(v verification.Verification) Network {
	if v.Mode == string(tenant.Test) {
		return p.d.Test
	}
	return p.d.Live
}

func (p *Pipeline) runPartner(ctx context.Context, v verification.Verification, c verification.Check, now time.Time) error {
	net := p.network(v)
	if net.Router == nil {
		return p.finish(ctx, v, c, p.failed(c, now, ReasonNoPartner, risk.SignalPartnerUnavailable))
	}
	pt, err := net.Router.Route(partner.CheckType(c.Type), v.CoverageCountry)
	if err != nil {
		return p.finish(ctx, v, c, p.failed(c, now, ReasonNoPartner, risk.SignalPartnerUnavailable))
	}
	region, err := p.region(ctx, v.InsurerID)
	if err != nil {
		return err
	}
	pii, err := p.d.Opener.Open(ctx, v.InsurerID, v.Mode, v.ID)
	if errs.Is(err, errs.FailedPrecondition) {
		// Erased while queued: nothing may be sent any more.
		u := p.failed(c, now, ReasonErased, risk.SignalRequiredCheckNotRun)
		u.Status = risk.CheckSkipped
		return p.finish(ctx, v, c, u)
	}
	if err != nil {
		return err
	}
	full := fullRequest(v, c, pii)
	d := partner.Decide(partner.SharingInput{
		InsurerRegion: region, SubjectNationality: pii.Policyholder.Nationality, SubjectResidence: pii.Policyholder.ResidenceCountry,
		PartnerJurisdiction: pt.Jurisdiction(), Protocol: pt.Config().Protocol, CheckType: full.CheckType,
		LawfulBasis: full.LawfulBasis, Purposes: full.Purposes, HasConsentReference: full.ConsentReference != "",
	})
	if !d.Allowed {
		u := p.failed(c, now, ReasonNotPermitted, risk.SignalDataSharingForbidden)
		u.Status, u.Partner = risk.CheckSkipped, pt.Name()
		u.Signals[0].Detail = map[string]string{"rule": d.Rule}
		return p.finish(ctx, v, c, u)
	}
	req, err := partner.Prepare(ctx, d, full, pt.Name(), net.Blinder)
	if err != nil {
		return err
	}
	// The attempt and the record of what is shared commit together,
	// before the call.
	share, err := shareEntry(v, pt, req, d, now)
	if err != nil {
		return err
	}
	ok, err := p.d.Store.StartCheckAudited(ctx, v.InsurerID, c.ID, pt.Name(), now, &share)
	if err != nil || !ok {
		return err // !ok: another run finished the check
	}
	res, err := pt.Check(ctx, req)
	if err != nil {
		return p.partnerError(ctx, v, c, pt.Name(), err)
	}
	return p.answer(ctx, v, c, pt, res, -1)
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
// limited or unavailable is asked again later (the error goes back to the
// queue, which does not count it as a failure) until the deadline; one that
// refuses the request will never answer it, so the check fails now.
func (p *Pipeline) partnerError(ctx context.Context, v verification.Verification, c verification.Check, name string, err error) error {
	if ctx.Err() != nil {
		return err
	}
	now := p.now()
	switch errs.KindOf(err) {
	case errs.RateLimited, errs.Unavailable, errs.Internal:
		if !now.Before(v.DeadlineAt) {
			u := p.timedOut(v, c, now)
			u.Partner = name
			return p.finish(ctx, v, c, u)
		}
		p.log.InfoContext(ctx, "partner call failed; will retry", "check_id", c.ID, "partner", name, "kind", errs.KindOf(err).String())
		return p.retryLater(err, c, v.DeadlineAt.Sub(now))
	}
	p.log.WarnContext(ctx, "partner refused the check", "check_id", c.ID, "partner", name, "kind", errs.KindOf(err).String())
	u := p.failed(c, now, ReasonPartnerRejected, risk.SignalPartnerUnavailable)
	u.Partner = name
	return p.finish(ctx, v, c, u)
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

// poll asks the partner about the check's open case.
func (p *Pipeline) poll(ctx context.Context, v verification.Verification, c verification.Check) error {
	now := p.now()
	if !now.Before(v.DeadlineAt) {
		return p.finish(ctx, v, c, p.timedOut(v, c, now))
	}
	net := p.network(v)
	var pt *partner.Resilient
	ok := false
	if net.Router != nil {
		pt, ok = net.Router.Get(c.Partner)
	}
	if !ok {
		return p.finish(ctx, v, c, p.failed(c, now, ReasonNoPartner, risk.SignalPartnerUnavailable))
	}
	res, err := pt.Poll(ctx, c.PartnerReference)
	if err != nil {
		return p.partnerError(ctx, v, c, pt.Name(), err)
	}
	return p.answer(ctx, v, c, pt, res, c.Attempts)
}

// answer records a partner's answer. attempts ≥ 0 guards a poll's update
// on the attempt it was made for.
func (p *Pipeline) answer(ctx context.Context, v verification.Verification, c verification.Check, pt *partner.Resilient, res partner.Result, attempts int) error {
	now := p.now()
	signals := stamp(res.Signals, c)
	u := CheckUpdate{
		InsurerID: v.InsurerID, VerificationID: v.ID, CheckID: c.ID, From: open, Attempts: attempts,
		Partner: pt.Name(), PartnerReference: res.Reference, Signals: signals, Outcome: string(res.Outcome), At: now,
	}
	if u.PartnerReference == "" {
		u.PartnerReference = c.PartnerReference
	}
	switch res.Outcome {
	case partner.OutcomeAwaiting:
		return p.awaiting(ctx, v, c, u, res.PollAfter)
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
		key, err := p.storeEvidence(ctx, v, c, res.Evidence)
		if err != nil {
			return err
		}
		u.EvidenceKey = key
	}
	return p.finish(ctx, v, c, u)
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

// EvidenceKey is where a check's sealed partner answer is stored.
func EvidenceKey(insurerID, verificationID, checkID string) string {
	return "evidence/" + insurerID + "/" + verificationID + "/" + checkID + ".bin"
}

// storeEvidence seals the raw answer under the verification's key and
// stores it. Two runs of one check write the same key; the row written by
// the run that commits points at it.
func (p *Pipeline) storeEvidence(ctx context.Context, v verification.Verification, c verification.Check, raw []byte) (string, error) {
	wrapped, _, err := p.d.Store.Sealed(ctx, v.InsurerID, v.Mode, v.ID)
	if err != nil {
		return "", err
	}
	if wrapped == nil {
		return "", nil // erased meanwhile: keep nothing personal
	}
	sealed, err := p.d.Sealer.Seal(ctx, v.InsurerID, v.ID, wrapped, vault.PurposeEvidence, raw)
	if err != nil {
		return "", err
	}
	key := EvidenceKey(v.InsurerID, v.ID, c.ID)
	if err := p.d.Blobs.Put(ctx, key, bytes.NewReader(sealed), int64(len(sealed)), "application/octet-stream"); err != nil {
		return "", err
	}
	return key, nil
}

// awaiting records an open case and schedules the next poll, no later than
// the deadline (where the poll fails the check).
func (p *Pipeline) awaiting(ctx context.Context, v verification.Verification, c verification.Check, u CheckUpdate, pollAfter time.Time) error {
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
	// that was PENDING also had its call counted by StartCheck.
	next := c.Attempts + 1
	if c.Status == risk.CheckPending {
		next++
		u.Events = []outbox.Event{event(v, outbox.CheckAwaitingPartner, now, map[string]any{
			"checkId": c.ID, "checkType": c.Type, "status": risk.CheckAwaitingPartner, "pollAfter": pollAfter.Format(time.RFC3339),
		})}
	}
	applied, err := p.d.Store.UpdateCheck(ctx, u)
	if err != nil || !applied {
		return err
	}
	p.publish(ctx, u.Events)
	taskID := c.ID + ":poll:" + strconv.Itoa(next)
	if err := p.d.Queue.Enqueue(ctx, verification.TaskCheckPoll, verification.EncodeCheck(v.InsurerID, v.ID, c.ID),
		taskID, verification.QueueDefault, max(pollAfter.Sub(now), time.Second)); err != nil {
		p.log.WarnContext(ctx, "enqueue poll; the sweeper will retry", "check_id", c.ID, "err", err)
	}
	p.afterCheck(ctx, v.InsurerID, v.ID)
	return nil
}

// failed builds the update of a check that ends without an answer.
func (p *Pipeline) failed(c verification.Check, now time.Time, reason string, code risk.SignalCode) CheckUpdate {
	return CheckUpdate{
		InsurerID: c.InsurerID, VerificationID: c.VerificationID, CheckID: c.ID, From: open, Attempts: -1,
		Status: risk.CheckFailed, Reason: reason, Partner: c.Partner, PartnerReference: c.PartnerReference, At: now,
		Signals: []risk.Signal{{Code: code, CheckID: c.ID, CheckType: string(c.Type)}},
	}
}

func (p *Pipeline) timedOut(v verification.Verification, c verification.Check, now time.Time) CheckUpdate {
	return p.failed(c, now, ReasonPartnerTimeout, risk.SignalPartnerTimeout)
}

// finish applies a terminal update, then queues scoring if it was the
// check's last change.
func (p *Pipeline) finish(ctx context.Context, v verification.Verification, c verification.Check, u CheckUpdate) error {
	if u.Signals == nil {
		u.Signals = []risk.Signal{}
	}
	applied, err := p.d.Store.UpdateCheck(ctx, u)
	if err != nil {
		return err
	}
	if applied {
		p.publish(ctx, u.Events)
		if u.Usage != nil {
			p.rollUpSoon(ctx, u.At)
		}
	}
	p.afterCheck(ctx, v.InsurerID, v.ID)
	return nil
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
	pr, err := p.d.Store.CheckProgress(ctx, insurerID, verificationID)
	if err != nil {
		p.log.WarnContext(ctx, "reload verification; the sweeper will score it", "verification_id", verificationID, "err", err)
		return
	}
	if pr.Status.Terminal() {
		return
	}
	taskID := verificationID
	switch {
	case pr.Terminal == pr.Checks:
	case pr.Pending == 0:
		taskID = fmt.Sprintf("%s:provisional:%d", verificationID, pr.Terminal)
	default:
		return
	}
	if err := p.d.Queue.Enqueue(ctx, verification.TaskScore, verification.EncodeVerification(insurerID, verificationID),
		taskID, verification.QueueCritical, 0); err != nil {
		p.log.WarnContext(ctx, "enqueue score; the sweeper will retry", "verification_id", verificationID, "err", err)
	}
}

// publish queues each event's publication after commit; the sweeper
// covers a failure.
func (p *Pipeline) publish(ctx context.Context, events []outbox.Event) {
	for _, ev := range events {
		if err := p.d.Queue.Enqueue(ctx, outbox.TaskPublish, outbox.EncodePublish(ev.ID), ev.ID, verification.QueueCritical, 0); err != nil {
			p.log.WarnContext(ctx, "enqueue event; the sweeper will retry", "event_id", ev.ID, "err", err)
		}
	}
}
