package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/borderproof/borderproof/internal/audit"
	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/risk"
	"github.com/borderproof/borderproof/internal/verification"
)

var (
	_ verification.Store = (*Store)(nil)
	_ audit.Store        = (*Store)(nil)
)

func (s *Store) CreateVerification(ctx context.Context, nv verification.NewVerification) (verification.Verification, bool, error) {
	v := nv.Verification
	stmts := createStatements(nv)
	var created bool
	var err error
	if s.dialect == Postgres {
		created, err = s.createPipelined(ctx, stmts)
	} else {
		err = s.tx(ctx, func(c conn) error {
			res, err := c.exec(ctx, stmts[0].sql+` ON CONFLICT DO NOTHING`, stmts[0].args...)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				created = false // a retried transaction starts again
				return nil      // the idempotency key is taken
			}
			created = true
			for _, st := range stmts[1:] {
				if _, err := c.exec(ctx, st.sql, st.args...); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return verification.Verification{}, false, err
	}
	if !created {
		prev, err := s.VerificationByIdempotencyKey(ctx, v.InsurerID, v.Mode, v.IdempotencyKey)
		return prev, false, err
	}
	return asStored(v), true, nil
}

// statement is one statement of a write sent as a whole.
type statement struct {
	sql  string
	args []any
}

// createStatements are the inserts of a new verification: the
// verification itself first, then its checks, consent and blind index.
func createStatements(nv verification.NewVerification) []statement {
	v := nv.Verification
	meta := string(v.Metadata)
	if meta == "" {
		meta = "{}"
	}
	out := []statement{{`INSERT INTO verifications (id, insurer_id, mode, status, external_reference, idempotency_key,
		request_hash, api_key_id, product, coverage_country, policy_start, policy_end, wrapped_key, sealed_pii,
		metadata, deadline_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
		[]any{v.ID, v.InsurerID, v.Mode, string(v.Status), nullString(v.ExternalReference), nullString(v.IdempotencyKey),
			v.RequestHash, v.APIKeyID, v.Product, v.CoverageCountry, v.PolicyStart, v.PolicyEnd, nv.WrappedKey, nv.SealedPII,
			meta, micros(v.DeadlineAt), micros(v.CreatedAt), micros(v.UpdatedAt)}}}
	if len(v.Checks) > 0 {
		args := make([]any, 0, 7*len(v.Checks))
		for _, ch := range v.Checks {
			args = append(args, ch.ID, v.ID, v.InsurerID, string(ch.Type), string(ch.Status), micros(ch.CreatedAt), micros(ch.UpdatedAt))
		}
		out = append(out, statement{`INSERT INTO checks (id, verification_id, insurer_id, type, status, created_at, updated_at)
			VALUES ` + valueRows(len(v.Checks), 7), args})
	}
	cs := v.Consent
	out = append(out, statement{`INSERT INTO consents (id, insurer_id, verification_id, reference, obtained_at, lawful_basis, purposes, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		[]any{cs.ID, v.InsurerID, v.ID, cs.Reference, micros(cs.ObtainedAt), cs.LawfulBasis, strings.Join(cs.Purposes, " "), micros(v.CreatedAt)}})
	if len(nv.BlindIndex) > 0 {
		args := make([]any, 0, 5*len(nv.BlindIndex))
		for _, b := range nv.BlindIndex {
			args = append(args, v.InsurerID, b.Kind, b.Digest, v.ID, micros(v.CreatedAt))
		}
		out = append(out, statement{`INSERT INTO blind_index (insurer_id, kind, digest, verification_id, created_at)
			VALUES ` + valueRows(len(nv.BlindIndex), 5) + ` ON CONFLICT DO NOTHING`, args})
	}
	return out
}

// createPipelined sends a new verification's inserts to PostgreSQL in one
// round trip, as one implicit transaction (a pipeline ending in one Sync):
// it was six round trips with the transaction's begin and commit. A
// verification whose idempotency key is taken fails its first insert,
// which rolls back the whole: created is false, and nothing is written.
func (s *Store) createPipelined(ctx context.Context, stmts []statement) (created bool, err error) {
	err = s.retry(ctx, func() error {
		b := &pgx.Batch{}
		for _, st := range stmts {
			b.Queue(st.sql, st.args...)
		}
		return s.pipeline(ctx, b, nil)
	})
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == "23505" && pg.TableName == "verifications" {
		return false, nil
	}
	return err == nil, err
}

// pipeline runs a batch on one connection of the pool (PostgreSQL only),
// as one implicit transaction unless it says otherwise; read, when not
// nil, reads the first results before the rest are drained.
func (s *Store) pipeline(ctx context.Context, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	return s.pipelineTx(ctx, func(conn *pgx.Conn) error { return sendBatch(ctx, conn, b, read) })
}

// asStored is a new verification as reading it back returns it: times in
// UTC to the microsecond, checks in their order with empty signals, no metadata
// for "{}" (TestCreateVerificationReturnsItAsStored). Reading it back was
// two more queries on every submission.
func asStored(v verification.Verification) verification.Verification {
	at := func(t time.Time) time.Time { return fromMicros(micros(t)) }
	v.Outcome, v.Review, v.ErasedBy, v.EraseReason = nil, nil, "", ""
	v.CompletedAt, v.CancelledAt, v.ErasedAt = time.Time{}, time.Time{}, time.Time{}
	v.DeadlineAt, v.CreatedAt, v.UpdatedAt = at(v.DeadlineAt), at(v.CreatedAt), at(v.UpdatedAt)
	if m := string(v.Metadata); m == "" || m == "{}" {
		v.Metadata = nil
	}
	v.Consent.ObtainedAt = at(v.Consent.ObtainedAt)
	v.Consent.Purposes = strings.Fields(strings.Join(v.Consent.Purposes, " "))
	checks := make([]verification.Check, len(v.Checks))
	for i, c := range v.Checks {
		checks[i] = verification.Check{ID: c.ID, VerificationID: v.ID, InsurerID: v.InsurerID, Type: c.Type, Status: c.Status,
			Signals: []risk.Signal{}, CreatedAt: at(c.CreatedAt), UpdatedAt: at(c.UpdatedAt)}
	}
	slices.SortFunc(checks, func(a, b verification.Check) int { return strings.Compare(a.ID, b.ID) })
	sortChecks(checks)
	if len(checks) == 0 {
		checks = nil
	}
	v.Checks = checks
	return v
}

const verificationCols = `v.id, v.insurer_id, v.mode, v.status, v.external_reference, v.idempotency_key, v.request_hash,
	v.api_key_id, v.product, v.coverage_country, v.policy_start, v.policy_end, v.metadata, v.deadline_at, v.outcome,
	v.review_decision, v.reviewed_by, v.reviewed_at, v.review_note, v.created_at, v.updated_at, v.completed_at,
	v.cancelled_at, v.erased_at, v.erased_by, v.erase_reason,
	c.id, c.reference, c.obtained_at, c.lawful_basis, c.purposes`

const verificationFrom = ` FROM verifications v JOIN consents c ON c.verification_id = v.id `

func scanVerification(sc interface{ Scan(...any) error }) (verification.Verification, error) {
	var v verification.Verification
	var status, meta string
	var ext, idem, outcome, revDecision, revBy, revNote, erasedBy, eraseReason sql.NullString
	var deadline, created, updated, obtained int64
	var revAt, completed, cancelled, erased sql.NullInt64
	var purposes string
	err := sc.Scan(&v.ID, &v.InsurerID, &v.Mode, &status, &ext, &idem, &v.RequestHash,
		&v.APIKeyID, &v.Product, &v.CoverageCountry, &v.PolicyStart, &v.PolicyEnd, &meta, &deadline, &outcome,
		&revDecision, &revBy, &revAt, &revNote, &created, &updated, &completed,
		&cancelled, &erased, &erasedBy, &eraseReason,
		&v.Consent.ID, &v.Consent.Reference, &obtained, &v.Consent.LawfulBasis, &purposes)
	if err != nil {
		return v, err
	}
	v.Status = verification.Status(status)
	v.ExternalReference, v.IdempotencyKey = ext.String, idem.String
	if meta != "" && meta != "{}" {
		v.Metadata = json.RawMessage(meta)
	}
	v.DeadlineAt, v.CreatedAt, v.UpdatedAt = fromMicros(deadline), fromMicros(created), fromMicros(updated)
	v.CompletedAt, v.CancelledAt, v.ErasedAt = fromNullMicros(completed), fromNullMicros(cancelled), fromNullMicros(erased)
	v.ErasedBy, v.EraseReason = erasedBy.String, eraseReason.String
	if outcome.Valid && outcome.String != "" {
		var o risk.Outcome
		if err := json.Unmarshal([]byte(outcome.String), &o); err != nil {
			return v, err
		}
		v.Outcome = &o
	}
	if revDecision.Valid {
		v.Review = &verification.Review{Decision: revDecision.String, ReviewedBy: revBy.String, ReviewedAt: fromNullMicros(revAt), Note: revNote.String}
	}
	v.Consent.ObtainedAt = fromMicros(obtained)
	v.Consent.Purposes = strings.Fields(purposes)
	return v, nil
}

func (s *Store) Verification(ctx context.Context, insurerID, mode, id string) (verification.Verification, error) {
	v, err := scanVerification(s.pool().row(ctx, `SELECT `+verificationCols+verificationFrom+
		`WHERE v.insurer_id = $1 AND v.mode = $2 AND v.id = $3`, insurerID, mode, id))
	if errors.Is(err, sql.ErrNoRows) {
		return v, notFound("verification")
	}
	if err != nil {
		return v, err
	}
	checks, err := s.checksOf(ctx, s.pool(), insurerID, []string{v.ID})
	v.Checks = checks[v.ID]
	return v, err
}

func (s *Store) VerificationByIdempotencyKey(ctx context.Context, insurerID, mode, key string) (verification.Verification, error) {
	var vid string
	err := s.pool().row(ctx, `SELECT id FROM verifications WHERE insurer_id = $1 AND mode = $2 AND idempotency_key = $3`,
		insurerID, mode, key).Scan(&vid)
	if errors.Is(err, sql.ErrNoRows) {
		return verification.Verification{}, notFound("verification")
	}
	if err != nil {
		return verification.Verification{}, err
	}
	return s.Verification(ctx, insurerID, mode, vid)
}

// Verifications lists newest first; after is the last id of the previous
// page (ids sort by creation time). Checks load in one batched query.
func (s *Store) Verifications(ctx context.Context, insurerID, mode string, f verification.Filter, after string, limit int) ([]verification.Verification, error) {
	where := []string{"v.insurer_id = $1", "v.mode = $2"}
	args := []any{insurerID, mode}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if after != "" {
		add("v.id < ?", after)
	}
	if f.Status != "" {
		add("v.status = ?", string(f.Status))
	}
	if f.Decision != "" {
		add("v.decision = ?", f.Decision)
	}
	if f.ExternalReference != "" {
		add("v.external_reference = ?", f.ExternalReference)
	}
	if !f.CreatedFrom.IsZero() {
		add("v.created_at >= ?", micros(f.CreatedFrom))
	}
	if !f.CreatedTo.IsZero() {
		add("v.created_at < ?", micros(f.CreatedTo))
	}
	args = append(args, limit)
	return s.listVerifications(ctx, insurerID, `SELECT `+verificationCols+verificationFrom+`WHERE `+strings.Join(where, " AND ")+
		` ORDER BY v.id DESC LIMIT $`+strconv.Itoa(len(args)), args...)
}

// listVerifications runs a verification query and loads the checks of the
// whole page in one more query.
func (s *Store) listVerifications(ctx context.Context, insurerID, query string, args ...any) ([]verification.Verification, error) {
	rows, err := s.pool().query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []verification.Verification
	var ids []string
	for rows.Next() {
		v, err := scanVerification(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		ids = append(ids, v.ID)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	checks, err := s.checksOf(ctx, s.pool(), insurerID, ids)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Checks = checks[out[i].ID]
	}
	return out, nil
}

const checkCols = `id, verification_id, insurer_id, type, status, partner, outcome, signals, reason, partner_reference,
	evidence_key, evidence_sha256, attempts, poll_after, created_at, updated_at, completed_at`

func scanCheck(sc interface{ Scan(...any) error }) (verification.Check, error) {
	var r checkRow
	if err := sc.Scan(r.dest()...); err != nil {
		return verification.Check{}, err
	}
	return r.check()
}

// checkRow holds the columns of checkCols while a row is scanned.
type checkRow struct {
	ch                verification.Check
	typ, status, sigs string
	outcome           sql.NullString
	poll, completed   sql.NullInt64
	created, updated  int64
}

func (r *checkRow) dest() []any {
	ch := &r.ch
	return []any{&ch.ID, &ch.VerificationID, &ch.InsurerID, &r.typ, &r.status, &ch.Partner, &r.outcome, &r.sigs, &ch.Reason,
		&ch.PartnerReference, &ch.EvidenceKey, &ch.EvidenceSHA256, &ch.Attempts, &r.poll, &r.created, &r.updated, &r.completed}
}

func (r *checkRow) check() (verification.Check, error) {
	ch := r.ch
	ch.Type, ch.Status, ch.Outcome = risk.CheckType(r.typ), risk.CheckStatus(r.status), r.outcome.String
	if err := json.Unmarshal([]byte(r.sigs), &ch.Signals); err != nil {
		return ch, err
	}
	ch.PollAfter, ch.CreatedAt, ch.UpdatedAt, ch.CompletedAt = fromNullMicros(r.poll), fromMicros(r.created), fromMicros(r.updated), fromNullMicros(r.completed)
	return ch, nil
}

// scanWith scans a row whose leading columns go to the caller's
// destinations and the rest to extra.
type scanWith struct {
	rows  rowsScanner
	extra []any
}

// rowsScanner is *sql.Rows or pgx.Rows.
type rowsScanner interface {
	Next() bool
	Scan(...any) error
	Err() error
}

func (s scanWith) Scan(dest ...any) error { return s.rows.Scan(append(dest, s.extra...)...) }

// sortChecks puts the checks of one verification, which share a creation
// instant, in the canonical check order rather than by their random id
// suffix.
func sortChecks(list []verification.Check) {
	order := map[risk.CheckType]int{}
	for i, t := range risk.CheckTypes() {
		order[t] = i
	}
	sort.SliceStable(list, func(i, j int) bool { return order[list[i].Type] < order[list[j].Type] })
}

// checksOf loads the checks of several verifications in one query.
func (s *Store) checksOf(ctx context.Context, c conn, insurerID string, ids []string) (map[string][]verification.Check, error) {
	out := map[string][]verification.Check{}
	if len(ids) == 0 {
		return out, nil
	}
	args := []any{insurerID}
	ph := make([]string, len(ids))
	for i, id := range ids {
		args = append(args, id)
		ph[i] = "$" + strconv.Itoa(i+2)
	}
	rows, err := c.query(ctx, `SELECT `+checkCols+` FROM checks WHERE insurer_id = $1 AND verification_id IN (`+
		strings.Join(ph, ", ")+`) ORDER BY verification_id, id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		ch, err := scanCheck(rows)
		if err != nil {
			return nil, err
		}
		out[ch.VerificationID] = append(out[ch.VerificationID], ch)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, list := range out {
		sortChecks(list)
	}
	return out, nil
}

func (s *Store) Sealed(ctx context.Context, insurerID, mode, id string) ([]byte, []byte, error) {
	var wrapped, sealed []byte
	err := s.pool().row(ctx, `SELECT wrapped_key, sealed_pii FROM verifications WHERE insurer_id = $1 AND mode = $2 AND id = $3`,
		insurerID, mode, id).Scan(&wrapped, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, notFound("verification")
	}
	return wrapped, sealed, err
}

func (s *Store) BlindMatches(ctx context.Context, insurerID, kind, digest, exceptID string) ([]string, error) {
	return s.pool().ids(ctx, `SELECT verification_id FROM blind_index
		WHERE insurer_id = $1 AND kind = $2 AND digest = $3 AND verification_id <> $4 ORDER BY verification_id`,
		insurerID, kind, digest, exceptID)
}

func (s *Store) Cancel(ctx context.Context, insurerID, mode, id string, at time.Time, ev outbox.Event) (verification.Verification, error) {
	err := s.tx(ctx, func(c conn) error {
		var status string
		err := c.row(ctx, `SELECT status FROM verifications WHERE insurer_id = $1 AND mode = $2 AND id = $3`, insurerID, mode, id).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("verification")
		}
		if err != nil {
			return err
		}
		if !verification.CanMove(verification.Status(status), verification.StatusCancelled) {
			return errs.E(errs.FailedPrecondition, "a %s verification cannot be cancelled", status)
		}
		if _, err := c.exec(ctx, `UPDATE verifications SET status = $3, cancelled_at = $4, updated_at = $4
			WHERE insurer_id = $1 AND id = $2`, insurerID, id, string(verification.StatusCancelled), micros(at)); err != nil {
			return err
		}
		if _, err := c.exec(ctx, `UPDATE checks SET status = $3, reason = 'CANCELLED', updated_at = $4, completed_at = $4
			WHERE insurer_id = $1 AND verification_id = $2 AND status IN ('PENDING', 'AWAITING_PARTNER')`,
			insurerID, id, string(risk.CheckSkipped), micros(at)); err != nil {
			return err
		}
		return insertEvent(ctx, c, ev)
	})
	if err != nil {
		return verification.Verification{}, err
	}
	return s.Verification(ctx, insurerID, mode, id)
}

func (s *Store) Erase(ctx context.Context, insurerID, id, actor, reason string, at time.Time, entry audit.Entry, ev outbox.Event) (verification.Verification, error) {
	var mode string
	err := s.tx(ctx, func(c conn) error {
		var erased sql.NullInt64
		err := c.row(ctx, `SELECT mode, erased_at FROM verifications WHERE insurer_id = $1 AND id = $2`, insurerID, id).Scan(&mode, &erased)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("verification")
		}
		if err != nil {
			return err
		}
		if erased.Valid {
			return errs.E(errs.FailedPrecondition, "verification is already erased")
		}
		if _, err := c.exec(ctx, `UPDATE verifications SET wrapped_key = NULL, sealed_pii = NULL, erased_at = $3,
			erased_by = $4, erase_reason = $5, updated_at = $3 WHERE insurer_id = $1 AND id = $2`,
			insurerID, id, micros(at), actor, reason); err != nil {
			return err
		}
		if _, err := c.exec(ctx, `DELETE FROM blind_index WHERE insurer_id = $1 AND verification_id = $2`, insurerID, id); err != nil {
			return err
		}
		// The answers are sealed under the key just dropped; the bundle
		// keeps its copy for its digests, the database needs none.
		if _, err := c.exec(ctx, `UPDATE checks SET evidence = NULL
			WHERE insurer_id = $1 AND verification_id = $2 AND evidence IS NOT NULL`, insurerID, id); err != nil {
			return err
		}
		if err := appendAudit(ctx, c, entry); err != nil {
			return err
		}
		ev.Mode = mode
		return insertEvent(ctx, c, ev)
	})
	if err != nil {
		return verification.Verification{}, err
	}
	return s.Verification(ctx, insurerID, mode, id)
}

func (s *Store) ExpiredVerifications(ctx context.Context, insurerID string, cutoff time.Time, limit int) ([]verification.Ref, error) {
	rows, err := s.pool().query(ctx, `SELECT id, mode FROM verifications
		WHERE insurer_id = $1 AND created_at < $2 AND erased_at IS NULL ORDER BY id LIMIT $3`, insurerID, micros(cutoff), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []verification.Ref
	for rows.Next() {
		var r verification.Ref
		if err := rows.Scan(&r.ID, &r.Mode); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// insertEvent writes an outbox row inside the caller's transaction.
func insertEvent(ctx context.Context, c conn, ev outbox.Event) error {
	_, err := c.exec(ctx, insertEventsSQL(1), eventArgs([]outbox.Event{ev})...)
	return err
}

// insertEventsSQL inserts n outbox events.
func insertEventsSQL(n int) string {
	return `INSERT INTO outbox_events (id, insurer_id, mode, type, subject_id, payload, created_at) VALUES ` + valueRows(n, 7)
}

func eventArgs(evs []outbox.Event) []any {
	args := make([]any, 0, 7*len(evs))
	for _, ev := range evs {
		args = append(args, ev.ID, ev.InsurerID, ev.Mode, ev.Type, ev.SubjectID, string(ev.Payload), micros(ev.CreatedAt))
	}
	return args
}

// pipelineTx runs fn on one pgx connection of the pool for a transaction
// that fn opens and commits inside its batches (PostgreSQL only). When fn
// fails with the transaction still open, it is rolled back here, so that
// the connection is kept (the driver discards one returned inside a
// transaction, which is the guard if the rollback fails).
func (s *Store) pipelineTx(ctx context.Context, fn func(*pgx.Conn) error) error {
	c, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Raw(func(dc any) error {
		pc, ok := dc.(*stdlib.Conn)
		if !ok {
			return errs.E(errs.Internal, "a pipeline needs a pgx connection")
		}
		conn := pc.Conn()
		err := fn(conn)
		if conn.PgConn().TxStatus() != 'I' {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
			if err == nil {
				err = errs.E(errs.Internal, "a pipelined transaction was left open")
			}
		}
		return err
	})
}

// sendBatch sends b on conn; read, when not nil, reads the first results
// before the rest are drained.
func sendBatch(ctx context.Context, conn *pgx.Conn, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	br := conn.SendBatch(ctx, b)
	if read != nil {
		if err := read(br); err != nil {
			_ = br.Close()
			return err
		}
	}
	return br.Close()
}

func appendAudit(ctx context.Context, c conn, e audit.Entry) error {
	detail := string(e.Detail)
	if detail == "" {
		detail = "{}"
	}
	_, err := c.exec(ctx, `INSERT INTO audit_log (id, insurer_id, actor, action, verification_id, purpose, request_id, detail, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		e.ID, e.InsurerID, e.Actor, e.Action, nullString(e.VerificationID), e.Purpose, e.RequestID, detail, micros(e.CreatedAt))
	return err
}

// appendAudits inserts several entries in one statement.
func appendAudits(ctx context.Context, c conn, es []audit.Entry) error {
	if len(es) == 0 {
		return nil
	}
	args := make([]any, 0, 9*len(es))
	for _, e := range es {
		detail := string(e.Detail)
		if detail == "" {
			detail = "{}"
		}
		args = append(args, e.ID, e.InsurerID, e.Actor, e.Action, nullString(e.VerificationID), e.Purpose, e.RequestID, detail, micros(e.CreatedAt))
	}
	_, err := c.exec(ctx, `INSERT INTO audit_log (id, insurer_id, actor, action, verification_id, purpose, request_id, detail, created_at)
		VALUES `+valueRows(len(es), 9), args...)
	return err
}

func (s *Store) AppendAudit(ctx context.Context, e audit.Entry) error {
	return appendAudit(ctx, s.pool(), e)
}

// AuditLog lists entries newest first.
func (s *Store) AuditLog(ctx context.Context, insurerID string, f audit.Filter, after string, limit int) ([]audit.Entry, error) {
	where := []string{"insurer_id = $1"}
	args := []any{insurerID}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if after != "" {
		add("id < ?", after)
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if f.VerificationID != "" {
		add("verification_id = ?", f.VerificationID)
	}
	if f.Actor != "" {
		add("actor = ?", f.Actor)
	}
	if !f.From.IsZero() {
		add("created_at >= ?", micros(f.From))
	}
	if !f.To.IsZero() {
		add("created_at < ?", micros(f.To))
	}
	args = append(args, limit)
	rows, err := s.pool().query(ctx, `SELECT id, insurer_id, actor, action, verification_id, purpose, request_id, detail, created_at
		FROM audit_log WHERE `+strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []audit.Entry
	for rows.Next() {
		var e audit.Entry
		var vid sql.NullString
		var detail string
		var created int64
		if err := rows.Scan(&e.ID, &e.InsurerID, &e.Actor, &e.Action, &vid, &e.Purpose, &e.RequestID, &detail, &created); err != nil {
			return nil, err
		}
		e.VerificationID, e.Detail, e.CreatedAt = vid.String, json.RawMessage(detail), fromMicros(created)
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s *Store) ReviewQueue(ctx context.Context, insurerID, mode, after string, limit int) ([]verification.Verification, error) {
	args := []any{insurerID, mode, limit}
	cond := ""
	if after != "" {
		args = append(args, after)
		cond = " AND v.id > $4"
	}
	return s.listVerifications(ctx, insurerID, `SELECT `+verificationCols+verificationFrom+`WHERE v.insurer_id = $1 AND v.mode = $2
		AND v.decision = 'REVIEW' AND v.review_decision IS NULL AND v.status = 'COMPLETED' AND v.erased_at IS NULL`+cond+
		` ORDER BY v.id LIMIT $3`, args...)
}

func (s *Store) ResolveReview(ctx context.Context, insurerID, mode, id string, r verification.Review, ev outbox.Event) (verification.Verification, error) {
	err := s.tx(ctx, func(c conn) error {
		var status string
		var decision, reviewed sql.NullString
		err := c.row(ctx, `SELECT status, decision, review_decision FROM verifications WHERE insurer_id = $1 AND mode = $2 AND id = $3`,
			insurerID, mode, id).Scan(&status, &decision, &reviewed)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("verification")
		}
		if err != nil {
			return err
		}
		if reviewed.Valid {
			return errs.E(errs.Conflict, "this verification was already reviewed")
		}
		if status != string(verification.StatusCompleted) || decision.String != "REVIEW" {
			return errs.E(errs.FailedPrecondition, "only a completed verification decided REVIEW can be reviewed")
		}
		res, err := c.exec(ctx, `UPDATE verifications SET review_decision = $3, reviewed_by = $4, reviewed_at = $5, review_note = $6,
			updated_at = $5 WHERE insurer_id = $1 AND id = $2 AND review_decision IS NULL`,
			insurerID, id, r.Decision, r.ReviewedBy, micros(r.ReviewedAt), nullString(r.Note))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errs.E(errs.Conflict, "this verification was already reviewed")
		}
		return insertEvent(ctx, c, ev)
	})
	if err != nil {
		return verification.Verification{}, err
	}
	return s.Verification(ctx, insurerID, mode, id)
}
