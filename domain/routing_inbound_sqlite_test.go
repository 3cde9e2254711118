package domain_test

// Routing in the inbound's write (domain.InboundRouter, SQLite): a new
// conversation is routed in the transaction that creates it, by the same
// rules as a fill pass. These tests run no pass and no jobs unless they say
// so: what routed, routed in the inbound's own write.

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"switchboard/domain"
)

func TestInboundRoutedInItsOwnWrite(t *testing.T) {
	e := newRoutingEnv(t)
	e.agent("ann", domain.Online)
	e.mode(domain.RoutingBalanced)
	before := len(e.tap.all())
	id := e.inbound("a")
	e.wantOwner(id, "ann")
	// Subscribers see what they saw when the fill pass routed it: the
	// creation, then the routing change, in that order.
	evs := e.tap.all()[before:]
	if len(evs) != 2 || evs[0].Before != nil || evs[0].After.OwnerID != "" || evs[0].After.Version != 1 || !evs[0].Interim ||
		evs[1].Before == nil || evs[1].Before.Version != 1 || evs[1].After.OwnerID != "ann" || evs[1].After.Version != 2 ||
		evs[1].Change == nil || evs[1].Change.Reason != domain.ReasonRouting || evs[1].Interim {
		t.Fatalf("events %+v, want the creation (interim) then the routed change", evs)
	}
	h, err := e.db.ListHistory(e.ctx, domain.HistoryQuery{WorkspaceID: rws, ConversationID: id, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 1 || h[0].Reason != domain.ReasonRouting || h[0].ActorID != "" || h[0].ToID != "ann" || h[0].Version != 2 {
		t.Fatalf("history %+v, want one ROUTING change by the system to ann", h)
	}
	// The record of changes replays the same two, in the same order.
	log := e.db.(domain.EventLog)
	all, err := log.EventsAfter(e.ctx, rws, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var mine []domain.Event
	for _, ev := range all {
		if c := ev.Conversation; c != nil && c.After.ID == id {
			mine = append(mine, ev)
		}
	}
	if len(mine) != 2 || !mine[0].Conversation.Interim || mine[1].Conversation.Change == nil || mine[1].Position <= mine[0].Position {
		t.Fatalf("logged %+v, want the creation then the routing", mine)
	}
	// The turn moved in the same write, and nothing is left to fill.
	ags, err := e.db.AgentsByIDs(e.ctx, rws, []string{"ann"})
	if err != nil || ags[0].LastRoutedAt.IsZero() {
		t.Fatalf("ann's turn %+v, %v", ags[0], err)
	}
	if n := e.fill(); n != 0 {
		t.Fatalf("a pass routed %d after the inbound did", n)
	}
}

func TestInboundRoutedByTheModesRules(t *testing.T) {
	t.Run("BALANCED", func(t *testing.T) {
		e := newRoutingEnv(t)
		e.agent("ann", domain.Online)
		e.agent("bob", domain.Online)
		e.agent("cat", domain.Online)
		// Ann holds two, given by hand before routing is on.
		for _, c := range []string{"c-1", "c-2"} {
			e.setOwner(e.admin, e.inbound(c), ptr("ann"))
		}
		e.mode(domain.RoutingBalanced)
		var got []string
		for i := range 4 {
			got = append(got, e.owner(e.inbound(fmt.Sprint("w-", i))))
		}
		if want := []string{"bob", "cat", "bob", "cat"}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("routed to %v, want %v", got, want)
		}
	})
	t.Run("ROUND_ROBIN, turns taken in the same millisecond too", func(t *testing.T) {
		e := newRoutingEnv(t)
		e.agent("ann", domain.Online)
		e.agent("bob", domain.Online)
		e.agent("cat", domain.Online)
		e.setOwner(e.admin, e.inbound("c-1"), ptr("cat")) // load does not matter
		e.mode(domain.RoutingRoundRobin)
		var got []string
		for i := range 5 {
			e.seq++
			r, err := e.svc.IngestInbound(e.ctx, e.feed, domain.InboundCommand{
				ChannelID: e.channel, ContactExternalID: fmt.Sprint("w-", i), ExternalMessageID: fmt.Sprint("m-", e.seq), Text: "hi",
			})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, e.owner(r.ConversationID))
		}
		if want := []string{"ann", "bob", "cat", "ann", "bob"}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("routed to %v, want %v", got, want)
		}
	})
}

