package domain_test

// Routing's rules, on the real SQLite store and the fake clock. Most tests
// run fill passes themselves (FillWorkspace), so that what did not route is
// known not to; the ones about when routing runs start the jobs, which run
// it from the committed changes, and wait for the outcome. The tests of the
// fill pass's rules turn routing in the inbound's write off
// (newFillEnv); routing_inbound_sqlite_test.go checks the same rules with
// it on.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/internal/fakeclock"
	"switchboard/store/sqlite"
	"switchboard/store/sqlite/sqlitetest"
)

const rws = "ws-routing"

// tap hands every committed change to the jobs, as app's broker tap does,
// and keeps the conversation changes in commit order.
type tap struct {
	mu      sync.Mutex
	jobs    *domain.Jobs
	changes []domain.ConversationEvent
	// also, when set, is told every change too.
	also domain.EventSink
}

func (t *tap) Publish(e domain.Event) {
	t.mu.Lock()
	if e.Conversation != nil {
		t.changes = append(t.changes, *e.Conversation)
	}
	j, also := t.jobs, t.also
	t.mu.Unlock()
	if also != nil {
		also.Publish(e)
	}
	if j != nil {
		j.Notice(e)
	}
}

func (t *tap) all() []domain.ConversationEvent {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]domain.ConversationEvent(nil), t.changes...)
}

type routingEnv struct {
	t       testing.TB
	ctx     context.Context
	clock   *fakeclock.Clock
	db      domain.Store
	tap     *tap
	svc     *domain.Service
	admin   domain.Actor
	feed    domain.Actor
	channel string
	agents  map[string]domain.Actor
	seq     int
}

func newRoutingEnv(t testing.TB, opts ...domain.Option) *routingEnv {
	t.Helper()
	tp := &tap{}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	db := sqlitetest.New(t, sqlite.Options{EventSink: tp, Logger: quiet})
	e := &routingEnv{
		t: t, ctx: context.Background(), clock: fakeclock.New(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)),
		db: db, tap: tp, agents: map[string]domain.Actor{},
		admin: domain.Actor{WorkspaceID: rws, ID: "ada", Role: domain.RoleAdmin, Name: "Ada"},
		feed:  domain.Actor{WorkspaceID: rws, ID: "feed", Role: domain.RoleIntegration},
	}
	e.svc = domain.NewService(db, append([]domain.Option{domain.WithClock(e.clock), domain.WithLogger(quiet), domain.WithInstanceID("here")}, opts...)...)
	if _, err := e.svc.Authenticate(e.ctx, claims(e.admin)); err != nil {
		t.Fatal(err)
	}
	ch, err := e.svc.CreateChannel(e.ctx, e.admin, "Email")
	if err != nil {
		t.Fatal(err)
	}
	e.channel = ch.ID
	return e
}

// newFillEnv is newRoutingEnv with every routing left to the fill pass:
// an inbound never routes in its own write.
func newFillEnv(t testing.TB) *routingEnv { return newRoutingEnv(t, domain.WithoutInboundRouting()) }

// startJobs runs the background jobs, fed by the store's committed changes.
func (e *routingEnv) startJobs() {
	j := e.svc.StartJobs(e.ctx)
	e.tap.mu.Lock()
	e.tap.jobs = j
	e.tap.mu.Unlock()
	e.t.Cleanup(func() {
		e.tap.mu.Lock()
		e.tap.jobs = nil
		e.tap.mu.Unlock()
		j.Stop()
	})
}

// agent provisions an agent with the given presence, named a routing
// agent of the channel.
func (e *routingEnv) agent(id string, p domain.Presence) domain.Actor {
	e.t.Helper()
	a := domain.Actor{WorkspaceID: rws, ID: id, Role: domain.RoleAgent, Name: id}
	if _, err := e.svc.Authenticate(e.ctx, claims(a)); err != nil {
		e.t.Fatal(err)
	}
	if p != domain.Offline {
		if _, err := e.svc.SetPresence(e.ctx, a, p); err != nil {
			e.t.Fatal(err)
		}
	}
	if _, err := e.svc.SetRoutingAgent(e.ctx, e.admin, e.channel, id, true); err != nil {
		e.t.Fatal(err)
	}
	e.agents[id] = a
	return a
}

