package mongostore_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"switchboard/domain"
	mongostore "switchboard/store/mongo"
	"switchboard/store/mongo/mongotest"
)

var (
	bg = context.Background()
	t0 = time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
)

// crashedWrites commits a conversation (v1, with its first message) and two
// changes (v2: an assignment with its history entry and a reply; v3: a
// message only), each stopped right after its conditional update, as if the
// process had died before copying anything out of pending.
func crashedWrites(t *testing.T, s *mongostore.Store) (msgs []domain.Message, history []domain.OwnershipChange) {
	t.Helper()
	mongostore.CrashAfterCommit(s, true)
	defer mongostore.CrashAfterCommit(s, false)
	c := domain.Conversation{WorkspaceID: "ws", ID: "cv-1", ChannelID: "ch-1", ContactID: "ct-1", Seq: 1, Status: domain.StatusNew,
		WaitingSince: t0, CreatedAt: t0, UpdatedAt: t0, Version: 1}
	m1 := domain.Message{WorkspaceID: "ws", ID: "m-1", ConversationID: "cv-1", Direction: domain.Inbound, Text: "hello", ExternalID: "e-1", Version: 1, CreatedAt: t0}
	if err := s.InsertConversation(bg, domain.ConversationWrite{Conversation: c, Message: &m1}); err != nil {
		t.Fatal(err)
	}
	before := c
	c.Version, c.UpdatedAt, c.OwnerID, c.OwnedSince, c.OwnerVersion = 2, t0.Add(time.Second), "ag-1", ptr(t0.Add(time.Second)), 2
	h2 := domain.OwnershipChange{WorkspaceID: "ws", ID: domain.HistoryID("cv-1", 2), ConversationID: "cv-1", Version: 2,
		Status: domain.StatusNew, At: c.UpdatedAt, ToID: "ag-1", ActorID: "ag-1", Reason: domain.ReasonAutoOwnership}
	m2 := domain.Message{WorkspaceID: "ws", ID: "m-2", ConversationID: "cv-1", Direction: domain.Outbound, Text: "on it", AuthorID: "ag-1", Version: 2, CreatedAt: c.UpdatedAt}
	if err := s.UpdateConversation(bg, domain.ConversationWrite{Conversation: c, Before: &before, Change: &h2, Message: &m2}); err != nil {
		t.Fatal(err)
	}
	before = c
	c.Version, c.UpdatedAt = 3, t0.Add(2*time.Second)
	m3 := domain.Message{WorkspaceID: "ws", ID: "m-3", ConversationID: "cv-1", Direction: domain.Inbound, Text: "thanks", ExternalID: "e-3", Version: 3, CreatedAt: c.UpdatedAt}
	if err := s.UpdateConversation(bg, domain.ConversationWrite{Conversation: c, Before: &before, Message: &m3}); err != nil {
		t.Fatal(err)
	}
	return []domain.Message{m1, m2, m3}, []domain.OwnershipChange{h2}
}

func ptr[T any](v T) *T { return &v }

