package server_test

import (
	"io"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"switchboard/internal/testserver"
)

// Tests of /playground over real HTTP: its policy, that the page runs
// nothing inline, and that everything it loads is this server's own file,
// served with its media type. console/playground_e2e_test.go runs it in
// Chromium.

// fetch GETs (or sends method to) a URL and returns the response with its
// body read.
func fetch(t *testing.T, method, target string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, values := range header {
		req.Header[name] = values
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

var (
	// element is an HTML start tag with its attributes.
	element   = regexp.MustCompile(`(?is)<([a-z]+)\b([^>]*)>`)
	attribute = regexp.MustCompile(`(?is)([a-z-]+)\s*=\s*"([^"]*)"`)
	// cssURL is a url(…) in a stylesheet, quoted or not.
	cssURL = regexp.MustCompile(`(?i)url\(\s*["']?([^"')]*)`)
)

// pageElement is one start tag of a page.
type pageElement struct {
	name  string
	attrs map[string]string
}

func elements(page string) []pageElement {
	var out []pageElement
	for _, m := range element.FindAllStringSubmatch(page, -1) {
		e := pageElement{name: strings.ToLower(m[1]), attrs: map[string]string{}}
		for _, a := range attribute.FindAllStringSubmatch(m[2], -1) {
			e.attrs[strings.ToLower(a[1])] = a[2]
		}
		out = append(out, e)
	}
	return out
}

func TestThePlaygroundPolicyAllowsOnlyThisServersFiles(t *testing.T) {
	srv := testserver.Start(t, secret)
	resp, page := fetch(t, http.MethodGet, srv.URL+"/playground", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s", resp.Status, page)
	}
	for name, want := range map[string]string{
		"Content-Type": "text/html; charset=utf-8", "X-Content-Type-Options": "nosniff",
		"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s %q, want %q", name, got, want)
		}
	}

	// Every directive, exactly: anything not named falls back to
	// default-src 'none'.
	host := strings.TrimPrefix(srv.URL, "http://")
	want := map[string][]string{
		"default-src":     {"'none'"},
		"script-src":      {"'self'"},
		"style-src":       {"'self'"},
		"img-src":         {"data:"},
		"font-src":        {"data:"},
		"connect-src":     {"'self'", "ws://" + host, "wss://" + host},
		"base-uri":        {"'none'"},
		"form-action":     {"'none'"},
		"frame-ancestors": {"'none'"},
	}
	policy := directives(resp.Header.Get("Content-Security-Policy"))
	for name, sources := range want {
		if !slices.Equal(policy[name], sources) {
			t.Errorf("%s %q, want %q", name, policy[name], sources)
		}
	}
	for name := range policy {
		if _, ok := want[name]; !ok {
			t.Errorf("an unexpected directive %s %q", name, policy[name])
		}
	}

	// The page runs nothing inline, which the policy would refuse anyway:
	// no script without src, no script text, no style element or attribute,
	// no event handler attribute.
	for _, script := range regexp.MustCompile(`(?is)<script\b[^>]*>(.*?)</script>`).FindAllStringSubmatch(page, -1) {
		if strings.TrimSpace(script[1]) != "" {
			t.Errorf("an inline script: %.80q", script[1])
		}
	}
	for _, e := range elements(page) {
		if e.name == "script" && e.attrs["src"] == "" {
			t.Errorf("a <script> without src: %v", e.attrs)
		}
		if e.name == "style" {
			t.Error("a <style> element")
		}
		for name := range e.attrs {
			if name == "style" || strings.HasPrefix(name, "on") {
				t.Errorf("<%s %s=…>", e.name, name)
			}
		}
	}
}

