package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/id"
	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/store"
	"github.com/borderproof/borderproof/internal/store/storetest"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/webhook"
)

// whFixture holds two insurers and a clock.
type whFixture struct {
	t    *testing.T
	s    *store.Store
	ctx  context.Context
	a, b string
	now  time.Time
}

func newWHFixture(t *testing.T, s *store.Store) *whFixture {
	t.Helper()
	f := &whFixture{t: t, s: s, ctx: context.Background(), now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	for _, ins := range []*string{&f.a, &f.b} {
		*ins = id.New(id.Insurer)
		if err := s.CreateInsurer(f.ctx, tenant.Insurer{ID: *ins, Name: "Insurer", Country: "FRA", Region: "EU",
			Mode: tenant.Live, RetentionDays: 365, CreatedAt: f.now}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *whFixture) endpoint(insurer string, mode tenant.Mode, events ...string) webhook.Endpoint {
	f.t.Helper()
	f.now = f.now.Add(time.Millisecond)
	e := webhook.Endpoint{
		ID: id.NewAt(id.Webhook, f.now), InsurerID: insurer, Mode: mode, URL: "https://hooks.example.com/bp",
		Description: "case system", Events: events, Enabled: true,
		Secrets:   webhook.SealedSecrets{WrappedKey: []byte{1, 2, 3}, Current: []byte{4, 5, 6}},
		CreatedAt: f.now, UpdatedAt: f.now,
	}
	if err := f.s.CreateWebhookEndpoint(f.ctx, e); err != nil {
		f.t.Fatal(err)
	}
	return e
}

// event inserts an unpublished outbox event.
func (f *whFixture) event(insurer string, mode tenant.Mode, typ string) outbox.Event {
	f.t.Helper()
	f.now = f.now.Add(time.Millisecond)
	ev := outbox.Event{ID: id.NewAt(id.Event, f.now), InsurerID: insurer, Mode: string(mode), Type: typ,
		SubjectID: "ver_x", Payload: json.RawMessage(`{"status":"COMPLETED"}`), CreatedAt: f.now}
	q := `INSERT INTO outbox_events (id, insurer_id, mode, type, subject_id, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`
	if f.s.Dialect() == store.SQLite {
		q = strings.ReplaceAll(q, "$", "?")
	}
	if _, err := f.s.DB().ExecContext(f.ctx, q, ev.ID, ev.InsurerID, ev.Mode, ev.Type, ev.SubjectID, string(ev.Payload), ev.CreatedAt.UnixMicro()); err != nil {
		f.t.Fatal(err)
	}
	return ev
}

func (f *whFixture) delivery(ev outbox.Event, e webhook.Endpoint) webhook.Delivery {
	f.now = f.now.Add(time.Millisecond)
	return webhook.Delivery{ID: id.NewAt(id.Delivery, f.now), InsurerID: ev.InsurerID, Mode: e.Mode, EndpointID: e.ID,
		EventID: ev.ID, EventType: ev.Type, Status: webhook.Pending, NextAttemptAt: f.now, CreatedAt: f.now}
}

func mustNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errs.Is(err, errs.NotFound) {
		t.Fatalf("%s: want NOT_FOUND, got %v", what, err)
	}
}

// TestWebhookStoreContract is the webhook.Store contract, on every backend.
func TestWebhookStoreContract(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		f := newWHFixture(t, s)
		ctx := f.ctx

		// Endpoints: round trip, tenancy and mode isolation.
		e1 := f.endpoint(f.a, tenant.Live, outbox.VerificationCompleted, outbox.VerificationFailed)
		e2 := f.endpoint(f.a, tenant.Live, outbox.VerificationFailed)
		eTest := f.endpoint(f.a, tenant.Test, outbox.VerificationCompleted)
		eB := f.endpoint(f.b, tenant.Live, outbox.VerificationCompleted)
		got, err := s.WebhookEndpoint(ctx, f.a, tenant.Live, e1.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.URL != e1.URL || got.Description != e1.Description || !slices.Equal(got.Events, e1.Events) || !got.Enabled ||
			!bytes.Equal(got.Secrets.WrappedKey, e1.Secrets.WrappedKey) || !bytes.Equal(got.Secrets.Current, e1.Secrets.Current) ||
			got.Secrets.Previous != nil || !got.CreatedAt.Equal(e1.CreatedAt) || !got.FailingSince.IsZero() {
			t.Fatalf("endpoint round trip: %+v", got)
		}
		_, err = s.WebhookEndpoint(ctx, f.b, tenant.Live, e1.ID)
		mustNotFound(t, "foreign endpoint", err)
		_, err = s.WebhookEndpoint(ctx, f.a, tenant.Test, e1.ID)
		mustNotFound(t, "other-mode endpoint", err)

		page, err := s.WebhookEndpoints(ctx, f.a, tenant.Live, "", 1)
		if err != nil || len(page) != 1 || page[0].ID != e1.ID {
			t.Fatalf("first page: %v %v", page, err)
		}
		page, _ = s.WebhookEndpoints(ctx, f.a, tenant.Live, e1.ID, 10)
		if len(page) != 1 || page[0].ID != e2.ID {
			t.Fatalf("second page: %+v", page)
		}
		if l, _ := s.WebhookEndpoints(ctx, f.a, tenant.Test, "", 10); len(l) != 1 || l[0].ID != eTest.ID {
			t.Fatalf("test-mode list: %+v", l)
		}

		// Update: fields, rotation, foreign update refused.
		upd := got
		upd.URL, upd.Description, upd.Events = "https://hooks.example.com/v2", "", []string{outbox.VerificationReviewed}
		upd.Secrets.Previous, upd.Secrets.PreviousUntil = []byte{7}, f.now.Add(24*time.Hour)
		upd.Enabled, upd.DisabledReason, upd.DisabledAt = false, webhook.DisabledManually, f.now
		if err := s.UpdateWebhookEndpoint(ctx, upd); err != nil {
			t.Fatal(err)
		}
		got, _ = s.WebhookEndpoint(ctx, f.a, tenant.Live, e1.ID)
		if got.URL != upd.URL || got.Description != "" || got.Enabled || got.DisabledReason != webhook.DisabledManually ||
			!bytes.Equal(got.Secrets.Previous, []byte{7}) || !got.Secrets.PreviousUntil.Equal(upd.Secrets.PreviousUntil) {
			t.Fatalf("after update: %+v", got)
		}
		foreign := upd
		foreign.InsurerID = f.b
		mustNotFound(t, "foreign update", s.UpdateWebhookEndpoint(ctx, foreign))
		enabled, err := s.EnabledWebhookEndpoints(ctx, f.a, tenant.Live)
		if err != nil || len(enabled) != 1 || enabled[0].ID != e2.ID {
			t.Fatalf("enabled endpoints: %+v %v", enabled, err)
		}
		got.Enabled, got.DisabledReason, got.DisabledAt = true, "", time.Time{}
		if err := s.UpdateWebhookEndpoint(ctx, got); err != nil {
			t.Fatal(err)
		}

		// Events: loaded by id for publishing, by tenant otherwise.
		ev := f.event(f.a, tenant.Live, outbox.VerificationFailed)
		if got, err := s.EventToPublish(ctx, ev.ID); err != nil || got.InsurerID != f.a || got.Type != ev.Type || string(got.Payload) != string(ev.Payload) || !got.PublishedAt.IsZero() {
			t.Fatalf("event to publish: %+v %v", got, err)
		}
		_, err = s.WebhookEvent(ctx, f.b, ev.ID)
		mustNotFound(t, "foreign event", err)

		// Deliveries: unique per (event, endpoint).
		// Written with the event's publication, which only the first
		// call makes.
		d1, d2 := f.delivery(ev, e1), f.delivery(ev, e2)
		pending, first, err := s.CreateWebhookDeliveries(ctx, f.a, ev.ID, []webhook.Delivery{d1, d2}, f.now)
		if err != nil || len(pending) != 2 || !first {
			t.Fatalf("create deliveries: %d %v %v", len(pending), first, err)
		}
		publishedAt := f.now
		if got, _ := s.EventToPublish(ctx, ev.ID); !got.PublishedAt.Equal(publishedAt) {
			t.Fatalf("published at %v, want %v", got.PublishedAt, publishedAt)
		}
		for _, p := range pending {
			if read, err := s.WebhookDelivery(ctx, f.a, p.ID); err != nil || !reflect.DeepEqual(read, p) {
				t.Fatalf("created delivery\n returned %+v\n read     %+v %v", p, read, err)
			}
		}
		again, first, err := s.CreateWebhookDeliveries(ctx, f.a, ev.ID, []webhook.Delivery{f.delivery(ev, e1), f.delivery(ev, e2)}, f.now.Add(time.Second))
		if err != nil || len(again) != 2 || again[0].ID != d1.ID || again[1].ID != d2.ID || first {
			t.Fatalf("second fan-out must create nothing new nor publish again: %+v %v %v", again, first, err)
		}
		if got, _ := s.EventToPublish(ctx, ev.ID); !got.PublishedAt.Equal(publishedAt) {
			t.Fatalf("published again: %v", got.PublishedAt)
		}
		if first, _ := s.MarkOutboxEventPublished(ctx, f.a, ev.ID, f.now); first {
			t.Fatal("marked published twice")
		}
		// An event no endpoint takes is published all the same.
		lone := f.event(f.a, tenant.Live, outbox.VerificationFailed)
		if none, first, err := s.CreateWebhookDeliveries(ctx, f.a, lone.ID, nil, f.now); err != nil || len(none) != 0 || !first {
			t.Fatalf("event without deliveries: %+v %v %v", none, first, err)
		}
		// A delivery of another event is refused, and nothing is written.
		other := f.event(f.a, tenant.Live, outbox.VerificationFailed)
		if _, _, err := s.CreateWebhookDeliveries(ctx, f.a, other.ID, []webhook.Delivery{f.delivery(ev, e1)}, f.now); !errs.Is(err, errs.Internal) {
			t.Fatalf("delivery of another event: %v", err)
		}
		if got, _ := s.EventToPublish(ctx, other.ID); !got.PublishedAt.IsZero() {
			t.Fatal("refused fan-out published its event")
		}
		_, err = s.WebhookDelivery(ctx, f.b, d1.ID)
		mustNotFound(t, "foreign delivery", err)

		// Claims: due, leased, lease expiry.
		if _, ok, err := s.ClaimWebhookDelivery(ctx, f.a, d1.ID, d1.NextAttemptAt.Add(-time.Second), f.now.Add(time.Minute), ""); err != nil || ok {
			t.Fatalf("claimed before due: %v %v", ok, err)
		}
		claimAt := f.now
		cd, ok, err := s.ClaimWebhookDelivery(ctx, f.a, d1.ID, claimAt, claimAt.Add(time.Minute), "proc-a")
		if err != nil || !ok || !cd.LeasedUntil.Equal(claimAt.Add(time.Minute)) || cd.LeasedBy != "proc-a" {
			t.Fatalf("claim: %v %v %+v", ok, err, cd)
		}
		// The lease names its process: should it die, the delivery is
		// among those whose holder is asked after.
		if held, err := s.HeldWebhookDeliveries(ctx, claimAt.Add(time.Hour), claimAt, 10); err != nil ||
			!slices.ContainsFunc(held, func(d webhook.Delivery) bool { return d.ID == d1.ID && d.LeasedBy == "proc-a" }) {
			t.Fatalf("held deliveries %+v %v, want %s held by proc-a", held, err, d1.ID)
		}
		// A claim carries what the attempt needs, as read on their own.
		wantEP, _ := s.WebhookEndpoint(ctx, f.a, tenant.Live, e1.ID)
		wantEv, _ := s.WebhookEvent(ctx, f.a, ev.ID)
		if cd.Endpoint == nil || !reflect.DeepEqual(*cd.Endpoint, wantEP) || cd.Event == nil || !reflect.DeepEqual(*cd.Event, wantEv) {
			t.Fatalf("claim's endpoint and event\n got  %+v %+v\n want %+v %+v", cd.Endpoint, cd.Event, wantEP, wantEv)
		}
		if read, _ := s.WebhookDelivery(ctx, f.a, d1.ID); !reflect.DeepEqual(read, cd.Delivery) {
			t.Fatalf("claimed delivery\n returned %+v\n read     %+v", cd.Delivery, read)
		}
		if cl, ok, _ := s.ClaimWebhookDelivery(ctx, f.a, d1.ID, claimAt.Add(time.Second), claimAt.Add(time.Hour), "proc-b"); ok ||
			cl.Endpoint != nil || cl.Event != nil || cl.ID != d1.ID || !cl.LeasedUntil.Equal(claimAt.Add(time.Minute)) {
			t.Fatalf("claimed a leased delivery, or no delivery as it stands: %v %+v", ok, cl)
		}
		if _, ok, _ := s.ClaimWebhookDelivery(ctx, f.b, d1.ID, claimAt.Add(2*time.Minute), claimAt.Add(time.Hour), ""); ok {
			t.Fatal("foreign insurer claimed a delivery")
		}
		if cl, ok, _ := s.ClaimWebhookDelivery(ctx, f.a, d1.ID, claimAt.Add(2*time.Minute), claimAt.Add(3*time.Minute), ""); !ok || cl.LeasedBy != "" {
			t.Fatalf("expired lease not reclaimed, or still naming its old holder: %v %+v", ok, cl)
		}

		// Attempts: a failure keeps it pending, flags it and marks the
		// endpoint failing; a repeated attempt number is a conflict.
		t1 := claimAt.Add(2 * time.Minute)
		fail := webhook.AttemptResult{InsurerID: f.a, EndpointID: e1.ID, Status: webhook.Pending, NextAttemptAt: t1.Add(5 * time.Second), Flag: true,
			Attempt: webhook.Attempt{DeliveryID: d1.ID, Number: 1, AttemptedAt: t1, StatusCode: 400, Latency: 1500 * time.Microsecond,
				ResponseBody: []byte("bad \x00 request"), Error: "endpoint answered HTTP 400"}}
		if err := s.RecordWebhookAttempt(ctx, fail); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordWebhookAttempt(ctx, fail); !errs.Is(err, errs.Conflict) {
			t.Fatalf("recording attempt 1 twice: %v", err)
		}
		d, _ := s.WebhookDelivery(ctx, f.a, d1.ID)
		if d.Status != webhook.Pending || d.Attempts != 1 || d.Step != 1 || !d.Flagged || d.LastStatusCode != 400 ||
			!d.NextAttemptAt.Equal(fail.NextAttemptAt) || !d.LeasedUntil.IsZero() || !d.LastAttemptAt.Equal(t1) {
			t.Fatalf("after failed attempt: %+v", d)
		}
		if ep, _ := s.WebhookEndpoint(ctx, f.a, tenant.Live, e1.ID); !ep.FailingSince.Equal(t1) {
			t.Fatalf("failing since: %v", ep.FailingSince)
		}
		t2 := t1.Add(5 * time.Second)
		ok2 := webhook.AttemptResult{InsurerID: f.a, EndpointID: e1.ID, Status: webhook.Succeeded, Success: true, EndpointFailing: true,
			Attempt: webhook.Attempt{DeliveryID: d1.ID, Number: 2, AttemptedAt: t2, StatusCode: 204, Latency: time.Millisecond}}
		if err := s.RecordWebhookAttempt(ctx, ok2); err != nil {
			t.Fatal(err)
		}
		d, _ = s.WebhookDelivery(ctx, f.a, d1.ID)
		if d.Status != webhook.Succeeded || d.Attempts != 2 || !d.Flagged || !d.CompletedAt.Equal(t2) || d.LastError != "" {
			t.Fatalf("after success: %+v", d)
		}
		if ep, _ := s.WebhookEndpoint(ctx, f.a, tenant.Live, e1.ID); !ep.FailingSince.IsZero() {
			t.Fatalf("success must clear failing since: %v", ep.FailingSince)
		}
		// An attempt out of turn writes nothing: not its row, not the
		// endpoint's state.
		late := webhook.AttemptResult{InsurerID: f.a, EndpointID: e1.ID, Status: webhook.Pending, NextAttemptAt: t2.Add(time.Minute),
			Attempt: webhook.Attempt{DeliveryID: d1.ID, Number: 5, AttemptedAt: t2.Add(time.Second), StatusCode: 500}}
		if err := s.RecordWebhookAttempt(ctx, late); !errs.Is(err, errs.Conflict) {
			t.Fatalf("attempt out of turn: %v", err)
		}
		if ep, _ := s.WebhookEndpoint(ctx, f.a, tenant.Live, e1.ID); !ep.FailingSince.IsZero() {
			t.Fatalf("attempt out of turn marked the endpoint failing: %v", ep.FailingSince)
		}
		atts, err := s.WebhookAttempts(ctx, f.a, []string{d1.ID, d2.ID})
		if err != nil || len(atts[d1.ID]) != 2 || len(atts[d2.ID]) != 0 {
			t.Fatalf("attempts: %+v %v", atts, err)
		}
		if a := atts[d1.ID][0]; a.Number != 1 || a.StatusCode != 400 || string(a.ResponseBody) != "bad \x00 request" ||
			a.Latency != 1500*time.Microsecond || !a.AttemptedAt.Equal(t1) || a.Error == "" {
			t.Fatalf("attempt 1: %+v", a)
		}
		if a := atts[d1.ID][1]; a.Number != 2 || a.StatusCode != 204 || len(a.ResponseBody) != 0 {
			t.Fatalf("attempt 2: %+v", a)
		}
		if other, _ := s.WebhookAttempts(ctx, f.b, []string{d1.ID}); len(other[d1.ID]) != 0 {
			t.Fatal("foreign insurer read attempts")
		}

		// Disabling through an attempt writes one audit entry.
		gone := webhook.AttemptResult{InsurerID: f.a, EndpointID: e2.ID, Status: webhook.Failed, Disable: webhook.DisabledGone,
			Attempt: webhook.Attempt{DeliveryID: d2.ID, Number: 1, AttemptedAt: t2, StatusCode: 410, Error: "endpoint answered HTTP 410"}}
		if err := s.RecordWebhookAttempt(ctx, gone); err != nil {
			t.Fatal(err)
		}
		ep2, _ := s.WebhookEndpoint(ctx, f.a, tenant.Live, e2.ID)
		if ep2.Enabled || ep2.DisabledReason != webhook.DisabledGone || !ep2.DisabledAt.Equal(t2) {
			t.Fatalf("410 must disable: %+v", ep2)
		}
		if n := countAudit(t, s, f.a, "webhook.endpoint_disabled"); n != 1 {
			t.Fatalf("audit entries: %d", n)
		}

		// Lists: newest first, filters, cursor, tenancy.
		ev2 := f.event(f.a, tenant.Live, outbox.VerificationCompleted)
		d3 := f.delivery(ev2, e1)
		if _, _, err := s.CreateWebhookDeliveries(ctx, f.a, ev2.ID, []webhook.Delivery{d3}, f.now); err != nil {
			t.Fatal(err)
		}
		evT := f.event(f.a, tenant.Test, outbox.VerificationCompleted)
		if _, _, err := s.CreateWebhookDeliveries(ctx, f.a, evT.ID, []webhook.Delivery{f.delivery(evT, eTest)}, f.now); err != nil {
			t.Fatal(err)
		}
		list, err := s.WebhookDeliveries(ctx, webhook.DeliveryFilter{InsurerID: f.a, Mode: tenant.Live, Limit: 10})
		if err != nil || len(list) != 3 || list[0].ID != d3.ID || list[2].ID != d1.ID {
			t.Fatalf("delivery list: %+v %v", list, err)
		}
		list, _ = s.WebhookDeliveries(ctx, webhook.DeliveryFilter{InsurerID: f.a, Mode: tenant.Live, EndpointID: e1.ID, Status: webhook.Succeeded, Limit: 10})
		if len(list) != 1 || list[0].ID != d1.ID {
			t.Fatalf("filtered list: %+v", list)
		}
		list, _ = s.WebhookDeliveries(ctx, webhook.DeliveryFilter{InsurerID: f.a, Mode: tenant.Live, Before: d3.ID, Limit: 1})
		if len(list) != 1 || list[0].ID != d2.ID {
			t.Fatalf("page after cursor: %+v", list)
		}
		if l, _ := s.WebhookDeliveries(ctx, webhook.DeliveryFilter{InsurerID: f.b, Mode: tenant.Live, Limit: 10}); len(l) != 0 {
			t.Fatalf("foreign deliveries listed: %+v", l)
		}

		// Overdue, abandon, replay.
		over, err := s.OverdueWebhookDeliveries(ctx, f.now.Add(time.Hour), 10)
		if err != nil || len(over) != 2 { // d3 and the TEST one; d1 succeeded, d2 failed
			t.Fatalf("overdue: %+v %v", over, err)
		}
		// A leased one is listed apart, and its lease broken only as seen.
		lease := f.now.Add(2 * time.Hour)
		if _, claimed, err := s.ClaimWebhookDelivery(ctx, f.a, d3.ID, f.now.Add(time.Hour), lease, ""); err != nil || !claimed {
			t.Fatalf("claim: %v %v", claimed, err)
		}
		if over, _ := s.OverdueWebhookDeliveries(ctx, f.now.Add(time.Hour), 10); len(over) != 1 {
			t.Fatalf("overdue with one leased: %+v", over)
		}
		if l, _ := s.LeasedWebhookDeliveries(ctx, f.now.Add(time.Hour), lease, 10); len(l) != 0 {
			t.Fatalf("a lease ending after leasedBefore listed: %+v", l)
		}
		leased, err := s.LeasedWebhookDeliveries(ctx, f.now.Add(time.Hour), lease.Add(time.Second), 10)
		if err != nil || len(leased) != 1 || leased[0].ID != d3.ID || !leased[0].LeasedUntil.Equal(lease) {
			t.Fatalf("leased: %+v %v", leased, err)
		}
		if ok, err := s.BreakWebhookLease(ctx, f.a, d3.ID, lease.Add(time.Second)); err != nil || ok {
			t.Fatalf("broke a lease it did not see: %v %v", ok, err)
		}
		if ok, err := s.BreakWebhookLease(ctx, f.b, d3.ID, lease); err != nil || ok {
			t.Fatalf("broke another insurer's lease: %v %v", ok, err)
		}
		if ok, err := s.BreakWebhookLease(ctx, f.a, d3.ID, lease); err != nil || !ok {
			t.Fatalf("break: %v %v", ok, err)
		}
		if over, _ := s.OverdueWebhookDeliveries(ctx, f.now.Add(time.Hour), 10); len(over) != 2 {
			t.Fatalf("overdue after the break: %+v", over)
		}
		if err := s.AbandonWebhookDelivery(ctx, f.a, d3.ID, "webhook endpoint is disabled", f.now); err != nil {
			t.Fatal(err)
		}
		if d, _ := s.WebhookDelivery(ctx, f.a, d3.ID); d.Status != webhook.Failed || d.LastError == "" || d.Attempts != 0 {
			t.Fatalf("abandoned: %+v", d)
		}
		rep, err := s.ReplayWebhookDelivery(ctx, f.a, tenant.Live, d1.ID, f.now)
		if err != nil || rep.Status != webhook.Pending || rep.Step != 0 || rep.Attempts != 2 || !rep.CompletedAt.IsZero() || !rep.NextAttemptAt.Equal(f.now) {
			t.Fatalf("replay: %+v %v", rep, err)
		}
		if _, err := s.ReplayWebhookDelivery(ctx, f.a, tenant.Live, d1.ID, f.now); !errs.Is(err, errs.FailedPrecondition) {
			t.Fatalf("replaying a pending delivery: %v", err)
		}
		_, err = s.ReplayWebhookDelivery(ctx, f.b, tenant.Live, d2.ID, f.now)
		mustNotFound(t, "foreign replay", err)
		_, err = s.ReplayWebhookDelivery(ctx, f.a, tenant.Test, d2.ID, f.now)
		mustNotFound(t, "other-mode replay", err)
		if d, _ := s.WebhookDelivery(ctx, f.a, d2.ID); d.Status != webhook.Failed {
			t.Fatalf("other-mode replay changed the row: %+v", d)
		}
		many, err := s.ReplayFailedWebhookDeliveries(ctx, f.a, tenant.Live, e1.ID, d3.CreatedAt, f.now, 10)
		if err != nil || len(many) != 1 || many[0].ID != d3.ID || many[0].Status != webhook.Pending {
			t.Fatalf("bulk replay: %+v %v", many, err)
		}
		if many, _ := s.ReplayFailedWebhookDeliveries(ctx, f.a, tenant.Live, e2.ID, d3.CreatedAt, f.now, 10); len(many) != 0 {
			t.Fatalf("bulk replay ignored since: %+v", many)
		}

		// A test message: its event and delivery in one transaction.
		tev := outbox.Event{ID: id.NewAt(id.Event, f.now), InsurerID: f.a, Mode: string(tenant.Live), Type: outbox.WebhookTest,
			SubjectID: e1.ID, Payload: json.RawMessage(`{}`), CreatedAt: f.now, PublishedAt: f.now}
		td := f.delivery(tev, e1)
		if err := s.CreateWebhookTestDelivery(ctx, tev, td); err != nil {
			t.Fatal(err)
		}
		if ev, err := s.WebhookEvent(ctx, f.a, tev.ID); err != nil || ev.PublishedAt.IsZero() {
			t.Fatalf("test event: %+v %v", ev, err)
		}

		// A delivery written held for a first attempt names its process,
		// and is listed as held while its lease runs; breaking the lease
		// takes the name off, as a task's claim does.
		evH := f.event(f.b, tenant.Live, outbox.VerificationCompleted)
		dh := f.delivery(evH, eB)
		dh.LeasedUntil, dh.LeasedBy = f.now.Add(time.Minute), "proc-1"
		if _, _, err := s.CreateWebhookDeliveries(ctx, f.b, evH.ID, []webhook.Delivery{dh}, f.now); err != nil {
			t.Fatal(err)
		}
		if l, _ := s.HeldWebhookDeliveries(ctx, dh.CreatedAt, f.now, 10); len(l) != 0 {
			t.Fatalf("a hold not older than heldBefore listed: %+v", l)
		}
		if l, _ := s.HeldWebhookDeliveries(ctx, dh.CreatedAt.Add(time.Second), dh.LeasedUntil.Add(time.Second), 10); len(l) != 0 {
			t.Fatalf("a lapsed hold listed as held: %+v", l)
		}
		held, err := s.HeldWebhookDeliveries(ctx, dh.CreatedAt.Add(time.Second), f.now, 10)
		if err != nil || len(held) != 1 || held[0].ID != dh.ID || held[0].LeasedBy != "proc-1" || !held[0].LeasedUntil.Equal(dh.LeasedUntil) {
			t.Fatalf("held: %+v %v", held, err)
		}
		if ok, err := s.BreakWebhookLease(ctx, f.b, dh.ID, dh.LeasedUntil); err != nil || !ok {
			t.Fatalf("break a hold: %v %v", ok, err)
		}
		if d, _ := s.WebhookDelivery(ctx, f.b, dh.ID); d.LeasedBy != "" || !d.LeasedUntil.IsZero() {
			t.Fatalf("broken hold still names its process: %+v", d)
		}
		if l, _ := s.HeldWebhookDeliveries(ctx, dh.CreatedAt.Add(time.Second), f.now, 10); len(l) != 0 {
			t.Fatalf("a broken hold listed: %+v", l)
		}
		// A hold whose lease lapsed, claimed by a task: the task's lease
		// names no process.
		evL := f.event(f.b, tenant.Live, outbox.VerificationCompleted)
		dl := f.delivery(evL, eB)
		dl.LeasedUntil, dl.LeasedBy = f.now, "proc-1"
		if _, _, err := s.CreateWebhookDeliveries(ctx, f.b, evL.ID, []webhook.Delivery{dl}, f.now); err != nil {
			t.Fatal(err)
		}
		cl, claimed, err := s.ClaimWebhookDelivery(ctx, f.b, dl.ID, f.now.Add(time.Second), f.now.Add(time.Minute), "")
		if err != nil || !claimed || cl.Delivery.LeasedBy != "" {
			t.Fatalf("claim of a lapsed hold: %v %v %+v", claimed, err, cl.Delivery)
		}
		if l, _ := s.HeldWebhookDeliveries(ctx, f.now.Add(time.Second), f.now, 10); len(l) != 0 {
			t.Fatalf("a task's lease listed as a hold: %+v", l)
		}

		// Delete: tenancy, then the endpoint goes with its history.
		mustNotFound(t, "foreign delete", s.DeleteWebhookEndpoint(ctx, f.b, tenant.Live, e1.ID))
		mustNotFound(t, "other-mode delete", s.DeleteWebhookEndpoint(ctx, f.a, tenant.Test, e1.ID))
		if err := s.DeleteWebhookEndpoint(ctx, f.a, tenant.Live, e1.ID); err != nil {
			t.Fatal(err)
		}
		_, err = s.WebhookDelivery(ctx, f.a, d1.ID)
		mustNotFound(t, "delivery of a deleted endpoint", err)
		if atts, _ := s.WebhookAttempts(ctx, f.a, []string{d1.ID}); len(atts[d1.ID]) != 0 {
			t.Fatal("attempts survived their endpoint")
		}
		if _, err := s.WebhookEndpoint(ctx, f.b, tenant.Live, eB.ID); err != nil {
			t.Fatalf("other insurer's endpoint: %v", err)
		}
	})
}

func countAudit(t *testing.T, s *store.Store, insurerID, action string) int {
	t.Helper()
	q := `SELECT COUNT(*) FROM audit_log WHERE insurer_id = $1 AND action = $2 AND actor = 'system'`
	if s.Dialect() == store.SQLite {
		q = strings.ReplaceAll(q, "$", "?")
	}
	var n int
	if err := s.DB().QueryRowContext(context.Background(), q, insurerID, action).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
