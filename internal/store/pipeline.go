package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/borderproof/borderproof/internal/audit"
	"github.com/borderproof/borderproof/internal/billing"
	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/pipeline"
	"github.com/borderproof/borderproof/internal/risk"
	"github.com/borderproof/borderproof/internal/verification"
)

var _ pipeline.Store = (*Store)(nil)

// PipelineVerification loads a verification of the insurer in any mode,
// with its checks.
func (s *Store) PipelineVerification(ctx context.Context, insurerID, id string) (verification.Verification, error) {
	// One query for the verification and its checks, the verification's
	// columns repeated on each check's row; one without checks takes the
	// two-query path.
	v, found, err := s.verificationWithChecks(ctx, insurerID, id)
	if found || err != nil {
		return v, err
	}
	v, err = scanVerification(s.pool().row(ctx, `SELECT `+verificationCols+verificationFrom+
		`WHERE v.insurer_id = $1 AND v.id = $2`, insurerID, id))
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

// withChecksSQL reads a verification with its checks, its columns
// repeated on each check's row.
var withChecksSQL = `SELECT ` + verificationCols + `, ` + prefixed("ch.", checkCols) + verificationFrom +
	`JOIN checks ch ON ch.insurer_id = v.insurer_id AND ch.verification_id = v.id
	WHERE v.insurer_id = $1 AND v.id = $2`

func (s *Store) verificationWithChecks(ctx context.Context, insurerID, id string) (verification.Verification, bool, error) {
	rows, err := s.pool().query(ctx, withChecksSQL, insurerID, id)
	if err != nil {
		return verification.Verification{}, false, err
	}
	defer rows.Close()
	return scanWithChecks(rows)
}

// scanWithChecks reads the rows of withChecksSQL; found is false when
// there were none (no such verification, or one without checks).
func scanWithChecks(rows rowsScanner) (v verification.Verification, found bool, err error) {
	var skip []any // the verification's columns after the first row
	for rows.Next() {
		var r checkRow
		if skip == nil {
			if v, err = scanVerification(scanWith{rows, r.dest()}); err != nil {
				return v, false, err
			}
			skip = make([]any, strings.Count(verificationCols, ",")+1)
			for i := range skip {
				skip[i] = new(any)
			}
		} else if err := rows.Scan(append(skip, r.dest()...)...); err != nil {
			return v, false, err
		}
		ch, err := r.check()
		if err != nil {
			return v, false, err
		}
		v.Checks = append(v.Checks, ch)
	}
	if err := rows.Err(); err != nil {
		return v, false, err
	}
	sortChecks(v.Checks)
	return v, skip != nil, nil
}

// Reads of RunInputs besides the verification.
const (
	runSealedSQL     = `SELECT wrapped_key, sealed_pii FROM verifications WHERE insurer_id = $1 AND id = $2`
	currentPolicySQL = `SELECT policy FROM risk_policies WHERE insurer_id = $1 ORDER BY version DESC LIMIT 1`
	// runDigestsSQL is the verification's blind index, which
	// StartChecks looks up in the insurer's other verifications
	// (reusedSQL). Asked here by the verification instead, that lookup
	// was planned anew on every call (0.5 ms) and read the insurer's
	// whole document index; asked by digest, each is a primary-key probe
	// under a kept plan.
	runDigestsSQL = `SELECT kind, digest FROM blind_index WHERE insurer_id = $1 AND verification_id = $2`
)

// runEndpointsSQL reads the insurer's enabled webhook endpoints in the
// verification's mode.
var runEndpointsSQL = `SELECT ` + whEndpointCols + ` FROM webhook_endpoints
	WHERE insurer_id = $1 AND mode = (SELECT mode FROM verifications WHERE insurer_id = $1 AND id = $2) AND enabled
	ORDER BY id`

// RunInputs implements pipeline.Store: on PostgreSQL the five reads go in
// one pipeline.
func (s *Store) RunInputs(ctx context.Context, insurerID, id string) (pipeline.RunInputs, error) {
	var (
		in     pipeline.RunInputs
		found  bool
		policy sql.NullString
	)
	// next returns each read's row in turn, only once the one before it
	// is scanned.
	readRest := func(next func(q string, args ...any) scanner) error {
		err := next(runSealedSQL, insurerID, id).Scan(&in.WrappedKey, &in.Sealed)
		if isNoRows(err) {
			return notFound("verification")
		}
		if err != nil {
			return err
		}
		if err := next(currentPolicySQL, insurerID).Scan(&policy); err != nil && !isNoRows(err) {
			return err
		}
		return nil
	}
	if s.dialect == Postgres {
		err := s.retry(ctx, func() error {
			in, found, policy = pipeline.RunInputs{}, false, sql.NullString{}
			b := &pgx.Batch{}
			b.Queue(withChecksSQL, insurerID, id)
			b.Queue(runSealedSQL, insurerID, id)
			b.Queue(currentPolicySQL, insurerID)
			b.Queue(runDigestsSQL, insurerID, id)
			b.Queue(runEndpointsSQL, insurerID, id)
			return s.pipeline(ctx, b, func(br pgx.BatchResults) error {
				rows, err := br.Query()
				if err != nil {
					return err
				}
				in.Verification, found, err = scanWithChecks(rows)
				rows.Close()
				if err != nil {
					return err
				}
				if err := readRest(func(string, ...any) scanner { return br.QueryRow() }); err != nil {
					return err
				}
				if rows, err = br.Query(); err != nil {
					return err
				}
				err = scanDigests(rows, &in.Digests)
				rows.Close()
				if err != nil {
					return err
				}
				if rows, err = br.Query(); err != nil {
					return err
				}
				defer rows.Close()
				for rows.Next() {
					e, err := whScanEndpoint(rows)
					if err != nil {
						return err
					}
					in.Endpoints = append(in.Endpoints, e)
				}
				return rows.Err()
			})
		})
		if err != nil {
			return in, err
		}
	} else {
		var err error
		if in.Verification, found, err = s.verificationWithChecks(ctx, insurerID, id); err != nil {
			return in, err
		}
		c := s.pool()
		err = readRest(func(q string, args ...any) scanner { return c.row(ctx, q, args...) })
		if err != nil {
			return in, err
		}
		rows, err := c.query(ctx, runDigestsSQL, insurerID, id)
		if err != nil {
			return in, err
		}
		err = scanDigests(rows, &in.Digests)
		rows.Close()
		if err != nil {
			return in, err
		}
		if in.Endpoints, err = s.whEndpoints(ctx, runEndpointsSQL, insurerID, id); err != nil {
			return in, err
		}
	}
	if !found {
		// Without checks, or gone: the plain path says which.
		v, err := s.PipelineVerification(ctx, insurerID, id)
		if err != nil {
			return in, err
		}
		in.Verification = v
	}
	if policy.Valid {
		in.Policy, in.PolicyErr = parsePolicy(policy.String)
		in.PolicyStored = in.PolicyErr == nil
	}
	return in, nil
}

// scanDigests reads runDigestsSQL's rows.
func scanDigests(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
}, d *pipeline.Digests) error {
	for rows.Next() {
		var kind, digest string
		if err := rows.Scan(&kind, &digest); err != nil {
			return err
		}
		switch kind {
		case "document":
			d.Documents = append(d.Documents, digest)
		case "person":
			d.Person = digest
		}
	}
	return rows.Err()
}

