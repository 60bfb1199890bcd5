package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/id"
	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/webhook"
)

var _ webhook.Store = (*Store)(nil)

// Audit action written when the service disables an endpoint by itself.
const whAuditEndpointDisabled = "webhook.endpoint_disabled"

const whEndpointCols = `id, insurer_id, mode, url, description, events, enabled, disabled_reason, disabled_at,
	failing_since, secret_key, secret, previous_secret, previous_until, created_at, updated_at`

func whScanEndpoint(sc interface{ Scan(...any) error }) (webhook.Endpoint, error) {
	var e webhook.Endpoint
	var mode, events, reason string
	var disabledAt, failingSince, prevUntil sql.NullInt64
	var created, updated int64
	err := sc.Scan(&e.ID, &e.InsurerID, &mode, &e.URL, &e.Description, &events, &e.Enabled, &reason, &disabledAt,
		&failingSince, &e.Secrets.WrappedKey, &e.Secrets.Current, &e.Secrets.Previous, &prevUntil, &created, &updated)
	if err != nil {
		return e, err
	}
	e.Mode = tenant.Mode(mode)
	e.Events = strings.Fields(events)
	e.DisabledReason = webhook.DisabledReason(reason)
	e.DisabledAt = fromNullMicros(disabledAt)
	e.FailingSince = fromNullMicros(failingSince)
	e.Secrets.PreviousUntil = fromNullMicros(prevUntil)
	e.CreatedAt = fromMicros(created)
	e.UpdatedAt = fromMicros(updated)
	return e, nil
}

func whNullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func (s *Store) CreateWebhookEndpoint(ctx context.Context, e webhook.Endpoint) error {
	_, err := s.pool().exec(ctx, `INSERT INTO webhook_endpoints (`+whEndpointCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		e.ID, e.InsurerID, string(e.Mode), e.URL, e.Description, strings.Join(e.Events, " "), e.Enabled,
		string(e.DisabledReason), nullMicros(e.DisabledAt), nullMicros(e.FailingSince),
		e.Secrets.WrappedKey, e.Secrets.Current, whNullBytes(e.Secrets.Previous), nullMicros(e.Secrets.PreviousUntil),
		micros(e.CreatedAt), micros(e.UpdatedAt))
	if isUnique(err) {
		return errs.E(errs.Conflict, "webhook endpoint already exists")
	}
	return err
}

func (s *Store) WebhookEndpoint(ctx context.Context, insurerID string, mode tenant.Mode, id string) (webhook.Endpoint, error) {
	e, err := whScanEndpoint(s.pool().row(ctx, `SELECT `+whEndpointCols+` FROM webhook_endpoints
		WHERE insurer_id = $1 AND mode = $2 AND id = $3`, insurerID, string(mode), id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, notFound("webhook endpoint")
	}
	return e, err
}

func (s *Store) UpdateWebhookEndpoint(ctx context.Context, e webhook.Endpoint) error {
	res, err := s.pool().exec(ctx, `UPDATE webhook_endpoints SET url = $4, description = $5, events = $6, enabled = $7,
		disabled_reason = $8, disabled_at = $9, failing_since = $10, secret_key = $11, secret = $12,
		previous_secret = $13, previous_until = $14, updated_at = $15
		WHERE insurer_id = $1 AND mode = $2 AND id = $3`,
		e.InsurerID, string(e.Mode), e.ID, e.URL, e.Description, strings.Join(e.Events, " "), e.Enabled,
		string(e.DisabledReason), nullMicros(e.DisabledAt), nullMicros(e.FailingSince),
		e.Secrets.WrappedKey, e.Secrets.Current, whNullBytes(e.Secrets.Previous), nullMicros(e.Secrets.PreviousUntil),
		micros(e.UpdatedAt))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("webhook endpoint")
	}
	return nil
}

