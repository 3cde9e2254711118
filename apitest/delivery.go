package apitest

import (
	"fmt"
	"testing"
	"time"
)

// What a connector selects of an outbound message.
const outboundFields = `message { id text direction createdAt author { name } delivery { status at externalMessageId error } }
	conversationId channel { id name } contact { externalId name }`

const outboundSubscription = `subscription($ch: [ID!]) { outboundMessages(channelIds: $ch) { ` + outboundFields + ` } }`

// deliveryState is a Delivery; null strings decode as "".
type deliveryState struct {
	Status            string
	At                string
	ExternalMessageID string
	Error             string
}

type outboundEvent struct {
	OutboundMessages struct {
		Message struct {
			ID, Text, Direction, CreatedAt string
			Author                         *struct{ Name string }
			Delivery                       *deliveryState
		}
		ConversationID string
		Channel        struct{ ID, Name string }
		Contact        struct {
			ExternalID string
			Name       *string
		}
	}
}

const reportDoc = `mutation($in: ReportDeliveryInput!) { reportDelivery(input: $in) { message { id delivery { status at externalMessageId error } } } }`

// report reports a delivery as c and returns the message's delivery.
func (w *Workspace) report(c *Client, in map[string]any) deliveryState {
	w.env.T.Helper()
	var out struct {
		ReportDelivery struct {
			Message struct {
				ID       string
				Delivery deliveryState
			}
		}
	}
	c.MustDo(reportDoc, map[string]any{"in": in}, &out)
	return out.ReportDelivery.Message.Delivery
}

// nextOutbound reads the next outbound message of subscription id.
func nextOutbound(s *Socket, id string) outboundEvent {
	var ev outboundEvent
	s.Next(id, &ev)
	return ev
}

// deliveryOf returns the delivery of a conversation's message, as listed.
func (w *Workspace) deliveryOf(c *Client, convID, msgID string) *deliveryState {
	w.env.T.Helper()
	var out struct {
		Conversation struct {
			Messages struct {
				Edges []struct {
					Node struct {
						ID       string
						Delivery *deliveryState
					}
				}
			}
		}
	}
	c.MustDo(`query($id: ID!) { conversation(id: $id) { messages(first: 100) { edges { node { id delivery { status at externalMessageId error } } } } } }`,
		map[string]any{"id": convID}, &out)
	for _, e := range out.Conversation.Messages.Edges {
		if e.Node.ID == msgID {
			return e.Node.Delivery
		}
	}
	w.env.T.Fatalf("message %s not in conversation %s", msgID, convID)
	return nil
}

func testOutboundReplySentLive(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws-out")
	in := w.Inbound("maria", "m1", "where is my order?")
	w.Integration.MustDo(`{ __typename }`, nil, nil)

	agent := w.Ben.Dial()
	agent.Subscribe("q", `subscription { queueChanged(status: NEW) { kind conversation { id version } message { id delivery { status externalMessageId error } } } }`, nil)
	agent.Ready()
	conn := w.Integration.Dial()
	conn.Subscribe("out", outboundSubscription, nil)
	conn.Ready()

	r := w.Say(w.Ben, in.ConversationID, "It left the warehouse today.")
	ev := nextOutbound(conn, "out").OutboundMessages
	m := ev.Message
	if m.ID != r.Message.ID || m.Text != "It left the warehouse today." || m.Direction != "OUTBOUND" || m.Author == nil ||
		m.Author.Name != "Ben Baker" || m.Delivery == nil || m.Delivery.Status != "PENDING" || m.Delivery.At != m.CreatedAt ||
		ev.ConversationID != in.ConversationID || ev.Channel.ID != w.ChannelID || ev.Channel.Name != "Email" ||
		ev.Contact.ExternalID != "maria" {
		t.Fatalf("the connector got %+v", ev)
	}
	type queueEv struct {
		QueueChanged struct {
			Kind         string
			Conversation struct {
				ID      string
				Version int
			}
			Message *struct {
				ID       string
				Delivery *deliveryState
			}
		}
	}
	var q queueEv
	agent.Next("q", &q)
	if q.QueueChanged.Kind != "UPDATED" || q.QueueChanged.Message == nil || q.QueueChanged.Message.ID != m.ID ||
		q.QueueChanged.Message.Delivery.Status != "PENDING" {
		t.Fatalf("the reply's event: %+v", q)
	}
	replyVersion := q.QueueChanged.Conversation.Version

	e.Clock.Advance(1500 * time.Millisecond)
	d := w.report(w.Integration, map[string]any{"messageId": m.ID, "status": "SENT", "externalMessageId": "smtp-77"})
	if d.Status != "SENT" || d.ExternalMessageID != "smtp-77" || d.Error != "" || d.At != e.Now() {
		t.Fatalf("reportDelivery answered %+v", d)
	}
	agent.Next("q", &q)
	qm := q.QueueChanged.Message
	if q.QueueChanged.Kind != "UPDATED" || q.QueueChanged.Conversation.Version != replyVersion+1 || qm == nil || qm.ID != m.ID ||
		qm.Delivery.Status != "SENT" || qm.Delivery.ExternalMessageID != "smtp-77" {
		t.Fatalf("the report's event: %+v", q)
	}
	if got := w.deliveryOf(w.Ben, in.ConversationID, m.ID); got == nil || got.Status != "SENT" || got.At != e.Now() {
		t.Fatalf("the message as listed: %+v", got)
	}
	// An inbound message has no delivery.
	if got := w.deliveryOf(w.Ben, in.ConversationID, in.MessageID); got != nil {
		t.Fatalf("an inbound message has a delivery: %+v", got)
	}
	// A SENT message is not offered again to a new subscription.
	conn2 := w.Integration.Dial()
	conn2.Subscribe("again", outboundSubscription, nil)
	conn2.Ready()
	r2 := w.Say(w.Cleo, in.ConversationID, "Anything else?")
	if got := nextOutbound(conn2, "again").OutboundMessages.Message.ID; got != r2.Message.ID {
		t.Fatalf("a new subscription got %s first, want the new reply %s", got, r2.Message.ID)
	}
}

