package apitest

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"switchboard/domain"
)

const queueEventFields = `kind cursor conversation { id status version owner { id } ownershipLabel }`

type queueEvent struct {
	QueueChanged struct {
		Kind         string
		Cursor       *string
		Conversation struct {
			ID             string
			Status         string
			Version        int
			Owner          *struct{ ID string }
			OwnershipLabel *string
		}
	}
}

func testQueueChangedLifecycle(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws-live")
	s := w.Ben.Dial()
	s.Subscribe("q", `subscription { queueChanged(status: NEW, ownership: {unowned: true}) { `+queueEventFields+` } }`, nil)
	s.Ready()

	in := w.Inbound("maria", "m1", "hello")
	var ev queueEvent
	s.Next("q", &ev)
	if ev.QueueChanged.Kind != "ENTERED" || ev.QueueChanged.Conversation.ID != in.ConversationID ||
		ev.QueueChanged.Conversation.Version != 1 || ev.QueueChanged.Cursor == nil {
		t.Fatalf("inbound: %+v", ev)
	}
	// The cursor places the row in the view: a queue query after it starts
	// past the row.
	var page struct {
		Queue struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	w.Ben.MustDo(`query($after: String) { queue(status: NEW, ownership: {unowned: true}, after: $after) { edges { node { id } } } }`,
		map[string]any{"after": *ev.QueueChanged.Cursor}, &page)
	if len(page.Queue.Edges) != 0 {
		t.Fatalf("the cursor of the only row should end the view, got %+v", page)
	}

	w.Inbound("maria", "m2", "still there?")
	s.Next("q", &ev)
	if ev.QueueChanged.Kind != "UPDATED" || ev.QueueChanged.Conversation.Version != 2 {
		t.Fatalf("second message: %+v", ev)
	}

	w.SetOwner(w.Cleo, in.ConversationID, "cleo")
	s.Next("q", &ev)
	if ev.QueueChanged.Kind != "LEFT" || ev.QueueChanged.Cursor != nil || ev.QueueChanged.Conversation.Version != 3 ||
		ev.QueueChanged.Conversation.Owner == nil || ev.QueueChanged.Conversation.Owner.ID != "cleo" {
		t.Fatalf("assigned away from the unowned view: %+v", ev)
	}
	// Changes outside the view are not sent: a sentinel conversation that
	// enters the view must be the next event.
	w.Cleo.MustDo(`mutation($id: ID!) { moveToPending(input: {conversationId: $id}) { conversation { id } } }`, map[string]any{"id": in.ConversationID}, nil)
	sentinel := w.NewConversation("sentinel")
	s.Next("q", &ev)
	if ev.QueueChanged.Conversation.ID != sentinel || ev.QueueChanged.Kind != "ENTERED" {
		t.Fatalf("want the sentinel, got %+v", ev)
	}
}

func testOwnershipChangedFilter(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws-live")
	s := w.Ben.Dial()
	// Ben watches changes of conversations he owns in PENDING.
	s.Subscribe("o", `subscription { ownershipChanged(status: [PENDING], ownership: {ownedByMe: true}) { reason version status from { id } to { id } actor { id } conversation { id version owner { id } } } }`, nil)
	s.Ready()
	id := w.NewConversation("maria")
	w.SetOwner(w.Admin, id, "ben") // NEW, owned by Ben: neither state is PENDING
	w.Ben.MustDo(`mutation($id: ID!) { moveToPending(input: {conversationId: $id}) { conversation { id } } }`, map[string]any{"id": id}, nil)
	w.SetOwner(w.Admin, id, "cleo") // before: PENDING + Ben: matches
	type change struct {
		OwnershipChanged struct {
			Reason, Status string
			Version        int
			From, To       *struct{ ID string }
			Actor          *struct{ ID string }
			Conversation   struct {
				ID      string
				Version int
				Owner   *struct{ ID string }
			}
		}
	}
	var c change
	s.Next("o", &c)
	oc := c.OwnershipChanged
	if oc.Reason != "MANUAL" || oc.Status != "PENDING" || oc.From.ID != "ben" || oc.To.ID != "cleo" || oc.Actor.ID != "ada" ||
		oc.Version != 4 || oc.Conversation.Version != 4 || oc.Conversation.Owner.ID != "cleo" {
		t.Fatalf("reassignment away from Ben: %+v", oc)
	}
	w.SetOwner(w.Admin, id, "ben") // after: PENDING + Ben: matches
	s.Next("o", &c)
	if c.OwnershipChanged.To.ID != "ben" || c.OwnershipChanged.Version != 5 {
		t.Fatalf("reassignment to Ben: %+v", c)
	}
}

func testPresenceChangedOnSignIn(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws-live")
	s := w.Ben.Dial() // Ben signs in himself
	s.Subscribe("p", `subscription { presenceChanged { id presence presenceSince } }`, nil)
	s.Ready()
	w.Cleo.Dial()
	var ev struct {
		PresenceChanged struct{ ID, Presence string }
	}
	s.Next("p", &ev)
	if ev.PresenceChanged.ID != "cleo" || ev.PresenceChanged.Presence != "ONLINE" {
		t.Fatalf("Cleo opening a socket: %+v", ev)
	}
	w.Cleo.MustDo(`mutation { setPresence(presence: AWAY) { agent { presence } } }`, nil, nil)
	s.Next("p", &ev)
	if ev.PresenceChanged.ID != "cleo" || ev.PresenceChanged.Presence != "AWAY" {
		t.Fatalf("Cleo going away: %+v", ev)
	}
	var me struct{ Me struct{ Presence string } }
	w.Ben.MustDo(`{ me { presence } }`, nil, &me)
	if me.Me.Presence != "ONLINE" {
		t.Fatalf("Ben after opening a socket: %s", me.Me.Presence)
	}
}

// An agent's own capacity changed by an admin reaches every console's
// presenceChanged, with the agent's new capacity, as a sign-in does: the
// load views (load out of capacity) follow it live.
func testPresenceChangedOnCapacity(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws-live")
	s := w.Ben.Dial()
	s.Subscribe("p", `subscription { presenceChanged { id presence capacity } }`, nil)
	s.Ready()
	var ev struct {
		PresenceChanged struct {
			ID, Presence string
			Capacity     int
		}
	}
	w.Admin.MustDo(`mutation { upsertAgent(input: {id: "cleo", name: "Cleo", role: AGENT, capacity: 7}) { agent { id } } }`, nil, nil)
	s.Next("p", &ev)
	if ev.PresenceChanged.ID != "cleo" || ev.PresenceChanged.Capacity != 7 {
		t.Fatalf("Cleo's capacity set to 7: %+v", ev)
	}
	// A rename alone changes neither: nothing; back to the default: heard.
	w.Admin.MustDo(`mutation { upsertAgent(input: {id: "cleo", name: "Cleo C.", role: AGENT}) { agent { id } } }`, nil, nil)
	w.Admin.MustDo(`mutation { upsertAgent(input: {id: "cleo", name: "Cleo C.", role: AGENT, capacity: null}) { agent { id } } }`, nil, nil)
	s.Next("p", &ev)
	if ev.PresenceChanged.ID != "cleo" || ev.PresenceChanged.Capacity != domain.DefaultCapacity {
		t.Fatalf("Cleo back to the default capacity: %+v", ev)
	}
}

func testSubscriptionTenancy(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	a := e.NewWorkspace("ws-a")
	b := e.NewWorkspace("ws-b") // the same agent ids as ws-a
	s := b.Ben.Dial()
	s.Subscribe("q", `subscription { queueChanged(status: NEW) { kind conversation { id } } }`, nil)
	s.Subscribe("o", `subscription { ownershipChanged { conversation { id } } }`, nil)
	s.Subscribe("p", `subscription { presenceChanged { id } }`, nil)
	s.Ready()
	id := a.NewConversation("maria")
	a.SetOwner(a.Admin, id, "ben")
	a.Cleo.MustDo(`mutation { setPresence(presence: ONLINE) { agent { id } } }`, nil, nil)
	a.Ben.Dial()
	// Nothing of ws-a arrives: the first event is ws-b's own.
	own := b.NewConversation("sentinel")
	var ev struct {
		QueueChanged struct{ Conversation struct{ ID string } }
	}
	s.Next("q", &ev)
	if ev.QueueChanged.Conversation.ID != own {
		t.Fatalf("first event in ws-b: %+v", ev)
	}
}

func testSubscriptionOrder(t *testing.T, f Factory) {
	if !f.Atomic {
		t.Skip("this store's test server does not make conditional updates atomic under concurrency, so concurrent writers may both write one version; the order test runs on SQLite and on a real MongoDB")
	}
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws-live")
	id := w.NewConversation("maria")
	s := w.Ben.Dial()
	s.Subscribe("q", `subscription { queueChanged(status: NEW) { conversation { id version } } }`, nil)
	s.Ready()
	const writers, each = 4, 10
	var wg sync.WaitGroup
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < each; j++ {
				w.Inbound("maria", fmt.Sprintf("m-%d-%d", i, j), "hi")
			}
		}()
	}
	wg.Wait()
	for v := 2; v <= 1+writers*each; v++ {
		var ev struct {
			QueueChanged struct {
				Conversation struct {
					ID      string
					Version int
				}
			}
		}
		s.Next("q", &ev)
		if ev.QueueChanged.Conversation.ID != id || ev.QueueChanged.Conversation.Version != v {
			t.Fatalf("want version %d of %s, got %+v", v, id, ev)
		}
	}
}

func testSubscriptionRefused(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws-live")
	s := w.Ben.Dial()
	s.Subscribe("bad", `subscription { queueChanged(status: NEW, channelIds: ["nope"]) { kind } }`, nil)
	m := s.Read()
	if m.Type != "error" || m.ID != "bad" || !contains(string(m.Payload), "BAD_USER_INPUT") {
		t.Fatalf("want an error message with BAD_USER_INPUT, got %+v %s", m, m.Payload)
	}
	s.Subscribe("invalid", `subscription { queueChanged(status: NEW) { nope } }`, nil)
	m = s.Read()
	if m.Type != "error" || m.ID != "invalid" || !contains(string(m.Payload), "GRAPHQL_VALIDATION_FAILED") {
		t.Fatalf("want a validation error message, got %+v %s", m, m.Payload)
	}
	// The connection is still good.
	s.Ready()
}

func testDeactivationClosesSocket(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws-live")
	s := w.Ben.Dial()
	w.Admin.MustDo(`mutation { upsertAgent(input: {id: "ben", name: "Ben Baker", role: AGENT, active: false}) { agent { active } } }`, nil, nil)
	if code, _ := s.Closed(); code != 4403 {
		t.Fatalf("close code %d, want 4403", code)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
