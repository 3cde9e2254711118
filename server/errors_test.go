package server_test

import (
	"net/http"
	"testing"

	"switchboard/internal/testserver"
)

// setOwnerDoc asks for the whole payload of setOwner: a failed one must be
// null as a whole.
const setOwnerDoc = `mutation($in: SetOwnerInput!) { setOwner(input: $in) { conversation { id status version owner { id } } ownershipChange { id reason } } }`

func TestEveryErrorOfAFailedMutationHasACodeAndTheMutationsFieldIsNull(t *testing.T) {
	srv := testserver.Start(t, secret)
	w := newWorkspace(t, srv)
	id := w.newConversation(t, "maria")
	a := mustFailArg(t, srv, w.ben, "BAD_USER_INPUT", "input.ownerId", setOwnerDoc, map[string]any{"in": map[string]any{"conversationId": id, "ownerId": "nobody"}})
	if a.Status != http.StatusOK || string(a.Data) != `null` && string(a.Data) != `{"setOwner":null}` {
		t.Errorf("a failed mutation: HTTP %d data %s; want 200 and no payload", a.Status, a.Data)
	}
	if len(a.Errors) != 1 || len(a.Errors[0].Path) != 1 || a.Errors[0].Path[0] != "setOwner" || a.Errors[0].Message == "" {
		t.Errorf("errors %s; want one error at path [setOwner] with a message", a.raw)
	}
	assertNoLeak(t, a)
	// An error of execution is a 200 in either media type (GraphQL over
	// HTTP): the request itself was well-formed.
	for _, accept := range []string{mediaJSON, mediaResponse} {
		a := postAs(t, srv, w.ben, accept, setOwnerDoc, map[string]any{"in": map[string]any{"conversationId": "cv_unknown", "ownerId": "ben"}})
		expectHTTP(t, "NOT_FOUND in "+accept, a, http.StatusOK, accept, "NOT_FOUND")
		if string(a.Data) != "null" {
			t.Errorf("NOT_FOUND in %s: data %s; want null", accept, a.Data)
		}
	}
	// Null variables, operationName and extensions are as good as none.
	a = request(t, srv, http.MethodPost, w.ben, "application/json", "", `{"query":"{ me { id } }","variables":null,"operationName":null,"extensions":null}`)
	expectHTTP(t, "null members", a, http.StatusOK, mediaJSON, "")
	// Two fields, one fails: the other is still answered, and the failed
	// one is null up to the nearest nullable field.
	a = post(t, srv, w.ben, `query($id: ID!) { me { id } conversation(id: $id) { id messages(first: 101) { edges { cursor } } } }`, map[string]any{"id": id})
	if a.code() != "BAD_USER_INPUT" || a.argument() != "first" || string(a.Data) != `{"me":{"id":"ben"},"conversation":null}` {
		t.Errorf("a partial failure: %s; want me answered, conversation null, BAD_USER_INPUT first", a.raw)
	}
	if len(a.Errors) != 1 || len(a.Errors[0].Path) != 2 || a.Errors[0].Path[1] != "messages" {
		t.Errorf("a partial failure: errors %s; want one at path [conversation messages]", a.raw)
	}
}
