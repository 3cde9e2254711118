package server_test

import (
	"net/http"
	"strings"
	"testing"

	"switchboard/internal/testserver"
)

// The limits on a document, over HTTP: complexity, depth, width and parser
// tokens.

// queuePageQuery is what a queue view asks for: the limits must let a full
// page of it through.
const queuePageQuery = `query($first: Int) {
  queue(status: NEW, first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id status version waitingSince ownershipLabel
      owner { id name presence } channel { id name } contact { id name externalId } } }
  }
}`

func TestAnOperationOverTheComplexityLimitIsComplexityLimitExceeded(t *testing.T) {
	srv := testserver.Start(t, secret)
	w := newWorkspace(t, srv)
	w.newConversation(t, "maria")
	for _, doc := range []string{
		// 100 rows of 100 messages each with their authors.
		`{ queue(status: NEW, first: 100) { edges { node { id messages(first: 100) { edges { node { id text author { id name } } } } } } } }`,
		// Aliases multiply the cost too.
		`{ ` + aliases(40, `queue(status: NEW, first: 100) { edges { node { id status version waitingSince owner { id name } } } }`) + ` }`,
	} {
		a := postAs(t, srv, w.admin, mediaJSON, doc, nil)
		expectHTTP(t, "too complex (json)", a, http.StatusOK, mediaJSON, "COMPLEXITY_LIMIT_EXCEEDED")
		expectNoData(t, "too complex", a)
		a = postAs(t, srv, w.admin, mediaResponse, doc, nil)
		expectHTTP(t, "too complex (graphql-response+json)", a, http.StatusBadRequest, mediaResponse, "COMPLEXITY_LIMIT_EXCEEDED")
	}
	// A real queue page passes.
	mustDo(t, srv, w.ben, queuePageQuery, map[string]any{"first": 100}, nil)
}

// aliases repeats a field n times under distinct aliases.
func aliases(n int, field string) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString("a")
		b.WriteString(strings.Repeat("b", i))
		b.WriteString(": ")
		b.WriteString(field)
		b.WriteString(" ")
	}
	return b.String()
}

func TestAnOperationNestedOverTheDepthLimitIsComplexityLimitExceeded(t *testing.T) {
	srv := testserver.Start(t, secret)
	w := newWorkspace(t, srv)
	id := w.newConversation(t, "maria")
	mustDo(t, srv, w.ben, `mutation($id: ID!) { setOwner(input: {conversationId: $id, ownerId: "ben"}) { conversation { id } } }`, map[string]any{"id": id}, nil)
	// Each level costs almost nothing (history(first: 1)): only the depth
	// is over the limit.
	nest := func(levels int) string {
		q := `id`
		for i := 0; i < levels; i++ {
			q = `history(first: 1) { edges { node { conversation { ` + q + ` } } } }`
		}
		return `query($id: ID!) { conversation(id: $id) { ` + q + ` } }`
	}
	a := postAs(t, srv, w.ben, mediaJSON, nest(2), map[string]any{"id": id}) // depth 10
	expectHTTP(t, "depth 10", a, http.StatusOK, mediaJSON, "")
	for _, levels := range []int{3, 10} {
		a := postAs(t, srv, w.ben, mediaJSON, nest(levels), map[string]any{"id": id})
		expectHTTP(t, "too deep", a, http.StatusOK, mediaJSON, "COMPLEXITY_LIMIT_EXCEEDED")
		expectNoData(t, "too deep", a)
		a = postAs(t, srv, w.ben, mediaResponse, nest(levels), map[string]any{"id": id})
		expectHTTP(t, "too deep", a, http.StatusBadRequest, mediaResponse, "COMPLEXITY_LIMIT_EXCEEDED")
	}
	// Fragments do not hide depth.
	doc := `query($id: ID!) { conversation(id: $id) { ...H } }
fragment H on Conversation { history(first: 1) { edges { node { conversation { ...H2 } } } } }
fragment H2 on Conversation { history(first: 1) { edges { node { conversation { ...H3 } } } } }
fragment H3 on Conversation { history(first: 1) { edges { node { conversation { id } } } } }`
	a = postAs(t, srv, w.ben, mediaJSON, doc, map[string]any{"id": id})
	expectHTTP(t, "too deep through fragments", a, http.StatusOK, mediaJSON, "COMPLEXITY_LIMIT_EXCEEDED")
}

func TestADocumentOverTheParserTokenLimitIsRefusedBeforeItIsParsed(t *testing.T) {
	srv := testserver.Start(t, secret)
	w := newWorkspace(t, srv)
	// A list argument of n enum values is about n tokens, and cheap to
	// validate.
	doc := func(n int) string {
		return `{ agents(presence: [` + strings.Repeat("ONLINE ", n) + `]) { id } }`
	}
	for _, accept := range []string{mediaJSON, mediaResponse} {
		a := postAs(t, srv, w.ben, accept, doc(20_000), nil)
		status := http.StatusOK
		if accept == mediaResponse {
			status = http.StatusBadRequest
		}
		expectHTTP(t, "20,000 tokens", a, status, accept, "GRAPHQL_PARSE_FAILED")
		expectNoData(t, "20,000 tokens", a)
	}
	// A document under the limit (about 5,000 tokens) runs.
	a := postAs(t, srv, w.ben, mediaJSON, doc(5_000), nil)
	expectHTTP(t, "5,000 tokens", a, http.StatusOK, mediaJSON, "")
}

func TestASelectionSetWiderThanTheLimitIsComplexityLimitExceededBeforeValidation(t *testing.T) {
	srv := testserver.Start(t, secret)
	w := newWorkspace(t, srv)
	wide := func(n int) string { return "{ me { " + strings.Repeat("id ", n) + "} }" }
	mustFail(t, srv, w.ben, "COMPLEXITY_LIMIT_EXCEEDED", wide(201), nil)
	// Through a fragment the fields count as the validator counts them.
	mustFail(t, srv, w.ben, "COMPLEXITY_LIMIT_EXCEEDED", "{ me { ...A ...B } } fragment A on Agent { "+strings.Repeat("id ", 101)+"} fragment B on Agent { "+strings.Repeat("name ", 100)+"}", nil)
	mustDo(t, srv, w.ben, wide(200), nil, nil)
}
