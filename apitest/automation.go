package apitest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"switchboard/domain"
)

// automation returns an env with the background jobs on the fake clock and
// remove-ownership-on-logout on with the given grace, and a workspace.
func automation(t *testing.T, f Factory, grace int) (*Env, *Workspace) {
	e := NewEnv(t, f, WithJobs())
	w := e.NewWorkspace("ws-auto")
	w.Admin.MustDo(`mutation($g: Int) { updateSettings(input: {removeOwnershipOnLogout: true, logoutGraceSeconds: $g}) { settings { logoutGraceSeconds } } }`,
		map[string]any{"g": grace}, nil)
	return e, w
}

// ownershipWatch is an ownershipChanged subscription of a test.
type ownershipWatch struct {
	t *testing.T
	s *Socket
}

type ownershipEvent struct {
	OwnershipChanged struct {
		Reason       string
		Version      int
		From, To     *Ref
		Actor        *Ref
		Conversation struct{ ID string }
	}
}

// watchOwnership subscribes c to every ownership change of its workspace.
func watchOwnership(t *testing.T, c *Client) *ownershipWatch {
	s := c.Dial()
	s.Subscribe("o", `subscription { ownershipChanged { reason version from { id } to { id } actor { id } conversation { id } } }`, nil)
	s.Ready()
	return &ownershipWatch{t: t, s: s}
}

// next waits for the next ownership change and checks its conversation and
// reason; from and to are agent ids ("" for none).
func (o *ownershipWatch) next(conversationID, reason, from, to string) ownershipEvent {
	o.t.Helper()
	var ev ownershipEvent
	o.s.Next("o", &ev)
	oc := ev.OwnershipChanged
	if oc.Conversation.ID != conversationID || oc.Reason != reason || refID(oc.From) != from || refID(oc.To) != to {
		o.t.Fatalf("want %s of %s (%q -> %q), got %+v", reason, conversationID, from, to, oc)
	}
	if reason != "MANUAL" && oc.Actor != nil {
		o.t.Fatalf("a %s change names actor %s; the system makes it", reason, oc.Actor.ID)
	}
	return ev
}

// sentinel makes a manual ownership change and waits for it: any change
// the automation made before it would have arrived first.
func (o *ownershipWatch) sentinel(w *Workspace, owner string) {
	o.t.Helper()
	id := w.NewConversation(fmt.Sprintf("sentinel-%d", time.Now().UnixNano()))
	w.SetOwner(w.Admin, id, owner)
	o.next(id, "MANUAL", "", owner)
}

// logout logs c out.
func logout(c *Client) { c.MustDo(`mutation { logout { agent { presence } } }`, nil, nil) }

// benOwnsOneAndLogsOut signs Ben in, gives him a new NEW conversation,
// watches ownership changes as the admin, and logs Ben out.
func benOwnsOneAndLogsOut(t *testing.T, w *Workspace) (string, *ownershipWatch) {
	t.Helper()
	w.SetPresence(w.Ben, "ONLINE")
	id := w.NewConversation("maria")
	w.SetOwner(w.Admin, id, "ben")
	watch := watchOwnership(t, w.Admin)
	logout(w.Ben)
	return id, watch
}

func countReason(entries []Entry, reason string) int {
	n := 0
	for _, e := range entries {
		if e.Reason == reason {
			n++
		}
	}
	return n
}

func testCleanupRule1And2(t *testing.T, f Factory) {
	e, w := automation(t, f, 30)
	w.SetPresence(w.Ben, "ONLINE")
	newConv := w.NewConversation("maria")
	w.SetOwner(w.Admin, newConv, "ben")
	pending := w.NewConversation("joao")
	w.SetOwner(w.Admin, pending, "ben")
	w.Move(w.Ben, "moveToPending", pending)
	watch := watchOwnership(t, w.Admin)

	logout(w.Ben)
	e.Clock.Advance(30*time.Second - time.Millisecond)
	watch.sentinel(w, "cleo") // nothing is released before the grace is over
	e.Clock.Advance(time.Millisecond)
	watch.next(newConv, "LOGOUT_CLEANUP", "ben", "")
	watch.sentinel(w, "cleo") // the PENDING one was not released
	if got := w.Get(w.Admin, pending).OwnerID(); got != "ben" {
		t.Fatalf("PENDING conversation owner %q, want ben", got)
	}
	if n := countReason(w.History(w.Admin, newConv), "LOGOUT_CLEANUP"); n != 1 {
		t.Fatalf("%d LOGOUT_CLEANUP entries, want 1", n)
	}
	// More time changes nothing more.
	e.Clock.Advance(time.Hour)
	watch.sentinel(w, "cleo")
	if n := countReason(w.History(w.Admin, newConv), "LOGOUT_CLEANUP"); n != 1 {
		t.Fatalf("%d LOGOUT_CLEANUP entries after an hour, want 1", n)
	}
}

