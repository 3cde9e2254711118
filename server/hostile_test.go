package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"switchboard/internal/hostile"
	"switchboard/internal/testserver"
	"switchboard/server"
)

var testSecret = []byte("hostile-tests-secret-0123456789abcdef")

// hang bounds how long one hostile request may take before the test calls
// it a hang. It is loose on purpose (a busy CI machine, -race): the
// benchmark measures; this only catches a request that does not end.
const hang = 10 * time.Second

type gqlResponse struct {
	status int
	header http.Header
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func (r gqlResponse) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

func post(t *testing.T, srv *testserver.Server, token string, body any) gqlResponse {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	return do(t, req)
}

func get(t *testing.T, srv *testserver.Server, token, query, operationName string) gqlResponse {
	t.Helper()
	q := url.Values{"query": {query}}
	if operationName != "" {
		q.Set("operationName", operationName)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/graphql?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	return do(t, req)
}

func do(t *testing.T, req *http.Request) gqlResponse {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	out := gqlResponse{status: resp.StatusCode, header: resp.Header}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("decoding the response: %v", err)
	}
	return out
}

// overSocket runs one operation over graphql-transport-ws and returns its
// first result: the payload of next (a response) or of error (a list).
func overSocket(t *testing.T, srv *testserver.Server, token, query, operationName string) gqlResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.CloseNow()
	c.SetReadLimit(4 << 20)
	send := func(m any) {
		b, _ := json.Marshal(m)
		if err := c.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	send(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}})
	send(map[string]any{"type": "subscribe", "id": "1", "payload": map[string]any{"query": query, "operationName": operationName}})
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var m struct {
			Type    string          `json:"type"`
			Payload json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("decoding %s: %v", b, err)
		}
		var out gqlResponse
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
		c.Close(websocket.StatusNormalClosure, "")
		return out
	}
}

// checkHostile checks one answer to a hostile document: in time, with the
// expected code, with at most 50 errors and one that says how many more.
func checkHostile(t *testing.T, how string, d hostile.Document, took time.Duration, r gqlResponse) {
	t.Helper()
	if took > hang {
		t.Errorf("%s: %s took %v", how, d.Name, took)
	}
	if r.code() != d.Code {
		first := ""
		if len(r.Errors) > 0 {
			first = r.Errors[0].Message
		}
		t.Errorf("%s: %s: code %q (%.200s), want %q", how, d.Name, r.code(), first, d.Code)
	}
	if len(r.Errors) > server.DefaultLimits().MaxErrors+1 {
		t.Errorf("%s: %s: %d errors", how, d.Name, len(r.Errors))
	}
}

func TestHostileDocumentsAreRefusedOrAnsweredAndTheServerStaysUp(t *testing.T) {
	srv := testserver.Start(t, testSecret)
	admin := srv.Token(t, "ws1", "ada", "admin", "Ada")
	agent := srv.Token(t, "ws1", "ben", "agent", "Ben")
	healthy := func(how string) {
		t.Helper()
		if r := post(t, srv, agent, map[string]any{"query": hostile.Healthy}); r.status != http.StatusOK || len(r.Errors) > 0 {
			t.Fatalf("after %s, a healthy query: HTTP %d %v", how, r.status, r.Errors)
		}
	}
	for _, d := range hostile.Documents() {
		start := time.Now()
		r := post(t, srv, admin, map[string]any{"query": d.Query, "operationName": d.OperationName})
		checkHostile(t, "POST", d, time.Since(start), r)
		// As a caller who may not introspect: the same bounds.
		start = time.Now()
		r = post(t, srv, agent, map[string]any{"query": d.Query, "operationName": d.OperationName})
		if took := time.Since(start); took > hang || len(r.Errors) > server.DefaultLimits().MaxErrors+1 {
			t.Errorf("POST as an agent: %s took %v, %d errors", d.Name, took, len(r.Errors))
		}
		if len(d.Query) < 60<<10 && !strings.HasPrefix(d.Query, "mutation") {
			start = time.Now()
			checkHostile(t, "GET", d, time.Since(start), get(t, srv, admin, d.Query, d.OperationName))
		}
		if len(d.Query) < 200<<10 {
			start = time.Now()
			checkHostile(t, "WebSocket", d, time.Since(start), overSocket(t, srv, admin, d.Query, d.OperationName))
		}
		healthy(d.Name)
	}
}

