package graph

import (
	"context"
	"encoding/json"
	"time"

	"github.com/graphql-go/graphql"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/obs"
	"github.com/borderproof/borderproof/internal/verification"
)

func requestID(ctx context.Context) string { return obs.RequestID(ctx) }

func (b *builder) unavailable(p graphql.ResolveParams) error {
	return b.fail(p.Context, errs.E(errs.Unavailable, "this part of the API is not configured"))
}

func (b *builder) verificationQueries() graphql.Fields {
	v := b.verificationType()
	filter := graphql.NewInputObject(graphql.InputObjectConfig{
		Name: "VerificationFilter",
		Fields: graphql.InputObjectConfigFieldMap{
			"status":            {Type: b.statusEnum()},
			"decision":          {Type: b.decisionEnum()},
			"externalReference": {Type: graphql.String},
			"createdFrom":       {Type: b.dateTime(), Description: "Inclusive."},
			"createdTo":         {Type: b.dateTime(), Description: "Exclusive."},
		},
	})
	return graphql.Fields{
		"verification": {
			Type:        v,
			Description: "One verification; null for an unknown id or another insurer's (needs verifications:read).",
			Args:        graphql.FieldConfigArgument{"id": {Type: nonNull(graphql.ID)}},
			Resolve: func(p graphql.ResolveParams) (any, error) {
				if b.d.Verifications == nil {
					return nil, b.unavailable(p)
				}
				got, err := b.d.Verifications.Get(p.Context, p.Args["id"].(string))
				if errs.Is(err, errs.NotFound) {
					return nil, nil
				}
				if err != nil {
					return nil, b.fail(p.Context, err)
				}
				return verificationValue(got), nil
			},
		},
		"verifications": {
			Type:        nonNull(b.connection("Verification", v)),
			Description: "Verifications newest first, with Relay cursors (first ≤ 100).",
			Args: graphql.FieldConfigArgument{
				"first":  {Type: graphql.Int, DefaultValue: 20},
				"after":  {Type: graphql.String},
				"filter": {Type: filter},
			},
			Resolve: func(p graphql.ResolveParams) (any, error) {
				if b.d.Verifications == nil {
					return nil, b.unavailable(p)
				}
				after, err := decodeCursor(str(p.Args["after"]))
				if err != nil {
					return nil, b.fail(p.Context, err)
				}
				var f verification.Filter
				if m, ok := p.Args["filter"].(map[string]any); ok {
					f.Status = verification.Status(str(m["status"]))
					f.Decision = str(m["decision"])
					f.ExternalReference = str(m["externalReference"])
					f.CreatedFrom, _ = m["createdFrom"].(time.Time)
					f.CreatedTo, _ = m["createdTo"].(time.Time)
				}
				first, _ := p.Args["first"].(int)
				page, err := b.d.Verifications.List(p.Context, f, first, after)
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
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func (b *builder) submitInput() *graphql.InputObject {
	holder := graphql.NewInputObject(graphql.InputObjectConfig{
		Name: "PolicyholderInput",
		Fields: graphql.InputObjectConfigFieldMap{
			"givenNames":       {Type: graphql.String, Description: "Latin script, as in the document."},
			"surname":          {Type: nonNull(graphql.String)},
			"dateOfBirth":      {Type: nonNull(b.date())},
			"nationality":      {Type: nonNull(graphql.String), Description: "ISO 3166-1 alpha-3 or ICAO 9303 code."},
			"sex":              {Type: nonNull(b.sexEnum())},
			"residenceCountry": {Type: nonNull(graphql.String)},
		},
	})
	doc := graphql.NewInputObject(graphql.InputObjectConfig{
		Name: "DocumentInput",
		Fields: graphql.InputObjectConfigFieldMap{
			"type":           {Type: nonNull(b.documentTypeEnum())},
			"number":         {Type: nonNull(graphql.String)},
			"issuingCountry": {Type: nonNull(graphql.String)},
			"expiryDate":     {Type: nonNull(b.date()), Description: "A past date is accepted and scored as an expired document."},
			"mrz":            {Type: graphql.NewList(nonNull(graphql.String)), Description: "The machine-readable zone, one string per line."},
		},
	})
	policy := graphql.NewInputObject(graphql.InputObjectConfig{
		Name: "PolicyInput",
		Fields: graphql.InputObjectConfigFieldMap{
			"reference":       {Type: graphql.String},
			"product":         {Type: b.productEnum()},
			"coverageCountry": {Type: graphql.String},
			"startDate":       {Type: b.date()},
			"endDate":         {Type: b.date()},
		},
	})
	consent := graphql.NewInputObject(graphql.InputObjectConfig{
		Name: "ConsentInput",
		Fields: graphql.InputObjectConfigFieldMap{
			"reference":   {Type: nonNull(graphql.String), Description: "The insurer's record of the consent or basis."},
			"obtainedAt":  {Type: nonNull(b.dateTime())},
			"lawfulBasis": {Type: nonNull(b.lawfulBasisEnum())},
			"purposes":    {Type: listOf(b.purposeEnum())},
		},
	})
	return graphql.NewInputObject(graphql.InputObjectConfig{
		Name: "SubmitVerificationInput",
		Fields: graphql.InputObjectConfigFieldMap{
			"idempotencyKey":    {Type: graphql.String, Description: "Also accepted as the Idempotency-Key header; kept at least 24 hours."},
			"externalReference": {Type: graphql.String, Description: "The insurer's own id, filterable."},
			"policyholder":      {Type: nonNull(holder)},
			"documents":         {Type: listOf(doc)},
			"policy":            {Type: policy},
			"consent":           {Type: nonNull(consent)},
			"checks":            {Type: graphql.NewList(nonNull(b.checkTypeEnum())), Description: "Default: the insurer's settings, else every check."},
			"metadata":          {Type: graphql.String, Description: "A JSON object of at most 4 KiB. Do not put personal data here."},
		},
	})
}

func (b *builder) verificationMutations() graphql.Fields {
	v := b.verificationType()
	payload := graphql.NewObject(graphql.ObjectConfig{
		Name: "SubmitVerificationPayload",
		Fields: graphql.Fields{
			"verification": {Type: nonNull(v)},
			"replayed":     {Type: nonNull(graphql.Boolean), Description: "True when the idempotency key answered an earlier submission."},
			"warnings":     {Type: listOf(graphql.String)},
		},
	})
	return graphql.Fields{
		"submitVerification": {
			Type:        nonNull(payload),
			Description: "Submit a policyholder for verification (verifications:write). Checks run asynchronously.",
			Args:        graphql.FieldConfigArgument{"input": {Type: nonNull(b.submitInput())}},
			Resolve: func(p graphql.ResolveParams) (any, error) {
				if b.d.Verifications == nil {
					return nil, b.unavailable(p)
				}
				in, err := decodeSubmit(p.Args["input"])
				if err != nil {
					return nil, b.fail(p.Context, err)
				}
				if in.IdempotencyKey == "" {
					in.IdempotencyKey = MetaFrom(p.Context).IdempotencyKey
				}
				res, err := b.d.Verifications.Submit(p.Context, in)
				if err != nil {
					return nil, b.fail(p.Context, err)
				}
				w := res.Warnings
				if w == nil {
					w = []string{}
				}
				return map[string]any{"verification": verificationValue(res.Verification), "replayed": res.Replayed, "warnings": w}, nil
			},
		},
		"cancelVerification": {
			Type:        nonNull(v),
			Description: "Stop a verification that has not finished; open checks end SKIPPED.",
			Args:        graphql.FieldConfigArgument{"id": {Type: nonNull(graphql.ID)}},
			Resolve: func(p graphql.ResolveParams) (any, error) {
				if b.d.Verifications == nil {
					return nil, b.unavailable(p)
				}
				got, err := b.d.Verifications.Cancel(p.Context, p.Args["id"].(string))
				if err != nil {
					return nil, b.fail(p.Context, err)
				}
				return verificationValue(got), nil
			},
		},
		"eraseVerification": {
			Type:        nonNull(v),
			Description: "Crypto-shred the personal data; the outcome and billing rows stay.",
			Args:        graphql.FieldConfigArgument{"id": {Type: nonNull(graphql.ID)}, "reason": {Type: nonNull(graphql.String)}},
			Resolve: func(p graphql.ResolveParams) (any, error) {
				if b.d.Verifications == nil {
					return nil, b.unavailable(p)
				}
				got, err := b.d.Verifications.Erase(p.Context, p.Args["id"].(string), str(p.Args["reason"]), requestID(p.Context))
				if err != nil {
					return nil, b.fail(p.Context, err)
				}
				return verificationValue(got), nil
			},
		},
	}
}

// decodeSubmit turns graphql-go's coerced map into the domain input via
// JSON, which keeps the field names in one place (the input's tags).
func decodeSubmit(raw any) (verification.SubmitInput, error) {
	var in verification.SubmitInput
	m, _ := raw.(map[string]any)
	if meta, ok := m["metadata"].(string); ok {
		m["metadata"] = json.RawMessage(meta)
	}
	if c, ok := m["consent"].(map[string]any); ok {
		if t, ok := c["obtainedAt"].(time.Time); ok {
			c["obtainedAt"] = t.Format(time.RFC3339Nano)
		}
	}
	key := str(m["idempotencyKey"])
	b, err := json.Marshal(m)
	if err != nil {
		return in, errs.Wrap(err, errs.Invalid, "input could not be read")
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return in, errs.E(errs.Invalid, "input could not be read")
	}
	in.IdempotencyKey = key
	return in, nil
}
