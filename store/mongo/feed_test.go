package mongostore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"switchboard/domain"
	mongostore "switchboard/store/mongo"
	"switchboard/store/mongo/mongotest"
)

// collector is an EventSink that keeps what it receives.
type collector struct {
	mu     sync.Mutex
	events []domain.Event
	more   chan struct{}
}

func newCollector() *collector { return &collector{more: make(chan struct{}, 1)} }

func (c *collector) Publish(e domain.Event) {
	c.mu.Lock()
	c.events = append(c.events, e)
	c.mu.Unlock()
	select {
	case c.more <- struct{}{}:
	default:
	}
}

// waitFor waits until the collector holds an event that match accepts.
func (c *collector) waitFor(t *testing.T, what string, match func(domain.Event) bool) domain.Event {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		c.mu.Lock()
		for _, e := range c.events {
			if match(e) {
				c.mu.Unlock()
				return e
			}
		}
		c.mu.Unlock()
		select {
		case <-c.more:
		case <-deadline:
			t.Fatalf("no %s within 30 s", what)
		}
	}
}

// watchInto runs s's feed under name into sink until the returned stop is
// called; it returns once the stream is open.
func watchInto(t *testing.T, s *mongostore.Store, name string, sink domain.EventSink) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan struct{})
	var once sync.Once
	go func() {
		defer close(done)
		s.Watch(ctx, name, sink, mongostore.FeedHooks{Ready: func() { once.Do(func() { close(ready) }) }})
	}()
	select {
	case <-ready:
	case <-time.After(time.Minute):
		t.Fatal("the change stream did not open")
	}
	var stopped sync.Once
	stop = func() { stopped.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func conversationAt(version int64) domain.Conversation {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return domain.Conversation{
		WorkspaceID: "ws-feed", ID: "cv_feed", ChannelID: "ch", ContactID: "ct", Seq: 1, Status: domain.StatusNew,
		WaitingSince: now, CreatedAt: now, UpdatedAt: now, Version: version,
	}
}

// TestChangeStreamFeedAcrossInstances: two instances on one database each
// receive the changes the other commits, in order, with the state of each
// change; a stopped feed resumes where it stopped.
func TestChangeStreamFeedAcrossInstances(t *testing.T) {
	if !mongotest.Real() {
		t.Skip("change streams need a MongoDB replica set (" + mongotest.EnvURI + "); FerretDB and standalone servers have none")
	}
	a := mongotest.New(t, mongostore.Options{})
	if !a.ChangeStreams() {
		t.Skip("the server at " + mongotest.EnvURI + " has no change streams (not a replica set of MongoDB 6.0+)")
	}
	ctx := context.Background()
	b, err := mongostore.Open(ctx, mongotest.URI(t), mongostore.Options{Database: a.Database().Name(), Logger: mongotest.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	seenA, seenB := newCollector(), newCollector()
	watchInto(t, a, "instance-a", seenA)
	stopB := watchInto(t, b, "instance-b", seenB)

	c := conversationAt(1)
	if err := a.InsertConversation(ctx, domain.ConversationWrite{Conversation: c}); err != nil {
		t.Fatal(err)
	}
	next := c
	next.OwnerID, next.Version = "ben", 2
	change := &domain.OwnershipChange{WorkspaceID: c.WorkspaceID, ID: domain.HistoryID(c.ID, 2), ConversationID: c.ID, Version: 2,
		Status: domain.StatusNew, At: c.UpdatedAt, ToID: "ben", ActorID: "ada", Reason: domain.ReasonManual}
	if err := a.UpdateConversation(ctx, domain.ConversationWrite{Conversation: next, Before: &c, Change: change}); err != nil {
		t.Fatal(err)
	}
	for name, seen := range map[string]*collector{"the writing instance": seenA, "the other instance": seenB} {
		e := seen.waitFor(t, "version 2 at "+name, func(e domain.Event) bool {
			return e.Conversation != nil && e.Conversation.After.Version == 2
		})
		ce := e.Conversation
		if ce.Before == nil || ce.Before.Version != 1 || ce.After.OwnerID != "ben" || ce.Change == nil || ce.Change.Reason != domain.ReasonManual {
			t.Fatalf("%s: event %+v", name, ce)
		}
	}

	// Instance b stops; a change made meanwhile reaches it when it resumes.
	stopB()
	third := next
	third.Status, third.Version = domain.StatusPending, 3
	if err := a.UpdateConversation(ctx, domain.ConversationWrite{Conversation: third, Before: &next}); err != nil {
		t.Fatal(err)
	}
	watchInto(t, b, "instance-b", seenB)
	seenB.waitFor(t, "version 3 after resuming", func(e domain.Event) bool {
		return e.Conversation != nil && e.Conversation.After.Version == 3
	})
	// Copies out of pending and signs of life are not events.
	seenB.mu.Lock()
	defer seenB.mu.Unlock()
	versions := map[int64]int{}
	for _, e := range seenB.events {
		if e.Conversation != nil {
			versions[e.Conversation.After.Version]++
		}
	}
	for v, n := range versions {
		if n != 1 {
			t.Errorf("version %d arrived %d times at instance b", v, n)
		}
	}
}
