package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/borderproof/borderproof/internal/billing"
	"github.com/borderproof/borderproof/internal/errs"
)

var _ billing.Store = (*Store)(nil)

// RecordUsage writes a usage row in its own transaction; see recordUsage.
func (s *Store) RecordUsage(ctx context.Context, u billing.Usage) (billing.Recorded, error) {
	var r billing.Recorded
	err := s.tx(ctx, func(c conn) error {
		var err error
		r, err = s.recordUsage(ctx, c, u)
		return err
	})
	return r, err
}

// recordUsage writes a usage row and prices it in the caller's
// transaction (RecordUsage). A check that already has a row is a duplicate
// and changes nothing.
func (s *Store) recordUsage(ctx context.Context, c conn, u billing.Usage) (billing.Recorded, error) {
	u.OccurredAt = u.OccurredAt.UTC().Truncate(time.Microsecond)
	inserted, err := insertUsage(ctx, c, u)
	if err != nil {
		return billing.Recorded{}, err
	}
	if !inserted {
		return billing.Recorded{Usage: u, Duplicate: true}, nil
	}
	priced, events, err := s.priceUsage(ctx, c, []billing.Usage{u})
	if err != nil {
		return billing.Recorded{}, err
	}
	return billing.Recorded{Usage: priced[0], EventIDs: events}, nil
}

