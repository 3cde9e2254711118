package interop_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"switchboard/internal/testserver"
)

// TestExampleConnector runs connector.mjs, the README's example connector,
// against a real server: it ingests a contact's message, an agent replies
// twice, and the connector sends the first (SENT, with its channel id) and
// fails the second (FAILED, with its reason), which the agents then see.
func TestExampleConnector(t *testing.T) {
	node := requireNode(t)

	srv := testserver.Start(t, secret)
	token := func(sub, role string) string { return srv.Token(t, "ws-connector", sub, role, sub) }
	post := poster(t, srv)
	admin, ben := token("ada", "admin"), token("ben", "agent")
	var ch struct {
		CreateChannel struct{ Channel struct{ ID string } }
	}
	post(admin, `mutation { createChannel(input: {name: "Email"}) { channel { id } } }`, nil, &ch)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := testserver.Node(ctx, t, node, ".", "connector.mjs")
	cmd.Env = append(os.Environ(), "SWITCHBOARD_URL="+srv.URL+"/graphql", "SWITCHBOARD_TOKEN="+token("mail", "integration"),
		"SWITCHBOARD_CHANNEL_ID="+ch.CreateChannel.Channel.ID, "SWITCHBOARD_INGEST=Where is my parcel?",
		"SWITCHBOARD_EXIT_AFTER=2", "SWITCHBOARD_FAIL_TEXT=bounce")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	var conversation string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		var ev struct {
			Ingested *struct{ ConversationID string }
		}
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Ingested != nil {
			conversation = ev.Ingested.ConversationID
			for _, text := range []string{"It ships today.", "Please bounce this one."} {
				post(ben, `mutation($id: ID!, $t: String!) { reply(input: {conversationId: $id, text: $t}) { message { id } } }`,
					map[string]any{"id": conversation, "t": text}, nil)
			}
		}
	}
	err = cmd.Wait()
	t.Logf("node connector.mjs:\n%s\n%s", strings.Join(lines, "\n"), stderr.String())
	if err != nil {
		t.Fatalf("node connector.mjs: %v", err)
	}
	if conversation == "" {
		t.Fatal("the connector ingested nothing")
	}
	var c struct {
		Conversation struct {
			Messages struct {
				Edges []struct {
					Node struct {
						Direction, Text string
						Delivery        *struct{ Status, ExternalMessageID, Error string }
					}
				}
			}
		}
	}
	post(ben, `query($id: ID!) { conversation(id: $id) { messages { edges { node { direction text delivery { status externalMessageId error } } } } } }`,
		map[string]any{"id": conversation}, &c)
	got := ""
	for _, e := range c.Conversation.Messages.Edges {
		n := e.Node
		got += n.Direction + " " + n.Text
		if d := n.Delivery; d != nil {
			got += " " + d.Status + " " + d.ExternalMessageID + d.Error
		}
		got += "\n"
	}
	want := "INBOUND Where is my parcel?\nOUTBOUND It ships today. SENT chan-1\nOUTBOUND Please bounce this one. FAILED the mailbox is full\n"
	if got != want {
		t.Fatalf("the conversation after the connector:\n%s\nwant\n%s", got, want)
	}
}
