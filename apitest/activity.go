package apitest

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Who else is on a conversation: viewers (holders of conversationActivity)
// and typists (setTyping), through the real WebSocket endpoint.

const activityDoc = `subscription($id: ID!) { conversationActivity(conversationId: $id) { conversation { id version } viewers { id name } typing { id } } }`

const setTypingDoc = `mutation($id: ID!, $on: Boolean!) { setTyping(conversationId: $id, typing: $on) }`

// activity is one conversationActivity snapshot.
type activity struct {
	ConversationActivity struct {
		Conversation struct {
			ID      string
			Version int
		}
		Viewers []struct{ ID, Name string }
		Typing  []struct{ ID string }
	}
}

func (a activity) viewers() string {
	var ids []string
	for _, v := range a.ConversationActivity.Viewers {
		ids = append(ids, v.ID)
	}
	return strings.Join(ids, ",")
}

func (a activity) typing() string {
	var ids []string
	for _, v := range a.ConversationActivity.Typing {
		ids = append(ids, v.ID)
	}
	return strings.Join(ids, ",")
}

func (a activity) version() int { return a.ConversationActivity.Conversation.Version }

// watch subscribes s to id's activity under op and returns the first
// snapshot.
func watch(s *Socket, op, id string) activity {
	s.Subscribe(op, activityDoc, map[string]any{"id": id})
	var a activity
	s.Next(op, &a)
	return a
}

// next reads the next snapshot of op.
func next(s *Socket, op string) activity {
	var a activity
	s.Next(op, &a)
	return a
}

// nextOf reads the next snapshot of each of ops, which may come in any
// order.
func nextOf(s *Socket, ops ...string) map[string]activity {
	s.T().Helper()
	got := map[string]activity{}
	for len(got) < len(ops) {
		m := s.Read()
		var r struct{ Data activity }
		if m.Type != "next" || !slices.Contains(ops, m.ID) || got[m.ID].ConversationActivity.Conversation.ID != "" ||
			json.Unmarshal(m.Payload, &r) != nil || r.Data.ConversationActivity.Conversation.ID == "" {
			s.T().Fatalf("want the next snapshot of each of %v, got %s %s %s", ops, m.Type, m.ID, m.Payload)
		}
		got[m.ID] = r.Data
	}
	return got
}

// typing sets c's typing on id and returns whether the call was taken.
func typing(c *Client, id string, on bool) bool {
	var out struct{ SetTyping bool }
	c.MustDo(setTypingDoc, map[string]any{"id": id, "on": on}, &out)
	return out.SetTyping
}

func testActivityViewers(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	ben := w.Ben.Dial()
	if a := watch(ben, "a", id); a.viewers() != "ben" || a.typing() != "" || a.version() != 1 || a.ConversationActivity.Conversation.ID != id {
		t.Fatalf("ben's first snapshot: %+v", a)
	}
	cleo := w.Cleo.Dial()
	if a := watch(cleo, "a", id); a.viewers() != "ben,cleo" || a.ConversationActivity.Viewers[1].Name != "Cleo Cruz" {
		t.Fatalf("cleo's first snapshot: %+v", a)
	}
	if a := next(ben, "a"); a.viewers() != "ben,cleo" {
		t.Fatalf("ben sees cleo come: %+v", a)
	}
	// Ben's second device: he is one viewer. Its first snapshot says so,
	// and the others hear nothing: their next snapshot is a later change.
	phone := w.Ben.Dial()
	if a := watch(phone, "a", id); a.viewers() != "ben,cleo" {
		t.Fatalf("ben's phone's first snapshot: %+v", a)
	}
	w.Inbound("maria", "m2", "anyone?")
	for _, s := range []*Socket{cleo, ben, phone} {
		if a := next(s, "a"); a.viewers() != "ben,cleo" || a.version() != 2 {
			t.Fatalf("after a message: %+v", a)
		}
	}
	// A second subscription on the same socket is no second viewer either.
	watch(cleo, "b", id)
	// One device of Ben's goes: he still views. The other is cut off
	// without a close handshake: he is gone.
	if err := phone.Close(1000, ""); err != nil {
		t.Fatal(err)
	}
	ben.Drop()
	for op, a := range nextOf(cleo, "a", "b") {
		if a.viewers() != "cleo" || a.version() != 2 {
			t.Fatalf("%s after ben's sockets went: %+v", op, a)
		}
	}
	// Nothing else came: the next snapshots are the sentinel's.
	w.Say(w.Cleo, id, "sentinel")
	for op, a := range nextOf(cleo, "a", "b") {
		if a.version() != 3 || a.viewers() != "cleo" {
			t.Fatalf("%s: want the sentinel's snapshot, got %+v", op, a)
		}
	}
	// Ending the subscriptions ends the viewing.
	ada := w.Admin.Dial()
	if a := watch(ada, "a", id); a.viewers() != "ada,cleo" {
		t.Fatalf("ada's first snapshot: %+v", a)
	}
	cleo.Send(WSMessage{ID: "a", Type: "complete"})
	cleo.Send(WSMessage{ID: "b", Type: "complete"})
	if a := next(ada, "a"); a.viewers() != "ada" {
		t.Fatalf("after cleo completed: %+v", a)
	}
}

