package pipeline

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/billing"
	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/risk"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/verification"
	"github.com/borderproof/borderproof/internal/webhook"
)

// The ICAO 9303 specimen passport (Doc 9303-4, Appendix A).
var specimen = []string{"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"}

func TestDocumentSignals(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	holder := verification.Policyholder{GivenNames: "Anna Maria", Surname: "Eriksson", DateOfBirth: "1974-08-12",
		Nationality: "UTO", Sex: "F", ResidenceCountry: "SWE"}
	doc := func(number, expiry, issuing string, mrz []string) verification.Document {
		return verification.Document{Type: "PASSPORT", Number: number, IssuingCountry: issuing, ExpiryDate: expiry, MRZ: mrz}
	}
	badDigit := []string{specimen[0], "L898902C37UTO7408122F1204159ZE184226B<<<<<10"}
	tests := []struct {
		name   string
		holder func(*verification.Policyholder)
		docs   []verification.Document
		want   map[risk.SignalCode]string // code → fields detail ("" for none)
	}{
		{"clean typed document", nil, []verification.Document{doc("X1", "2030-01-01", "SWE", nil)}, map[risk.SignalCode]string{}},
		{"expired typed document", nil, []verification.Document{doc("X1", "2026-11-26", "SWE", nil)},
			map[risk.SignalCode]string{risk.SignalDocumentExpired: ""}},
		{"expires today is valid", nil, []verification.Document{doc("X1", "2026-11-27", "SWE", nil)}, map[risk.SignalCode]string{}},
		{"specimen zone matching the typed fields", nil, []verification.Document{doc("L898902C3", "2012-04-15", "UTO", specimen)},
			map[risk.SignalCode]string{risk.SignalDocumentExpired: "", risk.SignalSpecimenDocument: ""}},
		{"typed fields differ from the zone", func(p *verification.Policyholder) { p.Surname, p.DateOfBirth = "Erikson", "1974-08-13" },
			[]verification.Document{doc("L898902C3", "2030-04-15", "UTO", specimen)},
			map[risk.SignalCode]string{risk.SignalMRZFieldMismatch: "birthDate,expiryDate,surname", risk.SignalDocumentExpired: "", risk.SignalSpecimenDocument: ""}},
		{"bad check digit", nil, []verification.Document{doc("L898902C3", "2012-04-15", "UTO", badDigit)},
			map[risk.SignalCode]string{risk.SignalMRZCheckDigitFailed: "composite,documentNumber", risk.SignalDocumentExpired: "", risk.SignalSpecimenDocument: ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := holder
			if tc.holder != nil {
				tc.holder(&h)
			}
			got := DocumentSignals(&verification.PII{Policyholder: h, Documents: tc.docs}, now)
			m := map[risk.SignalCode]string{}
			for _, s := range got {
				if _, dup := m[s.Code]; dup {
					t.Fatalf("%s twice", s.Code)
				}
				m[s.Code] = s.Detail["fields"]
			}
			if len(m) != len(tc.want) {
				t.Fatalf("signals %v, want %v", m, tc.want)
			}
			for code, fields := range tc.want {
				if f, ok := m[code]; !ok || f != fields {
					t.Fatalf("signals %v, want %v", m, tc.want)
				}
			}
		})
	}
}

func TestRetryLater(t *testing.T) {
	p := New(Config{}, Deps{})
	withRA := errs.E(errs.RateLimited, "partner rate limit reached")
	withRA.RetryAfterSeconds = 7
	tests := []struct {
		name     string
		err      error
		attempts int
		left     time.Duration
		want     int
	}{
		{"first failure", errs.E(errs.Unavailable, "down"), 0, time.Hour, 1},
		{"backs off by attempts", errs.E(errs.Unavailable, "down"), 4, time.Hour, 16},
		{"capped at five minutes", errs.E(errs.Unavailable, "down"), 20, time.Hour, 256},
		{"partner's Retry-After wins", withRA, 4, time.Hour, 7},
		{"never far past the deadline", errs.E(errs.Unavailable, "down"), 6, 10 * time.Second, 11},
		{"unclassified error", errors.New("boom"), 1, time.Hour, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := p.retryLater(tc.err, verification.Check{Attempts: tc.attempts}, tc.left)
			e, ok := errs.As(err)
			if !ok || e.RetryAfterSeconds != tc.want {
				t.Fatalf("retry after %v, want %d", e, tc.want)
			}
			if errs.KindOf(err) != errs.KindOf(tc.err) {
				t.Fatalf("kind changed: %v", errs.KindOf(err))
			}
		})
	}
	if withRA.RetryAfterSeconds != 7 {
		t.Fatal("the caller's error was modified")
	}
}

func TestInputDefaultsToTravel(t *testing.T) {
	v := verification.Verification{Checks: []verification.Check{
		{ID: "chk_1", Type: risk.CheckWatchlist, Status: risk.CheckCompleted, Signals: []risk.Signal{{Code: risk.SignalWatchlistWeak, CheckID: "chk_1"}}},
		{ID: "chk_2", Type: risk.CheckDocumentRegistry, Status: risk.CheckAwaitingPartner},
	}}
	in := Input(v)
	if in.Product != risk.ProductTravel || len(in.Checks) != 2 || len(in.Signals) != 1 {
		t.Fatalf("input %+v", in)
	}
	if !slices.ContainsFunc(in.Checks, func(c risk.Check) bool { return c.Status == risk.CheckAwaitingPartner }) {
		t.Fatal("status lost")
	}
}

