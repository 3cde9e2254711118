package storetest

import (
	"fmt"
	"sync"
	"testing"

	"switchboard/domain"
)

// testInboundRouting checks domain.InboundRouter, for a store that has it:
// a new conversation routed in the transaction that creates it, on the
// routing write's conditions and on what the choice read.
func testInboundRouting(t *testing.T, f Factory) {
	if _, ok := f.New(t).(domain.InboundRouter); !ok {
		t.Skip("this store routes new conversations in the fill pass only (no InboundRouter)")
	}
	// setup: ag-1 ONLINE, a routing agent of ch-1, last routed at 100.
	setup := func(t *testing.T, rec *recorder) domain.InboundRouter {
		var s domain.Store
		if rec != nil && f.NewPublishing != nil {
			s = f.NewPublishing(t, rec)
		} else {
			s = f.New(t)
		}
		a := newAgent(wsA, "ag-1", "Ann")
		a.Presence, a.LastRoutedAt = domain.Online, at(100)
		mustInsertAgent(t, s, a)
		mustInsertChannel(t, s, newChannel(wsA, "ch-1", "Email"))
		wantErr(t, "SetRoutingAgent", s.SetRoutingAgent(ctx, wsA, "ch-1", "ag-1", true), nil)
		return s.(domain.InboundRouter)
	}
	// routed is the routing change of c to ag-1 (capacity 2) as it was read
	// at load 0 and turn 100.
	routed := func(c domain.Conversation) domain.RoutedWrite {
		w := assignment(c, "ag-1", "")
		w.Message = nil
		w.Change.Reason = domain.ReasonRouting
		w.OwnerCheck = &domain.AgentVersion{AgentID: "ag-1", Version: 1}
		w.LoadBelow = &domain.LoadCheck{AgentID: "ag-1", Capacity: 2}
		w.Turn = &domain.AgentTurn{AgentID: "ag-1", At: at(500)}
		return domain.RoutedWrite{ConversationWrite: w, Load: 0, LastRoutedAt: at(100)}
	}
	history := func(t *testing.T, s domain.Store, id string) int {
		h, err := s.ListHistory(ctx, domain.HistoryQuery{WorkspaceID: wsA, ConversationID: id, Limit: 10})
		wantErr(t, "ListHistory", err, nil)
		return len(h)
	}

	t.Run("routed in the creation's transaction: both changes, in order, with the turn", func(t *testing.T) {
		rec := &recorder{}
		s := setup(t, rec)
		st := s.(domain.Store)
		rec.take()
		cw := creation(newConversation(wsA, "cv-1", domain.StatusNew, "", at(1)))
		r := routed(cw.Conversation)
		ok, err := s.InsertConversationRouted(ctx, cw, r)
		wantErr(t, "InsertConversationRouted", err, nil)
		if !ok {
			t.Fatal("not routed")
		}
		equal(t, "conversation", mustConversation(t, st, wsA, "cv-1"), &r.Conversation)
		if n := history(t, st, "cv-1"); n != 1 {
			t.Fatalf("%d history entries, want the routing", n)
		}
		if got := mustAgent(t, st, wsA, "ag-1"); !got.LastRoutedAt.Equal(at(500)) || got.Version != 1 {
			t.Fatalf("turn %v version %d, want %v and 1", got.LastRoutedAt, got.Version, at(500))
		}
		if f.NewPublishing != nil {
			evs := withoutPositions(withoutCommitTimes(rec.take()))
			want := []domain.Event{
				{WorkspaceID: wsA, Conversation: &domain.ConversationEvent{After: cw.Conversation, Message: cw.Message, Interim: true}},
				{WorkspaceID: wsA, Conversation: &domain.ConversationEvent{Before: r.Before, After: r.Conversation, Change: r.Change}},
			}
			equal(t, "events", evs, want)
		}
	})

	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, s domain.Store)
		edit  func(r *domain.RoutedWrite)
	}{
		{name: "the agent's record moved", edit: func(r *domain.RoutedWrite) { r.OwnerCheck.Version = 7 }},
		{name: "the agent is at capacity", setup: func(t *testing.T, s domain.Store) {
			for i := range 2 {
				mustInsert(t, s, creation(newConversation(wsA, fmt.Sprint("full-", i), domain.StatusNew, "ag-1", at(1))))
			}
		}, edit: func(r *domain.RoutedWrite) { r.Load = 2 }},
		{name: "the load is not the one read", setup: func(t *testing.T, s domain.Store) {
			mustInsert(t, s, creation(newConversation(wsA, "one", domain.StatusNew, "ag-1", at(1))))
		}},
		{name: "the turn is not the one read", edit: func(r *domain.RoutedWrite) { r.LastRoutedAt = at(99) }},
		{name: "no longer a routing agent of the channel", setup: func(t *testing.T, s domain.Store) {
			wantErr(t, "SetRoutingAgent", s.SetRoutingAgent(ctx, wsA, "ch-1", "ag-1", false), nil)
		}},
	} {
		t.Run("created unrouted when "+tc.name, func(t *testing.T) {
			rec := &recorder{}
			s := setup(t, rec)
			st := s.(domain.Store)
			if tc.setup != nil {
				tc.setup(t, st)
			}
			rec.take()
			cw := creation(newConversation(wsA, "cv-1", domain.StatusNew, "", at(1)))
			r := routed(cw.Conversation)
			if tc.edit != nil {
				tc.edit(&r)
			}
			ok, err := s.InsertConversationRouted(ctx, cw, r)
			wantErr(t, "InsertConversationRouted", err, nil)
			if ok {
				t.Fatal("routed")
			}
			equal(t, "conversation", mustConversation(t, st, wsA, "cv-1"), &cw.Conversation)
			if n := history(t, st, "cv-1"); n != 0 {
				t.Fatalf("%d history entries, want none", n)
			}
			if got := mustAgent(t, st, wsA, "ag-1"); !got.LastRoutedAt.Equal(at(100)) {
				t.Fatalf("turn moved to %v", got.LastRoutedAt)
			}
			if f.NewPublishing != nil {
				evs := withoutPositions(withoutCommitTimes(rec.take()))
				equal(t, "events", evs, []domain.Event{{WorkspaceID: wsA, Conversation: &domain.ConversationEvent{After: cw.Conversation, Message: cw.Message}}})
			}
		})
	}

	t.Run("a duplicate creation writes nothing", func(t *testing.T) {
		s := setup(t, nil)
		st := s.(domain.Store)
		cw := creation(newConversation(wsA, "cv-1", domain.StatusNew, "", at(1)))
		mustInsert(t, st, cw)
		_, err := s.InsertConversationRouted(ctx, cw, routed(cw.Conversation))
		wantErr(t, "InsertConversationRouted", err, domain.ErrDuplicate)
		if got := mustAgent(t, st, wsA, "ag-1"); !got.LastRoutedAt.Equal(at(100)) {
			t.Fatalf("turn moved to %v", got.LastRoutedAt)
		}
	})

	t.Run("twenty at once on one choice: one routed, the others created unrouted", func(t *testing.T) {
		if !f.Atomic {
			t.Skip("conditional updates of this store are not atomic under concurrency")
		}
		s := setup(t, nil)
		st := s.(domain.Store)
		var wg sync.WaitGroup
		var mu sync.Mutex
		n := 0
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cw := creation(newConversation(wsA, fmt.Sprint("cv-", i), domain.StatusNew, "", at(1)))
				ok, err := s.InsertConversationRouted(ctx, cw, routed(cw.Conversation))
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					n++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		counts, err := st.CountOwners(ctx, wsA, domain.StatusNew, nil)
		wantErr(t, "CountOwners", err, nil)
		equal(t, "counts", counts, []domain.OwnerCount{{OwnerID: "", Count: 19}, {OwnerID: "ag-1", Count: 1}})
		if n != 1 {
			t.Fatalf("%d routed, want 1", n)
		}
	})
}
