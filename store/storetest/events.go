package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"switchboard/domain"
)

// recorder is an EventSink that keeps what it is given.
type recorder struct {
	mu     sync.Mutex
	events []domain.Event
}

func (r *recorder) Publish(e domain.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) take() []domain.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

func testEvents(t *testing.T, f Factory) {
	if f.NewPublishing == nil {
		t.Skip("this store publishes no events in process; its change feed is tested with the store")
	}

	t.Run("each committed agent and conversation write is published once, as committed", func(t *testing.T) {
		rec := &recorder{}
		s := f.NewPublishing(t, rec)
		began := time.Now()
		var want []domain.Event

		a := newAgent(wsA, "ag-1", "Ada")
		mustInsertAgent(t, s, a)
		want = append(want, domain.Event{WorkspaceID: wsA, Agent: &domain.AgentEvent{After: a}})
		next := a
		next.Presence, next.PresenceSince, next.Version = domain.Online, at(50), 2
		wantErr(t, "UpdateAgent", s.UpdateAgent(ctx, next), nil)
		want = append(want, domain.Event{WorkspaceID: wsA, Agent: &domain.AgentEvent{Before: &a, After: next}})

		cw := creation(newConversation(wsA, "cv-1", domain.StatusNew, "", at(0)))
		c := mustInsert(t, s, cw)
		want = append(want, domain.Event{WorkspaceID: wsA, Conversation: &domain.ConversationEvent{After: c, Message: cw.Message}})
		uw := assignment(c, "ag-1", "ag-1")
		uw.OwnerCheck = &domain.AgentVersion{AgentID: "ag-1", Version: 2}
		mustUpdate(t, s, uw)
		want = append(want, domain.Event{WorkspaceID: wsA, Conversation: &domain.ConversationEvent{
			Before: uw.Before, After: uw.Conversation, Change: uw.Change, Message: uw.Message,
		}})

		got := rec.take()
		// Each carries when it was committed (the feed's lag is measured
		// from it), by the wall clock, in commit order.
		last := began
		for i := range got {
			if c := got[i].CommittedAt; c.Before(last) || c.After(time.Now()) {
				t.Errorf("event %d: committed at %v, not between the one before (%v) and now", i, c, last)
			} else {
				last = c
			}
			got[i].CommittedAt = time.Time{}
		}
		// Positions grow; the rest is as committed.
		checkPositions(t, s, got)
		equal(t, "events", withoutPositions(got), want)
	})

	t.Run("rejected writes and writes that change nothing a subscriber sees publish nothing", func(t *testing.T) {
		rec := &recorder{}
		s := f.NewPublishing(t, rec)
		a := newAgent(wsA, "ag-1", "Ada")
		mustInsertAgent(t, s, a)
		c := mustInsert(t, s, creation(newConversation(wsA, "cv-1", domain.StatusNew, "", at(0))))
		rec.take()

		if err := s.InsertAgent(ctx, a); !errors.Is(err, domain.ErrDuplicate) {
			t.Fatalf("InsertAgent again: %v", err)
		}
		stale := a
		stale.Version = 1
		if err := s.UpdateAgent(ctx, stale); !errors.Is(err, domain.ErrVersionConflict) {
			t.Fatalf("stale UpdateAgent: %v", err)
		}
		wantErr(t, "TouchAgent", s.TouchAgent(ctx, wsA, "ag-1", at(9_000)), nil)
		if err := s.InsertConversation(ctx, creation(c)); !errors.Is(err, domain.ErrDuplicate) {
			t.Fatalf("InsertConversation again: %v", err)
		}
		staleW := assignment(c, "ag-1", "ag-1")
		staleW.Conversation.Version = 5
		if err := s.UpdateConversation(ctx, staleW); !errors.Is(err, domain.ErrVersionConflict) {
			t.Fatalf("stale UpdateConversation: %v", err)
		}
		wantErr(t, "SaveSettings", s.SaveSettings(ctx, domain.Settings{WorkspaceID: wsA, LogoutGraceSeconds: 3, Version: 1, UpdatedAt: at(1)}), nil)
		if got := rec.take(); len(got) != 0 {
			t.Errorf("published %s", show(got))
		}
	})

	t.Run("concurrent writes are published in commit order", func(t *testing.T) {
		rec := &recorder{}
		s := f.NewPublishing(t, rec)
		const writers, changes = 8, 10
		convs := make([]domain.Conversation, writers)
		for i := range convs {
			convs[i] = mustInsert(t, s, creation(newConversation(wsA, fmt.Sprintf("cv-%d", i), domain.StatusNew, "", at(0))))
		}
		rec.take()
		var wg sync.WaitGroup
		errs := make(chan error, writers*changes)
		for i := range convs {
			wg.Add(1)
			go func(c domain.Conversation) {
				defer wg.Done()
				for range changes {
					w := change(c, func(n *domain.Conversation) { n.WaitingSince = n.WaitingSince.Add(time.Millisecond) })
					if err := s.UpdateConversation(ctx, w); err != nil {
						errs <- err
						return
					}
					c = w.Conversation
				}
			}(convs[i])
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("UpdateConversation: %v", err)
		}
		// Each conversation's changes were committed in version order, so
		// its events must come in version order, each after the one it was
		// computed from.
		last := map[string]int64{}
		for _, c := range convs {
			last[c.ID] = c.Version
		}
		got := rec.take()
		for _, e := range got {
			ce := e.Conversation
			if ce == nil || ce.Before == nil {
				t.Fatalf("unexpected event %s", show(e))
			}
			id := ce.After.ID
			if ce.Before.Version != last[id] || ce.After.Version != last[id]+1 {
				t.Fatalf("event of %s v%d to v%d came after v%d", id, ce.Before.Version, ce.After.Version, last[id])
			}
			last[id] = ce.After.Version
		}
		if len(got) != writers*changes {
			t.Errorf("published %d events, want %d", len(got), writers*changes)
		}
		for _, c := range convs {
			if last[c.ID] != 1+changes {
				t.Errorf("last event of %s is v%d, want v%d", c.ID, last[c.ID], 1+changes)
			}
		}
	})
}

