// Package pipeline takes a verification from QUEUED to a scored outcome: it
// runs each check (the machine-readable zone locally, the others through a
// partner), polls partners that opened a case, enforces the verification's
// deadline, scores the answers with the insurer's risk policy, and sweeps up
// work whose task was lost. It is domain code: it declares the store, queue,
// vault and blob interfaces it needs and imports no transport.
//
// Every effect is guarded by the row's state inside the transaction that
// makes it (a check is updated only from the status it was read in), so a
// task that runs twice, even concurrently, changes nothing the second time.
//
// # Statuses
//
// A check goes PENDING → COMPLETED | SKIPPED | FAILED, or through
// AWAITING_PARTNER when the partner opened a case. A check is never CLEAR
// for lack of an answer: a partner that keeps failing or does not answer by
// the verification's deadline leaves the check FAILED with PARTNER_TIMEOUT
// (or PARTNER_UNAVAILABLE), which the risk engine raises to REVIEW.
//
// A verification is RUNNING once any check ran, AWAITING_PARTNER while a
// check waits on a partner case (with a provisional outcome once no check is
// still PENDING), and COMPLETED when scored. Scoring always ends in
// COMPLETED, even when every partner check failed: the outcome then says so
// in its reasons (PARTNER_UNAVAILABLE, PARTNER_TIMEOUT) and its decision is
// at least REVIEW, which is what an underwriter needs; FAILED is kept for a
// verification that could not be scored at all.
package pipeline

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/borderproof/borderproof/internal/audit"
	"github.com/borderproof/borderproof/internal/billing"
	"github.com/borderproof/borderproof/internal/id"
	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/partner"
	"github.com/borderproof/borderproof/internal/risk"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/verification"
	"github.com/borderproof/borderproof/internal/webhook"
)

// Store is what the pipeline needs from the database. Every method that
// touches one verification takes the insurer id; the sweeper's listings span
// insurers and say so.
type Store interface {
	// PipelineVerification loads a verification of the insurer, in any
	// mode, with its checks.
	PipelineVerification(ctx context.Context, insurerID, id string) (verification.Verification, error)
	// RunInputs loads what a verification's run reads before it calls a
	// partner (see RunInputs), in one round trip where the database allows.
	RunInputs(ctx context.Context, insurerID, id string) (RunInputs, error)
	// Sealed returns the wrapped key and sealed personal data.
	Sealed(ctx context.Context, insurerID, mode, id string) (wrappedKey, sealed []byte, err error)
	// DocumentReused reports whether another verification of the insurer
	// holds one of the document digests without the person digest.
	DocumentReused(ctx context.Context, insurerID, exceptID string, documentDigests []string, personDigest string) (bool, error)
	// StartChecks records an attempt on each item's check that is still
	// PENDING (attempts+1, the partner, updated_at, the process starting
	// it: by) with the item's audit entry, and moves a QUEUED verification
	// to RUNNING, in one transaction; it returns the ids of the checks it
	// started. With reuse, it also answers DocumentReused for it, in the
	// same round trip where the database allows.
	StartChecks(ctx context.Context, insurerID string, items []StartCheck, at time.Time, by string, reuse *ReuseQuery) (started map[string]bool, reused bool, err error)
	// CheckProgress counts a verification's checks by state, without
	// loading them.
	CheckProgress(ctx context.Context, insurerID, verificationID string) (Progress, error)
	// UpdateCheck applies u in one transaction when the check is still in
	// one of u.From (and, when u.Attempts ≥ 0, has that many attempts):
	// the check row, its usage row, its events, and the verification's
	// status. applied is false when the guard did not match.
	UpdateCheck(ctx context.Context, u CheckUpdate) (applied bool, err error)
	// UpdateChecks applies several updates, each as UpdateCheck does, in
	// one transaction; applied[i] tells whether us[i] matched its guard.
	UpdateChecks(ctx context.Context, us []CheckUpdate) (applied []bool, err error)
	// UpdateChecksAndScore applies us as UpdateChecks does and, when every
	// one of them matched its guard, saves o as SaveOutcome does, in the
	// same transaction; scored tells whether o was saved.
	UpdateChecksAndScore(ctx context.Context, us []CheckUpdate, o OutcomeUpdate) (applied []bool, scored bool, err error)
	// RiskPolicy returns the insurer's current policy; ok is false when the
	// insurer has none stored.
	RiskPolicy(ctx context.Context, insurerID string) (p risk.Policy, ok bool, err error)
	// SaveOutcome writes a score and its events in one transaction when the
	// verification is not terminal. applied is false otherwise.
	SaveOutcome(ctx context.Context, o OutcomeUpdate) (applied bool, err error)

	// StaleChecks lists, across insurers, PENDING checks not updated since
	// before, and AWAITING_PARTNER checks whose poll time is before now and
	// that were not updated since before.
	StaleChecks(ctx context.Context, before, now time.Time, limit int) ([]CheckRef, error)
	// ChecksStartedBy lists, across insurers, PENDING checks last started
	// by the process named proc no later than before, with the PENDING
	// checks of their verifications that nobody started (a local check,
	// one the data-sharing rules forbid).
	ChecksStartedBy(ctx context.Context, proc string, before time.Time, limit int) ([]CheckRef, error)
	// OverdueChecks lists, across insurers, unanswered checks of
	// verifications whose deadline is before now.
	OverdueChecks(ctx context.Context, now time.Time, limit int) ([]CheckRef, error)
	// UnscoredVerifications lists, across insurers, non-terminal
	// verifications whose checks are all terminal and that were not
	// updated since before.
	UnscoredVerifications(ctx context.Context, before time.Time, limit int) ([]VerificationRef, error)
	// UnbundledVerifications lists, across insurers, verifications
	// completed before `before` whose evidence bundle is not recorded.
	UnbundledVerifications(ctx context.Context, before time.Time, limit int) ([]VerificationRef, error)
	// UnpublishedEvents lists, across insurers, outbox events created
	// before and not yet published.
	UnpublishedEvents(ctx context.Context, before time.Time, limit int) ([]string, error)
}

