// Package hostile holds GraphQL documents built to hurt a server: each one
// once cost seconds of CPU, a stack overflow or a pinned core, or aims at a
// rule of the validator that compares or walks more than the document's
// size. The server's regression tests, its fuzz seeds and the load tool
// (cmd/hostileload) all send these same documents.
package hostile

import (
	"fmt"
	"strings"
)

// Document is one hostile request.
type Document struct {
	Name          string
	Query         string
	OperationName string
	// Code is the extensions.code of the first error Switchboard answers an
	// admin with; empty when it answers without error.
	Code string
}

const (
	complexity = "COMPLEXITY_LIMIT_EXCEEDED"
	validation = "GRAPHQL_VALIDATION_FAILED"
)

// Documents returns every hostile document; each is at most 1 MiB and
// 15,000 tokens, the server's default limits, so that no limit on size
// alone refuses it.
func Documents() []Document {
	return []Document{
		{Name: "fragment cycle through a field", Query: `query { ...A } fragment A on Query { me { ...A } }`, Code: validation},
		{Name: "fragment cycle through two fragments", Query: `query { ...A } fragment A on Query { me { id } ...B } fragment B on Query { ...A }`, Code: validation},
		{Name: "fragments doubling 40 times", Query: doubling(40), Code: complexity},
		{Name: "chain of 1870 fragments", Query: chain(1870), Code: complexity},
		{Name: "60 same-named fields of 60 same-named fields", Query: sameNames(60, 60), Code: complexity},
		{Name: "100 same-named fields with 40 arguments", Query: sameNamesWithArguments(100, 40), Code: complexity},
		{Name: "same-named fields with differing arguments", Query: conflictingArguments(300), Code: complexity},
		{Name: "2000 repeats of one field", Query: "query {" + strings.Repeat(" me { id }", 2000) + " }", Code: complexity},
		{Name: "nesting 3000 deep", Query: strings.Repeat("{ me ", 3000) + strings.Repeat("}", 3000), Code: "GRAPHQL_PARSE_FAILED"},
		{Name: "2000 directives on one field", Query: "query { me " + strings.Repeat("@include(if: true) ", 2000) + "{ id } }", Code: validation},
		{Name: "3000 unused variables", Query: variables(3000), Code: validation},
		{Name: "a list argument of 7000 values", Query: `query { queue(status: NEW, channelIds: [` + strings.Repeat(`"c" `, 7000) + `]) { totalCount } }`, Code: "BAD_USER_INPUT"},
		{Name: "an input object of 3000 fields", Query: `mutation { upsertAgent(input: {` + inputFields(3000) + `}) { agent { id } } }`, Code: validation},
		{Name: "1500 operations", Query: operations(1500), OperationName: "Q0"},
		{Name: "1500 unused fragments", Query: "query { me { id } }" + unusedFragments(1500), Code: validation},
		{Name: "150 unknown fields, each an error", Query: unknownFields(150), Code: validation},
		{Name: "introspection of the whole schema, many times", Query: repeatedIntrospection(30), Code: complexity},
		{Name: "a 1 MiB comment", Query: "#" + strings.Repeat("x", 1<<20-64) + "\nquery { me { id } }"},
	}
}

// doubling is fragments F0 … Fn, each selecting two fields that spread
// the next: 2^n fields once expanded.
func doubling(n int) string {
	var b strings.Builder
	b.WriteString("query { ...F0 }")
	for i := range n {
		fmt.Fprintf(&b, " fragment F%d on Query { a { ...F%d } b { ...F%d } }", i, i+1, i+1)
	}
	fmt.Fprintf(&b, " fragment F%d on Query { c }", n)
	return b.String()
}

// chain is a valid document of n fragments, each spreading the next: the
// validator enters every fragment again from each one before it.
func chain(n int) string {
	var b strings.Builder
	b.WriteString("query{...F0}")
	for i := range n - 1 {
		fmt.Fprintf(&b, "fragment F%d on Query{...F%d}", i, i+1)
	}
	fmt.Fprintf(&b, "fragment F%d on Query{me{id}}", n-1)
	return b.String()
}

