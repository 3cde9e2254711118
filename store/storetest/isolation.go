package storetest

import (
	"testing"

	"switchboard/domain"
)

// testIsolation fills workspace B with one of everything and checks that
// every read of workspace A, under the same ids, finds nothing, and that
// writes in A's name leave B's records alone.
func testIsolation(t *testing.T, f Factory) {
	s := f.New(t)
	settings := domain.Settings{WorkspaceID: wsB, RemoveOwnershipOnLogout: true, LogoutGraceSeconds: 5, Version: 1, UpdatedAt: at(1),
		Routing: domain.RoutingSettings{Mode: domain.RoutingRoundRobin, DefaultCapacity: 2, PreferLastOwner: true}}
	wantErr(t, "SaveSettings", s.SaveSettings(ctx, settings), nil)
	agent := newAgent(wsB, "ag-1", "Bea")
	mustInsertAgent(t, s, agent)
	channel := newChannel(wsB, "ch-1", "Email")
	mustInsertChannel(t, s, channel)
	wantErr(t, "SetAutoOwnership", s.SetAutoOwnership(ctx, wsB, "ch-1", "ag-1", true), nil)
	channel.AutoOwnershipAgentIDs = []string{"ag-1"}
	contact := domain.Contact{WorkspaceID: wsB, ID: "ct-cv-1", ChannelID: "ch-1", ExternalID: "+1", Name: "Carl", CreatedAt: at(2)}
	if _, err := s.UpsertContact(ctx, contact); err != nil {
		t.Fatal(err)
	}
	c := mustInsert(t, s, creation(newConversation(wsB, "cv-1", domain.StatusNew, "", at(0))))
	w := assignment(c, "ag-1", "ag-1")
	w.Conversation.AssignedWhileOffline = true
	c = mustUpdate(t, s, w)
	key := domain.HistoryKey{ConversationID: "cv-1", Version: 2}
	wantErr(t, "AcknowledgeAssignments", s.AcknowledgeAssignments(ctx, wsB, "ag-1", []domain.HistoryKey{key}), nil)

	t.Run("every read of another workspace finds nothing under the same ids", func(t *testing.T) {
		got, err := s.GetSettings(ctx, wsA)
		wantErr(t, "GetSettings", err, nil)
		equal(t, "GetSettings", got, domain.DefaultSettings(wsA))

		agents, err := s.AgentsByIDs(ctx, wsA, []string{"ag-1"})
		wantErr(t, "AgentsByIDs", err, nil)
		equal(t, "AgentsByIDs", agents, []*domain.Agent{nil})
		list, err := s.ListAgents(ctx, wsA, domain.AgentFilter{IncludeInactive: true})
		wantErr(t, "ListAgents", err, nil)
		equal(t, "ListAgents", list, []domain.Agent(nil))

		channels, err := s.ChannelsByIDs(ctx, wsA, []string{"ch-1"})
		wantErr(t, "ChannelsByIDs", err, nil)
		equal(t, "ChannelsByIDs", channels, []*domain.Channel{nil})
		chList, err := s.ListChannels(ctx, wsA)
		wantErr(t, "ListChannels", err, nil)
		equal(t, "ListChannels", chList, []domain.Channel(nil))

		contacts, err := s.ContactsByIDs(ctx, wsA, []string{"ct-cv-1"})
		wantErr(t, "ContactsByIDs", err, nil)
		equal(t, "ContactsByIDs", contacts, []*domain.Contact{nil})

		equal(t, "ConversationsByIDs", mustConversation(t, s, wsA, "cv-1"), (*domain.Conversation)(nil))
		open, maxSeq, err := s.ContactConversations(ctx, wsA, "ct-cv-1")
		wantErr(t, "ContactConversations", err, nil)
		if open != nil || maxSeq != 0 {
			t.Errorf("ContactConversations = %+v, %d", open, maxSeq)
		}
		for _, p := range predicates {
			q := domain.QueueQuery{WorkspaceID: wsA, Status: domain.StatusNew, Owners: p.p, Limit: 10}
			rows, err := s.QueryQueue(ctx, q)
			wantErr(t, "QueryQueue", err, nil)
			equal(t, "QueryQueue "+p.name, rows, []domain.Conversation(nil))
			n, err := s.CountQueue(ctx, q)
			wantErr(t, "CountQueue", err, nil)
			if n != 0 {
				t.Errorf("CountQueue %s = %d", p.name, n)
			}
		}
		counts, err := s.CountOwners(ctx, wsA, domain.StatusNew, nil)
		wantErr(t, "CountOwners", err, nil)
		equal(t, "CountOwners", counts, []domain.OwnerCount(nil))
		owned, err := s.OwnedConversations(ctx, domain.OwnedQuery{WorkspaceID: wsA, OwnerID: "ag-1",
			Statuses: []domain.QueueStatus{domain.StatusNew, domain.StatusPending}, Limit: 10})
		wantErr(t, "OwnedConversations", err, nil)
		equal(t, "OwnedConversations", owned, []domain.Conversation(nil))

		msgs, err := s.MessagesByIDs(ctx, wsA, []string{"m-cv-1-1", w.Message.ID})
		wantErr(t, "MessagesByIDs", err, nil)
		equal(t, "MessagesByIDs", msgs, []*domain.Message{nil, nil})
		list2, err := s.ListMessages(ctx, domain.MessageQuery{WorkspaceID: wsA, ConversationID: "cv-1", Limit: 10})
		wantErr(t, "ListMessages", err, nil)
		equal(t, "ListMessages", list2, []domain.Message(nil))

		history, err := s.ListHistory(ctx, domain.HistoryQuery{WorkspaceID: wsA, ConversationID: "cv-1", Limit: 10})
		wantErr(t, "ListHistory", err, nil)
		equal(t, "ListHistory", history, []domain.OwnershipChange(nil))
		entries, err := s.HistoryEntries(ctx, wsA, []domain.HistoryKey{key})
		wantErr(t, "HistoryEntries", err, nil)
		equal(t, "HistoryEntries", entries, []*domain.OwnershipChange{nil})
		acked, err := s.AcknowledgedAssignments(ctx, wsA, "ag-1", []domain.HistoryKey{key})
		wantErr(t, "AcknowledgedAssignments", err, nil)
		equal(t, "AcknowledgedAssignments", acked, []bool{false})
	})

	t.Run("writes in another workspace's name leave its records alone", func(t *testing.T) {
		a := agent
		a.WorkspaceID, a.Version, a.Name = wsA, 2, "Hijack"
		wantErr(t, "UpdateAgent", s.UpdateAgent(ctx, a), domain.ErrNotFound)
		wantErr(t, "TouchAgent", s.TouchAgent(ctx, wsA, "ag-1", at(99_999)), domain.ErrNotFound)
		wantErr(t, "SetAutoOwnership", s.SetAutoOwnership(ctx, wsA, "ch-1", "ag-1", false), domain.ErrNotFound)
		hijack := c
		hijack.WorkspaceID = wsA
		hw := change(hijack, func(n *domain.Conversation) { n.Status = domain.StatusResolved })
		wantErr(t, "UpdateConversation", s.UpdateConversation(ctx, hw), domain.ErrVersionConflict)
		st := settings
		st.WorkspaceID, st.Version, st.LogoutGraceSeconds = wsA, 2, 60
		wantErr(t, "SaveSettings", s.SaveSettings(ctx, st), domain.ErrVersionConflict)

		gotSettings, err := s.GetSettings(ctx, wsB)
		wantErr(t, "GetSettings", err, nil)
		equal(t, "settings of B", gotSettings, settings)
		equal(t, "agent of B", mustAgent(t, s, wsB, "ag-1"), &agent)
		chs, err := s.ChannelsByIDs(ctx, wsB, []string{"ch-1"})
		wantErr(t, "ChannelsByIDs", err, nil)
		equal(t, "channel of B", chs, []*domain.Channel{&channel})
		equal(t, "conversation of B", mustConversation(t, s, wsB, "cv-1"), &c)
	})
}
