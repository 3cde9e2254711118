// Package archtest keeps the package arrows of the design honest: the domain
// imports no transport, GraphQL or database code; resolvers never reach a
// store; each dependency stays in its one package.
package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

// deps returns every package pkg imports, directly or not.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

func TestPackageArrows(t *testing.T) {
	rules := []struct {
		pkg       string
		forbidden []string
	}{
		{"switchboard/domain", []string{"net/http", "github.com/99designs/gqlgen", "github.com/vektah/gqlparser",
			"go.mongodb.org/", "modernc.org/sqlite", "github.com/coder/websocket", "switchboard/store", "switchboard/server"}},
		{"switchboard/resolvers", []string{"switchboard/store", "modernc.org/sqlite", "go.mongodb.org/", "switchboard/server"}},
		{"switchboard/dataloader", []string{"switchboard/store", "github.com/99designs/gqlgen", "net/http"}},
		{"switchboard/store/sqlite", []string{"go.mongodb.org/", "github.com/99designs/gqlgen", "switchboard/server"}},
		{"switchboard/server", []string{"switchboard/store", "modernc.org/sqlite", "go.mongodb.org/"}},
	}
	for _, r := range rules {
		for _, d := range deps(t, r.pkg) {
			for _, f := range r.forbidden {
				if d == f || strings.HasPrefix(d, f+"/") || (strings.HasSuffix(f, "/") && strings.HasPrefix(d, f)) {
					t.Errorf("%s imports %s", r.pkg, d)
				}
			}
		}
	}
}
