package verification

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/borderproof/borderproof/internal/audit"
	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/id"
	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/risk"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/vault"
)

// Sealer is the envelope encryption the service needs (internal/vault).
type Sealer interface {
	NewSubjectKey(ctx context.Context, insurerID, subjectID string) ([]byte, error)
	Seal(ctx context.Context, insurerID, subjectID string, wrapped []byte, purpose string, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, insurerID, subjectID string, wrapped []byte, purpose string, sealed []byte) ([]byte, error)
	BlindIndex(ctx context.Context, insurerID, kind, normalised string) (string, error)
	Shred(insurerID, subjectID string)
}

// Enqueuer puts a task on a queue; an existing task id is success.
type Enqueuer interface {
	Enqueue(ctx context.Context, typ string, payload []byte, taskID, queue string, processIn time.Duration) error
}

// BudgetGuard refuses submissions over an insurer's hard spending cap and
// warns over a soft one. Optional.
type BudgetGuard interface {
	CheckBudget(ctx context.Context, insurerID, mode string) (warning string, err error)
}

// Queues used by the service's tasks.
const (
	QueueCritical = "critical"
	QueueDefault  = "default"
	QueueLow      = "low"
)

// Default deadlines by mode, when the insurer has set none.
const (
	DefaultTestDeadline = 10 * time.Minute
	DefaultLiveDeadline = 7 * 24 * time.Hour
)

// Service submits, reads, cancels and erases verifications.
type Service struct {
	store  Store
	audit  audit.Store
	sealer Sealer
	queue  Enqueuer
	budget BudgetGuard
	log    *slog.Logger
	now    func() time.Time
}

// Deps are the service's collaborators.
type Deps struct {
	Store  Store
	Audit  audit.Store
	Sealer Sealer
	Queue  Enqueuer
	Budget BudgetGuard
	Log    *slog.Logger
	Now    func() time.Time
}

// NewService builds the service.
func NewService(d Deps) *Service {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	return &Service{store: d.Store, audit: d.Audit, sealer: d.Sealer, queue: d.Queue, budget: d.Budget, log: d.Log, now: now}
}

// SubmitResult is the answer to a submission.
type SubmitResult struct {
	Verification Verification
	Replayed     bool
	Warnings     []string
}

// Submit validates, seals and records a verification with its checks in one
// transaction, then queues one task per check. The same idempotency key with
// the same input answers the first verification again (Replayed); with a
// different input it is a Conflict.
func (s *Service) Submit(ctx context.Context, in SubmitInput) (SubmitResult, error) {
	p, err := tenant.Authorize(ctx, tenant.ScopeVerificationsWrite)
	if err != nil {
		return SubmitResult{}, err
	}
	now := s.now().UTC()
	if err := in.Validate(now); err != nil {
		return SubmitResult{}, err
	}
	for _, purpose := range in.Consent.Purposes {
		if !p.AllowsPurpose(purpose) {
			return SubmitResult{}, errs.E(errs.Forbidden, "this API key may not declare the purpose %s", purpose)
		}
	}
	mode := string(p.Mode())
	hash := in.Hash()
	// A repeated idempotency key is found by the insert, which fails on it
	// and returns the verification that holds it: a new request, the
	// common case, costs no lookup first.
	var warnings []string
	if s.budget != nil {
		w, err := s.budget.CheckBudget(ctx, p.Insurer.ID, mode)
		if err != nil {
			// A repeated request gets its first answer, even over budget.
			if in.IdempotencyKey != "" {
				if prev, perr := s.store.VerificationByIdempotencyKey(ctx, p.Insurer.ID, mode, in.IdempotencyKey); perr == nil {
					return s.replay(prev, in.IdempotencyKey, hash)
				}
			}
			return SubmitResult{}, err
		}
		if w != "" {
			warnings = append(warnings, w)
		}
	}

	vid := id.NewAt(id.Verification, now)
	v := Verification{
		ID: vid, InsurerID: p.Insurer.ID, Mode: mode, Status: StatusQueued,
		ExternalReference: in.ExternalReference, IdempotencyKey: in.IdempotencyKey, RequestHash: hash,
		APIKeyID: p.Key.ID, Metadata: in.Metadata,
		DeadlineAt: now.Add(deadline(p.Insurer, mode)), CreatedAt: now, UpdatedAt: now,
		Consent: Consent{ID: id.New(id.Consent), Reference: in.Consent.Reference, ObtainedAt: in.Consent.ObtainedAt,
			LawfulBasis: in.Consent.LawfulBasis, Purposes: in.Consent.Purposes},
	}
	pii := PII{Policyholder: in.Policyholder, Documents: in.Documents}
	if in.Policy != nil {
		v.Product, v.CoverageCountry = in.Policy.Product, in.Policy.CoverageCountry
		v.PolicyStart, v.PolicyEnd = in.Policy.StartDate, in.Policy.EndDate
		pii.PolicyReference = in.Policy.Reference
	}
	for _, ct := range checkTypes(in.Checks, p.Insurer) {
		v.Checks = append(v.Checks, Check{ID: id.NewAt(id.Check, now), VerificationID: vid, InsurerID: p.Insurer.ID,
			Type: ct, Status: risk.CheckPending, CreatedAt: now, UpdatedAt: now})
	}

	wrapped, err := s.sealer.NewSubjectKey(ctx, p.Insurer.ID, vid)
	if err != nil {
		return SubmitResult{}, err
	}
	plain, err := json.Marshal(pii)
	if err != nil {
		return SubmitResult{}, err
	}
	sealed, err := s.sealer.Seal(ctx, p.Insurer.ID, vid, wrapped, vault.PurposePolicyholder, plain)
	clear(plain)
	if err != nil {
		return SubmitResult{}, err
	}
	blind, err := s.blindEntries(ctx, p.Insurer.ID, pii)
	if err != nil {
		return SubmitResult{}, err
	}
	saved, created, err := s.store.CreateVerification(ctx, NewVerification{Verification: v, WrappedKey: wrapped, SealedPII: sealed, BlindIndex: blind})
	if err != nil {
		return SubmitResult{}, err
	}
	if !created {
		// Another request with the same key won the race.
		return s.replay(saved, in.IdempotencyKey, hash)
	}
	s.enqueueRun(ctx, saved)
	return SubmitResult{Verification: saved, Warnings: warnings}, nil
}

