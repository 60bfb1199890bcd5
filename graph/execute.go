package graph

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"strings"

	"github.com/graphql-go/graphql"
	"github.com/graphql-go/graphql/gqlerrors"
	"github.com/graphql-go/graphql/language/ast"
	"github.com/graphql-go/graphql/language/parser"
	"github.com/graphql-go/graphql/language/source"

	"github.com/borderproof/borderproof/internal/obs"
)

// Request is one GraphQL request.
type Request struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
}

// Executor runs requests against the schema with the service's limits.
type Executor struct {
	schema graphql.Schema
	limits Limits
	log    *slog.Logger
}

// NewExecutor builds an executor.
func NewExecutor(schema graphql.Schema, limits Limits, log *slog.Logger) *Executor {
	return &Executor{schema: schema, limits: limits, log: log}
}

// Outcome is a finished request: the result, the HTTP status to send and a
// label naming the operation for metrics and logs (its kind and root
// fields, never client-chosen text).
type Outcome struct {
	Result    *graphql.Result
	Status    int
	Operation string
	Mutation  bool
}

// Execute parses, validates (the specified rules plus depth and cost limits)
// and only then executes. Requests that fail before execution answer 400.
// readOnly refuses mutations (GET requests).
func (e *Executor) Execute(ctx context.Context, req Request, readOnly bool) Outcome {
	if strings.TrimSpace(req.Query) == "" {
		return e.reject(ctx, "a query is required", "unknown")
	}
	doc, err := parser.Parse(parser.ParseParams{Source: source.NewSource(&source.Source{Body: []byte(req.Query), Name: "request"})})
	if err != nil {
		return e.rejectErrs(ctx, []gqlerrors.FormattedError{gqlerrors.FormatError(err)}, "unknown")
	}
	op, label := operation(doc, req.OperationName)
	// Depth and cost first: they need no schema and are linear, while some
	// specified rules (overlapping fields) are quadratic in a wide query.
	if err := checkComplexity(doc, req.OperationName, req.Variables, e.limits); err != nil {
		return e.reject(ctx, err.Error(), label)
	}
	if vr := graphql.ValidateDocument(&e.schema, doc, graphql.SpecifiedRules); !vr.IsValid {
		return e.rejectErrs(ctx, vr.Errors, label)
	}
	if op == nil {
		return e.reject(ctx, "unknown operation name", label)
	}
	mutation := op.Operation == ast.OperationTypeMutation
	if readOnly && mutation {
		o := e.reject(ctx, "mutations must be sent with POST", label)
		o.Status = http.StatusMethodNotAllowed
		return o
	}
	res := graphql.Execute(graphql.ExecuteParams{
		Schema:        e.schema,
		AST:           doc,
		OperationName: req.OperationName,
		Args:          req.Variables,
		Context:       withLoaders(ctx),
	})
	e.annotateExecution(ctx, res.Errors)
	return Outcome{Result: res, Status: http.StatusOK, Operation: label, Mutation: mutation}
}

// annotate gives every error a code and the request id; errors graphql-go
// raises itself (variable coercion, non-null violations) carry none.
func (e *Executor) annotate(ctx context.Context, list []gqlerrors.FormattedError) {
	for i := range list {
		if list[i].Extensions == nil {
			list[i].Extensions = map[string]any{}
		}
		if _, ok := list[i].Extensions["code"]; !ok {
			list[i].Extensions["code"] = "INVALID_INPUT"
			list[i].Message = withoutValues(list[i].Message)
		}
		list[i].Extensions["requestId"] = obs.RequestID(ctx)
	}
}

// annotateExecution codes errors raised during execution: resolver errors
// carry their own code; variable coercion is the client's mistake; anything
// else (a null in a non-null field) is ours.
func (e *Executor) annotateExecution(ctx context.Context, list []gqlerrors.FormattedError) {
	for i := range list {
		if list[i].Extensions == nil {
			list[i].Extensions = map[string]any{}
		}
		if _, ok := list[i].Extensions["code"]; !ok {
			if strings.HasPrefix(list[i].Message, "Variable \"$") {
				list[i].Extensions["code"] = "INVALID_INPUT"
				list[i].Message = withoutValues(list[i].Message)
			} else {
				e.log.ErrorContext(ctx, "execution error", "err", list[i].Message)
				list[i].Extensions["code"] = "INTERNAL"
				list[i].Message = "internal error"
			}
		}
		list[i].Extensions["requestId"] = obs.RequestID(ctx)
	}
}

func (e *Executor) reject(ctx context.Context, msg, label string) Outcome {
	return e.rejectErrs(ctx, []gqlerrors.FormattedError{{Message: msg}}, label)
}

func (e *Executor) rejectErrs(ctx context.Context, list []gqlerrors.FormattedError, label string) Outcome {
	e.annotate(ctx, list)
	return Outcome{Result: &graphql.Result{Errors: list}, Status: http.StatusBadRequest, Operation: label}
}

// operation finds the operation to run and names it by kind and root
// fields, e.g. "query:verification,viewer".
func operation(doc *ast.Document, name string) (*ast.OperationDefinition, string) {
	var op *ast.OperationDefinition
	n := 0
	for _, d := range doc.Definitions {
		if o, ok := d.(*ast.OperationDefinition); ok {
			n++
			if (name == "" && op == nil) || (o.Name != nil && o.Name.Value == name) {
				op = o
			}
		}
	}
	if op == nil || (name == "" && n > 1) {
		return nil, "unknown"
	}
	var fields []string
	seen := map[string]bool{}
	if op.SelectionSet != nil {
		for _, s := range op.SelectionSet.Selections {
			if f, ok := s.(*ast.Field); ok && !seen[f.Name.Value] {
				seen[f.Name.Value] = true
				fields = append(fields, f.Name.Value)
			}
		}
	}
	// One root field names the operation; more are marked with "+" so the
	// label set stays as small as the schema.
	sort.Strings(fields)
	label := op.Operation + ":" + strings.Join(fields[:min(1, len(fields))], "")
	if len(fields) > 1 {
		label += "+"
	}
	return op, label
}

// withoutValues removes the echoed input from graphql-go's coercion errors
// ("Variable "$input" got invalid value {…}.\nIn field …"), which would
// otherwise put a policyholder's details into an error string.
func withoutValues(msg string) string {
	for _, marker := range []string{" got invalid value ", " has invalid value "} {
		i := strings.Index(msg, marker)
		if i < 0 {
			continue
		}
		rest := msg[i+len(marker):]
		detail := ""
		if j := strings.Index(rest, ".\n"); j >= 0 {
			detail = " " + strings.ReplaceAll(rest[j+2:], "\n", " ")
		}
		return msg[:i] + " has an invalid value." + detail
	}
	return msg
}