// StartCheck is one check to start: its partner and the audit entry of
// what it shares (nil for none).
type StartCheck struct {
	CheckID string
	Partner string
	Audit   *audit.Entry
}

// CheckUpdate is one guarded change of a check and what goes with it.
type CheckUpdate struct {
	InsurerID      string
	VerificationID string
	CheckID        string
	// From lists the statuses the check must be in; Attempts, when ≥ 0,
	// the attempts it must have.
	From     []risk.CheckStatus
	Attempts int

	Status           risk.CheckStatus
	Partner          string
	Outcome          string
	Signals          []risk.Signal
	Reason           string
	PartnerReference string
	EvidenceKey      string
	// Evidence is the sealed partner answer, recorded with the result;
	// EvidenceSHA256 its digest (hex). A check updated without an answer
	// keeps none.
	Evidence       []byte
	EvidenceSHA256 string
	PollAfter      time.Time
	// IncAttempts counts one more attempt (a poll).
	IncAttempts bool
	At          time.Time

	// Usage is the billable row (billing.NewUsage), recorded in the ledger
	// unless the check already has one.
	Usage  *billing.Usage
	Events []outbox.Event
}

// OutcomeUpdate is a score to record.
type OutcomeUpdate struct {
	InsurerID      string
	VerificationID string
	Outcome        risk.Outcome
	// Status is COMPLETED for a final outcome, AWAITING_PARTNER for a
	// provisional one.
	Status verification.Status
	At     time.Time
	Events []outbox.Event
	// Published writes Events published, with Deliveries, their webhook
	// deliveries (webhook.Fanout), in the outcome's transaction; the
	// writer then hands them to Publisher.Published.
	Published  bool
	Deliveries []webhook.Delivery
	// EvidenceSHA256 is the digest of the evidence bundle written for a
	// final outcome before it commits (Bundler.Build), recorded with it;
	// "" leaves the bundle to be written after.
	EvidenceSHA256 string
}

// Progress is where a verification's checks stand.
type Progress struct {
	Status   verification.Status
	Checks   int // all checks
	Terminal int // COMPLETED, FAILED or SKIPPED
	Pending  int // PENDING (not yet answered or still running)
}

