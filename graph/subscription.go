package graph

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/graphql-go/graphql"
	"github.com/graphql-go/graphql/gqlerrors"
	"github.com/graphql-go/graphql/language/ast"
	"github.com/graphql-go/graphql/language/parser"
	"github.com/graphql-go/graphql/language/source"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/webhook"
)

// EventSource yields live events (*webhook.Hub).
type EventSource interface {
	Subscribe(f webhook.HubFilter) (<-chan outbox.Event, func())
}

// Authenticator checks an API key (*tenant.Service).
type Authenticator interface {
	Authenticate(ctx context.Context, plain string) (tenant.Principal, error)
}

type eventSourceKey struct{}

// webhookSubscriptions are the Subscription root's fields. The event
// source comes from the request context (NewSubscriptionHandler puts it
// there), so the schema needs no extra dependency.
func (b *builder) webhookSubscriptions() graphql.Fields {
	event := graphql.NewObject(graphql.ObjectConfig{
		Name:        "VerificationEvent",
		Description: "A change of a verification, as sent to webhooks: ids, statuses and outcomes, never personal data.",
		Fields: graphql.Fields{
			"eventId":        {Type: graphql.NewNonNull(graphql.ID), Resolve: eventProp(func(e outbox.Event) any { return e.ID })},
			"type":           {Type: graphql.NewNonNull(graphql.String), Description: "The event type, e.g. verification.completed.", Resolve: eventProp(func(e outbox.Event) any { return e.Type })},
			"verificationId": {Type: graphql.NewNonNull(graphql.ID), Resolve: eventProp(func(e outbox.Event) any { return e.SubjectID })},
			"occurredAt":     {Type: graphql.NewNonNull(b.dateTime()), Resolve: eventProp(func(e outbox.Event) any { return e.CreatedAt })},
			"data":           {Type: graphql.NewNonNull(graphql.String), Description: "The webhook message's data, as JSON text.", Resolve: eventProp(func(e outbox.Event) any { return string(e.Payload) })},
		},
	})
	return graphql.Fields{
		"verificationUpdated": {
			Type:        graphql.NewNonNull(event),
			Description: "Verification events of the caller's insurer and mode as they happen, of one verification when id is given (verifications:read).",
			Args:        graphql.FieldConfigArgument{"id": {Type: graphql.ID}},
			Subscribe: func(p graphql.ResolveParams) (any, error) {
				pr, err := tenant.Authorize(p.Context, tenant.ScopeVerificationsRead)
				if err != nil {
					return nil, b.fail(p.Context, err)
				}
				src, ok := p.Context.Value(eventSourceKey{}).(EventSource)
				if !ok {
					return nil, b.fail(p.Context, errs.E(errs.Unavailable, "subscriptions are served at /graphql/ws"))
				}
				events, stop := src.Subscribe(webhook.HubFilter{InsurerID: pr.Insurer.ID, Mode: pr.Mode(), SubjectID: webhookArg(p.Args, "id")})
				out := make(chan any)
				go func() {
					defer close(out)
					defer stop()
					for {
						select {
						case <-p.Context.Done():
							return
						case ev, open := <-events:
							if !open {
								return
							}
							if !strings.HasPrefix(ev.Type, "verification.") {
								continue
							}
							select {
							case out <- ev:
							case <-p.Context.Done():
								return
							}
						}
					}
				}()
				return out, nil
			},
			Resolve: func(p graphql.ResolveParams) (any, error) { return p.Source, nil },
		},
	}
}

func eventProp(f func(outbox.Event) any) graphql.FieldResolveFn {
	return func(p graphql.ResolveParams) (any, error) { return f(p.Source.(outbox.Event)), nil }
}

// Subprotocol is the GraphQL over WebSocket protocol the handler speaks
// (github.com/enisdenjo/graphql-ws, PROTOCOL.md).
const Subprotocol = "graphql-transport-ws"

// Close codes of the protocol.
const (
	closeBadRequest   websocket.StatusCode = 4400
	closeUnauthorized websocket.StatusCode = 4401
	closeForbidden    websocket.StatusCode = 4403
	closeInitTimeout  websocket.StatusCode = 4408
	closeDuplicateID  websocket.StatusCode = 4409
	closeTooManyInit  websocket.StatusCode = 4429
)