// prefixed qualifies each column of a comma-separated list.
func prefixed(prefix, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = prefix + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// CheckEvidence returns the sealed partner answers recorded with a
// verification's checks, by check id.
func (s *Store) CheckEvidence(ctx context.Context, insurerID, verificationID string) (map[string][]byte, error) {
	rows, err := s.pool().query(ctx, `SELECT id, evidence FROM checks
		WHERE insurer_id = $1 AND verification_id = $2 AND evidence IS NOT NULL`, insurerID, verificationID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var id string
		var b []byte
		if err := rows.Scan(&id, &b); err != nil {
			return nil, err
		}
		out[id] = b
	}
	return out, rows.Err()
}

// EvidenceDigest implements evidence.Digests: the manifest digest recorded
// for the verification's bundle, "" when none is (or no such verification).
func (s *Store) EvidenceDigest(ctx context.Context, insurerID, verificationID string) (string, error) {
	var d sql.NullString
	err := s.pool().row(ctx, `SELECT evidence_sha256 FROM verifications WHERE insurer_id = $1 AND id = $2`,
		insurerID, verificationID).Scan(&d)
	if isNoRows(err) {
		return "", nil
	}
	return d.String, err
}

// RecordEvidence notes that a verification's evidence bundle is written,
// with its manifest's digest (hex).
func (s *Store) RecordEvidence(ctx context.Context, insurerID, verificationID, manifestSHA256 string) error {
	_, err := s.pool().exec(ctx, `UPDATE verifications SET evidence_sha256 = $3 WHERE insurer_id = $1 AND id = $2`,
		insurerID, verificationID, manifestSHA256)
	return err
}

// UnbundledVerifications lists, across insurers, verifications completed
// before `before` whose evidence bundle is not recorded.
func (s *Store) UnbundledVerifications(ctx context.Context, before time.Time, limit int) ([]pipeline.VerificationRef, error) {
	return s.verificationRefs(ctx, unbundledSQL, micros(before), limit)
}

// DocumentReused reports whether another verification of the insurer holds
// one of the document digests but not the person digest.
func (s *Store) DocumentReused(ctx context.Context, insurerID, exceptID string, documentDigests []string, personDigest string) (bool, error) {
	if len(documentDigests) == 0 {
		return false, nil
	}
	args := []any{insurerID, exceptID, personDigest}
	for _, d := range documentDigests {
		args = append(args, d)
	}
	var reused bool
	err := s.pool().row(ctx, `SELECT `+reusedSQL(2, len(documentDigests)), args...).Scan(&reused)
	return reused, err
}

// reusedSQL is DocumentReused's condition: $1 the insurer, $first the
// verification left out, then the person digest and n document digests.
// Every lookup has the primary key's whole prefix.
func reusedSQL(first, n int) string {
	return `EXISTS (SELECT 1 FROM blind_index d
		WHERE d.insurer_id = $1 AND d.kind = 'document' AND d.digest IN (` + placeholders(first+2, n) + `)
		AND d.verification_id <> $` + strconv.Itoa(first) + `
		AND NOT EXISTS (SELECT 1 FROM blind_index p WHERE p.insurer_id = $1 AND p.kind = 'person'
			AND p.digest = $` + strconv.Itoa(first+1) + ` AND p.verification_id = d.verification_id))`
}

// Statements that find one row by id and check its status. They must go
// by the primary key: the sweeper's partial indexes hold open rows only,
// and their predicates carry a bound these statements never state so that
// the planner cannot choose to scan every open row instead
// (TestGuardedLookupsUseKeys; migration 20261127130000).
const (
	runVerificationSQL = `UPDATE verifications SET status = 'RUNNING', updated_at = $3
		WHERE insurer_id = $1 AND id = $2 AND status = 'QUEUED'`
	checkProgressSQL = `SELECT v.status,
			(SELECT COUNT(*) FROM checks ch WHERE ch.insurer_id = v.insurer_id AND ch.verification_id = v.id),
			(SELECT COUNT(*) FROM checks ch WHERE ch.insurer_id = v.insurer_id AND ch.verification_id = v.id
				AND ch.status IN ('COMPLETED', 'FAILED', 'SKIPPED')),
			(SELECT COUNT(*) FROM checks ch WHERE ch.insurer_id = v.insurer_id AND ch.verification_id = v.id
				AND ch.status = 'PENDING')
		FROM verifications v WHERE v.insurer_id = $1 AND v.id = $2`
)

// startChecksSQL counts an attempt on each of n PENDING checks of one
// insurer, one statement for them all: $1 the insurer, $2 the time, $3
// the process starting them, then each check's id and partner.
func startChecksSQL(n int) string {
	return `UPDATE checks SET attempts = checks.attempts + 1, partner = v.column2, updated_at = $2, started_by = $3
		FROM (VALUES ` + valueRowsFrom(4, n, 2, nil) + `) AS v
		WHERE checks.insurer_id = $1 AND checks.id = v.column1 AND checks.status = 'PENDING'
		RETURNING checks.id, checks.verification_id, (SELECT vv.status FROM verifications vv
			WHERE vv.insurer_id = checks.insurer_id AND vv.id = checks.verification_id)`
}

// startChecksPGSQL is StartChecks as one PostgreSQL statement (data-modifying
// CTEs, which SQLite lacks): the attempts, the move of a QUEUED verification
// to RUNNING and the audit entries of the checks it started, in one round
// trip where the transaction took five. $1 the insurer, $2 the time, $3
// the process starting them; then n rows of check id and partner; then
// audits rows of the audit entry's columns (audit_log's order) and the id
// of its check.
func startChecksPGSQL(n, audits, digests int) string {
	q := `WITH started AS (
		UPDATE checks SET attempts = checks.attempts + 1, partner = v.column2, updated_at = $2, started_by = $3
		FROM (VALUES ` + valueRowsFrom(4, n, 2, nil) + `) AS v
		WHERE checks.insurer_id = $1 AND checks.id = v.column1 AND checks.status = 'PENDING'
		RETURNING checks.id, checks.verification_id
	), running AS (
		UPDATE verifications SET status = 'RUNNING', updated_at = $2
		WHERE insurer_id = $1 AND id IN (SELECT verification_id FROM started) AND status = 'QUEUED'
		RETURNING id
	)`
	if audits > 0 {
		q += `, audited AS (
		INSERT INTO audit_log (id, insurer_id, actor, action, verification_id, purpose, request_id, detail, created_at)
		SELECT a.column1, a.column2, a.column3, a.column4, a.column5, a.column6, a.column7, a.column8, a.column9
		FROM (VALUES ` + valueRowsFrom(4+2*n, audits, 10, map[int]string{8: "bigint"}) + `) AS a
		JOIN started ON started.id = a.column10
	)`
	}
	if digests > 0 {
		// The blind index's answer (reusedSQL) rides along with each row.
		return q + ` SELECT id, ` + reusedSQL(4+2*n+10*audits, digests) + ` FROM started`
	}
	return q + ` SELECT id, false FROM started`
}

// StartChecks counts an attempt on each item's check that is still
// PENDING, names the process starting it (by; "" for none), appends the
// items' audit entries, and moves a QUEUED verification to RUNNING, in one
// transaction (nothing is written for a check no longer PENDING). It
// returns the ids of the checks it started, and with reuse,
// DocumentReused's answer for it: on PostgreSQL in the same statement.
func (s *Store) StartChecks(ctx context.Context, insurerID string, items []pipeline.StartCheck, at time.Time, by string, reuse *pipeline.ReuseQuery) (map[string]bool, bool, error) {
	started, reused, asked, err := s.startChecks(ctx, insurerID, items, at, by, reuse)
	if err != nil || asked || reuse == nil {
		return started, reused, err
	}
	reused, err = s.DocumentReused(ctx, insurerID, reuse.VerificationID, reuse.Documents, reuse.Person)
	return started, reused, err
}

// startChecks is StartChecks; asked tells whether reused answers reuse.
func (s *Store) startChecks(ctx context.Context, insurerID string, items []pipeline.StartCheck, at time.Time, by string, reuse *pipeline.ReuseQuery) (started map[string]bool, reused, asked bool, err error) {
	started = map[string]bool{}
	if len(items) == 0 {
		return started, false, false, nil
	}
	query := startChecksSQL(len(items))
	args := make([]any, 0, 3+2*len(items))
	args = append(args, insurerID, micros(at), nullString(by))
	for _, it := range items {
		args = append(args, it.CheckID, it.Partner)
	}
	if s.dialect == Postgres {
		var audits []any
		n := 0
		for _, it := range items {
			if e := it.Audit; e != nil {
				detail := string(e.Detail)
				if detail == "" {
					detail = "{}"
				}
				audits = append(audits, e.ID, e.InsurerID, e.Actor, e.Action, nullString(e.VerificationID), e.Purpose, e.RequestID,
					detail, micros(e.CreatedAt), it.CheckID)
				n++
			}
		}
		all := append(args, audits...)
		digests := 0
		if reuse != nil && len(reuse.Documents) > 0 {
			digests = len(reuse.Documents)
			all = append(all, reuse.VerificationID, reuse.Person)
			for _, d := range reuse.Documents {
				all = append(all, d)
			}
		}
		query := startChecksPGSQL(len(items), n, digests)
		err = s.retry(ctx, func() error {
			clear(started)
			// Without a document there is nothing to find.
			reused, asked = false, reuse != nil && digests == 0
			return s.pool().each(ctx, func(rows *sql.Rows) error {
				var id string
				if err := rows.Scan(&id, &reused); err != nil {
					return err
				}
				started[id] = true
				asked = asked || digests > 0
				return nil
			}, query, all...)
		})
		return started, reused, asked, err
	}
	err = s.tx(ctx, func(c conn) error {
		clear(started) // a retried transaction starts again
		queued := map[string]bool{}
		err := c.each(ctx, func(rows *sql.Rows) error {
			var id, vid, vstatus string
			if err := rows.Scan(&id, &vid, &vstatus); err != nil {
				return err
			}
			started[id] = true
			if vstatus == string(verification.StatusQueued) {
				queued[vid] = true
			}
			return nil
		}, query, args...)
		if err != nil {
			return err
		}
		for _, vid := range slices.Sorted(maps.Keys(queued)) {
			if _, err := c.exec(ctx, runVerificationSQL, insurerID, vid, micros(at)); err != nil {
				return err
			}
		}
		var entries []audit.Entry
		for _, it := range items {
			if started[it.CheckID] && it.Audit != nil {
				entries = append(entries, *it.Audit)
			}
		}
		return appendAudits(ctx, c, entries)
	})
	return started, false, false, err
}

// CheckProgress reads a verification's status and how many of its checks
// are terminal and how many PENDING, in one query and without the checks'
// signals.
func (s *Store) CheckProgress(ctx context.Context, insurerID, verificationID string) (pipeline.Progress, error) {
	var pr pipeline.Progress
	var status string
	err := s.pool().row(ctx, checkProgressSQL, insurerID, verificationID).
		Scan(&status, &pr.Checks, &pr.Terminal, &pr.Pending)
	if errors.Is(err, sql.ErrNoRows) {
		return pr, notFound("verification")
	}
	pr.Status = verification.Status(status)
	return pr, err
}

// UpdateCheck applies a guarded check change with its usage row, events
// and the verification's new status, in one transaction.
func (s *Store) UpdateCheck(ctx context.Context, u pipeline.CheckUpdate) (bool, error) {
	applied, err := s.UpdateChecks(ctx, []pipeline.CheckUpdate{u})
	if err != nil {
		return false, err
	}
	return applied[0], nil
}

// UpdateChecks applies several guarded check changes, each as UpdateCheck
// does, in one transaction; applied[i] tells whether us[i] matched its
// guard. Each verification's status is settled once, after its checks.
func (s *Store) UpdateChecks(ctx context.Context, us []pipeline.CheckUpdate) ([]bool, error) {
	applied, _, err := s.updateChecks(ctx, us, nil)
	return applied, err
}

// UpdateChecksAndScore applies us as UpdateChecks does and, when every one
// of them matched its guard, saves o (as SaveOutcome does) in the same
// transaction instead of settling the verification's status. scored tells
// whether o was saved; when it was not, the updates that matched stand.
func (s *Store) UpdateChecksAndScore(ctx context.Context, us []pipeline.CheckUpdate, o pipeline.OutcomeUpdate) (applied []bool, scored bool, err error) {
	return s.updateChecks(ctx, us, &o)
}

func (s *Store) updateChecks(ctx context.Context, us []pipeline.CheckUpdate, o *pipeline.OutcomeUpdate) ([]bool, bool, error) {
	var outcome []byte
	if o != nil {
		var err error
		if outcome, err = json.Marshal(o.Outcome); err != nil {
			return nil, false, err
		}
	}
	signals := make([]string, len(us))
	for i, u := range us {
		if len(u.From) == 0 {
			return nil, false, errs.E(errs.Internal, "check update without a guard")
		}
		b, err := json.Marshal(u.Signals)
		if err != nil {
			return nil, false, err
		}
		if u.Signals == nil {
			b = []byte("[]")
		}
		signals[i] = string(b)
	}
	if s.dialect == Postgres && batchable(us) && (o == nil || o.Status == verification.StatusCompleted) {
		if o != nil {
			return s.completeInOneTrip(ctx, us, signals, *o, outcome)
		}
		return s.updateChecksPipelined(ctx, us, signals)
	}
	applied := make([]bool, len(us))
	scored := false
	err := s.tx(ctx, func(c conn) error {
		clear(applied) // a retried transaction starts again
		scored = false
		var usage []billing.Usage
		if err := s.applyCheckUpdates(ctx, c, us, signals, applied); err != nil {
			return err
		}
		for i, u := range us {
			if applied[i] && u.Usage != nil {
				usage = append(usage, *u.Usage) // written with the result, priced by RollUpUsage
			}
		}
		settle, last := toSettle(us, applied)
		if err := insertUsages(ctx, c, usage); err != nil {
			return err
		}
		if o != nil && !slices.Contains(applied, false) {
			ok, err := saveOutcome(ctx, c, *o, outcome)
			if err != nil {
				return err
			}
			scored = ok
		}
		for _, k := range settle {
			if scored && k == (verKey{o.InsurerID, o.VerificationID}) {
				continue // the outcome set its status
			}
			if err := s.settleStatus(ctx, c, k.insurerID, k.id, last[k]); err != nil {
				return err
			}
		}
		return nil
	})
	return applied, scored, err
}

// applyCheckUpdates writes the check rows of us whose guards match, with
// their events, and sets applied[i] for each one written. Several go in
// one statement; one at a time when a check appears twice (the second
// update must see the first) or a guard lists more statuses than the
// statement holds.
func (s *Store) applyCheckUpdates(ctx context.Context, c conn, us []pipeline.CheckUpdate, signals []string, applied []bool) error {
	if len(us) < 2 || !batchable(us) {
		for i, u := range us {
			ok, err := applyCheckUpdate(ctx, c, s.dialect, u, signals[i])
			if err != nil {
				return err
			}
			applied[i] = ok
		}
		return nil
	}
	var casts map[int]string
	if s.dialect == Postgres {
		casts = updateChecksCasts
	}
	args := make([]any, 0, len(us)*updateChecksWidth)
	for i, u := range us {
		args = append(args, checkUpdateRow(u, signals[i])...)
	}
	written := map[string]bool{}
	err := c.each(ctx, func(rows *sql.Rows) error {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		written[id] = true
		return nil
	}, updateChecksSQL(len(us), casts), args...)
	if err != nil {
		return err
	}
	for i, u := range us {
		if applied[i] = written[u.CheckID]; !applied[i] {
			continue
		}
		for _, ev := range u.Events {
			if err := insertEvent(ctx, c, ev); err != nil {
				return err
			}
		}
	}
	return nil
}

// batchable tells whether us can go in one updateChecksSQL: no check
// twice (the second update must see the first) and no guard of more than
// two statuses.
func batchable(us []pipeline.CheckUpdate) bool {
	seen := make(map[string]bool, len(us))
	for _, u := range us {
		if seen[u.CheckID] || len(u.From) > 2 {
			return false
		}
		seen[u.CheckID] = true
	}
	return true
}

// verKey names a verification.
type verKey struct{ insurerID, id string }

// toSettle lists, in the order first met, the verifications of the applied
// updates, whose status follows from their checks, each with the latest
// time of its updates.
func toSettle(us []pipeline.CheckUpdate, applied []bool) ([]verKey, map[verKey]time.Time) {
	var settle []verKey
	last := map[verKey]time.Time{}
	for i, u := range us {
		if !applied[i] {
			continue
		}
		k := verKey{u.InsurerID, u.VerificationID}
		if _, seen := last[k]; !seen {
			settle = append(settle, k)
		}
		if u.At.After(last[k]) {
			last[k] = u.At
		}
	}
	return settle, last
}

// settleStatusSQL is settleStatus as one statement (PostgreSQL): $1 the
// insurer, $2 the verification, $3 the time. A terminal verification,
// and one already in the status its checks call for while some are still
// open, are left alone.
const settleStatusSQL = `UPDATE verifications v SET status = w.want, updated_at = $3
	FROM (SELECT CASE WHEN EXISTS (SELECT 1 FROM checks c WHERE c.insurer_id = $1 AND c.verification_id = $2
				AND c.status = 'AWAITING_PARTNER') THEN 'AWAITING_PARTNER' ELSE 'RUNNING' END AS want,
			EXISTS (SELECT 1 FROM checks c WHERE c.insurer_id = $1 AND c.verification_id = $2
				AND c.status IN ('PENDING', 'AWAITING_PARTNER')) AS open) w
	WHERE v.insurer_id = $1 AND v.id = $2 AND v.status IN ('QUEUED', 'RUNNING', 'AWAITING_PARTNER')
		AND NOT (v.status = w.want AND w.open)`

// updateChecksPipelined is updateChecks without an outcome on PostgreSQL,
// in two round trips where the transaction took five or more: BEGIN with
// the checks' UPDATE, whose returned ids say which applied; then, for
// those, the usage rows and events, each verification's status settled,
// and COMMIT. With a final outcome, completeInOneTrip.
func (s *Store) updateChecksPipelined(ctx context.Context, us []pipeline.CheckUpdate, signals []string) ([]bool, bool, error) {
	applied := make([]bool, len(us))
	args := make([]any, 0, len(us)*updateChecksWidth)
	for i, u := range us {
		args = append(args, checkUpdateRow(u, signals[i])...)
	}
	update := updateChecksSQL(len(us), updateChecksCasts)
	err := s.retry(ctx, func() error {
		clear(applied)
		return s.pipelineTx(ctx, func(conn *pgx.Conn) error {
			b := &pgx.Batch{}
			b.Queue("BEGIN")
			b.Queue(update, args...)
			written := map[string]bool{}
			err := sendBatch(ctx, conn, b, func(br pgx.BatchResults) error {
				return readBeginAndWritten(br, written)
			})
			if err != nil {
				return err
			}
			var usage []billing.Usage
			var events []outbox.Event
			for i, u := range us {
				if applied[i] = written[u.CheckID]; !applied[i] {
					continue
				}
				if u.Usage != nil {
					usage = append(usage, *u.Usage)
				}
				events = append(events, u.Events...)
			}
			settle, last := toSettle(us, applied)
			b = &pgx.Batch{}
			if len(usage) > 0 {
				b.Queue(insertUsagesSQL(len(usage)), usageArgs(usage)...)
			}
			if len(events) > 0 {
				b.Queue(insertEventsSQL(len(events)), eventArgs(events)...)
			}
			for _, k := range settle {
				b.Queue(settleStatusSQL, k.insurerID, k.id, micros(last[k]))
			}
			b.Queue("COMMIT")
			return sendBatch(ctx, conn, b, func(br pgx.BatchResults) error {
				if len(usage) > 0 {
					if _, err := br.Exec(); err != nil {
						return fmt.Errorf("insert usage: %w", err)
					}
				}
				if len(events) > 0 {
					if _, err := br.Exec(); err != nil {
						return err
					}
				}
				return nil
			})
		})
	})
	return applied, false, err
}

// readBeginAndWritten reads a batch's BEGIN, then the ids its checks'
// UPDATE returned, into written.
func readBeginAndWritten(br pgx.BatchResults, written map[string]bool) error {
	if _, err := br.Exec(); err != nil {
		return err
	}
	rows, err := br.Query()
	if err != nil {
		return err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	for _, id := range ids {
		written[id] = true
	}
	return err
}

// ownWrite holds for a row of checks c that this transaction wrote: its
// version's xmin is the transaction's id.
const ownWrite = `c.xmin = pg_current_xact_id()::xid`

// completeInOneTrip is updateChecksPipelined for a final outcome, in one
// round trip where it took two: BEGIN, the checks' guarded UPDATE, then
// statements that see which checks it wrote (ownWrite): the usage rows and
// events of those, the outcome and its events and deliveries when it wrote
// every one, the ids it wrote, and COMMIT. The verifications of the checks
// written whose status the outcome did not set (some guard failed: another
// run of the verification got there first) are settled after the commit,
// as updateChecks settles them: their status follows from their checks,
// which are already written.
func (s *Store) completeInOneTrip(ctx context.Context, us []pipeline.CheckUpdate, signals []string, o pipeline.OutcomeUpdate,
	outcome []byte) ([]bool, bool, error) {
	applied := make([]bool, len(us))
	scored := false
	args := make([]any, 0, len(us)*updateChecksWidth)
	ids := make([]any, len(us))
	var usage []billing.Usage
	var eventRows []any
	nEvents := 0
	for i, u := range us {
		args = append(args, checkUpdateRow(u, signals[i])...)
		ids[i] = u.CheckID
		if u.Usage != nil {
			usage = append(usage, *u.Usage)
		}
		for _, ev := range u.Events {
			eventRows = append(append(eventRows, eventArgs([]outbox.Event{ev})...), u.CheckID)
			nEvents++
		}
	}
	update := updateChecksSQL(len(us), updateChecksCasts)
	written := map[string]bool{}
	err := s.retry(ctx, func() error {
		clear(applied)
		clear(written)
		scored = false
		return s.pipelineTx(ctx, func(conn *pgx.Conn) error {
			b := &pgx.Batch{}
			b.Queue("BEGIN")
			b.Queue(update, args...)
			if len(usage) > 0 {
				b.Queue(`INSERT INTO usage_events (id, insurer_id, mode, meter, quantity, partner, partner_cost_minor,
					partner_cost_currency, verification_id, check_id, occurred_at)
					SELECT x.* FROM (VALUES `+valueRowsFrom(1, len(usage), 11, map[int]string{4: "bigint", 6: "bigint", 10: "bigint"})+`) AS x
					WHERE EXISTS (SELECT 1 FROM checks c WHERE c.id = x.column10 AND `+ownWrite+`)
					ON CONFLICT (check_id) DO NOTHING`, usageArgs(usage)...)
			}
			if nEvents > 0 {
				b.Queue(`INSERT INTO outbox_events (id, insurer_id, mode, type, subject_id, payload, created_at)
					SELECT x.column1, x.column2, x.column3, x.column4, x.column5, x.column6, x.column7
					FROM (VALUES `+valueRowsFrom(1, nEvents, 8, map[int]string{6: "bigint"})+`) AS x
					WHERE EXISTS (SELECT 1 FROM checks c WHERE c.id = x.column8 AND `+ownWrite+`)`, eventRows...)
			}
			// The ids as parameters of their own, not an array: estimated
			// alike with and without their values, so that PostgreSQL keeps
			// one plan instead of planning the statement anew each time.
			query, oargs := saveOutcomeGuardedPGSQL(o, outcome, func(first int) string {
				return `(SELECT COUNT(*) FROM checks c WHERE c.id IN (` + placeholders(first, len(ids)) + `) AND ` + ownWrite + `) = ` +
					strconv.Itoa(len(ids))
			}, ids)
			b.Queue(query, oargs...)
			b.Queue("COMMIT")
			return sendBatch(ctx, conn, b, func(br pgx.BatchResults) error {
				if err := readBeginAndWritten(br, written); err != nil {
					return err
				}
				if len(usage) > 0 {
					if _, err := br.Exec(); err != nil {
						return fmt.Errorf("insert usage: %w", err)
					}
				}
				if nEvents > 0 {
					if _, err := br.Exec(); err != nil {
						return err
					}
				}
				var n int
				if err := br.QueryRow().Scan(&n); err != nil {
					return err
				}
				scored = n == 1
				return nil
			})
		})
	})
	if err != nil {
		return applied, false, err
	}
	all := true
	for i, u := range us {
		applied[i] = written[u.CheckID]
		all = all && applied[i]
	}
	settle, last := toSettle(us, applied)
	for _, k := range settle {
		if all && k == (verKey{o.InsurerID, o.VerificationID}) {
			continue // the outcome set its status, or it was already terminal
		}
		if _, err := s.pool().exec(ctx, settleStatusSQL, k.insurerID, k.id, micros(last[k])); err != nil {
			return applied, scored, err
		}
	}
	return applied, scored, nil
}

// saveOutcomePGSQL is saveOutcome as one PostgreSQL statement: the
// outcome, guarded by the statuses that may move to its status, and its
// events, written only with it. It returns how many verifications it
// wrote (0 or 1).
func saveOutcomePGSQL(o pipeline.OutcomeUpdate, raw []byte) (string, []any) {
	return saveOutcomeGuardedPGSQL(o, raw, nil, nil)
}

// saveOutcomeGuardedPGSQL is saveOutcomePGSQL whose UPDATE also holds the
// condition guard returns, given the number of its first parameter, on
// guardArgs.
func saveOutcomeGuardedPGSQL(o pipeline.OutcomeUpdate, raw []byte, guard func(first int) string, guardArgs []any) (string, []any) {
	update, args := outcomeUpdateSQL(o, raw)
	if guard != nil {
		update += " AND " + guard(len(args)+1)
		args = append(args, guardArgs...)
	}
	q := `WITH o AS (` + update + ` RETURNING id)`
	if len(o.Events) > 0 {
		args = append(args, publishedAt(o))
		q += `, e AS (INSERT INTO outbox_events (id, insurer_id, mode, type, subject_id, payload, created_at, published_at)
		SELECT x.column1, x.column2, x.column3, x.column4, x.column5, x.column6, x.column7, $` + strconv.Itoa(len(args)) + `::bigint
		FROM (VALUES ` + valueRowsFrom(len(args)+1, len(o.Events), 7, map[int]string{6: "bigint"}) + `) AS x
		WHERE EXISTS (SELECT 1 FROM o))`
		args = append(args, eventArgs(o.Events)...)
	}
	if len(o.Deliveries) > 0 {
		q += `, d AS (INSERT INTO webhook_deliveries (id, insurer_id, mode, endpoint_id, event_id, event_type, status, next_attempt_at, created_at, leased_until, leased_by)
		SELECT x.column1, x.column2, x.column3, x.column4, x.column5, x.column6, x.column7, x.column8, x.column9, x.column10, x.column11
		FROM (VALUES ` + valueRowsFrom(len(args)+1, len(o.Deliveries), deliveryWidth, map[int]string{7: "bigint", 8: "bigint", 9: "bigint"}) + `) AS x
		WHERE EXISTS (SELECT 1 FROM o))`
		args = append(args, deliveryArgs(o.Deliveries)...)
	}
	return q + ` SELECT COUNT(*) FROM o`, args
}

// publishedAt is when o's events are published: with the outcome when
// o.Published, else NULL (they are published after).
func publishedAt(o pipeline.OutcomeUpdate) sql.NullInt64 {
	if !o.Published {
		return sql.NullInt64{}
	}
	return nullMicros(o.At)
}

// notErased holds, in an update of checks, when the check's verification
// is not erased: a sealed answer is written only then. A run seals its
// answers under the key it read before its calls; an erasure committed
// since (which drops that key and the answers recorded until then)
// leaves this run's answers unwritten too.
const notErased = `NOT EXISTS (SELECT 1 FROM verifications ev
	WHERE ev.id = checks.verification_id AND ev.erased_at IS NOT NULL)`

// updateChecksWidth is the number of parameters per check in
// updateChecksSQL, in checkUpdateRow's order.
const updateChecksWidth = 18

// updateChecksCasts types, for PostgreSQL, the parameters of
// updateChecksSQL's rows that are not text.
var updateChecksCasts = map[int]string{9: "bigint", 10: "bigint", 11: "bigint", 12: "integer", 13: "bytea", 17: "integer"}

// updateChecksSQL writes n guarded check updates in one statement and
// returns the ids of the checks it wrote. Each row: the insurer, the
// check, the new values, the two statuses the check may be in and the
// attempts it must have (-1: any).
func updateChecksSQL(n int, casts map[int]string) string {
	return `UPDATE checks SET status = v.column3, partner = v.column4, outcome = v.column5, signals = v.column6,
		reason = v.column7, partner_reference = v.column8, evidence_key = v.column9, poll_after = v.column10,
		updated_at = v.column11, completed_at = v.column12, attempts = checks.attempts + v.column13,
		evidence = CASE WHEN ` + notErased + ` THEN v.column14 END,
		evidence_sha256 = CASE WHEN ` + notErased + ` THEN v.column15 ELSE '' END
		FROM (VALUES ` + valueRowsFrom(1, n, updateChecksWidth, casts) + `) AS v
		WHERE checks.insurer_id = v.column1 AND checks.id = v.column2 AND checks.status IN (v.column16, v.column17)
			AND (v.column18 < 0 OR checks.attempts = v.column18)
		RETURNING checks.id`
}

// checkUpdateRow is u's row of updateChecksSQL; signals is u's as JSON.
func checkUpdateRow(u pipeline.CheckUpdate, signals string) []any {
	inc := 0
	if u.IncAttempts {
		inc = 1
	}
	var sealed any // NULL: no answer kept
	if len(u.Evidence) > 0 {
		sealed = u.Evidence
	}
	completed := sql.NullInt64{}
	if u.Status.Terminal() {
		completed = nullMicros(u.At)
	}
	from := []string{string(u.From[0]), string(u.From[len(u.From)-1])}
	return []any{u.InsurerID, u.CheckID, string(u.Status), u.Partner, nullString(u.Outcome), signals, u.Reason,
		u.PartnerReference, u.EvidenceKey, nullMicros(u.PollAfter), micros(u.At), completed, inc, sealed, u.EvidenceSHA256,
		from[0], from[1], u.Attempts}
}

// applyCheckUpdate writes u's check row when its guard matches, with its
// events (its usage row is the caller's).
func applyCheckUpdate(ctx context.Context, c conn, dialect Dialect, u pipeline.CheckUpdate, signals string) (bool, error) {
	args := checkUpdateRow(u, signals)[:15] // the values; the guard follows
	guard := ` AND status IN (`
	for i, st := range u.From {
		if i > 0 {
			guard += ", "
		}
		args = append(args, string(st))
		guard += "$" + itoa(len(args))
	}
	guard += ")"
	if u.Attempts >= 0 {
		args = append(args, u.Attempts)
		guard += " AND attempts = $" + itoa(len(args))
	}
	sealedParam := "$14"
	if dialect == Postgres {
		sealedParam = "$14::bytea" // untyped inside CASE
	}
	res, err := c.exec(ctx, `UPDATE checks SET status = $3, partner = $4, outcome = $5, signals = $6, reason = $7,
		partner_reference = $8, evidence_key = $9, poll_after = $10, updated_at = $11, completed_at = $12,
		attempts = attempts + $13, evidence = CASE WHEN `+notErased+` THEN `+sealedParam+` END,
		evidence_sha256 = CASE WHEN `+notErased+` THEN $15 ELSE '' END
		WHERE insurer_id = $1 AND id = $2`+guard, args...)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	for _, ev := range u.Events {
		if err := insertEvent(ctx, c, ev); err != nil {
			return false, err
		}
	}
	return true, nil
}

// settleStatus moves a running verification to AWAITING_PARTNER while any
// check waits on a partner, and to RUNNING otherwise.
func (s *Store) settleStatus(ctx context.Context, c conn, insurerID, verificationID string, at time.Time) error {
	var status string
	var awaiting, open int
	err := c.row(ctx, `SELECT v.status,
			(SELECT COUNT(*) FROM checks ch WHERE ch.insurer_id = v.insurer_id
				AND ch.verification_id = v.id AND ch.status = 'AWAITING_PARTNER'),
			(SELECT COUNT(*) FROM checks ch WHERE ch.insurer_id = v.insurer_id
				AND ch.verification_id = v.id AND ch.status IN ('PENDING', 'AWAITING_PARTNER'))
		FROM verifications v WHERE v.insurer_id = $1 AND v.id = $2`, insurerID, verificationID).Scan(&status, &awaiting, &open)
	if err != nil {
		return err
	}
	want := verification.StatusRunning
	if awaiting > 0 {
		want = verification.StatusAwaitingPartner
	}
	from := verification.Status(status)
	if !verification.CanMove(from, want) {
		return nil // terminal: the update of the check stands alone
	}
	if from == want && open > 0 {
		// Nothing to record on the verification, and sibling checks
		// finishing at the same time need not queue on its row. The last
		// check does touch it: updated_at then tells the sweeper how long
		// the verification has waited for its score.
		return nil
	}
	_, err = c.exec(ctx, `UPDATE verifications SET status = $3, updated_at = $4 WHERE insurer_id = $1 AND id = $2`,
		insurerID, verificationID, string(want), micros(at))
	return err
}

// RiskPolicy returns the insurer's highest policy version.
func (s *Store) RiskPolicy(ctx context.Context, insurerID string) (risk.Policy, bool, error) {
	var raw string
	err := s.pool().row(ctx, currentPolicySQL, insurerID).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return risk.Policy{}, false, nil
	}
	if err != nil {
		return risk.Policy{}, false, err
	}
	p, err := parsePolicy(raw)
	if err != nil {
		return risk.Policy{}, false, err
	}
	return p, true, nil
}

// parsePolicy reads a stored risk policy.
func parsePolicy(raw string) (risk.Policy, error) {
	var p risk.Policy
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return risk.Policy{}, errs.Wrap(err, errs.Internal, "stored risk policy is unreadable")
	}
	return p, nil
}

