package graph

import (
	"time"

	"github.com/graphql-go/graphql"

	"github.com/borderproof/borderproof/internal/audit"
)

func (b *builder) reviewQueries() graphql.Fields {
	v := b.verificationType()
	entry := graphql.NewObject(graphql.ObjectConfig{
		Name:        "AuditEntry",
		Description: "Who touched which personal data, and why. Append-only.",
		Fields: graphql.Fields{
			"id":             {Type: nonNull(graphql.ID)},
			"actor":          {Type: nonNull(graphql.String), Description: "An API key id, a user id or system."},
			"action":         {Type: nonNull(graphql.String)},
			"verificationId": {Type: graphql.ID},
			"purpose":        {Type: graphql.String},
			"requestId":      {Type: graphql.String},
			"detail":         {Type: nonNull(graphql.String), Description: "JSON: field names, rules and reasons; never personal values."},
			"createdAt":      {Type: nonNull(b.dateTime())},
		},
	})
	auditFilter := graphql.NewInputObject(graphql.InputObjectConfig{
		Name: "AuditFilter",
		Fields: graphql.InputObjectConfigFieldMap{
			"action":         {Type: graphql.String},
			"verificationId": {Type: graphql.ID},
			"actor":          {Type: graphql.String},
			"from":           {Type: b.dateTime()},
			"to":             {Type: b.dateTime()},
		},
	})
	return graphql.Fields{
		"reviewQueue": {
			Type:        nonNull(b.connection("Verification", v)),
			Description: "Verifications decided REVIEW and not yet reviewed, oldest first.",
			Args:        graphql.FieldConfigArgument{"first": {Type: graphql.Int, DefaultValue: 20}, "after": {Type: graphql.String}},
			Resolve: func(p graphql.ResolveParams) (any, error) {
				if b.d.Verifications == nil {
					return nil, b.unavailable(p)
				}
				after, err := decodeCursor(str(p.Args["after"]))
				if err != nil {
					return nil, b.fail(p.Context, err)
				}
				first, _ := p.Args["first"].(int)
				page, err := b.d.Verifications.ReviewQueue(p.Context, first, after)
				if err != nil {
					return nil, b.fail(p.Context, err)
				}
				items := make([]map[string]any, len(page.Items))
				for i, it := range page.Items {
					items[i] = verificationValue(it)
				}
				return connectionValue(items, func(m map[string]any) string { return m["id"].(string) }, page.HasNext), nil
			},
		},
		"auditLog": {
			Type:        nonNull(b.connection("AuditEntry", entry)),
			Description: "The insurer's audit log, newest first (admin scope).",
			Args: graphql.FieldConfigArgument{"first": {Type: graphql.Int, DefaultValue: 50}, "after": {Type: graphql.String},
				"filter": {Type: auditFilter}},
			Resolve: func(p graphql.ResolveParams) (any, error) {
				if b.d.Verifications == nil {
					return nil, b.unavailable(p)
				}
				after, err := decodeCursor(str(p.Args["after"]))
				if err != nil {
					return nil, b.fail(p.Context, err)
				}
				var f audit.Filter
				if m, ok := p.Args["filter"].(map[string]any); ok {
					f.Action, f.VerificationID, f.Actor = str(m["action"]), str(m["verificationId"]), str(m["actor"])
					f.From, _ = m["from"].(time.Time)
					f.To, _ = m["to"].(time.Time)
				}
				first, _ := p.Args["first"].(int)
				list, hasNext, err := b.d.Verifications.AuditLog(p.Context, f, first, after)
				if err != nil {
					return nil, b.fail(p.Context, err)
				}
				items := make([]map[string]any, len(list))
				for i, e := range list {
					items[i] = map[string]any{"id": e.ID, "actor": e.Actor, "action": e.Action, "verificationId": nilIfEmpty(e.VerificationID),
						"purpose": nilIfEmpty(e.Purpose), "requestId": nilIfEmpty(e.RequestID), "detail": string(e.Detail), "createdAt": e.CreatedAt}
				}
				return connectionValue(items, func(m map[string]any) string { return m["id"].(string) }, hasNext), nil
			},
		},
	}
}

func (b *builder) reviewMutations() graphql.Fields {
	return graphql.Fields{
		"resolveReview": {
			Type:        nonNull(b.verificationType()),
			Description: "Record an underwriter's decision on a REVIEW outcome (reviews:write). Applies once.",
			Args: graphql.FieldConfigArgument{
				"id":       {Type: nonNull(graphql.ID)},
				"decision": {Type: nonNull(enum(b, "ReviewDecision", "An underwriter's decision.", []string{"APPROVE", "DECLINE"}))},
				"note":     {Type: graphql.String},
			},
			Resolve: func(p graphql.ResolveParams) (any, error) {
				if b.d.Verifications == nil {
					return nil, b.unavailable(p)
				}
				v, err := b.d.Verifications.ResolveReview(p.Context, str(p.Args["id"]), str(p.Args["decision"]), str(p.Args["note"]))
				if err != nil {
					return nil, b.fail(p.Context, err)
				}
				return verificationValue(v), nil
			},
		},
	}
}
