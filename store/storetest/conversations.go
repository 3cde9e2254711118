package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"switchboard/domain"
)

// wantUnchanged fails unless the conversation is as it was and the rejected
// write w left no trace: no message, no history entry.
func wantUnchanged(t *testing.T, s domain.Store, was domain.Conversation, w domain.ConversationWrite) {
	t.Helper()
	equal(t, "conversation", mustConversation(t, s, was.WorkspaceID, was.ID), &was)
	if w.Message != nil {
		if m := mustMessage(t, s, was.WorkspaceID, w.Message.ID); m != nil && m.ConversationID == was.ID && m.Version == w.Conversation.Version {
			t.Errorf("the rejected write's message was stored: %+v", m)
		}
	}
	for _, h := range mustHistory(t, s, was.WorkspaceID, was.ID) {
		if h.Version > was.Version {
			t.Errorf("the rejected write's history entry was stored: %+v", h)
		}
	}
}

func testConversations(t *testing.T, f Factory) {
	t.Run("InsertConversation stores the conversation, its message and its history entry", func(t *testing.T) {
		s := f.New(t)
		c := newConversation(wsA, "cv-1", domain.StatusNew, "ag-1", at(0))
		w := creation(c)
		w.Change = &domain.OwnershipChange{
			WorkspaceID: wsA, ID: domain.HistoryID("cv-1", 1), ConversationID: "cv-1", Version: 1, Status: domain.StatusNew,
			At: at(0), ToID: "ag-1", ActorID: "ag-2", Reason: domain.ReasonManual,
		}
		mustInsert(t, s, w)
		equal(t, "conversation", mustConversation(t, s, wsA, "cv-1"), &c)
		equal(t, "message", mustMessage(t, s, wsA, w.Message.ID), w.Message)
		equal(t, "history", mustHistory(t, s, wsA, "cv-1"), []domain.OwnershipChange{*w.Change})
	})

	t.Run("every conversation field survives a round trip, unset ones too", func(t *testing.T) {
		s := f.New(t)
		bare := domain.Conversation{
			WorkspaceID: wsA, ID: "cv-1", ChannelID: "ch-1", ContactID: "ct-1", Seq: 1, Status: domain.StatusResolved,
			WaitingSince: at(1), CreatedAt: at(1), UpdatedAt: at(1), Version: 1,
		}
		full := newConversation(wsA, "cv-2", domain.StatusPending, "ag-1", at(2))
		full.AssignedWhileOffline, full.Seq, full.OwnerVersion = true, 4, 1
		mustInsert(t, s, domain.ConversationWrite{Conversation: bare})
		mustInsert(t, s, creation(full))
		got, err := s.ConversationsByIDs(ctx, wsA, []string{"cv-2", "cv-1"})
		wantErr(t, "ConversationsByIDs", err, nil)
		equal(t, "conversations", got, []*domain.Conversation{&full, &bare})
	})

	t.Run("inserting a taken conversation id is a duplicate and writes nothing", func(t *testing.T) {
		s := f.New(t)
		c := mustInsert(t, s, creation(newConversation(wsA, "cv-1", domain.StatusNew, "", at(0))))
		again := newConversation(wsA, "cv-1", domain.StatusPending, "ag-1", at(5))
		w := domain.ConversationWrite{Conversation: again, Message: newMessage(again, "m-other")}
		w.Change = &domain.OwnershipChange{WorkspaceID: wsA, ID: "oc-x", ConversationID: "cv-1", Version: 1, Status: domain.StatusPending, At: at(5), ToID: "ag-1", Reason: domain.ReasonManual}
		wantErr(t, "InsertConversation again", s.InsertConversation(ctx, w), domain.ErrDuplicate)
		equal(t, "conversation", mustConversation(t, s, wsA, "cv-1"), &c)
		if m := mustMessage(t, s, wsA, "m-other"); m != nil {
			t.Errorf("the rejected insert's message was stored: %+v", m)
		}
		equal(t, "history", mustHistory(t, s, wsA, "cv-1"), []domain.OwnershipChange(nil))
	})

	t.Run("inserting a conversation with a taken message id is a duplicate and writes nothing", func(t *testing.T) {
		s := f.New(t)
		first := mustInsert(t, s, creation(newConversation(wsA, "cv-1", domain.StatusNew, "", at(0))))
		c := newConversation(wsA, "cv-2", domain.StatusNew, "", at(1))
		w := domain.ConversationWrite{Conversation: c, Message: newMessage(c, "m-cv-1-1")}
		wantErr(t, "InsertConversation", s.InsertConversation(ctx, w), domain.ErrDuplicate)
		if got := mustConversation(t, s, wsA, "cv-2"); got != nil {
			t.Errorf("the rejected insert's conversation was stored: %+v", got)
		}
		equal(t, "first message", mustMessage(t, s, wsA, "m-cv-1-1"), newMessage(first, "m-cv-1-1"))
	})

	t.Run("the same conversation and message ids in two workspaces are two records", func(t *testing.T) {
		s := f.New(t)
		a := mustInsert(t, s, creation(newConversation(wsA, "cv-1", domain.StatusNew, "", at(0))))
		b := mustInsert(t, s, creation(newConversation(wsB, "cv-1", domain.StatusPending, "ag-1", at(1))))
		equal(t, "conversation of A", mustConversation(t, s, wsA, "cv-1"), &a)
		equal(t, "conversation of B", mustConversation(t, s, wsB, "cv-1"), &b)
		equal(t, "message of B", mustMessage(t, s, wsB, "m-cv-1-1"), newMessage(b, "m-cv-1-1"))
	})

	t.Run("UpdateConversation at the next version writes the conversation, its message and its history entry", func(t *testing.T) {
		s := f.New(t)
		c := mustInsert(t, s, creation(newConversation(wsA, "cv-1", domain.StatusNew, "", at(0))))
		w := assignment(c, "ag-1", "ag-2")
		mustUpdate(t, s, w)
		equal(t, "conversation", mustConversation(t, s, wsA, "cv-1"), &w.Conversation)
		equal(t, "message", mustMessage(t, s, wsA, w.Message.ID), w.Message)
		equal(t, "history", mustHistory(t, s, wsA, "cv-1"), []domain.OwnershipChange{*withoutSnapshot(w.Change)})
		// And the next change after it.
		w2 := change(w.Conversation, func(n *domain.Conversation) {
			n.Status, n.WaitingSince, n.BoomerangAt = domain.StatusPending, at(50), ptr(at(90_000))
		})
		mustUpdate(t, s, w2)
		equal(t, "conversation after the second change", mustConversation(t, s, wsA, "cv-1"), &w2.Conversation)
	})

	t.Run("UpdateConversation can clear every optional field", func(t *testing.T) {
		s := f.New(t)
		c := mustInsert(t, s, creation(newConversation(wsA, "cv-1", domain.StatusPending, "ag-1", at(0))))
		w := change(c, func(n *domain.Conversation) {
			n.Status, n.OwnerID, n.OwnedSince, n.OwnerEpoch, n.OwnerVersion, n.BoomerangAt = domain.StatusResolved, "", nil, 0, 0, nil
		})
		mustUpdate(t, s, w)
		equal(t, "conversation", mustConversation(t, s, wsA, "cv-1"), &w.Conversation)
	})

	for _, tc := range []struct {
		name    string
		version int64 // the version the write asks for
	}{
		{"UpdateConversation computed from an older version conflicts and writes nothing", 3},
		{"UpdateConversation at the stored version conflicts and writes nothing", 4},
		{"UpdateConversation that skips a version conflicts and writes nothing", 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := f.New(t)
			c := mustInsert(t, s, creation(newConversation(wsA, "cv-1", domain.StatusNew, "", at(0))))
			for range 3 {
				c = mustUpdate(t, s, change(c, func(n *domain.Conversation) { n.WaitingSince = n.WaitingSince.Add(time.Millisecond) }))
			}
			// c is at version 4 now.
			base := c
			base.Version = tc.version - 1
			w := assignment(base, "ag-1", "ag-2")
			wantErr(t, "UpdateConversation", s.UpdateConversation(ctx, w), domain.ErrVersionConflict)
			wantUnchanged(t, s, c, w)
		})
	}

	t.Run("UpdateConversation whose owner check holds writes it", func(t *testing.T) {
		s := f.New(t)
		owner := newAgent(wsA, "ag-1", "Ada")
		mustInsertAgent(t, s, owner)
		c := mustInsert(t, s, creation(newConversation(wsA, "cv-1", domain.StatusNew, "", at(0))))
		w := assignment(c, "ag-1", "ag-2")
		w.OwnerCheck = &domain.AgentVersion{AgentID: "ag-1", Version: 1}
		mustUpdate(t, s, w)
		equal(t, "conversation", mustConversation(t, s, wsA, "cv-1"), &w.Conversation)
	})

	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, s domain.Store)
	}{
		{"UpdateConversation whose owner moved to another version conflicts and writes nothing", func(t *testing.T, s domain.Store) {
			owner := newAgent(wsA, "ag-1", "Ada")
			mustInsertAgent(t, s, owner)
			owner.Presence, owner.Version = domain.Online, 2
			wantErr(t, "UpdateAgent", s.UpdateAgent(ctx, owner), nil)
		}},
		{"UpdateConversation whose owner does not exist conflicts and writes nothing", func(t *testing.T, s domain.Store) {}},
		{"UpdateConversation whose owner exists only in another workspace conflicts and writes nothing", func(t *testing.T, s domain.Store) {
			mustInsertAgent(t, s, newAgent(wsB, "ag-1", "Other"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := f.New(t)
			tc.setup(t, s)
			c := mustInsert(t, s, creation(newConversation(wsA, "cv-1", domain.StatusNew, "", at(0))))
			w := assignment(c, "ag-1", "ag-2")
			w.OwnerCheck = &domain.AgentVersion{AgentID: "ag-1", Version: 1}
			wantErr(t, "UpdateConversation", s.UpdateConversation(ctx, w), domain.ErrVersionConflict)
			wantUnchanged(t, s, c, w)
		})
	}

	t.Run("UpdateConversation with a taken message id is a duplicate and writes nothing", func(t *testing.T) {
		s := f.New(t)
		c := mustInsert(t, s, creation(newConversation(wsA, "cv-1", domain.StatusNew, "", at(0))))
		w := assignment(c, "ag-1", "ag-2")
		w.Message.ID = "m-cv-1-1" // the first message's id
		wantErr(t, "UpdateConversation", s.UpdateConversation(ctx, w), domain.ErrDuplicate)
		equal(t, "conversation", mustConversation(t, s, wsA, "cv-1"), &c)
		equal(t, "history", mustHistory(t, s, wsA, "cv-1"), []domain.OwnershipChange(nil))
		equal(t, "first message", mustMessage(t, s, wsA, "m-cv-1-1"), newMessage(c, "m-cv-1-1"))
	})

	t.Run("UpdateConversation of an unknown conversation conflicts and creates nothing", func(t *testing.T) {
		s := f.New(t)
		mustInsert(t, s, creation(newConversation(wsB, "cv-1", domain.StatusNew, "", at(0))))
		w := assignment(newConversation(wsA, "cv-1", domain.StatusNew, "", at(0)), "ag-1", "ag-2")
		wantErr(t, "UpdateConversation", s.UpdateConversation(ctx, w), domain.ErrVersionConflict)
		if got := mustConversation(t, s, wsA, "cv-1"); got != nil {
			t.Errorf("created %+v", got)
		}
		if m := mustMessage(t, s, wsA, w.Message.ID); m != nil {
			t.Errorf("stored the message %+v", m)
		}
		equal(t, "history", mustHistory(t, s, wsA, "cv-1"), []domain.OwnershipChange(nil))
	})

	t.Run("ConversationsByIDs answers in key order with nil for unknown keys", func(t *testing.T) {
		s := f.New(t)
		c1 := mustInsert(t, s, creation(newConversation(wsA, "cv-1", domain.StatusNew, "", at(0))))
		c2 := mustInsert(t, s, creation(newConversation(wsA, "cv-2", domain.StatusNew, "", at(0))))
		mustInsert(t, s, creation(newConversation(wsB, "cv-3", domain.StatusNew, "", at(0))))
		got, err := s.ConversationsByIDs(ctx, wsA, []string{"cv-3", "cv-2", "cv-1", "nope", "cv-2"})
		wantErr(t, "ConversationsByIDs", err, nil)
		equal(t, "conversations", got, []*domain.Conversation{nil, &c2, &c1, nil, &c2})
	})

	t.Run("ContactConversations finds the open conversation with the highest seq and the highest seq", func(t *testing.T) {
		s := f.New(t)
		conv := func(ws, contact string, seq int64, status domain.QueueStatus) domain.Conversation {
			c := newConversation(ws, fmt.Sprintf("cv-%s-%d", contact, seq), status, "", at(int(seq)))
			c.ContactID, c.Seq = contact, seq
			return mustInsert(t, s, creation(c))
		}
		conv(wsA, "ct-1", 1, domain.StatusResolved)
		open := conv(wsA, "ct-1", 2, domain.StatusPending)
		conv(wsA, "ct-1", 3, domain.StatusResolved)
		conv(wsA, "ct-2", 1, domain.StatusNew)
		newest := conv(wsA, "ct-2", 2, domain.StatusNew)
		conv(wsA, "ct-3", 1, domain.StatusResolved)
		conv(wsB, "ct-4", 1, domain.StatusNew)
		for _, tc := range []struct {
			contact string
			open    *domain.Conversation
			maxSeq  int64
		}{
			{"ct-1", &open, 3},
			{"ct-2", &newest, 2},
			{"ct-3", nil, 1},
			{"ct-4", nil, 0}, // of another workspace
			{"ct-none", nil, 0},
		} {
			gotOpen, gotMax, err := s.ContactConversations(ctx, wsA, tc.contact)
			wantErr(t, "ContactConversations "+tc.contact, err, nil)
			equal(t, "open conversation of "+tc.contact, gotOpen, tc.open)
			if gotMax != tc.maxSeq {
				t.Errorf("max seq of %s = %d, want %d", tc.contact, gotMax, tc.maxSeq)
			}
		}
	})
}

func testOwned(t *testing.T, f Factory) {
	s := f.New(t)
	// ag-1 owns cv-01..cv-08 in NEW and PENDING (the even ones assigned
	// while offline); other conversations are someone else's, unowned or
	// resolved; workspace B has the same ids, all owned by ag-1.
	var all []domain.Conversation
	for i := 1; i <= 12; i++ {
		id := fmt.Sprintf("cv-%02d", i)
		status, owner := domain.StatusNew, "ag-1"
		switch {
		case i%3 == 0:
			status = domain.StatusPending
		case i == 9:
			owner = "ag-2"
		case i == 10:
			owner = ""
		case i > 10:
			status, owner = domain.StatusResolved, ""
		}
		c := newConversation(wsA, id, status, owner, at(100-i))
		c.AssignedWhileOffline = owner != "" && i%2 == 0
		all = append(all, mustInsert(t, s, creation(c)))
		other := newConversation(wsB, id, domain.StatusNew, "ag-1", at(0))
		other.AssignedWhileOffline = true
		mustInsert(t, s, creation(other))
	}
	pick := func(keep func(c domain.Conversation) bool) []domain.Conversation {
		var out []domain.Conversation
		for _, c := range all {
			if keep(c) {
				out = append(out, c)
			}
		}
		return out
	}
	open := []domain.QueueStatus{domain.StatusNew, domain.StatusPending}
	mine := pick(func(c domain.Conversation) bool { return c.OwnerID == "ag-1" })
	missed := pick(func(c domain.Conversation) bool { return c.OwnerID == "ag-1" && c.AssignedWhileOffline })
	mineNew := pick(func(c domain.Conversation) bool { return c.OwnerID == "ag-1" && c.Status == domain.StatusNew })

	for _, tc := range []struct {
		name string
		q    domain.OwnedQuery
		want []domain.Conversation
	}{
		{"an owner's open conversations come in id order", domain.OwnedQuery{Statuses: open, Limit: 100}, mine},
		{"a limit cuts the list", domain.OwnedQuery{Statuses: open, Limit: 3}, mine[:3]},
		{"AfterID continues strictly after that id", domain.OwnedQuery{Statuses: open, AfterID: mine[2].ID, Limit: 3}, mine[3:6]},
		{"AfterID past the last id is empty", domain.OwnedQuery{Statuses: open, AfterID: "cv-99", Limit: 3}, nil},
		{"only the given queues", domain.OwnedQuery{Statuses: []domain.QueueStatus{domain.StatusNew}, Limit: 100}, mineNew},
		{"only those assigned while offline", domain.OwnedQuery{Statuses: open, OnlyAssignedWhileOffline: true, Limit: 100}, missed},
		{"an agent who owns nothing gets nothing", domain.OwnedQuery{OwnerID: "ag-7", Statuses: open, Limit: 100}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.q
			q.WorkspaceID = wsA
			if q.OwnerID == "" {
				q.OwnerID = "ag-1"
			}
			got, err := s.OwnedConversations(ctx, q)
			wantErr(t, "OwnedConversations", err, nil)
			equal(t, "conversations", got, tc.want)
		})
	}

	t.Run("paging by AfterID visits every owned conversation once", func(t *testing.T) {
		var got []domain.Conversation
		after := ""
		for range 20 {
			page, err := s.OwnedConversations(ctx, domain.OwnedQuery{WorkspaceID: wsA, OwnerID: "ag-1", Statuses: open, AfterID: after, Limit: 2})
			wantErr(t, "OwnedConversations", err, nil)
			got = append(got, page...)
			if len(page) < 2 {
				break
			}
			after = page[len(page)-1].ID
		}
		equal(t, "conversations", got, mine)
	})
}

