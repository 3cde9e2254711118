package storetest

import (
	"testing"

	"switchboard/domain"
)

// testSweeps checks the three reads across workspaces that find due work.
func testSweeps(t *testing.T, f Factory) {
	t.Run("DueBoomerangs", func(t *testing.T) { testDueBoomerangs(t, f) })
	t.Run("DueCleanups", func(t *testing.T) { testDueCleanups(t, f) })
	t.Run("SilentAgents", func(t *testing.T) { testSilentAgents(t, f) })
}

// pendingWithBoomerang is a PENDING conversation whose boomerang is due at
// due.
func pendingWithBoomerang(ws, id, owner string, due int) domain.Conversation {
	c := newConversation(ws, id, domain.StatusPending, owner, at(0))
	c.BoomerangAt = ptr(at(due))
	return c
}

func testDueBoomerangs(t *testing.T, f Factory) {
	s := f.New(t)
	// Due ones, in both workspaces, inserted out of order.
	b3 := mustInsert(t, s, creation(pendingWithBoomerang(wsA, "cv-3", "ag-1", 3_000)))
	b1 := mustInsert(t, s, creation(pendingWithBoomerang(wsB, "cv-1", "", 1_000)))
	b2 := mustInsert(t, s, creation(pendingWithBoomerang(wsA, "cv-2", "", 2_000)))
	b4 := mustInsert(t, s, creation(pendingWithBoomerang(wsB, "cv-4", "ag-2", 4_000)))
	// Due later than every t the test asks about.
	mustInsert(t, s, creation(pendingWithBoomerang(wsA, "cv-late", "", 90_000)))
	// PENDING without a boomerang.
	noBoomerang := newConversation(wsA, "cv-none", domain.StatusPending, "", at(0))
	noBoomerang.BoomerangAt = nil
	mustInsert(t, s, creation(noBoomerang))
	// Not PENDING, with a boomerang time left set: never due.
	for _, st := range []domain.QueueStatus{domain.StatusNew, domain.StatusResolved} {
		c := newConversation(wsA, "cv-"+string(st), st, "", at(0))
		c.BoomerangAt = ptr(at(500))
		mustInsert(t, s, creation(c))
	}
	// Due once, then moved to NEW by a change: no longer due.
	moved := mustInsert(t, s, creation(pendingWithBoomerang(wsA, "cv-moved", "", 1_500)))
	mustUpdate(t, s, change(moved, func(n *domain.Conversation) { n.Status, n.BoomerangAt = domain.StatusNew, nil }))
	// Due once, then given a later boomerang: due at the new time only.
	later := mustInsert(t, s, creation(pendingWithBoomerang(wsB, "cv-later", "", 2_500)))
	later = mustUpdate(t, s, change(later, func(n *domain.Conversation) { n.BoomerangAt = ptr(at(5_000)) }))
	// A message on a PENDING conversation keeps its boomerang.
	b2 = mustUpdate(t, s, change(b2, func(n *domain.Conversation) {}))

	for _, tc := range []struct {
		name  string
		t     int
		limit int
		want  []domain.Conversation
	}{
		{"due ones of every workspace come soonest first", 4_999, 100, []domain.Conversation{b1, b2, b3, b4}},
		{"one due exactly at t is due", 3_000, 100, []domain.Conversation{b1, b2, b3}},
		{"a limit cuts the list from the soonest", 100_000, 2, []domain.Conversation{b1, b2}},
		{"a boomerang moved later is due at its new time", 5_000, 100, []domain.Conversation{b1, b2, b3, b4, later}},
		{"nothing is due before the soonest", 999, 100, nil},
		{"a limit of zero returns nothing", 100_000, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.DueBoomerangs(ctx, at(tc.t), tc.limit)
			wantErr(t, "DueBoomerangs", err, nil)
			equal(t, "due boomerangs", got, tc.want)
		})
	}

	t.Run("a conversation leaves the sweep when it leaves PENDING", func(t *testing.T) {
		resolved := mustUpdate(t, s, change(b1, func(n *domain.Conversation) {
			n.Status, n.BoomerangAt = domain.StatusResolved, nil
		}))
		got, err := s.DueBoomerangs(ctx, at(3_000), 100)
		wantErr(t, "DueBoomerangs", err, nil)
		equal(t, "due boomerangs", got, []domain.Conversation{b2, b3})
		// Back to PENDING with a boomerang: due again.
		back := mustUpdate(t, s, change(resolved, func(n *domain.Conversation) {
			n.Status, n.BoomerangAt = domain.StatusPending, ptr(at(2_500))
		}))
		got, err = s.DueBoomerangs(ctx, at(3_000), 100)
		wantErr(t, "DueBoomerangs", err, nil)
		equal(t, "due boomerangs", got, []domain.Conversation{b2, back, b3})
	})
}

// armed is an agent whose logout cleanup is due at due.
func armed(ws, id, name string, due int) domain.Agent {
	a := newAgent(ws, id, name)
	a.Cleanup = &domain.LogoutCleanup{Epoch: a.OfflineEpoch, DueAt: at(due), SettingsSwitchedOffCount: 1}
	return a
}

