// Package interop_test runs real GraphQL clients of the npm registry under
// Node against a real Switchboard server: graphql-ws and
// subscriptions-transport-ws (run.mjs), and Apollo Client's persisted
// queries link (apq.mjs). `npm ci` in this directory installs
// them from package-lock.json; .ci/run does it before the Go tests.
package interop_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"switchboard/internal/testserver"
)

var secret = []byte("interop-secret-interop-secret-interop-secret")

func TestNodeClients(t *testing.T) {
	node := requireNode(t)
	t.Cleanup(func() { goleak.VerifyNone(t) })

	srv := testserver.Start(t, secret)

	token := func(sub, role string) string { return srv.Token(t, "ws-interop", sub, role, sub) }
	post := poster(t, srv)
	admin, ben := token("ada", "admin"), token("ben", "agent")
	for _, tok := range []string{admin, ben, token("cleo", "agent")} {
		post(tok, `{ me { id } }`, nil, nil)
	}
	var ch struct {
		CreateChannel struct{ Channel struct{ ID string } }
	}
	post(admin, `mutation { createChannel(input: {name: "Email"}) { channel { id } } }`, nil, &ch)
	var in struct {
		IngestInbound struct{ ConversationID string }
	}
	post(token("connector", "integration"), `mutation($in: InboundInput!) { ingestInbound(input: $in) { conversationId } }`,
		map[string]any{"in": map[string]any{"channelId": ch.CreateChannel.Channel.ID, "contactExternalId": "maria", "externalMessageId": "m1", "text": "hello"}}, &in)
	conversation := in.IngestInbound.ConversationID

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := testserver.Node(ctx, t, node, ".", "run.mjs")
	cmd.Env = append(os.Environ(),
		"SWITCHBOARD_URL="+srv.URL+"/graphql", "SWITCHBOARD_TOKEN="+ben, "SWITCHBOARD_CONVERSATION="+conversation)
	out, err := cmd.CombinedOutput()
	t.Logf("node run.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("node run.mjs: %v", err)
	}

	// What the clients did is in the store: Ben's, then Cleo's assignment.
	var c struct {
		Conversation struct {
			Version int
			Owner   struct{ ID string }
			History struct {
				Edges []struct {
					Node struct{ To struct{ ID string } }
				}
			}
		}
	}
	post(admin, `query($id: ID!) { conversation(id: $id) { version owner { id } history { edges { node { to { id } } } } } }`,
		map[string]any{"id": conversation}, &c)
	edges := c.Conversation.History.Edges
	if c.Conversation.Owner.ID != "cleo" || len(edges) != 2 || edges[0].Node.To.ID != "ben" || edges[1].Node.To.ID != "cleo" {
		t.Fatalf("after the clients: %+v", c)
	}
}

// TestGraphQLWsResumes runs resume.mjs: graphql-ws's own client, cut off
// mid-stream, reconnects with the last position it received and gets
// exactly the changes it missed, then live ones.
func TestGraphQLWsResumes(t *testing.T) {
	node := requireNode(t)
	srv := testserver.Start(t, secret)
	token := func(sub, role string) string { return srv.Token(t, "ws-resume", sub, role, sub) }
	post := poster(t, srv)
	admin, ben := token("ada", "admin"), token("ben", "agent")
	for _, tok := range []string{admin, ben, token("cleo", "agent")} {
		post(tok, `{ me { id } }`, nil, nil)
	}
	var ch struct {
		CreateChannel struct{ Channel struct{ ID string } }
	}
	post(admin, `mutation { createChannel(input: {name: "Email"}) { channel { id } } }`, nil, &ch)
	var convs []string
	for _, contact := range []string{"maria", "nils", "olga"} {
		var in struct {
			IngestInbound struct{ ConversationID string }
		}
		post(token("connector", "integration"), `mutation($in: InboundInput!) { ingestInbound(input: $in) { conversationId } }`,
			map[string]any{"in": map[string]any{"channelId": ch.CreateChannel.Channel.ID, "contactExternalId": contact, "externalMessageId": contact + "-1", "text": "hello"}}, &in)
		convs = append(convs, in.IngestInbound.ConversationID)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := testserver.Node(ctx, t, node, ".", "resume.mjs")
	cmd.Env = append(os.Environ(), "SWITCHBOARD_URL="+srv.URL+"/graphql", "SWITCHBOARD_TOKEN="+ben, "SWITCHBOARD_ADMIN_TOKEN="+admin,
		"SWITCHBOARD_CONVERSATIONS="+strings.Join(convs, ","))
	out, err := cmd.CombinedOutput()
	t.Logf("node resume.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("node resume.mjs: %v", err)
	}
}

// TestApolloPersistedQueries runs apq.mjs: Apollo Client's own persisted
// queries link, over POST and over GET.
func TestApolloPersistedQueries(t *testing.T) {
	node := requireNode(t)
	srv := testserver.Start(t, secret)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := testserver.Node(ctx, t, node, ".", "apq.mjs")
	cmd.Env = append(os.Environ(), "SWITCHBOARD_URL="+srv.URL+"/graphql", "SWITCHBOARD_TOKEN="+srv.Token(t, "ws-interop", "ben", "agent", "Ben"))
	out, err := cmd.CombinedOutput()
	t.Logf("node apq.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("node apq.mjs: %v", err)
	}
}
