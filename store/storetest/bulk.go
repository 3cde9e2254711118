package storetest

import (
	"errors"
	"testing"

	"switchboard/domain"
)

// UpdateConversations: many changes in one call, each on its own condition,
// with its own history entry, message and event.
func testBulk(t *testing.T, f Factory) {
	t.Run("each write of a batch holds or fails on its own condition, with its history entry and message", func(t *testing.T) {
		s := f.New(t)
		mustInsertAgent(t, s, newAgent(wsA, "ag-1", "Ada"))
		var cs []domain.Conversation
		for _, id := range []string{"cv-1", "cv-2", "cv-3", "cv-4", "cv-5"} {
			cs = append(cs, mustInsert(t, s, creation(newConversation(wsA, id, domain.StatusNew, "", at(0)))))
		}
		// cv-2 moves on before the batch: the batch's write of it is stale.
		moved := mustUpdate(t, s, change(cs[1], func(n *domain.Conversation) { n.Status = domain.StatusPending }))
		ws := []domain.ConversationWrite{
			assignment(cs[0], "ag-1", "ag-1"),
			assignment(cs[1], "ag-1", "ag-1"),
			assignment(cs[2], "ag-1", "ag-1"),
			assignment(cs[3], "ag-1", "ag-1"),
			assignment(cs[4], "ag-1", "ag-1"),
		}
		// cv-4's message reuses cv-1's creation message id: a duplicate.
		ws[3].Message.ID = "m-cv-1-1"
		// cv-5's owner check names a version the agent is not at.
		ws[4].OwnerCheck = &domain.AgentVersion{AgentID: "ag-1", Version: 7}
		errs, err := s.UpdateConversations(ctx, ws)
		if err != nil {
			t.Fatalf("UpdateConversations: %v", err)
		}
		if len(errs) != len(ws) {
			t.Fatalf("UpdateConversations returned %d errors for %d writes", len(errs), len(ws))
		}
		for i, want := range []error{nil, domain.ErrVersionConflict, nil, domain.ErrDuplicate, domain.ErrVersionConflict} {
			if (want == nil && errs[i] != nil) || (want != nil && !errors.Is(errs[i], want)) {
				t.Errorf("write %d (%s): %v, want %v", i, ws[i].Conversation.ID, errs[i], want)
			}
		}
		for _, i := range []int{0, 2} {
			equal(t, ws[i].Conversation.ID, *mustConversation(t, s, wsA, ws[i].Conversation.ID), ws[i].Conversation)
			equal(t, ws[i].Conversation.ID+" history", mustHistory(t, s, wsA, ws[i].Conversation.ID), []domain.OwnershipChange{*withoutSnapshot(ws[i].Change)})
			if m := mustMessage(t, s, wsA, ws[i].Message.ID); m == nil {
				t.Errorf("%s: its message is missing", ws[i].Conversation.ID)
			}
		}
		equal(t, "cv-2", *mustConversation(t, s, wsA, "cv-2"), moved)
		for _, i := range []int{1, 3, 4} {
			id := ws[i].Conversation.ID
			if i != 1 {
				equal(t, id, *mustConversation(t, s, wsA, id), cs[i])
			}
			equal(t, id+" history", mustHistory(t, s, wsA, id), []domain.OwnershipChange(nil))
		}
		if m := mustMessage(t, s, wsA, "m-cv-1-1"); m == nil || m.ConversationID != "cv-1" {
			t.Errorf("the duplicate message id now names %+v, want cv-1's message", m)
		}
		if errs, err := s.UpdateConversations(ctx, nil); err != nil || len(errs) != 0 {
			t.Errorf("UpdateConversations(nil) = %v, %v", errs, err)
		}
	})

	t.Run("a batch publishes one event per write that held, in order, and none for the others", func(t *testing.T) {
		if f.NewPublishing == nil {
			t.Skip("this store publishes no events in process; its change feed is tested with the store")
		}
		rec := &recorder{}
		s := f.NewPublishing(t, rec)
		mustInsertAgent(t, s, newAgent(wsA, "ag-1", "Ada"))
		a := mustInsert(t, s, creation(newConversation(wsA, "cv-1", domain.StatusNew, "", at(0))))
		b := mustInsert(t, s, creation(newConversation(wsA, "cv-2", domain.StatusNew, "", at(0))))
		c := mustInsert(t, s, creation(newConversation(wsA, "cv-3", domain.StatusNew, "", at(0))))
		stale := change(b, func(n *domain.Conversation) {})
		stale.Conversation.Version = b.Version + 2
		rec.take()
		ws := []domain.ConversationWrite{assignment(c, "ag-1", "ag-1"), stale, assignment(a, "ag-1", "ag-1")}
		if _, err := s.UpdateConversations(ctx, ws); err != nil {
			t.Fatalf("UpdateConversations: %v", err)
		}
		var want []domain.Event
		for _, w := range []domain.ConversationWrite{ws[0], ws[2]} {
			want = append(want, domain.Event{WorkspaceID: wsA, Conversation: &domain.ConversationEvent{
				Before: w.Before, After: w.Conversation, Change: w.Change, Message: w.Message,
			}})
		}
		equal(t, "events", withoutPositions(withoutCommitTimes(rec.take())), want)
	})
}
