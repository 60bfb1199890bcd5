package verification

import (
	"context"
	"strings"

	"github.com/borderproof/borderproof/internal/audit"
	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/tenant"
)

// Review decisions an underwriter records.
const (
	ReviewApprove = "APPROVE"
	ReviewDecline = "DECLINE"
)

// ReviewQueue lists completed verifications decided REVIEW and not yet
// reviewed, oldest first.
func (s *Service) ReviewQueue(ctx context.Context, first int, after string) (Page, error) {
	p, err := tenant.Authorize(ctx, tenant.ScopeVerificationsRead)
	if err != nil {
		return Page{}, err
	}
	if first <= 0 {
		first = 20
	}
	if first > MaxPage {
		return Page{}, errs.InvalidFields(errs.FieldError{Path: "first", Message: "must be at most 100"})
	}
	items, err := s.store.ReviewQueue(ctx, p.Insurer.ID, string(p.Mode()), after, first+1)
	if err != nil {
		return Page{}, err
	}
	page := Page{Items: items}
	if len(items) > first {
		page.Items, page.HasNext = items[:first], true
	}
	if n := len(page.Items); n > 0 {
		page.StartCursor, page.EndCursor = page.Items[0].ID, page.Items[n-1].ID
	}
	return page, nil
}

// ResolveReview records an underwriter's decision on a REVIEW outcome. It
// can be applied once; the change and its event commit together.
func (s *Service) ResolveReview(ctx context.Context, verificationID, decision, note string) (Verification, error) {
	p, err := tenant.Authorize(ctx, tenant.ScopeReviewsWrite)
	if err != nil {
		return Verification{}, err
	}
	var f errs.Fields
	decision = strings.ToUpper(strings.TrimSpace(decision))
	if decision != ReviewApprove && decision != ReviewDecline {
		f.Add("decision", "must be APPROVE or DECLINE")
	}
	if len([]rune(note)) > 2000 {
		f.Add("note", "must be at most 2000 characters")
	}
	if err := f.Err(); err != nil {
		return Verification{}, err
	}
	now := s.now().UTC()
	r := Review{Decision: decision, ReviewedBy: p.Key.ID, ReviewedAt: now, Note: strings.TrimSpace(note)}
	ev := s.event(p.Insurer.ID, string(p.Mode()), outbox.VerificationReviewed, verificationID, now,
		map[string]any{"reviewDecision": decision, "reviewedBy": p.Key.ID})
	v, err := s.store.ResolveReview(ctx, p.Insurer.ID, string(p.Mode()), verificationID, r, ev)
	if err != nil {
		return v, err
	}
	s.publish(ctx, ev)
	return v, nil
}

// AuditLog lists the insurer's audit entries, newest first (admin scope).
func (s *Service) AuditLog(ctx context.Context, f audit.Filter, first int, after string) ([]audit.Entry, bool, error) {
	p, err := tenant.Authorize(ctx, tenant.ScopeAdmin)
	if err != nil {
		return nil, false, err
	}
	if first <= 0 {
		first = 50
	}
	if first > MaxPage {
		return nil, false, errs.InvalidFields(errs.FieldError{Path: "first", Message: "must be at most 100"})
	}
	list, err := s.audit.AuditLog(ctx, p.Insurer.ID, f, after, first+1)
	if err != nil {
		return nil, false, err
	}
	if len(list) > first {
		return list[:first], true, nil
	}
	return list, false, nil
}
