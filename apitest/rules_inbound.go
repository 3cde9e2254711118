package apitest

import (
	"testing"
	"time"
)

// Rules of inbound messages: routing to the contact's open conversation,
// PENDING back to NEW, RESOLVED starts anew, duplicates, contact names, and
// who may ingest.

const inboundFullDoc = `mutation($in: InboundInput!) { ingestInbound(input: $in) { conversationId messageId status duplicate } }`

func inboundInput(channel, contact, msg, text string) map[string]any {
	return map[string]any{"in": map[string]any{"channelId": channel, "contactExternalId": contact, "externalMessageId": msg, "text": text}}
}

type convDetail struct {
	ID      string
	Status  string
	Version int
	Channel struct{ ID, Name string }
	Contact struct {
		ID, ExternalID string
		Name           *string
	}
}

func detail(t *testing.T, c *Client, id string) convDetail {
	t.Helper()
	var out struct{ Conversation *convDetail }
	c.MustDo(`query($id: ID!) { conversation(id: $id) { id status version channel { id name } contact { id externalId name } } }`, map[string]any{"id": id}, &out)
	if out.Conversation == nil {
		t.Fatalf("conversation %s not found", id)
	}
	return *out.Conversation
}

func testInboundNewContact(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	var out struct{ IngestInbound Inbound }
	w.Integration.MustDo(inboundFullDoc, map[string]any{"in": map[string]any{
		"channelId": w.ChannelID, "contactExternalId": "maria@example.org", "contactName": "Maria Lopez",
		"externalMessageId": "<m1@example.org>", "text": "My order is late",
	}}, &out)
	in := out.IngestInbound
	if in.ConversationID == "" || in.MessageID == "" || in.Status != "NEW" || in.Duplicate {
		t.Fatalf("ingestInbound answered %+v; want a new NEW conversation, not a duplicate", in)
	}
	d := detail(t, w.Ben, in.ConversationID)
	if d.Status != "NEW" || d.Version != 1 || d.Channel.ID != w.ChannelID || d.Channel.Name != "Email" ||
		d.Contact.ExternalID != "maria@example.org" || d.Contact.Name == nil || *d.Contact.Name != "Maria Lopez" || d.Contact.ID == "" {
		t.Fatalf("conversation %+v", d)
	}
	c := w.Get(w.Ben, in.ConversationID)
	if c.OwnerID() != "" || c.WaitingSince != e.Now() {
		t.Fatalf("conversation %+v; want unowned, waiting since %s", c, e.Now())
	}
	msgs := w.Messages(w.Ben, in.ConversationID)
	if len(msgs) != 1 || msgs[0].ID != in.MessageID || msgs[0].Direction != "INBOUND" || msgs[0].Text != "My order is late" || msgs[0].Author != nil {
		t.Fatalf("messages %+v; want the inbound message %s", msgs, in.MessageID)
	}
	page := w.Queue(w.Ben, map[string]any{"status": "NEW"})
	if page.TotalCount != 1 || len(page.Edges) != 1 || page.Edges[0].Node.ID != in.ConversationID {
		t.Fatalf("NEW queue %+v", page)
	}
}

func testInboundOnNew(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	first := w.Inbound("maria", "m1", "hello")
	w.SetOwner(w.Ben, first.ConversationID, "ben")
	e.Clock.Advance(time.Minute)
	second := w.Inbound("maria", "m2", "anyone?")
	if second.ConversationID != first.ConversationID || second.Status != "NEW" || second.Duplicate || second.MessageID == first.MessageID {
		t.Fatalf("second message %+v; want the same NEW conversation %s, a new message", second, first.ConversationID)
	}
	c := w.Get(w.Ben, first.ConversationID)
	if c.Status != "NEW" || c.Version != 3 || c.WaitingSince != Stamp(Epoch) || c.OwnerID() != "ben" || c.UpdatedAt != e.Now() {
		t.Fatalf("after the second message: %+v; want NEW at version 3, waiting since the epoch, still ben's", c)
	}
	msgs := w.Messages(w.Ben, first.ConversationID)
	if len(msgs) != 2 || msgs[0].Text != "hello" || msgs[1].Text != "anyone?" || msgs[1].CreatedAt != e.Now() {
		t.Fatalf("messages %+v", msgs)
	}
	if h := w.History(w.Ben, first.ConversationID); len(h) != 1 {
		t.Fatalf("history %v; want the assignment only", h)
	}
}

