package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"

	"switchboard/internal/wsclient"
	"switchboard/store/mongo/mongotest"
)

// TestCrashBetweenReplyAndReportLosesNothing: a server killed (SIGKILL)
// after a connector received a reply and before it reported it offers the
// reply again after the restart; one killed right after a report keeps it:
// the connector's retry of that report is answered as the same report, and
// the reply is offered no more.
//
// It runs on the SQLite store and on MongoDB (a FerretDB process the test
// starts; its server is not killed, only Switchboard).
func TestCrashBetweenReplyAndReportLosesNothing(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) { crashBetweenReplyAndReport(t) })
	t.Run("MongoDB", func(t *testing.T) {
		db, err := mongotest.Start(mongotest.Binary(t), t.TempDir(), "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(db.Kill)
		crashBetweenReplyAndReport(t, "SWITCHBOARD_MONGODB_URI="+db.URI)
	})
}

func crashBetweenReplyAndReport(t *testing.T, store ...string) {
	dataDir := t.TempDir()
	secret := strings.Repeat("o", 32)
	env := append([]string{"SWITCHBOARD_JWT_SECRET=" + secret}, store...)
	tok := func(sub, role string) string {
		out, stderr, code := runCommand(t, []string{"token", "--sub", sub, "--workspace", "crash", "--role", role, "--name", sub, "--ttl", "1h"}, env...)
		if code != 0 {
			t.Fatalf("token: %s", stderr)
		}
		return strings.TrimSpace(out)
	}
	admin, ben, connector := tok("ada", "admin"), tok("ben", "agent"), tok("mail", "integration")
	do := func(s *process, token, query string) map[string]any {
		t.Helper()
		status, out := s.query(t, token, query)
		if status != 200 || out["errors"] != nil {
			t.Fatalf("%s: HTTP %d %v", query, status, out)
		}
		return out["data"].(map[string]any)
	}
	kill := func(s *process) {
		s.cmd.Process.Signal(syscall.SIGKILL)
		s.cmd.Wait()
	}
	type outbound struct {
		OutboundMessages struct {
			Message struct {
				ID, Text string
				Delivery struct{ Status string }
			}
			ConversationID string
		}
	}
	// subscribe opens the connector's socket and its outboundMessages.
	subscribe := func(s *process) *wsclient.Socket {
		ws := wsclient.Connect(t, "ws"+strings.TrimPrefix(s.base, "http")+"/graphql", wsclient.TransportWS, connector)
		ws.Subscribe("out", `subscription { outboundMessages { message { id text delivery { status } } conversationId } }`, nil)
		return ws
	}

	s := startServe(t, dataDir, env...)
	ch := do(s, admin, `mutation { createChannel(input: {name: "Email"}) { channel { id } } }`)["createChannel"].(map[string]any)["channel"].(map[string]any)["id"].(string)
	conv := do(s, connector, fmt.Sprintf(`mutation { ingestInbound(input: {channelId: %q, contactExternalId: "maria", externalMessageId: "m1", text: "hi"}) { conversationId } }`, ch))["ingestInbound"].(map[string]any)["conversationId"].(string)
	ws := subscribe(s)
	ws.Send(wsclient.Message{Type: "ping"})
	ws.Expect("pong")
	reply := do(s, ben, fmt.Sprintf(`mutation { reply(input: {conversationId: %q, text: "On its way."}) { message { id } } }`, conv))["reply"].(map[string]any)["message"].(map[string]any)["id"].(string)
	var got outbound
	ws.Next("out", &got)
	if got.OutboundMessages.Message.ID != reply || got.OutboundMessages.Message.Delivery.Status != "PENDING" {
		t.Fatalf("before the crash the connector got %+v", got)
	}

	// Killed after the connector received it, before it reported.
	kill(s)
	s = startServe(t, dataDir, env...)
	ws = subscribe(s)
	ws.Next("out", &got)
	if got.OutboundMessages.Message.ID != reply || got.OutboundMessages.ConversationID != conv || got.OutboundMessages.Message.Text != "On its way." {
		t.Fatalf("after the restart the connector got %+v", got)
	}
	report := fmt.Sprintf(`mutation { reportDelivery(input: {messageId: %q, status: SENT, externalMessageId: "smtp-1"}) { message { delivery { status at externalMessageId } } } }`, reply)
	first := do(s, connector, report)

	// Killed right after the report was answered: it was durable.
	kill(s)
	s = startServe(t, dataDir, env...)
	if again := do(s, connector, report); fmt.Sprint(again) != fmt.Sprint(first) {
		t.Fatalf("the retried report: %v, first: %v", again, first)
	}
	d := do(s, admin, fmt.Sprintf(`{ conversation(id: %q) { messages(last: 1) { edges { node { id delivery { status externalMessageId } } } } } }`, conv))
	if !strings.Contains(fmt.Sprint(d), "SENT") || !strings.Contains(fmt.Sprint(d), "smtp-1") {
		t.Fatalf("after the second restart: %v", d)
	}
	// A SENT reply is offered no more: the next one comes first.
	ws = subscribe(s)
	ws.Send(wsclient.Message{Type: "ping"})
	ws.Expect("pong")
	next := do(s, ben, fmt.Sprintf(`mutation { reply(input: {conversationId: %q, text: "Anything else?"}) { message { id } } }`, conv))["reply"].(map[string]any)["message"].(map[string]any)["id"].(string)
	ws.Next("out", &got)
	if got.OutboundMessages.Message.ID != next {
		t.Fatalf("after the second restart the connector got %+v first, want the new reply %s", got, next)
	}
}
