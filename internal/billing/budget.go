package billing

import (
	"encoding/json"
	"time"

	"github.com/borderproof/borderproof/internal/id"
	"github.com/borderproof/borderproof/internal/outbox"
)

// BudgetEvent builds the usage.budget_threshold outbox event for a
// threshold reached in a month. The ledger writes it in the transaction of
// the usage row that reached the threshold, together with a notice row
// unique per (insurer, month, threshold), so it is emitted once. Its
// payload holds ids and amounts only.
func BudgetEvent(insurerID string, month time.Time, threshold int, spend Money, b Budget, at time.Time) outbox.Event {
	month = MonthStart(month)
	payload, _ := json.Marshal(map[string]any{
		"insurerId":  insurerID,
		"month":      month.Format("2006-01"),
		"threshold":  threshold,
		"spendMinor": spend.Minor,
		"capMinor":   b.CapMinor,
		"currency":   b.Currency,
		"hard":       b.Hard,
	})
	at = at.UTC().Truncate(time.Microsecond)
	return outbox.Event{
		ID: id.NewAt(id.Event, at), InsurerID: insurerID, Mode: ModeLive, Type: outbox.UsageBudgetThreshold,
		SubjectID: insurerID, Payload: payload, CreatedAt: at,
	}
}
