// Package storetest is the conformance suite of domain.Store: every store
// (the embedded SQLite one, the MongoDB one) runs it from its own tests with
// Run, against real databases.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"switchboard/domain"
)

// Factory makes the stores the suite runs against.
type Factory struct {
	// New returns a new, empty store; it closes the store when the test ends
	// (t.Cleanup).
	New func(t *testing.T) domain.Store
	// NewPublishing, when set, returns a new, empty store that publishes its
	// committed changes to sink (the EventSink of its Options, for a store
	// that publishes in process). Nil for a store whose events come from a
	// change feed instead: the event subtests then skip.
	NewPublishing func(t *testing.T, sink domain.EventSink) domain.Store
	// Atomic is false for a store whose conditional updates are known not to
	// be atomic under concurrency (a test server with that limit); the race
	// subtests that depend on it skip then.
	Atomic bool
}

// Run runs the whole suite.
func Run(t *testing.T, f Factory) {
	t.Run("Settings", func(t *testing.T) { testSettings(t, f) })
	t.Run("Agents", func(t *testing.T) { testAgents(t, f) })
	t.Run("Channels", func(t *testing.T) { testChannels(t, f) })
	t.Run("Contacts", func(t *testing.T) { testContacts(t, f) })
	t.Run("Conversations", func(t *testing.T) { testConversations(t, f) })
	t.Run("UpdateConversations", func(t *testing.T) { testBulk(t, f) })
	t.Run("Queue", func(t *testing.T) { testQueue(t, f) })
	t.Run("Counts", func(t *testing.T) { testCounts(t, f) })
	t.Run("OwnedConversations", func(t *testing.T) { testOwned(t, f) })
	t.Run("Messages", func(t *testing.T) { testMessages(t, f) })
	t.Run("History", func(t *testing.T) { testHistory(t, f) })
	t.Run("Deliveries", func(t *testing.T) { testDeliveries(t, f) })
	t.Run("Acknowledgements", func(t *testing.T) { testAcks(t, f) })
	t.Run("Sweeps", func(t *testing.T) { testSweeps(t, f) })
	t.Run("Routing", func(t *testing.T) { testRouting(t, f) })
	t.Run("InboundRouting", func(t *testing.T) { testInboundRouting(t, f) })
	t.Run("Probe", func(t *testing.T) { testProbe(t, f) })
	t.Run("WorkspaceIsolation", func(t *testing.T) { testIsolation(t, f) })
	t.Run("QuerySyntaxLookalikes", func(t *testing.T) { testLookalikes(t, f) })
	t.Run("Events", func(t *testing.T) { testEvents(t, f) })
	t.Run("EventLog", func(t *testing.T) { testEventLog(t, f) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, f) })
}

// Workspaces of the suite: A is the one under test, B holds look-alike
// records (often with the same ids) that A must never see.
const (
	wsA = "ws-a"
	wsB = "ws-b"
)

// t0 is the suite's epoch: UTC with millisecond precision, like every time a
// store keeps.
var t0 = time.Date(2025, 3, 14, 9, 26, 53, 589_000_000, time.UTC)

// at is t0 plus ms milliseconds.
func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func ptr[T any](v T) *T { return &v }

var ctx = context.Background()

// Fixtures. Each returns a complete record, every field set, so that a round
// trip checks every column.

func newAgent(ws, id, name string) domain.Agent {
	return domain.Agent{
		WorkspaceID: ws, ID: id, Name: name, Email: id + "@example.test", Role: domain.RoleAgent, Active: true,
		Presence: domain.Offline, PresenceSince: at(1), OfflineEpoch: 2, LastSeenAt: at(2),
		CreatedAt: at(3), UpdatedAt: at(4), Version: 1,
	}
}

func newChannel(ws, id, name string) domain.Channel {
	return domain.Channel{WorkspaceID: ws, ID: id, Name: name, CreatedAt: at(5)}
}

// newConversation is conversation id of workspace ws in a queue, owned by
// owner ("" for none), waiting since waiting, at version 1.
func newConversation(ws, id string, status domain.QueueStatus, owner string, waiting time.Time) domain.Conversation {
	c := domain.Conversation{
		WorkspaceID: ws, ID: id, ChannelID: "ch-1", ContactID: "ct-" + id, Seq: 1, Status: status,
		WaitingSince: waiting, CreatedAt: at(6), UpdatedAt: at(7), Version: 1,
	}
	if owner != "" {
		c.OwnerID, c.OwnedSince, c.OwnerEpoch, c.OwnerVersion = owner, ptr(at(8)), 3, 1
	}
	if status == domain.StatusPending {
		c.BoomerangAt = ptr(at(9_000))
	}
	return c
}

func newMessage(c domain.Conversation, id string) *domain.Message {
	return &domain.Message{
		WorkspaceID: c.WorkspaceID, ID: id, ConversationID: c.ID, Direction: domain.Inbound,
		Text: "message " + id, ExternalID: "ext-" + id, Version: c.Version, CreatedAt: c.UpdatedAt,
	}
}

// creation is the write that creates c with its first message.
func creation(c domain.Conversation) domain.ConversationWrite {
	return domain.ConversationWrite{Conversation: c, Message: newMessage(c, "m-"+c.ID+"-1")}
}

// change is the write that moves c to its next version, as edit leaves it.
func change(c domain.Conversation, edit func(*domain.Conversation)) domain.ConversationWrite {
	before := c
	next := c
	edit(&next)
	next.Version = c.Version + 1
	next.UpdatedAt = c.UpdatedAt.Add(time.Second)
	return domain.ConversationWrite{Conversation: next, Before: &before}
}

