package domain_test

// Commands losing real races: the SQLite store's own conditions make the
// write lose, because another writer slips in just before it. (An external
// test package: the domain itself imports nothing of the project.)

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/internal/fakeclock"
	"switchboard/store/sqlite"
	"switchboard/store/sqlite/sqlitetest"
)

const ws = "ws-race"

// racedStore is the SQLite store with a hook that runs before a call passes
// through; it records the calls of the service under test, in order.
type racedStore struct {
	domain.Store
	mu     sync.Mutex
	calls  []string
	before func(call string)
}

func (r *racedStore) call(name string) {
	r.mu.Lock()
	r.calls = append(r.calls, name)
	before := r.before
	r.mu.Unlock()
	if before != nil {
		before(name)
	}
}

func (r *racedStore) GetSettings(ctx context.Context, ws string) (domain.Settings, error) {
	r.call("GetSettings")
	return r.Store.GetSettings(ctx, ws)
}

func (r *racedStore) SaveSettings(ctx context.Context, s domain.Settings) error {
	r.call("SaveSettings")
	return r.Store.SaveSettings(ctx, s)
}

func (r *racedStore) AgentsByIDs(ctx context.Context, ws string, ids []string) ([]*domain.Agent, error) {
	r.call("AgentsByIDs")
	return r.Store.AgentsByIDs(ctx, ws, ids)
}

func (r *racedStore) ListAgents(ctx context.Context, ws string, f domain.AgentFilter) ([]domain.Agent, error) {
	r.call("ListAgents")
	return r.Store.ListAgents(ctx, ws, f)
}

func (r *racedStore) InsertAgent(ctx context.Context, a domain.Agent) error {
	r.call("InsertAgent")
	return r.Store.InsertAgent(ctx, a)
}

func (r *racedStore) UpdateAgent(ctx context.Context, a domain.Agent) error {
	r.call("UpdateAgent")
	return r.Store.UpdateAgent(ctx, a)
}

func (r *racedStore) TouchAgent(ctx context.Context, ws, id string, at time.Time) error {
	r.call("TouchAgent")
	return r.Store.TouchAgent(ctx, ws, id, at)
}

func (r *racedStore) ChannelsByIDs(ctx context.Context, ws string, ids []string) ([]*domain.Channel, error) {
	r.call("ChannelsByIDs")
	return r.Store.ChannelsByIDs(ctx, ws, ids)
}

func (r *racedStore) UpsertContact(ctx context.Context, c domain.Contact) (domain.Contact, error) {
	r.call("UpsertContact")
	return r.Store.UpsertContact(ctx, c)
}

func (r *racedStore) ConversationsByIDs(ctx context.Context, ws string, ids []string) ([]*domain.Conversation, error) {
	r.call("ConversationsByIDs")
	return r.Store.ConversationsByIDs(ctx, ws, ids)
}

func (r *racedStore) ContactConversations(ctx context.Context, ws, contactID string) (*domain.Conversation, int64, error) {
	r.call("ContactConversations")
	return r.Store.ContactConversations(ctx, ws, contactID)
}

func (r *racedStore) InsertConversation(ctx context.Context, w domain.ConversationWrite) error {
	r.call("InsertConversation")
	return r.Store.InsertConversation(ctx, w)
}

func (r *racedStore) UpdateConversation(ctx context.Context, w domain.ConversationWrite) error {
	r.call("UpdateConversation")
	return r.Store.UpdateConversation(ctx, w)
}

func (r *racedStore) UpdateConversations(ctx context.Context, ws []domain.ConversationWrite) ([]error, error) {
	r.call("UpdateConversations")
	return r.Store.UpdateConversations(ctx, ws)
}

func (r *racedStore) OwnedConversations(ctx context.Context, q domain.OwnedQuery) ([]domain.Conversation, error) {
	r.call("OwnedConversations")
	return r.Store.OwnedConversations(ctx, q)
}

