package billing

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/borderproof/borderproof/internal/obs"
)

// Metrics are billing's Prometheus collectors. Labels carry modes, meters,
// outcomes and kinds: never insurer names or personal data.
type Metrics struct {
	syncEvents       *prometheus.CounterVec
	syncRetries      *prometheus.CounterVec
	syncTooOld       *prometheus.CounterVec
	unsyncedNoCust   *prometheus.GaugeVec
	reconcileDiffs   *prometheus.GaugeVec
	reconcileRuns    *prometheus.CounterVec
	budgetRejections *prometheus.CounterVec
}

// NewMetrics registers the collectors with reg (a fresh registry in tests,
// prometheus.DefaultRegisterer in the binary). Registering twice with the
// same registerer reuses the collectors already there. A nil reg registers
// nothing.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		syncEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "borderproof", Subsystem: "billing", Name: "sync_events_total",
			Help: "Usage rows sent to Stripe as meter events, by mode and result (accepted, failed).",
		}, []string{"mode", "result"}),
		syncRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "borderproof", Subsystem: "billing", Name: "sync_retries_total",
			Help: "Meter event attempts after the first, by mode and the error kind that caused them.",
		}, []string{"mode", "kind"}),
		syncTooOld: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "borderproof", Subsystem: "billing", Name: "sync_too_old_total",
			Help: "Usage rows older than Stripe's meter event window, recorded and never sent.",
		}, []string{"mode", "meter"}),
		unsyncedNoCust: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "borderproof", Subsystem: "billing", Name: "unsynced_without_customer",
			Help: "Unsynced usage rows whose insurer has no Stripe customer in the mode.",
		}, []string{"mode"}),
		reconcileDiffs: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "borderproof", Subsystem: "billing", Name: "reconciliation_differences",
			Help: "Customer and meter pairs whose ledger and Stripe totals differed in the last reconciliation, by kind.",
		}, []string{"mode", "meter", "kind"}),
		reconcileRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "borderproof", Subsystem: "billing", Name: "reconciliation_runs_total",
			Help: "Reconciliation runs by mode and result (ok, differences, error).",
		}, []string{"mode", "result"}),
		budgetRejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "borderproof", Subsystem: "billing", Name: "budget_checks_total",
			Help: "Budget checks that did not simply pass: rejected (hard cap) or warned.",
		}, []string{"result"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.syncEvents = obs.Register(reg, m.syncEvents, &err)
	m.syncRetries = obs.Register(reg, m.syncRetries, &err)
	m.syncTooOld = obs.Register(reg, m.syncTooOld, &err)
	m.unsyncedNoCust = obs.Register(reg, m.unsyncedNoCust, &err)
	m.reconcileDiffs = obs.Register(reg, m.reconcileDiffs, &err)
	m.reconcileRuns = obs.Register(reg, m.reconcileRuns, &err)
	m.budgetRejections = obs.Register(reg, m.budgetRejections, &err)
	return m, err
}
