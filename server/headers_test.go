package server_test

import (
	"crypto/sha256"
	"encoding/base64"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"switchboard/internal/testserver"
)

// Tests of the security headers of /graphql and /playground, over real HTTP.

func TestGraphQLAnswersAreNeverSniffed(t *testing.T) {
	srv := testserver.Start(t, secret)
	token := srv.Token(t, "acme", "ada", "admin", "Ada")
	query := `{"query":"{ me { id } }"}`
	for _, tc := range []struct {
		name, method, body, contentType, accept, token string
		status                                         int
	}{
		{"a query", http.MethodPost, query, "application/json", "", token, http.StatusOK},
		{"a document that does not parse", http.MethodPost, `{"query":"{ me {"}`, "application/json", "application/graphql-response+json", token, http.StatusBadRequest},
		{"no token", http.MethodPost, query, "application/json", "", "", http.StatusUnauthorized},
		{"a body that is no JSON", http.MethodPost, `{"query":`, "application/json", "", token, http.StatusBadRequest},
		{"another media type", http.MethodPost, query, "text/plain", "", token, http.StatusUnsupportedMediaType},
		{"nothing acceptable", http.MethodPost, query, "application/json", "text/html", token, http.StatusNotAcceptable},
		{"a method /graphql has not", http.MethodPut, query, "application/json", "", token, http.StatusMethodNotAllowed},
		{"a body over the limit", http.MethodPost, `{"query":"` + strings.Repeat(" ", 2<<20) + `"}`, "application/json", "", token, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+"/graphql", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tc.contentType)
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("%s %s, want %d", resp.Status, body, tc.status)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Fatalf("X-Content-Type-Options %q", got)
			}
		})
	}
}

// directives splits a Content-Security-Policy into its directives' sources.
func directives(policy string) map[string][]string {
	out := map[string][]string{}
	for _, d := range strings.Split(policy, ";") {
		if fields := strings.Fields(d); len(fields) > 0 {
			out[fields[0]] = fields[1:]
		}
	}
	return out
}

// What the playground page loads and runs, found here without the server's
// code: external scripts and stylesheets by their URLs, inline scripts and
// styles by their text.
var (
	scriptSrc    = regexp.MustCompile(`(?is)<script\b[^>]*\bsrc="([^"]*)"`)
	inlineScript = regexp.MustCompile(`(?is)<script>(.*?)</script>`)
	stylesheet   = regexp.MustCompile(`(?is)<link\b[^>]*\bhref="([^"]*)"`)
	inlineStyle  = regexp.MustCompile(`(?is)<style>(.*?)</style>`)
)

func TestPlaygroundPolicyAllowsExactlyWhatThePageLoads(t *testing.T) {
	srv := testserver.Start(t, secret)
	resp, err := http.Get(srv.URL + "/playground")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(raw)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s", resp.Status, page)
	}
	for name, want := range map[string]string{
		"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s %q, want %q", name, got, want)
		}
	}

	expected := func(urls, inline *regexp.Regexp) []string {
		var out []string
		for _, m := range urls.FindAllStringSubmatch(page, -1) {
			u, err := url.Parse(html.UnescapeString(m[1]))
			if err != nil || u.Scheme != "https" || u.Host == "" {
				t.Fatalf("the page loads %q, not an https URL", m[1])
			}
			out = append(out, u.Scheme+"://"+u.Host)
		}
		if len(out) == 0 {
			t.Fatalf("no %v in the page: this test no longer reads it", urls)
		}
		for _, m := range inline.FindAllStringSubmatch(page, -1) {
			sum := sha256.Sum256([]byte(m[1]))
			out = append(out, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	policy := directives(resp.Header.Get("Content-Security-Policy"))
	for directive, want := range map[string][]string{
		"script-src": expected(scriptSrc, inlineScript),
		"style-src":  expected(stylesheet, inlineStyle),
	} {
		got := slices.Sorted(slices.Values(policy[directive]))
		if !slices.Equal(got, want) {
			t.Errorf("%s %q, want exactly %q", directive, got, want)
		}
	}
	if !slices.ContainsFunc(policy["script-src"], func(s string) bool { return strings.HasPrefix(s, "'sha256-") }) {
		t.Error("no inline script is allowed: this test no longer reads the page")
	}
	for directive, want := range map[string]string{
		"default-src": "'none'", "frame-ancestors": "'none'", "base-uri": "'none'", "form-action": "'none'",
	} {
		if got := strings.Join(policy[directive], " "); got != want {
			t.Errorf("%s %q, want %q", directive, got, want)
		}
	}
	host := strings.TrimPrefix(srv.URL, "http://")
	if got, want := strings.Join(policy["connect-src"], " "), "'self' ws://"+host+" wss://"+host; got != want {
		t.Errorf("connect-src %q, want %q", got, want)
	}
}
