package console_test

import (
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"switchboard/app"
	"switchboard/console"
	"switchboard/server"
	"switchboard/store/sqlite"
	"switchboard/store/sqlite/sqlitetest"
)

func get(t *testing.T, h http.Handler, method, target string, header http.Header) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestFilesAreServedWithTheirTypesAndAStrictPolicy(t *testing.T) {
	h := console.Handler()
	for target, want := range map[string]string{
		"/":                  "text/html; charset=utf-8",
		"/app.css":           "text/css; charset=utf-8",
		"/js/main.js":        "text/javascript; charset=utf-8",
		"/js/live.js":        "text/javascript; charset=utf-8",
		"/js/views/queue.js": "text/javascript; charset=utf-8",
		"/favicon.svg":       "image/svg+xml",
	} {
		resp := get(t, h, http.MethodGet, "http://127.0.0.1:8080"+target, nil)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != want || len(body) == 0 {
			t.Errorf("GET %s: %d %q (%d bytes), want 200 %q", target, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), want)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", target, cc)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", target)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		for _, part := range []string{
			"default-src 'self'", "script-src 'self'", "style-src 'self'",
			"connect-src 'self' ws://127.0.0.1:8080 wss://127.0.0.1:8080", "frame-ancestors 'none'", "object-src 'none'",
		} {
			if !strings.Contains(csp, part) {
				t.Errorf("GET %s: the policy %q lacks %q", target, csp, part)
			}
		}
		if strings.Contains(csp, "unsafe") || strings.Contains(csp, "*") {
			t.Errorf("GET %s: the policy %q allows too much", target, csp)
		}
	}

	index := get(t, h, http.MethodGet, "/", nil)
	body, _ := io.ReadAll(index.Body)
	if !strings.Contains(string(body), `<script type="module" src="/js/main.js">`) {
		t.Errorf("index.html does not load the app:\n%s", body)
	}
	// Revalidation: the ETag answers 304.
	etag := index.Header.Get("ETag")
	if resp := get(t, h, http.MethodGet, "/", http.Header{"If-None-Match": {etag}}); etag == "" || resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match %q: %d, want 304", etag, resp.StatusCode)
	}
	if resp := get(t, h, http.MethodHead, "/app.css", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD /app.css: %d", resp.StatusCode)
	}
	for _, target := range []string{"/nope", "/index.html", "/js/", "/js", "/static/app.css", "/../console.go", "/js/nope.js"} {
		if resp := get(t, h, http.MethodGet, target, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", target, resp.StatusCode)
		}
	}
	if resp := get(t, h, http.MethodPost, "/", nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d, want 405", resp.StatusCode)
	}
}

func TestThePolicyNamesOnlyAPlainHost(t *testing.T) {
	for host, want := range map[string]string{
		"example.com":      "connect-src 'self' ws://example.com wss://example.com;",
		"[::1]:8080":       "connect-src 'self' ws://[::1]:8080 wss://[::1]:8080;",
		"evil.com; script": "connect-src 'self';",
		"":                 "connect-src 'self';",
	} {
		h := http.Header{}
		console.SecurityHeaders(h, host)
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, want) {
			t.Errorf("host %q: %q lacks %q", host, csp, want)
		}
	}
}

// newServer is a server on a fresh store, with dev tokens or none.
func newServer(t *testing.T, tokens []server.DevToken) http.Handler {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	a, err := app.New(context.Background(), app.Config{
		Store: app.UseStore(sqlitetest.New(t, sqlite.Options{Logger: log})),
		Keys:  server.KeyConfig{Secret: e2eSecret}, Server: server.Config{DevTokens: tokens}, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Shutdown(context.Background()) })
	return a.Handler()
}

func TestTheServerMountsTheConsoleBesideTheAPI(t *testing.T) {
	srv := newServer(t, nil)
	for target, want := range map[string]int{
		"/":                   http.StatusOK,
		"/app.css":            http.StatusOK,
		"/js/api.js":          http.StatusOK,
		"/playground":         http.StatusOK,
		"/healthz":            http.StatusOK,
		"/readyz":             http.StatusOK,
		"/graphql":            http.StatusUnauthorized, // no token
		"/console/dev-tokens": http.StatusNotFound,     // not under serve
		"/nope":               http.StatusNotFound,
		"/graphql/nope":       http.StatusNotFound,
	} {
		resp := get(t, srv, http.MethodGet, target+map[bool]string{true: "?query=%7Bme%7Bid%7D%7D"}[target == "/graphql"], nil)
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", target, resp.StatusCode, want)
		}
	}
}

