package console_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/internal/testserver"
)

// chromium is Debian's Chromium (apt-get install chromium); playwright's
// own browser download is not used.
const chromium = "/usr/bin/chromium"

var e2eSecret = []byte("console-e2e-secret-console-e2e-secret-00")

// TestConsoleInARealBrowser runs e2e/e2e.mjs: playwright-core drives
// Chromium through the console against a real server — agents Ben and Cleo
// side by side, live queue rows and counts (pushed, never queried),
// assignment through the owner drop-down, reply-and-move, a conflict,
// presence dots, a dropped socket that catches up, the admin page, missed
// assignments, the ownership history from its newest change back to its
// first, and routing: an admin's settings (an out-of-range capacity refused
// at its field), routing agents, a routed message, load and capacity in the
// filter menu, setting an agent Away; an agent sees none of the admin's
// controls. The server runs its jobs, as switchboard serve does, so that
// routing gives work out.
//
// It needs node, e2e/node_modules (npm ci in console/e2e) and Chromium; it
// skips without them, except under CI=true, where they are required.
func TestConsoleInARealBrowser(t *testing.T) {
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join("e2e", "node_modules", "playwright-core"))
	}
	if err == nil {
		_, err = os.Stat(chromium)
	}
	testserver.Require(t, err, "node, console/e2e/node_modules (run npm ci in console/e2e) and "+chromium+" (apt-get install chromium)")
	srv := testserver.StartWithJobs(t, e2eSecret)
	svc := srv.Service

	// The workspace: an admin, three agents (all OFFLINE until they sign
	// in), a channel and two conversations, one of them Cleo's.
	const ws = "ws-console"
	ctx := context.Background()
	people := []struct{ id, role, name string }{
		{"ada", "admin", "Ada Admin"}, {"ben", "agent", "Ben Baker"}, {"cleo", "agent", "Cleo Cruz"}, {"dev", "agent", "Dev Patel"},
	}
	tokens := map[string]string{}
	actors := map[string]domain.Actor{}
	for _, p := range people {
		tokens[p.id] = srv.Token(t, ws, p.id, p.role, p.name)
		a, err := svc.Authenticate(ctx, domain.Claims{WorkspaceID: ws, Subject: p.id, Role: p.role, Name: p.name, Email: p.id + "@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		actors[p.id] = a
	}
	integration := srv.Token(t, ws, "connector", "integration", "Connector")
	email, err := svc.CreateChannel(ctx, actors["ada"], "Email")
	if err != nil {
		t.Fatal(err)
	}
	connector := domain.Actor{WorkspaceID: ws, ID: "connector", Role: domain.RoleIntegration}
	for i, c := range []struct{ contact, name, text, owner string }{
		{"grace@example.org", "Grace Hopper", "My invoice shows the wrong VAT number.", ""},
		{"linus@example.org", "Linus T.", "How do I export my data?", "cleo"},
	} {
		res, err := svc.IngestInbound(ctx, connector, domain.InboundCommand{
			ChannelID: email.ID, ContactExternalID: c.contact, ContactName: c.name,
			ExternalMessageID: fmt.Sprintf("seed-%d", i), Text: c.text,
		})
		if err != nil {
			t.Fatal(err)
		}
		if c.owner != "" {
			owner := c.owner
			if _, err := svc.SetOwner(ctx, actors["ada"], domain.SetOwnerCommand{ConversationID: res.ConversationID, OwnerID: &owner, OwnerGiven: true}); err != nil {
				t.Fatal(err)
			}
		}
	}

	shots := os.Getenv("SWITCHBOARD_E2E_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	runCtx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := testserver.Node(runCtx, t, node, "e2e", "e2e.mjs")
	cmd.Env = append(os.Environ(),
		"SWITCHBOARD_URL="+srv.URL,
		"SWITCHBOARD_TOKEN_ADMIN="+tokens["ada"],
		"SWITCHBOARD_TOKEN_BEN="+tokens["ben"],
		"SWITCHBOARD_TOKEN_CLEO="+tokens["cleo"],
		"SWITCHBOARD_TOKEN_DEV="+tokens["dev"],
		"SWITCHBOARD_TOKEN_INTEGRATION="+integration,
		"SWITCHBOARD_CHANNEL_ID="+email.ID,
		"SWITCHBOARD_CHROMIUM="+chromium,
		"SWITCHBOARD_SCREENSHOTS="+shots,
	)
	out, err := cmd.CombinedOutput()
	t.Logf("node e2e.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("node e2e.mjs: %v (screenshots in %s)", err, shots)
	}
	t.Logf("screenshots in %s", shots)
}