func (s *Service) replay(prev Verification, key, hash string) (SubmitResult, error) {
	if prev.RequestHash != hash {
		return SubmitResult{}, errs.E(errs.Conflict, "idempotency key %q was already used with a different request", key)
	}
	return SubmitResult{Verification: prev, Replayed: true}, nil
}

// enqueueRun queues the run of the verification's checks (one task for
// all of them). A failure is logged, not returned: the rows are committed
// and the outbox sweeper queues any check whose task is missing.
func (s *Service) enqueueRun(ctx context.Context, v Verification) {
	if err := s.queue.Enqueue(ctx, TaskRun, EncodeVerification(v.InsurerID, v.ID), RunTaskID(v.ID), QueueDefault, 0); err != nil {
		s.log.WarnContext(ctx, "enqueue the checks; the sweeper will retry", "verification_id", v.ID, "err", err)
	}
}

func deadline(ins tenant.Insurer, mode string) time.Duration {
	if mode == string(tenant.Test) {
		if ins.Settings.TestDeadlineSeconds > 0 {
			return time.Duration(ins.Settings.TestDeadlineSeconds) * time.Second
		}
		return DefaultTestDeadline
	}
	if ins.Settings.LiveDeadlineSeconds > 0 {
		return time.Duration(ins.Settings.LiveDeadlineSeconds) * time.Second
	}
	return DefaultLiveDeadline
}

// checkTypes is the requested list, else the insurer's default, else all.
func checkTypes(requested []string, ins tenant.Insurer) []risk.CheckType {
	list := requested
	if len(list) == 0 {
		list = ins.Settings.DefaultChecks
	}
	if len(list) == 0 {
		return risk.CheckTypes()
	}
	out := make([]risk.CheckType, 0, len(list))
	for _, t := range list {
		out = append(out, risk.CheckType(t))
	}
	return out
}

