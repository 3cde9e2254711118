package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"switchboard/internal/testserver"
)

// Tests of the security headers of /graphql over real HTTP (those of
// /playground are in playground_test.go).

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
