package storetest

import (
	"fmt"
	"testing"

	"switchboard/domain"
)

func testSettings(t *testing.T, f Factory) {
	saved := domain.Settings{
		WorkspaceID: wsA, RemoveOwnershipOnLogout: true, LogoutGraceSeconds: 12, SwitchedOffCount: 4, SwitchedOffAt: at(9),
		Routing: domain.RoutingSettings{Mode: domain.RoutingBalanced, DefaultCapacity: 9, UnansweredSeconds: 300},
		Version: 1, UpdatedAt: at(10),
	}

	t.Run("a workspace that never saved settings has the defaults", func(t *testing.T) {
		s := f.New(t)
		got, err := s.GetSettings(ctx, wsA)
		wantErr(t, "GetSettings", err, nil)
		equal(t, "settings", got, domain.DefaultSettings(wsA))
	})

	t.Run("the first save at version 1 is read back whole", func(t *testing.T) {
		s := f.New(t)
		wantErr(t, "SaveSettings", s.SaveSettings(ctx, saved), nil)
		got, err := s.GetSettings(ctx, wsA)
		wantErr(t, "GetSettings", err, nil)
		equal(t, "settings", got, saved)
	})

	t.Run("a save at the next version replaces the settings", func(t *testing.T) {
		s := f.New(t)
		wantErr(t, "SaveSettings v1", s.SaveSettings(ctx, saved), nil)
		next := saved
		next.RemoveOwnershipOnLogout, next.SwitchedOffCount, next.Version, next.UpdatedAt = false, 5, 2, at(11)
		wantErr(t, "SaveSettings v2", s.SaveSettings(ctx, next), nil)
		got, err := s.GetSettings(ctx, wsA)
		wantErr(t, "GetSettings", err, nil)
		equal(t, "settings", got, next)
	})

	for _, tc := range []struct {
		name    string
		stored  bool // whether version 1 is stored before the save
		version int64
	}{
		{"a second first save at version 1 conflicts and keeps the stored settings", true, 1},
		{"a save that skips a version conflicts and keeps the stored settings", true, 3},
		{"a save above version 1 with none stored conflicts and stores nothing", false, 2},
		{"a save at version 0 conflicts and stores nothing", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := f.New(t)
			want := domain.DefaultSettings(wsA)
			if tc.stored {
				wantErr(t, "SaveSettings v1", s.SaveSettings(ctx, saved), nil)
				want = saved
			}
			stale := saved
			stale.LogoutGraceSeconds, stale.Version = 59, tc.version
			wantErr(t, "SaveSettings", s.SaveSettings(ctx, stale), domain.ErrVersionConflict)
			got, err := s.GetSettings(ctx, wsA)
			wantErr(t, "GetSettings", err, nil)
			equal(t, "settings", got, want)
		})
	}

	t.Run("settings saved in one workspace leave another at the defaults", func(t *testing.T) {
		s := f.New(t)
		wantErr(t, "SaveSettings", s.SaveSettings(ctx, saved), nil)
		other := saved
		other.WorkspaceID = wsB
		// Version 1 again: each workspace has its own version.
		wantErr(t, "SaveSettings other workspace", s.SaveSettings(ctx, other), nil)
		got, err := s.GetSettings(ctx, "ws-c")
		wantErr(t, "GetSettings", err, nil)
		equal(t, "settings", got, domain.DefaultSettings("ws-c"))
	})
}