func testActivityTyping(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	cleo := w.Cleo.Dial()
	watch(cleo, "a", id)
	// Typing starts, and is repeated while it lasts: no new snapshot.
	if !typing(w.Ben, id, true) {
		t.Fatal("setTyping was not taken")
	}
	if a := next(cleo, "a"); a.typing() != "ben" || a.viewers() != "cleo" {
		t.Fatalf("ben types: %+v", a)
	}
	e.Clock.Advance(TypingForTest - time.Second)
	typing(w.Ben, id, true)
	e.Clock.Advance(TypingForTest - time.Second)
	// A reply by Ben ends it, in the snapshot of the reply's version or
	// just before it.
	w.Say(w.Ben, id, "Hello Maria")
	a := next(cleo, "a")
	if a.typing() != "" && a.version() == 2 {
		a = next(cleo, "a")
	}
	if a.typing() != "" {
		t.Fatalf("after ben's reply: %+v", a)
	}
	if a.version() != 2 {
		if a = next(cleo, "a"); a.version() != 2 || a.typing() != "" {
			t.Fatalf("the reply's version: %+v", a)
		}
	}
	// Typing stops on false.
	typing(w.Ben, id, true)
	if a := next(cleo, "a"); a.typing() != "ben" {
		t.Fatalf("ben types again: %+v", a)
	}
	typing(w.Ben, id, false)
	if a := next(cleo, "a"); a.typing() != "" {
		t.Fatalf("ben stopped: %+v", a)
	}
	// And expires TypingFor after the last true, on the clock.
	e.Clock.Advance(2 * time.Second) // the rate refills
	typing(w.Ben, id, true)
	if a := next(cleo, "a"); a.typing() != "ben" {
		t.Fatalf("ben types a third time: %+v", a)
	}
	e.Clock.Advance(TypingForTest - time.Millisecond)
	w.Say(w.Cleo, id, "sentinel") // still typing at its version
	if a := next(cleo, "a"); a.typing() != "ben" || a.version() != 3 {
		t.Fatalf("just before expiry: %+v", a)
	}
	e.Clock.Advance(time.Millisecond)
	if a := next(cleo, "a"); a.typing() != "" || a.version() != 3 {
		t.Fatalf("at expiry: %+v", a)
	}
}

// TypingForTest is the product's typing time (domain.TypingFor).
const TypingForTest = 6 * time.Second

func testActivityTypingRate(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	other := w.NewConversation("other")
	cleo := w.Cleo.Dial()
	watch(cleo, "a", id)
	taken := 0
	for range 20 {
		if typing(w.Ben, id, true) {
			taken++
		}
	}
	if taken == 0 || taken > 5 {
		t.Fatalf("%d of 20 calls at once were taken; want 1 to 5", taken)
	}
	// Over the rate, another conversation is a no-op too, and so is a
	// stop that stops nothing; the stop of a typing in progress is not.
	if typing(w.Ben, other, true) || typing(w.Ben, other, false) {
		t.Fatal("a call over the rate was taken")
	}
	if a := next(cleo, "a"); a.typing() != "ben" {
		t.Fatalf("ben types: %+v", a)
	}
	if !typing(w.Ben, id, false) {
		t.Fatal("stopping was not taken")
	}
	if a := next(cleo, "a"); a.typing() != "" {
		t.Fatalf("ben stopped: %+v", a)
	}
	// Cleo's own rate is hers.
	if !typing(w.Cleo, id, true) {
		t.Fatal("cleo's call was not taken")
	}
	if a := next(cleo, "a"); a.typing() != "cleo" {
		t.Fatalf("cleo types: %+v", a)
	}
	// The rate refills with time.
	e.Clock.Advance(time.Second)
	if !typing(w.Ben, other, true) {
		t.Fatal("a call a second later was not taken")
	}
}