// sameNames is outer fields of one name, each selecting inner fields of one
// name: the validator compares every inner pair of every outer pair.
func sameNames(outer, inner int) string {
	one := " me {" + strings.Repeat(" id", inner) + " }"
	return "query {" + strings.Repeat(one, outer) + " }"
}

// sameNamesWithArguments is fields of one name with the same arguments,
// which the validator compares argument by argument for each pair.
func sameNamesWithArguments(fields, args int) string {
	var a strings.Builder
	for i := range args {
		fmt.Fprintf(&a, "a%d: %d ", i, i)
	}
	one := " queue(status: NEW, " + a.String() + ") { totalCount }"
	return "query {" + strings.Repeat(one, fields) + " }"
}

// conflictingArguments is fields of one name with differing arguments:
// every pair is a conflict, and so an error.
func conflictingArguments(n int) string {
	var b strings.Builder
	b.WriteString("query {")
	for i := range n {
		fmt.Fprintf(&b, " queue(status: NEW, first: %d) { totalCount }", i+1)
	}
	b.WriteString(" }")
	return b.String()
}

func variables(n int) string {
	var b strings.Builder
	b.WriteString("query(")
	for i := range n {
		fmt.Fprintf(&b, "$v%d: Int ", i)
	}
	b.WriteString(") { me { id } }")
	return b.String()
}

func inputFields(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "f%d: 1 ", i)
	}
	return b.String()
}

func operations(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "query Q%d { me { id } } ", i)
	}
	return b.String()
}

func unusedFragments(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, " fragment U%d on Agent { id }", i)
	}
	return b.String()
}

func unknownFields(n int) string {
	var b strings.Builder
	b.WriteString("query {")
	for i := range n {
		fmt.Fprintf(&b, " me { nope%d }", i)
	}
	b.WriteString(" }")
	return b.String()
}

// repeatedIntrospection asks for the whole schema n times under aliases.
func repeatedIntrospection(n int) string {
	var b strings.Builder
	b.WriteString("query {")
	for i := range n {
		fmt.Fprintf(&b, " s%d: __schema { types { name fields { name args { name type { ...T } } type { ...T } } } }", i)
	}
	b.WriteString(" } fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }")
	return b.String()
}

// Healthy is the query whose latency the load tool measures beside the
// hostile ones.
const Healthy = `query { me { id name presence } }`

// PlaygroundIntrospection is the query GraphiQL sends to learn the schema.
const PlaygroundIntrospection = `    query IntrospectionQuery {
      __schema {
        queryType { name }
        mutationType { name }
        subscriptionType { name }
        types {
          ...FullType
        }
        directives {
          name
          description
          locations
          args {
            ...InputValue
          }
        }
      }
    }

    fragment FullType on __Type {
      kind
      name
      description
      fields(includeDeprecated: true) {
        name
        description
        args {
          ...InputValue
        }
        type {
          ...TypeRef
        }
        isDeprecated
        deprecationReason
      }
      inputFields {
        ...InputValue
      }
      interfaces {
        ...TypeRef
      }
      enumValues(includeDeprecated: true) {
        name
        description
        isDeprecated
        deprecationReason
      }
      possibleTypes {
        ...TypeRef
      }
    }

    fragment InputValue on __InputValue {
      name
      description
      type { ...TypeRef }
      defaultValue
    }

    fragment TypeRef on __Type {
      kind
      name
      ofType {
        kind
        name
        ofType {
          kind
          name
          ofType {
            kind
            name
            ofType {
              kind
              name
              ofType {
                kind
                name
                ofType {
                  kind
                  name
                  ofType {
                    kind
                    name
                  }
                }
              }
            }
          }
        }
      }
    }`