func testInboundOnPending(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	w.SetOwner(w.Ben, id, "ben")
	w.Mutate(w.Ben, "moveToPending", map[string]any{"conversationId": id, "boomerangAt": Stamp(Epoch.Add(24 * time.Hour))})
	e.Clock.Advance(time.Hour)
	in := w.Inbound("maria", "m2", "thanks, but")
	if in.ConversationID != id || in.Status != "NEW" || in.Duplicate {
		t.Fatalf("inbound on PENDING: %+v; want %s back in NEW", in, id)
	}
	c := w.Get(w.Ben, id)
	// The remove-ownership setting is off: the owner stays.
	if c.Status != "NEW" || c.WaitingSince != e.Now() || c.BoomerangAt != nil || c.OwnerID() != "ben" || c.Version != 4 ||
		c.OwnershipLabel == nil || *c.OwnershipLabel != "Waiting on Ben Baker" {
		t.Fatalf("after inbound on PENDING: %+v; want NEW since %s, no boomerang, still ben's, version 4", c, e.Now())
	}
	if h := w.History(w.Ben, id); len(h) != 1 {
		t.Fatalf("history %v; want the assignment only", h)
	}
	// An OFFLINE owner keeps it too while the setting is off.
	w.Move(w.Ben, "moveToPending", id)
	w.Ben.MustDo(`mutation { logout { agent { presence } } }`, nil, nil)
	w.Inbound("maria", "m3", "hello?")
	if c := w.Get(w.Cleo, id); c.Status != "NEW" || c.OwnerID() != "ben" {
		t.Fatalf("inbound on PENDING of an OFFLINE owner with the setting off: %+v; want NEW, still ben's", c)
	}
}

func testInboundAfterResolved(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	first := w.Inbound("maria", "m1", "hello")
	w.SetOwner(w.Ben, first.ConversationID, "ben")
	w.Move(w.Ben, "resolve", first.ConversationID)
	e.Clock.Advance(time.Hour)
	second := w.Inbound("maria", "m2", "one more thing")
	if second.ConversationID == first.ConversationID || second.Status != "NEW" || second.Duplicate {
		t.Fatalf("inbound after RESOLVED: %+v; want a new NEW conversation", second)
	}
	c := w.Get(w.Ben, second.ConversationID)
	if c.Status != "NEW" || c.Version != 1 || c.OwnerID() != "" || c.WaitingSince != e.Now() || c.CreatedAt != e.Now() {
		t.Fatalf("the new conversation: %+v", c)
	}
	if msgs := w.Messages(w.Ben, second.ConversationID); len(msgs) != 1 || msgs[0].Text != "one more thing" {
		t.Fatalf("the new conversation's messages %+v", msgs)
	}
	old := w.Get(w.Ben, first.ConversationID)
	if old.Status != "RESOLVED" || old.Version != 3 {
		t.Fatalf("the resolved conversation: %+v; want untouched", old)
	}
	if msgs := w.Messages(w.Ben, first.ConversationID); len(msgs) != 1 {
		t.Fatalf("the resolved conversation got messages %+v", msgs)
	}
	// Same contact on both.
	if a, b := detail(t, w.Ben, first.ConversationID), detail(t, w.Ben, second.ConversationID); a.Contact.ID != b.Contact.ID {
		t.Fatalf("contacts %s and %s; want the same contact", a.Contact.ID, b.Contact.ID)
	}
	// Further messages go to the new one.
	if third := w.Inbound("maria", "m3", "and another"); third.ConversationID != second.ConversationID {
		t.Fatalf("third message went to %s; want %s", third.ConversationID, second.ConversationID)
	}
}

func testInboundDuplicate(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	first := w.Inbound("maria", "m1", "hello")
	e.Clock.Advance(time.Minute)
	for _, text := range []string{"hello", "a different text"} {
		again := w.Inbound("maria", "m1", text)
		if !again.Duplicate || again.ConversationID != first.ConversationID || again.MessageID != first.MessageID || again.Status != "NEW" {
			t.Fatalf("a repeated externalMessageId: %+v; want duplicate of %+v", again, first)
		}
	}
	if c := w.Get(w.Ben, first.ConversationID); c.Version != 1 || c.UpdatedAt != Stamp(Epoch) {
		t.Fatalf("after duplicates: %+v; want version 1", c)
	}
	if msgs := w.Messages(w.Ben, first.ConversationID); len(msgs) != 1 {
		t.Fatalf("messages %+v; want one", msgs)
	}
	// A retry after the conversation moved on answers where the message
	// went, not anew.
	w.Move(w.Ben, "resolve", first.ConversationID)
	again := w.Inbound("maria", "m1", "hello")
	if !again.Duplicate || again.ConversationID != first.ConversationID || again.MessageID != first.MessageID || again.Status != "RESOLVED" {
		t.Fatalf("a retry after resolve: %+v; want a duplicate in the RESOLVED conversation", again)
	}
	page := w.Queue(w.Ben, map[string]any{"status": "NEW"})
	if page.TotalCount != 0 {
		t.Fatalf("a retried message started a conversation: %+v", page.IDs())
	}
	// The same external id from another contact on the channel is still
	// the same message.
	other := w.Inbound("paul", "m1", "hello")
	if !other.Duplicate || other.MessageID != first.MessageID {
		t.Fatalf("the same externalMessageId from another contact: %+v; want the first message", other)
	}
}

