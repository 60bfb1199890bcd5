package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// CheckLoopback refuses an address that is not on this machine: the
// harnesses only ever talk to loopback. It accepts URLs (http, redis,
// postgres…), host:port pairs and, for SQLite, plain file paths.
func CheckLoopback(addr string) error {
	host := addr
	if strings.HasPrefix(addr, "sqlite:") || strings.HasPrefix(addr, "file:") {
		return nil
	}
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil {
			return fmt.Errorf("cannot parse address")
		}
		host = u.Hostname()
		if host == "" {
			if q := u.Query().Get("host"); q != "" && !strings.HasPrefix(q, "/") {
				host = q
			} else if u.Scheme == "postgres" || u.Scheme == "postgresql" {
				return nil // a Unix socket
			}
		}
	} else if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	} else {
		return nil // a file path (SQLite)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("refusing %q: the harness only talks to loopback addresses", host)
}

// Client speaks GraphQL over HTTP to one server with one API key.
type Client struct {
	url string
	key string
	hc  *http.Client
	// RetryRateLimited makes a request refused with RATE_LIMITED wait for
	// its Retry-After and try again, until the context ends.
	RetryRateLimited bool
}

// NewClient builds a client for a loopback GraphQL URL; conns bounds the
// idle connections kept (set it to the concurrency).
func NewClient(graphqlURL, apiKey string, conns int) (*Client, error) {
	if err := CheckLoopback(graphqlURL); err != nil {
		return nil, err
	}
	if apiKey == "" {
		return nil, fmt.Errorf("an API key is required")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.MaxIdleConns = max(conns*2, 16)
	tr.MaxIdleConnsPerHost = max(conns*2, 16)
	return &Client{url: graphqlURL, key: apiKey, hc: &http.Client{Transport: tr, Timeout: 60 * time.Second}}, nil
}

// Close drops idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Error is a request that failed at the HTTP or GraphQL level.
type Error struct {
	Status     int
	Code       string // extensions.code of the first error, or HTTP_<status>
	Message    string
	RetryAfter time.Duration
}

func (e *Error) Error() string { return fmt.Sprintf("graphql %s: %s", e.Code, e.Message) }

// RateLimited reports whether err is a RATE_LIMITED refusal.
func RateLimited(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == "RATE_LIMITED"
}

type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

// Do sends one operation and decodes data into out (when not nil). Any
// GraphQL error makes it fail with *Error.
func (c *Client) Do(ctx context.Context, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	for {
		err := c.do(ctx, body, out)
		var e *Error
		if !c.RetryRateLimited || !errors.As(err, &e) || e.Code != "RATE_LIMITED" {
			return err
		}
		wait := max(e.RetryAfter, 100*time.Millisecond)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

func (c *Client) do(ctx context.Context, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	var r gqlResponse
	jsonErr := json.Unmarshal(raw, &r)
	if len(r.Errors) > 0 || resp.StatusCode != http.StatusOK || jsonErr != nil {
		e := &Error{Status: resp.StatusCode, Code: "HTTP_" + strconv.Itoa(resp.StatusCode), Message: http.StatusText(resp.StatusCode)}
		if len(r.Errors) > 0 {
			e.Message = r.Errors[0].Message
			if code, ok := r.Errors[0].Extensions["code"].(string); ok {
				e.Code = code
			}
		}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
			e.RetryAfter = time.Duration(s) * time.Second
		}
		return e
	}
	if out != nil {
		return json.Unmarshal(r.Data, out)
	}
	return nil
}

// Viewer runs the cheapest authenticated query.
func (c *Client) Viewer(ctx context.Context) error {
	var out struct {
		Viewer struct{ ID string } `json:"viewer"`
	}
	if err := c.Do(ctx, `query { viewer { id name mode scopes } }`, nil, &out); err != nil {
		return err
	}
	if out.Viewer.ID == "" {
		return &Error{Status: 200, Code: "EMPTY", Message: "viewer without an id"}
	}
	return nil
}

const submitMutation = `mutation Submit($input: SubmitVerificationInput!) {
  submitVerification(input: $input) { replayed verification { id status } }
}`

// Submitted is the answer to a submission.
type Submitted struct {
	ID       string
	Status   string
	Replayed bool
}

// Submit sends one submitVerification with input in the shape of
// SubmitVerificationInput.
func (c *Client) Submit(ctx context.Context, input map[string]any) (Submitted, error) {
	var out struct {
		SubmitVerification struct {
			Replayed     bool `json:"replayed"`
			Verification struct {
				ID     string `json:"id"`
				Status string `json:"status"`
			} `json:"verification"`
		} `json:"submitVerification"`
	}
	if err := c.Do(ctx, submitMutation, map[string]any{"input": input}, &out); err != nil {
		return Submitted{}, err
	}
	s := out.SubmitVerification
	return Submitted{ID: s.Verification.ID, Status: s.Verification.Status, Replayed: s.Replayed}, nil
}

// State is where a verification stands, as the API shows it.
type State struct {
	Status      string
	Decision    string
	Provisional bool
	Found       bool
}

// Terminal reports whether the status never changes again.
func (s State) Terminal() bool {
	return s.Status == "COMPLETED" || s.Status == "FAILED" || s.Status == "CANCELLED"
}

// States reads many verifications in one request (aliased fields).
func (c *Client) States(ctx context.Context, ids []string) (map[string]State, error) {
	if len(ids) == 0 {
		return map[string]State{}, nil
	}
	var q strings.Builder
	q.WriteString("query(")
	vars := map[string]any{}
	for i := range ids {
		if i > 0 {
			q.WriteString(", ")
		}
		fmt.Fprintf(&q, "$i%d: ID!", i)
		vars["i"+strconv.Itoa(i)] = ids[i]
	}
	q.WriteString(") {")
	for i := range ids {
		fmt.Fprintf(&q, " v%d: verification(id: $i%d) { status outcome { decision provisional } }", i, i)
	}
	q.WriteString(" }")
	var out map[string]*struct {
		Status  string `json:"status"`
		Outcome *struct {
			Decision    string `json:"decision"`
			Provisional bool   `json:"provisional"`
		} `json:"outcome"`
	}
	if err := c.Do(ctx, q.String(), vars, &out); err != nil {
		return nil, err
	}
	res := make(map[string]State, len(ids))
	for i, id := range ids {
		v := out["v"+strconv.Itoa(i)]
		if v == nil {
			res[id] = State{}
			continue
		}
		s := State{Status: v.Status, Found: true}
		if v.Outcome != nil {
			s.Decision, s.Provisional = v.Outcome.Decision, v.Outcome.Provisional
		}
		res[id] = s
	}
	return res, nil
}