func TestDevTokensAreServedOnlyWhenConfigured(t *testing.T) {
	tokens := []server.DevToken{
		{Label: "Ada Admin (ADMIN)", Role: "admin", Token: "t-ada"},
		{Label: "Ben Baker (AGENT)", Role: "agent", Token: "t-ben"},
	}
	resp := get(t, newServer(t, tokens), http.MethodGet, "/console/dev-tokens", nil)
	var got []server.DevToken
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /console/dev-tokens: %d, %v", resp.StatusCode, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if len(got) != 2 || got[0] != tokens[0] || got[1] != tokens[1] {
		t.Errorf("got %+v, want %+v", got, tokens)
	}
	if resp := get(t, newServer(t, nil), http.MethodGet, "/console/dev-tokens", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("without dev tokens: %d, want 404", resp.StatusCode)
	}
}

// staticFiles returns every file under static/, by its path there.
func staticFiles(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir("static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[filepath.ToSlash(p)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The console works without internet: nothing in it loads from another
// host, by absolute URL or protocol-relative one.
func TestNothingIsLoadedFromAnotherHost(t *testing.T) {
	absolute := regexp.MustCompile(`(?i)\b(?:https?|wss?|ftp)://[^\s"'<>)` + "`" + `]*`)
	// The SVG namespace is a name, never fetched.
	names := map[string]bool{"http://www.w3.org/2000/svg": true}
	relative := regexp.MustCompile(`(?i)(?:\b(?:src|href|action|srcset|poster|data)\s*=\s*["']?\s*//)` +
		`|(?:url\(\s*["']?\s*//)|(?:@import\s+["']\s*//)|(?:\bfrom\s*["']\s*//)|(?:\bimport\s*\(\s*["'` + "`" + `]\s*//)` +
		`|(?:\b(?:fetch|WebSocket|EventSource|Worker|sendBeacon)\s*\(\s*["'` + "`" + `]\s*//)`)
	files := staticFiles(t)
	if len(files) < 5 {
		t.Fatalf("only %d static files", len(files))
	}
	for name, text := range files {
		for _, u := range absolute.FindAllString(text, -1) {
			if !names[u] {
				t.Errorf("%s names %s: the console must load nothing from another host", name, u)
			}
		}
		for _, m := range relative.FindAllString(text, -1) {
			t.Errorf("%s has a protocol-relative load %q", name, m)
		}
	}
}

// The policy forbids inline script and style; the files must not need them,
// and text must never become markup.
func TestNoInlineScriptStyleOrMarkupFromStrings(t *testing.T) {
	inline := regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]|<style|\sstyle\s*=|\son[a-z]+\s*=|javascript:`)
	markup := regexp.MustCompile(`\.(?:innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function\(`)
	for name, text := range staticFiles(t) {
		switch path.Ext(name) {
		case ".html", ".svg":
			if m := inline.FindString(text); m != "" {
				t.Errorf("%s: inline script or style %q", name, m)
			}
		case ".js":
			if m := markup.FindString(text); m != "" {
				t.Errorf("%s: %q turns strings into markup or code", name, m)
			}
		}
	}
}

// Every module a module imports is a file the handler serves.
func TestEveryImportIsServed(t *testing.T) {
	h := console.Handler()
	imports := regexp.MustCompile(`(?m)^\s*import\s[^;]*?from\s+'([^']+)'|^\s*import\s+'([^']+)'`)
	for name, text := range staticFiles(t) {
		if path.Ext(name) != ".js" {
			continue
		}
		for _, m := range imports.FindAllStringSubmatch(text, -1) {
			spec := m[1] + m[2]
			if !strings.HasPrefix(spec, "./") && !strings.HasPrefix(spec, "../") {
				t.Errorf("%s imports %q: only relative imports of the console's own files", name, spec)
				continue
			}
			target := path.Join("/", path.Dir(strings.TrimPrefix(name, "static")), spec)
			if resp := get(t, h, http.MethodGet, target, nil); resp.StatusCode != http.StatusOK {
				t.Errorf("%s imports %s: GET %s is %d", name, spec, target, resp.StatusCode)
			}
		}
	}
}
