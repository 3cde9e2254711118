package apitest

import (
	"strings"
	"testing"
	"time"
)

// Rules of replies: the queue stays, thenMoveTo moves in the same change,
// RESOLVED refuses, and the idempotency key.

func testReplyKeepsQueue(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	for _, status := range []string{"NEW", "PENDING"} {
		id := w.NewConversation("contact-" + status)
		if status == "PENDING" {
			w.Mutate(w.Ben, "moveToPending", map[string]any{"conversationId": id, "boomerangAt": Stamp(e.Clock.Now().Add(48 * time.Hour))})
		}
		before := w.Get(w.Ben, id)
		e.Clock.Advance(time.Minute)
		p := w.Say(w.Cleo, id, "We are on it")
		c := p.Conversation
		if c.Status != status || c.Version != before.Version+1 || c.WaitingSince != before.WaitingSince || c.OwnerID() != "" ||
			c.UpdatedAt != e.Now() || !equalPtr(c.BoomerangAt, before.BoomerangAt) {
			t.Fatalf("a reply on %s: %+v; want %+v but version %d", status, c, before, before.Version+1)
		}
		if p.OwnershipChange != nil {
			t.Fatalf("a reply reported change %v", p.OwnershipChange.Entry())
		}
		m := p.Message
		if m == nil || m.ID == "" || m.Direction != "OUTBOUND" || m.Text != "We are on it" || m.Author == nil || m.Author.ID != "cleo" || m.CreatedAt != e.Now() {
			t.Fatalf("reply message %+v", m)
		}
		msgs := w.Messages(w.Ben, id)
		if len(msgs) != 2 || msgs[1].ID != m.ID || msgs[1].Author == nil || msgs[1].Author.ID != "cleo" || msgs[0].Direction != "INBOUND" {
			t.Fatalf("messages %+v", msgs)
		}
	}
	// An owned conversation stays owned; anyone may answer.
	id := w.NewConversation("owned")
	w.SetOwner(w.Ben, id, "ben")
	if p := w.Say(w.Cleo, id, "helping out"); p.Conversation.OwnerID() != "ben" || p.OwnershipChange != nil {
		t.Fatalf("a reply to ben's conversation by cleo: %+v", p.Conversation)
	}
}

func equalPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func testReplyThenMove(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	w.SetOwner(w.Ben, id, "ben")
	e.Clock.Advance(time.Minute)
	p := w.Reply(w.Ben, map[string]any{"conversationId": id, "text": "Please send a photo", "thenMoveTo": "PENDING"})
	if c := p.Conversation; c.Status != "PENDING" || c.Version != 3 || c.WaitingSince != e.Now() || c.OwnerID() != "ben" || p.OwnershipChange != nil {
		t.Fatalf("reply then PENDING: %+v change %+v; want PENDING at version 3 with owner ben", c, p.OwnershipChange)
	}
	// thenMoveTo PENDING on PENDING: the message only.
	e.Clock.Advance(time.Minute)
	p = w.Reply(w.Ben, map[string]any{"conversationId": id, "text": "Reminder", "thenMoveTo": "PENDING"})
	if c := p.Conversation; c.Status != "PENDING" || c.Version != 4 || c.WaitingSince != Stamp(Epoch.Add(time.Minute)) {
		t.Fatalf("reply then PENDING on PENDING: %+v; want version 4, waitingSince unchanged", c)
	}
	e.Clock.Advance(time.Minute)
	p = w.Reply(w.Cleo, map[string]any{"conversationId": id, "text": "Closing this", "thenMoveTo": "RESOLVED"})
	want := Entry{Version: 5, Status: "RESOLVED", From: "ben", Actor: "cleo", Reason: "RESOLVED", At: e.Now()}
	if c := p.Conversation; c.Status != "RESOLVED" || c.Version != 5 || c.OwnerID() != "" || c.WaitingSince != e.Now() ||
		p.OwnershipChange == nil || p.OwnershipChange.Entry() != want {
		t.Fatalf("reply then RESOLVED: %+v change %+v; want RESOLVED at version 5, %v", c, p.OwnershipChange, want)
	}
	if msgs := w.Messages(w.Ben, id); len(msgs) != 4 || msgs[3].Text != "Closing this" {
		t.Fatalf("messages %+v", msgs)
	}
	if h := w.History(w.Ben, id); len(h) != 2 || h[1] != want {
		t.Fatalf("history %v", h)
	}
}