func (s *Service) blindEntries(ctx context.Context, insurerID string, pii PII) ([]BlindEntry, error) {
	var out []BlindEntry
	seen := map[string]bool{}
	add := func(kind, normalised string) error {
		d, err := s.sealer.BlindIndex(ctx, insurerID, kind, normalised)
		if err != nil {
			return err
		}
		if !seen[kind+d] {
			seen[kind+d] = true
			out = append(out, BlindEntry{Kind: kind, Digest: d})
		}
		return nil
	}
	for _, d := range pii.Documents {
		if err := add(vault.IndexDocument, vault.DocumentKey(d.IssuingCountry, d.Number)); err != nil {
			return nil, err
		}
	}
	ph := pii.Policyholder
	name := strings.TrimSpace(ph.GivenNames + " " + ph.Surname)
	if err := add(vault.IndexPerson, vault.NormalisePersonKey(name, ph.DateOfBirth)); err != nil {
		return nil, err
	}
	return out, nil
}

// Get returns a verification of the caller's insurer and mode.
func (s *Service) Get(ctx context.Context, id string) (Verification, error) {
	p, err := tenant.Authorize(ctx, tenant.ScopeVerificationsRead)
	if err != nil {
		return Verification{}, err
	}
	return s.store.Verification(ctx, p.Insurer.ID, string(p.Mode()), id)
}

// MaxPage bounds a page of results.
const MaxPage = 100

// List returns a page of the caller's verifications, newest first.
func (s *Service) List(ctx context.Context, f Filter, first int, after string) (Page, error) {
	p, err := tenant.Authorize(ctx, tenant.ScopeVerificationsRead)
	if err != nil {
		return Page{}, err
	}
	if first <= 0 {
		first = 20
	}
	if first > MaxPage {
		return Page{}, errs.InvalidFields(errs.FieldError{Path: "first", Message: "must be at most 100"})
	}
	if f.Status != "" && !slices.Contains(Statuses, f.Status) {
		return Page{}, errs.InvalidFields(errs.FieldError{Path: "filter.status", Message: "unknown status"})
	}
	items, err := s.store.Verifications(ctx, p.Insurer.ID, string(p.Mode()), f, after, first+1)
	if err != nil {
		return Page{}, err
	}
	page := Page{Items: items}
	if len(items) > first {
		page.Items, page.HasNext = items[:first], true
	}
	if n := len(page.Items); n > 0 {
		page.StartCursor, page.EndCursor = page.Items[0].ID, page.Items[n-1].ID
	}
	return page, nil
}

// Policyholder opens the sealed personal data. It needs pii:read and writes
// an audit entry before returning anything. An erased verification answers
// nil.
func (s *Service) Policyholder(ctx context.Context, verificationID, purpose, requestID string) (*PII, error) {
	p, err := tenant.Authorize(ctx, tenant.ScopePIIRead)
	if err != nil {
		return nil, err
	}
	mode := string(p.Mode())
	wrapped, sealed, err := s.store.Sealed(ctx, p.Insurer.ID, mode, verificationID)
	if err != nil {
		return nil, err
	}
	if wrapped == nil || sealed == nil {
		return nil, nil // erased
	}
	detail, _ := json.Marshal(map[string]any{"fields": []string{"policyholder", "documents"}})
	if err := s.audit.AppendAudit(ctx, audit.Entry{
		ID: id.New(id.Audit), InsurerID: p.Insurer.ID, Actor: p.Key.ID, Action: audit.ActionPIIRead,
		VerificationID: verificationID, Purpose: purpose, RequestID: requestID, Detail: detail, CreatedAt: s.now().UTC(),
	}); err != nil {
		return nil, err
	}
	return s.open(ctx, p.Insurer.ID, verificationID, wrapped, sealed)
}

// Open unseals a verification's personal data for the pipeline (no audit
// here: the caller records what it shares and with whom).
func (s *Service) Open(ctx context.Context, insurerID, mode, verificationID string) (*PII, error) {
	wrapped, sealed, err := s.store.Sealed(ctx, insurerID, mode, verificationID)
	if err != nil {
		return nil, err
	}
	if wrapped == nil || sealed == nil {
		return nil, errs.E(errs.FailedPrecondition, "verification was erased")
	}
	return s.open(ctx, insurerID, verificationID, wrapped, sealed)
}

// OpenSealed unseals personal data the pipeline read with the
// verification; nil data means it was erased.
func (s *Service) OpenSealed(ctx context.Context, insurerID, verificationID string, wrapped, sealed []byte) (*PII, error) {
	if wrapped == nil || sealed == nil {
		return nil, errs.E(errs.FailedPrecondition, "verification was erased")
	}
	return s.open(ctx, insurerID, verificationID, wrapped, sealed)
}

