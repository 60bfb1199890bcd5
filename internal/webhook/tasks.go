package webhook

import (
	"encoding/json"
	"strconv"

	"github.com/borderproof/borderproof/internal/errs"
)

// Task types, stable forever.
const (
	// TaskDeliver makes the next attempt of one delivery.
	TaskDeliver = "webhook:deliver"
	// TaskSweep re-enqueues pending deliveries whose task was lost.
	TaskSweep = "webhook:sweep"
)

// Queue is the asynq queue of webhook tasks (queue.Critical).
const Queue = "critical"

// DeliverPayload is TaskDeliver's payload: ids only. The endpoint id lets
// the worker check the endpoint's breaker before touching the database.
type DeliverPayload struct {
	V          int    `json:"v"`
	InsurerID  string `json:"insurer_id"`
	EndpointID string `json:"endpoint_id,omitempty"`
	DeliveryID string `json:"delivery_id"`
}

// EncodeDeliver builds TaskDeliver's payload for a delivery's next attempt.
func EncodeDeliver(d Delivery) []byte {
	b, _ := json.Marshal(DeliverPayload{V: 1, InsurerID: d.InsurerID, EndpointID: d.EndpointID, DeliveryID: d.ID})
	return b
}

// DecodeDeliver reads TaskDeliver's payload.
func DecodeDeliver(b []byte) (DeliverPayload, error) {
	var p DeliverPayload
	if err := json.Unmarshal(b, &p); err != nil || p.InsurerID == "" || p.DeliveryID == "" {
		return p, errs.E(errs.Invalid, "bad %s payload", TaskDeliver)
	}
	return p, nil
}

// DeliverTaskID is the asynq task id of a delivery's next attempt: the
// delivery id for the first, then the id and the number of attempts made
// ("dlv_…:3"). Attempt counts only grow, so each attempt's task has its own
// id, and a handler can queue the next attempt while its own task (whose id
// stays taken until it finishes) is still running.
func DeliverTaskID(d Delivery) string {
	if d.Attempts == 0 {
		return d.ID
	}
	return d.ID + ":" + strconv.Itoa(d.Attempts)
}