// RiskPolicies lists the insurer's stored policy versions, newest first,
// at most 50.
func (s *Store) RiskPolicies(ctx context.Context, insurerID string) ([]risk.Policy, error) {
	rows, err := s.pool().query(ctx, `SELECT policy FROM risk_policies WHERE insurer_id = $1 ORDER BY version DESC LIMIT 50`, insurerID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []risk.Policy
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, err
		}
		p, err := parsePolicy(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// PutRiskPolicy stores a new version of the insurer's policy. The version
// must be the next one (1 + the current, where the built-in default is 1);
// a taken version is a Conflict.
func (s *Store) PutRiskPolicy(ctx context.Context, p risk.Policy) error {
	if p.InsurerID == "" || p.Version < 1 {
		return errs.E(errs.Invalid, "a stored policy needs an insurer and a version")
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return err
	}
	_, err = s.pool().exec(ctx, `INSERT INTO risk_policies (insurer_id, version, policy, created_at) VALUES ($1, $2, $3, $4)`,
		p.InsurerID, p.Version, string(raw), micros(p.CreatedAt))
	if isUnique(err) {
		return errs.E(errs.Conflict, "policy version %d already exists", p.Version)
	}
	return err
}

// SaveOutcome writes a score with its events when the verification is not
// terminal.
func (s *Store) SaveOutcome(ctx context.Context, o pipeline.OutcomeUpdate) (bool, error) {
	raw, err := json.Marshal(o.Outcome)
	if err != nil {
		return false, err
	}
	applied := false
	if s.dialect == Postgres {
		// One statement: the outcome and its events (saveOutcomePGSQL).
		query, args := saveOutcomePGSQL(o, raw)
		err = s.retry(ctx, func() error {
			var n int
			err := s.pool().row(ctx, query, args...).Scan(&n)
			applied = n == 1
			return err
		})
		if err != nil || applied {
			return applied, err
		}
		var status string
		err := s.pool().row(ctx, `SELECT status FROM verifications WHERE insurer_id = $1 AND id = $2`, o.InsurerID, o.VerificationID).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return false, notFound("verification")
		}
		return false, err
	}
	err = s.tx(ctx, func(c conn) error {
		applied, err = saveOutcome(ctx, c, o, raw)
		return err
	})
	return applied, err
}

// outcomeUpdateSQL is the UPDATE that writes o (raw is its outcome as
// JSON), guarded by the statuses that may move to o.Status; completed_at
// is set for a final outcome only.
func outcomeUpdateSQL(o pipeline.OutcomeUpdate, raw []byte) (string, []any) {
	var from []any
	for _, st := range verification.Statuses {
		if verification.CanMove(st, o.Status) {
			from = append(from, string(st))
		}
	}
	if len(from) == 0 {
		from = []any{""} // no status moves there: a guard nothing matches
	}
	completed := sql.NullInt64{}
	if o.Status == verification.StatusCompleted {
		completed = nullMicros(o.At)
	}
	args := append([]any{o.InsurerID, o.VerificationID, string(o.Status), string(raw), string(o.Outcome.Decision), o.Outcome.Score,
		string(o.Outcome.Band), o.Outcome.Provisional, o.Outcome.PolicyVersion, micros(o.At), completed,
		nullString(o.EvidenceSHA256)}, from...)
	return `UPDATE verifications SET status = $3, outcome = $4, decision = $5, score = $6, band = $7,
		provisional = $8, policy_version = $9, updated_at = $10, completed_at = $11, evidence_sha256 = $12
		WHERE insurer_id = $1 AND id = $2 AND status IN (` + placeholders(13, len(from)) + `)`, args
}

// saveOutcome writes o (raw is its outcome as JSON) and its events when the
// verification may move to o.Status, and reports whether it did. The
// statuses it may move from are the guard of the one UPDATE.
func saveOutcome(ctx context.Context, c conn, o pipeline.OutcomeUpdate, raw []byte) (bool, error) {
	update, args := outcomeUpdateSQL(o, raw)
	res, err := c.exec(ctx, update, args...)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var status string
		err := c.row(ctx, `SELECT status FROM verifications WHERE insurer_id = $1 AND id = $2`, o.InsurerID, o.VerificationID).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return false, notFound("verification")
		}
		return false, err
	}
	for _, ev := range o.Events {
		if _, err := c.exec(ctx, `INSERT INTO outbox_events (id, insurer_id, mode, type, subject_id, payload, created_at, published_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, append(eventArgs([]outbox.Event{ev}), publishedAt(o))...); err != nil {
			return false, err
		}
	}
	if len(o.Deliveries) > 0 {
		if _, err := c.exec(ctx, insertDeliveriesSQL+valueRows(len(o.Deliveries), deliveryWidth), deliveryArgs(o.Deliveries)...); err != nil {
			return false, err
		}
	}
	return true, nil
}

// The sweeper's queries. Each states its index's whole predicate,
// the always-true bound included (updated_at > 0, poll_after IS NOT NULL,
// deadline_at > 0): that is what lets them use the partial indexes
// (TestSweeperQueriesUseTheirIndexes).
const (
	staleChecksSQL = `SELECT insurer_id, verification_id, id, status, attempts FROM checks
		WHERE (status = 'PENDING' AND updated_at > 0 AND updated_at < $1)
		   OR (status = 'AWAITING_PARTNER' AND poll_after IS NOT NULL AND poll_after < $2 AND updated_at < $1)
		ORDER BY updated_at LIMIT $3`
	overdueChecksSQL = `SELECT ch.insurer_id, ch.verification_id, ch.id, ch.status, ch.attempts
		FROM verifications v JOIN checks ch ON ch.verification_id = v.id
		WHERE v.status IN ('QUEUED', 'RUNNING', 'AWAITING_PARTNER') AND v.deadline_at > 0 AND v.deadline_at < $1
		  AND ch.status IN ('PENDING', 'AWAITING_PARTNER')
		ORDER BY v.deadline_at LIMIT $2`
	unscoredSQL = `SELECT v.insurer_id, v.id FROM verifications v
		WHERE v.status IN ('QUEUED', 'RUNNING', 'AWAITING_PARTNER') AND v.updated_at > 0 AND v.updated_at < $1
		  AND NOT EXISTS (SELECT 1 FROM checks ch WHERE ch.verification_id = v.id
			AND ch.status IN ('PENDING', 'AWAITING_PARTNER'))
		ORDER BY v.updated_at LIMIT $2`
	// The inner scan is on checks_pending_since, whose predicate it
	// repeats: the PENDING checks are few, and a dead process's among
	// them fewer; the outer one on checks_verification.
	startedBySQL = `SELECT c.insurer_id, c.verification_id, c.id, c.status, c.attempts FROM checks c
		WHERE c.status = 'PENDING' AND (c.started_by IS NULL OR c.started_by = $1 AND c.updated_at <= $2)
		  AND c.verification_id IN (SELECT d.verification_id FROM checks d
			WHERE d.status = 'PENDING' AND d.updated_at > 0 AND d.updated_at <= $2 AND d.started_by = $1)
		ORDER BY c.verification_id, c.id LIMIT $3`
	unbundledSQL = `SELECT insurer_id, id FROM verifications
		WHERE status = 'COMPLETED' AND evidence_sha256 IS NULL AND completed_at < $1
		ORDER BY completed_at LIMIT $2`
)

// StaleChecks lists, across insurers, checks whose task may be lost.
func (s *Store) StaleChecks(ctx context.Context, before, now time.Time, limit int) ([]pipeline.CheckRef, error) {
	return s.checkRefs(ctx, staleChecksSQL, micros(before), micros(now), limit)
}

// ChecksStartedBy lists, across insurers, PENDING checks last started by
// the process named proc no later than before, with the PENDING checks of
// their verifications that nobody started (the machine-readable zone's,
// and any the data-sharing rules forbid), which its run would have ended.
func (s *Store) ChecksStartedBy(ctx context.Context, proc string, before time.Time, limit int) ([]pipeline.CheckRef, error) {
	return s.checkRefs(ctx, startedBySQL, proc, micros(before), limit)
}

// OverdueChecks lists, across insurers, unanswered checks past their
// verification's deadline.
func (s *Store) OverdueChecks(ctx context.Context, now time.Time, limit int) ([]pipeline.CheckRef, error) {
	return s.checkRefs(ctx, overdueChecksSQL, micros(now), limit)
}

func (s *Store) checkRefs(ctx context.Context, query string, args ...any) ([]pipeline.CheckRef, error) {
	rows, err := s.pool().query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []pipeline.CheckRef
	for rows.Next() {
		var r pipeline.CheckRef
		var status string
		if err := rows.Scan(&r.InsurerID, &r.VerificationID, &r.CheckID, &status, &r.Attempts); err != nil {
			return nil, err
		}
		r.Status = risk.CheckStatus(status)
		out = append(out, r)
	}
	return out, rows.Err()
}

// UnscoredVerifications lists, across insurers, verifications whose checks
// are all terminal but that have no final outcome.
func (s *Store) UnscoredVerifications(ctx context.Context, before time.Time, limit int) ([]pipeline.VerificationRef, error) {
	return s.verificationRefs(ctx, unscoredSQL, micros(before), limit)
}

func (s *Store) verificationRefs(ctx context.Context, query string, args ...any) ([]pipeline.VerificationRef, error) {
	rows, err := s.pool().query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []pipeline.VerificationRef
	for rows.Next() {
		var r pipeline.VerificationRef
		if err := rows.Scan(&r.InsurerID, &r.ID); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// UnpublishedEvents lists, across insurers, events not yet published.
func (s *Store) UnpublishedEvents(ctx context.Context, before time.Time, limit int) ([]string, error) {
	return s.pool().ids(ctx, `SELECT id FROM outbox_events WHERE published_at IS NULL AND created_at < $1
		ORDER BY created_at LIMIT $2`, micros(before), limit)
}

func itoa(n int) string { return strconv.Itoa(n) }

// placeholders lists n parameters from $first: "$5, $6, $7".
func placeholders(first, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$")
		b.WriteString(strconv.Itoa(first + i))
	}
	return b.String()
}

// valueRows lists rows tuples of width parameters from $1:
// "($1, $2), ($3, $4)".
func valueRows(rows, width int) string { return valueRowsFrom(1, rows, width, nil) }

// valueRowsFrom lists rows tuples of width parameters from $first. casts
// gives, by position in a tuple, the PostgreSQL type of a parameter the
// statement does not otherwise type (a VALUES column is text unless
// told); SQLite, which has no such syntax and needs none, passes nil.
func valueRowsFrom(first, rows, width int, casts map[int]string) string {
	var b strings.Builder
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(")
		for i := range width {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("$")
			b.WriteString(strconv.Itoa(first + r*width + i))
			if t, ok := casts[i]; ok {
				b.WriteString("::")
				b.WriteString(t)
			}
		}
		b.WriteString(")")
	}
	return b.String()
}