func testMessages(t *testing.T, f Factory) {
	s := f.New(t)
	// cv-1 has messages at versions 1..10 except 4 and 7 (changes without a
	// message); cv-2 and workspace B's cv-1 have messages of their own.
	c := mustInsert(t, s, creation(newConversation(wsA, "cv-1", domain.StatusNew, "", at(0))))
	msgs := map[int64]domain.Message{1: *newMessage(c, "m-cv-1-1")}
	for v := int64(2); v <= 10; v++ {
		w := change(c, func(n *domain.Conversation) {})
		if v != 4 && v != 7 {
			w.Message = newMessage(w.Conversation, fmt.Sprintf("m-cv-1-%d", v))
			msgs[v] = *w.Message
		}
		c = mustUpdate(t, s, w)
	}
	mustInsert(t, s, creation(newConversation(wsA, "cv-2", domain.StatusNew, "", at(0))))
	b := mustInsert(t, s, creation(newConversation(wsB, "cv-1", domain.StatusNew, "", at(0))))
	for v := int64(2); v <= 12; v++ {
		w := change(b, func(n *domain.Conversation) {})
		w.Message = newMessage(w.Conversation, fmt.Sprintf("m-b-%d", v))
		b = mustUpdate(t, s, w)
	}
	versions := func(vs ...int64) []domain.Message {
		out := []domain.Message{}
		for _, v := range vs {
			out = append(out, msgs[v])
		}
		return out
	}

	for _, tc := range []struct {
		name string
		q    domain.MessageQuery
		want []domain.Message
	}{
		{"the first page from the oldest", domain.MessageQuery{Limit: 3}, versions(1, 2, 3)},
		{"the next page after a version skips the versions without a message", domain.MessageQuery{AfterVersion: 3, Limit: 3}, versions(5, 6, 8)},
		{"a page that reaches the end is short", domain.MessageQuery{AfterVersion: 8, Limit: 5}, versions(9, 10)},
		{"after the newest there is nothing", domain.MessageQuery{AfterVersion: 10, Limit: 5}, nil},
		{"the newest page comes newest first", domain.MessageQuery{NewestFirst: true, Limit: 3}, versions(10, 9, 8)},
		{"the page before a version comes newest first", domain.MessageQuery{NewestFirst: true, BeforeVersion: 8, Limit: 3}, versions(6, 5, 3)},
		{"before the oldest there is nothing", domain.MessageQuery{NewestFirst: true, BeforeVersion: 1, Limit: 3}, nil},
		{"both bounds are exclusive", domain.MessageQuery{AfterVersion: 2, BeforeVersion: 8, Limit: 10}, versions(3, 5, 6)},
		{"both bounds, newest first", domain.MessageQuery{AfterVersion: 2, BeforeVersion: 8, NewestFirst: true, Limit: 2}, versions(6, 5)},
		{"a large limit returns them all", domain.MessageQuery{Limit: 100}, versions(1, 2, 3, 5, 6, 8, 9, 10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.q
			q.WorkspaceID, q.ConversationID = wsA, "cv-1"
			got, err := s.ListMessages(ctx, q)
			wantErr(t, "ListMessages", err, nil)
			equal(t, "messages", got, tc.want)
		})
	}

	t.Run("paging forward and backward visits every message once", func(t *testing.T) {
		all := versions(1, 2, 3, 5, 6, 8, 9, 10)
		var fwd []domain.Message
		q := domain.MessageQuery{WorkspaceID: wsA, ConversationID: "cv-1", Limit: 3}
		for range 10 {
			page, err := s.ListMessages(ctx, q)
			wantErr(t, "ListMessages", err, nil)
			fwd = append(fwd, page...)
			if len(page) < q.Limit {
				break
			}
			q.AfterVersion = page[len(page)-1].Version
		}
		equal(t, "forward", fwd, all)
		// Newest first, page after older page: the whole list reversed.
		var back []domain.Message
		q = domain.MessageQuery{WorkspaceID: wsA, ConversationID: "cv-1", Limit: 3, NewestFirst: true}
		for range 10 {
			page, err := s.ListMessages(ctx, q)
			wantErr(t, "ListMessages", err, nil)
			back = append(back, page...)
			if len(page) < q.Limit {
				break
			}
			q.BeforeVersion = page[len(page)-1].Version
		}
		slices.Reverse(back)
		equal(t, "backward, reversed", back, all)
	})

	t.Run("MessagesByIDs answers in key order with nil for unknown keys", func(t *testing.T) {
		got, err := s.MessagesByIDs(ctx, wsA, []string{"m-cv-1-5", "m-b-3", "m-cv-2-1", "nope", "m-cv-1-1"})
		wantErr(t, "MessagesByIDs", err, nil)
		m5, m1 := msgs[5], msgs[1]
		m2 := newMessage(newConversation(wsA, "cv-2", domain.StatusNew, "", at(0)), "m-cv-2-1")
		equal(t, "messages", got, []*domain.Message{&m5, nil, m2, nil, &m1})
	})
}

