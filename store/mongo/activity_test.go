package mongostore_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"switchboard/domain"
	mongostore "switchboard/store/mongo"
	"switchboard/store/mongo/mongotest"
)

// TestActivityLeases: the lease writes of the activity exchange put, renew
// and drop one document per lease, and expired ones are dropped (on any
// server, FerretDB too).
func TestActivityLeases(t *testing.T) {
	s := mongotest.New(t, mongostore.Options{})
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	coll := s.Database().Collection("activity")
	count := func() int64 {
		t.Helper()
		n, err := coll.CountDocuments(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	view := domain.ActivityLease{WorkspaceID: "ws", ConversationID: "cv", AgentID: "ben", Holder: "here/1", Instance: "here", Until: now.Add(30 * time.Second)}
	typing := domain.ActivityLease{WorkspaceID: "ws", ConversationID: "cv", AgentID: "ben", Instance: "here", Until: now.Add(6 * time.Second)}
	old := domain.ActivityLease{WorkspaceID: "ws", ConversationID: "cv", AgentID: "cleo", Holder: "gone/1", Instance: "gone", Until: now.Add(-time.Minute)}
	for _, l := range []domain.ActivityLease{view, typing, old} {
		if err := s.PutActivity(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	typing.Until, typing.Instance = now.Add(8*time.Second), "there"
	if err := s.PutActivity(ctx, typing); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 3 {
		t.Fatalf("%d leases, want 3 (a renewal replaces its lease)", n)
	}
	if err := s.DropExpiredActivity(ctx, now); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Fatalf("%d leases after dropping the expired, want 2", n)
	}
	for _, l := range []domain.ActivityLease{view, typing, view} {
		if err := s.DropActivity(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(); n != 0 {
		t.Fatalf("%d leases after dropping them, want 0", n)
	}
}

// instance is one server instance of the cross-instance test: its store,
// service and what its subscribers would hear.
type instance struct {
	store *mongostore.Store
	svc   *domain.Service
	mu    sync.Mutex
	heard []string
	more  chan struct{}
}

// Publish is the instance's feed: leases go to its service, and the
// service's activity events are what its subscribers hear.
func (in *instance) Publish(e domain.Event) {
	switch {
	case e.Lease != nil:
		in.svc.ApplyActivityLease(*e.Lease)
	case e.Activity != nil:
		in.mu.Lock()
		in.heard = append(in.heard, "viewers="+strings.Join(e.Activity.Viewers, ",")+" typing="+strings.Join(e.Activity.Typing, ","))
		in.mu.Unlock()
		select {
		case in.more <- struct{}{}:
		default:
		}
	}
}

// hears waits until the instance's latest activity is want.
func (in *instance) hears(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		in.mu.Lock()
		ok := len(in.heard) > 0 && in.heard[len(in.heard)-1] == want
		heard := slices.Clone(in.heard)
		in.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-in.more:
		case <-deadline:
			t.Fatalf("want %q within 30 s; heard %q", want, heard)
		}
	}
}

// TestActivityAcrossInstances: two instances on one database see each
// other's viewers and typists through the change stream: a viewer there is
// one here, typing there shows here, a stop here ends it there, and a
// viewer gone there is gone here.
func TestActivityAcrossInstances(t *testing.T) {
	if !mongotest.Real() {
		t.Skip("change streams need a MongoDB replica set (" + mongotest.EnvURI + "); FerretDB and standalone servers have none")
	}
	a := mongotest.New(t, mongostore.Options{})
	if !a.ChangeStreams() {
		t.Skip("the server at " + mongotest.EnvURI + " has no change streams (not a replica set of MongoDB 6.0+)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, err := mongostore.Open(ctx, mongotest.URI(t), mongostore.Options{Database: a.Database().Name(), Logger: mongotest.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	var instances []*instance
	for i, st := range []*mongostore.Store{a, b} {
		in := &instance{store: st, more: make(chan struct{}, 1)}
		in.svc = domain.NewService(st, domain.WithLogger(mongotest.Quiet), domain.WithInstanceID([]string{"a", "b"}[i]),
			domain.WithActivitySink(in), domain.WithActivityExchange(st))
		done := make(chan struct{})
		go func() { defer close(done); in.svc.RunActivityExchange(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		watchInto(t, st, "instance-"+[]string{"a", "b"}[i], in)
		instances = append(instances, in)
	}
	here, there := instances[0], instances[1]
	c := conversationAt(1)
	if err := a.InsertConversation(ctx, domain.ConversationWrite{Conversation: c}); err != nil {
		t.Fatal(err)
	}
	ben := domain.Actor{WorkspaceID: c.WorkspaceID, ID: "ben", Role: domain.RoleAgent}
	cleo := domain.Actor{WorkspaceID: c.WorkspaceID, ID: "cleo", Role: domain.RoleAgent}

	w, err := there.svc.WatchActivity(ctx, ben, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	here.hears(t, "viewers=ben typing=")
	if _, err := there.svc.SetTyping(ctx, cleo, c.ID, true); err != nil {
		t.Fatal(err)
	}
	here.hears(t, "viewers=ben typing=cleo")
	// Her next call lands here: stopping ends it there too.
	if _, err := here.svc.SetTyping(ctx, cleo, c.ID, false); err != nil {
		t.Fatal(err)
	}
	there.hears(t, "viewers=ben typing=")
	here.hears(t, "viewers=ben typing=")
	w.Close()
	here.hears(t, "viewers= typing=")
}