func testReplyThenMoveNew(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	w.Move(w.Ben, "moveToPending", id)
	w.Ben.MustFailArg("BAD_USER_INPUT", "input.thenMoveTo", ReplyDoc, map[string]any{"in": map[string]any{"conversationId": id, "text": "hi", "thenMoveTo": "NEW"}})
	w.Ben.MustFailArg("BAD_USER_INPUT", "input.thenMoveTo", ReplyDoc, map[string]any{"in": map[string]any{"conversationId": id, "text": "hi", "thenMoveTo": "NEW", "clientMessageId": "k1"}})
	if c := w.Get(w.Ben, id); c.Status != "PENDING" || c.Version != 2 {
		t.Fatalf("after refused replies: %+v", c)
	}
	if msgs := w.Messages(w.Ben, id); len(msgs) != 1 {
		t.Fatalf("refused replies were stored: %+v", msgs)
	}
	// The key was not used up by the refused reply.
	if p := w.Reply(w.Ben, map[string]any{"conversationId": id, "text": "ok", "clientMessageId": "k1"}); p.Conversation.Version != 3 {
		t.Fatalf("a reply with the key of a refused one: %+v", p.Conversation)
	}
}

func testReplyResolved(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	w.Move(w.Ben, "resolve", id)
	for _, in := range []map[string]any{
		{"conversationId": id, "text": "hi"},
		{"conversationId": id, "text": "hi", "thenMoveTo": "PENDING"},
		{"conversationId": id, "text": "hi", "thenMoveTo": "RESOLVED"},
		{"conversationId": id, "text": "hi", "clientMessageId": "k1"},
	} {
		w.Ben.MustFailArg("BAD_USER_INPUT", "input.conversationId", ReplyDoc, map[string]any{"in": in})
	}
	if c := w.Get(w.Ben, id); c.Status != "RESOLVED" || c.Version != 2 {
		t.Fatalf("after refused replies: %+v", c)
	}
	if msgs := w.Messages(w.Ben, id); len(msgs) != 1 {
		t.Fatalf("refused replies were stored: %+v", msgs)
	}
	// Reopened, it takes replies again.
	w.Move(w.Ben, "moveToNew", id)
	if p := w.Say(w.Ben, id, "back"); p.Conversation.Version != 4 || p.Conversation.Status != "NEW" {
		t.Fatalf("a reply after reopening: %+v", p.Conversation)
	}
}

func testReplyText(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	for _, text := range []string{"", "   ", "\n\t", strings.Repeat("x", 64<<10+1)} {
		w.Ben.MustFailArg("BAD_USER_INPUT", "input.text", ReplyDoc, map[string]any{"in": map[string]any{"conversationId": id, "text": text}})
	}
	if c := w.Get(w.Ben, id); c.Version != 1 {
		t.Fatalf("after refused replies: %+v", c)
	}
	long := strings.Repeat("é", 32<<10) // 64 KiB exactly
	if p := w.Say(w.Ben, id, long); p.Message.Text != long {
		t.Fatal("a 64 KiB reply came back changed")
	}
}

