package bench

import (
	"time"

	"github.com/borderproof/borderproof/internal/partnersim"
)

// CleanHeavyMix is the pipeline harness's population: mostly CLEAN, a
// little of every finding, and no slow partner case (it would hold a
// verification open for days of simulated time).
func CleanHeavyMix() partnersim.Mix {
	m := partnersim.Mix{}
	for _, l := range partnersim.Labels {
		m[l] = 0.01
	}
	m[partnersim.LabelClean] = 0.91
	m[partnersim.LabelSlowCase] = 0
	return m
}

// PipelineLine is the JSON line of the pipeline harness.
type PipelineLine struct {
	Verifications        int     `json:"verifications"`
	VerificationsPerSec  float64 `json:"verifications_per_sec"`
	RawTasksPerSec       float64 `json:"raw_tasks_per_sec"`
	TasksPerVerification float64 `json:"tasks_per_verification"`
	Efficiency           float64 `json:"efficiency"`
	SubmitToOutcomeP50Ms float64 `json:"submit_to_outcome_p50_ms"`
	SubmitToOutcomeP99Ms float64 `json:"submit_to_outcome_p99_ms"`
	CostInNoopTasks      float64 `json:"cost_in_noop_tasks"`
	Lost                 int     `json:"lost"`
	DuplicateUsageRows   int     `json:"duplicate_usage_rows"`
	WebhooksExpected     int     `json:"webhooks_expected"`
	WebhooksReceived     int     `json:"webhooks_received"`
	// CPUMsPerVerification splits the processor time of (b) among the
	// service's process, PostgreSQL and Redis (Linux only).
	CPUMsPerVerification *CPUSplit `json:"cpu_ms_per_verification,omitempty"`
}

// PipelineRun is what the pipeline harness measured.
type PipelineRun struct {
	// Submitted verifications, and how many of them got an outcome.
	Submitted int
	Outcomes  int
	// Elapsed runs from the first submission to the last outcome or the
	// last webhook received, whichever came later.
	Elapsed time.Duration
	// Tasks is how many asynq tasks of the service's queues ran.
	Tasks int
	// Latencies are submit-to-outcome times of the verifications with one.
	Latencies []time.Duration
	Raw       RawResult
	// UsageAnomalies is UsageAnomalies at the end.
	UsageAnomalies int
	// WebhooksExpected are the verification.completed and .failed events
	// the run produced; WebhooksReceived the distinct ones the receiver
	// verified.
	WebhooksExpected, WebhooksReceived int
	// CPU is the processor time used during the run (SampleCPU).
	CPU CPUSample
}

// Line computes the figures: verifications/s = outcomes ÷ elapsed;
// tasks/verification = tasks ÷ outcomes; efficiency = verifications/s ×
// tasks/verification ÷ raw tasks/s (the share of asynq's ceiling the
// pipeline's own tasks reach); cost in no-op tasks = raw tasks/s ÷
// verifications/s (how many no-op tasks one verification costs in time).
func (r PipelineRun) Line() PipelineLine {
	vps := Ratio(float64(r.Outcomes), r.Elapsed.Seconds())
	tpv := Ratio(float64(r.Tasks), float64(r.Outcomes))
	raw := r.Raw.PerSec()
	s := Summarize(append([]time.Duration(nil), r.Latencies...))
	return PipelineLine{
		Verifications:        r.Submitted,
		VerificationsPerSec:  Round(vps, 2),
		RawTasksPerSec:       Round(raw, 1),
		TasksPerVerification: Round(tpv, 2),
		Efficiency:           Round(Ratio(vps*tpv, raw), 3),
		SubmitToOutcomeP50Ms: Ms(s.P50),
		SubmitToOutcomeP99Ms: Ms(s.P99),
		CostInNoopTasks:      Round(Ratio(raw, vps), 1),
		Lost:                 r.Submitted - r.Outcomes,
		DuplicateUsageRows:   r.UsageAnomalies,
		WebhooksExpected:     r.WebhooksExpected,
		WebhooksReceived:     r.WebhooksReceived,
		CPUMsPerVerification: r.CPU.PerVerification(r.Outcomes),
	}
}
