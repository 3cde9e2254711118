package domain_test

import (
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

// activityLog keeps the activity events a service publishes.
type activityLog struct {
	mu     sync.Mutex
	events []string
}

func (l *activityLog) Publish(e domain.Event) {
	if a := e.Activity; a != nil {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.events = append(l.events, "viewers="+strings.Join(a.Viewers, ",")+" typing="+strings.Join(a.Typing, ","))
	}
}

// take returns the events published since the last take.
func (l *activityLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.events
	l.events = nil
	return out
}

// TestActivityFromOtherInstances: the leases another instance writes, as an
// exchange's feed delivers them, make viewers and typists here until they
// are dropped or run out; renewed leases last; this instance's own echoes
// change nothing; a drop ends only the typing it names.
func TestActivityFromOtherInstances(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	quiet := slog.New(slog.DiscardHandler)
	log := &activityLog{}
	svc := domain.NewService(sqlitetest.New(t, sqlite.Options{Logger: quiet}), domain.WithClock(clock), domain.WithLogger(quiet),
		domain.WithInstanceID("here"), domain.WithActivitySink(log), domain.WithPresenceTimeout(30*time.Second))
	expect := func(what string, want ...string) {
		t.Helper()
		if got := log.take(); !slices.Equal(got, want) {
			t.Fatalf("%s: events %q, want %q", what, got, want)
		}
	}
	now := clock.Now()
	lease := func(agent, holder, instance string, until time.Duration) domain.ActivityLease {
		return domain.ActivityLease{WorkspaceID: "ws", ConversationID: "cv", AgentID: agent, Holder: holder, Instance: instance, Until: now.Add(until)}
	}
	put := func(l domain.ActivityLease) { svc.ApplyActivityLease(domain.ActivityLeaseEvent{Lease: l}) }
	drop := func(l domain.ActivityLease) {
		svc.ApplyActivityLease(domain.ActivityLeaseEvent{Lease: l, Dropped: true})
	}

	// Viewers: a hold there makes Cleo a viewer; her second device there
	// and renewals change nothing; a hold of this instance's is its own.
	put(lease("cleo", "there/1", "there", 30*time.Second))
	expect("cleo's hold", "viewers=cleo typing=")
	put(lease("cleo", "there/2", "there", 30*time.Second))
	put(lease("ben", "here/7", "here", 30*time.Second))
	clock.AdvanceAndWait(10 * time.Second)
	put(lease("cleo", "there/1", "there", 40*time.Second))
	expect("a second device, a renewal, an echo of this instance")
	drop(lease("cleo", "there/2", "there", 0))
	expect("one device of two dropped")
	// The renewed hold outlives its first lease; then it runs out.
	clock.AdvanceAndWait(25 * time.Second)
	expect("at 35 s, the renewed hold lasts")
	clock.AdvanceAndWait(5 * time.Second)
	expect("at 40 s, the hold ran out", "viewers= typing=")

	// Typing: set there, ended by a drop of that typing, not an older one.
	now = clock.Now()
	put(lease("cleo", "", "there", 6*time.Second))
	expect("cleo types there", "viewers= typing=cleo")
	put(lease("cleo", "", "here", 6*time.Second))
	drop(lease("cleo", "", "there", 2*time.Second))
	expect("an echo of this instance, a drop of an older typing")
	drop(lease("cleo", "", "there", 6*time.Second))
	expect("her typing dropped", "viewers= typing=")
	// And runs out by itself.
	put(lease("ben", "", "there", 6*time.Second))
	expect("ben types there", "viewers= typing=ben")
	clock.AdvanceAndWait(6 * time.Second)
	expect("ben's typing ran out", "viewers= typing=")
	// A lease that has run out already changes nothing.
	put(lease("ben", "there/3", "there", 0))
	expect("a lease run out")
}