func testReplyIdempotent(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	w.SetAutoOwnership(w.ChannelID, "ben", true)
	id := w.NewConversation("maria")
	in := map[string]any{"conversationId": id, "text": "On it", "clientMessageId": "client-1"}
	first := w.Reply(w.Ben, in)
	if first.Conversation.Version != 2 || first.OwnershipChange == nil || first.OwnershipChange.Reason != "AUTO_OWNERSHIP" {
		t.Fatalf("first reply: %+v %+v", first.Conversation, first.OwnershipChange)
	}
	e.Clock.Advance(time.Minute)
	for i := 0; i < 2; i++ {
		again := w.Reply(w.Ben, in)
		if !sameMessage(again.Message, first.Message) {
			t.Fatalf("repeated reply message %+v; want %+v", again.Message, first.Message)
		}
		if again.Conversation.Version != 2 || again.Conversation.OwnerID() != "ben" {
			t.Fatalf("repeated reply conversation %+v; want version 2", again.Conversation)
		}
		if again.OwnershipChange == nil || again.OwnershipChange.Entry() != first.OwnershipChange.Entry() {
			t.Fatalf("repeated reply change %+v; want the first one's %v", again.OwnershipChange, first.OwnershipChange.Entry())
		}
	}
	if msgs := w.Messages(w.Cleo, id); len(msgs) != 2 {
		t.Fatalf("messages %+v; want the inbound one and one reply", msgs)
	}
	if h := w.History(w.Cleo, id); len(h) != 1 {
		t.Fatalf("history %v", h)
	}
	// With thenMoveTo the repeat moves nothing either, even after the
	// conversation moved on.
	in2 := map[string]any{"conversationId": id, "text": "Bye", "clientMessageId": "client-2", "thenMoveTo": "RESOLVED"}
	bye := w.Reply(w.Ben, in2)
	if bye.Conversation.Status != "RESOLVED" || bye.Conversation.Version != 3 {
		t.Fatalf("reply then RESOLVED: %+v", bye.Conversation)
	}
	w.Move(w.Cleo, "moveToNew", id)
	again := w.Reply(w.Ben, in2)
	if !sameMessage(again.Message, bye.Message) || again.Conversation.Status != "NEW" || again.Conversation.Version != 4 {
		t.Fatalf("a retried reply after the conversation moved on: %+v %+v; want the first message and no change", again.Message, again.Conversation)
	}
	if msgs := w.Messages(w.Cleo, id); len(msgs) != 3 {
		t.Fatalf("messages %+v; want three", msgs)
	}
	// A retry of the first after the conversation was resolved and reopened
	// is still answered, not refused.
	if r := w.Reply(w.Ben, in); !sameMessage(r.Message, first.Message) {
		t.Fatalf("the first reply retried: %+v", r.Message)
	}
}

func sameMessage(a, b *Message) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.ID == b.ID && a.Direction == b.Direction && a.Text == b.Text && refID(a.Author) == refID(b.Author) && a.CreatedAt == b.CreatedAt
}

func testReplyKeyMisuse(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	a := w.NewConversation("a")
	b := w.NewConversation("b")
	w.Reply(w.Ben, map[string]any{"conversationId": a, "text": "hello", "clientMessageId": "k"})
	for _, in := range []map[string]any{
		{"conversationId": a, "text": "hello!", "clientMessageId": "k"},
		{"conversationId": b, "text": "hello", "clientMessageId": "k"},
	} {
		w.Ben.MustFailArg("BAD_USER_INPUT", "input.clientMessageId", ReplyDoc, map[string]any{"in": in})
	}
	if c := w.Get(w.Ben, b); c.Version != 1 {
		t.Fatalf("b after a refused reply: %+v", c)
	}
	if msgs := w.Messages(w.Ben, a); len(msgs) != 2 {
		t.Fatalf("a's messages %+v", msgs)
	}
	w.Ben.MustFailArg("BAD_USER_INPUT", "input.clientMessageId", ReplyDoc, map[string]any{"in": map[string]any{"conversationId": a, "text": "x", "clientMessageId": strings.Repeat("k", 257)}})
}