func testOutboundBacklogInOrder(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws-out")
	a := w.Inbound("maria", "m1", "hello")
	b := w.Inbound("omar", "m2", "hi")

	// The connector is away while agents reply.
	var want []string
	for i, c := range []struct{ conv, text string }{{a.ConversationID, "one"}, {b.ConversationID, "two"}, {a.ConversationID, "three"}} {
		if i > 0 {
			e.Clock.Advance(time.Millisecond)
		}
		want = append(want, w.Say(w.Ben, c.conv, c.text).Message.ID)
	}
	conn := w.Integration.Dial()
	conn.Subscribe("out", outboundSubscription, nil)
	for i, id := range want {
		if got := nextOutbound(conn, "out").OutboundMessages.Message.ID; got != id {
			t.Fatalf("backlog message %d: got %s, want %s (all: %v)", i, got, id, want)
		}
	}
	// Then new ones, live.
	live := w.Say(w.Cleo, a.ConversationID, "four").Message.ID
	if got := nextOutbound(conn, "out").OutboundMessages.Message.ID; got != live {
		t.Fatalf("live: got %s, want %s", got, live)
	}
	// Disconnected again: what it reported is done, the rest comes back in
	// order, oldest first.
	if err := conn.Close(1000, "bye"); err != nil {
		t.Fatal(err)
	}
	w.report(w.Integration, map[string]any{"messageId": want[0], "status": "SENT"})
	w.report(w.Integration, map[string]any{"messageId": want[1], "status": "FAILED", "error": "mailbox full"})
	e.Clock.Advance(time.Millisecond)
	five := w.Say(w.Ben, b.ConversationID, "five").Message.ID
	e.Clock.Advance(time.Millisecond)
	six := w.Say(w.Ben, b.ConversationID, "six").Message.ID
	conn = w.Integration.Dial()
	conn.Subscribe("out", outboundSubscription, nil)
	for i, id := range []string{want[2], live, five, six} {
		if got := nextOutbound(conn, "out").OutboundMessages.Message.ID; got != id {
			t.Fatalf("second backlog, message %d: got %s, want %s", i, got, id)
		}
	}
	conn.Ready()
	conn.Quiet(200 * time.Millisecond)
}