func testCleanupKeepsLaterAssignments(t *testing.T, f Factory) {
	e, w := automation(t, f, 10)
	w.SetPresence(w.Ben, "ONLINE")
	before := w.NewConversation("maria")
	w.SetOwner(w.Admin, before, "ben")
	watch := watchOwnership(t, w.Admin)
	logout(w.Ben)
	watch.s.Ready()
	// Assigned after Ben went offline, within the same millisecond and later.
	after := w.NewConversation("joao")
	w.SetOwner(w.Admin, after, "ben")
	watch.next(after, "MANUAL", "", "ben")
	e.Clock.Advance(10 * time.Second)
	watch.next(before, "LOGOUT_CLEANUP", "ben", "")
	watch.sentinel(w, "cleo")
	if got := w.Get(w.Admin, after).OwnerID(); got != "ben" {
		t.Fatalf("a conversation assigned after going offline lost its owner: %q", got)
	}
}

func testCleanupGraceAsItWas(t *testing.T, f Factory) {
	e, w := automation(t, f, 20)
	id, watch := benOwnsOneAndLogsOut(t, w)
	w.Admin.MustDo(`mutation { updateSettings(input: {logoutGraceSeconds: 0}) { settings { logoutGraceSeconds } } }`, nil, nil)
	e.Clock.Advance(19 * time.Second)
	watch.sentinel(w, "cleo")
	e.Clock.Advance(time.Second)
	watch.next(id, "LOGOUT_CLEANUP", "ben", "")
}

func testCleanupCancelledByReturn(t *testing.T, f Factory) {
	e, w := automation(t, f, 30)
	id, watch := benOwnsOneAndLogsOut(t, w)
	e.Clock.Advance(29 * time.Second)
	w.SetPresence(w.Ben, "AWAY")
	e.Clock.Advance(2 * time.Second)
	watch.sentinel(w, "cleo")
	if got := w.Get(w.Admin, id).OwnerID(); got != "ben" {
		t.Fatalf("owner %q after coming back, want ben", got)
	}
}

func testCleanupCancelledBySetting(t *testing.T, f Factory) {
	e, w := automation(t, f, 30)
	id, watch := benOwnsOneAndLogsOut(t, w)
	e.Clock.Advance(10 * time.Second)
	w.Admin.MustDo(`mutation { updateSettings(input: {removeOwnershipOnLogout: false}) { settings { removeOwnershipOnLogout } } }`, nil, nil)
	e.Clock.Advance(10 * time.Second)
	w.Admin.MustDo(`mutation { updateSettings(input: {removeOwnershipOnLogout: true}) { settings { removeOwnershipOnLogout } } }`, nil, nil)
	e.Clock.Advance(time.Minute)
	watch.sentinel(w, "cleo")
	if got := w.Get(w.Admin, id).OwnerID(); got != "ben" {
		t.Fatalf("owner %q after the setting was switched off, want ben", got)
	}
	// A later logout, with the setting on, is cleaned up again.
	w.SetPresence(w.Ben, "ONLINE")
	logout(w.Ben)
	e.Clock.Advance(30 * time.Second)
	watch.next(id, "LOGOUT_CLEANUP", "ben", "")
}

func testSettingOffChangesNothing(t *testing.T, f Factory) {
	e := NewEnv(t, f, WithJobs())
	w := e.NewWorkspace("ws-auto")
	w.SetPresence(w.Ben, "ONLINE")
	id := w.NewConversation("maria")
	w.SetOwner(w.Admin, id, "ben")
	pending := w.NewConversation("joao")
	w.SetOwner(w.Admin, pending, "ben")
	w.Move(w.Ben, "moveToPending", pending)
	watch := watchOwnership(t, w.Admin)
	logout(w.Ben)
	e.Clock.Advance(time.Hour)
	in := w.Inbound("joao", "j2", "hello again")
	if in.ConversationID != pending || in.Status != "NEW" {
		t.Fatalf("inbound: %+v", in)
	}
	watch.sentinel(w, "cleo")
	for _, c := range []string{id, pending} {
		if got := w.Get(w.Admin, c).OwnerID(); got != "ben" {
			t.Fatalf("%s: owner %q, want ben", c, got)
		}
	}
}

