package apitest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"switchboard/server"
)

// The HTTP transport (GraphQL over HTTP), authentication, limits, error codes
// and introspection.

// expectUnauthenticated checks a refused token's answer.
func expectUnauthenticated(t *testing.T, what string, r *Response) {
	t.Helper()
	if r.Status != http.StatusUnauthorized || r.Code() != "UNAUTHENTICATED" {
		t.Errorf("%s: HTTP %d code %q; want 401 UNAUTHENTICATED: %s", what, r.Status, r.Code(), r.Raw)
	}
	if h := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer") {
		t.Errorf("%s: WWW-Authenticate %q; want a Bearer challenge", what, h)
	}
	expectNoData(t, what, r)
	assertNoLeak(t, r)
}

const (
	schemaQuery   = `{ __schema { queryType { name } } }`
	typeQuery     = `{ __type(name: "Conversation") { name } }`
	fragmentQuery = `query { ...I } fragment I on Query { __schema { types { name } } }`
	inlineQuery   = `{ ... on Query { __type(name: "Agent") { fields { name } } } }`
	typo          = `{ mee { id } }`
)

// typos are documents whose validation errors could suggest names of the
// schema other than fields of a type.
var typos = []string{
	`{ queue(statuss: NEW) { totalCount } }`,
	`{ queue(status: NEWW) { totalCount } }`,
	`mutation { setOwner(input: {conversationId: "x", ownerID: null}) { conversation { id } } }`,
	`{ me { ...F } } fragment F on Agen { id }`,
	`{ me { ... on Agen { id } } }`,
	`{ me { namee } }`,
}

// checkIntrospection checks whether c may introspect and gets suggestions.
func checkIntrospection(t *testing.T, who string, c *Client, allowed bool) {
	t.Helper()
	for _, doc := range []string{schemaQuery, typeQuery, fragmentQuery, inlineQuery} {
		r := c.Do(doc, nil)
		if allowed {
			if r.Status != http.StatusOK || len(r.Errors) > 0 || !strings.Contains(string(r.Data), `"name"`) {
				t.Errorf("%s: introspection %s refused: HTTP %d %s", who, doc, r.Status, r.Raw)
			}
			continue
		}
		if r.Code() != "GRAPHQL_VALIDATION_FAILED" || strings.Contains(string(r.Raw), "Conversation\"") {
			t.Errorf("%s: introspection %s: want GRAPHQL_VALIDATION_FAILED, got HTTP %d %s", who, doc, r.Status, r.Raw)
		}
		expectNoData(t, who+" introspection", r)
	}
	r := c.Do(typo, nil)
	if r.Code() != "GRAPHQL_VALIDATION_FAILED" {
		t.Errorf("%s: a typo: want GRAPHQL_VALIDATION_FAILED, got %s", who, r.Raw)
	}
	if suggests := strings.Contains(string(r.Raw), "Did you mean"); suggests != allowed {
		t.Errorf("%s: suggestions %v; want %v: %s", who, suggests, allowed, r.Raw)
	}
	// Every other suggestion names the schema too: arguments, input fields,
	// enum values, types.
	for _, doc := range typos {
		r := c.Do(doc, nil)
		if r.Code() != "GRAPHQL_VALIDATION_FAILED" {
			t.Errorf("%s: %s: want GRAPHQL_VALIDATION_FAILED, got %s", who, doc, r.Raw)
		}
		if !allowed && strings.Contains(string(r.Raw), "Did you mean") {
			t.Errorf("%s may not introspect but gets a suggestion for %s: %s", who, doc, r.Raw)
		}
	}
	// __typename is not introspection: everyone may ask.
	if r := c.Do(`{ __typename }`, nil); string(r.Data) != `{"__typename":"Query"}` {
		t.Errorf("%s: __typename: %s", who, r.Raw)
	}
}

func testIntrospectionAdmins(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	checkIntrospection(t, "admin", w.Admin, true)
	checkIntrospection(t, "agent", w.Ben, false)
	checkIntrospection(t, "integration", w.Integration, false)
	expectUnauthenticated(t, "introspection without token", e.Post("", schemaQuery, nil))
	// Explicitly set to admins: the same.
	e2 := NewEnv(t, f, WithIntrospection(server.IntrospectionAdmins))
	w2 := e2.NewWorkspace("ws")
	checkIntrospection(t, "admin", w2.Admin, true)
	checkIntrospection(t, "agent", w2.Ben, false)
}