func testOutboundChannelsAndTenancy(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws-out")
	chat := w.CreateChannel("Chat")
	other := e.NewWorkspace("ws-other")
	onEmail := w.Inbound("maria", "m1", "hello")
	onChat := w.InboundOn(chat, "maria", "m2", "hi from chat")
	elsewhere := other.Inbound("maria", "m1", "hello")

	conn := w.Integration.Dial()
	conn.Subscribe("chat", outboundSubscription, map[string]any{"ch": []string{chat}})
	conn.Ready()
	w.Say(w.Ben, onEmail.ConversationID, "on email")
	e.Clock.Advance(time.Millisecond)
	other.Say(other.Ben, elsewhere.ConversationID, "another workspace")
	r := w.Say(w.Ben, onChat.ConversationID, "on chat")
	ev := nextOutbound(conn, "chat").OutboundMessages
	if ev.Message.ID != r.Message.ID || ev.Channel.ID != chat {
		t.Fatalf("the chat connector got %+v", ev)
	}
	conn.Ready()
	conn.Quiet(200 * time.Millisecond)

	// Agents may not subscribe; a channel of another workspace is unknown.
	s := w.Ben.Dial()
	s.Subscribe("no", outboundSubscription, nil)
	if m := s.Read(); m.Type != "error" || !contains(string(m.Payload), "FORBIDDEN") {
		t.Fatalf("an agent's outboundMessages: %+v %s", m, m.Payload)
	}
	conn.Subscribe("bad", outboundSubscription, map[string]any{"ch": []string{other.ChannelID + "-nope"}})
	if m := conn.Read(); m.Type != "error" || !contains(string(m.Payload), "BAD_USER_INPUT") {
		t.Fatalf("an unknown channel: %+v %s", m, m.Payload)
	}
	// An admin may, and gets the backlog of every channel.
	adm := w.Admin.Dial()
	adm.Subscribe("all", outboundSubscription, nil)
	if got := nextOutbound(adm, "all").OutboundMessages.Channel.ID; got != w.ChannelID {
		t.Fatalf("the admin's first backlog message is on %s", got)
	}
	if got := nextOutbound(adm, "all").OutboundMessages.Channel.ID; got != chat {
		t.Fatalf("the admin's second backlog message is on %s", got)
	}
	// Agents see each channel's pending deliveries.
	var chs struct {
		Channels []struct {
			Name       string
			Deliveries struct{ Pending, Stalled int }
		}
	}
	w.Ben.MustDo(`{ channels { name deliveries { pending stalled } } }`, nil, &chs)
	for _, c := range chs.Channels {
		if c.Deliveries.Pending != 1 || c.Deliveries.Stalled != 0 {
			t.Errorf("channel %s: %+v", c.Name, c.Deliveries)
		}
	}
	e.Clock.Advance(6 * time.Minute)
	w.Ben.MustDo(`{ channels { name deliveries { pending stalled } } }`, nil, &chs)
	for _, c := range chs.Channels {
		if c.Deliveries.Pending != 1 || c.Deliveries.Stalled != 1 {
			t.Errorf("channel %s after 6 minutes: %+v", c.Name, c.Deliveries)
		}
	}
}

func testReportDeliveryRules(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws-out")
	other := e.NewWorkspace("ws-other")
	in := w.Inbound("maria", "m1", "hello")
	id := w.Say(w.Ben, in.ConversationID, "hi").Message.ID
	theirs := other.Say(other.Ben, other.Inbound("maria", "m1", "hello").ConversationID, "hi").Message.ID
	version := func() int { return w.Get(w.Ben, in.ConversationID).Version }

	// Bad input, each with its code and argument; nothing changes.
	v0 := version()
	w.Ben.MustFail("FORBIDDEN", reportDoc, map[string]any{"in": map[string]any{"messageId": id, "status": "SENT"}})
	w.Integration.MustFail("NOT_FOUND", reportDoc, map[string]any{"in": map[string]any{"messageId": "nope", "status": "SENT"}})
	w.Integration.MustFail("NOT_FOUND", reportDoc, map[string]any{"in": map[string]any{"messageId": theirs, "status": "SENT"}})
	for _, tc := range []struct {
		in  map[string]any
		arg string
	}{
		{map[string]any{"messageId": in.MessageID, "status": "SENT"}, "input.messageId"},
		{map[string]any{"messageId": "", "status": "SENT"}, "input.messageId"},
		{map[string]any{"messageId": id, "status": "PENDING"}, "input.status"},
		{map[string]any{"messageId": id, "status": "FAILED"}, "input.error"},
		{map[string]any{"messageId": id, "status": "FAILED", "error": "   "}, "input.error"},
		{map[string]any{"messageId": id, "status": "SENT", "error": "but also failed"}, "input.error"},
		{map[string]any{"messageId": id, "status": "SENT", "externalMessageId": "bad\nid"}, "input.externalMessageId"},
	} {
		w.Integration.MustFailArg("BAD_USER_INPUT", tc.arg, reportDoc, map[string]any{"in": tc.in})
	}
	if v := version(); v != v0 {
		t.Fatalf("bad reports changed the version %d -> %d", v0, v)
	}

	// FAILED with a reason, shown as such; the same report again is one.
	d := w.report(w.Integration, map[string]any{"messageId": id, "status": "FAILED", "error": "mailbox full"})
	if d.Status != "FAILED" || d.Error != "mailbox full" {
		t.Fatalf("FAILED: %+v", d)
	}
	v1 := version()
	e.Clock.Advance(time.Second)
	if again := w.report(w.Integration, map[string]any{"messageId": id, "status": "FAILED", "error": "mailbox full"}); again != d || version() != v1 {
		t.Fatalf("the same FAILED report again: %+v (was %+v), version %d (was %d)", again, d, version(), v1)
	}
	if got := w.deliveryOf(w.Cleo, in.ConversationID, id); got == nil || *got != d {
		t.Fatalf("as listed: %+v", got)
	}
	// A later attempt may succeed; SENT is then final.
	sent := w.report(w.Admin, map[string]any{"messageId": id, "status": "SENT", "externalMessageId": "smtp-1"})
	if sent.Status != "SENT" || sent.Error != "" || version() != v1+1 {
		t.Fatalf("SENT after FAILED: %+v, version %d", sent, version())
	}
	e.Clock.Advance(time.Second)
	if again := w.report(w.Integration, map[string]any{"messageId": id, "status": "SENT", "externalMessageId": "smtp-1"}); again != sent || version() != v1+1 {
		t.Fatalf("the same SENT report again: %+v (was %+v)", again, sent)
	}
	for _, in := range []map[string]any{
		{"messageId": id, "status": "SENT", "externalMessageId": "smtp-2"},
		{"messageId": id, "status": "SENT"},
		{"messageId": id, "status": "FAILED", "error": "bounced"},
	} {
		w.Integration.MustFailArg("BAD_USER_INPUT", "input.status", reportDoc, map[string]any{"in": in})
	}
	if version() != v1+1 {
		t.Fatalf("refused reports changed the version")
	}
}

