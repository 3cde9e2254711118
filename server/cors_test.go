package server_test

import (
	"net/http"
	"strings"
	"testing"

	"switchboard/internal/testserver"
	"switchboard/server"
)

// preflight asks the server, as a browser would, whether a page of origin
// may POST a query with a token.
func preflight(t *testing.T, srv *testserver.Server, origin string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/graphql", nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	// Sorted and in lower case, as browsers send it (the Fetch standard).
	req.Header.Set("Access-Control-Request-Headers", "apollographql-client-name,authorization,content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestCORSAnswersTheAllowedOriginsAndNoOther(t *testing.T) {
	srv := testserver.StartWith(t, secret, func(c *server.Config) {
		c.AllowedOrigins = []string{"app.example.com", "*.staging.example.com"}
	})
	for _, origin := range []string{"https://app.example.com", "https://web.staging.example.com", "http://APP.example.com"} {
		resp := preflight(t, srv, origin)
		h := resp.Header
		if resp.StatusCode >= 300 || h.Get("Access-Control-Allow-Origin") != origin ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
			!strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "authorization") ||
			!strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "apollographql-client-name") ||
			h.Get("Access-Control-Max-Age") == "" || !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") ||
			h.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("preflight from %s: HTTP %d %v", origin, resp.StatusCode, h)
		}
	}
	for _, origin := range []string{"https://evil.example.com", "https://app.example.com.evil.example", "null"} {
		if h := preflight(t, srv, origin).Header; h.Get("Access-Control-Allow-Origin") != "" || h.Get("Access-Control-Allow-Headers") != "" {
			t.Errorf("preflight from %s got CORS headers: %v", origin, h)
		}
	}

	// The request itself carries the origin back, and says it varies by it.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", strings.NewReader(`{"query":"{ __typename }"}`))
	req.Header.Set("Origin", "https://app.example.com")
	req.Header.Set("Content-Type", "application/json")
	a := send(t, req, srv.Token(t, "ws", "ben", "agent", "Ben"))
	if a.Status != http.StatusOK || a.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		!strings.Contains(a.Header.Get("Access-Control-Expose-Headers"), "Retry-After") {
		t.Errorf("a query from an allowed page: HTTP %d %v", a.Status, a.Header)
	}
}

func TestCORSUnderDevAllowsLocalPagesOnAnyPort(t *testing.T) {
	dev := testserver.StartWith(t, secret, func(c *server.Config) { c.Dev = true })
	for _, origin := range []string{"http://localhost:5173", "http://127.0.0.1:3000"} {
		if h := preflight(t, dev, origin).Header; h.Get("Access-Control-Allow-Origin") != origin {
			t.Errorf("dev, preflight from %s: %v", origin, h)
		}
	}
	if h := preflight(t, dev, "http://example.com:5173").Header; h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("dev, preflight from another host: %v", h)
	}
	// Not under serve, unless configured.
	serve := testserver.Start(t, secret)
	if h := preflight(t, serve, "http://localhost:5173").Header; h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("serve, preflight from a local page: %v", h)
	}
}
