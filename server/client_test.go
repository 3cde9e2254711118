package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"switchboard/internal/testserver"
	"switchboard/internal/wsclient"
)

// The clients of the server's tests: real HTTP and a real WebSocket
// against internal/testserver.

// hang bounds how long one request may take before a test calls it a hang.
// It is loose on purpose (a busy CI machine, -race): benchmarks measure;
// this only catches a request that does not end.
const hang = 10 * time.Second

var secret = []byte("server-test-secret-server-test-secret")

// answer is a GraphQL response as it came over the wire.
type answer struct {
	Status int
	Header http.Header
	Data   json.RawMessage
	Errors []struct {
		Message    string
		Path       []any
		Extensions map[string]any
	}
	raw string
}

func (a answer) code() string {
	if len(a.Errors) == 0 {
		return ""
	}
	c, _ := a.Errors[0].Extensions["code"].(string)
	return c
}

// argument is extensions.argument of the first error, "" if none.
func (a answer) argument() string {
	if len(a.Errors) == 0 {
		return ""
	}
	arg, _ := a.Errors[0].Extensions["argument"].(string)
	return arg
}

func send(t *testing.T, req *http.Request, token string) answer {
	t.Helper()
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{Status: resp.StatusCode, Header: resp.Header, raw: string(b)}
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("HTTP %d, a body that is not JSON: %s", resp.StatusCode, b)
	}
	return a
}

// request sends body to the GraphQL endpoint as it is, with the headers
// that are not empty.
func request(t *testing.T, srv *testserver.Server, method, token, contentType, accept, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+"/graphql", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	return send(t, req, token)
}

func postBody(t *testing.T, srv *testserver.Server, token, accept, body string) answer {
	t.Helper()
	return request(t, srv, http.MethodPost, token, "application/json", accept, body)
}

func post(t *testing.T, srv *testserver.Server, token, query string, vars map[string]any) answer {
	t.Helper()
	return postAs(t, srv, token, "", query, vars)
}

// postAs posts an operation asking for the response media type accept.
func postAs(t *testing.T, srv *testserver.Server, token, accept, query string, vars map[string]any) answer {
	t.Helper()
	b, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	return postBody(t, srv, token, accept, string(b))
}

// mustDo posts an operation that must succeed, and decodes its data into
// out (when out is not nil).
func mustDo(t *testing.T, srv *testserver.Server, token, query string, vars map[string]any, out any) answer {
	t.Helper()
	a := post(t, srv, token, query, vars)
	if a.Status != http.StatusOK || len(a.Errors) > 0 {
		t.Fatalf("%s\nvariables %v\n=> HTTP %d %s", strings.TrimSpace(query), vars, a.Status, a.raw)
	}
	if out != nil {
		if err := json.Unmarshal(a.Data, out); err != nil {
			t.Fatalf("decoding %s: %v", a.Data, err)
		}
	}
	return a
}

// mustFail posts an operation that must fail with code.
func mustFail(t *testing.T, srv *testserver.Server, token, code, query string, vars map[string]any) answer {
	t.Helper()
	a := post(t, srv, token, query, vars)
	if a.code() != code {
		t.Fatalf("%s\nvariables %v\n=> want error %s, got HTTP %d %s", strings.TrimSpace(query), vars, code, a.Status, a.raw)
	}
	return a
}

// mustFailArg posts an operation that must fail with code and
// extensions.argument.
func mustFailArg(t *testing.T, srv *testserver.Server, token, code, argument, query string, vars map[string]any) answer {
	t.Helper()
	a := mustFail(t, srv, token, code, query, vars)
	if got := a.argument(); got != argument {
		t.Fatalf("%s\nvariables %v\n=> want %s with argument %q, got argument %q: %s", strings.TrimSpace(query), vars, code, argument, got, a.raw)
	}
	return a
}

func presence(t *testing.T, srv *testserver.Server, token string) string {
	t.Helper()
	a := post(t, srv, token, `{ me { presence } }`, nil)
	var out struct{ Me struct{ Presence string } }
	if err := json.Unmarshal(a.Data, &out); err != nil || a.code() != "" {
		t.Fatalf("me: %s", a.raw)
	}
	return out.Me.Presence
}

// postOperation posts one operation of a document of several.
func postOperation(t *testing.T, srv *testserver.Server, token, query, operationName string) answer {
	t.Helper()
	b, err := json.Marshal(map[string]any{"query": query, "operationName": operationName})
	if err != nil {
		t.Fatal(err)
	}
	return postBody(t, srv, token, "", string(b))
}

func get(t *testing.T, srv *testserver.Server, token, query, operationName string) answer {
	t.Helper()
	q := url.Values{"query": {query}}
	if operationName != "" {
		q.Set("operationName", operationName)
	}
	return getParams(t, srv, token, "", q)
}

// getParams sends a GET with the query parameters params, asking for the
// response media type accept.
func getParams(t *testing.T, srv *testserver.Server, token, accept string, params url.Values) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/graphql?"+params.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	return send(t, req, token)
}

