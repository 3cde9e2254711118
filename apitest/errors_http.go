package apitest

import (
	"net/http"
	"testing"
)

// The HTTP transport (GraphQL over HTTP), authentication, limits, error codes
// and introspection.

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
