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

// TestOnePackagePerDependency: within the production binary, each heavy
// dependency is imported by one package of ours (the transport on
// coder/websocket, each store on its driver), so it can be read and replaced
// in one place.
func TestOnePackagePerDependency(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "switchboard/cmd/switchboard").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	owners := map[string]string{
		"go.mongodb.org/mongo-driver/v2": "switchboard/store/mongo",
		"modernc.org/sqlite":             "switchboard/store/sqlite",
		"github.com/coder/websocket":     "switchboard/server/ws",
		"github.com/golang-jwt/jwt/v5":   "switchboard/server",
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := fields[0]
		if !strings.HasPrefix(pkg, "switchboard") {
			continue
		}
		for _, imp := range fields[1:] {
			for dep, owner := range owners {
				if (imp == dep || strings.HasPrefix(imp, dep+"/")) && pkg != owner {
					t.Errorf("%s imports %s; only %s should", pkg, imp, owner)
				}
			}
		}
	}
	// FerretDB is a test server, never part of the production binary.
	if strings.Contains(string(out), "FerretDB") {
		t.Error("the production binary depends on FerretDB")
	}
}