// SubscriptionConfig tunes the subscription handler.
type SubscriptionConfig struct {
	// InitTimeout bounds the wait for connection_init (default 10 s).
	InitTimeout time.Duration
	// MaxSubscriptions bounds one connection's concurrent operations
	// (default 20).
	MaxSubscriptions int
	// OriginPatterns lets browsers on these origins connect; requests
	// without an Origin header (servers) are always accepted.
	OriginPatterns []string
	// Limits are the depth and cost limits of each operation.
	Limits Limits
}

// NewSubscriptionHandler serves GraphQL subscriptions over the
// graphql-transport-ws protocol; mount it at /graphql/ws. Clients
// authenticate with the same API keys as /graphql: an
// "Authorization: Bearer <key>" header on the upgrade request, or
// {"authorization": "Bearer <key>"} as the connection_init payload.
func NewSubscriptionHandler(cfg SubscriptionConfig, schema graphql.Schema, auth Authenticator, events EventSource, log *slog.Logger) http.Handler {
	if cfg.InitTimeout <= 0 {
		cfg.InitTimeout = 10 * time.Second
	}
	if cfg.MaxSubscriptions <= 0 {
		cfg.MaxSubscriptions = 20
	}
	if cfg.Limits == (Limits{}) {
		cfg.Limits = DefaultLimits
	}
	return &subscriptionHandler{cfg: cfg, schema: schema, auth: auth, events: events, log: log}
}

type subscriptionHandler struct {
	cfg    SubscriptionConfig
	schema graphql.Schema
	auth   Authenticator
	events EventSource
	log    *slog.Logger
}

// wsMessage is one protocol message.
type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func (h *subscriptionHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:   []string{Subprotocol},
		OriginPatterns: h.cfg.OriginPatterns,
	})
	if err != nil {
		return // Accept has answered
	}
	if c.Subprotocol() != Subprotocol {
		c.Close(websocket.StatusPolicyViolation, "use the "+Subprotocol+" subprotocol")
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	s := &wsSession{h: h, c: c, ctx: ctx, headerKey: bearer(r.Header.Get("Authorization")), ops: map[string]context.CancelFunc{}}
	s.serve()
	s.wg.Wait()
}

func bearer(v string) string {
	if k, ok := strings.CutPrefix(strings.TrimSpace(v), "Bearer "); ok {
		return strings.TrimSpace(k)
	}
	return strings.TrimSpace(v)
}

// wsSession is one connection.
type wsSession struct {
	h         *subscriptionHandler
	c         *websocket.Conn
	ctx       context.Context
	headerKey string
	principal *tenant.Principal

	mu  sync.Mutex
	ops map[string]context.CancelFunc
	wg  sync.WaitGroup
}

func (s *wsSession) closeWith(code websocket.StatusCode, reason string) {
	s.c.Close(code, reason)
}

func (s *wsSession) send(m wsMessage) error {
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	return wsjson.Write(ctx, s.c, m)
}

func (s *wsSession) serve() {
	initDone := make(chan struct{})
	go func() {
		t := time.NewTimer(s.h.cfg.InitTimeout)
		defer t.Stop()
		select {
		case <-initDone:
		case <-s.ctx.Done():
		case <-t.C:
			s.closeWith(closeInitTimeout, "Connection initialisation timeout")
		}
	}()
	defer s.cancelAll()
	for {
		var m wsMessage
		if err := wsjson.Read(s.ctx, s.c, &m); err != nil {
			var ce websocket.CloseError
			if !errors.As(err, &ce) && s.ctx.Err() == nil {
				s.closeWith(closeBadRequest, "Invalid message received")
			}
			return
		}
		switch m.Type {
		case "connection_init":
			if s.principal != nil {
				s.closeWith(closeTooManyInit, "Too many initialisation requests")
				return
			}
			p, err := s.authenticate(m.Payload)
			if err != nil {
				s.closeWith(closeForbidden, "Forbidden")
				return
			}
			s.principal = &p
			close(initDone)
			if err := s.send(wsMessage{Type: "connection_ack"}); err != nil {
				return
			}
		case "ping":
			if err := s.send(wsMessage{Type: "pong"}); err != nil {
				return
			}
		case "pong":
		case "subscribe":
			if s.principal == nil {
				s.closeWith(closeUnauthorized, "Unauthorized")
				return
			}
			if m.ID == "" {
				s.closeWith(closeBadRequest, "Invalid message received")
				return
			}
			if !s.start(m) {
				return
			}
		case "complete":
			s.stop(m.ID)
		default:
			s.closeWith(closeBadRequest, "Invalid message received")
			return
		}
	}
}

