package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"switchboard/domain"
)

// race runs n calls of fn at once (as near as goroutines get) and returns
// their errors by index.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// winner returns the index of the one call that succeeded; it fails the test
// unless exactly one did and every other one failed with loss.
func winner(t *testing.T, errs []error, loss error) int {
	t.Helper()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Fatalf("calls %d and %d both succeeded", won, i)
		case err == nil:
			won = i
		case !errors.Is(err, loss):
			t.Fatalf("call %d: got %v, want %v", i, err, loss)
		}
	}
	if won < 0 {
		t.Fatalf("no call succeeded")
	}
	return won
}

func testConcurrency(t *testing.T, f Factory) {
	t.Run("of 50 owners taking one conversation at the same version exactly one wins, with one history entry", func(t *testing.T) {
		if !f.Atomic {
			t.Skip("this store's conditional updates are not atomic under concurrency (a known limit of its test server)")
		}
		s := f.New(t)
		c := mustInsert(t, s, creation(newConversation(wsA, "cv-1", domain.StatusNew, "", at(0))))
		const n = 50
		writes := make([]domain.ConversationWrite, n)
		for i := range writes {
			writes[i] = assignment(c, fmt.Sprintf("ag-%02d", i), fmt.Sprintf("ag-%02d", i))
			writes[i].Message.ID = fmt.Sprintf("m-take-%02d", i)
		}
		errs := race(n, func(i int) error { return s.UpdateConversation(ctx, writes[i]) })
		won := winner(t, errs, domain.ErrVersionConflict)
		equal(t, "conversation", mustConversation(t, s, wsA, "cv-1"), &writes[won].Conversation)
		equal(t, "history", mustHistory(t, s, wsA, "cv-1"), []domain.OwnershipChange{*withoutSnapshot(writes[won].Change)})
		ids := make([]string, n)
		for i := range ids {
			ids[i] = writes[i].Message.ID
		}
		msgs, err := s.MessagesByIDs(ctx, wsA, ids)
		wantErr(t, "MessagesByIDs", err, nil)
		for i, m := range msgs {
			if (m != nil) != (i == won) {
				t.Errorf("message of call %d stored: %v (the winner is %d)", i, m != nil, won)
			}
		}
	})

	t.Run("of 20 inserts of one conversation id exactly one succeeds, with its message only", func(t *testing.T) {
		s := f.New(t)
		const n = 20
		writes := make([]domain.ConversationWrite, n)
		ids := make([]string, n)
		for i := range writes {
			c := newConversation(wsA, "cv-1", domain.StatusNew, "", at(i))
			writes[i] = domain.ConversationWrite{Conversation: c, Message: newMessage(c, fmt.Sprintf("m-first-%02d", i))}
			ids[i] = writes[i].Message.ID
		}
		errs := race(n, func(i int) error { return s.InsertConversation(ctx, writes[i]) })
		won := winner(t, errs, domain.ErrDuplicate)
		equal(t, "conversation", mustConversation(t, s, wsA, "cv-1"), &writes[won].Conversation)
		msgs, err := s.MessagesByIDs(ctx, wsA, ids)
		wantErr(t, "MessagesByIDs", err, nil)
		for i, m := range msgs {
			if (m != nil) != (i == won) {
				t.Errorf("message of call %d stored: %v (the winner is %d)", i, m != nil, won)
			}
		}
	})
}
