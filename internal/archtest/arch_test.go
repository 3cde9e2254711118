// Package archtest keeps the package arrows of the design honest: the domain
// imports no transport, GraphQL or database code; resolvers never reach a
// store; only commands and test harnesses import the assembly (app); each
// dependency stays in its one package.
package archtest

import (
	"os/exec"
	"slices"
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
			"go.mongodb.org/", "modernc.org/sqlite", "github.com/coder/websocket", "switchboard/store", "switchboard/server",
			"github.com/prometheus/", "go.opentelemetry.io/"}},
		{"switchboard/resolvers", []string{"switchboard/store", "modernc.org/sqlite", "go.mongodb.org/", "switchboard/server"}},
		{"switchboard/dataloader", []string{"switchboard/store", "github.com/99designs/gqlgen", "net/http"}},
		{"switchboard/store/sqlite", []string{"go.mongodb.org/", "github.com/99designs/gqlgen", "switchboard/server"}},
		{"switchboard/server", []string{"switchboard/store", "modernc.org/sqlite", "go.mongodb.org/"}},
		// The assembly of the production binary carries no test code.
		{"switchboard/app", []string{"testing", "switchboard/apitest", "switchboard/internal/testserver", "switchboard/internal/fakeclock",
			"switchboard/store/storetest", "switchboard/store/sqlite/sqlitetest", "switchboard/store/mongo/mongotest"}},
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

// appImporters may import switchboard/app: the commands, and the harnesses
// that tests build whole servers with. Tests themselves may too (go list
// without -test does not see them).
var appImporters = []string{"switchboard/cmd/", "switchboard/apitest", "switchboard/internal/testserver"}

// TestOnlyCommandsAndHarnessesImportApp: app wires every part together, so
// no part may import it (domain, stores, feed, resolvers, server…), or a
// part would depend on the whole and the assembly would stop being one
// place above everything.
func TestOnlyCommandsAndHarnessesImportApp(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", "switchboard/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	importers := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, deps := fields[0], fields[1:]
		if !slices.Contains(deps, "switchboard/app") {
			continue
		}
		importers++
		allowed := false
		for _, a := range appImporters {
			allowed = allowed || pkg == a || (strings.HasSuffix(a, "/") && strings.HasPrefix(pkg, a))
		}
		if !allowed {
			t.Errorf("%s imports switchboard/app; only commands and test harnesses may", pkg)
		}
	}
	if importers == 0 {
		t.Error("nothing imports switchboard/app: the rule checks nothing")
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
		"github.com/prometheus":          "switchboard/metrics",
		"go.opentelemetry.io/otel":       "switchboard/tracing",
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