func testInboundWhileOffline(t *testing.T, f Factory) {
	_, w := automation(t, f, 30)
	w.SetPresence(w.Ben, "ONLINE")
	before := w.NewConversation("maria")
	w.SetOwner(w.Admin, before, "ben")
	w.Move(w.Ben, "moveToPending", before)
	watch := watchOwnership(t, w.Admin)
	logout(w.Ben)
	// Assigned while offline: rule 3 holds for it too.
	during := w.NewConversation("joao")
	w.SetOwner(w.Admin, during, "ben")
	w.Move(w.Admin, "moveToPending", during)
	watch.next(during, "MANUAL", "", "ben")

	w.Inbound("maria", "m2", "any news?")
	watch.next(before, "INBOUND_WHILE_OFFLINE", "ben", "")
	w.Inbound("joao", "j2", "hello?")
	watch.next(during, "INBOUND_WHILE_OFFLINE", "ben", "")
	for _, id := range []string{before, during} {
		c := w.Get(w.Admin, id)
		if c.Status != "NEW" || c.OwnerID() != "" {
			t.Fatalf("%s after the inbound: %+v", id, c)
		}
	}
}

func testPresenceTimeoutArmsCleanup(t *testing.T, f Factory) {
	e, w := automation(t, f, 30)
	w.SetPresence(w.Ben, "ONLINE")
	lastSign := e.Clock.Now()
	id := w.NewConversation("maria")
	w.SetOwner(w.Admin, id, "ben")
	watch := watchOwnership(t, w.Admin)
	p := w.Cleo.Dial()
	p.Subscribe("p", `subscription { presenceChanged { id presence presenceSince } }`, nil)
	p.Ready()
	e.Clock.Advance(domain.DefaultPresenceTimeout + domain.PresenceSweepInterval)
	for {
		var ev struct {
			PresenceChanged struct{ ID, Presence, PresenceSince string }
		}
		p.Next("p", &ev)
		if ev.PresenceChanged.ID != "ben" {
			continue // the watchers time out too
		}
		want := Stamp(lastSign.Add(domain.DefaultPresenceTimeout))
		if ev.PresenceChanged.Presence != "OFFLINE" || ev.PresenceChanged.PresenceSince != want {
			t.Fatalf("Ben after the timeout: %+v, want OFFLINE since %s", ev.PresenceChanged, want)
		}
		break
	}
	e.Clock.Advance(30 * time.Second)
	watch.next(id, "LOGOUT_CLEANUP", "ben", "")
}

// queueWatch subscribes c to the NEW queue.
func queueWatch(t *testing.T, c *Client) *Socket {
	s := c.Dial()
	s.Subscribe("q", `subscription { queueChanged(status: NEW) { kind conversation { id version status owner { id } } } }`, nil)
	s.Ready()
	return s
}

type newQueueEvent struct {
	QueueChanged struct {
		Kind         string
		Conversation struct {
			ID, Status string
			Owner      *Ref
		}
	}
}

func testBoomerangFires(t *testing.T, f Factory) {
	e := NewEnv(t, f, WithJobs())
	w := e.NewWorkspace("ws-auto")
	id := w.NewConversation("maria")
	w.SetOwner(w.Admin, id, "ben")
	at := Stamp(e.Clock.Now().Add(2 * time.Hour))
	w.Mutate(w.Ben, "moveToPending", map[string]any{"conversationId": id, "boomerangAt": at})
	s := queueWatch(t, w.Admin)
	e.Clock.Advance(2 * time.Hour)
	var ev newQueueEvent
	s.Next("q", &ev)
	if ev.QueueChanged.Kind != "ENTERED" || ev.QueueChanged.Conversation.ID != id || refID(ev.QueueChanged.Conversation.Owner) != "ben" {
		t.Fatalf("boomerang: %+v", ev)
	}
	c := w.Get(w.Admin, id)
	if c.Status != "NEW" || c.BoomerangAt != nil || c.WaitingSince != at {
		t.Fatalf("after the boomerang: %+v, want NEW since %s", c, at)
	}
}