func testReplyKeyPerAgent(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	in := map[string]any{"conversationId": id, "text": "hello", "clientMessageId": "k"}
	ben := w.Reply(w.Ben, in)
	cleo := w.Reply(w.Cleo, in)
	if ben.Message.ID == cleo.Message.ID || refID(cleo.Message.Author) != "cleo" || cleo.Conversation.Version != 3 {
		t.Fatalf("the same key by two agents: %+v and %+v; want two messages", ben.Message, cleo.Message)
	}
	if msgs := w.Messages(w.Ben, id); len(msgs) != 3 {
		t.Fatalf("messages %+v; want three", msgs)
	}
}

func testReplyIntegration(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	w.Integration.MustFail("FORBIDDEN", ReplyDoc, map[string]any{"in": map[string]any{"conversationId": id, "text": "hi"}})
	if c := w.Get(w.Ben, id); c.Version != 1 {
		t.Fatalf("an integration's reply changed %+v", c)
	}
}

func testMessagesPaging(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria") // message 1
	want := []string{"Hello from maria"}
	for i := 2; i <= 7; i++ {
		e.Clock.Advance(time.Second)
		text := "message " + string(rune('0'+i))
		if i%2 == 0 {
			w.Say(w.Ben, id, text)
		} else {
			w.Inbound("maria", text, text)
		}
		want = append(want, text)
	}
	type page struct {
		Conversation struct {
			Messages struct {
				Edges []struct {
					Cursor string
					Node   Message
				}
				PageInfo struct {
					HasNextPage, HasPreviousPage bool
					StartCursor, EndCursor       *string
				}
			}
		}
	}
	read := func(vars map[string]any) page {
		t.Helper()
		types := map[string]string{"first": "Int", "last": "Int", "after": "String", "before": "String"}
		var decls, args []string
		for k := range vars {
			decls = append(decls, ", $"+k+": "+types[k])
			args = append(args, k+": $"+k)
		}
		sel := "messages"
		if len(args) > 0 {
			sel += "(" + strings.Join(args, ", ") + ")"
		}
		vars["id"] = id
		var out page
		w.Ben.MustDo(`query($id: ID!`+strings.Join(decls, "")+`) { conversation(id: $id) {
			`+sel+` { edges { cursor node { `+MessageFields+` } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }`, vars, &out)
		return out
	}
	texts := func(p page) string {
		var s []string
		for _, e := range p.Conversation.Messages.Edges {
			s = append(s, e.Node.Text)
		}
		return strings.Join(s, "|")
	}
	// Forward in pages of 3.
	var got []string
	var after any
	for i := 0; i < 3; i++ {
		p := read(map[string]any{"first": 3, "after": after})
		m := p.Conversation.Messages
		for _, e := range m.Edges {
			got = append(got, e.Node.Text)
		}
		if m.PageInfo.HasNextPage != (i < 2) || m.PageInfo.HasPreviousPage != (i > 0) {
			t.Fatalf("forward page %d: pageInfo %+v", i, m.PageInfo)
		}
		if m.PageInfo.EndCursor != nil {
			after = *m.PageInfo.EndCursor
		}
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("forward pages %v; want %v", got, want)
	}
	// The newest three, oldest first.
	p := read(map[string]any{"last": 3})
	if texts(p) != strings.Join(want[4:], "|") || !p.Conversation.Messages.PageInfo.HasPreviousPage || p.Conversation.Messages.PageInfo.HasNextPage {
		t.Fatalf("last 3: %s %+v; want %v", texts(p), p.Conversation.Messages.PageInfo, want[4:])
	}
	before := *p.Conversation.Messages.PageInfo.StartCursor
	p = read(map[string]any{"last": 3, "before": before})
	if texts(p) != strings.Join(want[1:4], "|") || !p.Conversation.Messages.PageInfo.HasPreviousPage || !p.Conversation.Messages.PageInfo.HasNextPage {
		t.Fatalf("last 3 before: %s %+v; want %v", texts(p), p.Conversation.Messages.PageInfo, want[1:4])
	}
	before = *p.Conversation.Messages.PageInfo.StartCursor
	p = read(map[string]any{"last": 3, "before": before})
	if texts(p) != want[0] || p.Conversation.Messages.PageInfo.HasPreviousPage {
		t.Fatalf("the oldest: %s %+v", texts(p), p.Conversation.Messages.PageInfo)
	}
	// The default page is the oldest 25.
	p = read(map[string]any{})
	if texts(p) != strings.Join(want, "|") {
		t.Fatalf("default page %s", texts(p))
	}
	w.Ben.MustFailArg("BAD_USER_INPUT", "after", `query($id: ID!) { conversation(id: $id) { messages(after: "nope") { edges { cursor } } } }`, map[string]any{"id": id})
	w.Ben.MustFailArg("BAD_USER_INPUT", "first", `query($id: ID!) { conversation(id: $id) { messages(first: 2, last: 2) { edges { cursor } } } }`, map[string]any{"id": id})
}

