package billing

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
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
	m.syncEvents = register(reg, m.syncEvents, &err)
	m.syncRetries = register(reg, m.syncRetries, &err)
	m.syncTooOld = register(reg, m.syncTooOld, &err)
	m.unsyncedNoCust = register(reg, m.unsyncedNoCust, &err)
	m.reconcileDiffs = register(reg, m.reconcileDiffs, &err)
	m.reconcileRuns = register(reg, m.reconcileRuns, &err)
	m.budgetRejections = register(reg, m.budgetRejections, &err)
	return m, err
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C, errp *error) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		if *errp == nil {
			*errp = err
		}
	}
	return c
}
