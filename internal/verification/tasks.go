package verification

import (
	"encoding/json"
	"fmt"
)

// Task types, stable forever. Payloads carry ids and a version only.
const (
	TaskRun            = "verification:run"
	TaskCheckRun       = "check:run"
	TaskCheckPoll      = "check:poll"
	TaskScore          = "verification:score"
	TaskRetentionPurge = "retention:purge"
	TaskOutboxSweep    = "outbox:sweep"
)

// RunTaskID is the task id of a verification's run (TaskRun).
func RunTaskID(verificationID string) string { return verificationID + ":run" }

// CheckPayload addresses one check.
type CheckPayload struct {
	V              int    `json:"v"`
	InsurerID      string `json:"insurer_id"`
	VerificationID string `json:"verification_id"`
	CheckID        string `json:"check_id"`
}

// EncodeCheck builds a check task's payload.
func EncodeCheck(insurerID, verificationID, checkID string) []byte {
	b, _ := json.Marshal(CheckPayload{V: 1, InsurerID: insurerID, VerificationID: verificationID, CheckID: checkID})
	return b
}

// DecodeCheck reads a check task's payload.
func DecodeCheck(b []byte) (CheckPayload, error) {
	var p CheckPayload
	if err := json.Unmarshal(b, &p); err != nil || p.CheckID == "" || p.InsurerID == "" {
		return p, fmt.Errorf("bad check payload")
	}
	return p, nil
}

// VerificationPayload addresses one verification.
type VerificationPayload struct {
	V              int    `json:"v"`
	InsurerID      string `json:"insurer_id"`
	VerificationID string `json:"verification_id"`
}

// EncodeVerification builds a verification task's payload.
func EncodeVerification(insurerID, verificationID string) []byte {
	b, _ := json.Marshal(VerificationPayload{V: 1, InsurerID: insurerID, VerificationID: verificationID})
	return b
}

// DecodeVerification reads a verification task's payload.
func DecodeVerification(b []byte) (VerificationPayload, error) {
	var p VerificationPayload
	if err := json.Unmarshal(b, &p); err != nil || p.VerificationID == "" || p.InsurerID == "" {
		return p, fmt.Errorf("bad verification payload")
	}
	return p, nil
}