func TestFragmentCyclesAreReportedInTheValidatorsWords(t *testing.T) {
	srv := testserver.Start(t, testSecret)
	admin := srv.Token(t, "ws1", "ada", "admin", "Ada")
	for doc, want := range map[string]string{
		`query { ...A } fragment A on Query { me { ...A } }`:                                 `Cannot spread fragment "A" within itself.`,
		`query { ...A } fragment A on Query { ...B } fragment B on Query { me { id } ...A }`: `Cannot spread fragment "A" within itself via "B".`,
	} {
		r := post(t, srv, admin, map[string]any{"query": doc})
		if r.code() != "GRAPHQL_VALIDATION_FAILED" || r.Errors[0].Message != want {
			t.Errorf("%s: %+v, want %q", doc, r.Errors, want)
		}
	}
}

func TestAResponseCarriesAtMostFiftyErrorsAndSaysHowManyMore(t *testing.T) {
	srv := testserver.Start(t, testSecret)
	agent := srv.Token(t, "ws1", "ben", "agent", "Ben")
	// 80 validation errors.
	var vars strings.Builder
	for i := range 80 {
		fmt.Fprintf(&vars, "$v%d: Int ", i)
	}
	r := post(t, srv, agent, map[string]any{"query": "query(" + vars.String() + ") { me { id } }"})
	if len(r.Errors) != 51 || r.Errors[50].Message != "30 more errors were left out" || r.code() != "GRAPHQL_VALIDATION_FAILED" {
		t.Errorf("80 validation errors: got %d, the last %+v", len(r.Errors), r.Errors[len(r.Errors)-1])
	}
	// 60 errors of execution: a field only admins may read, under aliases.
	var fields strings.Builder
	for i := range 60 {
		fmt.Fprintf(&fields, " a%d: agents { id }", i)
	}
	integration := srv.Token(t, "ws1", "hook", "integration", "Hook")
	r = post(t, srv, integration, map[string]any{"query": "query {" + fields.String() + " }"})
	if len(r.Errors) != 51 || r.Errors[50].Message != "10 more errors were left out" {
		t.Errorf("60 errors of execution: got %d: %+v", len(r.Errors), r.Errors)
	}
}

func TestAnOperationPastItsDeadlineIsUnavailableWithRetryAfter(t *testing.T) {
	srv := testserver.StartWith(t, testSecret, func(c *server.Config) {
		c.Limits = server.DefaultLimits()
		c.Limits.OperationTimeout = time.Nanosecond
	})
	agent := srv.Token(t, "ws1", "ben", "agent", "Ben")
	r := post(t, srv, agent, map[string]any{"query": hostile.Healthy})
	if r.status != http.StatusServiceUnavailable || r.code() != "UNAVAILABLE" || r.header.Get("Retry-After") == "" {
		t.Errorf("HTTP %d, Retry-After %q, %+v", r.status, r.header.Get("Retry-After"), r.Errors)
	}
	if r := overSocket(t, srv, agent, hostile.Healthy, ""); r.code() != "UNAVAILABLE" {
		t.Errorf("over WebSocket: %+v", r)
	}
}

func TestIntrospectionCountsInTheComplexityExceptUnderDev(t *testing.T) {
	many := hostile.Documents()[len(hostile.Documents())-2]
	if !strings.HasPrefix(many.Name, "introspection") {
		t.Fatalf("the document list changed: %s", many.Name)
	}
	prod := testserver.Start(t, testSecret)
	admin := prod.Token(t, "ws1", "ada", "admin", "Ada")
	if r := post(t, prod, admin, map[string]any{"query": many.Query}); r.code() != "COMPLEXITY_LIMIT_EXCEEDED" {
		t.Errorf("30 whole-schema introspections: %q %+v", r.code(), r.Errors)
	}
	if r := post(t, prod, admin, map[string]any{"query": hostile.PlaygroundIntrospection}); r.status != http.StatusOK || len(r.Errors) > 0 {
		t.Errorf("the playground's introspection: HTTP %d %+v", r.status, r.Errors)
	}
	dev := testserver.StartWith(t, testSecret, func(c *server.Config) { c.Dev = true })
	admin = dev.Token(t, "ws1", "ada", "admin", "Ada")
	if r := post(t, dev, admin, map[string]any{"query": many.Query}); r.status != http.StatusOK || len(r.Errors) > 0 {
		t.Errorf("under dev, 30 whole-schema introspections: HTTP %d %+v", r.status, r.Errors)
	}
}