func testAgents(t *testing.T, f Factory) {
	t.Run("an inserted agent is read back whole, with and without a pending cleanup", func(t *testing.T) {
		s := f.New(t)
		plain := newAgent(wsA, "ag-1", "Ada")
		armed := newAgent(wsA, "ag-2", "Bo")
		armed.Role, armed.Presence = domain.RoleAdmin, domain.Away
		armed.Cleanup = &domain.LogoutCleanup{Epoch: 7, DueAt: at(30_000), SettingsSwitchedOffCount: 2, ClaimedBy: "in_a", ClaimedUntil: at(31_000)}
		mustInsertAgent(t, s, plain)
		mustInsertAgent(t, s, armed)
		got, err := s.AgentsByIDs(ctx, wsA, []string{"ag-1", "ag-2"})
		wantErr(t, "AgentsByIDs", err, nil)
		equal(t, "agents", got, []*domain.Agent{&plain, &armed})
	})

	t.Run("inserting a taken agent id is a duplicate and keeps the first", func(t *testing.T) {
		s := f.New(t)
		first := newAgent(wsA, "ag-1", "Ada")
		mustInsertAgent(t, s, first)
		wantErr(t, "InsertAgent again", s.InsertAgent(ctx, newAgent(wsA, "ag-1", "Impostor")), domain.ErrDuplicate)
		equal(t, "agent", mustAgent(t, s, wsA, "ag-1"), &first)
	})

	t.Run("the same agent id in two workspaces is two agents", func(t *testing.T) {
		s := f.New(t)
		a, b := newAgent(wsA, "ag-1", "Ada"), newAgent(wsB, "ag-1", "Bea")
		mustInsertAgent(t, s, a)
		mustInsertAgent(t, s, b)
		equal(t, "agent of A", mustAgent(t, s, wsA, "ag-1"), &a)
		equal(t, "agent of B", mustAgent(t, s, wsB, "ag-1"), &b)
	})

	t.Run("AgentsByIDs answers in key order with nil for unknown keys", func(t *testing.T) {
		s := f.New(t)
		a1, a2 := newAgent(wsA, "ag-1", "Ada"), newAgent(wsA, "ag-2", "Bo")
		mustInsertAgent(t, s, a1)
		mustInsertAgent(t, s, a2)
		mustInsertAgent(t, s, newAgent(wsB, "ag-3", "Other"))
		got, err := s.AgentsByIDs(ctx, wsA, []string{"ag-2", "nobody", "ag-1", "ag-3", "ag-2"})
		wantErr(t, "AgentsByIDs", err, nil)
		equal(t, "agents", got, []*domain.Agent{&a2, nil, &a1, nil, &a2})
		got, err = s.AgentsByIDs(ctx, wsA, nil)
		wantErr(t, "AgentsByIDs(no keys)", err, nil)
		if len(got) != 0 {
			t.Errorf("AgentsByIDs(no keys) = %d results", len(got))
		}
	})

	t.Run("AgentsByIDs keeps key order over more keys than one batch", func(t *testing.T) {
		s := f.New(t)
		a1, a2 := newAgent(wsA, "ag-1", "Ada"), newAgent(wsA, "ag-2", "Bo")
		mustInsertAgent(t, s, a1)
		mustInsertAgent(t, s, a2)
		var keys []string
		var want []*domain.Agent
		for i := 0; i < 1234; i++ {
			switch i % 400 {
			case 3:
				keys, want = append(keys, "ag-1"), append(want, &a1)
			case 399:
				keys, want = append(keys, "ag-2"), append(want, &a2)
			default:
				keys, want = append(keys, fmt.Sprintf("nobody-%d", i)), append(want, nil)
			}
		}
		got, err := s.AgentsByIDs(ctx, wsA, keys)
		wantErr(t, "AgentsByIDs", err, nil)
		equal(t, "agents", got, want)
	})

	t.Run("ListAgents sorts by name then id and leaves out inactive agents unless asked", func(t *testing.T) {
		s := f.New(t)
		zed := newAgent(wsA, "ag-1", "Zed")
		amy2 := newAgent(wsA, "ag-3", "Amy")
		amy1 := newAgent(wsA, "ag-2", "Amy")
		gone := newAgent(wsA, "ag-4", "Bob")
		gone.Active = false
		online := newAgent(wsA, "ag-5", "Cy")
		online.Presence = domain.Online
		away := newAgent(wsA, "ag-6", "Di")
		away.Presence = domain.Away
		for _, a := range []domain.Agent{zed, amy2, amy1, gone, online, away, newAgent(wsB, "ag-9", "Aaron")} {
			mustInsertAgent(t, s, a)
		}
		for _, tc := range []struct {
			name   string
			filter domain.AgentFilter
			want   []domain.Agent
		}{
			{"active", domain.AgentFilter{}, []domain.Agent{amy1, amy2, online, away, zed}},
			{"all", domain.AgentFilter{IncludeInactive: true}, []domain.Agent{amy1, amy2, gone, online, away, zed}},
			{"online or away", domain.AgentFilter{Presence: []domain.Presence{domain.Online, domain.Away}}, []domain.Agent{online, away}},
			{"offline, inactive too", domain.AgentFilter{Presence: []domain.Presence{domain.Offline}, IncludeInactive: true}, []domain.Agent{amy1, amy2, gone, zed}},
		} {
			got, err := s.ListAgents(ctx, wsA, tc.filter)
			wantErr(t, "ListAgents "+tc.name, err, nil)
			equal(t, "ListAgents "+tc.name, got, tc.want)
		}
	})

	t.Run("UpdateAgent at the next version writes it", func(t *testing.T) {
		s := f.New(t)
		a := newAgent(wsA, "ag-1", "Ada")
		mustInsertAgent(t, s, a)
		next := a
		next.Name, next.Presence, next.PresenceSince, next.OfflineEpoch = "Ada L.", domain.Online, at(100), 3
		next.Cleanup = &domain.LogoutCleanup{Epoch: 3, DueAt: at(200), SettingsSwitchedOffCount: 1}
		next.Version, next.UpdatedAt = 2, at(100)
		wantErr(t, "UpdateAgent", s.UpdateAgent(ctx, next), nil)
		equal(t, "agent", mustAgent(t, s, wsA, "ag-1"), &next)
		// And the cleanup can be cleared again.
		again := next
		again.Cleanup, again.Version = nil, 3
		wantErr(t, "UpdateAgent", s.UpdateAgent(ctx, again), nil)
		equal(t, "agent", mustAgent(t, s, wsA, "ag-1"), &again)
	})

	for _, tc := range []struct {
		name    string
		version int64
	}{
		{"UpdateAgent at the stored version conflicts and writes nothing", 1},
		{"UpdateAgent that skips a version conflicts and writes nothing", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := f.New(t)
			a := newAgent(wsA, "ag-1", "Ada")
			mustInsertAgent(t, s, a)
			stale := a
			stale.Name, stale.Version = "Stale", tc.version
			wantErr(t, "UpdateAgent", s.UpdateAgent(ctx, stale), domain.ErrVersionConflict)
			equal(t, "agent", mustAgent(t, s, wsA, "ag-1"), &a)
		})
	}

	t.Run("UpdateAgent of an unknown agent is not found", func(t *testing.T) {
		s := f.New(t)
		mustInsertAgent(t, s, newAgent(wsB, "ag-1", "Other"))
		a := newAgent(wsA, "ag-1", "Ada")
		a.Version = 2
		wantErr(t, "UpdateAgent", s.UpdateAgent(ctx, a), domain.ErrNotFound)
		if got := mustAgent(t, s, wsA, "ag-1"); got != nil {
			t.Errorf("UpdateAgent created %+v", got)
		}
	})

	t.Run("TouchAgent moves LastSeenAt forward only, without a new version", func(t *testing.T) {
		s := f.New(t)
		a := newAgent(wsA, "ag-1", "Ada")
		mustInsertAgent(t, s, a)
		wantErr(t, "TouchAgent forward", s.TouchAgent(ctx, wsA, "ag-1", at(5_000)), nil)
		want := a
		want.LastSeenAt = at(5_000)
		equal(t, "after a touch forward", mustAgent(t, s, wsA, "ag-1"), &want)
		wantErr(t, "TouchAgent back", s.TouchAgent(ctx, wsA, "ag-1", at(4_000)), nil)
		equal(t, "after a touch back", mustAgent(t, s, wsA, "ag-1"), &want)
		// A conditional write at the next version still succeeds: touches
		// never move the version a writer checks.
		next := want
		next.Name, next.Version = "Ada L.", 2
		wantErr(t, "UpdateAgent after touches", s.UpdateAgent(ctx, next), nil)
	})

	t.Run("UpdateAgent decided on an older sign of life than the stored one conflicts", func(t *testing.T) {
		s := f.New(t)
		a := newAgent(wsA, "ag-1", "Ada")
		mustInsertAgent(t, s, a)
		// A writer reads the agent, then a sign of life moves LastSeenAt.
		wantErr(t, "TouchAgent", s.TouchAgent(ctx, wsA, "ag-1", at(5_000)), nil)
		stale := a
		stale.Presence, stale.Version = domain.Offline, 2
		wantErr(t, "UpdateAgent on the old sign of life", s.UpdateAgent(ctx, stale), domain.ErrVersionConflict)
		want := a
		want.LastSeenAt = at(5_000)
		equal(t, "after the refused write", mustAgent(t, s, wsA, "ag-1"), &want)
	})

	t.Run("TouchAgent of an unknown agent is not found", func(t *testing.T) {
		s := f.New(t)
		mustInsertAgent(t, s, newAgent(wsB, "ag-1", "Other"))
		wantErr(t, "TouchAgent", s.TouchAgent(ctx, wsA, "ag-1", at(5_000)), domain.ErrNotFound)
		other := newAgent(wsB, "ag-1", "Other")
		equal(t, "agent of B", mustAgent(t, s, wsB, "ag-1"), &other)
	})
}