func testDueCleanups(t *testing.T, f Factory) {
	s := f.New(t)
	a3, a1 := armed(wsA, "ag-3", "Cy", 3_000), armed(wsB, "ag-1", "Ada", 1_000)
	a2, a4 := armed(wsA, "ag-2", "Bo", 2_000), armed(wsB, "ag-4", "Di", 4_000)
	for _, a := range []domain.Agent{a3, a1, a2, a4, armed(wsA, "ag-late", "Late", 90_000)} {
		mustInsertAgent(t, s, a)
	}
	// Agents without a cleanup, whatever their presence.
	for _, p := range []domain.Presence{domain.Offline, domain.Online, domain.Away} {
		a := newAgent(wsA, "ag-"+string(p), string(p))
		a.Presence = p
		mustInsertAgent(t, s, a)
	}
	// Armed, then cancelled: never due.
	cancelled := armed(wsB, "ag-cancelled", "Ed", 1_500)
	mustInsertAgent(t, s, cancelled)
	cancelled.Cleanup, cancelled.Version = nil, 2
	wantErr(t, "UpdateAgent", s.UpdateAgent(ctx, cancelled), nil)
	// Armed, then re-armed later.
	later := armed(wsA, "ag-later", "Flo", 2_500)
	mustInsertAgent(t, s, later)
	later.Cleanup, later.Version = &domain.LogoutCleanup{Epoch: 3, DueAt: at(5_000)}, 2
	wantErr(t, "UpdateAgent", s.UpdateAgent(ctx, later), nil)

	for _, tc := range []struct {
		name  string
		t     int
		limit int
		want  []domain.Agent
	}{
		{"due ones of every workspace come soonest first", 4_999, 100, []domain.Agent{a1, a2, a3, a4}},
		{"one due exactly at t is due", 3_000, 100, []domain.Agent{a1, a2, a3}},
		{"a limit cuts the list from the soonest", 100_000, 2, []domain.Agent{a1, a2}},
		{"a cleanup armed again later is due at its new time", 5_000, 100, []domain.Agent{a1, a2, a3, a4, later}},
		{"nothing is due before the soonest", 999, 100, nil},
		{"a limit of zero returns nothing", 100_000, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.DueCleanups(ctx, at(tc.t), tc.limit)
			wantErr(t, "DueCleanups", err, nil)
			equal(t, "due cleanups", got, tc.want)
		})
	}
}

// seen is an agent with presence p, last seen at lastSeen.
func seen(ws, id, name string, p domain.Presence, lastSeen int) domain.Agent {
	a := newAgent(ws, id, name)
	a.Presence, a.LastSeenAt = p, at(lastSeen)
	return a
}

func testSilentAgents(t *testing.T, f Factory) {
	s := f.New(t)
	s3, s1 := seen(wsA, "ag-3", "Cy", domain.Online, 3_000), seen(wsB, "ag-1", "Ada", domain.Away, 1_000)
	s2, s4 := seen(wsA, "ag-2", "Bo", domain.Away, 2_000), seen(wsB, "ag-4", "Di", domain.Online, 4_000)
	for _, a := range []domain.Agent{s3, s1, s2, s4, seen(wsA, "ag-recent", "Recent", domain.Online, 90_000)} {
		mustInsertAgent(t, s, a)
	}
	// OFFLINE agents are never silent, however long ago they were seen,
	// with a pending cleanup or not.
	mustInsertAgent(t, s, seen(wsA, "ag-off", "Off", domain.Offline, 10))
	off := seen(wsB, "ag-off-armed", "Off armed", domain.Offline, 20)
	off.Cleanup = &domain.LogoutCleanup{Epoch: 2, DueAt: at(30)}
	mustInsertAgent(t, s, off)
	// Silent once, then a sign of life: no longer silent.
	touched := seen(wsA, "ag-touched", "Touched", domain.Online, 1_500)
	mustInsertAgent(t, s, touched)
	wantErr(t, "TouchAgent", s.TouchAgent(ctx, wsA, "ag-touched", at(80_000)), nil)
	touched.LastSeenAt = at(80_000)
	// Silent once, then logged out: no longer silent.
	loggedOut := seen(wsB, "ag-out", "Out", domain.Away, 1_200)
	mustInsertAgent(t, s, loggedOut)
	loggedOut.Presence, loggedOut.Version = domain.Offline, 2
	wantErr(t, "UpdateAgent", s.UpdateAgent(ctx, loggedOut), nil)

	for _, tc := range []struct {
		name  string
		t     int
		limit int
		want  []domain.Agent
	}{
		{"silent ones of every workspace come longest silent first", 4_001, 100, []domain.Agent{s1, s2, s3, s4}},
		{"one last seen exactly at t is not silent yet", 3_000, 100, []domain.Agent{s1, s2}},
		{"a limit cuts the list from the longest silent", 100_000, 2, []domain.Agent{s1, s2}},
		{"a sign of life moves an agent back in the list", 85_000, 100, []domain.Agent{s1, s2, s3, s4, touched}},
		{"nobody is silent before the longest silent was seen", 1_000, 100, nil},
		{"a limit of zero returns nothing", 100_000, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.SilentAgents(ctx, at(tc.t), tc.limit)
			wantErr(t, "SilentAgents", err, nil)
			equal(t, "silent agents", got, tc.want)
		})
	}
}
