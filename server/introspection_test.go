package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"switchboard/internal/hostile"
	"switchboard/internal/testserver"
	"switchboard/server"
)

// Who may introspect the schema and get "Did you mean" suggestions, under
// each introspection policy.

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

// checkIntrospection checks whether the caller of token may introspect and
// gets suggestions.
func checkIntrospection(t *testing.T, srv *testserver.Server, who, token string, allowed bool) {
	t.Helper()
	for _, doc := range []string{schemaQuery, typeQuery, fragmentQuery, inlineQuery} {
		a := post(t, srv, token, doc, nil)
		if allowed {
			if a.Status != http.StatusOK || len(a.Errors) > 0 || !strings.Contains(string(a.Data), `"name"`) {
				t.Errorf("%s: introspection %s refused: HTTP %d %s", who, doc, a.Status, a.raw)
			}
			continue
		}
		if a.code() != "GRAPHQL_VALIDATION_FAILED" || strings.Contains(a.raw, "Conversation\"") {
			t.Errorf("%s: introspection %s: want GRAPHQL_VALIDATION_FAILED, got HTTP %d %s", who, doc, a.Status, a.raw)
		}
		expectNoData(t, who+" introspection", a)
	}
	a := post(t, srv, token, typo, nil)
	if a.code() != "GRAPHQL_VALIDATION_FAILED" {
		t.Errorf("%s: a typo: want GRAPHQL_VALIDATION_FAILED, got %s", who, a.raw)
	}
	if suggests := strings.Contains(a.raw, "Did you mean"); suggests != allowed {
		t.Errorf("%s: suggestions %v; want %v: %s", who, suggests, allowed, a.raw)
	}
	// Every other suggestion names the schema too: arguments, input fields,
	// enum values, types.
	for _, doc := range typos {
		a := post(t, srv, token, doc, nil)
		if a.code() != "GRAPHQL_VALIDATION_FAILED" {
			t.Errorf("%s: %s: want GRAPHQL_VALIDATION_FAILED, got %s", who, doc, a.raw)
		}
		if !allowed && strings.Contains(a.raw, "Did you mean") {
			t.Errorf("%s may not introspect but gets a suggestion for %s: %s", who, doc, a.raw)
		}
	}
	// __typename is not introspection: everyone may ask.
	if a := post(t, srv, token, `{ __typename }`, nil); string(a.Data) != `{"__typename":"Query"}` {
		t.Errorf("%s: __typename: %s", who, a.raw)
	}
}

func TestIntrospectionAndSuggestionsAreForAdminsOnlyByDefault(t *testing.T) {
	srv := testserver.Start(t, secret)
	w := newWorkspace(t, srv)
	checkIntrospection(t, srv, "admin", w.admin, true)
	checkIntrospection(t, srv, "agent", w.ben, false)
	checkIntrospection(t, srv, "integration", w.integration, false)
	expectUnauthenticated(t, "introspection without token", post(t, srv, "", schemaQuery, nil))
	// Explicitly set to admins: the same.
	srv2 := testserver.StartWith(t, secret, func(c *server.Config) { c.Introspection = server.IntrospectionAdmins })
	w2 := newWorkspace(t, srv2)
	checkIntrospection(t, srv2, "admin", w2.admin, true)
	checkIntrospection(t, srv2, "agent", w2.ben, false)
}

func TestIntrospectionAndSuggestionsAreForEveryoneUnderIntrospectionAll(t *testing.T) {
	srv := testserver.StartWith(t, secret, func(c *server.Config) { c.Introspection = server.IntrospectionAll })
	w := newWorkspace(t, srv)
	checkIntrospection(t, srv, "admin", w.admin, true)
	checkIntrospection(t, srv, "agent", w.ben, true)
	checkIntrospection(t, srv, "integration", w.integration, true)
	expectUnauthenticated(t, "introspection without token", post(t, srv, "", schemaQuery, nil))
}

func TestIntrospectionAndSuggestionsAreForNoOneUnderIntrospectionOff(t *testing.T) {
	srv := testserver.StartWith(t, secret, func(c *server.Config) { c.Introspection = server.IntrospectionOff })
	w := newWorkspace(t, srv)
	checkIntrospection(t, srv, "admin", w.admin, false)
	checkIntrospection(t, srv, "agent", w.ben, false)
	checkIntrospection(t, srv, "integration", w.integration, false)
}

func TestAnAdminCanRunThePlaygroundsIntrospectionQuery(t *testing.T) {
	srv := testserver.Start(t, secret)
	w := newWorkspace(t, srv)
	var out struct {
		Schema struct {
			QueryType struct{ Name string }
			Types     []struct{ Name string }
		} `json:"__schema"`
	}
	a := post(t, srv, w.admin, hostile.PlaygroundIntrospection, nil)
	if a.Status != http.StatusOK || len(a.Errors) > 0 {
		t.Fatalf("an admin's playground introspection query is refused: HTTP %d %s", a.Status, a.raw)
	}
	if err := json.Unmarshal(a.Data, &out); err != nil {
		t.Fatalf("decoding %s: %v", a.Data, err)
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
	if a := post(t, srv, w.ben, hostile.PlaygroundIntrospection, nil); a.code() != "GRAPHQL_VALIDATION_FAILED" {
		t.Fatalf("an agent's introspection: %s", a.raw)
	}
}