// insertUsage writes a usage row unpriced (priced_at NULL); false when the
// check already has one. The check pipeline calls it inside the check's
// transaction and leaves pricing to RollUpUsage: pricing updates rows
// shared by every check of an insurer (the month's running totals), and
// holding their locks until each check's commit made all of an insurer's
// checks wait on one another.
func insertUsage(ctx context.Context, c conn, u billing.Usage) (bool, error) {
	res, err := c.exec(ctx, `INSERT INTO usage_events (id, insurer_id, mode, meter, quantity, partner, partner_cost_minor,
			partner_cost_currency, verification_id, check_id, occurred_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (check_id) DO NOTHING`,
		u.ID, u.InsurerID, u.Mode, string(u.Meter), u.Quantity, u.Partner, u.PartnerCost.Minor, u.PartnerCost.Currency,
		u.VerificationID, u.CheckID, micros(u.OccurredAt.UTC().Truncate(time.Microsecond)))
	if err != nil {
		return false, fmt.Errorf("insert usage: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// insertUsages inserts several usage rows in one statement; a check that
// already has its row keeps it.
func insertUsages(ctx context.Context, c conn, us []billing.Usage) error {
	if len(us) == 0 {
		return nil
	}
	if _, err := c.exec(ctx, insertUsagesSQL(len(us)), usageArgs(us)...); err != nil {
		return fmt.Errorf("insert usage: %w", err)
	}
	return nil
}

// insertUsagesSQL inserts n usage rows, once per check.
func insertUsagesSQL(n int) string {
	return `INSERT INTO usage_events (id, insurer_id, mode, meter, quantity, partner, partner_cost_minor,
			partner_cost_currency, verification_id, check_id, occurred_at)
		VALUES ` + valueRows(n, 11) + ` ON CONFLICT (check_id) DO NOTHING`
}

func usageArgs(us []billing.Usage) []any {
	args := make([]any, 0, 11*len(us))
	for _, u := range us {
		args = append(args, u.ID, u.InsurerID, u.Mode, string(u.Meter), u.Quantity, u.Partner, u.PartnerCost.Minor, u.PartnerCost.Currency,
			u.VerificationID, u.CheckID, micros(u.OccurredAt.UTC().Truncate(time.Microsecond)))
	}
	return args
}

// RollUpUsage implements billing.Store: it prices up to limit unpriced
// usage rows, oldest first, in one transaction. On PostgreSQL concurrent
// callers take disjoint rows (SKIP LOCKED); SQLite has one writer.
func (s *Store) RollUpUsage(ctx context.Context, limit int) (int, error) {
	if limit <= 0 {
		limit = billing.RollUpBatch
	}
	lock := ""
	if s.dialect == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	n := 0
	err := s.tx(ctx, func(c conn) error {
		n = 0
		rows, err := c.query(ctx, `SELECT id, insurer_id, mode, meter, quantity, partner, partner_cost_minor,
				partner_cost_currency, verification_id, check_id, occurred_at
			FROM usage_events WHERE priced_at IS NULL ORDER BY occurred_at, id LIMIT $1`+lock, limit)
		if err != nil {
			return err
		}
		var list []billing.Usage
		for rows.Next() {
			var u billing.Usage
			var meter string
			var at int64
			if err := rows.Scan(&u.ID, &u.InsurerID, &u.Mode, &meter, &u.Quantity, &u.Partner, &u.PartnerCost.Minor,
				&u.PartnerCost.Currency, &u.VerificationID, &u.CheckID, &at); err != nil {
				rows.Close()
				return err
			}
			u.Meter, u.OccurredAt = billing.Meter(meter), fromMicros(at)
			list = append(list, u)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(list) == 0 {
			return err
		}
		if _, _, err := s.priceUsage(ctx, c, list); err != nil {
			return err
		}
		n = len(list)
		return nil
	})
	return n, err
}

// usageGroup is the rows of one running total: insurer, mode, month, meter.
type usageGroup struct {
	insurerID, mode, meter string
	month                  int64
}

// priceUsage prices inserted, unpriced rows in order: each unit gets its
// position in the month's graduated tiers from the running total of its
// meter; the monthly, daily and spend rollups grow by the rows; and each
// budget threshold the live spend newly reaches writes a
// usage.budget_threshold outbox event (returned; the sweeper publishes
// it). Shared rows are updated in a fixed order, so concurrent pricers
// cannot deadlock.
func (s *Store) priceUsage(ctx context.Context, c conn, list []billing.Usage) ([]billing.Usage, []string, error) {
	groups := map[usageGroup][]int{}
	for i, u := range list {
		g := usageGroup{u.InsurerID, u.Mode, string(u.Meter), micros(billing.MonthStart(u.OccurredAt))}
		groups[g] = append(groups[g], i)
	}
	keys := make([]usageGroup, 0, len(groups))
	for g := range groups {
		keys = append(keys, g)
	}
	slices.SortFunc(keys, func(a, b usageGroup) int {
		return cmp.Or(strings.Compare(a.insurerID, b.insurerID), strings.Compare(a.mode, b.mode),
			cmp.Compare(a.month, b.month), strings.Compare(a.meter, b.meter))
	})
	type spendKey struct {
		insurerID, mode string
		month           int64
	}
	spendAdd := map[spendKey]billing.Money{}
	lastAt := map[spendKey]time.Time{}
	type dayKey struct {
		insurerID, mode, meter, partner, costCurrency string
		day                                           int64
	}
	days := map[dayKey]*[3]int64{} // quantity, amount, partner cost
	dayCurrency := map[dayKey]string{}
	pricedAt := micros(s.now())
	for _, g := range keys {
		idx := groups[g]
		plan, price, err := s.billPriceOf(ctx, c, g.insurerID, billing.Meter(g.meter))
		if err != nil {
			return nil, nil, err
		}
		if plan.ID == "" {
			s.log.ErrorContext(ctx, "no billing plan: usage recorded at no charge", "insurer_id", g.insurerID)
		}
		var added int64
		for _, i := range idx {
			added += list[i].Quantity
		}
		var total int64
		if err := c.row(ctx, `INSERT INTO usage_monthly (insurer_id, mode, month, meter, quantity, amount_minor, currency)
			VALUES ($1, $2, $3, $4, $5, 0, $6)
			ON CONFLICT (insurer_id, mode, month, meter) DO UPDATE SET quantity = usage_monthly.quantity + excluded.quantity
			RETURNING quantity`, g.insurerID, g.mode, g.month, g.meter, added, plan.Currency).Scan(&total); err != nil {
			return nil, nil, fmt.Errorf("usage monthly: %w", err)
		}
		pos := total - added
		var amountSum int64
		// Rows priced alike (most rows of a tier) are updated together.
		byAmount := map[int64][]any{}
		var amounts []int64
		for _, i := range idx {
			u := &list[i]
			amount := price.Between(pos, pos+u.Quantity)
			pos += u.Quantity
			amountSum += amount
			u.PlanID, u.Amount = plan.ID, billing.Money{Minor: amount, Currency: plan.Currency}
			if _, ok := byAmount[amount]; !ok {
				amounts = append(amounts, amount)
			}
			byAmount[amount] = append(byAmount[amount], u.ID)
			dk := dayKey{u.InsurerID, u.Mode, string(u.Meter), u.Partner, u.PartnerCost.Currency, micros(billing.DayStart(u.OccurredAt))}
			d := days[dk]
			if d == nil {
				d = &[3]int64{}
				days[dk] = d
			}
			d[0] += u.Quantity
			d[1] += amount
			d[2] += u.PartnerCost.Minor
			dayCurrency[dk] = plan.Currency
			sk := spendKey{u.InsurerID, u.Mode, g.month}
			if u.OccurredAt.After(lastAt[sk]) {
				lastAt[sk] = u.OccurredAt
			}
		}
		for _, amount := range amounts {
			ids := byAmount[amount]
			args := append([]any{amount, plan.Currency, plan.ID, pricedAt}, ids...)
			if _, err := c.exec(ctx, `UPDATE usage_events SET amount_minor = $1, currency = $2, plan_id = $3, priced_at = $4
				WHERE id IN (`+placeholders(5, len(ids))+`)`, args...); err != nil {
				return nil, nil, err
			}
		}
		if _, err := c.exec(ctx, `UPDATE usage_monthly SET amount_minor = amount_minor + $5
			WHERE insurer_id = $1 AND mode = $2 AND month = $3 AND meter = $4`,
			g.insurerID, g.mode, g.month, g.meter, amountSum); err != nil {
			return nil, nil, err
		}
		sk := spendKey{g.insurerID, g.mode, g.month}
		m := spendAdd[sk]
		m.Minor += amountSum
		m.Currency = plan.Currency
		spendAdd[sk] = m
	}

	dayKeys := make([]dayKey, 0, len(days))
	for k := range days {
		dayKeys = append(dayKeys, k)
	}
	slices.SortFunc(dayKeys, func(a, b dayKey) int {
		return cmp.Or(strings.Compare(a.insurerID, b.insurerID), strings.Compare(a.mode, b.mode), cmp.Compare(a.day, b.day),
			strings.Compare(a.meter, b.meter), strings.Compare(a.partner, b.partner), strings.Compare(a.costCurrency, b.costCurrency))
	})
	for _, k := range dayKeys {
		d := days[k]
		if _, err := c.exec(ctx, `INSERT INTO usage_daily (insurer_id, mode, day, meter, partner, quantity, amount_minor, currency,
				partner_cost_minor, partner_cost_currency)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			ON CONFLICT (insurer_id, mode, day, meter, partner) DO UPDATE SET
				quantity = usage_daily.quantity + excluded.quantity,
				amount_minor = usage_daily.amount_minor + excluded.amount_minor,
				partner_cost_minor = usage_daily.partner_cost_minor + excluded.partner_cost_minor`,
			k.insurerID, k.mode, k.day, k.meter, k.partner, d[0], d[1], dayCurrency[k], d[2], k.costCurrency); err != nil {
			return nil, nil, fmt.Errorf("usage daily: %w", err)
		}
	}

	spendKeys := make([]spendKey, 0, len(spendAdd))
	for k := range spendAdd {
		spendKeys = append(spendKeys, k)
	}
	slices.SortFunc(spendKeys, func(a, b spendKey) int {
		return cmp.Or(strings.Compare(a.insurerID, b.insurerID), strings.Compare(a.mode, b.mode), cmp.Compare(a.month, b.month))
	})
	var eventIDs []string
	for _, k := range spendKeys {
		add := spendAdd[k]
		var spend int64
		if err := c.row(ctx, `INSERT INTO usage_spend (insurer_id, mode, month, amount_minor, currency) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (insurer_id, mode, month) DO UPDATE SET amount_minor = usage_spend.amount_minor + excluded.amount_minor
			RETURNING amount_minor`, k.insurerID, k.mode, k.month, add.Minor, add.Currency).Scan(&spend); err != nil {
			return nil, nil, fmt.Errorf("usage spend: %w", err)
		}
		if k.mode != billing.ModeLive || add.Minor == 0 {
			continue
		}
		ids, err := budgetNotices(ctx, c, k.insurerID, fromMicros(k.month), spend, add.Currency, lastAt[k])
		if err != nil {
			return nil, nil, err
		}
		eventIDs = append(eventIDs, ids...)
	}
	return list, eventIDs, nil
}

// budgetNotices writes a notice and a usage.budget_threshold event for
// each threshold of the insurer's budget that spend reaches for the first
// time in the month.
func budgetNotices(ctx context.Context, c conn, insurerID string, month time.Time, spend int64, currency string, at time.Time) ([]string, error) {
	b, err := billAccountBudget(ctx, c, insurerID)
	if err != nil || !b.Set() || b.Currency != currency {
		return nil, err
	}
	var ids []string
	for _, t := range b.Reached(spend) {
		money := billing.Money{Minor: spend, Currency: currency}
		ev := billing.BudgetEvent(insurerID, month, t, money, b, at)
		res, err := c.exec(ctx, `INSERT INTO budget_notices (insurer_id, month, threshold, event_id, spend_minor, cap_minor, currency, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (insurer_id, month, threshold) DO NOTHING`,
			insurerID, micros(month), t, ev.ID, spend, b.CapMinor, b.Currency, micros(ev.CreatedAt))
		if err != nil {
			return nil, fmt.Errorf("budget notice: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue
		}
		if _, err := c.exec(ctx, `INSERT INTO outbox_events (id, insurer_id, mode, type, subject_id, payload, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, ev.ID, ev.InsurerID, ev.Mode, ev.Type, ev.SubjectID, string(ev.Payload), micros(ev.CreatedAt)); err != nil {
			return nil, fmt.Errorf("budget event: %w", err)
		}
		ids = append(ids, ev.ID)
	}
	return ids, nil
}

// billPriceOf returns the insurer's plan (its account's, else the default)
// and the plan's price of the meter (no tiers: free).
func (s *Store) billPriceOf(ctx context.Context, c conn, insurerID string, m billing.Meter) (billing.Plan, billing.Price, error) {
	rows, err := c.query(ctx, `SELECT p.id, p.currency, pr.up_to, pr.unit_minor
		FROM billing_plans p LEFT JOIN billing_prices pr ON pr.plan_id = p.id AND pr.meter = $2
		WHERE p.id = COALESCE((SELECT a.plan_id FROM billing_accounts a WHERE a.insurer_id = $1),
		                      (SELECT d.id FROM billing_plans d WHERE d.is_default))
		ORDER BY pr.tier`, insurerID, string(m))
	if err != nil {
		return billing.Plan{}, billing.Price{}, fmt.Errorf("usage price: %w", err)
	}
	defer rows.Close()
	var plan billing.Plan
	price := billing.Price{Meter: m}
	for rows.Next() {
		var upTo, unit sql.NullInt64
		if err := rows.Scan(&plan.ID, &plan.Currency, &upTo, &unit); err != nil {
			return plan, price, err
		}
		if unit.Valid {
			price.Tiers = append(price.Tiers, billing.Tier{UpTo: upTo.Int64, UnitMinor: unit.Int64})
		}
	}
	return plan, price, rows.Err()
}

func billAccountBudget(ctx context.Context, c conn, insurerID string) (billing.Budget, error) {
	var b billing.Budget
	var capMinor sql.NullInt64
	err := c.row(ctx, `SELECT budget_cap_minor, budget_currency, budget_hard FROM billing_accounts WHERE insurer_id = $1`,
		insurerID).Scan(&capMinor, &b.Currency, &b.Hard)
	if errors.Is(err, sql.ErrNoRows) {
		return billing.Budget{}, nil
	}
	b.CapMinor = capMinor.Int64
	return b, err
}

// PutPlan implements billing.Store.
func (s *Store) PutPlan(ctx context.Context, p billing.Plan, at time.Time) error {
	if err := p.Validate(); err != nil {
		return err
	}
	return s.tx(ctx, func(c conn) error {
		if p.Default {
			if _, err := c.exec(ctx, `UPDATE billing_plans SET is_default = FALSE WHERE is_default AND id <> $1`, p.ID); err != nil {
				return err
			}
		}
		if _, err := c.exec(ctx, `INSERT INTO billing_plans (id, name, currency, is_default, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $5)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, currency = excluded.currency,
				is_default = excluded.is_default, updated_at = excluded.updated_at`,
			p.ID, p.Name, p.Currency, p.Default, micros(at)); err != nil {
			return err
		}
		if _, err := c.exec(ctx, `DELETE FROM billing_prices WHERE plan_id = $1`, p.ID); err != nil {
			return err
		}
		for _, pr := range p.Prices {
			for i, t := range pr.Tiers {
				upTo := sql.NullInt64{Int64: t.UpTo, Valid: t.UpTo > 0}
				if _, err := c.exec(ctx, `INSERT INTO billing_prices (plan_id, meter, tier, up_to, unit_minor) VALUES ($1, $2, $3, $4, $5)`,
					p.ID, string(pr.Meter), i, upTo, t.UnitMinor); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// Plan implements billing.Store.
func (s *Store) Plan(ctx context.Context, id string) (billing.Plan, error) {
	plans, err := s.billPlans(ctx, id)
	if err != nil {
		return billing.Plan{}, err
	}
	if len(plans) == 0 {
		return billing.Plan{}, notFound("plan")
	}
	return plans[0], nil
}

// Plans implements billing.Store.
func (s *Store) Plans(ctx context.Context) ([]billing.Plan, error) { return s.billPlans(ctx, "") }

func (s *Store) billPlans(ctx context.Context, id string) ([]billing.Plan, error) {
	rows, err := s.pool().query(ctx, `SELECT p.id, p.name, p.currency, p.is_default, pr.meter, pr.up_to, pr.unit_minor
		FROM billing_plans p LEFT JOIN billing_prices pr ON pr.plan_id = p.id
		WHERE $1 = '' OR p.id = $1
		ORDER BY p.id, pr.meter, pr.tier`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []billing.Plan
	for rows.Next() {
		var p billing.Plan
		var meter sql.NullString
		var upTo, unit sql.NullInt64
		if err := rows.Scan(&p.ID, &p.Name, &p.Currency, &p.Default, &meter, &upTo, &unit); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].ID != p.ID {
			out = append(out, p)
		}
		if !meter.Valid {
			continue
		}
		cur := &out[len(out)-1]
		m := billing.Meter(meter.String)
		if n := len(cur.Prices); n == 0 || cur.Prices[n-1].Meter != m {
			cur.Prices = append(cur.Prices, billing.Price{Meter: m})
		}
		pr := &cur.Prices[len(cur.Prices)-1]
		pr.Tiers = append(pr.Tiers, billing.Tier{UpTo: upTo.Int64, UnitMinor: unit.Int64})
	}
	return out, rows.Err()
}

const billAccountCols = `a.insurer_id, a.plan_id, a.stripe_customer_id, a.stripe_test_customer_id, a.budget_cap_minor,
	a.budget_currency, a.budget_hard, a.created_at, a.updated_at`

func scanBillAccount(sc interface{ Scan(...any) error }) (billing.Account, error) {
	var a billing.Account
	var live, test sql.NullString
	var capMinor sql.NullInt64
	var created, updated int64
	if err := sc.Scan(&a.InsurerID, &a.PlanID, &live, &test, &capMinor, &a.Budget.Currency, &a.Budget.Hard, &created, &updated); err != nil {
		return a, err
	}
	a.StripeCustomerID, a.StripeTestCustomerID = live.String, test.String
	a.Budget.CapMinor = capMinor.Int64
	a.CreatedAt, a.UpdatedAt = fromMicros(created), fromMicros(updated)
	return a, nil
}

// Account implements billing.Store.
func (s *Store) Account(ctx context.Context, insurerID string) (billing.Account, error) {
	a, err := scanBillAccount(s.pool().row(ctx, `SELECT `+billAccountCols+` FROM billing_accounts a WHERE a.insurer_id = $1`, insurerID))
	if !errors.Is(err, sql.ErrNoRows) {
		return a, err
	}
	a = billing.Account{InsurerID: insurerID}
	err = s.pool().row(ctx, `SELECT id FROM billing_plans WHERE is_default`).Scan(&a.PlanID)
	if errors.Is(err, sql.ErrNoRows) {
		return a, errs.E(errs.FailedPrecondition, "no default billing plan")
	}
	return a, err
}

// Accounts implements billing.Store.
func (s *Store) Accounts(ctx context.Context) ([]billing.Account, error) {
	rows, err := s.pool().query(ctx, `SELECT `+billAccountCols+` FROM billing_accounts a ORDER BY a.insurer_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []billing.Account
	for rows.Next() {
		a, err := scanBillAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// billUpsertAccount creates the insurer's account on the default plan when
// it has none, then runs set (an UPDATE of the account row).
func (s *Store) billUpsertAccount(ctx context.Context, insurerID string, at time.Time, set string, args ...any) error {
	return s.tx(ctx, func(c conn) error {
		_, err := c.exec(ctx, `INSERT INTO billing_accounts (insurer_id, plan_id, created_at, updated_at)
			SELECT $1, d.id, $2, $2 FROM billing_plans d WHERE d.is_default
			ON CONFLICT (insurer_id) DO NOTHING`, insurerID, micros(at))
		if billIsForeignKey(err) {
			return notFound("insurer")
		}
		if err != nil {
			return err
		}
		res, err := c.exec(ctx, `UPDATE billing_accounts SET `+set+`, updated_at = $2 WHERE insurer_id = $1`,
			append([]any{insurerID, micros(at)}, args...)...)
		if billIsForeignKey(err) {
			return notFound("plan")
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.E(errs.FailedPrecondition, "no default billing plan")
		}
		return nil
	})
}

// SetPlan implements billing.Store.
func (s *Store) SetPlan(ctx context.Context, insurerID, planID string, at time.Time) error {
	return s.billUpsertAccount(ctx, insurerID, at, `plan_id = $3`, planID)
}

// SetBudget implements billing.Store.
func (s *Store) SetBudget(ctx context.Context, insurerID string, b billing.Budget, at time.Time) (billing.Account, error) {
	capMinor := sql.NullInt64{Int64: b.CapMinor, Valid: b.CapMinor > 0}
	if err := s.billUpsertAccount(ctx, insurerID, at, `budget_cap_minor = $3, budget_currency = $4, budget_hard = $5`,
		capMinor, b.Currency, b.Hard); err != nil {
		return billing.Account{}, err
	}
	return s.Account(ctx, insurerID)
}

// SetStripeCustomer implements billing.Store.
func (s *Store) SetStripeCustomer(ctx context.Context, insurerID, mode, customerID string, at time.Time) error {
	col, err := billCustomerCol(mode)
	if err != nil {
		return err
	}
	return s.billUpsertAccount(ctx, insurerID, at, col+` = $3`, customerID)
}

func billCustomerCol(mode string) (string, error) {
	switch mode {
	case billing.ModeLive:
		return "stripe_customer_id", nil
	case billing.ModeTest:
		return "stripe_test_customer_id", nil
	}
	return "", errs.E(errs.Invalid, "unknown mode")
}

// BudgetState implements billing.Store: two primary-key reads.
func (s *Store) BudgetState(ctx context.Context, insurerID string, month time.Time) (billing.Budget, billing.Money, error) {
	c := s.pool()
	b, err := billAccountBudget(ctx, c, insurerID)
	if err != nil {
		return b, billing.Money{}, err
	}
	var spend billing.Money
	err = c.row(ctx, `SELECT amount_minor, currency FROM usage_spend WHERE insurer_id = $1 AND mode = $2 AND month = $3`,
		insurerID, billing.ModeLive, micros(billing.MonthStart(month))).Scan(&spend.Minor, &spend.Currency)
	if errors.Is(err, sql.ErrNoRows) {
		err = nil
	}
	return b, spend, err
}

// BudgetNotices implements billing.Store.
func (s *Store) BudgetNotices(ctx context.Context, insurerID string, month time.Time) ([]billing.Notice, error) {
	rows, err := s.pool().query(ctx, `SELECT threshold, event_id, spend_minor, cap_minor, currency, created_at
		FROM budget_notices WHERE insurer_id = $1 AND month = $2 ORDER BY threshold`, insurerID, micros(billing.MonthStart(month)))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []billing.Notice
	for rows.Next() {
		n := billing.Notice{InsurerID: insurerID, Month: billing.MonthStart(month)}
		var created int64
		if err := rows.Scan(&n.Threshold, &n.EventID, &n.Spend.Minor, &n.CapMinor, &n.Spend.Currency, &created); err != nil {
			return nil, err
		}
		n.CreatedAt = fromMicros(created)
		out = append(out, n)
	}
	return out, rows.Err()
}

// UsageDaily implements billing.Store.
func (s *Store) UsageDaily(ctx context.Context, insurerID, mode string, from, to time.Time) ([]billing.DailyRow, error) {
	const cols = `SELECT insurer_id, mode, day, meter, partner, quantity, amount_minor, currency, partner_cost_minor, partner_cost_currency
		FROM usage_daily `
	var rows *sql.Rows
	var err error
	if insurerID == "" {
		rows, err = s.pool().query(ctx, cols+`WHERE mode = $1 AND day >= $2 AND day < $3 ORDER BY insurer_id, day, meter, partner`,
			mode, micros(from), micros(to))
	} else {
		rows, err = s.pool().query(ctx, cols+`WHERE insurer_id = $1 AND mode = $2 AND day >= $3 AND day < $4 ORDER BY day, meter, partner`,
			insurerID, mode, micros(from), micros(to))
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []billing.DailyRow
	for rows.Next() {
		var r billing.DailyRow
		var day int64
		var meter string
		if err := rows.Scan(&r.InsurerID, &r.Mode, &day, &meter, &r.Partner, &r.Quantity, &r.Amount.Minor, &r.Amount.Currency,
			&r.PartnerCost.Minor, &r.PartnerCost.Currency); err != nil {
			return nil, err
		}
		r.Day, r.Meter = fromMicros(day), billing.Meter(meter)
		out = append(out, r)
	}
	return out, rows.Err()
}

const billUsageCols = `id, insurer_id, mode, meter, quantity, partner, partner_cost_minor, partner_cost_currency,
	verification_id, check_id, occurred_at, synced_at, amount_minor, currency, plan_id`

func scanBillUsage(sc interface{ Scan(...any) error }) (billing.Usage, error) {
	var u billing.Usage
	var meter string
	var occurred int64
	var synced sql.NullInt64
	if err := sc.Scan(&u.ID, &u.InsurerID, &u.Mode, &meter, &u.Quantity, &u.Partner, &u.PartnerCost.Minor, &u.PartnerCost.Currency,
		&u.VerificationID, &u.CheckID, &occurred, &synced, &u.Amount.Minor, &u.Amount.Currency, &u.PlanID); err != nil {
		return u, err
	}
	u.Meter, u.OccurredAt, u.SyncedAt = billing.Meter(meter), fromMicros(occurred), fromNullMicros(synced)
	return u, nil
}

// UsageRows implements billing.Store.
func (s *Store) UsageRows(ctx context.Context, insurerID, mode string, from, to time.Time, fn func(billing.Usage) error) error {
	rows, err := s.pool().query(ctx, `SELECT `+billUsageCols+` FROM usage_events
		WHERE insurer_id = $1 AND mode = $2 AND occurred_at >= $3 AND occurred_at < $4 ORDER BY occurred_at, id`,
		insurerID, mode, micros(from), micros(to))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		u, err := scanBillUsage(rows)
		if err != nil {
			return err
		}
		if err := fn(u); err != nil {
			return err
		}
	}
	return rows.Err()
}

// LedgerTotals implements billing.Store.
func (s *Store) LedgerTotals(ctx context.Context, insurerID, mode string, from, to time.Time) ([]billing.MeterTotal, error) {
	rows, err := s.pool().query(ctx, `SELECT meter, CAST(SUM(quantity) AS BIGINT),
			CAST(SUM(CASE WHEN synced_at IS NOT NULL THEN quantity ELSE 0 END) AS BIGINT)
		FROM usage_events WHERE insurer_id = $1 AND mode = $2 AND occurred_at >= $3 AND occurred_at < $4
		GROUP BY meter ORDER BY meter`, insurerID, mode, micros(from), micros(to))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []billing.MeterTotal
	for rows.Next() {
		var t billing.MeterTotal
		var meter string
		if err := rows.Scan(&meter, &t.Quantity, &t.Synced); err != nil {
			return nil, err
		}
		t.Meter = billing.Meter(meter)
		out = append(out, t)
	}
	return out, rows.Err()
}

// ClaimUnsynced implements billing.Store. The outer WHERE repeats the lease
// condition so that, on PostgreSQL, a row leased by a concurrent claim
// after this one's subquery ran is re-checked and skipped.
func (s *Store) ClaimUnsynced(ctx context.Context, mode string, now, leaseUntil time.Time, limit int) ([]billing.Pending, error) {
	col, err := billCustomerCol(mode)
	if err != nil {
		return nil, err
	}
	var out []billing.Pending
	err = s.tx(ctx, func(c conn) error {
		out = out[:0]
		rows, err := c.query(ctx, `UPDATE usage_events SET sync_lease_until = $3
			WHERE id IN (
				SELECT u.id FROM usage_events u JOIN billing_accounts a ON a.insurer_id = u.insurer_id AND a.`+col+` IS NOT NULL
				WHERE u.mode = $1 AND u.synced_at IS NULL AND u.sync_skipped IS NULL
				  AND (u.sync_lease_until IS NULL OR u.sync_lease_until < $2)
				ORDER BY u.occurred_at LIMIT $4)
			  AND synced_at IS NULL AND (sync_lease_until IS NULL OR sync_lease_until < $2)
			RETURNING `+billUsageCols, mode, micros(now), micros(leaseUntil), limit)
		if err != nil {
			return err
		}
		insurers := map[string]bool{}
		for rows.Next() {
			u, err := scanBillUsage(rows)
			if err != nil {
				rows.Close()
				return err
			}
			insurers[u.InsurerID] = true
			out = append(out, billing.Pending{Usage: u})
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if len(out) == 0 {
			return nil
		}
		ids := make([]any, 0, len(insurers))
		for id := range insurers {
			ids = append(ids, id)
		}
		crows, err := c.query(ctx, `SELECT insurer_id, `+col+` FROM billing_accounts WHERE insurer_id IN (`+billPlaceholders(1, len(ids))+`)`, ids...)
		if err != nil {
			return err
		}
		defer crows.Close()
		cust := map[string]string{}
		for crows.Next() {
			var ins string
			var cid sql.NullString
			if err := crows.Scan(&ins, &cid); err != nil {
				return err
			}
			cust[ins] = cid.String
		}
		if err := crows.Err(); err != nil {
			return err
		}
		for i := range out {
			out[i].StripeCustomerID = cust[out[i].Usage.InsurerID]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// RETURNING gives no order; hand rows out oldest first.
	billSortPending(out)
	return out, nil
}

func billSortPending(p []billing.Pending) {
	sort.Slice(p, func(i, j int) bool {
		a, b := p[i].Usage, p[j].Usage
		if !a.OccurredAt.Equal(b.OccurredAt) {
			return a.OccurredAt.Before(b.OccurredAt)
		}
		return a.ID < b.ID
	})
}

// MarkSynced implements billing.Store.
func (s *Store) MarkSynced(ctx context.Context, ids []string, at time.Time) error {
	return s.billUpdateIDs(ctx, `UPDATE usage_events SET synced_at = $1, sync_lease_until = NULL
		WHERE synced_at IS NULL AND id IN (%s)`, ids, micros(at))
}

// ReleaseClaims implements billing.Store.
func (s *Store) ReleaseClaims(ctx context.Context, ids []string) error {
	return s.billUpdateIDs(ctx, `UPDATE usage_events SET sync_lease_until = NULL WHERE synced_at IS NULL AND id IN (%s)`, ids)
}

// billUpdateIDs runs an UPDATE whose %s is an IN list of ids, in chunks,
// after the fixed leading arguments.
func (s *Store) billUpdateIDs(ctx context.Context, query string, ids []string, lead ...any) error {
	const chunk = 500
	for len(ids) > 0 {
		n := min(chunk, len(ids))
		args := append([]any{}, lead...)
		for _, id := range ids[:n] {
			args = append(args, id)
		}
		if _, err := s.pool().exec(ctx, fmt.Sprintf(query, billPlaceholders(len(lead)+1, n)), args...); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

func billPlaceholders(start, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", start+i)
	}
	return b.String()
}

// RecordSyncIssues implements billing.Store.
func (s *Store) RecordSyncIssues(ctx context.Context, issues []billing.SyncIssue) error {
	return s.tx(ctx, func(c conn) error {
		for _, is := range issues {
			if _, err := c.exec(ctx, `INSERT INTO billing_sync_issues (usage_id, insurer_id, mode, meter, quantity, kind, detail, occurred_at, recorded_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
				ON CONFLICT (usage_id) DO UPDATE SET kind = excluded.kind, detail = excluded.detail, recorded_at = excluded.recorded_at`,
				is.UsageID, is.InsurerID, is.Mode, string(is.Meter), is.Quantity, is.Kind, is.Detail, micros(is.OccurredAt), micros(is.RecordedAt)); err != nil {
				return err
			}
			if is.Kind == billing.IssueTooOld {
				if _, err := c.exec(ctx, `UPDATE usage_events SET sync_skipped = $2, sync_lease_until = NULL WHERE id = $1 AND synced_at IS NULL`,
					is.UsageID, is.Kind); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// SyncIssues implements billing.Store.
func (s *Store) SyncIssues(ctx context.Context, limit int) ([]billing.SyncIssue, error) {
	rows, err := s.pool().query(ctx, `SELECT usage_id, insurer_id, mode, meter, quantity, kind, detail, occurred_at, recorded_at
		FROM billing_sync_issues ORDER BY recorded_at DESC, usage_id LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []billing.SyncIssue
	for rows.Next() {
		var is billing.SyncIssue
		var meter string
		var occurred, recorded int64
		if err := rows.Scan(&is.UsageID, &is.InsurerID, &is.Mode, &meter, &is.Quantity, &is.Kind, &is.Detail, &occurred, &recorded); err != nil {
			return nil, err
		}
		is.Meter, is.OccurredAt, is.RecordedAt = billing.Meter(meter), fromMicros(occurred), fromMicros(recorded)
		out = append(out, is)
	}
	return out, rows.Err()
}

// CountUnsyncedWithoutCustomer implements billing.Store.
func (s *Store) CountUnsyncedWithoutCustomer(ctx context.Context, mode string) (int64, error) {
	col, err := billCustomerCol(mode)
	if err != nil {
		return 0, err
	}
	var n int64
	err = s.pool().row(ctx, `SELECT COUNT(*) FROM usage_events u LEFT JOIN billing_accounts a ON a.insurer_id = u.insurer_id
		WHERE u.mode = $1 AND u.synced_at IS NULL AND u.sync_skipped IS NULL AND a.`+col+` IS NULL`, mode).Scan(&n)
	return n, err
}

// SaveSyncRun implements billing.Store.
func (s *Store) SaveSyncRun(ctx context.Context, r billing.SyncRun) error {
	_, err := s.pool().exec(ctx, `INSERT INTO billing_sync_runs (id, mode, started_at, finished_at, claimed, accepted, failed, too_old, error)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		r.ID, r.Mode, micros(r.StartedAt), nullMicros(r.FinishedAt), r.Claimed, r.Accepted, r.Failed, r.TooOld, r.Error)
	return err
}

// StripeMeters implements billing.Store.
func (s *Store) StripeMeters(ctx context.Context, mode string) (map[billing.Meter]string, error) {
	rows, err := s.pool().query(ctx, `SELECT meter, stripe_meter_id FROM billing_stripe_meters WHERE mode = $1`, mode)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[billing.Meter]string{}
	for rows.Next() {
		var m, sid string
		if err := rows.Scan(&m, &sid); err != nil {
			return nil, err
		}
		out[billing.Meter(m)] = sid
	}
	return out, rows.Err()
}

// PutStripeMeter implements billing.Store.
func (s *Store) PutStripeMeter(ctx context.Context, mode string, m billing.Meter, stripeID string, at time.Time) error {
	_, err := s.pool().exec(ctx, `INSERT INTO billing_stripe_meters (mode, meter, stripe_meter_id, event_name, created_at)
		VALUES ($1, $2, $3, $2, $4)
		ON CONFLICT (mode, meter) DO UPDATE SET stripe_meter_id = excluded.stripe_meter_id`, mode, string(m), stripeID, micros(at))
	return err
}

// SaveReconciliation implements billing.Store.
func (s *Store) SaveReconciliation(ctx context.Context, r billing.ReconciliationRun) error {
	return s.tx(ctx, func(c conn) error {
		if _, err := c.exec(ctx, `INSERT INTO reconciliation_runs (id, mode, period_start, period_end, started_at, finished_at, compared, differences, error)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			r.ID, r.Mode, micros(r.From), micros(r.To), micros(r.StartedAt), nullMicros(r.FinishedAt), r.Compared, len(r.Differences), r.Error); err != nil {
			return err
		}
		for _, d := range r.Differences {
			if _, err := c.exec(ctx, `INSERT INTO reconciliation_differences (run_id, insurer_id, meter, stripe_customer_id,
					ledger_quantity, synced_quantity, stripe_quantity) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
				r.ID, d.InsurerID, string(d.Meter), d.StripeCustomerID, d.Ledger, d.Synced, d.Stripe); err != nil {
				return err
			}
		}
		return nil
	})
}

// Reconciliations implements billing.Store.
func (s *Store) Reconciliations(ctx context.Context, limit int) ([]billing.ReconciliationRun, error) {
	rows, err := s.pool().query(ctx, `SELECT id, mode, period_start, period_end, started_at, finished_at, compared, error
		FROM reconciliation_runs ORDER BY started_at DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	var out []billing.ReconciliationRun
	idx := map[string]int{}
	for rows.Next() {
		var r billing.ReconciliationRun
		var from, to, started int64
		var finished sql.NullInt64
		if err := rows.Scan(&r.ID, &r.Mode, &from, &to, &started, &finished, &r.Compared, &r.Error); err != nil {
			rows.Close()
			return nil, err
		}
		r.From, r.To, r.StartedAt, r.FinishedAt = fromMicros(from), fromMicros(to), fromMicros(started), fromNullMicros(finished)
		idx[r.ID] = len(out)
		out = append(out, r)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return out, nil
	}
	ids := make([]any, len(out))
	for i, r := range out {
		ids[i] = r.ID
	}
	drows, err := s.pool().query(ctx, `SELECT run_id, insurer_id, meter, stripe_customer_id, ledger_quantity, synced_quantity, stripe_quantity
		FROM reconciliation_differences WHERE run_id IN (`+billPlaceholders(1, len(ids))+`) ORDER BY run_id, insurer_id, meter`, ids...)
	if err != nil {
		return nil, err
	}
	defer drows.Close()
	for drows.Next() {
		var runID, meter string
		var d billing.Difference
		if err := drows.Scan(&runID, &d.InsurerID, &meter, &d.StripeCustomerID, &d.Ledger, &d.Synced, &d.Stripe); err != nil {
			return nil, err
		}
		d.Meter = billing.Meter(meter)
		r := &out[idx[runID]]
		r.Differences = append(r.Differences, d)
	}
	return out, drows.Err()
}

// SaveExport implements billing.Store.
func (s *Store) SaveExport(ctx context.Context, e billing.Export) error {
	_, err := s.pool().exec(ctx, `INSERT INTO usage_exports (id, insurer_id, mode, period_from, period_to, format, blob_key, row_count,
			byte_count, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		e.ID, e.InsurerID, e.Mode, micros(e.From), micros(e.To), e.Format, e.Key, e.Rows, e.Bytes, e.CreatedBy, micros(e.CreatedAt))
	return err
}

// billIsForeignKey reports a foreign-key violation on either backend.
func billIsForeignKey(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23503"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	return false
}
