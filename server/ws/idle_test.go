package ws_test

import (
	"bytes"
	"encoding/json"
	"runtime/pprof"
	"strings"
	"testing"
)

// goroutinesIn counts the goroutines of this process whose stack has a
// frame of a function whose name has prefix.
func goroutinesIn(prefix string) int {
	var b bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&b, 2)
	n := 0
	for _, g := range strings.Split(b.String(), "\n\n") {
		if strings.Contains(g, prefix) {
			n++
		}
	}
	return n
}

// An idle socket holds its reader's goroutine and nothing else: no
// goroutine per subscription waits for the feed or for the resolver, yet
// every subscription gets its events, in order, and is woken only by
// events of its kind.
func TestAnIdleSubscriptionHoldsNoGoroutine(t *testing.T) {
	e := newEnv(t)
	w := e.newWorkspace("ws-idle")
	const sockets = 3
	var subs []*socket
	for range sockets {
		s := e.dial(w.ben)
		s.Subscribe("q", queueQuery, nil)
		s.Subscribe("o", `subscription { ownershipChanged { conversation { id version } } }`, nil)
		s.Subscribe("p", `subscription { presenceChanged { id presence } }`, nil)
		s.Ready()
		subs = append(subs, s)
	}
	idle := func() bool {
		return goroutinesIn("switchboard/server/ws.(*Server).serve") == sockets &&
			goroutinesIn("switchboard/resolvers.") == 0 &&
			goroutinesIn("switchboard/server/ws.(*conn).respond") == 0 &&
			goroutinesIn("switchboard/feed.") == 0
	}
	waitFor(t, "the sockets to idle with one goroutine each", idle)

	id := w.inbound("maria", "m1", "hello")
	w.setOwner(id, "cleo")
	for _, s := range subs {
		// Each subscription's events come in order; the subscriptions'
		// interleave as they will.
		var queue []queueEvent
		ownership := 0
		for range 3 {
			m := s.Read()
			if m.Type != "next" {
				t.Fatalf("got %s %s %s", m.Type, m.ID, m.Payload)
			}
			var r struct {
				Data struct {
					queueEvent
					OwnershipChanged *struct{ Conversation struct{ ID string } }
				}
			}
			if err := json.Unmarshal(m.Payload, &r); err != nil {
				t.Fatal(err)
			}
			switch m.ID {
			case "q":
				queue = append(queue, r.Data.queueEvent)
			case "o":
				if r.Data.OwnershipChanged.Conversation.ID != id {
					t.Fatalf("ownership event %s", m.Payload)
				}
				ownership++
			default:
				t.Fatalf("an event for %s: %s", m.ID, m.Payload)
			}
		}
		if ownership != 1 || len(queue) != 2 || queue[0].QueueChanged.Conversation.ID != id ||
			queue[0].QueueChanged.Kind != "ENTERED" || queue[1].QueueChanged.Conversation.Version != 2 {
			t.Fatalf("queue events %+v, %d ownership events", queue, ownership)
		}
	}
	waitFor(t, "the sockets to idle again", idle)
}
