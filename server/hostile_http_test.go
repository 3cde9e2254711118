package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"switchboard/domain"
	"switchboard/internal/testserver"
)

// These tests send hostile requests to a real server (SQLite store, real
// HTTP) and check what comes back and that nothing changed.

func TestDuplicateKeysOverHTTP(t *testing.T) {
	srv := testserver.Start(t, secret)
	ben := srv.Token(t, "ws", "ben", "agent", "Ben")
	if p := presence(t, srv, ben); p != "OFFLINE" {
		t.Fatalf("ben starts %s", p)
	}
	// encoding/json keeps the last of two keys: before this was refused,
	// the second query (a mutation) ran where a proxy or log saw the first.
	setOnline := `mutation { setPresence(presence: ONLINE) { agent { presence } } }`
	for _, body := range []string{
		`{"query":"{ me { presence } }","query":"` + setOnline + `"}`,
		`{"query":"{ me { presence } }","\u0071uery":"` + setOnline + `"}`,
		`{"query":"query($p: Presence!) { me { presence } }","variables":{"p":"AWAY","p":"ONLINE"}}`,
		`{"query":"{ me { presence } }","variables":{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}}`,
		`{"query":"{ me { presence } }","variables":{"a":` + strings.Repeat("[", 1<<19) + `}}`,
	} {
		for _, accept := range []string{"application/json", "application/graphql-response+json"} {
			a := postBody(t, srv, ben, accept, body)
			if a.Status != http.StatusBadRequest || a.code() != "BAD_USER_INPUT" || a.Data != nil {
				t.Errorf("%.80s (%s): HTTP %d %s; want 400 BAD_USER_INPUT without data", body, accept, a.Status, a.raw)
			}
		}
	}
	// GET refuses the same in its parameters.
	for _, vars := range []string{`{"p":"AWAY","p":"ONLINE"}`, `{"p":` + strings.Repeat("[", 65) + strings.Repeat("]", 65) + `}`} {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/graphql?"+url.Values{
			"query": {`query($p: Presence) { me { presence } }`}, "variables": {vars},
		}.Encode(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if a := send(t, req, ben); a.Status != http.StatusBadRequest || a.code() != "BAD_USER_INPUT" {
			t.Errorf("GET variables %.40s: HTTP %d %s; want 400 BAD_USER_INPUT", vars, a.Status, a.raw)
		}
	}
	// And a parameter given twice.
	for _, params := range []url.Values{
		{"query": {`{ me { presence } }`, `{ me { id } }`}},
		{"query": {`query($p: Presence) { me { presence } }`}, "variables": {`{"p":"AWAY"}`, `{"p":"ONLINE"}`}},
		{"query": {`{ me { presence } }`}, "operationName": {"", "A"}},
		{"query": {`{ me { presence } }`}, "extensions": {`{}`, `{}`}},
	} {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/graphql?"+params.Encode(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if a := send(t, req, ben); a.Status != http.StatusBadRequest || a.code() != "BAD_USER_INPUT" {
			t.Errorf("GET %s: HTTP %d %s; want 400 BAD_USER_INPUT", params.Encode(), a.Status, a.raw)
		}
	}
	if p := presence(t, srv, ben); p != "OFFLINE" {
		t.Fatalf("a refused body changed ben's presence to %s", p)
	}
	// The lone mutation is served as usual.
	if a := post(t, srv, ben, setOnline, nil); a.code() != "" || presence(t, srv, ben) != "ONLINE" {
		t.Fatalf("setPresence: %s", a.raw)
	}
}

func TestExpectedVersionBelowOneOverHTTP(t *testing.T) {
	srv := testserver.Start(t, secret)
	ctx := context.Background()
	admin := domain.Actor{WorkspaceID: "ws", ID: "ada", Role: domain.RoleAdmin, Name: "Ada"}
	ch, err := srv.Service.CreateChannel(ctx, admin, "Chat")
	if err != nil {
		t.Fatal(err)
	}
	in, err := srv.Service.IngestInbound(ctx, domain.Actor{WorkspaceID: "ws", ID: "hook", Role: domain.RoleIntegration},
		domain.InboundCommand{ChannelID: ch.ID, ContactExternalID: "maria", ContactName: "Maria", ExternalMessageID: "m1", Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	ben := srv.Token(t, "ws", "ben", "agent", "Ben")
	version := func() string {
		a := post(t, srv, ben, `query($id: ID!) { conversation(id: $id) { status version owner { id } } }`, map[string]any{"id": in.ConversationID})
		if a.code() != "" {
			t.Fatalf("conversation: %s", a.raw)
		}
		return string(a.Data)
	}
	before := version()
	for _, op := range []struct{ name, input, extra string }{
		{"setOwner", "SetOwnerInput", `"ownerId":"ben",`},
		{"resolve", "MoveInput", ""},
		{"moveToPending", "MoveToPendingInput", ""},
		{"moveToNew", "MoveInput", ""},
	} {
		for _, v := range []string{"0", "-1"} {
			body := `{"query":"mutation($in: ` + op.input + `!) { ` + op.name + `(input: $in) { conversation { version } } }",` +
				`"variables":{"in":{` + op.extra + `"conversationId":"` + in.ConversationID + `","expectedVersion":` + v + `}}}`
			a := postBody(t, srv, ben, "", body)
			if a.Status != http.StatusOK || a.code() != "BAD_USER_INPUT" || a.Errors[0].Extensions["argument"] != "input.expectedVersion" {
				t.Errorf("%s with expectedVersion %s: HTTP %d %s; want BAD_USER_INPUT input.expectedVersion", op.name, v, a.Status, a.raw)
			}
		}
	}
	if after := version(); after != before {
		t.Fatalf("refused mutations changed the conversation: %s -> %s", before, after)
	}
}

func TestCaseFoldedRoleOverHTTP(t *testing.T) {
	srv := testserver.Start(t, secret)
	for _, role := range []string{"ADMIN", "Admin", "ADMİN"} {
		a := post(t, srv, srv.Token(t, "ws", "eve", role, "Eve"), `{ me { role } }`, nil)
		if a.Status != http.StatusUnauthorized || a.code() != "UNAUTHENTICATED" {
			t.Errorf("role %q: HTTP %d %s; want 401 UNAUTHENTICATED", role, a.Status, a.raw)
		}
	}
}
