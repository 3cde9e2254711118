package storetest

import (
	"fmt"
	"testing"

	"switchboard/domain"
)

// testRouting checks the store calls and fields routing rests on.
func testRouting(t *testing.T, f Factory) {
	t.Run("routing settings round-trip and RoutingWorkspaces finds the workspaces with routing on", func(t *testing.T) {
		s := f.New(t)
		for i, mode := range []domain.RoutingMode{domain.RoutingBalanced, domain.RoutingOff, domain.RoutingRoundRobin, domain.RoutingBalanced} {
			st := domain.Settings{
				WorkspaceID: fmt.Sprintf("ws-%d", i), LogoutGraceSeconds: 3, Version: 1, UpdatedAt: at(1),
				Routing: domain.RoutingSettings{Mode: mode, DefaultCapacity: 7 + i, UnansweredSeconds: 60 * i, PreferLastOwner: i%2 == 0},
			}
			wantErr(t, "SaveSettings", s.SaveSettings(ctx, st), nil)
			got, err := s.GetSettings(ctx, st.WorkspaceID)
			wantErr(t, "GetSettings", err, nil)
			equal(t, "settings", got, st)
		}
		got, err := s.RoutingWorkspaces(ctx, "", 100)
		wantErr(t, "RoutingWorkspaces", err, nil)
		equal(t, "routing workspaces", got, []string{"ws-0", "ws-2", "ws-3"})
		got, err = s.RoutingWorkspaces(ctx, "ws-0", 1)
		wantErr(t, "RoutingWorkspaces after ws-0", err, nil)
		equal(t, "routing workspaces after ws-0, one", got, []string{"ws-2"})

		// Switched off: no longer listed.
		st, err := s.GetSettings(ctx, "ws-2")
		wantErr(t, "GetSettings", err, nil)
		st.Routing.Mode, st.Version = domain.RoutingOff, st.Version+1
		wantErr(t, "SaveSettings", s.SaveSettings(ctx, st), nil)
		got, err = s.RoutingWorkspaces(ctx, "", 100)
		wantErr(t, "RoutingWorkspaces", err, nil)
		equal(t, "routing workspaces", got, []string{"ws-0", "ws-3"})
	})

	t.Run("an agent's capacity and routing turn round-trip; TouchRouted only moves forward, without a version", func(t *testing.T) {
		s := f.New(t)
		a := newAgent(wsA, "ag-1", "Ann")
		a.Capacity, a.LastRoutedAt = ptr(3), at(100)
		mustInsertAgent(t, s, a)
		equal(t, "agent", mustAgent(t, s, wsA, "ag-1"), &a)

		wantErr(t, "TouchRouted", s.TouchRouted(ctx, wsA, "ag-1", at(200)), nil)
		wantErr(t, "TouchRouted back", s.TouchRouted(ctx, wsA, "ag-1", at(150)), nil)
		wantErr(t, "TouchRouted unknown", s.TouchRouted(ctx, wsA, "ag-9", at(150)), domain.ErrNotFound)
		wantErr(t, "TouchRouted other workspace", s.TouchRouted(ctx, wsB, "ag-1", at(150)), domain.ErrNotFound)
		got := mustAgent(t, s, wsA, "ag-1")
		if !got.LastRoutedAt.Equal(at(200)) || got.Version != 1 {
			t.Fatalf("after TouchRouted: lastRoutedAt %v version %d, want %v and 1", got.LastRoutedAt, got.Version, at(200))
		}

		// A writer that read an older turn keeps the newer one; nil capacity
		// is the workspace default.
		next := a
		next.Capacity, next.Version, next.UpdatedAt = nil, 2, at(300)
		wantErr(t, "UpdateAgent", s.UpdateAgent(ctx, next), nil)
		got = mustAgent(t, s, wsA, "ag-1")
		next.LastRoutedAt = at(200)
		equal(t, "agent", got, &next)
	})

	t.Run("routing agents per channel: named, unnamed, idempotent, per workspace", func(t *testing.T) {
		s := f.New(t)
		ch := newChannel(wsA, "ch-1", "Email")
		ch.RoutingAgentIDs = []string{"ag-2"}
		mustInsertChannel(t, s, ch)
		mustInsertChannel(t, s, newChannel(wsB, "ch-1", "Email"))
		for _, id := range []string{"ag-3", "ag-1", "ag-3"} {
			wantErr(t, "SetRoutingAgent", s.SetRoutingAgent(ctx, wsA, "ch-1", id, true), nil)
		}
		wantErr(t, "SetRoutingAgent off", s.SetRoutingAgent(ctx, wsA, "ch-1", "ag-2", false), nil)
		wantErr(t, "SetRoutingAgent off again", s.SetRoutingAgent(ctx, wsA, "ch-1", "ag-2", false), nil)
		wantErr(t, "SetRoutingAgent unknown channel", s.SetRoutingAgent(ctx, wsA, "ch-9", "ag-1", true), domain.ErrNotFound)
		chs, err := s.ChannelsByIDs(ctx, wsA, []string{"ch-1"})
		wantErr(t, "ChannelsByIDs", err, nil)
		equal(t, "routing agents", chs[0].RoutingAgentIDs, []string{"ag-1", "ag-3"})
		equal(t, "auto-ownership agents", chs[0].AutoOwnershipAgentIDs, []string(nil))
		list, err := s.ListChannels(ctx, wsA)
		wantErr(t, "ListChannels", err, nil)
		equal(t, "listed routing agents", list[0].RoutingAgentIDs, []string{"ag-1", "ag-3"})
		other, err := s.ChannelsByIDs(ctx, wsB, []string{"ch-1"})
		wantErr(t, "ChannelsByIDs B", err, nil)
		equal(t, "routing agents of B", other[0].RoutingAgentIDs, []string(nil))
	})

	t.Run("the routing lease: taken when free, renewed by its holder, refused to another until it expires", func(t *testing.T) {
		s := f.New(t)
		claim := func(ws, who string, now, until int, want bool) {
			t.Helper()
			held, err := s.ClaimRouting(ctx, ws, who, at(now), at(until))
			wantErr(t, "ClaimRouting", err, nil)
			if held != want {
				t.Fatalf("ClaimRouting(%s, %s, now %d, until %d) = %v, want %v", ws, who, now, until, held, want)
			}
		}
		claim(wsA, "in-1", 0, 1_000, true)    // free: taken
		claim(wsA, "in-2", 500, 1_500, false) // live, another's: refused
		claim(wsB, "in-2", 500, 1_500, true)  // each workspace has its own
		claim(wsA, "in-1", 600, 2_000, true)  // renewed by its holder
		claim(wsA, "in-2", 1_999, 3_000, false)
		claim(wsA, "in-2", 2_000, 3_000, true) // expired: taken over
		claim(wsA, "in-1", 2_500, 4_000, false)
	})

	t.Run("the routing lease: of many claims at once, one wins", func(t *testing.T) {
		if !f.Atomic {
			t.Skip("this store's conditional updates are not atomic under concurrency")
		}
		s := f.New(t)
		held := make([]bool, 20)
		errs := race(len(held), func(i int) error {
			var err error
			held[i], err = s.ClaimRouting(ctx, wsA, fmt.Sprintf("in-%d", i), at(0), at(1_000))
			return err
		})
		n := 0
		for i, err := range errs {
			wantErr(t, "ClaimRouting", err, nil)
			if held[i] {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d claims won, want 1", n)
		}
	})

	t.Run("a write with a load condition commits only while the agent owns fewer NEW conversations than the bound", func(t *testing.T) {
		s := f.New(t)
		mustInsertAgent(t, s, newAgent(wsA, "ag-1", "Ann"))
		mustInsert(t, s, creation(newConversation(wsA, "cv-1", domain.StatusNew, "ag-1", at(1))))
		mustInsert(t, s, creation(newConversation(wsA, "cv-2", domain.StatusNew, "ag-1", at(2))))
		// PENDING ones and another workspace's do not count.
		mustInsert(t, s, creation(newConversation(wsA, "cv-3", domain.StatusPending, "ag-1", at(3))))
		mustInsert(t, s, creation(newConversation(wsB, "cv-4", domain.StatusNew, "ag-1", at(3))))
		c := mustInsert(t, s, creation(newConversation(wsA, "cv-5", domain.StatusNew, "", at(4))))
		routed := func(capacity int) domain.ConversationWrite {
			w := assignment(c, "ag-1", "")
			w.Message = nil
			w.Change.Reason = domain.ReasonRouting
			w.LoadBelow = &domain.LoadCheck{AgentID: "ag-1", Capacity: capacity}
			return w
		}
		wantErr(t, "UpdateConversation at capacity", s.UpdateConversation(ctx, routed(2)), domain.ErrVersionConflict)
		equal(t, "conversation after the refused write", mustConversation(t, s, wsA, "cv-5"), &c)
		if h := mustHistory(t, s, wsA, "cv-5"); len(h) != 0 {
			t.Fatalf("history after the refused write: %+v", h)
		}
		w := routed(3)
		mustUpdate(t, s, w)
		equal(t, "conversation", mustConversation(t, s, wsA, "cv-5"), &w.Conversation)
		counts, err := s.CountOwners(ctx, wsA, domain.StatusNew, nil)
		wantErr(t, "CountOwners", err, nil)
		equal(t, "counts", counts, []domain.OwnerCount{{OwnerID: "ag-1", Count: 3}})
	})

	t.Run("routing's fields of a conversation round-trip, and DueUnanswered finds NEW ones due, soonest first", func(t *testing.T) {
		s := f.New(t)
		due := func(ws, id string, ms int) domain.Conversation {
			c := newConversation(ws, id, domain.StatusNew, "ag-1", at(0))
			c.UnansweredAt = ptr(at(ms))
			c.RoutingExcluded = []string{"ag-3", "ag-2"}
			c.PreferredAgentID = "ag-1"
			return c
		}
		u3 := mustInsert(t, s, creation(due(wsA, "cv-3", 3_000)))
		u1 := mustInsert(t, s, creation(due(wsB, "cv-1", 1_000)))
		u2 := mustInsert(t, s, creation(due(wsA, "cv-2", 2_000)))
		mustInsert(t, s, creation(due(wsA, "cv-late", 90_000)))
		equal(t, "conversation", mustConversation(t, s, wsA, "cv-3"), &u3)
		// A PENDING one with a deadline left set is never due.
		p := newConversation(wsA, "cv-p", domain.StatusPending, "ag-1", at(0))
		p.UnansweredAt = ptr(at(500))
		mustInsert(t, s, creation(p))
		// Answered: the deadline cleared by a change.
		answered := mustInsert(t, s, creation(due(wsA, "cv-answered", 1_500)))
		mustUpdate(t, s, change(answered, func(n *domain.Conversation) { n.UnansweredAt = nil }))
		// Resolved: the owner at resolve kept, routing's memory gone.
		resolved := mustUpdate(t, s, change(u2, func(n *domain.Conversation) {
			n.Status, n.OwnerID, n.ResolvedOwnerID = domain.StatusResolved, "", "ag-1"
			n.UnansweredAt, n.RoutingExcluded, n.PreferredAgentID = nil, nil, ""
		}))
		equal(t, "resolved conversation", mustConversation(t, s, wsA, "cv-2"), &resolved)

		got, err := s.DueUnanswered(ctx, at(4_000), 100)
		wantErr(t, "DueUnanswered", err, nil)
		equal(t, "due unanswered", got, []domain.Conversation{u1, u3})
		got, err = s.DueUnanswered(ctx, at(100_000), 1)
		wantErr(t, "DueUnanswered", err, nil)
		equal(t, "due unanswered, one", got, []domain.Conversation{u1})
	})
}