func testActivityRefused(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	a := e.NewWorkspace("ws-a")
	b := e.NewWorkspace("ws-b") // the same agent ids as ws-a
	id := a.NewConversation("maria")
	// An integration may not subscribe nor type.
	s := a.Integration.Dial()
	s.Subscribe("a", activityDoc, map[string]any{"id": id})
	if m := s.Read(); m.Type != "error" || m.ID != "a" || !contains(string(m.Payload), `"code":"FORBIDDEN"`) {
		t.Fatalf("integration: %+v %s", m, m.Payload)
	}
	a.Integration.MustFail("FORBIDDEN", setTypingDoc, map[string]any{"id": id, "on": true})
	// Another workspace's conversation looks like an unknown one.
	sb := b.Ben.Dial()
	for _, target := range []string{id, "cv_unknown"} {
		sb.Subscribe("x", activityDoc, map[string]any{"id": target})
		if m := sb.Read(); m.Type != "error" || !contains(string(m.Payload), `"code":"NOT_FOUND"`) {
			t.Fatalf("subscribing to %s from ws-b: %+v %s", target, m, m.Payload)
		}
		b.Ben.MustFail("NOT_FOUND", setTypingDoc, map[string]any{"id": target, "on": true})
	}
	// ws-b's watcher of its own conversation hears nothing of ws-a's
	// viewers and typists, whose agents have the same ids.
	own := b.NewConversation("maria")
	if first := watch(sb, "a", own); first.viewers() != "ben" {
		t.Fatalf("ws-b's first snapshot: %+v", first)
	}
	sa := a.Cleo.Dial()
	watch(sa, "a", id)
	typing(a.Cleo, id, true)
	if x := next(sa, "a"); x.typing() != "cleo" {
		t.Fatalf("ws-a: %+v", x)
	}
	typing(b.Cleo, own, true)
	if x := next(sb, "a"); x.typing() != "cleo" || x.viewers() != "ben" {
		t.Fatalf("ws-b's next snapshot must be its own: %+v", x)
	}
}

// testActivityRacedReply: an agent writing against the version they saw
// is told, over the socket, that it moved, and sends anyway.
func testActivityRacedReply(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	ben := w.Ben.Dial()
	seen := watch(ben, "a", id).version()
	w.Say(w.Cleo, id, "Cleo was first")
	now := next(ben, "a").version()
	if now != seen+1 {
		t.Fatalf("version %d after cleo's reply; want %d", now, seen+1)
	}
	reply := `mutation($in: ReplyInput!) { reply(input: $in) { conversation { version } } }`
	ben.Subscribe("r1", reply, map[string]any{"in": map[string]any{"conversationId": id, "text": "Ben's", "expectedVersion": seen}})
	m := ben.Read()
	if m.Type != "next" || m.ID != "r1" || !contains(string(m.Payload), `"code":"CONFLICT"`) ||
		!contains(string(m.Payload), `"currentVersion":`+strconv.Itoa(now)) {
		t.Fatalf("raced reply over the socket: %+v %s", m, m.Payload)
	}
	ben.Expect("complete")
	ben.Subscribe("r2", reply, map[string]any{"in": map[string]any{"conversationId": id, "text": "Ben's", "expectedVersion": now}})
	// The reply's result and the activity's snapshot may come in either
	// order.
	var got []string
	for len(got) < 3 {
		m := ben.Read()
		got = append(got, m.Type+" "+m.ID)
		if m.ID == "r2" && m.Type == "next" && !contains(string(m.Payload), `"version":`+strconv.Itoa(now+1)) {
			t.Fatalf("current reply: %s", m.Payload)
		}
	}
	slices.Sort(got)
	if strings.Join(got, ";") != "complete r2;next a;next r2" {
		t.Fatalf("messages %v", got)
	}
}

// activityRefsDoc selects every reference of the snapshot's conversation.
const activityRefsDoc = `subscription($id: ID!) { conversationActivity(conversationId: $id) { conversation {
	version ownershipLabel owner { id name } channel { id name } contact { externalId name } } } }`

// activityRefs is a conversationActivity snapshot's conversation with its
// references.
type activityRefs struct {
	ConversationActivity struct {
		Conversation struct {
			Version        int
			OwnershipLabel *string
			Owner          *struct{ ID, Name string }
			Channel        struct{ ID, Name string }
			Contact        struct {
				ExternalID string
				Name       *string
			}
		}
	}
}

func testActivityReferences(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	ben := w.Ben.Dial()
	ben.Subscribe("a", activityRefsDoc, map[string]any{"id": id})
	var a activityRefs
	ben.Next("a", &a)
	c := a.ConversationActivity.Conversation
	if c.Version != 1 || c.Owner != nil || c.OwnershipLabel != nil || c.Channel.ID != w.ChannelID || c.Channel.Name != "Email" ||
		c.Contact.ExternalID != "maria" || c.Contact.Name != nil {
		t.Fatalf("the first snapshot's conversation: %+v", c)
	}
	w.SetOwner(w.Admin, id, "cleo")
	ben.Next("a", &a)
	c = a.ConversationActivity.Conversation
	if c.Version != 2 || c.Owner == nil || c.Owner.ID != "cleo" || c.Owner.Name != "Cleo Cruz" ||
		c.OwnershipLabel == nil || *c.OwnershipLabel != "Waiting on Cleo Cruz" || c.Channel.ID != w.ChannelID || c.Contact.ExternalID != "maria" {
		t.Fatalf("the live snapshot after cleo was made owner: %+v", c)
	}
}
