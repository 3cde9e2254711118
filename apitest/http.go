package apitest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Requests of any method, media type and token, and the checks of an error
// response over HTTP.

// leakMarkers are words that only internal detail would bring into a
// response.
var leakMarkers = []string{"sqlite", "sql:", "database", "goroutine", ".go:", "panic", "runtime.", "mongo", "internal error:", "SECRET-DETAIL"}

// assertNoLeak checks that r carries no internal detail, and that every error
// has a code.
func assertNoLeak(t *testing.T, r *Response) {
	t.Helper()
	low := strings.ToLower(string(r.Raw))
	for _, m := range leakMarkers {
		if strings.Contains(low, strings.ToLower(m)) {
			t.Errorf("response leaks %q: %s", m, r.Raw)
		}
	}
	if strings.Contains(string(r.Raw), string(Secret)) {
		t.Errorf("response leaks the signing secret: %s", r.Raw)
	}
	for _, e := range r.Errors {
		if c, _ := e.Extensions["code"].(string); c == "" {
			t.Errorf("an error without extensions.code: %s", r.Raw)
		}
	}
}

// request sends a raw request to the GraphQL endpoint.
func (e *Env) request(method, token, contentType, accept string, body string) *Response {
	e.T.Helper()
	req, err := http.NewRequest(method, e.URL, strings.NewReader(body))
	if err != nil {
		e.T.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.Send(req)
}

// get sends a GET with query parameters.
func (e *Env) get(token, accept string, params url.Values) *Response {
	e.T.Helper()
	req, err := http.NewRequest(http.MethodGet, e.URL+"?"+params.Encode(), nil)
	if err != nil {
		e.T.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.Send(req)
}

// postAs posts a document with an Accept header.
func (e *Env) postAs(token, accept, query string, vars map[string]any) *Response {
	e.T.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		e.T.Fatal(err)
	}
	return e.request(http.MethodPost, token, "application/json", accept, string(body))
}

// The response media types of GraphQL over HTTP.
const (
	mediaJSON     = "application/json"
	mediaResponse = "application/graphql-response+json"
)

// expectHTTP checks a response's status, media type and first error code
// ("" for no error).
func expectHTTP(t *testing.T, what string, r *Response, status int, media, code string) {
	t.Helper()
	ct := r.Header.Get("Content-Type")
	if r.Status != status || !strings.HasPrefix(ct, media) || r.Code() != code {
		t.Errorf("%s: HTTP %d %s code %q; want HTTP %d %s code %q: %s", what, r.Status, ct, r.Code(), status, media, code, r.Raw)
	}
	assertNoLeak(t, r)
}

// expectNoData checks that a request refused before execution has no data
// entry at all (GraphQL over HTTP).
func expectNoData(t *testing.T, what string, r *Response) {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.Raw, &raw); err != nil {
		t.Errorf("%s: body is not a JSON object: %s", what, r.Raw)
		return
	}
	if _, ok := raw["data"]; ok {
		t.Errorf("%s: a refused request has a data entry: %s", what, r.Raw)
	}
	if len(r.Errors) == 0 {
		t.Errorf("%s: no errors: %s", what, r.Raw)
	}
}