func TestInboundRoutedOnlyToOnlineRoutingAgentsOfTheChannelBelowCapacity(t *testing.T) {
	e := newRoutingEnv(t)
	e.onlyOneMayTakeTwo()
	ids := []string{e.inbound("a"), e.inbound("b"), e.inbound("c")}
	e.wantOwner(ids[0], "on")
	e.wantOwner(ids[1], "on")
	e.wantOwner(ids[2], "")
	if n := e.fill(); n != 0 {
		t.Fatalf("a pass routed %d, want 0", n)
	}
	// Unnamed on the channel: no longer routed to.
	if _, err := e.svc.Resolve(e.ctx, e.agents["on"], domain.MoveCommand{ConversationID: ids[0]}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetRoutingAgent(e.ctx, e.admin, e.channel, "on", false); err != nil {
		t.Fatal(err)
	}
	e.wantOwner(e.inbound("d"), "")
}

func TestInboundRoutedPrefersTheLastOwner(t *testing.T) {
	for _, prefer := range []bool{true, false} {
		t.Run(fmt.Sprint("preferLastOwner ", prefer), func(t *testing.T) {
			e := newRoutingEnv(t)
			e.agent("ann", domain.Online)
			bob := e.agent("bob", domain.Online)
			first := e.inbound("returning")
			e.setOwner(e.admin, first, ptr("bob"))
			if _, err := e.svc.Resolve(e.ctx, bob, domain.MoveCommand{ConversationID: first}); err != nil {
				t.Fatal(err)
			}
			e.setOwner(e.admin, e.inbound("other"), ptr("bob")) // bob is busier
			e.routing(domain.RoutingPatch{Mode: ptr(domain.RoutingBalanced), PreferLastOwner: &prefer})
			want := "ann"
			if prefer {
				want = "bob"
			}
			e.wantOwner(e.inbound("returning"), want)
		})
	}
}

func TestInboundRoutingOffOrNoStoreSupportLeavesItToThePass(t *testing.T) {
	e := newRoutingEnv(t)
	e.agent("ann", domain.Online)
	id := e.inbound("a") // routing off
	e.wantOwner(id, "")
	e.mode(domain.RoutingBalanced)
	if n := e.fill(); n != 1 {
		t.Fatalf("routed %d, want 1", n)
	}
	e.wantOwner(id, "ann")
}

// Fifty inbound messages at once, half through each of two instances on the
// same store (both routing in the inbound's write), while both fill: exactly
// fifteen routed, and replaying the committed changes nobody is ever above
// three.
func TestInboundRoutedRaceTwoInstancesFiftyAtOnce(t *testing.T) {
	raceFifty(t, domain.RoutingRoundRobin, true)
}

// opsSeen records the store calls an Observer is told of.
type opsSeen struct {
	domain.NopObserver
	mu  sync.Mutex
	ops map[string]int
}

func (o *opsSeen) StoreCall(ctx context.Context, op string) (context.Context, func(error)) {
	o.mu.Lock()
	o.ops[op]++
	o.mu.Unlock()
	return ctx, func(error) {}
}

func TestInboundRoutedWriteIsObserved(t *testing.T) {
	obs := &opsSeen{ops: map[string]int{}}
	e := newRoutingEnv(t, domain.WithObserver(obs))
	e.agent("ann", domain.Online)
	e.mode(domain.RoutingBalanced)
	e.wantOwner(e.inbound("a"), "ann")
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.ops["InsertConversationRouted"] != 1 || obs.ops["InsertConversation"] != 0 {
		t.Fatalf("store calls %v, want one InsertConversationRouted", obs.ops)
	}
}

// A new conversation does not pass one already waiting: with room open
// (ann's capacity grew, and no pass has run yet) and b waiting, c stays
// unrouted, and the fill pass gives ann b first, longest waiting first.
func TestInboundRoutedNeverBeforeOneWaiting(t *testing.T) {
	e := newRoutingEnv(t)
	e.agent("ann", domain.Online)
	e.routing(domain.RoutingPatch{Mode: ptr(domain.RoutingBalanced), DefaultCapacity: ptr(1)})
	a := e.inbound("a")
	e.wantOwner(a, "ann")
	b := e.inbound("b") // ann is full: b waits
	e.wantOwner(b, "")
	if _, err := e.svc.UpsertAgent(e.ctx, e.admin, domain.AgentInput{ID: "ann", Name: "ann", Role: domain.RoleAgent,
		CapacityGiven: true, Capacity: ptr(2)}); err != nil {
		t.Fatal(err)
	}
	c := e.inbound("c")
	e.wantOwner(c, "")
	if n := e.fill(); n != 1 {
		t.Fatalf("the pass routed %d, want 1", n)
	}
	e.wantOwner(b, "ann")
	e.wantOwner(c, "")
}
