package graph

import (
	"encoding/base64"
	"strings"

	"github.com/graphql-go/graphql"

	"github.com/borderproof/borderproof/internal/errs"
)

// Cursors are opaque to clients: base64 of a version and the row id.
func encodeCursor(id string) string {
	if id == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte("v1:" + id))
}

func decodeCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !strings.HasPrefix(string(b), "v1:") {
		return "", errs.InvalidFields(errs.FieldError{Path: "after", Message: "is not a cursor this API issued"})
	}
	return string(b[3:]), nil
}

// pageInfo is the Relay PageInfo type.
func (b *builder) pageInfo() *graphql.Object {
	if t, ok := b.types["PageInfo"]; ok {
		return t.(*graphql.Object)
	}
	o := graphql.NewObject(graphql.ObjectConfig{
		Name: "PageInfo",
		Fields: graphql.Fields{
			"hasNextPage": {Type: graphql.NewNonNull(graphql.Boolean)},
			"endCursor":   {Type: graphql.String},
			"startCursor": {Type: graphql.String},
		},
	})
	b.types["PageInfo"] = o
	return o
}

func newPageInfo(hasNext bool, start, end string) map[string]any {
	m := map[string]any{"hasNextPage": hasNext, "startCursor": nil, "endCursor": nil}
	if start != "" {
		m["startCursor"] = encodeCursor(start)
	}
	if end != "" {
		m["endCursor"] = encodeCursor(end)
	}
	return m
}

// connection builds a Relay connection type for node.
func (b *builder) connection(name string, node graphql.Output) *graphql.Object {
	if t, ok := b.types[name+"Connection"]; ok {
		return t.(*graphql.Object)
	}
	edge := graphql.NewObject(graphql.ObjectConfig{
		Name: name + "Edge",
		Fields: graphql.Fields{
			"cursor": {Type: graphql.NewNonNull(graphql.String)},
			"node":   {Type: graphql.NewNonNull(node)},
		},
	})
	conn := graphql.NewObject(graphql.ObjectConfig{
		Name: name + "Connection",
		Fields: graphql.Fields{
			"edges":    {Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(edge)))},
			"nodes":    {Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(node)))},
			"pageInfo": {Type: graphql.NewNonNull(b.pageInfo())},
		},
	})
	b.types[name+"Connection"] = conn
	return conn
}

// connectionValue shapes items for a connection type; idOf gives a cursor.
func connectionValue[T any](items []T, idOf func(T) string, hasNext bool) map[string]any {
	edges := make([]map[string]any, len(items))
	nodes := make([]any, len(items))
	for i, it := range items {
		edges[i] = map[string]any{"cursor": encodeCursor(idOf(it)), "node": it}
		nodes[i] = it
	}
	start, end := "", ""
	if len(items) > 0 {
		start, end = idOf(items[0]), idOf(items[len(items)-1])
	}
	return map[string]any{"edges": edges, "nodes": nodes, "pageInfo": newPageInfo(hasNext, start, end)}
}