func testInboundPerChannel(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	chat := w.CreateChannel("Chat")
	a := w.Inbound("maria", "m1", "on email")
	b := w.InboundOn(chat, "maria", "m1", "on chat")
	if b.Duplicate || b.ConversationID == a.ConversationID || b.MessageID == a.MessageID {
		t.Fatalf("the same ids on another channel: %+v vs %+v; want another contact, conversation and message", b, a)
	}
	da, db := detail(t, w.Ben, a.ConversationID), detail(t, w.Ben, b.ConversationID)
	if da.Contact.ID == db.Contact.ID || db.Channel.ID != chat || db.Channel.Name != "Chat" || db.Contact.ExternalID != "maria" {
		t.Fatalf("contacts %+v and %+v", da, db)
	}
	var counts struct{ QueueCounts struct{ Total int } }
	w.Ben.MustDo(`{ queueCounts(status: NEW) { total } }`, nil, &counts)
	if counts.QueueCounts.Total != 2 {
		t.Fatalf("NEW holds %d; want 2", counts.QueueCounts.Total)
	}
}

func testContactName(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	send := func(msg string, name any) string {
		in := map[string]any{"channelId": w.ChannelID, "contactExternalId": "maria", "externalMessageId": msg, "text": "hi"}
		if name != nil {
			in["contactName"] = name
		}
		var out struct{ IngestInbound Inbound }
		w.Integration.MustDo(inboundFullDoc, map[string]any{"in": in}, &out)
		return out.IngestInbound.ConversationID
	}
	name := func(id string) string {
		d := detail(t, w.Ben, id)
		if d.Contact.Name == nil {
			return "<null>"
		}
		return *d.Contact.Name
	}
	id := send("m1", nil)
	if n := name(id); n != "<null>" {
		t.Fatalf("a contact without name: %q", n)
	}
	send("m2", "Maria")
	if n := name(id); n != "Maria" {
		t.Fatalf("name %q; want Maria", n)
	}
	send("m3", nil)
	send("m4", "")
	if n := name(id); n != "Maria" {
		t.Fatalf("a message without name changed it to %q", n)
	}
	send("m5", "  Maria Lopez ")
	if n := name(id); n != "Maria Lopez" {
		t.Fatalf("name %q; want Maria Lopez", n)
	}
}

func testInboundUnknownChannel(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	other := e.NewWorkspace("ws-other")
	for _, ch := range []string{"ch_unknown", "", other.ChannelID} {
		r := w.Integration.MustFailArg("BAD_USER_INPUT", "input.channelId", inboundFullDoc, inboundInput(ch, "maria", "m1", "hi"))
		assertNoLeak(t, r)
	}
	if page := w.Queue(w.Ben, map[string]any{"status": "NEW"}); page.TotalCount != 0 {
		t.Fatalf("a refused message started %v", page.IDs())
	}
}

func testInboundValidation(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	long := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = 'x'
		}
		return string(b)
	}
	cases := []struct {
		contact, msg, text, arg string
	}{
		{"", "m1", "hi", "input.contactExternalId"},
		{long(257), "m1", "hi", "input.contactExternalId"},
		{"maria", "", "hi", "input.externalMessageId"},
		{"maria", long(257), "hi", "input.externalMessageId"},
		{"maria", "m1", long(64<<10 + 1), "input.text"},
	}
	for _, tc := range cases {
		w.Integration.MustFailArg("BAD_USER_INPUT", tc.arg, inboundFullDoc, inboundInput(w.ChannelID, tc.contact, tc.msg, tc.text))
	}
	in := inboundInput(w.ChannelID, "maria", "m1", "hi")
	in["in"].(map[string]any)["contactName"] = long(201)
	w.Integration.MustFailArg("BAD_USER_INPUT", "input.contactName", inboundFullDoc, in)
	if page := w.Queue(w.Ben, map[string]any{"status": "NEW"}); page.TotalCount != 0 {
		t.Fatalf("refused messages started %v", page.IDs())
	}
	// At the limits it is accepted.
	w.Inbound(long(256), long(256), long(64<<10))
}

func testInboundRoles(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	for _, c := range []*Client{w.Ben, w.Cleo} {
		r := c.MustFail("FORBIDDEN", inboundFullDoc, inboundInput(w.ChannelID, "maria", "m1", "hi"))
		assertNoLeak(t, r)
	}
	var out struct{ IngestInbound Inbound }
	w.Admin.MustDo(inboundFullDoc, inboundInput(w.ChannelID, "maria", "m1", "hi"), &out)
	if out.IngestInbound.Status != "NEW" || out.IngestInbound.Duplicate {
		t.Fatalf("an admin's inbound: %+v", out.IngestInbound)
	}
	if page := w.Queue(w.Ben, map[string]any{"status": "NEW"}); page.TotalCount != 1 {
		t.Fatalf("NEW holds %d; want only the admin's", page.TotalCount)
	}
}
