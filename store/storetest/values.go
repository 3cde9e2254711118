package storetest

import (
	"testing"

	"switchboard/domain"
)

// lookalikes are ids and texts that a careless store would read as query
// syntax: operators, paths, documents, patterns, SQL.
var lookalikes = []string{`$gt`, `$where`, `a.b`, `{"$ne": null}`, `.*`, `%`, `' OR 1=1 --`, `ag-1\x00`}

// testLookalikes checks that ids and names that look like query syntax are
// plain values: each finds its own record only, and nothing else.
func testLookalikes(t *testing.T, f Factory) {
	s := f.New(t)
	plain := newAgent(wsA, "ag-1", "Ada")
	mustInsertAgent(t, s, plain)
	var want []*domain.Agent
	for _, id := range lookalikes {
		a := newAgent(wsA, id, id)
		mustInsertAgent(t, s, a)
		want = append(want, &a)
		c := newChannel(wsA, id, id)
		mustInsertChannel(t, s, c)
	}
	// The same ids as workspaces: each its own.
	for _, ws := range lookalikes {
		mustInsertAgent(t, s, newAgent(ws, "ag-1", "In "+ws))
	}

	t.Run("each lookalike id finds its own record only", func(t *testing.T) {
		got, err := s.AgentsByIDs(ctx, wsA, lookalikes)
		wantErr(t, "AgentsByIDs", err, nil)
		equal(t, "agents", got, want)
		chs, err := s.ChannelsByIDs(ctx, wsA, lookalikes)
		wantErr(t, "ChannelsByIDs", err, nil)
		for i, c := range chs {
			if c == nil || c.ID != lookalikes[i] || c.Name != lookalikes[i] {
				t.Errorf("channel %q: got %+v", lookalikes[i], c)
			}
		}
		for _, ws := range lookalikes {
			got, err := s.AgentsByIDs(ctx, ws, []string{"ag-1", "$gt"})
			wantErr(t, "AgentsByIDs", err, nil)
			if got[0] == nil || got[0].Name != "In "+ws || got[1] != nil {
				t.Errorf("agents of workspace %q: %s", ws, show(got))
			}
		}
	})

	t.Run("lookalike ids in filters match nothing else", func(t *testing.T) {
		list, err := s.ListAgents(ctx, `{"$ne": null}`, domain.AgentFilter{IncludeInactive: true})
		wantErr(t, "ListAgents", err, nil)
		if len(list) != 1 {
			t.Errorf("ListAgents of workspace %q: %d agents, want 1", `{"$ne": null}`, len(list))
		}
		wantErr(t, "TouchAgent", s.TouchAgent(ctx, wsA, `{"$exists": true}`, at(99)), domain.ErrNotFound)
		q := domain.QueueQuery{WorkspaceID: wsA, Status: domain.StatusNew, Owners: domain.OwnerPredicate{Owners: []string{`$gt`, `{"$ne": ""}`}}, Limit: 10}
		mustInsert(t, s, creation(newConversation(wsA, "cv-1", domain.StatusNew, "ag-1", at(0))))
		rows, err := s.QueryQueue(ctx, q)
		wantErr(t, "QueryQueue", err, nil)
		equal(t, "QueryQueue", rows, []domain.Conversation(nil))
	})
}
