package graph

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/graphql-go/graphql"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/webhook"
)

// keyAuth accepts two keys.
type keyAuth struct{}

func (keyAuth) Authenticate(_ context.Context, plain string) (tenant.Principal, error) {
	scopes := []tenant.Scope{tenant.ScopeVerificationsRead}
	switch plain {
	case "bp_test_a":
		return tenant.Principal{Insurer: tenant.Insurer{ID: "ins_a"}, Key: tenant.APIKey{Mode: tenant.Test, Scopes: scopes}}, nil
	case "bp_test_noscope":
		return tenant.Principal{Insurer: tenant.Insurer{ID: "ins_a"}, Key: tenant.APIKey{Mode: tenant.Test}}, nil
	}
	return tenant.Principal{}, errs.E(errs.Unauthenticated, "invalid API key")
}

func subscriptionServer(t *testing.T, hub *webhook.Hub) string {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b := &builder{d: Deps{Log: log}, types: map[string]graphql.Type{}}
	schema, err := graphql.NewSchema(graphql.SchemaConfig{
		Query:        graphql.NewObject(graphql.ObjectConfig{Name: "Query", Fields: graphql.Fields{"viewer": b.viewerField()}}),
		Subscription: graphql.NewObject(graphql.ObjectConfig{Name: "Subscription", Fields: b.webhookSubscriptions()}),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewSubscriptionHandler(SubscriptionConfig{InitTimeout: 500 * time.Millisecond}, schema, keyAuth{}, hub, log))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func dial(t *testing.T, url string, header http.Header) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{Subprotocol}, HTTPHeader: header})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func write(t *testing.T, c *websocket.Conn, m wsMessage) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := wsjson.Write(ctx, c, m); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, c *websocket.Conn) (wsMessage, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var m wsMessage
	err := wsjson.Read(ctx, c, &m)
	return m, err
}

func closeCode(err error) websocket.StatusCode {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

func TestSubscriptionVerificationUpdated(t *testing.T) {
	hub := webhook.NewHub(8)
	url := subscriptionServer(t, hub)
	c := dial(t, url, nil)
	write(t, c, wsMessage{Type: "connection_init", Payload: json.RawMessage(`{"authorization":"Bearer bp_test_a"}`)})
	if m, err := read(t, c); err != nil || m.Type != "connection_ack" {
		t.Fatalf("ack: %+v %v", m, err)
	}
	write(t, c, wsMessage{Type: "ping"})
	if m, _ := read(t, c); m.Type != "pong" {
		t.Fatalf("pong: %+v", m)
	}
	q, _ := json.Marshal(Request{Query: `subscription($id: ID) { verificationUpdated(id: $id) { eventId type verificationId data } }`,
		Variables: map[string]any{"id": "ver_1"}})
	write(t, c, wsMessage{ID: "1", Type: "subscribe", Payload: q})
	// Wait until the subscription is registered with the hub.
	deadline := time.Now().Add(5 * time.Second)
	for hub.Len() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for _, ev := range []outbox.Event{
		{ID: "evt_other_insurer", InsurerID: "ins_b", Mode: "TEST", SubjectID: "ver_1", Type: outbox.VerificationCompleted, Payload: []byte(`{}`)},
		{ID: "evt_live", InsurerID: "ins_a", Mode: "LIVE", SubjectID: "ver_1", Type: outbox.VerificationCompleted, Payload: []byte(`{}`)},
		{ID: "evt_other_subject", InsurerID: "ins_a", Mode: "TEST", SubjectID: "ver_2", Type: outbox.VerificationCompleted, Payload: []byte(`{}`)},
		{ID: "evt_1", InsurerID: "ins_a", Mode: "TEST", SubjectID: "ver_1", Type: outbox.VerificationCompleted, Payload: []byte(`{"decision":"CLEAR"}`), CreatedAt: time.Now()},
	} {
		hub.Broadcast(ev)
	}
	m, err := read(t, c)
	if err != nil || m.Type != "next" || m.ID != "1" {
		t.Fatalf("next: %+v %v", m, err)
	}
	var res struct {
		Data struct {
			VerificationUpdated struct {
				EventID, Type, VerificationID, Data string
			}
		}
	}
	if err := json.Unmarshal(m.Payload, &res); err != nil {
		t.Fatal(err)
	}
	if got := res.Data.VerificationUpdated; got.EventID != "evt_1" || got.Type != outbox.VerificationCompleted || got.VerificationID != "ver_1" || got.Data != `{"decision":"CLEAR"}` {
		t.Fatalf("event: %s", m.Payload)
	}
	// The client completes; the hub loses its subscriber.
	write(t, c, wsMessage{ID: "1", Type: "complete"})
	deadline = time.Now().Add(5 * time.Second)
	for hub.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := hub.Len(); n != 0 {
		t.Fatalf("subscribers after complete: %d", n)
	}

	// A query is refused with an error message.
	q, _ = json.Marshal(Request{Query: `{ viewer { id } }`})
	write(t, c, wsMessage{ID: "2", Type: "subscribe", Payload: q})
	if m, _ := read(t, c); m.Type != "error" || m.ID != "2" {
		t.Fatalf("query over ws: %+v", m)
	}
	// A duplicate id closes the connection.
	q, _ = json.Marshal(Request{Query: `subscription { verificationUpdated { eventId } }`})
	write(t, c, wsMessage{ID: "3", Type: "subscribe", Payload: q})
	write(t, c, wsMessage{ID: "3", Type: "subscribe", Payload: q})
	if _, err := read(t, c); closeCode(err) != closeDuplicateID {
		t.Fatalf("duplicate id: %v", err)
	}
}

func TestSubscriptionAuth(t *testing.T) {
	hub := webhook.NewHub(8)
	url := subscriptionServer(t, hub)

	// A bad key is refused with 4403.
	c := dial(t, url, nil)
	write(t, c, wsMessage{Type: "connection_init", Payload: json.RawMessage(`{"authorization":"Bearer nope"}`)})
	if _, err := read(t, c); closeCode(err) != closeForbidden {
		t.Fatalf("bad key: %v", err)
	}
	// Subscribing before connection_init is refused with 4401.
	c = dial(t, url, nil)
	q, _ := json.Marshal(Request{Query: `subscription { verificationUpdated { eventId } }`})
	write(t, c, wsMessage{ID: "1", Type: "subscribe", Payload: q})
	if _, err := read(t, c); closeCode(err) != closeUnauthorized {
		t.Fatalf("subscribe before init: %v", err)
	}
	// No connection_init in time: 4408.
	c = dial(t, url, nil)
	if _, err := read(t, c); closeCode(err) != closeInitTimeout {
		t.Fatalf("init timeout: %v", err)
	}
	// The Authorization header works too; a key without
	// verifications:read gets a FORBIDDEN error for the operation.
	c = dial(t, url, http.Header{"Authorization": {"Bearer bp_test_noscope"}})
	write(t, c, wsMessage{Type: "connection_init"})
	if m, err := read(t, c); err != nil || m.Type != "connection_ack" {
		t.Fatalf("header auth: %+v %v", m, err)
	}
	write(t, c, wsMessage{ID: "1", Type: "subscribe", Payload: q})
	m, err := read(t, c)
	if err != nil || m.Type != "error" || !strings.Contains(string(m.Payload), "FORBIDDEN") {
		t.Fatalf("without scope: %+v %v", m, err)
	}
}