func (r *racedStore) MessagesByIDs(ctx context.Context, ws string, ids []string) ([]*domain.Message, error) {
	r.call("MessagesByIDs")
	return r.Store.MessagesByIDs(ctx, ws, ids)
}

func (r *racedStore) HistoryEntries(ctx context.Context, ws string, keys []domain.HistoryKey) ([]*domain.OwnershipChange, error) {
	r.call("HistoryEntries")
	return r.Store.HistoryEntries(ctx, ws, keys)
}

// eventLog keeps the conversation changes the store committed.
type eventLog struct {
	mu      sync.Mutex
	changes []domain.ConversationEvent
}

func (l *eventLog) Publish(e domain.Event) {
	if e.Conversation == nil {
		return
	}
	l.mu.Lock()
	l.changes = append(l.changes, *e.Conversation)
	l.mu.Unlock()
}

func (l *eventLog) since(n int) []domain.ConversationEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.changes[n:])
}

func (l *eventLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.changes)
}

// raceEnv is a workspace with an admin, agents ben and cleo and a channel;
// svc is the service under test, other writes straight to the same store.
type raceEnv struct {
	t                      *testing.T
	ctx                    context.Context
	clock                  *fakeclock.Clock
	store                  *racedStore
	events                 *eventLog
	svc, other             *domain.Service
	admin, ben, cleo, feed domain.Actor
	channel                string
}

func newRaceEnv(t *testing.T) *raceEnv {
	t.Helper()
	events := &eventLog{}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	db := sqlitetest.New(t, sqlite.Options{EventSink: events, Logger: quiet})
	e := &raceEnv{
		t: t, ctx: context.Background(), clock: fakeclock.New(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)),
		store: &racedStore{Store: db}, events: events,
		admin: domain.Actor{WorkspaceID: ws, ID: "ada", Role: domain.RoleAdmin, Name: "Ada"},
		ben:   domain.Actor{WorkspaceID: ws, ID: "ben", Role: domain.RoleAgent, Name: "Ben"},
		cleo:  domain.Actor{WorkspaceID: ws, ID: "cleo", Role: domain.RoleAgent, Name: "Cleo"},
		feed:  domain.Actor{WorkspaceID: ws, ID: "feed", Role: domain.RoleIntegration},
	}
	e.svc = domain.NewService(e.store, domain.WithClock(e.clock), domain.WithLogger(quiet), domain.WithInstanceID("here"))
	e.other = domain.NewService(db, domain.WithClock(e.clock), domain.WithLogger(quiet), domain.WithInstanceID("there"))
	for _, a := range []domain.Actor{e.admin, e.ben, e.cleo} {
		if _, err := e.other.Authenticate(e.ctx, claims(a)); err != nil {
			t.Fatalf("provision %s: %v", a.ID, err)
		}
	}
	ch, err := e.other.CreateChannel(e.ctx, e.admin, "Email")
	if err != nil {
		t.Fatal(err)
	}
	e.channel = ch.ID
	return e
}

func claims(a domain.Actor) domain.Claims {
	return domain.Claims{WorkspaceID: a.WorkspaceID, Subject: a.ID, Role: strings.ToLower(string(a.Role)), Name: a.Name}
}