func testOutboundOfferedAgain(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws-out")
	in := w.Inbound("maria", "m1", "hello")
	id := w.Say(w.Ben, in.ConversationID, "hi").Message.ID
	armed := e.Clock.Armed()
	conn := w.Integration.Dial()
	conn.Subscribe("out", outboundSubscription, nil)
	if got := nextOutbound(conn, "out").OutboundMessages.Message.ID; got != id {
		t.Fatalf("backlog: %s", got)
	}
	select {
	case <-armed:
	case <-time.After(10 * time.Second):
		t.Fatal("the subscription armed no redelivery timer")
	}
	// Not reported within the redelivery delay (5 minutes): offered again.
	e.Clock.Advance(5*time.Minute + time.Second)
	if got := nextOutbound(conn, "out").OutboundMessages.Message.ID; got != id {
		t.Fatalf("offered again: %s", got)
	}
	// Once reported, never again.
	w.report(w.Integration, map[string]any{"messageId": id, "status": "SENT"})
	e.Clock.Advance(10 * time.Minute)
	conn.Ready()
	conn.Quiet(200 * time.Millisecond)
}

func testOutboundBacklogPages(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws-out")
	convs := []string{w.Inbound("a", "m1", "hi").ConversationID, w.Inbound("b", "m2", "hi").ConversationID, w.Inbound("c", "m3", "hi").ConversationID}
	// 130 replies, more than one page of the backlog (100), many sharing a
	// millisecond across conversations.
	var want []string
	for i := range 130 {
		if i%7 == 0 {
			e.Clock.Advance(time.Millisecond)
		}
		want = append(want, w.Say(w.Ben, convs[i%3], fmt.Sprintf("reply %d", i)).Message.ID)
	}
	conn := w.Integration.Dial()
	conn.Subscribe("out", outboundSubscription, nil)
	seen := map[string]bool{}
	last := map[string]int{}
	for range want {
		ev := nextOutbound(conn, "out").OutboundMessages
		if seen[ev.Message.ID] {
			t.Fatalf("%s offered twice", ev.Message.ID)
		}
		seen[ev.Message.ID] = true
		var n int
		fmt.Sscanf(ev.Message.Text, "reply %d", &n)
		if l, ok := last[ev.ConversationID]; ok && n <= l {
			t.Fatalf("conversation %s: reply %d after reply %d", ev.ConversationID, n, l)
		}
		last[ev.ConversationID] = n
	}
	for _, id := range want {
		if !seen[id] {
			t.Fatalf("%s never offered", id)
		}
	}
	conn.Ready()
	conn.Quiet(200 * time.Millisecond)
}
