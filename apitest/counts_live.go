package apitest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/internal/wsclient"
)

// CountsChangedDoc is the queueCountsChanged subscription the tests and
// the load tool hold.
const CountsChangedDoc = `subscription($s: QueueStatus!, $ch: [ID!]) {
  queueCountsChanged(status: $s, channelIds: $ch) { total unowned ownedByMe ownedByOthers byOwner { count owner { id name } } }
}`

// LiveCounts is one snapshot of queueCountsChanged.
type LiveCounts struct {
	Total, Unowned, OwnedByMe, OwnedByOthers int
	ByOwner                                  []struct {
		Count int
		Owner struct{ ID, Name string }
	}
}

// String is the snapshot in short: total/unowned/mine/others and each
// owner's count.
func (c LiveCounts) String() string {
	s := fmt.Sprintf("%d/%d/%d/%d", c.Total, c.Unowned, c.OwnedByMe, c.OwnedByOthers)
	for _, o := range c.ByOwner {
		s += fmt.Sprintf(" %s:%d", o.Owner.ID, o.Count)
	}
	return s
}

func watchCounts(s *Socket, op string, vars map[string]any) LiveCounts {
	s.T().Helper()
	if vars == nil {
		vars = map[string]any{"s": "NEW"}
	}
	s.Subscribe(op, CountsChangedDoc, vars)
	return nextCounts(s, op)
}

func nextCounts(s *Socket, op string) LiveCounts {
	s.T().Helper()
	var out struct{ QueueCountsChanged LiveCounts }
	s.Next(op, &out)
	return out.QueueCountsChanged
}

// nextCountsOf reads the next snapshot of each of ops, in any order.
func nextCountsOf(s *Socket, ops ...string) map[string]LiveCounts {
	s.T().Helper()
	typ := "next"
	if s.Subprotocol() == wsclient.LegacyWS {
		typ = "data"
	}
	got := map[string]LiveCounts{}
	for len(got) < len(ops) {
		m := s.Read()
		var r struct {
			Data   struct{ QueueCountsChanged *LiveCounts }
			Errors []any
		}
		_, dup := got[m.ID]
		if m.Type != typ || !slices.Contains(ops, m.ID) || dup || json.Unmarshal(m.Payload, &r) != nil || len(r.Errors) > 0 || r.Data.QueueCountsChanged == nil {
			s.T().Fatalf("want the next snapshot of each of %v, got %s %s %s", ops, m.Type, m.ID, m.Payload)
		}
		got[m.ID] = *r.Data.QueueCountsChanged
	}
	return got
}

func wantCounts(t testing.TB, what string, got LiveCounts, want string) {
	t.Helper()
	if got.String() != want {
		t.Fatalf("%s: counts %s, want %s", what, got, want)
	}
}

// testCountsChangedLive: the first snapshot at once, then one a second
// after changes, coalesced, and none for changes the caller does not see;
// over both subprotocols.
func testCountsChangedLive(t *testing.T, f Factory) {
	for _, proto := range []string{wsclient.TransportWS, wsclient.LegacyWS} {
		t.Run(proto, func(t *testing.T) {
			e := NewEnv(t, f)
			w := e.NewWorkspace("ws-counts")
			chat := w.CreateChannel("Chat")
			a := w.NewConversation("maria")
			w.SetOwner(w.Admin, a, "cleo")
			w.NewConversation("noor")
			s := wsclient.Connect(t, e.wsURL(), proto, w.Ben.Token)
			wantCounts(t, "first", watchCounts(s, "c", nil), "2/1/0/1 cleo:1")
			onChat := watchCounts(s, "chat", map[string]any{"s": "NEW", "ch": []string{chat}})
			wantCounts(t, "first of Chat", onChat, "0/0/0/0")

			// Ten changes within one second of the fake clock: one
			// snapshot when the second is over, with the last counts.
			ids := make([]string, 10)
			for i := range ids {
				ids[i] = w.NewConversation(fmt.Sprintf("contact-%d", i))
			}
			for _, id := range ids[:3] {
				w.SetOwner(w.Admin, id, "ben")
			}
			s.Quiet(50 * time.Millisecond) // not before the second is over
			e.Clock.Advance(time.Second)
			wantCounts(t, "after ten changes", nextCounts(s, "c"), "12/8/3/1 ben:3 cleo:1")

			// Changes that move none of Ben's counts of New on Email and
			// Chat, and one on Chat only: "c" hears of nothing until a
			// sentinel change, "chat" of the one on Chat.
			e.Store.Reset()
			w.Inbound("maria", "m-more", "still there?")
			w.Move(w.Admin, "moveToPending", ids[9])
			w.Move(w.Admin, "moveToNew", ids[9])
			e.Clock.Advance(time.Second)
			onChat2 := w.InboundOn(chat, "zoe", "z-1", "hello").ConversationID
			e.Clock.Advance(time.Second)
			got := nextCountsOf(s, "c", "chat")
			wantCounts(t, "Chat's own change", got["chat"], "1/1/0/0")
			wantCounts(t, "the change on Chat", got["c"], "13/9/3/1 ben:3 cleo:1")
			w.SetOwner(w.Admin, onChat2, "ben")
			e.Clock.Advance(time.Second)
			got = nextCountsOf(s, "c", "chat")
			wantCounts(t, "Chat after the sentinel", got["chat"], "1/0/1/0 ben:1")
			wantCounts(t, "the sentinel", got["c"], "13/8/4/1 ben:4 cleo:1")

			// Messages move no count: they cost no count query either.
			e.Store.Reset()
			for i := range 3 {
				w.Inbound("maria", fmt.Sprintf("m-again-%d", i), "hello?")
			}
			e.Clock.Advance(time.Second)
			w.NewConversation("sentinel")
			e.Clock.Advance(time.Second)
			wantCounts(t, "after messages and a sentinel", nextCounts(s, "c"), "14/9/4/1 ben:4 cleo:1")
			if calls, _ := e.Store.Calls(); calls["CountOwners"] != 1 {
				t.Errorf("three messages and a new conversation cost %d count queries, want 1 (the new conversation's)", calls["CountOwners"])
			}
		})
	}
}

