package webhook

import (
	"testing"

	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/tenant"
)

func TestHub(t *testing.T) {
	t.Parallel()
	h := NewHub(2)
	all, stopAll := h.Subscribe(HubFilter{InsurerID: "ins_a", Mode: tenant.Test})
	one, stopOne := h.Subscribe(HubFilter{InsurerID: "ins_a", Mode: tenant.Test, SubjectID: "ver_1"})
	defer stopOne()

	events := []outbox.Event{
		{ID: "evt_1", InsurerID: "ins_a", Mode: "TEST", SubjectID: "ver_1"},
		{ID: "evt_2", InsurerID: "ins_a", Mode: "LIVE", SubjectID: "ver_1"}, // other mode
		{ID: "evt_3", InsurerID: "ins_b", Mode: "TEST", SubjectID: "ver_1"}, // other insurer
		{ID: "evt_4", InsurerID: "ins_a", Mode: "TEST", SubjectID: "ver_2"},
		{ID: "evt_5", InsurerID: "ins_a", Mode: "TEST", SubjectID: "ver_1"}, // beyond all's buffer of 2
	}
	for _, ev := range events {
		h.Broadcast(ev) // never blocks, even with full buffers
	}
	if got := drain(all); len(got) != 2 || got[0] != "evt_1" || got[1] != "evt_4" {
		t.Fatalf("insurer subscriber: %v", got)
	}
	if got := drain(one); len(got) != 2 || got[0] != "evt_1" || got[1] != "evt_5" {
		t.Fatalf("subject subscriber: %v", got)
	}
	stopAll()
	stopAll() // idempotent
	if _, open := <-all; open {
		t.Fatal("channel open after stop")
	}
	h.Broadcast(events[0]) // no send on a closed channel
}

func drain(ch <-chan outbox.Event) []string {
	var ids []string
	for {
		select {
		case ev := <-ch:
			ids = append(ids, ev.ID)
		default:
			return ids
		}
	}
}
