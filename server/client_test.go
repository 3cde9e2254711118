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

func postBody(t *testing.T, srv *testserver.Server, token, accept, body string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/graphql", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	return send(t, req, token)
}

func post(t *testing.T, srv *testserver.Server, token, query string, vars map[string]any) answer {
	t.Helper()
	b, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	return postBody(t, srv, token, "", string(b))
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
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/graphql?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return send(t, req, token)
}

// overSocket runs one operation over graphql-transport-ws and returns its
// first result: the payload of next (a response) or of error (a list).
func overSocket(t *testing.T, srv *testserver.Server, token, query, operationName string) answer {
	t.Helper()
	s := wsclient.Connect(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql", wsclient.TransportWS, token)
	defer s.Close(websocket.StatusNormalClosure, "")
	s.Send(wsclient.Message{ID: "1", Type: "subscribe", Payload: wsclient.JSON(map[string]any{"query": query, "operationName": operationName})})
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
