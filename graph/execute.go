package graph

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/graphql-go/graphql"
	"github.com/graphql-go/graphql/gqlerrors"
	"github.com/graphql-go/graphql/language/ast"
	"github.com/graphql-go/graphql/language/parser"
	"github.com/graphql-go/graphql/language/source"
	"github.com/graphql-go/graphql/language/visitor"
	lru "github.com/hashicorp/golang-lru/v2"

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
	// docs holds documents that parsed and passed the schema's rules, by
	// their text: a client sends the same few operations with new
	// variables, and validation is most of the cost of a small request.
	// Only documents without a string literal are kept (see cacheable).
	docs *lru.Cache[string, *ast.Document]
}

// Cached documents: how many, and the longest text kept.
const (
	cachedDocuments   = 256
	cachedDocumentLen = 16 << 10
)

// NewExecutor builds an executor.
func NewExecutor(schema graphql.Schema, limits Limits, log *slog.Logger) *Executor {
	docs, err := lru.New[string, *ast.Document](cachedDocuments)
	if err != nil {
		panic(err) // only for a size below one
	}
	return &Executor{schema: schema, limits: limits, log: log, docs: docs}
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
	doc, valid := e.docs.Get(req.Query)
	if !valid {
		var err error
		doc, err = parser.Parse(parser.ParseParams{Source: source.NewSource(&source.Source{Body: []byte(req.Query), Name: "request"})})
		if err != nil {
			return e.rejectErrs(ctx, []gqlerrors.FormattedError{gqlerrors.FormatError(err)}, "unknown")
		}
		if !wellTyped(doc) {
			return e.reject(ctx, "every variable needs a type, as in ($id: ID!)", "unknown")
		}
	}
	op, label := operation(doc, req.OperationName)
	// Depth and cost first, on every request since they depend on the
	// variables: they need no schema and are linear, while some specified
	// rules (overlapping fields) are quadratic in a wide query.
	if err := checkComplexity(doc, req.OperationName, req.Variables, e.limits); err != nil {
		return e.reject(ctx, err.Error(), label)
	}
	if !valid {
		if vr := graphql.ValidateDocument(&e.schema, doc, graphql.SpecifiedRules); !vr.IsValid {
			return e.rejectErrs(ctx, vr.Errors, label)
		}
		if cacheable(req.Query, doc) {
			e.docs.Add(req.Query, doc)
		}
	}
	if op == nil {
		return e.reject(ctx, "unknown operation name", label)
	}
	if op.Operation == ast.OperationTypeSubscription {
		return e.reject(ctx, "subscriptions are served over WebSocket at /graphql/ws", label)
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
	e.annotateExecution(ctx, res.Errors, op, req.Variables)
	return Outcome{Result: res, Status: http.StatusOK, Operation: label, Mutation: mutation}
}

// cacheable tells whether a valid document may be kept for the next
// request with the same text: one that is not too long and spells no
// string inline. A string literal may be a name or a document number,
// personal data that must not outlive its request; such queries rarely
// repeat anyway, since the data belongs in variables.
func cacheable(query string, doc *ast.Document) bool {
	if len(query) > cachedDocumentLen {
		return false
	}
	literal := false
	visitor.Visit(doc, &visitor.VisitorOptions{Enter: func(p visitor.VisitFuncParams) (string, any) {
		if _, ok := p.Node.(*ast.StringValue); ok {
			literal = true
			return visitor.ActionBreak, nil
		}
		return visitor.ActionNoChange, nil
	}}, nil)
	return !literal
}

// wellTyped reports whether every variable definition has a complete
// type. graphql-go's parser accepts "($a:)" or "($a: ])" and its validator
// then dereferences the missing type and panics.
func wellTyped(doc *ast.Document) bool {
	var complete func(t ast.Type) bool
	complete = func(t ast.Type) bool {
		switch t := t.(type) {
		case *ast.Named:
			return t != nil && t.Name != nil
		case *ast.List:
			return t != nil && complete(t.Type)
		case *ast.NonNull:
			return t != nil && complete(t.Type)
		}
		return false
	}
	for _, d := range doc.Definitions {
		op, ok := d.(*ast.OperationDefinition)
		if !ok {
			continue
		}
		for _, v := range op.VariableDefinitions {
			if v == nil || v.Variable == nil || v.Variable.Name == nil || !complete(v.Type) {
				return false
			}
		}
	}
	return true
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
// carry their own code; variable coercion is the client's mistake; a
// request whose context ended meanwhile (the client left, the server is
// stopping) is UNAVAILABLE and no error of ours; anything else (a null in
// a non-null field) is ours.
func (e *Executor) annotateExecution(ctx context.Context, list []gqlerrors.FormattedError, op *ast.OperationDefinition, vars map[string]any) {
	for i := range list {
		if list[i].Extensions == nil {
			list[i].Extensions = map[string]any{}
		}
		if _, ok := list[i].Extensions["code"]; !ok {
			switch {
			case strings.HasPrefix(list[i].Message, "Variable \"$"):
				list[i].Extensions["code"] = "INVALID_INPUT"
				list[i].Message = e.variableMessage(list[i].Message, op, vars)
			case ctx.Err() != nil:
				// The client went away or the server is shutting down: not
				// a fault of ours, and nobody reads the answer.
				e.log.InfoContext(ctx, "request cancelled during execution", "err", ctx.Err())
				list[i].Extensions["code"] = "UNAVAILABLE"
				list[i].Message = "request cancelled"
			default:
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

// variableMessage rewrites graphql-go's variable coercion error, which
// repeats the whole value and then each bad part of it ("Variable "$input"
// got invalid value {…}.\nIn field "sex": Expected type "Sex", found "…".")
// and so would put a policyholder's details into an error string. The
// rewrite names each bad part by its path and expected type only.
func (e *Executor) variableMessage(msg string, op *ast.OperationDefinition, vars map[string]any) string {
	name, _, ok := strings.Cut(strings.TrimPrefix(msg, "Variable \"$"), "\"")
	if !ok || op == nil || !strings.Contains(msg, " got invalid value ") {
		return withoutValues(msg)
	}
	for _, def := range op.VariableDefinitions {
		if def.Variable == nil || def.Variable.Name == nil || def.Variable.Name.Value != name {
			continue
		}
		t := inputType(&e.schema, def.Type)
		if t == nil {
			break
		}
		if problems := inputProblems(vars[name], t, ""); len(problems) > 0 {
			if n := len(problems); n > maxProblems {
				problems = append(problems[:maxProblems], "and "+strconv.Itoa(n-maxProblems)+" more")
			}
			return "Variable \"$" + name + "\" has an invalid value: " + strings.Join(problems, "; ") + "."
		}
	}
	return withoutValues(msg)
}

// maxProblems bounds the parts of a value one message describes.
const maxProblems = 20

// inputType resolves a variable's declared type in the schema.
func inputType(s *graphql.Schema, t ast.Type) graphql.Input {
	switch t := t.(type) {
	case *ast.NonNull:
		if of := inputType(s, t.Type); of != nil {
			return graphql.NewNonNull(of)
		}
	case *ast.List:
		if of := inputType(s, t.Type); of != nil {
			return graphql.NewList(of)
		}
	case *ast.Named:
		if t.Name != nil {
			in, _ := s.Type(t.Name.Value).(graphql.Input)
			return in
		}
	}
	return nil
}

var graphqlName = regexp.MustCompile(`^[_A-Za-z][_0-9A-Za-z]{0,63}$`)

// inputProblems lists where and why a value does not fit an input type, by
// the rules graphql-go coerces with, naming paths and types, never values.
func inputProblems(v any, t graphql.Input, path string) []string {
	at := path
	if at == "" {
		at = "the value"
	}
	if nullish(v) {
		if nn, ok := t.(*graphql.NonNull); ok {
			return []string{at + " is required (" + nn.OfType.Name() + ")"}
		}
		return nil
	}
	switch t := t.(type) {
	case *graphql.NonNull:
		return inputProblems(v, t.OfType, path)
	case *graphql.List:
		l, ok := v.([]any)
		if !ok {
			return inputProblems(v, t.OfType, path)
		}
		var out []string
		for i, x := range l {
			out = append(out, inputProblems(x, t.OfType, path+"["+strconv.Itoa(i)+"]")...)
		}
		return out
	case *graphql.InputObject:
		m, ok := v.(map[string]any)
		if !ok {
			return []string{at + " must be an object (" + t.Name() + ")"}
		}
		fields := t.Fields()
		var out []string
		for _, k := range sortedKeys(m) {
			if _, ok := fields[k]; ok {
				continue
			}
			if graphqlName.MatchString(k) {
				out = append(out, join(path, k)+" is not a field of "+t.Name())
			} else {
				out = append(out, at+" has a field that "+t.Name()+" does not define")
			}
		}
		for _, k := range sortedKeys(fields) {
			out = append(out, inputProblems(m[k], fields[k].Type, join(path, k))...)
		}
		return out
	case *graphql.Scalar:
		if nullish(t.ParseValue(v)) {
			return []string{at + " must be a " + t.Name()}
		}
	case *graphql.Enum:
		if nullish(t.ParseValue(v)) {
			return []string{at + " must be a " + t.Name() + " value"}
		}
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// nullish is graphql-go's notion of a missing value: nil, a nil pointer or
// NaN.
func nullish(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer:
		return rv.IsNil()
	case reflect.Float32, reflect.Float64:
		return math.IsNaN(rv.Float())
	}
	return false
}

// problemLine is one genuine line of graphql-go's detail: the path, then
// what was expected, before the echoed value (", found …").
var problemLine = regexp.MustCompile(`^((?:In (?:field "[_A-Za-z][_0-9A-Za-z]*"|element #[0-9]+): )*)` +
	`(Unknown field|Expected (?:type )?"[_A-Za-z][_0-9A-Za-z]*!?"|Expected non-null value)[,.]`)

// withoutValues removes the echoed value from graphql-go's messages about
// values (variables, literal arguments, default values): it keeps the
// sentence before the value and, of the detail lines, only the path and the
// expected type. Lines of a value that itself holds line breaks match
// nothing and are dropped.
func withoutValues(msg string) string {
	for _, marker := range []string{" got invalid value ", " has invalid value ", " has invalid default value: "} {
		i := strings.Index(msg, marker)
		if i < 0 {
			continue
		}
		out := msg[:i] + " has an invalid value."
		for _, line := range strings.Split(msg[i+len(marker):], "\n")[1:] {
			if m := problemLine.FindStringSubmatch(line); m != nil {
				out += " " + m[1] + m[2] + "."
			}
		}
		return out
	}
	return msg
}