func (e *routingEnv) routing(p domain.RoutingPatch) {
	e.t.Helper()
	if _, err := e.svc.UpdateSettings(e.ctx, e.admin, domain.SettingsPatch{Routing: p}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *routingEnv) mode(m domain.RoutingMode) { e.routing(domain.RoutingPatch{Mode: &m}) }

// inbound delivers a message from contact, a millisecond after the last.
func (e *routingEnv) inbound(contact string) string {
	e.t.Helper()
	e.clock.Advance(time.Millisecond)
	e.seq++
	r, err := e.svc.IngestInbound(e.ctx, e.feed, domain.InboundCommand{
		ChannelID: e.channel, ContactExternalID: contact, ExternalMessageID: fmt.Sprint("m-", e.seq), Text: "hello",
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return r.ConversationID
}

func (e *routingEnv) fill() int {
	e.t.Helper()
	n, err := e.svc.FillWorkspace(e.ctx, rws)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *routingEnv) conv(id string) domain.Conversation {
	e.t.Helper()
	c, err := e.svc.Conversation(e.ctx, e.admin, id)
	if err != nil || c == nil {
		e.t.Fatalf("conversation %s: %v", id, err)
	}
	return *c
}

func (e *routingEnv) owner(id string) string { return e.conv(id).OwnerID }

func (e *routingEnv) wantOwner(id, want string) {
	e.t.Helper()
	if got := e.owner(id); got != want {
		e.t.Fatalf("owner of %s = %q, want %q", id, got, want)
	}
}

// eventually waits, up to a generous ceiling, until cond holds.
func (e *routingEnv) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (e *routingEnv) setOwner(by domain.Actor, id string, owner *string) {
	e.t.Helper()
	if _, err := e.svc.SetOwner(e.ctx, by, domain.SetOwnerCommand{ConversationID: id, OwnerID: owner, OwnerGiven: true}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *routingEnv) loads() map[string]int {
	e.t.Helper()
	counts, err := e.svc.NewLoads(e.ctx, rws)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]int{}
	for _, c := range counts {
		out[c.OwnerID] = c.Count
	}
	return out
}

func TestRoutingBalancedSpreadsByLoad(t *testing.T) {
	e := newFillEnv(t)
	e.agent("ann", domain.Online)
	e.agent("bob", domain.Online)
	e.agent("cat", domain.Online)
	e.mode(domain.RoutingBalanced)
	// Ann already holds two, given by hand.
	for _, c := range []string{"c-1", "c-2"} {
		e.setOwner(e.admin, e.inbound(c), ptr("ann"))
	}
	var ids []string
	for i := range 4 {
		ids = append(ids, e.inbound(fmt.Sprint("w-", i)))
	}
	if n := e.fill(); n != 4 {
		t.Fatalf("routed %d, want 4", n)
	}
	want := []string{"bob", "cat", "bob", "cat"}
	for i, id := range ids {
		e.wantOwner(id, want[i])
	}
	if l := e.loads(); l["ann"] != 2 || l["bob"] != 2 || l["cat"] != 2 {
		t.Fatalf("loads %v, want 2 each", l)
	}
}

func TestRoutingRoundRobinTakesTurns(t *testing.T) {
	e := newFillEnv(t)
	e.agent("ann", domain.Online)
	e.agent("bob", domain.Online)
	e.agent("cat", domain.Online)
	e.mode(domain.RoutingRoundRobin)
	e.setOwner(e.admin, e.inbound("c-1"), ptr("ann")) // load does not matter
	var got []string
	for i := range 5 {
		id := e.inbound(fmt.Sprint("w-", i))
		e.fill() // one pass each: turns hold across passes in the same millisecond
		got = append(got, e.owner(id))
	}
	want := []string{"ann", "bob", "cat", "ann", "bob"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("routed to %v, want %v", got, want)
	}
}

// onlyOneMayTakeTwo names agents routing must pass over (AWAY, OFFLINE,
// deactivated, ONLINE but not a routing agent of the channel) and one it
// may give two conversations (capacity 2), and switches BALANCED on.
func (e *routingEnv) onlyOneMayTakeTwo() {
	t := e.t
	t.Helper()
	e.agent("away", domain.Away)
	e.agent("off", domain.Offline)
	e.agent("gone", domain.Online)
	if _, err := e.svc.UpsertAgent(e.ctx, e.admin, domain.AgentInput{ID: "gone", Name: "gone", Role: domain.RoleAgent, Active: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	// Online but not named on this channel.
	unnamed := domain.Actor{WorkspaceID: rws, ID: "unnamed", Role: domain.RoleAgent, Name: "unnamed"}
	if _, err := e.svc.Authenticate(e.ctx, claims(unnamed)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetPresence(e.ctx, unnamed, domain.Online); err != nil {
		t.Fatal(err)
	}
	e.agent("on", domain.Online)
	if _, err := e.svc.UpsertAgent(e.ctx, e.admin, domain.AgentInput{ID: "on", Name: "on", Role: domain.RoleAgent,
		CapacityGiven: true, Capacity: ptr(2)}); err != nil {
		t.Fatal(err)
	}
	e.mode(domain.RoutingBalanced)
}

func TestRoutingOnlyToOnlineRoutingAgentsOfTheChannelBelowCapacity(t *testing.T) {
	e := newFillEnv(t)
	e.onlyOneMayTakeTwo()
	ids := []string{e.inbound("a"), e.inbound("b"), e.inbound("c")}
	if n := e.fill(); n != 2 {
		t.Fatalf("routed %d, want 2", n)
	}
	e.wantOwner(ids[0], "on")
	e.wantOwner(ids[1], "on")
	e.wantOwner(ids[2], "")
	if n := e.fill(); n != 0 {
		t.Fatalf("a second pass routed %d, want 0", n)
	}
}

func TestRoutingLoadCountsNewOnly(t *testing.T) {
	e := newRoutingEnv(t)
	ann := e.agent("ann", domain.Online)
	e.routing(domain.RoutingPatch{Mode: ptr(domain.RoutingBalanced), DefaultCapacity: ptr(1)})
	first := e.inbound("a")
	second := e.inbound("b")
	e.fill()
	e.wantOwner(first, "ann")
	e.wantOwner(second, "")
	// Waiting on the contact frees room.
	if _, err := e.svc.MoveToPending(e.ctx, ann, domain.MoveCommand{ConversationID: first}); err != nil {
		t.Fatal(err)
	}
	e.fill()
	e.wantOwner(second, "ann")
	if l := e.loads(); l["ann"] != 1 {
		t.Fatalf("loads %v", l)
	}
}

func TestRoutingLongestWaitingFirst(t *testing.T) {
	e := newRoutingEnv(t)
	e.agent("ann", domain.Online)
	e.routing(domain.RoutingPatch{Mode: ptr(domain.RoutingBalanced), DefaultCapacity: ptr(2)})
	ids := []string{e.inbound("a"), e.inbound("b"), e.inbound("c")}
	e.fill()
	e.wantOwner(ids[0], "ann")
	e.wantOwner(ids[1], "ann")
	e.wantOwner(ids[2], "")
}

func TestRoutedChangeIsAnOwnershipChangeBySystem(t *testing.T) {
	e := newFillEnv(t)
	e.agent("ann", domain.Online)
	e.mode(domain.RoutingBalanced)
	id := e.inbound("a")
	before := len(e.tap.all())
	e.fill()
	h, err := e.db.ListHistory(e.ctx, domain.HistoryQuery{WorkspaceID: rws, ConversationID: id, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 1 || h[0].Reason != domain.ReasonRouting || h[0].ActorID != "" || h[0].ToID != "ann" || h[0].FromID != "" {
		t.Fatalf("history %+v, want one ROUTING change by the system to ann", h)
	}
	evs := e.tap.all()[before:]
	if len(evs) != 1 || evs[0].Change == nil || evs[0].Change.Reason != domain.ReasonRouting {
		t.Fatalf("events %+v, want the routed change", evs)
	}
}

func TestRoutingManualAssignmentAboveCapacityStands(t *testing.T) {
	e := newRoutingEnv(t)
	e.agent("ann", domain.Online)
	e.routing(domain.RoutingPatch{Mode: ptr(domain.RoutingBalanced), DefaultCapacity: ptr(1)})
	a, b := e.inbound("a"), e.inbound("b")
	e.setOwner(e.admin, a, ptr("ann"))
	e.setOwner(e.admin, b, ptr("ann"))
	c := e.inbound("c")
	e.fill()
	e.wantOwner(a, "ann")
	e.wantOwner(b, "ann")
	e.wantOwner(c, "")
}

func TestRoutingNeverBackToWhoGaveItUp(t *testing.T) {
	e := newRoutingEnv(t)
	ann := e.agent("ann", domain.Online)
	e.mode(domain.RoutingBalanced)
	id := e.inbound("a")
	e.fill()
	e.wantOwner(id, "ann")
	// Ann sets it Unowned herself: not back to her during this stay in NEW.
	e.setOwner(ann, id, nil)
	if n := e.fill(); n != 0 {
		t.Fatalf("routed %d, want 0", n)
	}
	e.agent("bob", domain.Online)
	e.fill()
	e.wantOwner(id, "bob")
	// A new stay in NEW forgets: to PENDING and back, unowned.
	bob := e.agents["bob"]
	if _, err := e.svc.MoveToPending(e.ctx, bob, domain.MoveCommand{ConversationID: id}); err != nil {
		t.Fatal(err)
	}
	e.setOwner(bob, id, nil)
	if _, err := e.svc.MoveToNew(e.ctx, bob, domain.MoveCommand{ConversationID: id}); err != nil {
		t.Fatal(err)
	}
	if c := e.conv(id); len(c.RoutingExcluded) != 0 {
		t.Fatalf("excluded %v after a new stay in NEW", c.RoutingExcluded)
	}
	// An admin clearing the owner does not exclude anyone.
	e.fill()
	got := e.owner(id)
	if got == "" {
		t.Fatalf("not routed after a new stay in NEW")
	}
	e.setOwner(e.admin, id, nil)
	if c := e.conv(id); len(c.RoutingExcluded) != 0 {
		t.Fatalf("excluded %v after an admin cleared the owner", c.RoutingExcluded)
	}
}

func TestRoutingUnansweredTakeBack(t *testing.T) {
	e := newRoutingEnv(t)
	ann := e.agent("ann", domain.Online)
	e.routing(domain.RoutingPatch{Mode: ptr(domain.RoutingBalanced), UnansweredSeconds: ptr(30)})
	e.startJobs()
	answered := e.inbound("a")
	e.eventually("the first is routed", func() bool { return e.owner(answered) == "ann" })
	if _, err := e.svc.Reply(e.ctx, ann, domain.ReplyCommand{ConversationID: answered, Text: "on it"}); err != nil {
		t.Fatal(err)
	}
	if c := e.conv(answered); c.UnansweredAt != nil {
		t.Fatalf("a reply of the owner left the deadline %v", c.UnansweredAt)
	}
	silent := e.inbound("b")
	e.eventually("the second is routed", func() bool { return e.owner(silent) == "ann" })
	due := *e.conv(silent).UnansweredAt
	e.agent("bob", domain.Online)
	e.clock.Set(due.Add(-time.Millisecond))
	e.wantOwner(silent, "ann")
	e.clock.Set(due)
	e.eventually("the silent one goes to bob", func() bool { return e.owner(silent) == "bob" })
	e.wantOwner(answered, "ann")
	h, err := e.db.ListHistory(e.ctx, domain.HistoryQuery{WorkspaceID: rws, ConversationID: silent, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 || h[1].Reason != domain.ReasonUnanswered || h[1].FromID != "ann" || h[1].ActorID != "" || h[2].ToID != "bob" {
		t.Fatalf("history %+v, want ROUTING to ann, UNANSWERED from ann, ROUTING to bob", h)
	}
}

func TestRoutingPreferLastOwner(t *testing.T) {
	for _, prefer := range []bool{true, false} {
		t.Run(fmt.Sprint("preferLastOwner ", prefer), func(t *testing.T) {
			e := newRoutingEnv(t)
			e.agent("ann", domain.Online)
			bob := e.agent("bob", domain.Online)
			e.routing(domain.RoutingPatch{Mode: ptr(domain.RoutingBalanced), PreferLastOwner: &prefer})
			first := e.inbound("returning")
			e.setOwner(e.admin, first, ptr("bob"))
			if _, err := e.svc.Resolve(e.ctx, bob, domain.MoveCommand{ConversationID: first}); err != nil {
				t.Fatal(err)
			}
			e.setOwner(e.admin, e.inbound("other"), ptr("bob")) // bob is busier
			next := e.inbound("returning")
			if c := e.conv(next); c.PreferredAgentID != "bob" {
				t.Fatalf("preferred agent %q, want bob", c.PreferredAgentID)
			}
			e.fill()
			want := "ann"
			if prefer {
				want = "bob"
			}
			e.wantOwner(next, want)
		})
	}
}

func TestRoutingFillsRoomWhenItOpens(t *testing.T) {
	e := newRoutingEnv(t)
	e.startJobs()
	ann := e.agent("ann", domain.Offline)
	e.routing(domain.RoutingPatch{DefaultCapacity: ptr(1)})
	a, b, c, d := e.inbound("a"), e.inbound("b"), e.inbound("c"), e.inbound("d")

	// Routing switched on, with nobody ONLINE: nothing yet.
	e.mode(domain.RoutingBalanced)
	if n := e.fill(); n != 0 {
		t.Fatalf("routed %d with nobody online", n)
	}
	// The agent comes ONLINE: the longest waiting goes to them.
	if _, err := e.svc.SetPresence(e.ctx, ann, domain.Online); err != nil {
		t.Fatal(err)
	}
	e.eventually("ann gets the first", func() bool { return e.owner(a) == "ann" })
	// A load drops: the next one.
	if _, err := e.svc.Resolve(e.ctx, ann, domain.MoveCommand{ConversationID: a}); err != nil {
		t.Fatal(err)
	}
	e.eventually("ann gets the second", func() bool { return e.owner(b) == "ann" })
	// A capacity grows.
	if _, err := e.svc.UpsertAgent(e.ctx, e.admin, domain.AgentInput{ID: "ann", Name: "ann", Role: domain.RoleAgent,
		CapacityGiven: true, Capacity: ptr(2)}); err != nil {
		t.Fatal(err)
	}
	e.eventually("ann gets the third", func() bool { return e.owner(c) == "ann" })
	// An agent named on the channel.
	bob := domain.Actor{WorkspaceID: rws, ID: "bob", Role: domain.RoleAgent, Name: "bob"}
	if _, err := e.svc.Authenticate(e.ctx, claims(bob)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetPresence(e.ctx, bob, domain.Online); err != nil {
		t.Fatal(err)
	}
	e.wantOwner(d, "")
	if _, err := e.svc.SetRoutingAgent(e.ctx, e.admin, e.channel, "bob", true); err != nil {
		t.Fatal(err)
	}
	e.eventually("bob gets the fourth", func() bool { return e.owner(d) == "bob" })
}

func TestRoutingLogoutCleanupHandsWorkOn(t *testing.T) {
	e := newRoutingEnv(t)
	e.startJobs()
	ann := e.agent("ann", domain.Online)
	if _, err := e.svc.UpdateSettings(e.ctx, e.admin, domain.SettingsPatch{
		RemoveOwnershipOnLogout: ptr(true), LogoutGraceSeconds: ptr(10),
		Routing: domain.RoutingPatch{Mode: ptr(domain.RoutingBalanced)},
	}); err != nil {
		t.Fatal(err)
	}
	id := e.inbound("a")
	e.eventually("ann gets it", func() bool { return e.owner(id) == "ann" })
	e.agent("bob", domain.Online)
	// An admin sets ann OFFLINE, as a logout would.
	got, err := e.svc.SetAgentPresence(e.ctx, e.admin, "ann", domain.Offline)
	if err != nil {
		t.Fatal(err)
	}
	if got.Presence != domain.Offline || got.Cleanup == nil {
		t.Fatalf("after setAgentPresence OFFLINE: %+v, want OFFLINE with a cleanup armed", got)
	}
	e.clock.Advance(10 * time.Second)
	e.eventually("bob gets it", func() bool { return e.owner(id) == "bob" })
	c := e.conv(id)
	if !c.RoutingExcludes("ann") {
		t.Fatalf("excluded %v, want ann", c.RoutingExcluded)
	}
	// Ann back ONLINE: it stays with bob, and is not given back to her.
	if _, err := e.svc.SetPresence(e.ctx, ann, domain.Online); err != nil {
		t.Fatal(err)
	}
	e.wantOwner(id, "bob")
}

func TestRoutingInputAndRoles(t *testing.T) {
	e := newRoutingEnv(t)
	ann := e.agent("ann", domain.Online)
	for _, tc := range []struct {
		patch domain.RoutingPatch
		arg   string
	}{
		{domain.RoutingPatch{DefaultCapacity: ptr(0)}, "input.routing.defaultCapacity"},
		{domain.RoutingPatch{DefaultCapacity: ptr(101)}, "input.routing.defaultCapacity"},
		{domain.RoutingPatch{UnansweredSeconds: ptr(4)}, "input.routing.unansweredSeconds"},
		{domain.RoutingPatch{UnansweredSeconds: ptr(86401)}, "input.routing.unansweredSeconds"},
		{domain.RoutingPatch{Mode: ptr(domain.RoutingMode("FAST"))}, "input.routing.mode"},
	} {
		_, err := e.svc.UpdateSettings(e.ctx, e.admin, domain.SettingsPatch{Routing: tc.patch})
		if got := wantError(t, err, domain.CodeInvalid); got.Argument != tc.arg {
			t.Errorf("argument %q, want %q", got.Argument, tc.arg)
		}
	}
	for _, c := range []int{0, 101} {
		_, err := e.svc.UpsertAgent(e.ctx, e.admin, domain.AgentInput{ID: "ann", Name: "ann", Role: domain.RoleAgent, CapacityGiven: true, Capacity: &c})
		if got := wantError(t, err, domain.CodeInvalid); got.Argument != "input.capacity" {
			t.Errorf("argument %q, want input.capacity", got.Argument)
		}
	}
	// Absent keeps, null returns to the default.
	a, err := e.svc.UpsertAgent(e.ctx, e.admin, domain.AgentInput{ID: "ann", Name: "ann", Role: domain.RoleAgent, CapacityGiven: true, Capacity: ptr(9)})
	if err != nil || a.Capacity == nil || *a.Capacity != 9 {
		t.Fatalf("capacity 9: %+v, %v", a.Capacity, err)
	}
	if a, err = e.svc.UpsertAgent(e.ctx, e.admin, domain.AgentInput{ID: "ann", Name: "ann", Role: domain.RoleAgent}); err != nil || a.Capacity == nil {
		t.Fatalf("absent capacity: %+v, %v", a.Capacity, err)
	}
	if a, err = e.svc.UpsertAgent(e.ctx, e.admin, domain.AgentInput{ID: "ann", Name: "ann", Role: domain.RoleAgent, CapacityGiven: true}); err != nil || a.Capacity != nil {
		t.Fatalf("null capacity: %+v, %v", a.Capacity, err)
	}

	for _, who := range []domain.Actor{ann, e.feed} {
		_, err := e.svc.SetRoutingAgent(e.ctx, who, e.channel, "ann", true)
		wantError(t, err, domain.CodeForbidden)
		_, err = e.svc.SetAgentPresence(e.ctx, who, "ann", domain.Away)
		wantError(t, err, domain.CodeForbidden)
		_, err = e.svc.UpdateSettings(e.ctx, who, domain.SettingsPatch{Routing: domain.RoutingPatch{Mode: ptr(domain.RoutingBalanced)}})
		wantError(t, err, domain.CodeForbidden)
	}
	// Another workspace's channel or agent is not found; an inactive agent
	// is bad input.
	other := domain.Actor{WorkspaceID: "ws-other", ID: "oz", Role: domain.RoleAdmin, Name: "Oz"}
	if _, err := e.svc.Authenticate(e.ctx, claims(other)); err != nil {
		t.Fatal(err)
	}
	otherCh, err := e.svc.CreateChannel(e.ctx, other, "Chat")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.SetRoutingAgent(e.ctx, e.admin, otherCh.ID, "ann", true)
	wantError(t, err, domain.CodeNotFound)
	_, err = e.svc.SetRoutingAgent(e.ctx, e.admin, e.channel, "oz", true)
	wantError(t, err, domain.CodeNotFound)
	_, err = e.svc.SetAgentPresence(e.ctx, e.admin, "oz", domain.Online)
	wantError(t, err, domain.CodeNotFound)
	if _, err := e.svc.UpsertAgent(e.ctx, e.admin, domain.AgentInput{ID: "gone", Name: "gone", Role: domain.RoleAgent, Active: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.SetRoutingAgent(e.ctx, e.admin, e.channel, "gone", true)
	if got := wantError(t, err, domain.CodeInvalid); got.Argument != "input.agentId" {
		t.Errorf("argument %q, want input.agentId", got.Argument)
	}
	// Setting another agent's presence is what setPresence does for them.
	if a, err := e.svc.SetAgentPresence(e.ctx, e.admin, "ann", domain.Away); err != nil || a.Presence != domain.Away {
		t.Fatalf("setAgentPresence AWAY: %+v, %v", a, err)
	}
}

func TestRoutingStaysInItsWorkspace(t *testing.T) {
	e := newFillEnv(t)
	e.agent("ann", domain.Online)
	e.mode(domain.RoutingBalanced)
	// Workspace B: the same agent id ONLINE, the same channel name, routing
	// off; and its waiting conversation.
	b := domain.Actor{WorkspaceID: "ws-b", ID: "ann", Role: domain.RoleAdmin, Name: "ann"}
	if _, err := e.svc.Authenticate(e.ctx, claims(b)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetPresence(e.ctx, b, domain.Online); err != nil {
		t.Fatal(err)
	}
	chB, err := e.svc.CreateChannel(e.ctx, b, "Email")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetRoutingAgent(e.ctx, b, chB.ID, "ann", true); err != nil {
		t.Fatal(err)
	}
	rb, err := e.svc.IngestInbound(e.ctx, domain.Actor{WorkspaceID: "ws-b", ID: "feed", Role: domain.RoleIntegration},
		domain.InboundCommand{ChannelID: chB.ID, ContactExternalID: "x", ExternalMessageID: "m", Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	a := e.inbound("a")
	if n := e.fill(); n != 1 {
		t.Fatalf("routed %d in A, want 1", n)
	}
	e.wantOwner(a, "ann")
	if n, err := e.svc.FillWorkspace(e.ctx, "ws-b"); err != nil || n != 0 {
		t.Fatalf("B, routing off: routed %d, %v", n, err)
	}
	cb, err := e.svc.Conversation(e.ctx, b, rb.ConversationID)
	if err != nil || cb.OwnerID != "" {
		t.Fatalf("B's conversation: %+v, %v", cb, err)
	}
}

// maxLoads replays committed changes in commit order and returns the
// highest NEW load each agent ever had.
func maxLoads(changes []domain.ConversationEvent) map[string]int {
	load, peak := map[string]int{}, map[string]int{}
	owned := func(c *domain.Conversation) string {
		if c == nil || c.Status != domain.StatusNew {
			return ""
		}
		return c.OwnerID
	}
	for _, ch := range changes {
		before, after := owned(ch.Before), owned(&ch.After)
		if before == after {
			continue
		}
		if before != "" {
			load[before]--
		}
		if after != "" {
			load[after]++
			peak[after] = max(peak[after], load[after])
		}
	}
	return peak
}

func TestRoutingRaceFiftyInboundFiveAgentsOfCapacityThree(t *testing.T) {
	raceFifty(t, domain.RoutingBalanced, false)
}

// raceFifty sends fifty inbound messages at once to five agents of
// capacity three (through this instance, or half through a second one on
// the same store when both send) while the second instance fills at the
// same time: exactly fifteen are routed, each once, and replaying the
// committed changes nobody is ever above three.
func raceFifty(t *testing.T, mode domain.RoutingMode, bothSend bool) {
	e := newRoutingEnv(t)
	for i := range 5 {
		e.agent(fmt.Sprint("ag-", i), domain.Online)
	}
	e.routing(domain.RoutingPatch{Mode: ptr(mode), DefaultCapacity: ptr(3)})
	e.startJobs()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	there := domain.NewService(e.db, domain.WithClock(e.clock), domain.WithLogger(quiet), domain.WithInstanceID("there"))
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 50 {
		svc := e.svc
		if bothSend && i%2 == 1 {
			svc = there
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := svc.IngestInbound(e.ctx, e.feed, domain.InboundCommand{
				ChannelID: e.channel, ContactExternalID: fmt.Sprint("c-", i), ExternalMessageID: fmt.Sprint("m-", i), Text: "hi",
			})
			errs <- err
		}()
		go func() {
			defer wg.Done()
			_, err := there.FillWorkspace(e.ctx, rws)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	total := func() int {
		n := 0
		for id, c := range e.loads() {
			if id != "" {
				n += c
			}
		}
		return n
	}
	// Whichever instance holds the lease routes what the races left; the
	// other one's pass finds the lease taken and does nothing.
	e.eventually("fifteen are routed", func() bool {
		if _, err := there.FillWorkspace(e.ctx, rws); err != nil {
			t.Fatal(err)
		}
		return total() >= 15
	})
	e.fill()
	l := e.loads()
	if total() != 15 || l[""] != 35 {
		t.Fatalf("loads %v, want 3 for each of 5 agents and 35 unowned", l)
	}
	routed := map[string]int{}
	for _, ch := range e.tap.all() {
		if ch.Change != nil && ch.Change.Reason == domain.ReasonRouting {
			routed[ch.After.ID]++
		}
	}
	for id, n := range routed {
		if n != 1 {
			t.Errorf("%s routed %d times", id, n)
		}
	}
	for id, peak := range maxLoads(e.tap.all()) {
		if peak > 3 {
			t.Errorf("%s had %d NEW conversations at once, above capacity 3", id, peak)
		}
	}
}

// failingStore fails the n-th routing write and every one after it, as a
// crash in the middle of a page would stop them.
type failingStore struct {
	domain.Store
	mu     sync.Mutex
	left   int
	failed bool
}

var errCrash = errors.New("crashed")

func (f *failingStore) UpdateConversation(ctx context.Context, w domain.ConversationWrite) error {
	if w.LoadBelow != nil {
		f.mu.Lock()
		if f.left == 0 {
			f.failed = true
			f.mu.Unlock()
			return errCrash
		}
		f.left--
		f.mu.Unlock()
	}
	return f.Store.UpdateConversation(ctx, w)
}

// UpdateConversations writes the routing writes of ws until the n-th, then
// crashes: the writes before it committed (as a batch that committed just
// before the crash), none after.
func (f *failingStore) UpdateConversations(ctx context.Context, ws []domain.ConversationWrite) ([]error, error) {
	f.mu.Lock()
	n := 0
	for _, w := range ws {
		if w.LoadBelow != nil {
			if f.left == 0 {
				f.failed = true
				break
			}
			f.left--
		}
		n++
	}
	f.mu.Unlock()
	if n == len(ws) {
		return f.Store.UpdateConversations(ctx, ws)
	}
	if n > 0 {
		if _, err := f.Store.UpdateConversations(ctx, ws[:n]); err != nil {
			return nil, err
		}
	}
	return nil, errCrash
}

func TestRoutingAfterARestartLosesNothingAndDoublesNothing(t *testing.T) {
	e := newFillEnv(t)
	for i := range 3 {
		e.agent(fmt.Sprint("ag-", i), domain.Online)
	}
	e.routing(domain.RoutingPatch{Mode: ptr(domain.RoutingBalanced), DefaultCapacity: ptr(4)})
	var ids []string
	for i := range 10 {
		ids = append(ids, e.inbound(fmt.Sprint("c-", i)))
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	// The first instance stops after three routing writes of its page.
	crashing := &failingStore{Store: e.db, left: 3}
	first := domain.NewService(crashing, domain.WithClock(e.clock), domain.WithLogger(quiet), domain.WithInstanceID("first"))
	if _, err := first.FillWorkspace(e.ctx, rws); err == nil || !crashing.failed {
		t.Fatalf("the crashing fill returned %v", err)
	}
	// A new instance on the same store: its reconciler finds the workspace
	// once the first one's lease has run out.
	e.clock.Advance(20 * time.Second)
	second := domain.NewService(e.db, domain.WithClock(e.clock), domain.WithLogger(quiet), domain.WithInstanceID("second"))
	j := second.StartJobs(e.ctx)
	defer j.Stop()
	e.eventually("all ten are routed", func() bool {
		for _, id := range ids {
			if e.owner(id) == "" {
				return false
			}
		}
		return true
	})
	for _, id := range ids {
		h, err := e.db.ListHistory(e.ctx, domain.HistoryQuery{WorkspaceID: rws, ConversationID: id, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 1 || h[0].Reason != domain.ReasonRouting {
			t.Fatalf("history of %s: %+v, want one routing", id, h)
		}
	}
	if l := e.loads(); l["ag-0"] > 4 || l["ag-1"] > 4 || l["ag-2"] > 4 {
		t.Fatalf("loads %v above capacity", l)
	}
}

// meddlingStore runs before once, just before the first batch of writes.
type meddlingStore struct {
	domain.Store
	once   sync.Once
	before func()
}

func (m *meddlingStore) UpdateConversations(ctx context.Context, ws []domain.ConversationWrite) ([]error, error) {
	m.once.Do(m.before)
	return m.Store.UpdateConversations(ctx, ws)
}

// A fill pass writes a page's assignments in one call; a write among them
// that loses its condition (the conversation taken by hand, or the agent's
// load reaching capacity by hand) loses alone: the others commit, and
// nobody is ever above capacity.
func TestRoutingBatchLosesOnlyWhatLostItsCondition(t *testing.T) {
	e := newFillEnv(t)
	e.agent("ann", domain.Online)
	e.agent("bob", domain.Online)
	e.agent("cat", domain.Online)
	if _, err := e.svc.SetRoutingAgent(e.ctx, e.admin, e.channel, "cat", false); err != nil {
		t.Fatal(err)
	}
	e.routing(domain.RoutingPatch{Mode: ptr(domain.RoutingBalanced), DefaultCapacity: ptr(2)})
	var ids []string
	for i := range 6 {
		ids = append(ids, e.inbound(fmt.Sprint("c-", i)))
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := &meddlingStore{Store: e.db, before: func() {
		e.setOwner(e.admin, ids[1], ptr("cat")) // decided for bob
		e.setOwner(e.admin, ids[5], ptr("ann")) // ann's second is now one too many
	}}
	router := domain.NewService(m, domain.WithClock(e.clock), domain.WithLogger(quiet), domain.WithInstanceID("router"))
	n, err := router.FillWorkspace(e.ctx, rws)
	if err != nil || n != 2 {
		t.Fatalf("routed %d, %v; want 2 of the page's 4", n, err)
	}
	e.wantOwner(ids[0], "ann")
	e.wantOwner(ids[1], "cat")
	e.wantOwner(ids[2], "")
	e.wantOwner(ids[3], "bob")
	// The next pass reads everything again.
	if n, err := router.FillWorkspace(e.ctx, rws); err != nil || n != 1 {
		t.Fatalf("the next pass routed %d, %v; want 1", n, err)
	}
	e.wantOwner(ids[2], "bob")
	if l := e.loads(); l["ann"] != 2 || l["bob"] != 2 || l["cat"] != 1 {
		t.Fatalf("loads %v", l)
	}
	for id, peak := range maxLoads(e.tap.all()) {
		if id != "cat" && peak > 2 {
			t.Errorf("%s had %d NEW conversations at once, above capacity 2", id, peak)
		}
	}
}
