package webhook

import (
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/tenant"
)

// Limits on endpoint input.
const (
	MaxDescriptionLen = 500
	// MaxEndpoints bounds the endpoints of one insurer in one mode.
	MaxEndpoints = 50
	// MaxPageSize bounds one page of a list.
	MaxPageSize = 100
	// MaxReplayBatch bounds how many deliveries one bulk replay restarts;
	// call again for more.
	MaxReplayBatch = 1000
)

// CreateEndpointInput creates an endpoint.
type CreateEndpointInput struct {
	InsurerID   string
	Mode        tenant.Mode
	URL         string
	Events      []string
	Description string
}

// Validate checks the input; allow is the operator's allowlist.
func (in CreateEndpointInput) Validate(allow Allowlist) error {
	var f errs.Fields
	if !in.Mode.Valid() {
		f.Add("mode", "must be LIVE or TEST")
	}
	checkURL(&f, in.URL, in.Mode, allow)
	checkEvents(&f, in.Events)
	checkDescription(&f, in.Description)
	return f.Err()
}

// UpdateEndpointInput changes an endpoint. Nil fields stay as they are;
// graphql-go drops null arguments, so clearing is explicit.
type UpdateEndpointInput struct {
	InsurerID        string
	Mode             tenant.Mode
	ID               string
	URL              *string
	Events           []string // nil: unchanged; otherwise the new, non-empty set
	Description      *string
	ClearDescription bool
	Enabled          *bool
}

// Validate checks the input; allow is the operator's allowlist.
func (in UpdateEndpointInput) Validate(allow Allowlist) error {
	var f errs.Fields
	if in.URL != nil {
		checkURL(&f, *in.URL, in.Mode, allow)
	}
	if in.Events != nil {
		checkEvents(&f, in.Events)
	}
	if in.Description != nil {
		if in.ClearDescription {
			f.Add("clearDescription", "cannot be combined with description")
		}
		checkDescription(&f, *in.Description)
	}
	return f.Err()
}

// ListEndpointsInput pages through endpoints in creation order.
type ListEndpointsInput struct {
	InsurerID string
	Mode      tenant.Mode
	First     int
	After     string // an endpoint id
}

// EndpointPage is one page of endpoints.
type EndpointPage struct {
	Endpoints   []Endpoint
	HasNextPage bool
}

// ListDeliveriesInput pages through deliveries, newest first.
type ListDeliveriesInput struct {
	InsurerID  string
	Mode       tenant.Mode
	EndpointID string
	Status     DeliveryStatus
	First      int
	After      string // a delivery id
}

// DeliveryPage is one page of deliveries.
type DeliveryPage struct {
	Deliveries  []Delivery
	HasNextPage bool
}

// ReplayInput restarts the failed deliveries of an endpoint created at or
// after Since.
type ReplayInput struct {
	InsurerID  string
	Mode       tenant.Mode
	EndpointID string
	Since      time.Time
}

func checkPage(f *errs.Fields, first int) {
	if first < 0 || first > MaxPageSize {
		f.Add("first", "must be between 0 and %d", MaxPageSize)
	}
}

func checkURL(f *errs.Fields, raw string, mode tenant.Mode, allow Allowlist) {
	if err := ValidateEndpointURL(raw, mode == tenant.Live, allow); err != nil {
		msg := "is not a valid endpoint URL"
		if e, ok := errs.As(err); ok && e.Msg != "" {
			msg = e.Msg
		}
		f.Add("url", "%s", msg)
	}
}

func checkEvents(f *errs.Fields, events []string) {
	if len(events) == 0 {
		f.Add("events", "must name at least one event type")
		return
	}
	for i, ev := range events {
		if !slices.Contains(outbox.Types, ev) {
			f.Add(fmt.Sprintf("events[%d]", i), "is not a known event type")
		}
	}
}

func checkDescription(f *errs.Fields, d string) {
	if !utf8.ValidString(d) {
		f.Add("description", "must be valid UTF-8")
	} else if utf8.RuneCountInString(d) > MaxDescriptionLen {
		f.Add("description", "must be at most %d characters", MaxDescriptionLen)
	}
}

// normalizeEvents returns the sorted, deduplicated event types.
func normalizeEvents(events []string) []string {
	out := slices.Clone(events)
	slices.Sort(out)
	return slices.Compact(out)
}