// checkPositions requires increasing positions of a store that keeps a
// record of changes, and none of one that does not.
func checkPositions(t *testing.T, s domain.Store, evs []domain.Event) {
	t.Helper()
	_, logs := s.(domain.EventLog)
	var last int64
	for _, e := range evs {
		switch {
		case !logs && e.Position != 0:
			t.Fatalf("a store without a record of changes gave position %d", e.Position)
		case logs && e.Position <= last:
			t.Fatalf("position %d after %d", e.Position, last)
		}
		last = e.Position
	}
}

// withoutCommitTimes returns evs with no CommittedAt: it is set after the
// commit, so a record written in the change's transaction (SQLite) has
// none, and one written after it (MongoDB without change streams) may.
func withoutCommitTimes(evs []domain.Event) []domain.Event {
	out := make([]domain.Event, len(evs))
	for i, e := range evs {
		e.CommittedAt = time.Time{}
		out[i] = e
	}
	return out
}

func withoutPositions(evs []domain.Event) []domain.Event {
	out := make([]domain.Event, len(evs))
	for i, e := range evs {
		e.Position = 0
		out[i] = e
	}
	return out
}

func testEventLog(t *testing.T, f Factory) {
	if f.NewPublishing == nil {
		t.Skip("this store publishes no events in process; its record of changes is tested with its change feed")
	}
	newLog := func(t *testing.T) (domain.Store, domain.EventLog, *recorder) {
		rec := &recorder{}
		s := f.NewPublishing(t, rec)
		log, ok := s.(domain.EventLog)
		if !ok {
			t.Skip("this store keeps no record of changes")
		}
		return s, log, rec
	}
	// waitFor waits until n events were published (a change feed publishes
	// after the write returns).
	waitFor := func(t *testing.T, rec *recorder, n int) []domain.Event {
		t.Helper()
		var got []domain.Event
		deadline := time.Now().Add(time.Minute)
		for len(got) < n {
			got = append(got, rec.take()...)
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d events published within a minute", len(got), n)
			}
			if len(got) < n {
				time.Sleep(10 * time.Millisecond)
			}
		}
		return got
	}

	t.Run("the record replays a workspace's published events after a position, in order, as published", func(t *testing.T) {
		s, log, rec := newLog(t)
		a := newAgent(wsA, "ag-1", "Ada")
		mustInsertAgent(t, s, a)
		mustInsertAgent(t, s, newAgent(wsB, "ag-1", "Bea"))
		c := mustInsert(t, s, creation(newConversation(wsA, "cv-1", domain.StatusNew, "", at(0))))
		for range 3 {
			w := change(c, func(n *domain.Conversation) { n.WaitingSince = n.WaitingSince.Add(time.Millisecond) })
			mustUpdate(t, s, w)
			c = w.Conversation
		}
		published := withoutCommitTimes(waitFor(t, rec, 6))
		var inA []domain.Event
		for _, e := range published {
			if e.WorkspaceID == wsA {
				inA = append(inA, e)
			}
		}
		all, err := log.EventsAfter(ctx, wsA, 0, 100)
		wantErr(t, "EventsAfter", err, nil)
		equal(t, "the whole record of A", withoutCommitTimes(all), inA)
		page, err := log.EventsAfter(ctx, wsA, inA[1].Position, 2)
		wantErr(t, "EventsAfter", err, nil)
		equal(t, "two after the second", withoutCommitTimes(page), inA[2:4])
		rest, err := log.EventsAfter(ctx, wsA, inA[len(inA)-1].Position, 100)
		wantErr(t, "EventsAfter", err, nil)
		if len(rest) != 0 {
			t.Errorf("after the last: %s", show(rest))
		}
		// A position past the newest was given by a store this one is
		// behind (a restore): the changes made since would be missed.
		if _, err := log.EventsAfter(ctx, wsA, inA[len(inA)-1].Position+1000, 100); !errors.Is(err, domain.ErrPositionTooOld) {
			t.Errorf("after a position past the newest: %v, want ErrPositionTooOld", err)
		}
		if _, err := log.EventsAfter(ctx, "ws-never", 1, 100); !errors.Is(err, domain.ErrPositionTooOld) {
			t.Errorf("a position in a workspace with no record: %v, want ErrPositionTooOld", err)
		}
	})

	t.Run("trimming keeps what is young or among the newest, and a position before a trimmed event is too old", func(t *testing.T) {
		s, log, rec := newLog(t)
		c := mustInsert(t, s, creation(newConversation(wsA, "cv-1", domain.StatusNew, "", at(0))))
		// Events at minutes 1 to 5 (the time of the change).
		for i := 1; i <= 5; i++ {
			w := change(c, func(*domain.Conversation) {})
			w.Conversation.UpdatedAt = at(i * 60_000)
			mustUpdate(t, s, w)
			c = w.Conversation
		}
		evs := withoutCommitTimes(waitFor(t, rec, 6))
		mustInsertAgent(t, s, newAgent(wsB, "ag-1", "Bea"))
		waitFor(t, rec, 1)
		// Before minute 3, and beyond the newest two: the events of minutes
		// 0, 1 and 2 go; B's single event stays (one of its newest two).
		n, err := log.TrimEvents(ctx, at(3*60_000-1), 2)
		wantErr(t, "TrimEvents", err, nil)
		if n != 3 {
			t.Errorf("trimmed %d, want 3", n)
		}
		for _, p := range []int64{0, evs[0].Position, evs[1].Position} {
			if _, err := log.EventsAfter(ctx, wsA, p, 10); !errors.Is(err, domain.ErrPositionTooOld) {
				t.Errorf("after %d: %v, want ErrPositionTooOld", p, err)
			}
		}
		kept, err := log.EventsAfter(ctx, wsA, evs[2].Position, 10)
		wantErr(t, "EventsAfter", err, nil)
		equal(t, "after the newest trimmed", withoutCommitTimes(kept), evs[3:])
		inB, err := log.EventsAfter(ctx, wsB, 0, 10)
		wantErr(t, "EventsAfter B", err, nil)
		if len(inB) != 1 {
			t.Errorf("B kept %s", show(inB))
		}
		// Trimming again changes nothing.
		if n, err := log.TrimEvents(ctx, at(3*60_000-1), 2); err != nil || n != 0 {
			t.Errorf("trim again: %d, %v", n, err)
		}
	})
}
