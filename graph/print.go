package graph

import (
	"fmt"
	"sort"
	"strings"

	"github.com/graphql-go/graphql"
)

// PrintSchema renders the schema as SDL, types sorted by name, so that
// graph/schema.graphql can be compared with what the code builds.
func PrintSchema(s graphql.Schema) string {
	var b strings.Builder
	b.WriteString("schema {\n  query: " + s.QueryType().Name() + "\n")
	if m := s.MutationType(); m != nil {
		b.WriteString("  mutation: " + m.Name() + "\n")
	}
	if m := s.SubscriptionType(); m != nil {
		b.WriteString("  subscription: " + m.Name() + "\n")
	}
	b.WriteString("}\n")
	tm := s.TypeMap()
	names := make([]string, 0, len(tm))
	for n := range tm {
		if strings.HasPrefix(n, "__") || builtinScalar[n] {
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b.WriteString("\n")
		printType(&b, tm[n])
	}
	return b.String()
}

var builtinScalar = map[string]bool{"String": true, "Int": true, "Float": true, "Boolean": true, "ID": true}

func printDescription(b *strings.Builder, indent, d string) {
	if d == "" {
		return
	}
	if strings.Contains(d, "\n") {
		fmt.Fprintf(b, "%s\"\"\"\n%s%s\n%s\"\"\"\n", indent, indent, strings.ReplaceAll(d, "\n", "\n"+indent), indent)
		return
	}
	fmt.Fprintf(b, "%s%q\n", indent, d)
}

func printType(b *strings.Builder, t graphql.Type) {
	printDescription(b, "", t.Description())
	switch t := t.(type) {
	case *graphql.Scalar:
		fmt.Fprintf(b, "scalar %s\n", t.Name())
	case *graphql.Enum:
		fmt.Fprintf(b, "enum %s {\n", t.Name())
		values := t.Values()
		sort.Slice(values, func(i, j int) bool { return values[i].Name < values[j].Name })
		for _, v := range values {
			printDescription(b, "  ", v.Description)
			fmt.Fprintf(b, "  %s%s\n", v.Name, deprecated(v.DeprecationReason))
		}
		b.WriteString("}\n")
	case *graphql.InputObject:
		fmt.Fprintf(b, "input %s {\n", t.Name())
		fields := t.Fields()
		for _, n := range sortedKeys(fields) {
			f := fields[n]
			printDescription(b, "  ", f.Description())
			fmt.Fprintf(b, "  %s: %s%s\n", n, f.Type.String(), defaultValue(f.DefaultValue))
		}
		b.WriteString("}\n")
	case *graphql.Object:
		impl := ""
		if ifs := t.Interfaces(); len(ifs) > 0 {
			names := make([]string, len(ifs))
			for i, x := range ifs {
				names[i] = x.Name()
			}
			impl = " implements " + strings.Join(names, " & ")
		}
		fmt.Fprintf(b, "type %s%s {\n", t.Name(), impl)
		printFields(b, t.Fields())
		b.WriteString("}\n")
	case *graphql.Interface:
		fmt.Fprintf(b, "interface %s {\n", t.Name())
		printFields(b, t.Fields())
		b.WriteString("}\n")
	case *graphql.Union:
		names := make([]string, 0)
		for _, o := range t.Types() {
			names = append(names, o.Name())
		}
		fmt.Fprintf(b, "union %s = %s\n", t.Name(), strings.Join(names, " | "))
	}
}

func printFields(b *strings.Builder, fields graphql.FieldDefinitionMap) {
	for _, n := range sortedKeys(fields) {
		f := fields[n]
		printDescription(b, "  ", f.Description)
		args := ""
		if len(f.Args) > 0 {
			parts := make([]string, len(f.Args))
			for i, a := range f.Args {
				parts[i] = a.Name() + ": " + a.Type.String() + defaultValue(a.DefaultValue)
			}
			sort.Strings(parts)
			args = "(" + strings.Join(parts, ", ") + ")"
		}
		fmt.Fprintf(b, "  %s%s: %s%s\n", n, args, f.Type.String(), deprecated(f.DeprecationReason))
	}
}

func defaultValue(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprintf(" = %v", v)
}

func deprecated(reason string) string {
	if reason == "" {
		return ""
	}
	return fmt.Sprintf(" @deprecated(reason: %q)", reason)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