func count(t *testing.T, s *mongostore.Store, coll string, filter bson.D) int64 {
	t.Helper()
	n, err := s.Database().Collection(coll).CountDocuments(bg, filter)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// wantReaders checks that every read of messages and history sees exactly
// the committed ones, once each.
func wantReaders(t *testing.T, s *mongostore.Store, msgs []domain.Message, history []domain.OwnershipChange) {
	t.Helper()
	same := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
		}
	}
	got, err := s.ListMessages(bg, domain.MessageQuery{WorkspaceID: "ws", ConversationID: "cv-1", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	same("ListMessages", got, msgs)
	got, err = s.ListMessages(bg, domain.MessageQuery{WorkspaceID: "ws", ConversationID: "cv-1", Limit: 2, NewestFirst: true})
	if err != nil {
		t.Fatal(err)
	}
	same("ListMessages, newest first", got, []domain.Message{msgs[2], msgs[1]})
	got, err = s.ListMessages(bg, domain.MessageQuery{WorkspaceID: "ws", ConversationID: "cv-1", AfterVersion: 1, BeforeVersion: 3, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	same("ListMessages between versions", got, msgs[1:2])
	byID, err := s.MessagesByIDs(bg, "ws", []string{"m-3", "nope", "m-1", "m-2"})
	if err != nil {
		t.Fatal(err)
	}
	same("MessagesByIDs", byID, []*domain.Message{&msgs[2], nil, &msgs[0], &msgs[1]})
	other, err := s.MessagesByIDs(bg, "ws-other", []string{"m-1"})
	if err != nil {
		t.Fatal(err)
	}
	same("MessagesByIDs of another workspace", other, []*domain.Message{nil})

	h, err := s.ListHistory(bg, domain.HistoryQuery{WorkspaceID: "ws", ConversationID: "cv-1", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	same("ListHistory", h, history)
	h, err = s.ListHistory(bg, domain.HistoryQuery{WorkspaceID: "ws", ConversationID: "cv-1", Limit: 1, NewestFirst: true})
	if err != nil {
		t.Fatal(err)
	}
	same("ListHistory, newest first", h, history)
	h, err = s.ListHistory(bg, domain.HistoryQuery{WorkspaceID: "ws", ConversationID: "cv-1", BeforeVersion: 3, Limit: 10, NewestFirst: true})
	if err != nil {
		t.Fatal(err)
	}
	same("ListHistory before a version", h, history)
	h, err = s.ListHistory(bg, domain.HistoryQuery{WorkspaceID: "ws", ConversationID: "cv-1", BeforeVersion: 2, Limit: 10, NewestFirst: true})
	if err != nil {
		t.Fatal(err)
	}
	same("ListHistory before its only entry", h, []domain.OwnershipChange(nil))
	entries, err := s.HistoryEntries(bg, "ws", []domain.HistoryKey{{ConversationID: "cv-1", Version: 3}, {ConversationID: "cv-1", Version: 2}})
	if err != nil {
		t.Fatal(err)
	}
	same("HistoryEntries", entries, []*domain.OwnershipChange{nil, &history[0]})
}

func TestReconcileCopiesWhatACrashLeftPending(t *testing.T) {
	s := mongotest.New(t, mongostore.Options{})
	msgs, history := crashedWrites(t, s)

	// The crash left everything in the conversation's pending list.
	if n := count(t, s, "messages", bson.D{}); n != 0 {
		t.Fatalf("%d messages copied before the reconciler ran", n)
	}
	if n := count(t, s, "history", bson.D{}); n != 0 {
		t.Fatalf("%d history entries copied before the reconciler ran", n)
	}
	if n := count(t, s, "conversations", bson.D{{Key: "pending.id", Value: bson.D{{Key: "$gt", Value: ""}}}}); n != 1 {
		t.Fatalf("%d conversations with pending items, want 1", n)
	}

	t.Run("readers see pending items before the reconciler runs", func(t *testing.T) {
		wantReaders(t, s, msgs, history)
	})

	t.Run("a pending message id is taken", func(t *testing.T) {
		cs, err := s.ConversationsByIDs(bg, "ws", []string{"cv-1"})
		if err != nil {
			t.Fatal(err)
		}
		next := *cs[0]
		next.Version++
		m := msgs[2]
		m.Version = next.Version
		if err := s.UpdateConversation(bg, domain.ConversationWrite{Conversation: next, Before: cs[0], Message: &m}); !errors.Is(err, domain.ErrDuplicate) {
			t.Fatalf("UpdateConversation with a pending message's id: %v, want ErrDuplicate", err)
		}
	})

	t.Run("an item copied but not yet cleared is read once", func(t *testing.T) {
		// As if the crash came between the copy and the pull: copy m-1 by
		// hand from the pending list.
		var doc struct {
			Pending []bson.Raw `bson:"pending"`
		}
		if err := s.Database().Collection("conversations").FindOne(bg, bson.D{{Key: "id", Value: "cv-1"}}).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.Pending) != 4 {
			t.Fatalf("%d pending items, want 4", len(doc.Pending))
		}
		first, err := doc.Pending[0].LookupErr("message")
		if err != nil {
			t.Fatalf("the first pending item is not the first message: %v", doc.Pending[0])
		}
		if _, err := s.Database().Collection("messages").InsertOne(bg, first.Document()); err != nil {
			t.Fatal(err)
		}
		wantReaders(t, s, msgs, history)
	})

	t.Run("the reconciler copies each item once, and readers see the same", func(t *testing.T) {
		// Two at once, as two instances would at start-up.
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = s.Reconcile(bg)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if n := count(t, s, "messages", bson.D{}); n != 3 {
			t.Errorf("%d messages after reconciling, want 3", n)
		}
		if n := count(t, s, "history", bson.D{}); n != 1 {
			t.Errorf("%d history entries after reconciling, want 1", n)
		}
		if n := count(t, s, "conversations", bson.D{{Key: "pending.id", Value: bson.D{{Key: "$gt", Value: ""}}}}); n != 0 {
			t.Errorf("%d conversations still have pending items", n)
		}
		wantReaders(t, s, msgs, history)
		n, err := s.Reconcile(bg)
		if err != nil || n != 0 {
			t.Errorf("Reconcile again: %d items, %v; want 0", n, err)
		}
	})

	t.Run("Open reconciles what a crashed instance left", func(t *testing.T) {
		crashed := mongotest.New(t, mongostore.Options{})
		msgs, history := crashedWrites(t, crashed)
		again, err := mongostore.Open(bg, mongotest.URI(t), mongostore.Options{Database: crashed.Database().Name(), Logger: mongotest.Quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		if n := count(t, again, "messages", bson.D{}); n != 3 {
			t.Errorf("%d messages after Open, want 3", n)
		}
		if n := count(t, again, "conversations", bson.D{{Key: "pending.id", Value: bson.D{{Key: "$gt", Value: ""}}}}); n != 0 {
			t.Errorf("%d conversations still have pending items after Open", n)
		}
		wantReaders(t, again, msgs, history)
	})
}

func TestWritesAfterACrashKeepTheirOrder(t *testing.T) {
	// A conversation whose last change was left pending takes new changes
	// as usual; the reconciler then copies old and new alike, once each.
	s := mongotest.New(t, mongostore.Options{})
	msgs, history := crashedWrites(t, s)
	cs, err := s.ConversationsByIDs(bg, "ws", []string{"cv-1"})
	if err != nil {
		t.Fatal(err)
	}
	next := *cs[0]
	next.Version = 4
	m4 := domain.Message{WorkspaceID: "ws", ID: "m-4", ConversationID: "cv-1", Direction: domain.Inbound, Text: "more", Version: 4, CreatedAt: t0}
	if err := s.UpdateConversation(bg, domain.ConversationWrite{Conversation: next, Before: cs[0], Message: &m4}); err != nil {
		t.Fatal(err)
	}
	msgs = append(msgs, m4)
	got, err := s.ListMessages(bg, domain.MessageQuery{WorkspaceID: "ws", ConversationID: "cv-1", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, msgs) {
		t.Errorf("ListMessages:\n got %+v\nwant %+v", got, msgs)
	}
	if _, err := s.Reconcile(bg); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, "messages", bson.D{}); n != 4 {
		t.Errorf("%d messages, want 4", n)
	}
	if h, err := s.ListHistory(bg, domain.HistoryQuery{WorkspaceID: "ws", ConversationID: "cv-1", Limit: 10}); err != nil || !reflect.DeepEqual(h, history) {
		t.Errorf("ListHistory = %+v, %v; want %+v", h, err, history)
	}
	for i := range 3 {
		if err := s.AcknowledgeAssignments(bg, "ws", "ag-1", []domain.HistoryKey{{ConversationID: "cv-1", Version: 2}}); err != nil {
			t.Fatalf("acknowledge #%d: %v", i, err)
		}
	}
	if n := count(t, s, "acks", bson.D{}); n != 1 {
		t.Errorf("%d acknowledgements after acknowledging one three times", n)
	}
}
