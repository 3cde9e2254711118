package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// `switchboard dev` prints the console's URL first and offers the demo
// tokens (admin and agents) on its sign-in page; `serve` serves the console
// but never tokens.
func TestDevOffersTheConsoleWithItsTokensAndServeDoesNot(t *testing.T) {
	s := startDev(t, t.TempDir())
	first := strings.TrimSpace(strings.TrimLeft(s.banner, "\n"))
	if want := "Console: " + s.base + "/ "; !strings.HasPrefix(first, want) {
		t.Errorf("the banner starts %q, want %q", first[:min(len(first), 80)], want)
	}
	resp, err := http.Get(s.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET /: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp, err = http.Get(s.base + "/console/dev-tokens")
	if err != nil {
		t.Fatal(err)
	}
	var tokens []struct{ Label, Role, Token string }
	err = json.NewDecoder(resp.Body).Decode(&tokens)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /console/dev-tokens: %d, %v", resp.StatusCode, err)
	}
	var roles []string
	for _, tok := range tokens {
		roles = append(roles, tok.Role)
		if tok.Token != s.tokenAfter(t, tok.Label) {
			t.Errorf("%s: the page offers another token than the banner prints", tok.Label)
		}
		status, out := s.query(t, tok.Token, `{ me { id role } }`)
		if status != http.StatusOK || out["errors"] != nil {
			t.Errorf("%s: HTTP %d %v", tok.Label, status, out)
		}
	}
	if strings.Join(roles, ",") != "admin,agent,agent" {
		t.Errorf("offered roles %v, want an admin and two agents", roles)
	}

	p := startServe(t, t.TempDir(), "SWITCHBOARD_JWT_SECRET="+strings.Repeat("s", 32))
	for path, want := range map[string]int{"/": http.StatusOK, "/console/dev-tokens": http.StatusNotFound} {
		resp, err := http.Get(p.base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("serve: GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}