// assignment is the write that makes owner the owner of c, with its history
// entry and a reply.
func assignment(c domain.Conversation, owner, actor string) domain.ConversationWrite {
	w := change(c, func(n *domain.Conversation) {
		n.OwnerID = owner
		n.OwnedSince = ptr(n.UpdatedAt)
		n.OwnerEpoch = 5
		n.AssignedWhileOffline = true
	})
	n := &w.Conversation
	n.OwnerVersion = n.Version
	w.Change = &domain.OwnershipChange{
		WorkspaceID: n.WorkspaceID, ID: domain.HistoryID(n.ID, n.Version), ConversationID: n.ID, Version: n.Version,
		Status: n.Status, At: n.UpdatedAt, FromID: c.OwnerID, ToID: owner, ActorID: actor, Reason: domain.ReasonManual,
	}
	w.Message = &domain.Message{
		WorkspaceID: n.WorkspaceID, ID: fmt.Sprintf("m-%s-%d", n.ID, n.Version), ConversationID: n.ID,
		Direction: domain.Outbound, Text: "on it", AuthorID: actor, Version: n.Version, CreatedAt: n.UpdatedAt,
	}
	return w
}

// Store calls that must succeed.

func mustInsertAgent(t *testing.T, s domain.Store, a domain.Agent) {
	t.Helper()
	if err := s.InsertAgent(ctx, a); err != nil {
		t.Fatalf("InsertAgent(%s/%s): %v", a.WorkspaceID, a.ID, err)
	}
}

func mustInsertChannel(t *testing.T, s domain.Store, c domain.Channel) {
	t.Helper()
	if err := s.InsertChannel(ctx, c); err != nil {
		t.Fatalf("InsertChannel(%s/%s): %v", c.WorkspaceID, c.ID, err)
	}
}

func mustInsert(t *testing.T, s domain.Store, w domain.ConversationWrite) domain.Conversation {
	t.Helper()
	if err := s.InsertConversation(ctx, w); err != nil {
		t.Fatalf("InsertConversation(%s/%s): %v", w.Conversation.WorkspaceID, w.Conversation.ID, err)
	}
	return w.Conversation
}

func mustUpdate(t *testing.T, s domain.Store, w domain.ConversationWrite) domain.Conversation {
	t.Helper()
	if err := s.UpdateConversation(ctx, w); err != nil {
		t.Fatalf("UpdateConversation(%s/%s v%d): %v", w.Conversation.WorkspaceID, w.Conversation.ID, w.Conversation.Version, err)
	}
	return w.Conversation
}

func mustConversation(t *testing.T, s domain.Store, ws, id string) *domain.Conversation {
	t.Helper()
	cs, err := s.ConversationsByIDs(ctx, ws, []string{id})
	if err != nil {
		t.Fatalf("ConversationsByIDs: %v", err)
	}
	if len(cs) != 1 {
		t.Fatalf("ConversationsByIDs returned %d results for 1 key", len(cs))
	}
	return cs[0]
}

func mustAgent(t *testing.T, s domain.Store, ws, id string) *domain.Agent {
	t.Helper()
	as, err := s.AgentsByIDs(ctx, ws, []string{id})
	if err != nil {
		t.Fatalf("AgentsByIDs: %v", err)
	}
	if len(as) != 1 {
		t.Fatalf("AgentsByIDs returned %d results for 1 key", len(as))
	}
	return as[0]
}

func mustMessage(t *testing.T, s domain.Store, ws, id string) *domain.Message {
	t.Helper()
	ms, err := s.MessagesByIDs(ctx, ws, []string{id})
	if err != nil {
		t.Fatalf("MessagesByIDs: %v", err)
	}
	if len(ms) != 1 {
		t.Fatalf("MessagesByIDs returned %d results for 1 key", len(ms))
	}
	return ms[0]
}

func mustHistory(t *testing.T, s domain.Store, ws, conversationID string) []domain.OwnershipChange {
	t.Helper()
	h, err := s.ListHistory(ctx, domain.HistoryQuery{WorkspaceID: ws, ConversationID: conversationID, Limit: 1000})
	if err != nil {
		t.Fatalf("ListHistory: %v", err)
	}
	return h
}

// Assertions.

// wantErr fails unless err is target (nil for success).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	switch {
	case target == nil && err != nil:
		t.Fatalf("%s: unexpected error %v", what, err)
	case target != nil && !errors.Is(err, target):
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// equal fails unless got and want hold the same values: times are compared
// as instants and must be UTC, and a nil slice equals an empty one.
func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !same(reflect.ValueOf(got), reflect.ValueOf(want)) {
		t.Errorf("%s:\n got %s\nwant %s", what, show(got), show(want))
	}
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
}

var timeType = reflect.TypeOf(time.Time{})

func same(a, b reflect.Value) bool {
	if !a.IsValid() || !b.IsValid() {
		return a.IsValid() == b.IsValid()
	}
	if a.Type() != b.Type() {
		return false
	}
	if a.Type() == timeType {
		ta, tb := a.Interface().(time.Time), b.Interface().(time.Time)
		return ta.Equal(tb) && ta.Location() == time.UTC && tb.Location() == time.UTC
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return same(a.Elem(), b.Elem())
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return false
		}
		for i := 0; i < a.Len(); i++ {
			if !same(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			if !same(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.Len() != b.Len() {
			return false
		}
		for _, k := range a.MapKeys() {
			if !same(a.MapIndex(k), b.MapIndex(k)) {
				return false
			}
		}
		return true
	default:
		return a.Equal(b)
	}
}

// withoutSnapshot is h as a store returns it: without the conversation
// snapshot that only events and mutation payloads carry.
func withoutSnapshot(h *domain.OwnershipChange) *domain.OwnershipChange {
	if h == nil {
		return nil
	}
	c := *h
	c.Conversation = nil
	return &c
}