func testHistory(t *testing.T, f Factory) {
	s := f.New(t)
	// cv-1 changes owner at versions 2, 3, 5 and 6; version 4 is a change
	// without one. Workspace B's cv-1 has a history of its own, versions 2
	// to 7.
	c := mustInsert(t, s, creation(newConversation(wsA, "cv-1", domain.StatusNew, "", at(0))))
	var entries []domain.OwnershipChange
	for _, owner := range []string{"ag-1", "ag-2", "", "ag-3", "ag-1"} {
		var w domain.ConversationWrite
		if owner == "" {
			w = change(c, func(n *domain.Conversation) { n.WaitingSince = at(5) })
		} else {
			w = assignment(c, owner, "ag-9")
			entries = append(entries, *withoutSnapshot(w.Change))
		}
		c = mustUpdate(t, s, w)
	}
	b := mustInsert(t, s, creation(newConversation(wsB, "cv-1", domain.StatusNew, "", at(0))))
	for _, owner := range []string{"ag-7", "ag-8", "ag-7", "ag-8", "ag-7", "ag-8"} {
		b = mustUpdate(t, s, assignment(b, owner, "ag-7"))
	}

	// cv-2 has no history; workspace B's cv-1 has an entry at version 7,
	// newer than any of workspace A's cv-1, which must not show.
	mustInsert(t, s, creation(newConversation(wsA, "cv-2", domain.StatusNew, "", at(0))))
	byVersion := map[int64]domain.OwnershipChange{}
	for _, e := range entries {
		byVersion[e.Version] = e
	}
	versions := func(vs ...int64) []domain.OwnershipChange {
		out := []domain.OwnershipChange{}
		for _, v := range vs {
			out = append(out, byVersion[v])
		}
		return out
	}

	for _, tc := range []struct {
		name string
		q    domain.HistoryQuery
		want []domain.OwnershipChange
	}{
		{"the first entries, oldest first", domain.HistoryQuery{Limit: 2}, versions(2, 3)},
		{"entries after a version", domain.HistoryQuery{AfterVersion: 3, Limit: 10}, versions(5, 6)},
		{"after a version without an entry", domain.HistoryQuery{AfterVersion: 4, Limit: 1}, versions(5)},
		{"after the last entry there is nothing", domain.HistoryQuery{AfterVersion: 6, Limit: 10}, nil},
		{"a large limit returns them all", domain.HistoryQuery{Limit: 100}, versions(2, 3, 5, 6)},
		{"the newest entries come newest first", domain.HistoryQuery{NewestFirst: true, Limit: 2}, versions(6, 5)},
		{"the newest entry is the conversation's own, not another workspace's", domain.HistoryQuery{NewestFirst: true, Limit: 1}, versions(6)},
		{"the entries before a version come newest first", domain.HistoryQuery{NewestFirst: true, BeforeVersion: 6, Limit: 2}, versions(5, 3)},
		{"before a version without an entry", domain.HistoryQuery{NewestFirst: true, BeforeVersion: 4, Limit: 1}, versions(3)},
		{"before the oldest entry there is nothing", domain.HistoryQuery{NewestFirst: true, BeforeVersion: 2, Limit: 10}, nil},
		{"a page from the newest end exactly as long as the history is all of it", domain.HistoryQuery{NewestFirst: true, Limit: 4}, versions(6, 5, 3, 2)},
		{"a large limit from the newest end returns them all, newest first", domain.HistoryQuery{NewestFirst: true, Limit: 100}, versions(6, 5, 3, 2)},
		{"both bounds are exclusive", domain.HistoryQuery{AfterVersion: 2, BeforeVersion: 6, Limit: 10}, versions(3, 5)},
		{"both bounds, newest first", domain.HistoryQuery{AfterVersion: 2, BeforeVersion: 6, NewestFirst: true, Limit: 1}, versions(5)},
		{"bounds with nothing between them", domain.HistoryQuery{AfterVersion: 3, BeforeVersion: 5, NewestFirst: true, Limit: 10}, nil},
		{"a conversation without history has none from the oldest end", domain.HistoryQuery{ConversationID: "cv-2", Limit: 10}, nil},
		{"a conversation without history has none from the newest end", domain.HistoryQuery{ConversationID: "cv-2", NewestFirst: true, Limit: 10}, nil},
		{"an unknown conversation has none from the newest end", domain.HistoryQuery{ConversationID: "nope", NewestFirst: true, BeforeVersion: 5, Limit: 10}, nil},
	} {
		t.Run("ListHistory: "+tc.name, func(t *testing.T) {
			q := tc.q
			q.WorkspaceID = wsA
			if q.ConversationID == "" {
				q.ConversationID = "cv-1"
			}
			got, err := s.ListHistory(ctx, q)
			wantErr(t, "ListHistory", err, nil)
			equal(t, "history", got, tc.want)
		})
	}

	// walk pages through cv-1's history from one end, each page bounded by
	// the last version of the page before, and returns what it saw, in the
	// order it saw it, and the pages' lengths.
	walk := func(t *testing.T, limit int, newestFirst bool) (seen []domain.OwnershipChange, lengths []int) {
		t.Helper()
		q := domain.HistoryQuery{WorkspaceID: wsA, ConversationID: "cv-1", Limit: limit, NewestFirst: newestFirst}
		for range 10 {
			page, err := s.ListHistory(ctx, q)
			wantErr(t, "ListHistory", err, nil)
			seen, lengths = append(seen, page...), append(lengths, len(page))
			if len(page) < q.Limit {
				return seen, lengths
			}
			if newestFirst {
				q.BeforeVersion = page[len(page)-1].Version
			} else {
				q.AfterVersion = page[len(page)-1].Version
			}
		}
		t.Fatalf("paging by %d does not end", limit)
		return nil, nil
	}
	t.Run("ListHistory: paging forward and backward visits every entry once", func(t *testing.T) {
		for _, limit := range []int{1, 2, 3, 4, 5} {
			fwd, _ := walk(t, limit, false)
			equal(t, fmt.Sprintf("forward by %d", limit), fwd, entries)
			back, _ := walk(t, limit, true)
			slices.Reverse(back)
			equal(t, fmt.Sprintf("backward by %d, reversed", limit), back, entries)
		}
	})
	t.Run("ListHistory: a history of exactly one page ends with an empty page from either end", func(t *testing.T) {
		for _, newestFirst := range []bool{false, true} {
			_, lengths := walk(t, len(entries), newestFirst)
			equal(t, fmt.Sprintf("page lengths, newest first %v", newestFirst), lengths, []int{len(entries), 0})
		}
	})
	t.Run("ListHistory: a version from a page read one way bounds a page read the other way", func(t *testing.T) {
		// Forward to 3, then back from there: what came before it.
		fwd, err := s.ListHistory(ctx, domain.HistoryQuery{WorkspaceID: wsA, ConversationID: "cv-1", Limit: 2})
		if err != nil || len(fwd) != 2 {
			t.Fatalf("the first two: %d entries, %v", len(fwd), err)
		}
		back, err := s.ListHistory(ctx, domain.HistoryQuery{WorkspaceID: wsA, ConversationID: "cv-1", BeforeVersion: fwd[len(fwd)-1].Version, NewestFirst: true, Limit: 10})
		wantErr(t, "ListHistory", err, nil)
		equal(t, "newest first before the end of the first page", back, versions(2))
		// Back to 5, then forward from there: what came after it.
		newest, err := s.ListHistory(ctx, domain.HistoryQuery{WorkspaceID: wsA, ConversationID: "cv-1", NewestFirst: true, Limit: 2})
		if err != nil || len(newest) != 2 {
			t.Fatalf("the newest two: %d entries, %v", len(newest), err)
		}
		after, err := s.ListHistory(ctx, domain.HistoryQuery{WorkspaceID: wsA, ConversationID: "cv-1", AfterVersion: newest[len(newest)-1].Version, Limit: 10})
		wantErr(t, "ListHistory", err, nil)
		equal(t, "oldest first after the end of the newest page", after, versions(6))
	})

	t.Run("HistoryEntries answers in key order with nil for unknown keys", func(t *testing.T) {
		key := func(id string, v int64) domain.HistoryKey { return domain.HistoryKey{ConversationID: id, Version: v} }
		keys := []domain.HistoryKey{key("cv-1", 5), key("cv-1", 4), key("cv-1", 2), key("cv-2", 2), key("cv-1", 7), key("cv-1", 5)}
		got, err := s.HistoryEntries(ctx, wsA, keys)
		wantErr(t, "HistoryEntries", err, nil)
		// Version 7 exists only in workspace B's cv-1.
		equal(t, "entries", got, []*domain.OwnershipChange{&entries[2], nil, &entries[0], nil, nil, &entries[2]})
	})

	t.Run("HistoryEntries keeps key order over more keys than one batch", func(t *testing.T) {
		var keys []domain.HistoryKey
		var want []*domain.OwnershipChange
		for i := 0; i < 1100; i++ {
			if i%250 == 0 {
				e := entries[(i/250)%len(entries)]
				keys, want = append(keys, domain.HistoryKey{ConversationID: "cv-1", Version: e.Version}), append(want, &e)
				continue
			}
			keys, want = append(keys, domain.HistoryKey{ConversationID: fmt.Sprintf("cv-x%d", i), Version: 2}), append(want, nil)
		}
		got, err := s.HistoryEntries(ctx, wsA, keys)
		wantErr(t, "HistoryEntries", err, nil)
		equal(t, "entries", got, want)
	})
}

