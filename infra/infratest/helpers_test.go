package infratest

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// root is the repository root, two levels above this package.
func root(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(abs, "go.mod")); err != nil {
		t.Fatalf("repository root not found from %s: %v", abs, err)
	}
	return abs
}

// path joins parts under the repository root.
func path(t *testing.T, parts ...string) string {
	t.Helper()
	return filepath.Join(append([]string{root(t)}, parts...)...)
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// yamlDocs decodes every document of a (multi-document) YAML file into
// generic values. Empty documents are skipped.
func yamlDocs(t *testing.T, p string) []any {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(readFile(t, p)))
	var docs []any
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", rel(t, p), err)
		}
		if v != nil {
			docs = append(docs, v)
		}
	}
	return docs
}

func rel(t *testing.T, p string) string {
	r, err := filepath.Rel(root(t), p)
	if err != nil {
		return p
	}
	return r
}

// filesUnder lists files under dir whose names end in one of exts.
func filesUnder(t *testing.T, dir string, exts ...string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		for _, e := range exts {
			if strings.HasSuffix(p, e) {
				out = append(out, p)
				break
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// obj is a decoded YAML mapping with typed accessors that answer the zero
// value for a missing or mistyped key.
type obj map[string]any

func asObj(v any) obj {
	m, _ := v.(map[string]any)
	return m
}

func (o obj) obj(k string) obj      { return asObj(o[k]) }
func (o obj) str(k string) string   { s, _ := o[k].(string); return s }
func (o obj) list(k string) []any   { l, _ := o[k].([]any); return l }
func (o obj) has(k string) bool     { _, ok := o[k]; return ok }
func (o obj) boolean(k string) bool { b, _ := o[k].(bool); return b }

// at walks a dotted path of mapping keys.
func (o obj) at(keys ...string) obj {
	cur := o
	for _, k := range keys {
		cur = cur.obj(k)
	}
	return cur
}

// imageRef splits an image reference into name and tag ("" when absent).
// A digest pin (name@sha256:...) counts as a tag.
func imageRef(ref string) (name, tag string) {
	if i := strings.Index(ref, "@"); i >= 0 {
		return ref[:i], ref[i+1:]
	}
	slash := strings.LastIndex(ref, "/")
	if i := strings.LastIndex(ref, ":"); i > slash {
		return ref[:i], ref[i+1:]
	}
	return ref, ""
}

// pinned reports whether an image reference names an explicit, non-moving
// tag (or a digest).
func pinned(ref string) bool {
	_, tag := imageRef(ref)
	return tag != "" && tag != "latest" && !strings.Contains(tag, "$")
}

var metricRe = regexp.MustCompile(`\bborderproof_[a-z0-9_]+`)

// metricNames extracts the borderproof_* series names a PromQL expression
// reads.
func metricNames(expr string) []string {
	return metricRe.FindAllString(expr, -1)
}

// balanced reports whether (), [] and {} nest properly outside string
// literals: a cheap syntax check for PromQL.
func balanced(s string) bool {
	var stack []rune
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	var quote rune
	for _, r := range s {
		if quote != 0 {
			if r == quote {
				quote = 0
			}
			continue
		}
		switch r {
		case '"', '\'', '`':
			quote = r
		case '(', '[', '{':
			stack = append(stack, r)
		case ')', ']', '}':
			if len(stack) == 0 || stack[len(stack)-1] != pairs[r] {
				return false
			}
			stack = stack[:len(stack)-1]
		}
	}
	return len(stack) == 0 && quote == 0
}
