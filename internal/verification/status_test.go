package verification

import (
	"testing"

	"github.com/borderproof/borderproof/internal/risk"
)

func TestStatusMachine(t *testing.T) {
	allowed := map[[2]Status]bool{}
	for _, p := range [][2]Status{
		{StatusQueued, StatusQueued}, {StatusQueued, StatusRunning}, {StatusQueued, StatusAwaitingPartner},
		{StatusQueued, StatusCompleted}, {StatusQueued, StatusFailed}, {StatusQueued, StatusCancelled},
		{StatusRunning, StatusRunning}, {StatusRunning, StatusAwaitingPartner}, {StatusRunning, StatusCompleted},
		{StatusRunning, StatusFailed}, {StatusRunning, StatusCancelled},
		{StatusAwaitingPartner, StatusAwaitingPartner}, {StatusAwaitingPartner, StatusRunning},
		{StatusAwaitingPartner, StatusCompleted}, {StatusAwaitingPartner, StatusFailed}, {StatusAwaitingPartner, StatusCancelled},
	} {
		allowed[p] = true
	}
	for _, from := range Statuses {
		for _, to := range Statuses {
			if got := CanMove(from, to); got != allowed[[2]Status{from, to}] {
				t.Errorf("CanMove(%s, %s) = %v", from, to, got)
			}
		}
	}
}

func TestCheckStatusMachine(t *testing.T) {
	all := []risk.CheckStatus{risk.CheckPending, risk.CheckAwaitingPartner, risk.CheckCompleted, risk.CheckFailed, risk.CheckSkipped}
	allowed := map[[2]risk.CheckStatus]bool{}
	for _, p := range [][2]risk.CheckStatus{
		{risk.CheckPending, risk.CheckPending}, {risk.CheckPending, risk.CheckAwaitingPartner}, {risk.CheckPending, risk.CheckCompleted},
		{risk.CheckPending, risk.CheckFailed}, {risk.CheckPending, risk.CheckSkipped},
		{risk.CheckAwaitingPartner, risk.CheckAwaitingPartner}, {risk.CheckAwaitingPartner, risk.CheckCompleted},
		{risk.CheckAwaitingPartner, risk.CheckFailed}, {risk.CheckAwaitingPartner, risk.CheckSkipped},
	} {
		allowed[p] = true
	}
	for _, from := range all {
		for _, to := range all {
			if got := CanMoveCheck(from, to); got != allowed[[2]risk.CheckStatus{from, to}] {
				t.Errorf("CanMoveCheck(%s, %s) = %v", from, to, got)
			}
		}
	}
}