func TestEveryPlaygroundAssetIsServedWithItsMediaType(t *testing.T) {
	srv := testserver.Start(t, secret)
	pageURL, err := url.Parse(srv.URL + "/playground")
	if err != nil {
		t.Fatal(err)
	}
	_, page := fetch(t, http.MethodGet, pageURL.String(), nil)

	type asset struct{ ref, contentType string }
	var assets []asset
	var scripts []string
	for _, e := range elements(page) {
		switch {
		case e.name == "script":
			assets = append(assets, asset{e.attrs["src"], "text/javascript; charset=utf-8"})
			scripts = append(scripts, path.Base(e.attrs["src"]))
		case e.name == "link" && e.attrs["rel"] == "stylesheet":
			assets = append(assets, asset{e.attrs["href"], "text/css; charset=utf-8"})
		case e.name == "link" && e.attrs["rel"] == "icon":
			if e.attrs["href"] != "data:," {
				t.Errorf("the icon %q is fetched", e.attrs["href"])
			}
		case e.name == "link":
			t.Errorf("a <link rel=%q> this test does not check", e.attrs["rel"])
		}
	}
	// The UMD bundles find each other as globals: each after what it needs.
	if want := []string{"react.production.min.js", "react-dom.production.min.js", "graphiql.min.js", "index.umd.js", "playground.js"}; !slices.Equal(scripts, want) {
		t.Errorf("scripts %q, want %q", scripts, want)
	}
	if len(assets) < 8 {
		t.Fatalf("only %d assets in the page: this test no longer reads it", len(assets))
	}
	for _, a := range assets {
		u, err := pageURL.Parse(a.ref)
		if err != nil || u.Scheme+"://"+u.Host != srv.URL {
			t.Errorf("%q is not on the server's origin (%v)", a.ref, err)
			continue
		}
		resp, body := fetch(t, http.MethodGet, u.String(), nil)
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("%s: %s, %d bytes", u.Path, resp.Status, len(body))
			continue
		}
		if got := resp.Header.Get("Content-Type"); got != a.contentType {
			t.Errorf("%s: Content-Type %q, want %q", u.Path, got, a.contentType)
		}
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", u.Path, got)
		}
		// A stylesheet's fonts and images are data: URLs (font-src and
		// img-src allow nothing else), never a request to another host.
		if strings.HasPrefix(a.contentType, "text/css") {
			for _, m := range cssURL.FindAllStringSubmatch(body, -1) {
				if !strings.HasPrefix(m[1], "data:") {
					t.Errorf("%s loads %q", u.Path, m[1])
				}
			}
			if strings.Contains(body, "@import") {
				t.Errorf("%s imports another stylesheet", u.Path)
			}
		}
	}
}

func TestThePlaygroundServesItsFilesAndNothingElse(t *testing.T) {
	srv := testserver.Start(t, secret)
	for _, tc := range []struct {
		method, path string
		status       int
		contentType  string
	}{
		{http.MethodGet, "/playground", http.StatusOK, "text/html; charset=utf-8"},
		{http.MethodHead, "/playground", http.StatusOK, "text/html; charset=utf-8"},
		{http.MethodGet, "/playground/third_party/graphiql/LICENSE", http.StatusOK, "text/plain; charset=utf-8"},
		{http.MethodGet, "/playground/third_party/plugin-explorer/LICENSE.graphiql-explorer", http.StatusOK, "text/plain; charset=utf-8"},
		{http.MethodGet, "/playground/third_party/THIRD-PARTY-LICENSES.txt", http.StatusOK, "text/plain; charset=utf-8"},
		{http.MethodGet, "/playground/", http.StatusNotFound, ""},
		{http.MethodGet, "/playground/index.html", http.StatusNotFound, ""},
		{http.MethodGet, "/playground/nope.js", http.StatusNotFound, ""},
		// The npm manifests and the refresh script are not embedded.
		{http.MethodGet, "/playground/third_party/package.json", http.StatusNotFound, ""},
		{http.MethodGet, "/playground/third_party/package-lock.json", http.StatusNotFound, ""},
		{http.MethodGet, "/playground/third_party/refresh.sh", http.StatusNotFound, ""},
		{http.MethodPost, "/playground", http.StatusMethodNotAllowed, ""},
		{http.MethodPost, "/playground/playground.js", http.StatusMethodNotAllowed, ""},
	} {
		resp, body := fetch(t, tc.method, srv.URL+tc.path, nil)
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: %s, want %d", tc.method, tc.path, resp.Status, tc.status)
			continue
		}
		if tc.contentType != "" && resp.Header.Get("Content-Type") != tc.contentType {
			t.Errorf("%s %s: Content-Type %q, want %q", tc.method, tc.path, resp.Header.Get("Content-Type"), tc.contentType)
		}
		if tc.method == http.MethodHead && body != "" {
			t.Errorf("HEAD %s: a body", tc.path)
		}
	}

	// A browser that has the file revalidates it and gets 304.
	resp, _ := fetch(t, http.MethodGet, srv.URL+"/playground/playground.js", nil)
	etag := resp.Header.Get("ETag")
	if etag == "" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q", etag, resp.Header.Get("Cache-Control"))
	}
	if resp, _ := fetch(t, http.MethodGet, srv.URL+"/playground/playground.js", http.Header{"If-None-Match": {etag}}); resp.StatusCode != http.StatusNotModified {
		t.Errorf("revalidating: %s, want 304", resp.Status)
	}
}