func (s *wsSession) authenticate(payload json.RawMessage) (tenant.Principal, error) {
	key := s.headerKey
	if len(payload) > 0 && string(payload) != "null" {
		var p struct {
			Authorization string `json:"authorization"`
		}
		if err := json.Unmarshal(payload, &p); err == nil && p.Authorization != "" {
			key = bearer(p.Authorization)
		}
	}
	if key == "" {
		return tenant.Principal{}, errs.E(errs.Unauthenticated, "an API key is required")
	}
	return s.h.auth.Authenticate(s.ctx, key)
}

// start begins an operation; false means the connection was closed.
func (s *wsSession) start(m wsMessage) bool {
	var req Request
	if err := json.Unmarshal(m.Payload, &req); err != nil || strings.TrimSpace(req.Query) == "" {
		s.closeWith(closeBadRequest, "Invalid message received")
		return false
	}
	s.mu.Lock()
	if _, dup := s.ops[m.ID]; dup {
		s.mu.Unlock()
		s.closeWith(closeDuplicateID, "Subscriber for "+m.ID+" already exists")
		return false
	}
	if len(s.ops) >= s.h.cfg.MaxSubscriptions {
		s.mu.Unlock()
		_ = s.sendErrors(m.ID, []gqlerrors.FormattedError{{Message: "too many subscriptions on this connection"}})
		return true
	}
	ctx, cancel := context.WithCancel(s.ctx)
	s.ops[m.ID] = cancel
	s.mu.Unlock()

	if errList := s.check(req); errList != nil {
		s.finish(m.ID)
		_ = s.sendErrors(m.ID, errList)
		return true
	}
	ctx = tenant.WithPrincipal(ctx, *s.principal)
	ctx = context.WithValue(ctx, eventSourceKey{}, s.h.events)
	results := graphql.Subscribe(graphql.Params{
		Schema: s.h.schema, RequestString: req.Query, VariableValues: req.Variables,
		OperationName: req.OperationName, Context: ctx,
	})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		completed := true
		for res := range results {
			if !completed {
				continue // drain after a failed write
			}
			if res.Data == nil && len(res.Errors) > 0 {
				_ = s.sendErrors(m.ID, res.Errors)
				completed = false
				cancel()
				continue
			}
			res.Errors = withExtensions(res.Errors)
			b, _ := json.Marshal(res)
			if err := s.send(wsMessage{ID: m.ID, Type: "next", Payload: b}); err != nil {
				completed = false
				cancel()
			}
		}
		// A client-side complete removed the operation first: nothing to send.
		if s.finish(m.ID) && completed {
			_ = s.send(wsMessage{ID: m.ID, Type: "complete"})
		}
	}()
	return true
}

// check parses the operation, requires a subscription, and applies the
// depth and cost limits before anything runs.
func (s *wsSession) check(req Request) []gqlerrors.FormattedError {
	doc, err := parser.Parse(parser.ParseParams{Source: source.NewSource(&source.Source{Body: []byte(req.Query), Name: "request"})})
	if err != nil {
		return []gqlerrors.FormattedError{gqlerrors.FormatError(err)}
	}
	op, _ := operation(doc, req.OperationName)
	if op == nil || op.Operation != ast.OperationTypeSubscription {
		return []gqlerrors.FormattedError{{Message: "only subscriptions are served here; send queries and mutations to /graphql"}}
	}
	if err := checkComplexity(doc, req.OperationName, req.Variables, s.h.cfg.Limits); err != nil {
		return []gqlerrors.FormattedError{{Message: err.Error()}}
	}
	return nil
}

func (s *wsSession) sendErrors(id string, list []gqlerrors.FormattedError) error {
	b, _ := json.Marshal(withExtensions(list))
	return s.send(wsMessage{ID: id, Type: "error", Payload: b})
}

// withExtensions restores extensions (the error code) that graphql-go's
// subscription path drops when it formats a resolver's error.
func withExtensions(list []gqlerrors.FormattedError) []gqlerrors.FormattedError {
	for i, e := range list {
		var ext gqlerrors.ExtendedError
		if e.Extensions == nil && errors.As(e.OriginalError(), &ext) {
			list[i].Extensions = ext.Extensions()
		}
	}
	return list
}

// finish forgets an operation and reports whether it was still running.
func (s *wsSession) finish(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	cancel, ok := s.ops[id]
	if ok {
		cancel()
		delete(s.ops, id)
	}
	return ok
}

func (s *wsSession) stop(id string) { s.finish(id) }

func (s *wsSession) cancelAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, cancel := range s.ops {
		cancel()
		delete(s.ops, id)
	}
}
