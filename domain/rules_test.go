package domain

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func conv(status QueueStatus, owner string) Conversation {
	c := Conversation{WorkspaceID: "ws", ID: "cv_1", ChannelID: "ch", ContactID: "ct", Status: status,
		WaitingSince: t0.Add(-time.Hour), CreatedAt: t0.Add(-2 * time.Hour), Version: 7}
	if owner != "" {
		since := t0.Add(-time.Hour)
		c.OwnerID, c.OwnedSince, c.OwnerVersion, c.OwnerEpoch = owner, &since, 5, 1
	}
	return c
}

func agent(id string, p Presence) *Agent {
	return &Agent{WorkspaceID: "ws", ID: id, Name: id, Role: RoleAgent, Active: true, Presence: p, OfflineEpoch: 3, Version: 11}
}

// outcome is what a test expects of a plan.
type outcome struct {
	changed bool
	status  QueueStatus
	owner   string
	reason  Reason // "" when no history entry
	actor   string
}

func check(t *testing.T, p *plan, want outcome) {
	t.Helper()
	if p.changed() != want.changed {
		t.Fatalf("changed = %v, want %v", p.changed(), want.changed)
	}
	if !want.changed {
		return
	}
	w := p.write()
	c := w.Conversation
	if c.Version != p.before.Version+1 || !c.UpdatedAt.Equal(t0) {
		t.Errorf("version %d updatedAt %v, want %d and now", c.Version, c.UpdatedAt, p.before.Version+1)
	}
	if c.Status != want.status || c.OwnerID != want.owner {
		t.Errorf("status %s owner %q, want %s %q", c.Status, c.OwnerID, want.status, want.owner)
	}
	if want.reason == "" {
		if w.Change != nil {
			t.Errorf("history entry %+v, want none", *w.Change)
		}
		return
	}
	ch := w.Change
	if ch == nil {
		t.Fatalf("no history entry, want %s", want.reason)
	}
	if ch.Reason != want.reason || ch.ActorID != want.actor || ch.FromID != p.before.OwnerID || ch.ToID != want.owner ||
		ch.Version != c.Version || ch.Status != c.Status || ch.ID != HistoryID(c.ID, c.Version) || ch.Conversation == nil {
		t.Errorf("history entry %+v, want reason %s actor %q from %q to %q at version %d", *ch, want.reason, want.actor, p.before.OwnerID, want.owner, c.Version)
	}
}