func (s *Store) DeleteWebhookEndpoint(ctx context.Context, insurerID string, mode tenant.Mode, id string) error {
	return s.tx(ctx, func(c conn) error {
		// Explicit deletes, not only ON DELETE CASCADE: a SQLite connection
		// opened without foreign keys enabled would skip the cascade.
		if _, err := c.exec(ctx, `DELETE FROM webhook_attempts WHERE insurer_id = $1 AND delivery_id IN
			(SELECT id FROM webhook_deliveries WHERE insurer_id = $1 AND mode = $2 AND endpoint_id = $3)`,
			insurerID, string(mode), id); err != nil {
			return err
		}
		if _, err := c.exec(ctx, `DELETE FROM webhook_deliveries WHERE insurer_id = $1 AND mode = $2 AND endpoint_id = $3`,
			insurerID, string(mode), id); err != nil {
			return err
		}
		res, err := c.exec(ctx, `DELETE FROM webhook_endpoints WHERE insurer_id = $1 AND mode = $2 AND id = $3`,
			insurerID, string(mode), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("webhook endpoint")
		}
		return nil
	})
}

func (s *Store) WebhookEndpoints(ctx context.Context, insurerID string, mode tenant.Mode, after string, limit int) ([]webhook.Endpoint, error) {
	return s.whEndpoints(ctx, `SELECT `+whEndpointCols+` FROM webhook_endpoints
		WHERE insurer_id = $1 AND mode = $2 AND id > $3 ORDER BY id LIMIT $4`,
		insurerID, string(mode), after, limit)
}

func (s *Store) EnabledWebhookEndpoints(ctx context.Context, insurerID string, mode tenant.Mode) ([]webhook.Endpoint, error) {
	return s.whEndpoints(ctx, `SELECT `+whEndpointCols+` FROM webhook_endpoints
		WHERE insurer_id = $1 AND mode = $2 AND enabled ORDER BY id`, insurerID, string(mode))
}

