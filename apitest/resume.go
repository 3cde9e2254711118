package apitest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// WithEventRetention keeps changes replayable while younger than d or among
// their workspace's newest n.
func WithEventRetention(d time.Duration, n int) Option {
	return func(c *EnvConfig) { c.EventRetention, c.EventRetentionCount = d, n }
}

type resumedChange struct {
	OwnershipChanged struct {
		Position     string
		Version      int
		To           *struct{ ID string }
		Conversation struct{ ID string }
	}
}

// ownershipSince is ownershipChanged of NEW conversations Ben owns.
const ownershipSince = `subscription($since: String) {
  ownershipChanged(status: [NEW], ownership: {ownedByMe: true}, since: $since) { position version to { id } conversation { id } }
}`

func since(p string) map[string]any {
	if p == "" {
		return nil
	}
	return map[string]any{"since": p}
}

// nextChange reads the next ownership change and checks it is version v of
// conversation id.
func nextChange(t *testing.T, s *Socket, id string, v int) string {
	t.Helper()
	var c resumedChange
	s.Next("o", &c)
	oc := c.OwnershipChanged
	if oc.Conversation.ID != id || oc.Version != v || oc.Position == "" {
		t.Fatalf("want version %d of %s with a position, got %+v", v, id, oc)
	}
	return oc.Position
}

func testResumeOwnershipChanged(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws-live")
	c1, c2, c3 := w.NewConversation("maria"), w.NewConversation("nils"), w.NewConversation("olga")
	s := w.Ben.Dial()
	s.Subscribe("o", ownershipSince, nil)
	s.Ready()
	w.SetOwner(w.Admin, c1, "ben")
	last := nextChange(t, s, c1, 2)

	// The socket drops; meanwhile changes Ben's view selects, and changes
	// it does not.
	if err := s.Close(websocket.StatusGoingAway, "tunnel"); err != nil {
		t.Fatal(err)
	}
	w.SetOwner(w.Admin, c2, "ben")  // c2 v2: matches
	w.SetOwner(w.Admin, c3, "cleo") // c3 v2: not Ben's
	w.SetOwner(w.Admin, c1, "cleo") // c1 v3: Ben's before
	w.Inbound("maria", "m2", "hi")  // c1 v4: no ownership change

	s = w.Ben.Dial()
	s.Subscribe("o", ownershipSince, since(last))
	p2 := nextChange(t, s, c2, 2)
	p3 := nextChange(t, s, c1, 3)
	if p2 == last || p3 == p2 {
		t.Fatalf("positions repeat: %s %s %s", last, p2, p3)
	}
	// Then live, with nothing replayed twice.
	w.SetOwner(w.Admin, c3, "ben") // c3 v3
	p4 := nextChange(t, s, c3, 3)

	// Resuming from the middle replays from there.
	s2 := w.Ben.Dial()
	s2.Subscribe("o", ownershipSince, since(p2))
	nextChange(t, s2, c1, 3)
	if got := nextChange(t, s2, c3, 3); got != p4 {
		t.Fatalf("the same change has another position: %s, %s", got, p4)
	}
}

func testResumeQueueChanged(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws-live")
	other := w.CreateChannel("Chat")
	const q = `subscription($since: String, $ch: [ID!]) {
  queueChanged(status: NEW, ownership: {unowned: true}, channelIds: $ch, since: $since) { kind position conversation { id version } }
}`
	vars := func(p string) map[string]any {
		v := map[string]any{"ch": []string{w.ChannelID}}
		if p != "" {
			v["since"] = p
		}
		return v
	}
	type queueChange struct {
		QueueChanged struct {
			Kind         string
			Position     string
			Conversation struct {
				ID      string
				Version int
			}
		}
	}
	next := func(s *Socket, kind, id string, v int) string {
		t.Helper()
		var ev queueChange
		s.Next("q", &ev)
		qc := ev.QueueChanged
		if qc.Kind != kind || qc.Conversation.ID != id || qc.Conversation.Version != v || qc.Position == "" {
			t.Fatalf("want %s version %d of %s with a position, got %+v", kind, v, id, qc)
		}
		return qc.Position
	}
	s := w.Ben.Dial()
	s.Subscribe("q", q, vars(""))
	s.Ready()
	c1 := w.NewConversation("maria")
	last := next(s, "ENTERED", c1, 1)

	if err := s.Close(websocket.StatusGoingAway, "tunnel"); err != nil {
		t.Fatal(err)
	}
	w.InboundOn(other, "nils", "n1", "elsewhere") // another channel: not in the view
	c2 := w.NewConversation("olga")               // enters
	w.SetOwner(w.Admin, c1, "ben")                // leaves: owned now
	w.Inbound("olga", "o2", "still there?")       // c2 v2: changes in the view

	s = w.Ben.Dial()
	s.Subscribe("q", q, vars(last))
	next(s, "ENTERED", c2, 1)
	next(s, "LEFT", c1, 2)
	next(s, "UPDATED", c2, 2)
	c3 := w.NewConversation("pia")
	next(s, "ENTERED", c3, 1)
}

