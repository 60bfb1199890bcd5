package billing

import (
	"fmt"
	"regexp"

	"github.com/borderproof/borderproof/internal/errs"
)

// Tier is one band of a graduated price: units up to and including UpTo
// (counted from the first unit of the month) cost UnitMinor each. The last
// tier has UpTo 0: no limit.
type Tier struct {
	UpTo      int64
	UnitMinor int64
}

// Price is a meter's graduated price in a plan.
type Price struct {
	Meter Meter
	Tiers []Tier
}

// Plan is a named price list in one currency. The insurer's plan decides
// what its usage costs; a meter the plan does not price costs nothing.
type Plan struct {
	ID       string
	Name     string
	Currency string
	// Default is the plan of insurers that have no billing account.
	Default bool
	Prices  []Price
}

// Price returns the plan's price of m.
func (p Plan) Price(m Meter) (Price, bool) {
	for _, pr := range p.Prices {
		if pr.Meter == m {
			return pr, true
		}
	}
	return Price{}, false
}

// maxUnitMinor bounds a unit price so that any realistic monthly total stays
// far from int64 overflow.
const maxUnitMinor = 1_000_000_000

var (
	planIDRe   = regexp.MustCompile(`^[a-z][a-z0-9_-]{1,40}$`)
	currencyRe = regexp.MustCompile(`^[A-Z]{3}$`)
)

// Validate reports every problem, naming the field.
func (p Plan) Validate() error {
	var f errs.Fields
	if !planIDRe.MatchString(p.ID) {
		f.Add("id", "must be lower case letters, digits, '-' and '_'")
	}
	if p.Name == "" {
		f.Add("name", "required")
	}
	if !currencyRe.MatchString(p.Currency) {
		f.Add("currency", "must be an ISO 4217 code")
	}
	seen := map[Meter]bool{}
	for i, pr := range p.Prices {
		at := fmt.Sprintf("prices[%d]", i)
		if !pr.Meter.Known() {
			f.Add(at+".meter", "unknown meter")
		} else if seen[pr.Meter] {
			f.Add(at+".meter", "priced twice")
		}
		seen[pr.Meter] = true
		if err := pr.validate(); err != "" {
			f.Add(at+".tiers", "%s", err)
		}
	}
	return f.Err()
}

func (pr Price) validate() string {
	if len(pr.Tiers) == 0 {
		return "list at least one tier"
	}
	var last int64
	for i, t := range pr.Tiers {
		if t.UnitMinor < 0 || t.UnitMinor > maxUnitMinor {
			return "unit price must be between 0 and 1000000000 minor units"
		}
		final := i == len(pr.Tiers)-1
		switch {
		case final && t.UpTo != 0:
			return "the last tier must have no upper bound"
		case !final && t.UpTo <= last:
			return "upper bounds must increase"
		}
		last = t.UpTo
	}
	return ""
}

// Total is the graduated amount of the first n units of a month, in minor
// units. n ≤ 0 costs nothing.
func (pr Price) Total(n int64) int64 {
	var total, below int64
	for _, t := range pr.Tiers {
		if n <= below {
			break
		}
		upper := t.UpTo
		if upper == 0 || upper > n {
			upper = n
		}
		total += (upper - below) * t.UnitMinor
		if t.UpTo == 0 {
			break
		}
		below = t.UpTo
	}
	return total
}

// Between is the amount of units from+1 … to of a month: what quantity
// to-from costs when from units were already used. It is Total(to) -
// Total(from), so amounts recorded one row at a time add up to the monthly
// graduated total whatever the order of rows.
func (pr Price) Between(from, to int64) int64 {
	if to <= from {
		return 0
	}
	return pr.Total(to) - pr.Total(from)
}