func testChannels(t *testing.T, f Factory) {
	t.Run("an inserted channel is read back with its auto-ownership agents sorted", func(t *testing.T) {
		s := f.New(t)
		c := newChannel(wsA, "ch-1", "Email")
		c.AutoOwnershipAgentIDs = []string{"ag-3", "ag-1", "ag-2"}
		mustInsertChannel(t, s, c)
		want := c
		want.AutoOwnershipAgentIDs = []string{"ag-1", "ag-2", "ag-3"}
		got, err := s.ChannelsByIDs(ctx, wsA, []string{"ch-1"})
		wantErr(t, "ChannelsByIDs", err, nil)
		equal(t, "channels", got, []*domain.Channel{&want})
	})

	t.Run("a taken channel name or id is a duplicate within a workspace only", func(t *testing.T) {
		s := f.New(t)
		mustInsertChannel(t, s, newChannel(wsA, "ch-1", "Email"))
		wantErr(t, "same name", s.InsertChannel(ctx, newChannel(wsA, "ch-2", "Email")), domain.ErrDuplicate)
		wantErr(t, "same id", s.InsertChannel(ctx, newChannel(wsA, "ch-1", "Chat")), domain.ErrDuplicate)
		mustInsertChannel(t, s, newChannel(wsB, "ch-1", "Email"))
		got, err := s.ListChannels(ctx, wsA)
		wantErr(t, "ListChannels", err, nil)
		equal(t, "channels", got, []domain.Channel{newChannel(wsA, "ch-1", "Email")})
	})

	t.Run("ChannelsByIDs answers in key order with nil for unknown keys", func(t *testing.T) {
		s := f.New(t)
		c1, c2 := newChannel(wsA, "ch-1", "Email"), newChannel(wsA, "ch-2", "Chat")
		mustInsertChannel(t, s, c1)
		mustInsertChannel(t, s, c2)
		mustInsertChannel(t, s, newChannel(wsB, "ch-3", "Other"))
		got, err := s.ChannelsByIDs(ctx, wsA, []string{"ch-3", "ch-2", "nope", "ch-1"})
		wantErr(t, "ChannelsByIDs", err, nil)
		equal(t, "channels", got, []*domain.Channel{nil, &c2, nil, &c1})
	})

	t.Run("ListChannels sorts by name", func(t *testing.T) {
		s := f.New(t)
		a, b, c := newChannel(wsA, "ch-3", "Alpha"), newChannel(wsA, "ch-1", "Beta"), newChannel(wsA, "ch-2", "Gamma")
		for _, ch := range []domain.Channel{c, a, b, newChannel(wsB, "ch-9", "Aardvark")} {
			mustInsertChannel(t, s, ch)
		}
		got, err := s.ListChannels(ctx, wsA)
		wantErr(t, "ListChannels", err, nil)
		equal(t, "channels", got, []domain.Channel{a, b, c})
	})

	t.Run("SetAutoOwnership turns agents on and off idempotently, kept sorted", func(t *testing.T) {
		s := f.New(t)
		mustInsertChannel(t, s, newChannel(wsA, "ch-1", "Email"))
		steps := []struct {
			agent   string
			enabled bool
			want    []string
		}{
			{"ag-2", true, []string{"ag-2"}},
			{"ag-1", true, []string{"ag-1", "ag-2"}},
			{"ag-3", true, []string{"ag-1", "ag-2", "ag-3"}},
			{"ag-1", true, []string{"ag-1", "ag-2", "ag-3"}},
			{"ag-2", false, []string{"ag-1", "ag-3"}},
			{"ag-2", false, []string{"ag-1", "ag-3"}},
			{"ag-9", false, []string{"ag-1", "ag-3"}},
		}
		for _, st := range steps {
			what := fmt.Sprintf("SetAutoOwnership(%s, %v)", st.agent, st.enabled)
			wantErr(t, what, s.SetAutoOwnership(ctx, wsA, "ch-1", st.agent, st.enabled), nil)
			got, err := s.ChannelsByIDs(ctx, wsA, []string{"ch-1"})
			wantErr(t, "ChannelsByIDs", err, nil)
			want := newChannel(wsA, "ch-1", "Email")
			want.AutoOwnershipAgentIDs = st.want
			equal(t, "after "+what, got, []*domain.Channel{&want})
		}
		listed, err := s.ListChannels(ctx, wsA)
		wantErr(t, "ListChannels", err, nil)
		want := newChannel(wsA, "ch-1", "Email")
		want.AutoOwnershipAgentIDs = []string{"ag-1", "ag-3"}
		equal(t, "ListChannels", listed, []domain.Channel{want})
	})

	t.Run("SetAutoOwnership on an unknown channel is not found", func(t *testing.T) {
		s := f.New(t)
		mustInsertChannel(t, s, newChannel(wsB, "ch-1", "Email"))
		wantErr(t, "SetAutoOwnership", s.SetAutoOwnership(ctx, wsA, "ch-1", "ag-1", true), domain.ErrNotFound)
		got, err := s.ChannelsByIDs(ctx, wsB, []string{"ch-1"})
		wantErr(t, "ChannelsByIDs", err, nil)
		want := newChannel(wsB, "ch-1", "Email")
		equal(t, "channel of B", got, []*domain.Channel{&want})
	})
}

