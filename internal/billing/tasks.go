package billing

import (
	"encoding/json"
	"fmt"
	"time"
)

// Task types, stable forever. Both are periodic; payloads carry no
// personal data.
const (
	// TaskSync sends unsynced usage to Stripe (every minute).
	TaskSync = "billing:sync"
	// TaskReconcile compares a day of the ledger with Stripe (daily).
	TaskReconcile = "billing:reconcile"
	// TaskRollUp prices usage rows written by the check pipeline (queued
	// after each billable check, at most once a second, and every
	// RollUpEvery by the scheduler).
	TaskRollUp = "billing:rollup"
)

// RollUpEvery is the scheduler's period for TaskRollUp, the bound on how
// long a row can stay unpriced when no check queues the task.
const RollUpEvery = 10 * time.Second

// RollUpTaskID is the id of the roll-up tick of t's second: however many
// checks finish in one second, one task prices their rows.
func RollUpTaskID(t time.Time) string {
	return TaskRollUp + ":" + t.UTC().Format("20060102150405")
}

// SyncTaskID is the task id of the sync tick in t's minute: one tick per
// minute however many schedulers enqueue it.
func SyncTaskID(t time.Time) string {
	return TaskSync + ":" + t.UTC().Format("200601021504")
}

// ReconcileTaskID is the task id of the reconciliation of a day.
func ReconcileTaskID(day time.Time) string {
	return TaskReconcile + ":" + day.UTC().Format("20060102")
}

// ReconcilePayload names the day to reconcile; an empty payload means the
// previous UTC day.
type ReconcilePayload struct {
	V   int    `json:"v"`
	Day string `json:"day,omitempty"` // YYYY-MM-DD
}

// EncodeReconcile builds TaskReconcile's payload for a day.
func EncodeReconcile(day time.Time) []byte {
	b, _ := json.Marshal(ReconcilePayload{V: 1, Day: day.UTC().Format(time.DateOnly)})
	return b
}

// DecodeReconcile reads TaskReconcile's payload and returns the period it
// covers; now decides the default.
func DecodeReconcile(b []byte, now time.Time) (from, to time.Time, err error) {
	if len(b) == 0 {
		from, to = ReconcileTaskPeriod(now)
		return from, to, nil
	}
	var p ReconcilePayload
	if err := json.Unmarshal(b, &p); err != nil {
		return from, to, fmt.Errorf("bad %s payload", TaskReconcile)
	}
	if p.Day == "" {
		from, to = ReconcileTaskPeriod(now)
		return from, to, nil
	}
	d, err := ParseDay(p.Day)
	if err != nil {
		return from, to, err
	}
	return d, d.AddDate(0, 0, 1), nil
}