// overSocket runs one operation over graphql-transport-ws and returns its
// first result: the payload of next (a response) or of error (a list).
func overSocket(t *testing.T, srv *testserver.Server, token, query, operationName string) answer {
	t.Helper()
	return overSocketPayload(t, srv, token, map[string]any{"query": query, "operationName": operationName})
}

// overSocketPayload is overSocket with the subscribe message's payload as
// given.
func overSocketPayload(t *testing.T, srv *testserver.Server, token string, payload map[string]any) answer {
	t.Helper()
	s := wsclient.Connect(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql", wsclient.TransportWS, token)
	defer s.Close(websocket.StatusNormalClosure, "")
	s.Send(wsclient.Message{ID: "1", Type: "subscribe", Payload: wsclient.JSON(payload)})
	for {
		m := s.Read()
		var out answer
		var err error
		switch m.Type {
		case "next":
			err = json.Unmarshal(m.Payload, &out)
		case "error":
			err = json.Unmarshal(m.Payload, &out.Errors)
		default:
			continue
		}
		if err != nil {
			t.Fatalf("decoding %s: %v", m.Payload, err)
		}
		return out
	}
}

// The response media types of GraphQL over HTTP.
const (
	mediaJSON     = "application/json"
	mediaResponse = "application/graphql-response+json"
)

// leakMarkers are words that only internal detail would bring into a
// response.
var leakMarkers = []string{"sqlite", "sql:", "database", "goroutine", ".go:", "panic", "runtime.", "mongo", "internal error:", "SECRET-DETAIL"}

// assertNoLeak checks that a carries no internal detail, and that every
// error has a code.
func assertNoLeak(t *testing.T, a answer) {
	t.Helper()
	low := strings.ToLower(a.raw)
	for _, m := range leakMarkers {
		if strings.Contains(low, strings.ToLower(m)) {
			t.Errorf("response leaks %q: %s", m, a.raw)
		}
	}
	if strings.Contains(a.raw, string(secret)) {
		t.Errorf("response leaks the signing secret: %s", a.raw)
	}
	for _, e := range a.Errors {
		if c, _ := e.Extensions["code"].(string); c == "" {
			t.Errorf("an error without extensions.code: %s", a.raw)
		}
	}
}

// expectHTTP checks an answer's status, media type and first error code
// ("" for no error), and that it leaks nothing.
func expectHTTP(t *testing.T, what string, a answer, status int, media, code string) {
	t.Helper()
	ct := a.Header.Get("Content-Type")
	if a.Status != status || !strings.HasPrefix(ct, media) || a.code() != code {
		t.Errorf("%s: HTTP %d %s code %q; want HTTP %d %s code %q: %s", what, a.Status, ct, a.code(), status, media, code, a.raw)
	}
	assertNoLeak(t, a)
}

// expectNoData checks that a request refused before execution has no data
// entry at all (GraphQL over HTTP).
func expectNoData(t *testing.T, what string, a answer) {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(a.raw), &raw); err != nil {
		t.Errorf("%s: body is not a JSON object: %s", what, a.raw)
		return
	}
	if _, ok := raw["data"]; ok {
		t.Errorf("%s: a refused request has a data entry: %s", what, a.raw)
	}
	if len(a.Errors) == 0 {
		t.Errorf("%s: no errors: %s", what, a.raw)
	}
}

// workspace is workspace "ws" on a test server: an admin and an agent,
// each provisioned by a first request, an integration, and a channel for
// the integration to deliver to.
type workspace struct {
	srv *testserver.Server
	// The callers' tokens.
	admin, ben, integration string
	channelID               string
}

func newWorkspace(t *testing.T, srv *testserver.Server) *workspace {
	t.Helper()
	w := &workspace{
		srv:         srv,
		admin:       srv.Token(t, "ws", "ada", "admin", "Ada Admin"),
		ben:         srv.Token(t, "ws", "ben", "agent", "Ben Baker"),
		integration: srv.Token(t, "ws", "connector", "integration", "connector"),
	}
	for _, token := range []string{w.admin, w.ben} {
		mustDo(t, srv, token, `{ me { id } }`, nil, nil)
	}
	var out struct {
		CreateChannel struct{ Channel struct{ ID string } }
	}
	mustDo(t, srv, w.admin, `mutation { createChannel(input: {name: "Email"}) { channel { id } } }`, nil, &out)
	w.channelID = out.CreateChannel.Channel.ID
	return w
}

// newConversation starts a conversation with a new contact and returns its
// id.
func (w *workspace) newConversation(t *testing.T, contact string) string {
	t.Helper()
	var out struct {
		IngestInbound struct{ ConversationID string }
	}
	mustDo(t, w.srv, w.integration, `mutation($in: InboundInput!) { ingestInbound(input: $in) { conversationId } }`, map[string]any{"in": map[string]any{
		"channelId": w.channelID, "contactExternalId": contact, "externalMessageId": contact + "-first", "text": "Hello from " + contact,
	}}, &out)
	return out.IngestInbound.ConversationID
}