func TestRuleSetOwner(t *testing.T) {
	ben, cleo := agent("ben", Online), agent("cleo", Offline)
	tests := []struct {
		name  string
		c     Conversation
		owner *Agent
		want  outcome
		err   Code
	}{
		{"assigning an unowned NEW conversation records MANUAL by the actor", conv(StatusNew, ""), ben, outcome{true, StatusNew, "ben", ReasonManual, "ada"}, ""},
		{"reassigning moves the owner", conv(StatusPending, "ben"), cleo, outcome{true, StatusPending, "cleo", ReasonManual, "ada"}, ""},
		{"clearing the owner records MANUAL", conv(StatusNew, "ben"), nil, outcome{true, StatusNew, "", ReasonManual, "ada"}, ""},
		{"the owner it has is a no-op", conv(StatusNew, "ben"), ben, outcome{changed: false}, ""},
		{"unowned to unowned is a no-op", conv(StatusNew, ""), nil, outcome{changed: false}, ""},
		{"a RESOLVED conversation cannot get an owner", conv(StatusResolved, ""), ben, outcome{}, CodeInvalid},
		{"clearing a RESOLVED conversation is a no-op", conv(StatusResolved, ""), nil, outcome{changed: false}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ruleSetOwner(tt.c, tt.owner, "ada", t0)
			if tt.err != "" {
				if ErrorCode(err) != tt.err {
					t.Fatalf("err = %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			check(t, p, tt.want)
		})
	}
}

func TestAssignmentRecordsOwnerEpochPresenceAndVersion(t *testing.T) {
	cleo := agent("cleo", Offline)
	p, _ := ruleSetOwner(conv(StatusNew, ""), cleo, "ada", t0)
	w := p.write()
	c := w.Conversation
	if c.OwnerEpoch != cleo.OfflineEpoch || !c.AssignedWhileOffline || c.OwnerVersion != c.Version || !c.OwnedSince.Equal(t0) {
		t.Fatalf("owner fields %+v", c)
	}
	if w.OwnerCheck == nil || *w.OwnerCheck != (AgentVersion{AgentID: "cleo", Version: cleo.Version}) {
		t.Fatalf("owner check %+v, want the assigned agent at the version read", w.OwnerCheck)
	}
	// Taking a conversation yourself while OFFLINE is not a missed assignment.
	p, _ = ruleSetOwner(conv(StatusNew, ""), cleo, "cleo", t0)
	if p.write().Conversation.AssignedWhileOffline {
		t.Fatal("self-assignment while offline counted as missed")
	}
	// Clearing resets every owner field.
	p, _ = ruleSetOwner(c, nil, "ada", t0.Add(time.Second))
	p.now = t0
	cleared := p.write().Conversation
	if cleared.OwnedSince != nil || cleared.OwnerEpoch != 0 || cleared.AssignedWhileOffline || cleared.OwnerVersion != 0 {
		t.Fatalf("cleared owner fields %+v", cleared)
	}
}

func TestRuleMoves(t *testing.T) {
	future := t0.Add(time.Hour)
	withBoomerang := conv(StatusPending, "ben")
	withBoomerang.BoomerangAt = &future
	tests := []struct {
		name string
		plan func() (*plan, error)
		want outcome
		err  Code
	}{
		{"resolve removes the owner with reason RESOLVED", func() (*plan, error) { return ruleResolve(conv(StatusNew, "ben"), "ada", t0), nil },
			outcome{true, StatusResolved, "", ReasonResolved, "ada"}, ""},
		{"resolving an unowned conversation makes no history", func() (*plan, error) { return ruleResolve(conv(StatusPending, ""), "ada", t0), nil },
			outcome{true, StatusResolved, "", "", ""}, ""},
		{"resolving a RESOLVED conversation is a no-op", func() (*plan, error) { return ruleResolve(conv(StatusResolved, ""), "ada", t0), nil },
			outcome{changed: false}, ""},
		{"moveToNew from PENDING keeps the owner", func() (*plan, error) { return ruleMoveToNew(conv(StatusPending, "ben"), "ada", t0), nil },
			outcome{true, StatusNew, "ben", "", ""}, ""},
		{"moveToNew reopens a RESOLVED conversation unowned", func() (*plan, error) { return ruleMoveToNew(conv(StatusResolved, ""), "ada", t0), nil },
			outcome{true, StatusNew, "", "", ""}, ""},
		{"moveToNew on NEW is a no-op", func() (*plan, error) { return ruleMoveToNew(conv(StatusNew, "ben"), "ada", t0), nil },
			outcome{changed: false}, ""},
		{"moveToPending from NEW keeps the owner", func() (*plan, error) { return ruleMoveToPending(conv(StatusNew, "ben"), &future, "ada", t0) },
			outcome{true, StatusPending, "ben", "", ""}, ""},
		{"moveToPending with the same boomerang is a no-op", func() (*plan, error) { return ruleMoveToPending(withBoomerang, &future, "ada", t0) },
			outcome{changed: false}, ""},
		{"a new boomerang on a PENDING conversation is a change", func() (*plan, error) {
			later := future.Add(time.Minute)
			return ruleMoveToPending(withBoomerang, &later, "ada", t0)
		}, outcome{true, StatusPending, "ben", "", ""}, ""},
		{"moveToPending without a boomerang clears one", func() (*plan, error) { return ruleMoveToPending(withBoomerang, nil, "ada", t0) },
			outcome{true, StatusPending, "ben", "", ""}, ""},
		{"a boomerang now is refused", func() (*plan, error) { return ruleMoveToPending(conv(StatusNew, ""), &t0, "ada", t0) }, outcome{}, CodeInvalid},
		{"a RESOLVED conversation cannot move to PENDING", func() (*plan, error) { return ruleMoveToPending(conv(StatusResolved, ""), nil, "ada", t0) }, outcome{}, CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.plan()
			if tt.err != "" {
				if ErrorCode(err) != tt.err {
					t.Fatalf("err = %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			check(t, p, tt.want)
		})
	}
}

func TestStatusChangeRestartsWaitingAndLeavingPendingDropsBoomerang(t *testing.T) {
	future := t0.Add(time.Hour)
	c := conv(StatusPending, "ben")
	c.BoomerangAt = &future
	w := ruleMoveToNew(c, "ada", t0).write()
	if !w.Conversation.WaitingSince.Equal(t0) || w.Conversation.BoomerangAt != nil {
		t.Fatalf("waitingSince %v boomerang %v", w.Conversation.WaitingSince, w.Conversation.BoomerangAt)
	}
	// A change within the queue keeps waitingSince.
	later := future.Add(time.Hour)
	p, _ := ruleMoveToPending(c, &later, "ada", t0)
	if got := p.write().Conversation.WaitingSince; !got.Equal(c.WaitingSince) {
		t.Fatalf("waitingSince moved to %v on a boomerang change", got)
	}
}

func TestRuleReply(t *testing.T) {
	ben := agent("ben", Online)
	tests := []struct {
		name    string
		c       Conversation
		autoOwn bool
		then    QueueStatus
		want    outcome
	}{
		{"a reply leaves the queue and owner as they are", conv(StatusNew, "cleo"), true, "", outcome{true, StatusNew, "cleo", "", ""}},
		{"auto-ownership makes the author owner of an unowned conversation", conv(StatusNew, ""), true, "", outcome{true, StatusNew, "ben", ReasonAutoOwnership, "ben"}},
		{"without auto-ownership an unowned conversation stays unowned", conv(StatusNew, ""), false, "", outcome{true, StatusNew, "", "", ""}},
		{"auto-ownership then PENDING is one change owned by the author", conv(StatusNew, ""), true, StatusPending, outcome{true, StatusPending, "ben", ReasonAutoOwnership, "ben"}},
		{"auto-ownership then RESOLVED nets to no ownership change", conv(StatusNew, ""), true, StatusResolved, outcome{true, StatusResolved, "", "", ""}},
		{"an owned conversation resolved by a reply records RESOLVED by the author", conv(StatusPending, "cleo"), true, StatusResolved, outcome{true, StatusResolved, "", ReasonResolved, "ben"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ruleReply(tt.c, replyRule{author: ben, autoOwn: tt.autoOwn, text: "hi", messageID: "mo_1", thenMoveTo: tt.then}, t0)
			if err != nil {
				t.Fatal(err)
			}
			check(t, p, tt.want)
			w := p.write()
			if w.Message == nil || w.Message.Version != w.Conversation.Version || w.Message.AuthorID != "ben" || w.Message.Direction != Outbound {
				t.Fatalf("message %+v", w.Message)
			}
			if tt.want.owner == "" && w.OwnerCheck != nil {
				t.Fatalf("owner check %+v on a change that assigns nobody", w.OwnerCheck)
			}
		})
	}
	if _, err := ruleReply(conv(StatusResolved, ""), replyRule{author: ben, text: "hi"}, t0); ErrorCode(err) != CodeInvalid {
		t.Fatalf("reply to RESOLVED: err = %v", err)
	}
}

func TestRuleInboundAndBoomerang(t *testing.T) {
	on := Settings{RemoveOwnershipOnLogout: true, LogoutGraceSeconds: 30}
	off := Settings{LogoutGraceSeconds: 30}
	msg := Message{ID: "mi_1", Direction: Inbound, Text: "hello"}
	tests := []struct {
		name     string
		c        Conversation
		owner    *Agent
		settings Settings
		want     outcome
		boomWant outcome
	}{
		{"on NEW it stays NEW with its owner, offline or not", conv(StatusNew, "ben"), agent("ben", Offline), on,
			outcome{true, StatusNew, "ben", "", ""}, outcome{changed: false}},
		{"on PENDING with an online owner it moves to NEW with the owner", conv(StatusPending, "ben"), agent("ben", Online), on,
			outcome{true, StatusNew, "ben", "", ""}, outcome{true, StatusNew, "ben", "", ""}},
		{"on PENDING with an offline owner and the setting on it releases the owner", conv(StatusPending, "ben"), agent("ben", Offline), on,
			outcome{true, StatusNew, "", ReasonInboundWhileOffline, ""}, outcome{true, StatusNew, "", ReasonBoomerangWhileOffline, ""}},
		{"with the setting off an offline owner keeps it", conv(StatusPending, "ben"), agent("ben", Offline), off,
			outcome{true, StatusNew, "ben", "", ""}, outcome{true, StatusNew, "ben", "", ""}},
		{"on unowned PENDING it just moves to NEW", conv(StatusPending, ""), nil, on,
			outcome{true, StatusNew, "", "", ""}, outcome{true, StatusNew, "", "", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, ruleInbound(tt.c, msg, tt.owner, tt.settings, t0), tt.want)
			check(t, ruleBoomerang(tt.c, tt.owner, tt.settings, t0), tt.boomWant)
		})
	}
}

func TestRuleLogoutCleanup(t *testing.T) {
	before := conv(StatusNew, "ben") // OwnerEpoch 1
	tests := []struct {
		name  string
		c     Conversation
		epoch int64
		want  outcome
	}{
		{"a NEW conversation assigned before going offline is released by the system", before, 2, outcome{true, StatusNew, "", ReasonLogoutCleanup, ""}},
		{"one assigned after going offline (same epoch) is kept", before, 1, outcome{changed: false}},
		{"PENDING keeps its owner", conv(StatusPending, "ben"), 2, outcome{changed: false}},
		{"another owner's conversation is left alone", conv(StatusNew, "cleo"), 2, outcome{changed: false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { check(t, ruleLogoutCleanup(tt.c, "ben", tt.epoch, t0), tt.want) })
	}
}

func TestGoOfflineArmsTheCleanupOnlyWithTheSettingOn(t *testing.T) {
	a := agent("ben", Online)
	goOffline(a, Settings{RemoveOwnershipOnLogout: true, LogoutGraceSeconds: 20, SwitchedOffCount: 4}, t0)
	if a.Presence != Offline || a.OfflineEpoch != 4 || a.Cleanup == nil ||
		*a.Cleanup != (LogoutCleanup{Epoch: 4, DueAt: t0.Add(20 * time.Second), SettingsSwitchedOffCount: 4}) {
		t.Fatalf("agent after going offline: %+v cleanup %+v", a, a.Cleanup)
	}
	b := agent("cleo", Away)
	goOffline(b, Settings{LogoutGraceSeconds: 20}, t0)
	if b.Cleanup != nil || b.OfflineEpoch != 4 {
		t.Fatalf("setting off: cleanup %+v epoch %d", b.Cleanup, b.OfflineEpoch)
	}
}

func TestOwnershipLabel(t *testing.T) {
	for _, tt := range []struct {
		status QueueStatus
		name   string
		want   string
	}{
		{StatusNew, "Ben", "Waiting on Ben"},
		{StatusPending, "Ben", "Owned by Ben"},
		{StatusResolved, "Ben", ""},
		{StatusNew, "", ""},
	} {
		if got := OwnershipLabel(tt.status, tt.name); got != tt.want {
			t.Errorf("OwnershipLabel(%s, %q) = %q, want %q", tt.status, tt.name, got, tt.want)
		}
	}
}