func testBoomerangCancellation(t *testing.T, f Factory) {
	e := NewEnv(t, f, WithJobs())
	w := e.NewWorkspace("ws-auto")
	in := func(d time.Duration) string { return Stamp(e.Clock.Now().Add(d)) }
	moved := w.NewConversation("moved")
	w.Mutate(w.Ben, "moveToPending", map[string]any{"conversationId": moved, "boomerangAt": in(time.Hour)})
	rescheduled := w.NewConversation("rescheduled")
	w.Mutate(w.Ben, "moveToPending", map[string]any{"conversationId": rescheduled, "boomerangAt": in(time.Hour)})
	reowned := w.NewConversation("reowned")
	w.Mutate(w.Ben, "moveToPending", map[string]any{"conversationId": reowned, "boomerangAt": in(time.Hour)})
	e.Clock.Advance(30 * time.Minute)
	w.Move(w.Ben, "resolve", moved)
	w.Mutate(w.Ben, "moveToPending", map[string]any{"conversationId": rescheduled, "boomerangAt": in(2 * time.Hour)})
	w.SetOwner(w.Admin, reowned, "cleo")
	s := queueWatch(t, w.Admin)
	e.Clock.Advance(31 * time.Minute)
	var ev newQueueEvent
	s.Next("q", &ev)
	if ev.QueueChanged.Conversation.ID != reowned || refID(ev.QueueChanged.Conversation.Owner) != "cleo" {
		t.Fatalf("want only the reowned conversation back, got %+v", ev)
	}
	sentinel := w.NewConversation("sentinel")
	s.Next("q", &ev)
	if ev.QueueChanged.Conversation.ID != sentinel {
		t.Fatalf("a cancelled boomerang fired: %+v", ev)
	}
	// The rescheduled one comes back at its new time, 2.5 h after the start.
	e.Clock.Advance(89 * time.Minute)
	s.Next("q", &ev)
	if ev.QueueChanged.Conversation.ID != rescheduled {
		t.Fatalf("want the rescheduled boomerang, got %+v", ev)
	}
	if c := w.Get(w.Admin, moved); c.Status != "RESOLVED" {
		t.Fatalf("the resolved conversation came back: %+v", c)
	}
}

func testBoomerangWhileOffline(t *testing.T, f Factory) {
	e, w := automation(t, f, 30)
	w.SetPresence(w.Ben, "ONLINE")
	id := w.NewConversation("maria")
	w.SetOwner(w.Admin, id, "ben")
	w.Mutate(w.Ben, "moveToPending", map[string]any{"conversationId": id, "boomerangAt": Stamp(e.Clock.Now().Add(time.Hour))})
	watch := watchOwnership(t, w.Admin)
	logout(w.Ben)
	e.Clock.Advance(time.Hour)
	watch.next(id, "BOOMERANG_WHILE_OFFLINE", "ben", "")
	if c := w.Get(w.Admin, id); c.Status != "NEW" || c.OwnerID() != "" {
		t.Fatalf("after the boomerang: %+v", c)
	}
}

func testConcurrentCleanups(t *testing.T, f Factory) {
	if !f.Atomic {
		t.Skip("this store's test server does not make conditional updates atomic under concurrency; the race runs on SQLite and on a real MongoDB")
	}
	e := NewEnv(t, f) // no background jobs: the test runs the cleanups itself
	w := e.NewWorkspace("ws-auto")
	w.Admin.MustDo(`mutation { updateSettings(input: {removeOwnershipOnLogout: true, logoutGraceSeconds: 0}) { settings { logoutGraceSeconds } } }`, nil, nil)
	w.SetPresence(w.Ben, "ONLINE")
	var ids []string
	for i := 0; i < 20; i++ {
		id := w.NewConversation(fmt.Sprintf("contact-%d", i))
		w.SetOwner(w.Admin, id, "ben")
		ids = append(ids, id)
	}
	logout(w.Ben)
	// Two instances, each with its own claim identity, on one store.
	services := []*domain.Service{
		domain.NewService(e.Store, domain.WithClock(e.Clock), domain.WithInstanceID("instance-a")),
		domain.NewService(e.Store, domain.WithClock(e.Clock), domain.WithInstanceID("instance-b")),
		e.Service,
		e.Service,
	}
	released := make([]int, len(services))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, s := range services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			n, err := s.RunLogoutCleanup(context.Background(), w.ID, "ben")
			if err != nil {
				t.Errorf("cleanup %d: %v", i, err)
			}
			released[i] = n
		}()
	}
	close(start)
	wg.Wait()
	total := 0
	for _, n := range released {
		total += n
	}
	if total != len(ids) {
		t.Fatalf("released %v, %d in all, want %d", released, total, len(ids))
	}
	for _, id := range ids {
		if n := countReason(w.History(w.Admin, id), "LOGOUT_CLEANUP"); n != 1 {
			t.Fatalf("%s has %d LOGOUT_CLEANUP entries, want 1", id, n)
		}
	}
	// Run again: nothing left to do.
	if n, err := e.Service.RunLogoutCleanup(context.Background(), w.ID, "ben"); n != 0 || err != nil {
		t.Fatalf("a second run released %d (%v)", n, err)
	}
}