func (s *Store) whEndpoints(ctx context.Context, query string, args ...any) ([]webhook.Endpoint, error) {
	rows, err := s.pool().query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []webhook.Endpoint
	for rows.Next() {
		e, err := whScanEndpoint(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

const whEventCols = `id, insurer_id, mode, type, subject_id, payload, created_at, published_at`

func whScanEvent(row scanner) (outbox.Event, error) {
	var ev outbox.Event
	var payload string
	var created int64
	var published sql.NullInt64
	err := row.Scan(&ev.ID, &ev.InsurerID, &ev.Mode, &ev.Type, &ev.SubjectID, &payload, &created, &published)
	if isNoRows(err) {
		return ev, notFound("event")
	}
	if err != nil {
		return ev, err
	}
	ev.Payload = json.RawMessage(payload)
	ev.CreatedAt = fromMicros(created)
	ev.PublishedAt = fromNullMicros(published)
	return ev, nil
}

// EventToPublish loads an event by id alone, for the publish task, which
// carries only the id; the caller takes the tenant from the row.
func (s *Store) EventToPublish(ctx context.Context, eventID string) (outbox.Event, error) {
	return whScanEvent(s.pool().row(ctx, `SELECT `+whEventCols+` FROM outbox_events WHERE id = $1`, eventID))
}

func (s *Store) WebhookEvent(ctx context.Context, insurerID, eventID string) (outbox.Event, error) {
	return whScanEvent(s.pool().row(ctx, `SELECT `+whEventCols+` FROM outbox_events WHERE insurer_id = $1 AND id = $2`,
		insurerID, eventID))
}

func (s *Store) MarkOutboxEventPublished(ctx context.Context, insurerID, eventID string, at time.Time) (bool, error) {
	res, err := s.pool().exec(ctx, markPublishedSQL, insurerID, eventID, micros(at))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

const whDeliveryCols = `id, insurer_id, mode, endpoint_id, event_id, event_type, status, attempts, step,
	next_attempt_at, leased_until, last_attempt_at, last_status_code, last_error, flagged, created_at, completed_at, leased_by`

func whScanDelivery(sc interface{ Scan(...any) error }) (webhook.Delivery, error) {
	var d webhook.Delivery
	var mode, status string
	var next, leased, last, completed, code sql.NullInt64
	var created int64
	var leasedBy sql.NullString
	err := sc.Scan(&d.ID, &d.InsurerID, &mode, &d.EndpointID, &d.EventID, &d.EventType, &status, &d.Attempts, &d.Step,
		&next, &leased, &last, &code, &d.LastError, &d.Flagged, &created, &completed, &leasedBy)
	if err != nil {
		return d, err
	}
	d.Mode = tenant.Mode(mode)
	d.Status = webhook.DeliveryStatus(status)
	d.NextAttemptAt = fromNullMicros(next)
	d.LeasedUntil = fromNullMicros(leased)
	d.LeasedBy = leasedBy.String
	d.LastAttemptAt = fromNullMicros(last)
	d.LastStatusCode = int(code.Int64)
	d.CreatedAt = fromMicros(created)
	d.CompletedAt = fromNullMicros(completed)
	return d, nil
}

func whInsertDelivery(ctx context.Context, c conn, d webhook.Delivery) (bool, error) {
	res, err := c.exec(ctx, `INSERT INTO webhook_deliveries (id, insurer_id, mode, endpoint_id, event_id, event_type,
		status, attempts, step, next_attempt_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0, $8, $9)
		ON CONFLICT (event_id, endpoint_id) DO NOTHING`,
		d.ID, d.InsurerID, string(d.Mode), d.EndpointID, d.EventID, d.EventType, string(d.Status),
		nullMicros(d.NextAttemptAt), micros(d.CreatedAt))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// CreateWebhookDeliveries inserts the deliveries of one event that do not
// exist yet, in one statement, and returns the event's deliveries not yet
// attempted. When every one was new, those are the ones just inserted: a
// delivery of the event that another run inserted is that run's to queue.
// Otherwise (a run again after a crash) they are read.
func (s *Store) CreateWebhookDeliveries(ctx context.Context, insurerID, eventID string, ds []webhook.Delivery, at time.Time) ([]webhook.Delivery, bool, error) {
	for _, d := range ds {
		if d.InsurerID != insurerID || d.EventID != eventID {
			return nil, false, errs.E(errs.Internal, "delivery of another event")
		}
	}
	args := deliveryArgs(ds)
	insert := insertDeliveriesSQL + valueRows(len(ds), deliveryWidth) + `
		ON CONFLICT (event_id, endpoint_id) DO NOTHING
		RETURNING ` + whDeliveryCols
	var (
		out   []webhook.Delivery
		first bool
	)
	if s.dialect == Postgres {
		// One round trip, one transaction.
		err := s.retry(ctx, func() error {
			out, first = nil, false
			b := &pgx.Batch{}
			if len(ds) > 0 {
				b.Queue(insert, args...)
			}
			b.Queue(markPublishedSQL, insurerID, eventID, micros(at))
			return s.pipeline(ctx, b, func(br pgx.BatchResults) error {
				if len(ds) > 0 {
					rows, err := br.Query()
					if err != nil {
						return err
					}
					for rows.Next() {
						d, err := whScanDelivery(rows)
						if err != nil {
							rows.Close()
							return err
						}
						out = append(out, d)
					}
					rows.Close()
					if err := rows.Err(); err != nil {
						return err
					}
				}
				tag, err := br.Exec()
				first = err == nil && tag.RowsAffected() == 1
				return err
			})
		})
		if err != nil {
			return nil, false, err
		}
	} else {
		err := s.tx(ctx, func(c conn) error {
			out, first = nil, false
			if len(ds) > 0 {
				var err error
				if out, err = whDeliveries(ctx, c, insert, args...); err != nil {
					return err
				}
			}
			res, err := c.exec(ctx, markPublishedSQL, insurerID, eventID, micros(at))
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			first = n == 1
			return nil
		})
		if err != nil {
			return nil, false, err
		}
	}
	if len(out) == len(ds) {
		slices.SortFunc(out, func(a, b webhook.Delivery) int { return strings.Compare(a.ID, b.ID) })
		return out, first, nil
	}
	// Some existed: the event's deliveries still to attempt, as they are.
	out, err := whDeliveries(ctx, s.pool(), `SELECT `+whDeliveryCols+` FROM webhook_deliveries
		WHERE insurer_id = $1 AND event_id = $2 AND status = $3 AND attempts = 0 ORDER BY id`,
		insurerID, eventID, string(webhook.Pending))
	return out, first, err
}

// insertDeliveriesSQL, followed by rows of deliveryWidth parameters in
// deliveryArgs' order, inserts new deliveries.
const insertDeliveriesSQL = `INSERT INTO webhook_deliveries (id, insurer_id, mode, endpoint_id, event_id, event_type,
		status, next_attempt_at, created_at, leased_until, leased_by) VALUES `

const deliveryWidth = 11

func deliveryArgs(ds []webhook.Delivery) []any {
	args := make([]any, 0, deliveryWidth*len(ds))
	for _, d := range ds {
		args = append(args, d.ID, d.InsurerID, string(d.Mode), d.EndpointID, d.EventID, d.EventType, string(d.Status),
			nullMicros(d.NextAttemptAt), micros(d.CreatedAt), nullMicros(d.LeasedUntil), sql.NullString{String: d.LeasedBy, Valid: d.LeasedBy != ""})
	}
	return args
}

const markPublishedSQL = `UPDATE outbox_events SET published_at = $3
	WHERE insurer_id = $1 AND id = $2 AND published_at IS NULL`

func (s *Store) CreateWebhookTestDelivery(ctx context.Context, ev outbox.Event, d webhook.Delivery) error {
	return s.tx(ctx, func(c conn) error {
		if _, err := c.exec(ctx, `INSERT INTO outbox_events (`+whEventCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			ev.ID, ev.InsurerID, ev.Mode, ev.Type, ev.SubjectID, string(ev.Payload), micros(ev.CreatedAt),
			nullMicros(ev.PublishedAt)); err != nil {
			return err
		}
		_, err := whInsertDelivery(ctx, c, d)
		return err
	})
}

func whDeliveries(ctx context.Context, c conn, query string, args ...any) ([]webhook.Delivery, error) {
	rows, err := c.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []webhook.Delivery
	for rows.Next() {
		d, err := whScanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func whDelivery(ctx context.Context, c conn, insurerID, id string) (webhook.Delivery, error) {
	d, err := whScanDelivery(c.row(ctx, `SELECT `+whDeliveryCols+` FROM webhook_deliveries
		WHERE insurer_id = $1 AND id = $2`, insurerID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, notFound("webhook delivery")
	}
	return d, err
}

func (s *Store) WebhookDelivery(ctx context.Context, insurerID, id string) (webhook.Delivery, error) {
	return whDelivery(ctx, s.pool(), insurerID, id)
}

func (s *Store) WebhookDeliveries(ctx context.Context, f webhook.DeliveryFilter) ([]webhook.Delivery, error) {
	where := []string{"insurer_id = $1", "mode = $2"}
	args := []any{f.InsurerID, string(f.Mode)}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.EndpointID != "" {
		add("endpoint_id = ?", f.EndpointID)
	}
	if f.Status != "" {
		add("status = ?", string(f.Status))
	}
	if f.Before != "" {
		add("id < ?", f.Before)
	}
	args = append(args, f.Limit)
	return whDeliveries(ctx, s.pool(), `SELECT `+whDeliveryCols+` FROM webhook_deliveries WHERE `+
		strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT $`+strconv.Itoa(len(args)), args...)
}

func (s *Store) WebhookAttempts(ctx context.Context, insurerID string, deliveryIDs []string) (map[string][]webhook.Attempt, error) {
	out := make(map[string][]webhook.Attempt, len(deliveryIDs))
	if len(deliveryIDs) == 0 {
		return out, nil
	}
	args := []any{insurerID}
	marks := make([]string, len(deliveryIDs))
	for i, id := range deliveryIDs {
		args = append(args, id)
		marks[i] = "$" + strconv.Itoa(i+2)
	}
	rows, err := s.pool().query(ctx, `SELECT delivery_id, number, attempted_at, status_code, latency_micros, response_body, error
		FROM webhook_attempts WHERE insurer_id = $1 AND delivery_id IN (`+strings.Join(marks, ", ")+`)
		ORDER BY delivery_id, number`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var a webhook.Attempt
		var at, latency int64
		var code sql.NullInt64
		if err := rows.Scan(&a.DeliveryID, &a.Number, &at, &code, &latency, &a.ResponseBody, &a.Error); err != nil {
			return nil, err
		}
		a.AttemptedAt = fromMicros(at)
		a.StatusCode = int(code.Int64)
		a.Latency = time.Duration(latency) * time.Microsecond
		out[a.DeliveryID] = append(out[a.DeliveryID], a)
	}
	return out, rows.Err()
}

func (s *Store) ClaimWebhookDelivery(ctx context.Context, insurerID, id string, now, leaseUntil time.Time, holder string) (webhook.Claim, bool, error) {
	claim := `UPDATE webhook_deliveries SET leased_until = $4, leased_by = $6
		WHERE insurer_id = $1 AND id = $2 AND status = $3 AND next_attempt_at <= $5
		AND (leased_until IS NULL OR leased_until <= $5)
		RETURNING ` + whDeliveryCols
	args := []any{insurerID, id, string(webhook.Pending), micros(leaseUntil), micros(now), nullString(holder)}
	// What the attempt needs, read by the delivery's id: after a claim,
	// the delivery's endpoint (of its mode) and its event.
	endpoint := `SELECT ` + whEndpointCols + ` FROM webhook_endpoints
		WHERE insurer_id = $1 AND (mode, id) = (SELECT mode, endpoint_id FROM webhook_deliveries WHERE insurer_id = $1 AND id = $2)`
	event := `SELECT ` + whEventCols + ` FROM outbox_events
		WHERE insurer_id = $1 AND id = (SELECT event_id FROM webhook_deliveries WHERE insurer_id = $1 AND id = $2)`
	var (
		cl      webhook.Claim
		claimed bool
	)
	read := func(d func() scanner, ep func() scanner, ev func() scanner) error {
		var err error
		cl.Delivery, err = whScanDelivery(d())
		if isNoRows(err) {
			return nil
		}
		if err != nil {
			return err
		}
		claimed = true
		if e, err := whScanEndpoint(ep()); err == nil {
			cl.Endpoint = &e
		} else if !isNoRows(err) {
			return err
		}
		if e, err := whScanEvent(ev()); err == nil {
			cl.Event = &e
		} else if !errs.Is(err, errs.NotFound) {
			return err
		}
		return nil
	}
	if s.dialect == Postgres {
		// One round trip: the claim and both reads, which only a claim uses.
		err := s.retry(ctx, func() error {
			cl, claimed = webhook.Claim{}, false
			b := &pgx.Batch{}
			b.Queue(claim, args...)
			b.Queue(endpoint, insurerID, id)
			b.Queue(event, insurerID, id)
			return s.pipeline(ctx, b, func(br pgx.BatchResults) error {
				return read(func() scanner { return br.QueryRow() }, func() scanner { return br.QueryRow() },
					func() scanner { return br.QueryRow() })
			})
		})
		if err != nil {
			return cl, false, err
		}
	} else {
		c := s.pool()
		err := read(func() scanner { return c.row(ctx, claim, args...) },
			func() scanner { return c.row(ctx, endpoint, insurerID, id) },
			func() scanner { return c.row(ctx, event, insurerID, id) })
		if err != nil {
			return cl, false, err
		}
	}
	if !claimed {
		d, err := whDelivery(ctx, s.pool(), insurerID, id) // why not: done, not due, or leased
		return webhook.Claim{Delivery: d}, false, err
	}
	return cl, true, nil
}

// scanner is a row to scan: *sql.Row or pgx.Row.
type scanner interface{ Scan(...any) error }

// isNoRows reports a row that was not there, from either driver.
func isNoRows(err error) bool {
	return errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows)
}

func (s *Store) ReleaseWebhookDelivery(ctx context.Context, insurerID, id string) error {
	_, err := s.pool().exec(ctx, `UPDATE webhook_deliveries SET leased_until = NULL WHERE insurer_id = $1 AND id = $2`,
		insurerID, id)
	return err
}

func (s *Store) RecordWebhookAttempt(ctx context.Context, r webhook.AttemptResult) error {
	a := r.Attempt
	if s.dialect == Postgres && r.Disable == "" {
		return s.recordAttemptPipelined(ctx, r)
	}
	return s.tx(ctx, func(c conn) error {
		var completed sql.NullInt64
		if r.Status != webhook.Pending {
			completed = nullMicros(a.AttemptedAt)
		}
		res, err := c.exec(ctx, `UPDATE webhook_deliveries SET attempts = $3, step = step + 1, status = $4,
			next_attempt_at = $5, leased_until = NULL, last_attempt_at = $6, last_status_code = $7, last_error = $8,
			flagged = (flagged OR $9), completed_at = $10
			WHERE insurer_id = $1 AND id = $2 AND attempts = $11`,
			r.InsurerID, a.DeliveryID, a.Number, string(r.Status), nullMicros(r.NextAttemptAt), micros(a.AttemptedAt),
			whNullCode(a.StatusCode), a.Error, r.Flag, completed, a.Number-1)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.E(errs.Conflict, "webhook attempt already recorded")
		}
		body := a.ResponseBody
		if body == nil {
			body = []byte{}
		}
		if _, err := c.exec(ctx, `INSERT INTO webhook_attempts (delivery_id, number, insurer_id, attempted_at, status_code,
			latency_micros, response_body, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			a.DeliveryID, a.Number, r.InsurerID, micros(a.AttemptedAt), whNullCode(a.StatusCode),
			a.Latency.Microseconds(), body, a.Error); err != nil {
			return err
		}
		switch {
		case r.Success && r.EndpointFailing:
			_, err = c.exec(ctx, `UPDATE webhook_endpoints SET failing_since = NULL
				WHERE insurer_id = $1 AND id = $2 AND failing_since IS NOT NULL`, r.InsurerID, r.EndpointID)
		case !r.Success && !r.EndpointFailing:
			_, err = c.exec(ctx, `UPDATE webhook_endpoints SET failing_since = $3
				WHERE insurer_id = $1 AND id = $2 AND failing_since IS NULL`, r.InsurerID, r.EndpointID, micros(a.AttemptedAt))
		}
		if err != nil || r.Disable == "" {
			return err
		}
		return whDisable(ctx, c, r.InsurerID, r.EndpointID, r.Disable, a.AttemptedAt)
	})
}

// recordAttemptPipelined is RecordWebhookAttempt on PostgreSQL for an
// attempt that disables nothing: one round trip, one implicit transaction,
// where the transaction took five. The delivery's UPDATE is guarded by its
// attempts; the attempt's row and the endpoint's change are written only
// when the delivery now shows this attempt (EXISTS on what the UPDATE
// wrote), so that an attempt another worker recorded first writes nothing
// here: Conflict.
func (s *Store) recordAttemptPipelined(ctx context.Context, r webhook.AttemptResult) error {
	a := r.Attempt
	var completed sql.NullInt64
	if r.Status != webhook.Pending {
		completed = nullMicros(a.AttemptedAt)
	}
	body := a.ResponseBody
	if body == nil {
		body = []byte{}
	}
	var applied bool
	err := s.retry(ctx, func() error {
		b := &pgx.Batch{}
		b.Queue(`UPDATE webhook_deliveries SET attempts = $3, step = step + 1, status = $4,
			next_attempt_at = $5, leased_until = NULL, last_attempt_at = $6, last_status_code = $7, last_error = $8,
			flagged = (flagged OR $9), completed_at = $10
			WHERE insurer_id = $1 AND id = $2 AND attempts = $11`,
			r.InsurerID, a.DeliveryID, a.Number, string(r.Status), nullMicros(r.NextAttemptAt), micros(a.AttemptedAt),
			whNullCode(a.StatusCode), a.Error, r.Flag, completed, a.Number-1)
		shown := `EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.insurer_id = $3 AND d.id = $1
			AND d.attempts = $2 AND d.last_attempt_at = $4)`
		b.Queue(`INSERT INTO webhook_attempts (delivery_id, number, insurer_id, attempted_at, status_code,
			latency_micros, response_body, error)
			SELECT $1::text, $2::integer, $3::text, $4::bigint, $5::integer, $6::bigint, $7::bytea, $8::text WHERE `+shown,
			a.DeliveryID, a.Number, r.InsurerID, micros(a.AttemptedAt), whNullCode(a.StatusCode),
			a.Latency.Microseconds(), body, a.Error)
		switch {
		case r.Success && r.EndpointFailing:
			b.Queue(`UPDATE webhook_endpoints SET failing_since = NULL
				WHERE insurer_id = $3 AND id = $5 AND failing_since IS NOT NULL AND `+shown,
				a.DeliveryID, a.Number, r.InsurerID, micros(a.AttemptedAt), r.EndpointID)
		case !r.Success && !r.EndpointFailing:
			b.Queue(`UPDATE webhook_endpoints SET failing_since = $4
				WHERE insurer_id = $3 AND id = $5 AND failing_since IS NULL AND `+shown,
				a.DeliveryID, a.Number, r.InsurerID, micros(a.AttemptedAt), r.EndpointID)
		}
		return s.pipeline(ctx, b, func(br pgx.BatchResults) error {
			tag, err := br.Exec()
			applied = err == nil && tag.RowsAffected() == 1
			return err
		})
	})
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == "23505" && pg.TableName == "webhook_attempts" {
		applied, err = false, nil // the same attempt, recorded meanwhile: nothing written here
	}
	if err != nil {
		return err
	}
	if !applied {
		return errs.E(errs.Conflict, "webhook attempt already recorded")
	}
	return nil
}

// whDisable disables an enabled endpoint and writes the audit entry.
func whDisable(ctx context.Context, c conn, insurerID, endpointID string, reason webhook.DisabledReason, at time.Time) error {
	res, err := c.exec(ctx, `UPDATE webhook_endpoints SET enabled = FALSE, disabled_reason = $3, disabled_at = $4, updated_at = $4
		WHERE insurer_id = $1 AND id = $2 AND enabled`, insurerID, endpointID, string(reason), micros(at))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil // already disabled
	}
	detail, _ := json.Marshal(map[string]string{"endpointId": endpointID, "reason": string(reason)})
	_, err = c.exec(ctx, `INSERT INTO audit_log (id, insurer_id, actor, action, purpose, request_id, detail, created_at)
		VALUES ($1, $2, 'system', $3, '', '', $4, $5)`,
		id.NewAt(id.Audit, at), insurerID, whAuditEndpointDisabled, string(detail), micros(at))
	return err
}

func whNullCode(code int) sql.NullInt64 {
	return sql.NullInt64{Int64: int64(code), Valid: code != 0}
}

func (s *Store) AbandonWebhookDelivery(ctx context.Context, insurerID, id, reason string, at time.Time) error {
	_, err := s.pool().exec(ctx, `UPDATE webhook_deliveries SET status = $3, last_error = $4, leased_until = NULL,
		next_attempt_at = NULL, completed_at = $5
		WHERE insurer_id = $1 AND id = $2 AND status = $6`,
		insurerID, id, string(webhook.Failed), reason, micros(at), string(webhook.Pending))
	return err
}

func (s *Store) ReplayWebhookDelivery(ctx context.Context, insurerID string, mode tenant.Mode, id string, now time.Time) (webhook.Delivery, error) {
	var d webhook.Delivery
	err := s.tx(ctx, func(c conn) error {
		res, err := c.exec(ctx, `UPDATE webhook_deliveries SET status = $4, step = 0, next_attempt_at = $5,
			leased_until = NULL, completed_at = NULL
			WHERE insurer_id = $1 AND mode = $2 AND id = $3 AND status <> $4`,
			insurerID, string(mode), id, string(webhook.Pending), micros(now))
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		d, err = whDelivery(ctx, c, insurerID, id)
		switch {
		case err != nil:
			return err
		case d.Mode != mode:
			return notFound("webhook delivery")
		case n == 0:
			return errs.E(errs.FailedPrecondition, "webhook delivery is already pending")
		}
		return nil
	})
	return d, err
}

func (s *Store) ReplayFailedWebhookDeliveries(ctx context.Context, insurerID string, mode tenant.Mode, endpointID string, since, now time.Time, limit int) ([]webhook.Delivery, error) {
	var out []webhook.Delivery
	err := s.tx(ctx, func(c conn) error {
		list, err := whDeliveries(ctx, c, `SELECT `+whDeliveryCols+` FROM webhook_deliveries
			WHERE insurer_id = $1 AND mode = $2 AND endpoint_id = $3 AND status = $4 AND created_at >= $5
			ORDER BY id LIMIT $6`,
			insurerID, string(mode), endpointID, string(webhook.Failed), micros(since), limit)
		if err != nil {
			return err
		}
		for _, d := range list {
			if _, err := c.exec(ctx, `UPDATE webhook_deliveries SET status = $3, step = 0, next_attempt_at = $4,
				leased_until = NULL, completed_at = NULL WHERE insurer_id = $1 AND id = $2`,
				insurerID, d.ID, string(webhook.Pending), micros(now)); err != nil {
				return err
			}
			d.Status, d.Step, d.NextAttemptAt, d.LeasedUntil, d.CompletedAt = webhook.Pending, 0, now, time.Time{}, time.Time{}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// OverdueWebhookDeliveries works across insurers: the sweeper is a system
// task, and each returned row names its insurer.
func (s *Store) OverdueWebhookDeliveries(ctx context.Context, before time.Time, limit int) ([]webhook.Delivery, error) {
	return whDeliveries(ctx, s.pool(), `SELECT `+whDeliveryCols+` FROM webhook_deliveries
		WHERE status = $1 AND next_attempt_at < $2 AND (leased_until IS NULL OR leased_until < $2)
		ORDER BY next_attempt_at LIMIT $3`, string(webhook.Pending), micros(before), limit)
}

func (s *Store) LeasedWebhookDeliveries(ctx context.Context, before, leasedBefore time.Time, limit int) ([]webhook.Delivery, error) {
	return whDeliveries(ctx, s.pool(), `SELECT `+whDeliveryCols+` FROM webhook_deliveries
		WHERE status = $1 AND next_attempt_at < $2 AND leased_until >= $2 AND leased_until < $3
		ORDER BY next_attempt_at LIMIT $4`, string(webhook.Pending), micros(before), micros(leasedBefore), limit)
}

// HeldWebhookDeliveries works across insurers, like the other sweeps.
func (s *Store) HeldWebhookDeliveries(ctx context.Context, heldBefore, now time.Time, limit int) ([]webhook.Delivery, error) {
	return whDeliveries(ctx, s.pool(), `SELECT `+whDeliveryCols+` FROM webhook_deliveries
		WHERE status = $1 AND leased_by IS NOT NULL AND leased_until >= $3 AND created_at < $2
		ORDER BY created_at LIMIT $4`, string(webhook.Pending), micros(heldBefore), micros(now), limit)
}

func (s *Store) BreakWebhookLease(ctx context.Context, insurerID, id string, leasedUntil time.Time) (bool, error) {
	res, err := s.pool().exec(ctx, `UPDATE webhook_deliveries SET leased_until = NULL, leased_by = NULL
		WHERE insurer_id = $1 AND id = $2 AND status = $3 AND leased_until = $4`,
		insurerID, id, string(webhook.Pending), micros(leasedUntil))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// WebhookBacklog counts, across insurers, deliveries still PENDING and how
// many of those are overdue (their next attempt is in the past), for the
// operators' backlog gauge.
func (s *Store) WebhookBacklog(ctx context.Context, now time.Time) (pending, overdue int, err error) {
	err = s.pool().row(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN next_attempt_at < $1 THEN 1 ELSE 0 END), 0)
		FROM webhook_deliveries WHERE status = 'PENDING'`, micros(now)).Scan(&pending, &overdue)
	return pending, overdue, err
}