func (s *Service) open(ctx context.Context, insurerID, verificationID string, wrapped, sealed []byte) (*PII, error) {
	plain, err := s.sealer.Open(ctx, insurerID, verificationID, wrapped, vault.PurposePolicyholder, sealed)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	var pii PII
	if err := json.Unmarshal(plain, &pii); err != nil {
		return nil, errs.Wrap(err, errs.Internal, "sealed data is unreadable")
	}
	return &pii, nil
}

// Cancel stops a verification that has not finished.
func (s *Service) Cancel(ctx context.Context, verificationID string) (Verification, error) {
	p, err := tenant.Authorize(ctx, tenant.ScopeVerificationsWrite)
	if err != nil {
		return Verification{}, err
	}
	now := s.now().UTC()
	ev := s.event(p.Insurer.ID, string(p.Mode()), outbox.VerificationCancelled, verificationID, now, map[string]any{"status": StatusCancelled})
	v, err := s.store.Cancel(ctx, p.Insurer.ID, string(p.Mode()), verificationID, now, ev)
	if err != nil {
		return v, err
	}
	s.publish(ctx, ev)
	return v, nil
}

// Erase crypto-shreds a verification's personal data and keeps its
// non-personal outcome and billing rows.
func (s *Service) Erase(ctx context.Context, verificationID, reason, requestID string) (Verification, error) {
	p, err := tenant.Authorize(ctx, tenant.ScopeVerificationsWrite)
	if err != nil {
		return Verification{}, err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" || len([]rune(reason)) > 500 {
		return Verification{}, errs.InvalidFields(errs.FieldError{Path: "reason", Message: "must be 1 to 500 characters"})
	}
	if _, err := s.store.Verification(ctx, p.Insurer.ID, string(p.Mode()), verificationID); err != nil {
		return Verification{}, err
	}
	return s.erase(ctx, p.Insurer.ID, string(p.Mode()), verificationID, p.Key.ID, reason, requestID, audit.ActionErase)
}

func (s *Service) erase(ctx context.Context, insurerID, mode, verificationID, actor, reason, requestID, action string) (Verification, error) {
	now := s.now().UTC()
	detail, _ := json.Marshal(map[string]string{"reason": reason})
	entry := audit.Entry{ID: id.New(id.Audit), InsurerID: insurerID, Actor: actor, Action: action,
		VerificationID: verificationID, RequestID: requestID, Detail: detail, CreatedAt: now}
	ev := s.event(insurerID, mode, outbox.VerificationErased, verificationID, now, map[string]any{})
	v, err := s.store.Erase(ctx, insurerID, verificationID, actor, reason, now, entry, ev)
	if err != nil {
		return v, err
	}
	s.sealer.Shred(insurerID, verificationID)
	s.publish(ctx, ev)
	return v, nil
}

// PurgeExpired erases an insurer's verifications older than its retention.
func (s *Service) PurgeExpired(ctx context.Context, ins tenant.Insurer, batch int) (int, error) {
	cutoff := s.now().UTC().AddDate(0, 0, -ins.RetentionDays)
	refs, err := s.store.ExpiredVerifications(ctx, ins.ID, cutoff, batch)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range refs {
		if _, err := s.erase(ctx, ins.ID, r.Mode, r.ID, "system", "retention period ended", "", audit.ActionRetentionErase); err != nil {
			if errs.Is(err, errs.NotFound) || errs.Is(err, errs.FailedPrecondition) {
				continue
			}
			return n, err
		}
		n++
	}
	return n, nil
}

// event builds an outbox row; its payload is ids and statuses only.
func (s *Service) event(insurerID, mode, typ, subjectID string, at time.Time, data map[string]any) outbox.Event {
	data["verificationId"] = subjectID
	b, _ := json.Marshal(data)
	return outbox.Event{ID: id.NewAt(id.Event, at), InsurerID: insurerID, Mode: mode, Type: typ, SubjectID: subjectID, Payload: b, CreatedAt: at}
}

// publish queues an event's publication after commit; the sweeper covers
// a failure.
func (s *Service) publish(ctx context.Context, ev outbox.Event) {
	if err := s.queue.Enqueue(ctx, outbox.TaskPublish, outbox.EncodePublish(ev.ID), ev.ID, QueueCritical, 0); err != nil {
		s.log.WarnContext(ctx, "enqueue event; the sweeper will retry", "event_id", ev.ID, "err", err)
	}
}