// testCountsChangedPerCaller: two agents hold the same document with the
// same variables, so the transport may share their executions: each still
// gets their own ownedByMe.
func testCountsChangedPerCaller(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws-counts")
	ben, cleo := w.Ben.Dial(), w.Cleo.Dial()
	wantCounts(t, "Ben's first", watchCounts(ben, "c", nil), "0/0/0/0")
	wantCounts(t, "Cleo's first", watchCounts(cleo, "c", nil), "0/0/0/0")
	a, b := w.NewConversation("maria"), w.NewConversation("noor")
	w.SetOwner(w.Admin, a, "ben")
	e.Clock.Advance(time.Second)
	wantCounts(t, "Ben", nextCounts(ben, "c"), "2/1/1/0 ben:1")
	wantCounts(t, "Cleo", nextCounts(cleo, "c"), "2/1/0/1 ben:1")
	w.SetOwner(w.Admin, b, "cleo")
	e.Clock.Advance(time.Second)
	wantCounts(t, "Ben", nextCounts(ben, "c"), "2/0/1/1 ben:1 cleo:1")
	wantCounts(t, "Cleo", nextCounts(cleo, "c"), "2/0/1/1 ben:1 cleo:1")
	// A third on the same shape whose counts equal Ben's before: it joins
	// from the shared snapshot, with its own.
	dev := e.Agent(w.ID, "dev", "Dev Patel")
	wantCounts(t, "Dev's first", watchCounts(dev.Dial(), "c", nil), "2/0/0/2 ben:1 cleo:1")
}

