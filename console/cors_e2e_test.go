package console_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/internal/testserver"
	"switchboard/server"
)

// corsPage is a page of another origin that calls the API: a query with
// fetch (a bearer token and a JSON body, so the browser asks leave first)
// and a graphql-transport-ws socket up to its ack.
const corsPage = `<!doctype html><meta charset="utf-8"><title>another origin</title>
<pre id="result"></pre>
<script>
const api = %q, token = %q;
const found = {};
const done = () => { if ('fetch' in found && 'socket' in found) document.getElementById('result').textContent = JSON.stringify(found); };
fetch(api + '/graphql', {
  method: 'POST',
  headers: { 'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json', 'apollographql-client-name': 'cors-test' },
  body: JSON.stringify({ query: '{ me { id } }' }),
}).then(r => r.json()).then(b => { found.fetch = b.data ? b.data.me.id : 'errors'; done(); },
        e => { found.fetch = 'blocked'; done(); });
const ws = new WebSocket(api.replace('http', 'ws') + '/graphql', 'graphql-transport-ws');
ws.onopen = () => ws.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: 'Bearer ' + token } }));
ws.onmessage = (m) => { if (JSON.parse(m.data).type === 'connection_ack') { found.socket = 'ack'; ws.close(); done(); } };
ws.onerror = () => { if (!('socket' in found)) { found.socket = 'refused'; done(); } };
ws.onclose = () => { if (!('socket' in found)) { found.socket = 'refused'; done(); } };
</script>`

// TestCORSInARealBrowser: a page from an allowed origin (another port)
// queries /graphql with fetch and opens the WebSocket; a page from an
// origin that is not allowed is kept from both by the browser.
func TestCORSInARealBrowser(t *testing.T) {
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join("e2e", "node_modules", "playwright-core"))
	}
	if err == nil {
		_, err = os.Stat(chromium)
	}
	testserver.Require(t, err, "node, console/e2e/node_modules (run npm ci in console/e2e) and "+chromium+" (apt-get install chromium)")

	// The pages are served first: the API allows one of their origins. What
	// the page says is set once the API runs (the browser asks only after).
	var mu sync.Mutex
	var api, token string
	page := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, corsPage, api, token)
	})
	allowed, refused := httptest.NewServer(page), httptest.NewServer(page)
	defer allowed.Close()
	defer refused.Close()
	srv := testserver.StartWith(t, e2eSecret, func(c *server.Config) {
		c.AllowedOrigins = []string{strings.TrimPrefix(allowed.URL, "http://")}
	})
	mu.Lock()
	api, token = srv.URL, srv.Token(t, "ws-cors", "ben", "agent", "Ben")
	mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := testserver.Node(ctx, t, node, "e2e", "cors.mjs")
	cmd.Env = append(os.Environ(), "SWITCHBOARD_PAGES="+allowed.URL+" "+refused.URL, "SWITCHBOARD_CHROMIUM="+chromium)
	out, err := cmd.CombinedOutput()
	t.Logf("node cors.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("node cors.mjs: %v", err)
	}
	seen := map[string]map[string]string{}
	for sc := bufio.NewScanner(bytes.NewReader(out)); sc.Scan(); {
		var r map[string]string
		if json.Unmarshal(sc.Bytes(), &r) == nil && r["page"] != "" {
			seen[strings.TrimSuffix(r["page"], "/")] = r
		}
	}
	if r := seen[allowed.URL]; r["fetch"] != "ben" || r["socket"] != "ack" {
		t.Errorf("the allowed origin's page: %v; want fetch ben and socket ack", r)
	}
	if r := seen[refused.URL]; r["fetch"] != "blocked" || r["socket"] != "refused" {
		t.Errorf("another origin's page: %v; want both blocked", r)
	}
}