func testContacts(t *testing.T, f Factory) {
	base := domain.Contact{WorkspaceID: wsA, ID: "ct-1", ChannelID: "ch-1", ExternalID: "+123", Name: "Carla", CreatedAt: at(20)}

	t.Run("UpsertContact creates a new contact and returns it", func(t *testing.T) {
		s := f.New(t)
		got, err := s.UpsertContact(ctx, base)
		wantErr(t, "UpsertContact", err, nil)
		equal(t, "returned", got, base)
		stored, err := s.ContactsByIDs(ctx, wsA, []string{"ct-1"})
		wantErr(t, "ContactsByIDs", err, nil)
		equal(t, "stored", stored, []*domain.Contact{&base})
	})

	t.Run("UpsertContact of an existing contact keeps it and changes only a given name", func(t *testing.T) {
		s := f.New(t)
		if _, err := s.UpsertContact(ctx, base); err != nil {
			t.Fatal(err)
		}
		renamed := base
		renamed.Name, renamed.CreatedAt = "Carla M.", at(99)
		got, err := s.UpsertContact(ctx, renamed)
		wantErr(t, "UpsertContact renamed", err, nil)
		want := base
		want.Name = "Carla M."
		equal(t, "after a new name", got, want)

		nameless := base
		nameless.Name, nameless.CreatedAt = "", at(100)
		got, err = s.UpsertContact(ctx, nameless)
		wantErr(t, "UpsertContact nameless", err, nil)
		equal(t, "after no name", got, want)
		stored, err := s.ContactsByIDs(ctx, wsA, []string{"ct-1"})
		wantErr(t, "ContactsByIDs", err, nil)
		equal(t, "stored", stored, []*domain.Contact{&want})
	})

	t.Run("a contact created without a name has none until one is given", func(t *testing.T) {
		s := f.New(t)
		nameless := base
		nameless.Name = ""
		got, err := s.UpsertContact(ctx, nameless)
		wantErr(t, "UpsertContact", err, nil)
		equal(t, "returned", got, nameless)
	})

	t.Run("ContactsByIDs answers in key order with nil for unknown keys", func(t *testing.T) {
		s := f.New(t)
		c2 := base
		c2.ID, c2.ExternalID = "ct-2", "+456"
		other := base
		other.WorkspaceID, other.ID = wsB, "ct-3"
		for _, c := range []domain.Contact{base, c2, other} {
			if _, err := s.UpsertContact(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.ContactsByIDs(ctx, wsA, []string{"ct-2", "ct-3", "ct-1", "nope"})
		wantErr(t, "ContactsByIDs", err, nil)
		equal(t, "contacts", got, []*domain.Contact{&c2, nil, &base, nil})
	})
}