func testResumePresenceChanged(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws-live")
	w.SetPresence(w.Ben, "ONLINE")
	const q = `subscription($since: String) { presenceChanged(since: $since) { id presence position } }`
	type presence struct {
		PresenceChanged struct{ ID, Presence, Position string }
	}
	next := func(s *Socket, id, p string) string {
		t.Helper()
		var ev presence
		s.Next("p", &ev)
		pc := ev.PresenceChanged
		if pc.ID != id || pc.Presence != p || pc.Position == "" {
			t.Fatalf("want %s %s with a position, got %+v", id, p, pc)
		}
		return pc.Position
	}
	s := w.Ben.Dial()
	s.Subscribe("p", q, nil)
	s.Ready()
	w.SetPresence(w.Cleo, "ONLINE")
	last := next(s, "cleo", "ONLINE")

	if err := s.Close(websocket.StatusGoingAway, "tunnel"); err != nil {
		t.Fatal(err)
	}
	w.SetPresence(w.Cleo, "AWAY")
	w.Cleo.MustDo(`mutation { setPresence(presence: AWAY) { agent { id } } }`, nil, nil) // no change, no event
	w.SetPresence(w.Admin, "AWAY")

	s = w.Ben.Dial()
	s.Subscribe("p", q, since(last))
	next(s, "cleo", "AWAY")
	next(s, "ada", "AWAY")
	w.SetPresence(w.Cleo, "OFFLINE")
	next(s, "cleo", "OFFLINE")
}

// testResumeSeam resumes while changes keep coming: the replay and the live
// changes meet with none missing and none twice.
func testResumeSeam(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws-live")
	id := w.NewConversation("maria")
	const q = `subscription($since: String) { queueChanged(status: NEW, since: $since) { position conversation { id version } } }`
	type change struct {
		QueueChanged struct {
			Position     string
			Conversation struct {
				ID      string
				Version int
			}
		}
	}
	next := func(s *Socket, v int) string {
		t.Helper()
		var ev change
		s.Next("q", &ev)
		if c := ev.QueueChanged.Conversation; c.ID != id || c.Version != v {
			t.Fatalf("want version %d of %s, got %+v", v, id, ev.QueueChanged)
		}
		return ev.QueueChanged.Position
	}
	s := w.Ben.Dial()
	s.Subscribe("q", q, nil)
	s.Ready()
	w.Inbound("maria", "m-first", "hi")
	last := next(s, 2)
	if err := s.Close(websocket.StatusGoingAway, "tunnel"); err != nil {
		t.Fatal(err)
	}

	// One writer, so versions are consecutive on every store; it writes
	// before, while and after the subscriber resumes.
	const n = 60
	var wg sync.WaitGroup
	wg.Add(1)
	started := make(chan struct{})
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			if i == 10 {
				close(started)
			}
			w.Inbound("maria", fmt.Sprintf("m-%d", i), "more")
		}
	}()
	<-started
	s = w.Ben.Dial()
	s.Subscribe("q", q, since(last))
	for v := 3; v <= 2+n; v++ {
		next(s, v)
	}
	wg.Wait()
	// Nothing else was queued: the next event is a new one.
	w.Inbound("maria", "m-last", "bye")
	next(s, 3+n)
}

func testResumeTooOld(t *testing.T, f Factory) {
	e := NewEnv(t, f, WithEventRetention(time.Minute, 2))
	w := e.NewWorkspace("ws-live")
	s := w.Ben.Dial()
	const q = `subscription($since: String) { queueChanged(status: NEW, since: $since) { position conversation { id } } }`
	s.Subscribe("q", q, nil)
	s.Ready()
	w.NewConversation("maria")
	var ev struct{ QueueChanged struct{ Position string } }
	s.Next("q", &ev)
	old := ev.QueueChanged.Position
	w.NewConversation("nils")
	s.Next("q", &ev)
	kept := ev.QueueChanged.Position

	// Two minutes on, with three more changes: the first two are past both
	// the age and the count kept.
	e.Clock.Advance(2 * time.Minute)
	var later []string
	for _, c := range []string{"olga", "pia", "quinn"} {
		later = append(later, w.NewConversation(c))
	}
	if err := e.Service.TrimEvents(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.Subscribe("old", q, since(old))
	m := s.Read()
	for m.ID == "q" {
		m = s.Read()
	}
	if m.Type != "error" || m.ID != "old" || !contains(string(m.Payload), `"RESET"`) {
		t.Fatalf("want an error with code RESET, got %s %s %s", m.Type, m.ID, m.Payload)
	}
	// From the newest change trimmed, nothing that follows is missing.
	s2 := w.Ben.Dial()
	s2.Subscribe("kept", q, since(kept))
	for _, id := range later {
		var ev struct {
			QueueChanged struct{ Conversation struct{ ID string } }
		}
		s2.Next("kept", &ev)
		if ev.QueueChanged.Conversation.ID != id {
			t.Fatalf("want %s, got %+v", id, ev)
		}
	}
}

func testResumeForeignPosition(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	a := e.NewWorkspace("ws-a")
	b := e.NewWorkspace("ws-b")
	s := a.Ben.Dial()
	const q = `subscription($since: String) { queueChanged(status: NEW, since: $since) { position } }`
	s.Subscribe("q", q, nil)
	s.Ready()
	a.NewConversation("maria")
	var ev struct{ QueueChanged struct{ Position string } }
	s.Next("q", &ev)

	sb := b.Ben.Dial()
	for id, p := range map[string]string{"foreign": ev.QueueChanged.Position, "malformed": "not-a-position"} {
		sb.Subscribe(id, q, since(p))
		m := sb.Read()
		if m.Type != "error" || m.ID != id || !contains(string(m.Payload), "BAD_USER_INPUT") || !contains(string(m.Payload), `"since"`) {
			t.Fatalf("%s: want BAD_USER_INPUT since, got %s %s", id, m.Type, m.Payload)
		}
	}
	sb.Ready()
}