type countingTenants struct{ calls map[string]int }

func (c *countingTenants) Insurer(_ context.Context, id string) (tenant.Insurer, error) {
	c.calls[id]++
	if id == "ins_missing" {
		return tenant.Insurer{}, errs.E(errs.NotFound, "insurer not found")
	}
	return tenant.Insurer{ID: id, Region: "EEA-" + id}, nil
}

func TestRegionReadOncePerInsurer(t *testing.T) {
	tn := &countingTenants{calls: map[string]int{}}
	p := New(Config{}, Deps{Tenants: tn})
	for range 3 {
		for _, id := range []string{"ins_a", "ins_b"} {
			r, err := p.region(t.Context(), id)
			if err != nil || r != "EEA-"+id {
				t.Fatalf("region(%s) = %q, %v", id, r, err)
			}
		}
	}
	if tn.calls["ins_a"] != 1 || tn.calls["ins_b"] != 1 {
		t.Fatalf("insurer reads %v, want one each", tn.calls)
	}
	// A failed read is not cached.
	for range 2 {
		if _, err := p.region(t.Context(), "ins_missing"); !errs.Is(err, errs.NotFound) {
			t.Fatalf("missing insurer: %v", err)
		}
	}
	if tn.calls["ins_missing"] != 2 {
		t.Fatalf("failed reads %d, want 2", tn.calls["ins_missing"])
	}
}

type recordingQueue struct {
	ids  []string
	fail bool
}

func (q *recordingQueue) Enqueue(_ context.Context, _ string, _ []byte, taskID, _ string, _ time.Duration) error {
	if q.fail {
		return errs.E(errs.Unavailable, "redis down")
	}
	q.ids = append(q.ids, taskID)
	return nil
}

func TestRollUpQueuedOncePerSecond(t *testing.T) {
	q := &recordingQueue{}
	p := New(Config{}, Deps{Queue: q})
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	p.rollUpSoon(t.Context(), t0)
	p.rollUpSoon(t.Context(), t0.Add(300*time.Millisecond))
	p.rollUpSoon(t.Context(), t0.Add(999*time.Millisecond))
	if len(q.ids) != 1 || q.ids[0] != billing.RollUpTaskID(t0) {
		t.Fatalf("roll-ups queued %v, want one for %v", q.ids, t0)
	}
	// A failed enqueue is tried again by the next check of the second.
	q.fail = true
	p.rollUpSoon(t.Context(), t0.Add(time.Second))
	q.fail = false
	p.rollUpSoon(t.Context(), t0.Add(1500*time.Millisecond))
	p.rollUpSoon(t.Context(), t0.Add(2*time.Second))
	want := []string{billing.RollUpTaskID(t0), billing.RollUpTaskID(t0.Add(time.Second)), billing.RollUpTaskID(t0.Add(2 * time.Second))}
	if !slices.Equal(q.ids, want) {
		t.Fatalf("roll-ups queued %v, want %v", q.ids, want)
	}
}

type recordingPublisher struct {
	ids  []string
	fail bool
}

func (r *recordingPublisher) PublishEvent(_ context.Context, ev outbox.Event) error {
	r.ids = append(r.ids, ev.ID)
	if r.fail {
		return errs.E(errs.Unavailable, "database restarting")
	}
	return nil
}

func (r *recordingPublisher) Published(_ context.Context, ev outbox.Event, _ []webhook.Delivery) error {
	r.ids = append(r.ids, ev.ID)
	return nil
}

func (r *recordingPublisher) Hold(ds []webhook.Delivery, _ []webhook.Endpoint, _ time.Time) []webhook.Delivery {
	return ds
}

func (r *recordingPublisher) Unhold([]webhook.Delivery) {}

// Events are published in the task that wrote them when there is a
// Publisher; one it fails to publish is queued as event:publish, as all
// are without one.
func TestPublishInTaskOrQueued(t *testing.T) {
	evs := []outbox.Event{{ID: "evt_1"}, {ID: "evt_2"}}
	q, pub := &recordingQueue{}, &recordingPublisher{}
	New(Config{}, Deps{Queue: q, Publisher: pub}).publish(t.Context(), evs)
	if !slices.Equal(pub.ids, []string{"evt_1", "evt_2"}) || len(q.ids) != 0 {
		t.Fatalf("published %v, queued %v", pub.ids, q.ids)
	}
	q, pub = &recordingQueue{}, &recordingPublisher{fail: true}
	New(Config{}, Deps{Queue: q, Publisher: pub}).publish(t.Context(), evs)
	if !slices.Equal(q.ids, []string{"evt_1", "evt_2"}) {
		t.Fatalf("after failed publications, queued %v", q.ids)
	}
	q = &recordingQueue{}
	New(Config{}, Deps{Queue: q}).publish(t.Context(), evs)
	if !slices.Equal(q.ids, []string{"evt_1", "evt_2"}) {
		t.Fatalf("without a publisher, queued %v", q.ids)
	}
}
