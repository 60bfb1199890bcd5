package graph

import (
	"sync"
	"testing"

	"github.com/graphql-go/graphql"
)

// Every schema holds graphql-go's introspection enums, so two built at
// once warm the same enums at once: under -race, warming must not race
// with itself.
func TestWarmEnumsTwiceAtOnce(t *testing.T) {
	colour := graphql.NewEnum(graphql.EnumConfig{Name: "Colour", Values: graphql.EnumValueConfigMap{
		"RED": {Value: "red"}, "BLUE": {Value: "blue"},
	}})
	s, err := graphql.NewSchema(graphql.SchemaConfig{Query: graphql.NewObject(graphql.ObjectConfig{
		Name: "Query", Fields: graphql.Fields{"colour": {Type: colour}},
	})})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { warmEnums(s) })
	}
	wg.Wait()
	if got := colour.ParseValue("BLUE"); got != "blue" {
		t.Fatalf("BLUE parsed as %v", got)
	}
}