func testIntrospectionAll(t *testing.T, f Factory) {
	e := NewEnv(t, f, WithIntrospection(server.IntrospectionAll))
	w := e.NewWorkspace("ws")
	checkIntrospection(t, "admin", w.Admin, true)
	checkIntrospection(t, "agent", w.Ben, true)
	checkIntrospection(t, "integration", w.Integration, true)
	expectUnauthenticated(t, "introspection without token", e.Post("", schemaQuery, nil))
}

func testIntrospectionOff(t *testing.T, f Factory) {
	e := NewEnv(t, f, WithIntrospection(server.IntrospectionOff))
	w := e.NewWorkspace("ws")
	checkIntrospection(t, "admin", w.Admin, false)
	checkIntrospection(t, "agent", w.Ben, false)
	checkIntrospection(t, "integration", w.Integration, false)
}

func testErrorShape(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	r := w.Ben.MustFailArg("BAD_USER_INPUT", "input.ownerId", MutationDoc("setOwner"), map[string]any{"in": map[string]any{"conversationId": id, "ownerId": "nobody"}})
	if r.Status != http.StatusOK || string(r.Data) != `null` && string(r.Data) != `{"setOwner":null}` {
		t.Errorf("a failed mutation: HTTP %d data %s; want 200 and no payload", r.Status, r.Data)
	}
	if len(r.Errors) != 1 || len(r.Errors[0].Path) != 1 || r.Errors[0].Path[0] != "setOwner" || r.Errors[0].Message == "" {
		t.Errorf("errors %s; want one error at path [setOwner] with a message", r.Raw)
	}
	assertNoLeak(t, r)
	// An error of execution is a 200 in either media type (GraphQL over
	// HTTP): the request itself was well-formed.
	for _, accept := range []string{mediaJSON, mediaResponse} {
		r := e.postAs(w.Ben.Token, accept, MutationDoc("setOwner"), map[string]any{"in": map[string]any{"conversationId": "cv_unknown", "ownerId": "ben"}})
		expectHTTP(t, "NOT_FOUND in "+accept, r, http.StatusOK, accept, "NOT_FOUND")
		if string(r.Data) != "null" {
			t.Errorf("NOT_FOUND in %s: data %s; want null", accept, r.Data)
		}
	}
	// Null variables, operationName and extensions are as good as none.
	r = e.request(http.MethodPost, w.Ben.Token, "application/json", "", `{"query":"{ me { id } }","variables":null,"operationName":null,"extensions":null}`)
	expectHTTP(t, "null members", r, http.StatusOK, mediaJSON, "")
	// Two fields, one fails: the other is still answered, and the failed
	// one is null up to the nearest nullable field.
	r = w.Ben.Do(`query($id: ID!) { me { id } conversation(id: $id) { id messages(first: 101) { edges { cursor } } } }`, map[string]any{"id": id})
	if r.Code() != "BAD_USER_INPUT" || r.Argument() != "first" || string(r.Data) != `{"me":{"id":"ben"},"conversation":null}` {
		t.Errorf("a partial failure: %s; want me answered, conversation null, BAD_USER_INPUT first", r.Raw)
	}
	if len(r.Errors) != 1 || len(r.Errors[0].Path) != 2 || r.Errors[0].Path[1] != "messages" {
		t.Errorf("a partial failure: errors %s; want one at path [conversation messages]", r.Raw)
	}
}

// playgroundIntrospection is the introspection query of graphql-js 16
// (getIntrospectionQuery), which GraphiQL-based playgrounds send.
const playgroundIntrospection = `    query IntrospectionQuery {
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

func testPlaygroundIntrospection(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	var out struct {
		Schema struct {
			QueryType struct{ Name string }
			Types     []struct{ Name string }
		} `json:"__schema"`
	}
	r := w.Admin.Do(playgroundIntrospection, nil)
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("an admin's playground introspection query is refused: HTTP %d %s", r.Status, r.Raw)
	}
	if err := json.Unmarshal(r.Data, &out); err != nil {
		t.Fatalf("decoding %s: %v", r.Data, err)
	}
	if out.Schema.QueryType.Name != "Query" || len(out.Schema.Types) < 20 {
		t.Fatalf("introspection: query type %q, %d types", out.Schema.QueryType.Name, len(out.Schema.Types))
	}
	found := false
	for _, ty := range out.Schema.Types {
		found = found || ty.Name == "Conversation"
	}
	if !found {
		t.Fatal("introspection lacks Conversation")
	}
	// And an agent may not, in any shape.
	if r := w.Ben.Do(playgroundIntrospection, nil); r.Code() != "GRAPHQL_VALIDATION_FAILED" {
		t.Fatalf("an agent's introspection: %s", r.Raw)
	}
}
