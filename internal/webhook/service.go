package webhook

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/id"
	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/tenant"
)

// DefaultSchedule is when a delivery is attempted, counted from the
// previous attempt: immediately, then after 5 seconds, 5 minutes, 30
// minutes, 2 hours, 5 hours, 10 hours and 10 hours (each retry delay with
// jitter). A delivery whose last scheduled attempt fails is FAILED and can
// be replayed.
var DefaultSchedule = []time.Duration{
	0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// Config tunes the service. The zero value uses the defaults.
type Config struct {
	// Metrics counts attempts by outcome; nil counts nothing.
	Metrics *Metrics
	// Allow lets endpoint URLs and connections reach the listed non-public
	// destinations (dev mode and tests).
	Allow Allowlist
	// Resolver resolves endpoint host names; nil means the system resolver.
	Resolver Resolver
	// Schedule is the retry schedule (default DefaultSchedule); its first
	// entry is ignored, as the first attempt is made when the event fans out.
	Schedule []time.Duration
	// Jitter spreads each retry delay by up to this fraction either way
	// (default 0.1; negative disables).
	Jitter float64
	// Timeout bounds one attempt, response included (default 15 s).
	Timeout time.Duration
	// RetryAfterCap bounds how long a Retry-After header may postpone the
	// next attempt (default 1 hour).
	RetryAfterCap time.Duration
	// DisableAfter disables an endpoint whose attempts have all failed for
	// this long (default 5 days).
	DisableAfter time.Duration
	// MaxInFlight bounds concurrent attempts per endpoint in this process
	// (default 4). A further attempt waits for a slot about as long as
	// four of the endpoint's recent attempts took, at least 50 ms and at
	// most SlotWait (default 250 ms), and is then postponed rather than
	// queued behind the endpoint: a fast endpoint's burst waits
	// milliseconds, while an endpoint that answers slowly cannot hold
	// every worker.
	MaxInFlight int
	SlotWait    time.Duration
	// BreakerFailures is how many consecutive failed attempts open an
	// endpoint's circuit breaker in this process (default 5; negative
	// disables the breaker). While open, attempts are postponed without
	// counting as failures: for BreakerCooldown (default 5 s) the first
	// time, then for twice as long after each failed trial attempt, up
	// to BreakerMaxCooldown (default 5 min); an attempt that succeeds
	// closes it.
	BreakerFailures    int
	BreakerCooldown    time.Duration
	BreakerMaxCooldown time.Duration
	// Now is the clock (default time.Now); tests drive the schedule with it.
	Now func() time.Time
	// Client overrides the guarded HTTP client (tests only; production
	// always uses NewGuardedClient).
	Client *http.Client
	// Liveness, when set, names this process on the deliveries it holds
	// for a first attempt (Hold), and lets the sweeper take over at once
	// those held by a process that is gone, rather than when their lease
	// lapses (Timeout and attemptGrace after the hold).
	Liveness Liveness
}

// Liveness tells which processes are gone (queue.Liveness).
type Liveness interface {
	// ID is this process's.
	ID() string
	// Gone returns those of ids whose process is gone.
	Gone(ctx context.Context, ids []string) ([]string, error)
}

func (c Config) withDefaults() Config {
	if len(c.Schedule) == 0 {
		c.Schedule = DefaultSchedule
	}
	if c.Jitter == 0 {
		c.Jitter = 0.1
	}
	if c.Timeout <= 0 {
		c.Timeout = 15 * time.Second
	}
	if c.RetryAfterCap <= 0 {
		c.RetryAfterCap = time.Hour
	}
	if c.DisableAfter <= 0 {
		c.DisableAfter = 5 * 24 * time.Hour
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 4
	}
	if c.SlotWait <= 0 {
		c.SlotWait = 250 * time.Millisecond
	}
	if c.BreakerFailures == 0 {
		c.BreakerFailures = 5
	}
	if c.BreakerCooldown <= 0 {
		c.BreakerCooldown = 5 * time.Second
	}
	if c.BreakerMaxCooldown <= 0 {
		c.BreakerMaxCooldown = max(5*time.Minute, c.BreakerCooldown)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Service manages endpoints, fans events out to them and delivers.
type Service struct {
	cfg    Config
	store  Store
	sealer Sealer
	queue  Enqueuer
	bcast  Broadcaster
	log    *slog.Logger
	client *http.Client
	gates  *gates
	firsts *firsts
}

// New builds the service. bcast may be nil (no live subscribers).
func New(cfg Config, store Store, sealer Sealer, queue Enqueuer, bcast Broadcaster, log *slog.Logger) (*Service, error) {
	if store == nil || sealer == nil || queue == nil || log == nil {
		return nil, errs.E(errs.Internal, "webhook: store, sealer, queue and logger are required")
	}
	cfg = cfg.withDefaults()
	if bcast == nil {
		bcast = noBroadcast{}
	}
	client := cfg.Client
	if client == nil {
		client = NewGuardedClient(GuardConfig{Allow: cfg.Allow, Resolver: cfg.Resolver, RequestTimeout: cfg.Timeout})
	}
	return &Service{
		cfg: cfg, store: store, sealer: sealer, queue: queue, bcast: bcast, log: log,
		client: client,
		gates:  newGates(cfg),
		firsts: newFirsts(),
	}, nil
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// CreateEndpoint creates an endpoint and returns it with its signing
// secret, which is shown this once.
func (s *Service) CreateEndpoint(ctx context.Context, in CreateEndpointInput) (Endpoint, string, error) {
	if err := in.Validate(s.cfg.Allow); err != nil {
		return Endpoint{}, "", err
	}
	existing, err := s.store.WebhookEndpoints(ctx, in.InsurerID, in.Mode, "", MaxEndpoints)
	if err != nil {
		return Endpoint{}, "", err
	}
	if len(existing) >= MaxEndpoints {
		return Endpoint{}, "", errs.E(errs.FailedPrecondition, "an insurer may have at most %d webhook endpoints per mode", MaxEndpoints)
	}
	now := s.now()
	e := Endpoint{
		ID:          id.NewAt(id.Webhook, now),
		InsurerID:   in.InsurerID,
		Mode:        in.Mode,
		URL:         in.URL,
		Description: in.Description,
		Events:      normalizeEvents(in.Events),
		Enabled:     true,
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	secret := NewSecret()
	wrapped, err := s.sealer.NewSubjectKey(ctx, e.InsurerID, e.ID)
	if err != nil {
		return Endpoint{}, "", err
	}
	sealed, err := s.sealer.Seal(ctx, e.InsurerID, e.ID, wrapped, SecretPurpose, []byte(secret))
	if err != nil {
		return Endpoint{}, "", err
	}
	e.Secrets = SealedSecrets{WrappedKey: wrapped, Current: sealed}
	if err := s.store.CreateWebhookEndpoint(ctx, e); err != nil {
		return Endpoint{}, "", err
	}
	return e, secret, nil
}

// Endpoint returns one endpoint of the insurer in the mode.
func (s *Service) Endpoint(ctx context.Context, insurerID string, mode tenant.Mode, id string) (Endpoint, error) {
	return s.store.WebhookEndpoint(ctx, insurerID, mode, id)
}

// UpdateEndpoint changes an endpoint. Enabling an endpoint clears its
// failure history; disabling one stops its deliveries (pending ones fail
// and can be replayed after it is enabled again).
func (s *Service) UpdateEndpoint(ctx context.Context, in UpdateEndpointInput) (Endpoint, error) {
	if err := in.Validate(s.cfg.Allow); err != nil {
		return Endpoint{}, err
	}
	e, err := s.store.WebhookEndpoint(ctx, in.InsurerID, in.Mode, in.ID)
	if err != nil {
		return Endpoint{}, err
	}
	now := s.now()
	if in.URL != nil && *in.URL != e.URL {
		e.URL = *in.URL
		s.gates.reset(e.ID) // a new URL starts with a closed breaker
	}
	if in.Events != nil {
		e.Events = normalizeEvents(in.Events)
	}
	if in.Description != nil {
		e.Description = *in.Description
	}
	if in.ClearDescription {
		e.Description = ""
	}
	if in.Enabled != nil && *in.Enabled != e.Enabled {
		e.Enabled = *in.Enabled
		if e.Enabled {
			e.DisabledReason, e.DisabledAt, e.FailingSince = "", time.Time{}, time.Time{}
			s.gates.reset(e.ID)
		} else {
			e.DisabledReason, e.DisabledAt = DisabledManually, now
		}
	}
	e.UpdatedAt = now
	if err := s.store.UpdateWebhookEndpoint(ctx, e); err != nil {
		return Endpoint{}, err
	}
	return e, nil
}

// DeleteEndpoint deletes an endpoint with its delivery history.
func (s *Service) DeleteEndpoint(ctx context.Context, insurerID string, mode tenant.Mode, id string) error {
	if err := s.store.DeleteWebhookEndpoint(ctx, insurerID, mode, id); err != nil {
		return err
	}
	s.gates.reset(id)
	return nil
}

// ListEndpoints pages through the insurer's endpoints in the mode, oldest
// first. First zero means 20.
func (s *Service) ListEndpoints(ctx context.Context, in ListEndpointsInput) (EndpointPage, error) {
	var f errs.Fields
	checkPage(&f, in.First)
	if err := f.Err(); err != nil {
		return EndpointPage{}, err
	}
	first := pageSize(in.First)
	list, err := s.store.WebhookEndpoints(ctx, in.InsurerID, in.Mode, in.After, first+1)
	if err != nil {
		return EndpointPage{}, err
	}
	p := EndpointPage{Endpoints: list}
	if len(list) > first {
		p.Endpoints, p.HasNextPage = list[:first], true
	}
	return p, nil
}

func pageSize(first int) int {
	if first == 0 {
		return 20
	}
	return first
}

// RotateSecret gives the endpoint a new signing secret and returns it
// (shown this once). The replaced secret keeps signing beside the new one
// for RotationOverlap, so a receiver can switch without dropping messages.
func (s *Service) RotateSecret(ctx context.Context, insurerID string, mode tenant.Mode, id string) (Endpoint, string, error) {
	e, err := s.store.WebhookEndpoint(ctx, insurerID, mode, id)
	if err != nil {
		return Endpoint{}, "", err
	}
	now := s.now()
	secret := NewSecret()
	sealed, err := s.sealer.Seal(ctx, e.InsurerID, e.ID, e.Secrets.WrappedKey, SecretPurpose, []byte(secret))
	if err != nil {
		return Endpoint{}, "", err
	}
	// The sealed current secret becomes the previous one as it is: both
	// are sealed for the same endpoint and purpose.
	e.Secrets = SealedSecrets{
		WrappedKey:    e.Secrets.WrappedKey,
		Current:       sealed,
		Previous:      e.Secrets.Current,
		PreviousUntil: now.Add(RotationOverlap),
	}
	e.UpdatedAt = now
	if err := s.store.UpdateWebhookEndpoint(ctx, e); err != nil {
		return Endpoint{}, "", err
	}
	return e, secret, nil
}

// keyring opens the endpoint's active secrets at now.
func (s *Service) keyring(ctx context.Context, e Endpoint, now time.Time) (Keyring, error) {
	open := func(sealed []byte) (string, error) {
		b, err := s.sealer.Open(ctx, e.InsurerID, e.ID, e.Secrets.WrappedKey, SecretPurpose, sealed)
		return string(b), err
	}
	cur, err := open(e.Secrets.Current)
	if err != nil {
		return Keyring{}, err
	}
	k := Keyring{Current: cur}
	if len(e.Secrets.Previous) > 0 && now.Before(e.Secrets.PreviousUntil) {
		if k.Previous, err = open(e.Secrets.Previous); err != nil {
			return Keyring{}, err
		}
		k.PreviousUntil = e.Secrets.PreviousUntil
	}
	return k, nil
}

// testPayload is the data of a webhook.test message.
type testPayload struct {
	EndpointID string `json:"endpointId"`
	Message    string `json:"message"`
}

// SendTest sends a webhook.test message to one endpoint only, through the
// usual delivery path, and returns its delivery.
func (s *Service) SendTest(ctx context.Context, insurerID string, mode tenant.Mode, endpointID string) (Delivery, error) {
	e, err := s.store.WebhookEndpoint(ctx, insurerID, mode, endpointID)
	if err != nil {
		return Delivery{}, err
	}
	if !e.Enabled {
		return Delivery{}, errs.E(errs.FailedPrecondition, "webhook endpoint is disabled")
	}
	now := s.now()
	payload, _ := json.Marshal(testPayload{EndpointID: e.ID, Message: "Test message from BorderProof."})
	ev := outbox.Event{
		ID: id.NewAt(id.Event, now), InsurerID: insurerID, Mode: string(mode), Type: outbox.WebhookTest,
		SubjectID: e.ID, Payload: payload, CreatedAt: now, PublishedAt: now,
	}
	d := newDelivery(ev, e, now)
	if err := s.store.CreateWebhookTestDelivery(ctx, ev, d); err != nil {
		return Delivery{}, err
	}
	if err := s.enqueue(ctx, d, 0); err != nil {
		// The row is committed; the sweeper queues it.
		s.log.WarnContext(ctx, "enqueue webhook delivery", "delivery", d.ID, "err", err)
	}
	return d, nil
}

func newDelivery(ev outbox.Event, e Endpoint, now time.Time) Delivery {
	return Delivery{
		ID: id.NewAt(id.Delivery, now), InsurerID: ev.InsurerID, Mode: e.Mode,
		EndpointID: e.ID, EventID: ev.ID, EventType: ev.Type,
		Status: Pending, NextAttemptAt: now, CreatedAt: now,
	}
}

// Delivery returns one delivery of the insurer in the mode.
func (s *Service) Delivery(ctx context.Context, insurerID string, mode tenant.Mode, id string) (Delivery, error) {
	d, err := s.store.WebhookDelivery(ctx, insurerID, id)
	if err != nil {
		return Delivery{}, err
	}
	if d.Mode != mode {
		return Delivery{}, errs.E(errs.NotFound, "webhook delivery not found")
	}
	return d, nil
}

// ListDeliveries pages through deliveries, newest first, optionally of one
// endpoint and in one status. First zero means 20.
func (s *Service) ListDeliveries(ctx context.Context, in ListDeliveriesInput) (DeliveryPage, error) {
	var f errs.Fields
	checkPage(&f, in.First)
	if in.Status != "" && !in.Status.Valid() {
		f.Add("status", "is not a delivery status")
	}
	if err := f.Err(); err != nil {
		return DeliveryPage{}, err
	}
	if in.EndpointID != "" {
		// A foreign or other-mode endpoint answers NOT_FOUND, not an
		// empty list.
		if _, err := s.store.WebhookEndpoint(ctx, in.InsurerID, in.Mode, in.EndpointID); err != nil {
			return DeliveryPage{}, err
		}
	}
	first := pageSize(in.First)
	list, err := s.store.WebhookDeliveries(ctx, DeliveryFilter{
		InsurerID: in.InsurerID, Mode: in.Mode, EndpointID: in.EndpointID, Status: in.Status,
		Before: in.After, Limit: first + 1,
	})
	if err != nil {
		return DeliveryPage{}, err
	}
	p := DeliveryPage{Deliveries: list}
	if len(list) > first {
		p.Deliveries, p.HasNextPage = list[:first], true
	}
	return p, nil
}

// Attempts returns the attempts of the insurer's deliveries, by delivery
// id, in one query (the GraphQL layer batches a page's deliveries).
func (s *Service) Attempts(ctx context.Context, insurerID string, deliveryIDs []string) (map[string][]Attempt, error) {
	if len(deliveryIDs) == 0 {
		return map[string][]Attempt{}, nil
	}
	return s.store.WebhookAttempts(ctx, insurerID, deliveryIDs)
}

// ReplayDelivery sends a finished delivery again, with the same message id
// and a fresh retry schedule.
func (s *Service) ReplayDelivery(ctx context.Context, insurerID string, mode tenant.Mode, id string) (Delivery, error) {
	d, err := s.Delivery(ctx, insurerID, mode, id)
	if err != nil {
		return Delivery{}, err
	}
	if err := s.requireEnabled(ctx, insurerID, mode, d.EndpointID); err != nil {
		return Delivery{}, err
	}
	d, err = s.store.ReplayWebhookDelivery(ctx, insurerID, mode, id, s.now())
	if err != nil {
		return Delivery{}, err
	}
	if err := s.enqueue(ctx, d, 0); err != nil {
		s.log.WarnContext(ctx, "enqueue webhook replay", "delivery", d.ID, "err", err)
	}
	return d, nil
}

// ReplayDeliveries replays the endpoint's failed deliveries created at or
// after in.Since, at most MaxReplayBatch per call, and returns how many.
func (s *Service) ReplayDeliveries(ctx context.Context, in ReplayInput) (int, error) {
	if in.Since.IsZero() {
		return 0, errs.InvalidFields(errs.FieldError{Path: "since", Message: "is required"})
	}
	if err := s.requireEnabled(ctx, in.InsurerID, in.Mode, in.EndpointID); err != nil {
		return 0, err
	}
	list, err := s.store.ReplayFailedWebhookDeliveries(ctx, in.InsurerID, in.Mode, in.EndpointID, in.Since, s.now(), MaxReplayBatch)
	if err != nil {
		return 0, err
	}
	for _, d := range list {
		if err := s.enqueue(ctx, d, 0); err != nil {
			s.log.WarnContext(ctx, "enqueue webhook replay", "delivery", d.ID, "err", err)
		}
	}
	return len(list), nil
}

func (s *Service) requireEnabled(ctx context.Context, insurerID string, mode tenant.Mode, endpointID string) error {
	e, err := s.store.WebhookEndpoint(ctx, insurerID, mode, endpointID)
	if err != nil {
		return err
	}
	if !e.Enabled {
		return errs.E(errs.FailedPrecondition, "webhook endpoint is disabled; enable it before replaying")
	}
	return nil
}

// enqueue queues the delivery's next attempt.
func (s *Service) enqueue(ctx context.Context, d Delivery, in time.Duration) error {
	return s.queue.Enqueue(ctx, TaskDeliver, EncodeDeliver(d), DeliverTaskID(d), Queue, in)
}

// attemptGrace is how long past its timeout an attempt may take to be
// recorded before the sweeper takes its delivery over.
const attemptGrace = 5 * time.Second

// sweepGrace is how overdue a pending delivery must be before the sweeper
// assumes its task was lost. It only has to cover the instant between a
// commit and its enqueue: re-enqueueing a delivery whose task is still
// queued or running is a no-op (the task id is taken).
const sweepGrace = 10 * time.Second

// Requeuer re-creates a delivery's task for the sweeper, including one
// held by a worker that died (worker.Requeue), and tells whether a task
// waits or runs on a live worker.
type Requeuer interface {
	Requeue(ctx context.Context, typ string, payload []byte, taskID, queue string) (recovered bool, err error)
	Queued(ctx context.Context, taskID, queue string) (bool, error)
}

// Sweep re-enqueues pending deliveries whose attempt is overdue, in case
// their task was lost (Redis flushed, a crash between commit and enqueue).
// A task still queued makes the enqueue a no-op.
//
// With r it also takes over the deliveries leased by an attempt whose
// worker died: the lease (the attempt's timeout and a margin, 45 s) and
// asynq's own recovery of the task would each hold the delivery for about
// a minute. A lease taken longer ago than an attempt can last (Timeout and
// attemptGrace to record it), on a delivery whose task no live worker
// holds, is broken and the attempt queued again (under a new task id if
// the old one is still marked active). The age alone rules out a live
// attempt, even when Redis lost what its workers hold. Without r, tasks
// are enqueued as they are.
func (s *Service) Sweep(ctx context.Context, r Requeuer) error {
	now := s.now()
	before := now.Add(-sweepGrace)
	if err := s.SweepOverdue(ctx, r, sweepGrace); err != nil {
		return err
	}
	if r == nil {
		return nil
	}
	// leased_until is the claim's time + Timeout + leaseMargin.
	leased, err := s.store.LeasedWebhookDeliveries(ctx, before, now.Add(leaseMargin-attemptGrace), 500)
	if err != nil {
		return err
	}
	for _, d := range leased {
		held, err := r.Queued(ctx, DeliverTaskID(d), Queue)
		if err != nil {
			return err
		}
		if held {
			continue // an attempt is under way
		}
		broken, err := s.store.BreakWebhookLease(ctx, d.InsurerID, d.ID, d.LeasedUntil)
		if err != nil {
			return err
		}
		if !broken {
			continue // recorded or claimed again meanwhile
		}
		s.log.WarnContext(ctx, "webhook delivery taken over from a worker that is gone", "delivery", d.ID)
		if err := s.requeue(ctx, r, d); err != nil {
			return err
		}
	}
	return s.takeOverHeld(ctx, r, now)
}

// SweepOverdue queues the attempts of the pending deliveries due more than
// within ago that no lease covers, unless their task is on its way (r
// tells): those whose task was lost. The periodic sweep waits sweepGrace;
// after a worker's death, whose tasks nobody holds any more, the watcher
// sweeps with the window since the death (worker.WatchWorkers).
func (s *Service) SweepOverdue(ctx context.Context, r Requeuer, within time.Duration) error {
	list, err := s.store.OverdueWebhookDeliveries(ctx, s.now().Add(-within), 500)
	if err != nil {
		return err
	}
	for _, d := range list {
		if err := s.requeue(ctx, r, d); err != nil {
			return err
		}
	}
	return nil
}

// heldGrace is how old a held delivery must be before the sweeper asks
// whether its process lives: the commit that writes it and the attempt
// that follows take milliseconds, but two machines' clocks differ a little.
const heldGrace = 2 * time.Second

// takeOverHeld queues the deliveries leased by a process that is gone
// (Config.Liveness), for a first attempt of its own or a task's attempt,
// without waiting for their lease to lapse. This process's own leases are
// alive by definition.
func (s *Service) takeOverHeld(ctx context.Context, r Requeuer, now time.Time) error {
	lv := s.cfg.Liveness
	if lv == nil {
		return nil
	}
	held, err := s.store.HeldWebhookDeliveries(ctx, now.Add(-heldGrace), now, 500)
	if err != nil {
		return err
	}
	var holders []string
	for _, d := range held {
		if d.LeasedBy != lv.ID() && !slices.Contains(holders, d.LeasedBy) {
			holders = append(holders, d.LeasedBy)
		}
	}
	if len(holders) == 0 {
		return nil
	}
	gone, err := lv.Gone(ctx, holders)
	if err != nil {
		return err
	}
	return s.takeOver(ctx, r, held, gone)
}

// TakeOverFrom queues at once the deliveries leased by the process whose
// liveness id is holder, for a first attempt of its own or a task's
// attempt, which the caller knows to be dead (worker.WatchWorkers, from
// its beats). The sweep would learn it only once the holder's liveness key
// had been missing twice, and only every 15 s; a task's lease alone lasts
// the attempt's timeout and 30 s.
func (s *Service) TakeOverFrom(ctx context.Context, r Requeuer, holder string) error {
	if holder == "" || s.cfg.Liveness != nil && holder == s.cfg.Liveness.ID() {
		return nil
	}
	// Any hold it wrote, the last ones included, whatever the clocks.
	now := s.now()
	held, err := s.store.HeldWebhookDeliveries(ctx, now.Add(heldGrace), now, 500)
	if err != nil {
		return err
	}
	return s.takeOver(ctx, r, held, []string{holder})
}

// takeOver breaks the leases of those held deliveries whose holder is in
// gone and queues their attempts.
func (s *Service) takeOver(ctx context.Context, r Requeuer, held []Delivery, gone []string) error {
	for _, d := range held {
		if !slices.Contains(gone, d.LeasedBy) {
			continue
		}
		broken, err := s.store.BreakWebhookLease(ctx, d.InsurerID, d.ID, d.LeasedUntil)
		if err != nil {
			return err
		}
		if !broken {
			continue // recorded meanwhile
		}
		s.log.WarnContext(ctx, "webhook delivery taken over from a process that is gone", "delivery", d.ID)
		if err := s.requeue(ctx, r, d); err != nil {
			return err
		}
	}
	return nil
}

// requeue queues d's attempt now, through r when there is one.
func (s *Service) requeue(ctx context.Context, r Requeuer, d Delivery) error {
	if r == nil {
		return s.enqueue(ctx, d, 0)
	}
	_, err := r.Requeue(ctx, TaskDeliver, EncodeDeliver(d), DeliverTaskID(d), Queue)
	return err
}
