package storetest

import (
	"testing"
	"time"

	"switchboard/domain"
)

// reply is the write that adds an agent's reply to c on channel, PENDING
// delivery, created at createdAt.
func reply(c domain.Conversation, id, channel string, createdAt time.Time) domain.ConversationWrite {
	w := change(c, func(n *domain.Conversation) {})
	w.Message = &domain.Message{
		WorkspaceID: c.WorkspaceID, ID: id, ConversationID: c.ID, Direction: domain.Outbound, Text: "reply " + id,
		AuthorID: "ag-1", ExternalID: "key-" + id, Version: w.Conversation.Version, CreatedAt: createdAt, ChannelID: channel,
		Delivery: &domain.Delivery{Status: domain.DeliveryPending, At: createdAt, Version: w.Conversation.Version},
	}
	return w
}

// report is the write that sets m's delivery in a change of c.
func report(c domain.Conversation, m domain.Message, status domain.DeliveryStatus, ext, reason string, when time.Time) domain.ConversationWrite {
	w := change(c, func(n *domain.Conversation) {})
	m.Delivery = &domain.Delivery{Status: status, At: when, ExternalID: ext, Error: reason, Version: w.Conversation.Version}
	w.Delivery = &m
	return w
}

func testDeliveries(t *testing.T, f Factory) {
	s := f.New(t)
	// cv-1 on ch-1 and cv-2 on ch-2 get replies; cv-1's first message is
	// inbound (no delivery). Workspace B has a reply of its own.
	c1 := mustInsert(t, s, creation(newConversation(wsA, "cv-1", domain.StatusNew, "", at(0))))
	cv2 := newConversation(wsA, "cv-2", domain.StatusNew, "", at(0))
	cv2.ChannelID = "ch-2"
	c2 := mustInsert(t, s, creation(cv2))
	b := mustInsert(t, s, creation(newConversation(wsB, "cv-1", domain.StatusNew, "", at(0))))

	w := reply(c1, "r-1", "ch-1", at(100))
	r1 := *w.Message
	c1 = mustUpdate(t, s, w)
	w = reply(c2, "r-2", "ch-2", at(100))
	r2 := *w.Message
	c2 = mustUpdate(t, s, w)
	w = reply(c1, "r-3", "ch-1", at(100))
	r3 := *w.Message
	c1 = mustUpdate(t, s, w)
	w = reply(c1, "r-4", "ch-1", at(200))
	r4 := *w.Message
	c1 = mustUpdate(t, s, w)
	mustUpdate(t, s, reply(b, "r-b", "ch-1", at(50)))

	pending := func(q domain.DeliveryQuery) []domain.Message {
		t.Helper()
		q.WorkspaceID = wsA
		if q.Limit == 0 {
			q.Limit = 100
		}
		got, err := s.PendingDeliveries(ctx, q)
		wantErr(t, "PendingDeliveries", err, nil)
		return got
	}

	t.Run("a reply is stored with its channel and PENDING delivery", func(t *testing.T) {
		got, err := s.MessagesByIDs(ctx, wsA, []string{"r-1", "m-cv-1-1"})
		wantErr(t, "MessagesByIDs", err, nil)
		equal(t, "reply", got[0], &r1)
		if got[1].Delivery != nil {
			t.Errorf("an inbound message has a delivery: %+v", got[1].Delivery)
		}
	})

	t.Run("pending deliveries come oldest first, by creation, conversation and version, in pages", func(t *testing.T) {
		equal(t, "all", pending(domain.DeliveryQuery{}), []domain.Message{r1, r3, r2, r4})
		k := domain.DeliveryKeyOf(r3)
		equal(t, "after r-3", pending(domain.DeliveryQuery{After: &k, Limit: 2}), []domain.Message{r2, r4})
		equal(t, "ch-2", pending(domain.DeliveryQuery{ChannelIDs: []string{"ch-2"}}), []domain.Message{r2})
		equal(t, "created before 200", pending(domain.DeliveryQuery{CreatedBefore: at(200)}), []domain.Message{r1, r3, r2})
	})

	t.Run("a report changes the delivery in the same change; reported messages are no longer pending", func(t *testing.T) {
		rw := report(c1, r1, domain.DeliverySent, "smtp-1", "", at(300))
		c1 = mustUpdate(t, s, rw)
		got, err := s.MessagesByIDs(ctx, wsA, []string{"r-1"})
		wantErr(t, "MessagesByIDs", err, nil)
		equal(t, "sent", got[0], rw.Delivery)
		page, err := s.ListMessages(ctx, domain.MessageQuery{WorkspaceID: wsA, ConversationID: "cv-1", AfterVersion: 1, Limit: 1})
		wantErr(t, "ListMessages", err, nil)
		equal(t, "listed", page, []domain.Message{*rw.Delivery})
		fw := report(c1, r3, domain.DeliveryFailed, "", "mailbox full", at(310))
		c1 = mustUpdate(t, s, fw)
		equal(t, "pending", pending(domain.DeliveryQuery{}), []domain.Message{r2, r4})
		conv, err := s.ConversationsByIDs(ctx, wsA, []string{"cv-1"})
		wantErr(t, "ConversationsByIDs", err, nil)
		equal(t, "conversation", conv[0], &c1)
	})

	t.Run("a report on a stale version is a conflict and changes nothing", func(t *testing.T) {
		stale := c1
		stale.Version--
		err := s.UpdateConversation(ctx, report(stale, r4, domain.DeliverySent, "x", "", at(400)))
		wantErr(t, "UpdateConversation", err, domain.ErrVersionConflict)
		equal(t, "pending", pending(domain.DeliveryQuery{}), []domain.Message{r2, r4})
	})

	t.Run("counts per channel, with those created before a time", func(t *testing.T) {
		p, st, err := s.CountPendingDeliveries(ctx, wsA, "ch-1", at(150))
		wantErr(t, "CountPendingDeliveries", err, nil)
		if p != 1 || st != 0 {
			t.Errorf("ch-1: %d pending, %d stalled; want 1, 0", p, st)
		}
		p, st, err = s.CountPendingDeliveries(ctx, wsA, "ch-2", at(150))
		wantErr(t, "CountPendingDeliveries", err, nil)
		if p != 1 || st != 1 {
			t.Errorf("ch-2: %d pending, %d stalled; want 1, 1", p, st)
		}
	})
}