// CheckRef names a check for the sweeper.
type CheckRef struct {
	InsurerID      string
	VerificationID string
	CheckID        string
	Status         risk.CheckStatus
	Attempts       int
}

// VerificationRef names a verification for the sweeper.
type VerificationRef struct {
	InsurerID string
	ID        string
}

// Opener unseals a verification's personal data
// (verification.Service.Open).
type Opener interface {
	Open(ctx context.Context, insurerID, mode, verificationID string) (*verification.PII, error)
	// OpenSealed unseals data read with the verification (RunInputs);
	// errs.FailedPrecondition when it was erased (nil).
	OpenSealed(ctx context.Context, insurerID, verificationID string, wrappedKey, sealed []byte) (*verification.PII, error)
}

// Digests are a verification's blind index entries: its documents' and
// its policyholder's keyed digests.
type Digests struct {
	Documents []string
	Person    string
}

// ReuseQuery asks Store.DocumentReused for a verification with its digests.
type ReuseQuery struct {
	VerificationID string
	Digests
}

// RunInputs is what a verification's run reads before it calls anyone.
type RunInputs struct {
	// Verification has its checks.
	Verification verification.Verification
	// WrappedKey and Sealed are its sealed personal data, nil once erased.
	WrappedKey, Sealed []byte
	// Policy is the insurer's current risk policy when PolicyStored; the
	// default otherwise. PolicyErr is why the stored one could not be
	// read: the run then records its answers and scores on a task of its
	// own, as when Store.RiskPolicy fails.
	Policy       risk.Policy
	PolicyStored bool
	PolicyErr    error
	// Digests are the verification's blind index, written with it: what
	// finds its documents in the insurer's other verifications
	// (Store.DocumentReused).
	Digests Digests
	// Endpoints are the insurer's enabled webhook endpoints in the
	// verification's mode, read with it.
	Endpoints []webhook.Endpoint
}

// Sealer seals evidence and computes blind-index digests (internal/vault).
type Sealer interface {
	Seal(ctx context.Context, insurerID, subjectID string, wrapped []byte, purpose string, plaintext []byte) ([]byte, error)
	BlindIndex(ctx context.Context, insurerID, kind, normalised string) (string, error)
}

// Bundler writes and records the evidence bundle of a verification the
// pipeline completed (worker.Bundler). answers are the sealed answers by
// check id that the caller holds; the bundler reads the others recorded.
//
// Build only writes the bundle, under its digest, and returns the digest
// for the caller to record: a run writes it before its outcome commits, so
// that the outcome and its evidence appear together.
//
// Prune deletes the verification's bundles other than the recorded one:
// those of runs that lost the race to complete, or died before their
// outcome committed.
type Bundler interface {
	Bundle(ctx context.Context, v verification.Verification, answers map[string][]byte) error
	Build(ctx context.Context, v verification.Verification, answers map[string][]byte) (string, error)
	Prune(ctx context.Context, v verification.Verification) error
}

// Publisher publishes an outbox event now: webhook deliveries and live
// subscribers (webhook.Service.PublishEvent, what the event:publish
// handler does once it has read the event). It is idempotent. The event
// is the one just committed, so it is not read again.
//
// Published follows an event written published with its deliveries
// (OutcomeUpdate.Published): live subscribers, then the deliveries'
// tasks (webhook.Service.Published).
//
// Hold takes, before the write, the first attempts of deliveries this
// process will make itself once they commit (webhook.Service.Hold);
// Unhold gives them back when the write did not commit.
type Publisher interface {
	PublishEvent(ctx context.Context, ev outbox.Event) error
	Published(ctx context.Context, ev outbox.Event, ds []webhook.Delivery) error
	Hold(ds []webhook.Delivery, endpoints []webhook.Endpoint, now time.Time) []webhook.Delivery
	Unhold(ds []webhook.Delivery)
}

// Enqueuer queues a task; an existing task id is success.
type Enqueuer interface {
	Enqueue(ctx context.Context, typ string, payload []byte, taskID, queue string, processIn time.Duration) error
}

// Tenants reads insurers (tenant.Service).
type Tenants interface {
	Insurer(ctx context.Context, id string) (tenant.Insurer, error)
}

