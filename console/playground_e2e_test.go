package console_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/internal/testserver"
)

// TestPlaygroundInARealBrowserWithoutInternet runs e2e/playground.mjs:
// playwright-core drives Chromium through the server's /playground with
// every request to another host refused: GraphiQL renders, the
// Authorization header set in its Headers tab loads the schema (Docs, the
// explorer) and runs a query, a subscription streams over the server's
// WebSocket, and the token is not left in the browser's storage. The
// playground lives in server/; this harness is the console's, whose
// node_modules it shares.
//
// It needs node, e2e/node_modules (npm ci in console/e2e) and Chromium; it
// skips without them, except under CI=true, where they are required.
func TestPlaygroundInARealBrowserWithoutInternet(t *testing.T) {
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join("e2e", "node_modules", "playwright-core"))
	}
	if err == nil {
		_, err = os.Stat(chromium)
	}
	testserver.Require(t, err, "node, console/e2e/node_modules (run npm ci in console/e2e) and "+chromium+" (apt-get install chromium)")
	srv := testserver.Start(t, e2eSecret)

	// Ada may introspect (introspection is for admins); Ben is known to
	// the workspace, so his presence changes are events Ada sees.
	const ws = "ws-playground"
	for _, p := range []struct{ id, role, name string }{{"ada", "admin", "Ada Admin"}, {"ben", "agent", "Ben Baker"}} {
		if _, err := srv.Service.Authenticate(context.Background(), domain.Claims{WorkspaceID: ws, Subject: p.id, Role: p.role, Name: p.name}); err != nil {
			t.Fatal(err)
		}
	}

	shots := os.Getenv("SWITCHBOARD_E2E_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	runCtx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := testserver.Node(runCtx, t, node, "e2e", "playground.mjs")
	cmd.Env = append(os.Environ(),
		"SWITCHBOARD_URL="+srv.URL,
		"SWITCHBOARD_TOKEN_ADMIN="+srv.Token(t, ws, "ada", "admin", "Ada Admin"),
		"SWITCHBOARD_TOKEN_BEN="+srv.Token(t, ws, "ben", "agent", "Ben Baker"),
		"SWITCHBOARD_CHROMIUM="+chromium,
		"SWITCHBOARD_SCREENSHOTS="+shots,
	)
	out, err := cmd.CombinedOutput()
	t.Logf("node playground.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("node playground.mjs: %v (screenshots in %s)", err, shots)
	}
}
