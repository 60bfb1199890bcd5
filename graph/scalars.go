package graph

import (
	"time"

	"github.com/graphql-go/graphql"
	"github.com/graphql-go/graphql/language/ast"
)

// dateTime is RFC 3339 in UTC, e.g. "2026-11-27T11:13:26Z".
func (b *builder) dateTime() *graphql.Scalar {
	if t, ok := b.types["DateTime"]; ok {
		return t.(*graphql.Scalar)
	}
	s := graphql.NewScalar(graphql.ScalarConfig{
		Name:        "DateTime",
		Description: "An instant in RFC 3339 form, in UTC (2026-11-27T11:13:26Z).",
		Serialize: func(v any) any {
			switch t := v.(type) {
			case time.Time:
				if t.IsZero() {
					return nil
				}
				return t.UTC().Format(time.RFC3339Nano)
			case *time.Time:
				if t == nil || t.IsZero() {
					return nil
				}
				return t.UTC().Format(time.RFC3339Nano)
			}
			return nil
		},
		ParseValue: func(v any) any {
			if s, ok := v.(string); ok {
				if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
					return t.UTC()
				}
			}
			return nil
		},
		ParseLiteral: func(v ast.Value) any {
			if s, ok := v.(*ast.StringValue); ok {
				if t, err := time.Parse(time.RFC3339Nano, s.Value); err == nil {
					return t.UTC()
				}
			}
			return nil
		},
	})
	b.types["DateTime"] = s
	return s
}

// date is a calendar date, "2026-11-27". Inputs stay strings so that
// validation can report a bad date with its field path instead of
// graphql-go's generic coercion error.
func (b *builder) date() *graphql.Scalar {
	if t, ok := b.types["Date"]; ok {
		return t.(*graphql.Scalar)
	}
	s := graphql.NewScalar(graphql.ScalarConfig{
		Name:        "Date",
		Description: "A calendar date in ISO 8601 form (1974-08-12).",
		Serialize: func(v any) any {
			switch t := v.(type) {
			case time.Time:
				if t.IsZero() {
					return nil
				}
				return t.Format(time.DateOnly)
			case string:
				return t
			}
			return nil
		},
		ParseValue: func(v any) any {
			if s, ok := v.(string); ok {
				return s
			}
			return nil
		},
		ParseLiteral: func(v ast.Value) any {
			if s, ok := v.(*ast.StringValue); ok {
				return s.Value
			}
			return nil
		},
	})
	b.types["Date"] = s
	return s
}