// Router picks partners (partner.Registry).
type Router interface {
	Route(check partner.CheckType, coverageCountry string) (*partner.Resilient, error)
	Get(name string) (*partner.Resilient, bool)
}

// Network is one set of partners with the blinder their digests need.
type Network struct {
	Router  Router
	Blinder partner.Blinder
}

// Config tunes the pipeline.
type Config struct {
	// DefaultPollInterval is used when a partner opens a case without
	// saying when to ask again (default 30s).
	DefaultPollInterval time.Duration
	// StaleAfter is how long a PENDING check may go unchanged before the
	// sweeper queues it again (default 10s). Short is safe: a check whose
	// task is still queued or running is left alone (its task id is taken).
	StaleAfter time.Duration
	// EventGrace is how old an unpublished event must be before the
	// sweeper queues its publication again (default 5s).
	EventGrace time.Duration
	// SweepBatch bounds each listing of a sweep (default 500).
	SweepBatch int
	// Bundles says that scoring writes evidence bundles (the score handler
	// is wrapped by worker.WithEvidence): the sweeper then queues the score
	// again of a verification completed EventGrace ago without one.
	Bundles bool
	// Process is the name this process's beats go by (queue.ThisProcess),
	// written on the checks it starts, so that once it is seen to die the
	// checks it left are swept for at once (SweepStartedBy); "" for none.
	Process string
}

func (c Config) withDefaults() Config {
	if c.DefaultPollInterval <= 0 {
		c.DefaultPollInterval = 30 * time.Second
	}
	if c.StaleAfter <= 0 {
		c.StaleAfter = 10 * time.Second
	}
	if c.EventGrace <= 0 {
		c.EventGrace = 5 * time.Second
	}
	if c.SweepBatch <= 0 {
		c.SweepBatch = 500
	}
	return c
}

// Deps are the pipeline's collaborators. Live and Test are the partner
// networks for each mode: test-mode verifications always go to Test (the
// simulator).
type Deps struct {
	Store  Store
	Opener Opener
	Sealer Sealer
	Queue  Enqueuer
	// Bundler, when set, bundles the evidence of a verification its run
	// completed, in that run (without it, or when it fails, the score
	// handler's wrapper and the sweeper do).
	Bundler Bundler
	// Publisher, when set, publishes the events of checks and scores in
	// the task that wrote them, saving each its event:publish task.
	Publisher Publisher
	Tenants   Tenants
	Live      Network
	Test      Network
	Log       *slog.Logger
	Now       func() time.Time
}

// Pipeline runs checks, polls, scores and sweeps.
type Pipeline struct {
	cfg Config
	d   Deps
	log *slog.Logger
	now func() time.Time
	// regions caches each insurer's region, which the data-sharing rules
	// need for every partner check and which is fixed when the insurer is
	// created (from its country).
	regions *lru.Cache[string, string]
	// rolledUp is the last second (Unix) whose usage roll-up this process
	// queued: one enqueue per second instead of one per billable check.
	rolledUp atomic.Int64
}

// New builds the pipeline.
func New(cfg Config, d Deps) *Pipeline {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	regions, _ := lru.New[string, string](4096) // fails only for a size ≤ 0
	return &Pipeline{cfg: cfg.withDefaults(), d: d, log: log, now: func() time.Time { return now().UTC() }, regions: regions}
}

// Reasons recorded on checks that ended without a partner's answer.
const (
	ReasonNotPermitted       = partner.ReasonNotPermitted
	ReasonPartnerTimeout     = string(risk.SignalPartnerTimeout)
	ReasonPartnerUnavailable = string(risk.SignalPartnerUnavailable)
	ReasonNoPartner          = "NO_PARTNER"
	ReasonPartnerRejected    = "PARTNER_REJECTED"
	ReasonErased             = "ERASED"
)

// event builds an outbox row; its payload carries ids, statuses and codes.
func event(v verification.Verification, typ string, at time.Time, data map[string]any) outbox.Event {
	data["verificationId"] = v.ID
	b, _ := json.Marshal(data)
	return outbox.Event{ID: id.NewAt(id.Event, at), InsurerID: v.InsurerID, Mode: v.Mode, Type: typ, SubjectID: v.ID, Payload: b, CreatedAt: at}
}
