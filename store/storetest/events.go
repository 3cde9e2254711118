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
		equal(t, "events", got, want)
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
