package graph

import (
	"fmt"
	"strconv"

	"github.com/graphql-go/graphql/language/ast"
)

// Limits bound a query before it executes; graphql-go has none of its own.
type Limits struct {
	// MaxDepth is the deepest selection allowed outside introspection.
	MaxDepth int
	// MaxIntrospectionDepth bounds __schema/__type selections, which nest
	// ofType deeply in every standard introspection query.
	MaxIntrospectionDepth int
	// MaxCost bounds the estimated number of resolved fields: each field
	// costs one, and a list field's selection is multiplied by its page size.
	MaxCost int
	// DefaultPage is assumed for a list field without `first`.
	DefaultPage int
}

// DefaultLimits are the service's limits.
var DefaultLimits = Limits{MaxDepth: 12, MaxIntrospectionDepth: 20, MaxCost: 10000, DefaultPage: 20}

// checkComplexity measures the chosen operation, following fragments.
func checkComplexity(doc *ast.Document, opName string, vars map[string]any, l Limits) error {
	frags := map[string]*ast.FragmentDefinition{}
	var op *ast.OperationDefinition
	for _, d := range doc.Definitions {
		switch d := d.(type) {
		case *ast.FragmentDefinition:
			frags[d.Name.Value] = d
		case *ast.OperationDefinition:
			if opName == "" || (d.Name != nil && d.Name.Value == opName) {
				if op == nil {
					op = d
				}
			}
		}
	}
	if op == nil {
		return nil // validation reports it
	}
	m := measurer{frags: frags, vars: vars, l: l}
	cost, err := m.selection(op.SelectionSet, 1, false, map[string]bool{})
	if err != nil {
		return err
	}
	if cost > l.MaxCost {
		return fmt.Errorf("query cost %d exceeds the limit of %d; request fewer fields or smaller pages", cost, l.MaxCost)
	}
	return nil
}

type measurer struct {
	frags map[string]*ast.FragmentDefinition
	vars  map[string]any
	l     Limits
}

// selection returns the cost of a selection set at depth.
func (m measurer) selection(set *ast.SelectionSet, depth int, introspection bool, seen map[string]bool) (int, error) {
	if set == nil {
		return 0, nil
	}
	limit := m.l.MaxDepth
	if introspection {
		limit = m.l.MaxIntrospectionDepth
	}
	cost := 0
	for _, s := range set.Selections {
		switch s := s.(type) {
		case *ast.Field:
			if depth > limit {
				return 0, fmt.Errorf("query depth exceeds the limit of %d", limit)
			}
			name := s.Name.Value
			intro := introspection || name == "__schema" || name == "__type"
			child, err := m.selection(s.SelectionSet, depth+1, intro, seen)
			if err != nil {
				return 0, err
			}
			cost += 1 + child*m.pageSize(s)
		case *ast.InlineFragment:
			c, err := m.selection(s.SelectionSet, depth, introspection, seen)
			if err != nil {
				return 0, err
			}
			cost += c
		case *ast.FragmentSpread:
			name := s.Name.Value
			if seen[name] {
				return 0, fmt.Errorf("fragment %s spreads itself", name)
			}
			f, ok := m.frags[name]
			if !ok {
				continue
			}
			seen[name] = true
			c, err := m.selection(f.SelectionSet, depth, introspection, seen)
			delete(seen, name)
			if err != nil {
				return 0, err
			}
			cost += c
		}
		if cost > m.l.MaxCost {
			return cost, nil
		}
	}
	return cost, nil
}

// pageSize is the multiplier for a field's children: its `first` argument
// when present (a literal or a variable), else 1 for fields without paging
// arguments.
func (m measurer) pageSize(f *ast.Field) int {
	for _, a := range f.Arguments {
		if a.Name.Value != "first" && a.Name.Value != "last" {
			continue
		}
		switch v := a.Value.(type) {
		case *ast.IntValue:
			if n, err := strconv.Atoi(v.Value); err == nil && n > 0 {
				return n
			}
		case *ast.Variable:
			switch n := m.vars[v.Name.Value].(type) {
			case float64:
				if n > 0 {
					return int(n)
				}
			case int:
				if n > 0 {
					return n
				}
			}
		}
		return m.l.DefaultPage
	}
	return 1
}