func testAcks(t *testing.T, f Factory) {
	k1, k2, k3 := domain.HistoryKey{ConversationID: "cv-1", Version: 2}, domain.HistoryKey{ConversationID: "cv-2", Version: 5}, domain.HistoryKey{ConversationID: "cv-1", Version: 3}

	t.Run("acknowledged keys report true, others false, per agent and workspace", func(t *testing.T) {
		s := f.New(t)
		wantErr(t, "AcknowledgeAssignments", s.AcknowledgeAssignments(ctx, wsA, "ag-1", []domain.HistoryKey{k1, k2}), nil)
		got, err := s.AcknowledgedAssignments(ctx, wsA, "ag-1", []domain.HistoryKey{k2, k3, k1, {ConversationID: "cv-9", Version: 2}})
		wantErr(t, "AcknowledgedAssignments", err, nil)
		equal(t, "acknowledged by ag-1", got, []bool{true, false, true, false})
		got, err = s.AcknowledgedAssignments(ctx, wsA, "ag-2", []domain.HistoryKey{k1, k2})
		wantErr(t, "AcknowledgedAssignments", err, nil)
		equal(t, "acknowledged by ag-2", got, []bool{false, false})
		got, err = s.AcknowledgedAssignments(ctx, wsB, "ag-1", []domain.HistoryKey{k1, k2})
		wantErr(t, "AcknowledgedAssignments", err, nil)
		equal(t, "acknowledged in workspace B", got, []bool{false, false})
	})

	t.Run("acknowledging twice is the same as once", func(t *testing.T) {
		s := f.New(t)
		wantErr(t, "first", s.AcknowledgeAssignments(ctx, wsA, "ag-1", []domain.HistoryKey{k1}), nil)
		wantErr(t, "again", s.AcknowledgeAssignments(ctx, wsA, "ag-1", []domain.HistoryKey{k1, k3, k1}), nil)
		got, err := s.AcknowledgedAssignments(ctx, wsA, "ag-1", []domain.HistoryKey{k1, k2, k3})
		wantErr(t, "AcknowledgedAssignments", err, nil)
		equal(t, "acknowledged", got, []bool{true, false, true})
	})

	t.Run("no keys acknowledge nothing and ask nothing", func(t *testing.T) {
		s := f.New(t)
		wantErr(t, "AcknowledgeAssignments", s.AcknowledgeAssignments(ctx, wsA, "ag-1", nil), nil)
		got, err := s.AcknowledgedAssignments(ctx, wsA, "ag-1", nil)
		wantErr(t, "AcknowledgedAssignments", err, nil)
		if len(got) != 0 {
			t.Errorf("AcknowledgedAssignments(no keys) = %v", got)
		}
	})

	t.Run("AcknowledgedAssignments keeps key order over more keys than one batch", func(t *testing.T) {
		s := f.New(t)
		wantErr(t, "AcknowledgeAssignments", s.AcknowledgeAssignments(ctx, wsA, "ag-1", []domain.HistoryKey{k1, k2}), nil)
		var keys []domain.HistoryKey
		var want []bool
		for i := 0; i < 1100; i++ {
			switch i % 300 {
			case 1:
				keys, want = append(keys, k1), append(want, true)
			case 299:
				keys, want = append(keys, k2), append(want, true)
			default:
				keys, want = append(keys, domain.HistoryKey{ConversationID: "cv-1", Version: int64(10 + i)}), append(want, false)
			}
		}
		got, err := s.AcknowledgedAssignments(ctx, wsA, "ag-1", keys)
		wantErr(t, "AcknowledgedAssignments", err, nil)
		equal(t, "acknowledged", got, want)
	})
}