// conversation starts a NEW, unowned conversation (version 1).
func (e *raceEnv) conversation() string {
	e.t.Helper()
	r, err := e.other.IngestInbound(e.ctx, e.feed, domain.InboundCommand{
		ChannelID: e.channel, ContactExternalID: "contact-1", ExternalMessageID: "m-1", Text: "hello",
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return r.ConversationID
}

// race runs do, as the other writer, before the n-th call named call the
// service under test makes (before every one for n = 0), and records that
// service's calls from now on.
func (e *raceEnv) race(call string, n int, do func()) {
	seen := 0
	e.store.mu.Lock()
	defer e.store.mu.Unlock()
	e.store.calls = nil
	e.store.before = func(c string) {
		if c != call {
			return
		}
		if seen++; n == 0 || seen == n {
			do()
		}
	}
}

func (e *raceEnv) wantCalls(want ...string) {
	e.t.Helper()
	e.store.mu.Lock()
	defer e.store.mu.Unlock()
	if !slices.Equal(e.store.calls, want) {
		e.t.Errorf("store calls\n got %v\nwant %v", e.store.calls, want)
	}
}

func (e *raceEnv) mustSetOwner(svc *domain.Service, by domain.Actor, id string, owner *string) {
	e.t.Helper()
	if _, err := svc.SetOwner(e.ctx, by, domain.SetOwnerCommand{ConversationID: id, OwnerID: owner, OwnerGiven: true}); err != nil {
		e.t.Fatalf("set owner: %v", err)
	}
}

func (e *raceEnv) stored(id string) domain.Conversation {
	e.t.Helper()
	c, err := e.other.Conversation(e.ctx, e.admin, id)
	if err != nil || c == nil {
		e.t.Fatalf("conversation %s: %v", id, err)
	}
	return *c
}

func ptr[T any](v T) *T { return &v }

func wantError(t *testing.T, err error, code domain.Code) *domain.Error {
	t.Helper()
	e, ok := err.(*domain.Error)
	if !ok || e.Code != code {
		t.Fatalf("err = %v, want %s", err, code)
	}
	return e
}

func TestALostRaceIsDecidedAgainOnWhatTheNextAttemptLoads(t *testing.T) {
	e := newRaceEnv(t)
	id := e.conversation()
	seen := e.events.len()
	e.race("UpdateConversation", 1, func() { e.mustSetOwner(e.other, e.admin, id, ptr("cleo")) })
	r, err := e.svc.SetOwner(e.ctx, e.admin, domain.SetOwnerCommand{ConversationID: id, OwnerID: ptr("ben"), OwnerGiven: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Conversation.OwnerID != "ben" || r.Conversation.Version != 3 || r.Change == nil || r.Change.FromID != "cleo" {
		t.Errorf("result: owner %q version %d change %+v; want ben at version 3, taken from cleo", r.Conversation.OwnerID, r.Conversation.Version, r.Change)
	}
	e.wantCalls("ConversationsByIDs", "AgentsByIDs", "UpdateConversation", "ConversationsByIDs", "AgentsByIDs", "UpdateConversation")
	events := e.events.since(seen)
	if len(events) != 2 || events[0].After.OwnerID != "cleo" || events[1].Before == nil || events[1].Before.OwnerID != "cleo" || events[1].After.OwnerID != "ben" {
		t.Errorf("events %+v; want cleo's assignment, then ben's taking it from cleo", events)
	}
}

func TestALostRaceWithAnExpectedVersionIsAConflict(t *testing.T) {
	e := newRaceEnv(t)
	id := e.conversation()
	e.race("UpdateConversation", 1, func() { e.mustSetOwner(e.other, e.admin, id, ptr("cleo")) })
	_, err := e.svc.SetOwner(e.ctx, e.admin, domain.SetOwnerCommand{ConversationID: id, OwnerID: ptr("ben"), OwnerGiven: true, ExpectedVersion: ptr(int64(1))})
	if ce := wantError(t, err, domain.CodeConflict); ce.CurrentVersion == nil || *ce.CurrentVersion != 2 {
		t.Errorf("currentVersion %v, want 2", ce.CurrentVersion)
	}
	e.wantCalls("ConversationsByIDs", "AgentsByIDs", "UpdateConversation", "ConversationsByIDs", "AgentsByIDs")
	if c := e.stored(id); c.OwnerID != "cleo" || c.Version != 2 {
		t.Errorf("stored owner %q version %d, want cleo's write alone", c.OwnerID, c.Version)
	}
}

func TestATakeOnlyIfUnownedThatLosesToAnotherOwnerIsAConflict(t *testing.T) {
	e := newRaceEnv(t)
	id := e.conversation()
	e.race("UpdateConversation", 1, func() { e.mustSetOwner(e.other, e.cleo, id, ptr("cleo")) })
	_, err := e.svc.SetOwner(e.ctx, e.ben, domain.SetOwnerCommand{ConversationID: id, OwnerID: ptr("ben"), OwnerGiven: true, OnlyIfUnowned: true})
	wantError(t, err, domain.CodeConflict)
	e.wantCalls("ConversationsByIDs", "AgentsByIDs", "UpdateConversation", "ConversationsByIDs", "AgentsByIDs")
	if c := e.stored(id); c.OwnerID != "cleo" {
		t.Errorf("stored owner %q, want cleo", c.OwnerID)
	}
}

func TestACommandThatKeepsLosingIsTooBusyAfterTheBound(t *testing.T) {
	e := newRaceEnv(t)
	id := e.conversation()
	seen := e.events.len()
	flip := false
	e.race("UpdateConversation", 0, func() {
		if flip = !flip; flip {
			e.mustSetOwner(e.other, e.admin, id, ptr("cleo"))
		} else {
			e.mustSetOwner(e.other, e.admin, id, nil)
		}
	})
	_, err := e.svc.SetOwner(e.ctx, e.admin, domain.SetOwnerCommand{ConversationID: id, OwnerID: ptr("ben"), OwnerGiven: true})
	wantError(t, err, domain.CodeInternal)
	e.store.mu.Lock()
	writes := 0
	for _, c := range e.store.calls {
		if c == "UpdateConversation" {
			writes++
		}
	}
	e.store.mu.Unlock()
	if writes != 100 {
		t.Errorf("%d writes, want 100 attempts", writes)
	}
	for _, ev := range e.events.since(seen) {
		if ev.After.OwnerID == "ben" {
			t.Errorf("an event assigns ben: %+v", ev)
		}
	}
}

func TestTheSameReplyRacingItselfIsOneReply(t *testing.T) {
	e := newRaceEnv(t)
	id := e.conversation()
	cmd := domain.ReplyCommand{ConversationID: id, Text: "on it", ClientMessageID: "r-1"}
	var first domain.ReplyResult
	e.race("UpdateConversation", 1, func() {
		var err error
		if first, err = e.other.Reply(e.ctx, e.ben, cmd); err != nil {
			t.Fatal(err)
		}
	})
	seen := e.events.len()
	r, err := e.svc.Reply(e.ctx, e.ben, cmd)
	if err != nil {
		t.Fatal(err)
	}
	if r.Message.ID != first.Message.ID || r.Conversation.Version != 2 {
		t.Errorf("reply %s at version %d, want the first one's %s at version 2", r.Message.ID, r.Conversation.Version, first.Message.ID)
	}
	e.wantCalls("ConversationsByIDs", "MessagesByIDs", "AgentsByIDs", "ChannelsByIDs", "UpdateConversation",
		"ConversationsByIDs", "MessagesByIDs", "ConversationsByIDs", "HistoryEntries")
	if n := len(e.events.since(seen)); n != 1 {
		t.Errorf("%d events, want the first reply's alone", n)
	}
}

func TestTheSameInboundMessageRacingItselfIsOneMessage(t *testing.T) {
	e := newRaceEnv(t)
	cmd := domain.InboundCommand{ChannelID: e.channel, ContactExternalID: "contact-2", ExternalMessageID: "m-2", Text: "hi"}
	var first domain.InboundResult
	e.race("InsertConversation", 1, func() {
		var err error
		if first, err = e.other.IngestInbound(e.ctx, e.feed, cmd); err != nil {
			t.Fatal(err)
		}
	})
	seen := e.events.len()
	r, err := e.svc.IngestInbound(e.ctx, e.feed, cmd)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Duplicate || r.ConversationID != first.ConversationID || r.MessageID != first.MessageID {
		t.Errorf("result %+v, want a duplicate of %+v", r, first)
	}
	e.wantCalls("ChannelsByIDs", "MessagesByIDs", "UpsertContact", "ContactConversations", "MessagesByIDs", "InsertConversation",
		"ContactConversations", "MessagesByIDs", "ConversationsByIDs")
	if n := len(e.events.since(seen)); n != 1 {
		t.Errorf("%d events, want the first delivery's alone", n)
	}
}

// Another socket signing the agent in first makes this one a sign of life,
// not a second sign-in; a sign of life is noted in memory for the jobs to
// write, not written on the way.
func TestASignInThatLosesToAnotherIsASignOfLife(t *testing.T) {
	e := newRaceEnv(t)
	e.race("UpdateAgent", 1, func() {
		if _, err := e.other.SignIn(e.ctx, e.ben); err != nil {
			t.Fatal(err)
		}
	})
	agent, err := e.svc.SignIn(e.ctx, e.ben)
	if err != nil {
		t.Fatal(err)
	}
	if agent.Presence != domain.Online {
		t.Errorf("presence %s, want ONLINE", agent.Presence)
	}
	e.wantCalls("AgentsByIDs", "UpdateAgent", "AgentsByIDs")
}

// A cleanup whose claim lost to a newer offline epoch is not performed: the
// newer cleanup releases the conversation in its own time.
func TestACleanupReArmedDuringItsClaimIsNotPerformed(t *testing.T) {
	e := newRaceEnv(t)
	id := e.conversation()
	if _, err := e.other.UpdateSettings(e.ctx, e.admin, domain.SettingsPatch{RemoveOwnershipOnLogout: ptr(true), LogoutGraceSeconds: ptr(30)}); err != nil {
		t.Fatal(err)
	}
	e.mustSetOwner(e.other, e.admin, id, ptr("ben"))
	if _, err := e.other.SignIn(e.ctx, e.ben); err != nil {
		t.Fatal(err)
	}
	if _, err := e.other.Logout(e.ctx, e.ben); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(30 * time.Second)
	e.race("UpdateAgent", 1, func() {
		if _, err := e.other.SetPresence(e.ctx, e.ben, domain.Online); err != nil {
			t.Fatal(err)
		}
		if _, err := e.other.Logout(e.ctx, e.ben); err != nil {
			t.Fatal(err)
		}
	})
	n, err := e.svc.RunLogoutCleanup(e.ctx, ws, "ben")
	if err != nil || n != 0 {
		t.Fatalf("released %d (%v), want none", n, err)
	}
	e.wantCalls("AgentsByIDs", "GetSettings", "AgentsByIDs", "UpdateAgent", "AgentsByIDs")
	if c := e.stored(id); c.OwnerID != "ben" {
		t.Errorf("owner %q, want ben until the newer cleanup is due", c.OwnerID)
	}
}

func TestAFirstLoginRacingItselfProvisionsOnce(t *testing.T) {
	e := newRaceEnv(t)
	dana := domain.Actor{WorkspaceID: ws, ID: "dana", Role: domain.RoleAgent, Name: "Dana"}
	e.race("InsertAgent", 1, func() {
		if _, err := e.other.Authenticate(e.ctx, claims(dana)); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := e.svc.Authenticate(e.ctx, claims(dana)); err != nil {
		t.Fatal(err)
	}
	e.wantCalls("AgentsByIDs", "InsertAgent", "AgentsByIDs")
}

func TestASettingsChangeRacingAnotherKeepsBoth(t *testing.T) {
	e := newRaceEnv(t)
	e.race("SaveSettings", 1, func() {
		if _, err := e.other.UpdateSettings(e.ctx, e.admin, domain.SettingsPatch{LogoutGraceSeconds: ptr(45)}); err != nil {
			t.Fatal(err)
		}
	})
	st, err := e.svc.UpdateSettings(e.ctx, e.admin, domain.SettingsPatch{RemoveOwnershipOnLogout: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	if !st.RemoveOwnershipOnLogout || st.LogoutGraceSeconds != 45 {
		t.Errorf("settings %+v, want remove-ownership on with the other writer's grace of 45", st)
	}
	e.wantCalls("GetSettings", "SaveSettings", "GetSettings", "SaveSettings")
}