// testCountsChangedRefused: the checks of queueCounts, in its words.
func testCountsChangedRefused(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	a := e.NewWorkspace("ws-a")
	b := e.NewWorkspace("ws-b")
	s := b.Ben.Dial()
	for _, ch := range []string{"ch_unknown", a.ChannelID} {
		s.Subscribe("bad", CountsChangedDoc, map[string]any{"s": "NEW", "ch": []string{ch}})
		m := s.Read()
		if m.Type != "error" || m.ID != "bad" || !contains(string(m.Payload), `"code":"BAD_USER_INPUT"`) || !contains(string(m.Payload), `"argument":"channelIds"`) {
			t.Fatalf("channel %s: want BAD_USER_INPUT channelIds, got %s %s", ch, m.Type, m.Payload)
		}
		b.Ben.MustFailArg("BAD_USER_INPUT", "channelIds", `query($ch: [ID!]) { queueCounts(status: NEW, channelIds: $ch) { total } }`, map[string]any{"ch": []string{ch}})
	}
	in := a.Integration.Dial()
	in.Subscribe("c", CountsChangedDoc, map[string]any{"s": "NEW"})
	if m := in.Read(); m.Type != "error" || !contains(string(m.Payload), `"code":"FORBIDDEN"`) {
		t.Fatalf("integration: %s %s", m.Type, m.Payload)
	}
	a.Integration.MustFail("FORBIDDEN", `{ queueCounts(status: NEW) { total } }`, nil)
	// Without a valid token there is no socket to subscribe on, as
	// queueCounts is UNAUTHENTICATED.
	raw, _, err := e.DialRaw([]string{wsclient.TransportWS}, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw.Init(map[string]any{"Authorization": "Bearer not-a-token"})
	if code, reason := raw.Closed(); code != 4401 && code != 4403 {
		t.Fatalf("a socket with a malformed token: closed with %d (%q), want 4401 or 4403", code, reason)
	}
	e.Post("not-a-token", `{ queueCounts(status: NEW) { total } }`, nil).expectCode(t, "UNAUTHENTICATED")
	// ws-b's subscriber hears nothing of ws-a.
	wantCounts(t, "ws-b", watchCounts(s, "c", nil), "0/0/0/0")
	a.NewConversation("maria")
	e.Clock.Advance(time.Second)
	b.NewConversation("sentinel")
	e.Clock.Advance(time.Second)
	wantCounts(t, "ws-b after its own change", nextCounts(s, "c"), "1/1/0/0")
}

// testCountsChangedOutage: a store that cannot count keeps the
// subscription: it counts again a second later, and the change is sent
// once it can.
func testCountsChangedOutage(t *testing.T, f Factory) {
	var out atomic.Bool
	e := NewEnv(t, Factory{Atomic: f.Atomic, New: func(t *testing.T, sink domain.EventSink) domain.Store {
		return outageStore{Store: f.New(t, sink), out: &out}
	}})
	w := e.NewWorkspace("ws-counts")
	s := w.Ben.Dial()
	wantCounts(t, "first", watchCounts(s, "c", nil), "0/0/0/0")
	out.Store(true)
	w.NewConversation("maria")
	for range 3 {
		e.Clock.Advance(time.Second)
	}
	s.Ready() // still open
	out.Store(false)
	e.Clock.Advance(time.Second)
	wantCounts(t, "after the outage", nextCounts(s, "c"), "1/1/0/0")
}

// outageStore cannot count while out is set.
type outageStore struct {
	domain.Store
	out *atomic.Bool
}

func (s outageStore) CountOwners(ctx context.Context, ws string, st domain.QueueStatus, ch []string) ([]domain.OwnerCount, error) {
	if s.out.Load() {
		return nil, fmt.Errorf("counting: %w", domain.ErrUnavailable)
	}
	return s.Store.CountOwners(ctx, ws, st, ch)
}

// testCountsChangedStoreCalls: a hundred subscribers of one queue cost at
// most one count query a second, however many changes come.
func testCountsChangedStoreCalls(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws-counts")
	const subscribers = 100
	sockets := make([]*Socket, subscribers)
	e.Store.Reset()
	for i := range sockets {
		sockets[i] = w.Ben.Dial()
		sockets[i].Subscribe("c", CountsChangedDoc, map[string]any{"s": "NEW"})
	}
	for _, s := range sockets {
		wantCounts(t, "first", nextCounts(s, "c"), "0/0/0/0")
	}
	joined, _ := e.Store.Calls()
	// Five seconds of the fake clock, three changes in each.
	perSecond := make([]int, 0, 5)
	for sec := 1; sec <= 5; sec++ {
		before, _ := e.Store.Calls()
		for i := range 3 {
			w.NewConversation(fmt.Sprintf("contact-%d-%d", sec, i))
		}
		e.Clock.Advance(time.Second)
		want := fmt.Sprintf("%d/%d/0/0", 3*sec, 3*sec)
		for _, s := range sockets {
			// Each subscriber gets the second's counts, and nothing
			// between.
			for got := nextCounts(s, "c"); got.String() != want; got = nextCounts(s, "c") {
				if got.Total > 3*sec {
					t.Fatalf("second %d: %s, want %s", sec, got, want)
				}
			}
		}
		after, _ := e.Store.Calls()
		perSecond = append(perSecond, after["CountOwners"]-before["CountOwners"])
	}
	t.Logf("count queries: %d for %d subscribers joining, then per second of changes %v", joined["CountOwners"], subscribers, perSecond)
	if joined["CountOwners"] > 1 {
		t.Errorf("%d subscribers joining at once cost %d count queries, want 1", subscribers, joined["CountOwners"])
	}
	for i, n := range perSecond {
		if n > 1 {
			t.Errorf("second %d: %d count queries for %d subscribers, want at most 1", i+1, n, subscribers)
		}
	}
}

// expectCode requires the first error's code.
func (r *Response) expectCode(t testing.TB, code string) {
	t.Helper()
	if r.Code() != code {
		b, _ := json.Marshal(r.Errors)
		t.Fatalf("want %s, got HTTP %d %s", code, r.Status, b)
	}
}