// testReplyExpectedVersion: a reply written against a version the
// conversation has left (someone replied first, or the owner changed) is
// CONFLICT with currentVersion and stores nothing; against the current one it
// succeeds; a retry of a reply that was made answers it, not CONFLICT; a
// delivery report and a move leave the version behind as any change does.
func testReplyExpectedVersion(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	seen := w.Get(w.Ben, id).Version
	w.Say(w.Cleo, id, "Cleo was first")
	w.SetOwner(w.Admin, id, "cleo")
	current := w.Get(w.Ben, id)
	in := map[string]any{"conversationId": id, "text": "Ben's answer", "expectedVersion": seen, "clientMessageId": "ben-1"}
	r := w.Ben.MustFail("CONFLICT", ReplyDoc, map[string]any{"in": in})
	if v, ok := r.CurrentVersion(); !ok || v != current.Version {
		t.Fatalf("currentVersion %v (%v); want %d: %s", v, ok, current.Version, r.Raw)
	}
	if after := w.Get(w.Ben, id); !sameConversation(after, current) || len(w.Messages(w.Ben, id)) != 2 {
		t.Fatalf("a CONFLICT stored something: %+v -> %+v", current, after)
	}
	// Send anyway: with the version just read.
	in["expectedVersion"] = current.Version
	p := w.Reply(w.Ben, in)
	if p.Conversation.Version != current.Version+1 || p.Message == nil || p.Message.Text != "Ben's answer" {
		t.Fatalf("reply with the current version: %+v %+v", p.Conversation, p.Message)
	}
	// The same reply again (a retry after a lost answer) is the same reply.
	again := w.Reply(w.Ben, in)
	if !sameMessage(again.Message, p.Message) {
		t.Fatalf("retried reply %+v; want %+v", again.Message, p.Message)
	}
	// A delivery report and a move are changes too: the version the agent
	// read is stale after them, as the spec's rule on versions says.
	read := p.Conversation.Version
	w.report(w.Integration, map[string]any{"messageId": p.Message.ID, "status": "SENT"})
	w.Move(w.Ben, "moveToPending", id)
	r = w.Ben.MustFail("CONFLICT", ReplyDoc, map[string]any{"in": map[string]any{"conversationId": id, "text": "Ben again", "expectedVersion": read}})
	if v, ok := r.CurrentVersion(); !ok || v != int(read)+2 {
		t.Fatalf("currentVersion %v (%v) after a report and a move; want %d: %s", v, ok, read+2, r.Raw)
	}
	for _, v := range []int{0, -1} {
		w.Ben.MustFailArg("BAD_USER_INPUT", "input.expectedVersion", ReplyDoc,
			map[string]any{"in": map[string]any{"conversationId": id, "text": "x", "expectedVersion": v}})
	}
}
