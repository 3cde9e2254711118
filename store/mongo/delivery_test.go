package mongostore_test

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"switchboard/domain"
	mongostore "switchboard/store/mongo"
	"switchboard/store/mongo/mongotest"
)

// A report is carried in its conversation's pending list and copied to the
// message after the change commits. Whatever a crash leaves pending (the
// reply, its report, or both) is seen by every reader as committed and
// copied by Reconcile, in the order it was written, once.
func TestReportLeftPendingIsSeenAndReconciled(t *testing.T) {
	for _, tc := range []struct {
		name         string
		replyCrashed bool
	}{
		{"the reply copied, its report left pending", false},
		{"the reply and its report both left pending", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mongotest.New(t, mongostore.Options{})
			c := domain.Conversation{WorkspaceID: "ws", ID: "cv-1", ChannelID: "ch-1", ContactID: "ct-1", Seq: 1, Status: domain.StatusNew,
				WaitingSince: t0, CreatedAt: t0, UpdatedAt: t0, Version: 1}
			if err := s.InsertConversation(bg, domain.ConversationWrite{Conversation: c}); err != nil {
				t.Fatal(err)
			}
			before := c
			c.Version, c.UpdatedAt = 2, t0.Add(time.Second)
			reply := domain.Message{WorkspaceID: "ws", ID: "r-1", ConversationID: "cv-1", Direction: domain.Outbound, Text: "hi",
				AuthorID: "ag-1", Version: 2, CreatedAt: c.UpdatedAt, ChannelID: "ch-1",
				Delivery: &domain.Delivery{Status: domain.DeliveryPending, At: c.UpdatedAt, Version: 2}}
			mongostore.CrashAfterCommit(s, tc.replyCrashed)
			if err := s.UpdateConversation(bg, domain.ConversationWrite{Conversation: c, Before: &before, Message: &reply}); err != nil {
				t.Fatal(err)
			}
			before = c
			c.Version, c.UpdatedAt = 3, t0.Add(2*time.Second)
			sent := reply
			sent.Delivery = &domain.Delivery{Status: domain.DeliverySent, At: c.UpdatedAt, ExternalID: "smtp-1", Version: 3}
			mongostore.CrashAfterCommit(s, true)
			if err := s.UpdateConversation(bg, domain.ConversationWrite{Conversation: c, Before: &before, Delivery: &sent}); err != nil {
				t.Fatal(err)
			}
			mongostore.CrashAfterCommit(s, false)

			wantSent := func(when string) {
				t.Helper()
				byID, err := s.MessagesByIDs(bg, "ws", []string{"r-1"})
				if err != nil || byID[0] == nil || *byID[0].Delivery != *sent.Delivery {
					t.Fatalf("%s: MessagesByIDs %+v, %v", when, byID[0], err)
				}
				list, err := s.ListMessages(bg, domain.MessageQuery{WorkspaceID: "ws", ConversationID: "cv-1", Limit: 10})
				if err != nil || len(list) != 1 || *list[0].Delivery != *sent.Delivery {
					t.Fatalf("%s: ListMessages %+v, %v", when, list, err)
				}
				pending, err := s.PendingDeliveries(bg, domain.DeliveryQuery{WorkspaceID: "ws", Limit: 10})
				if err != nil || len(pending) != 0 {
					t.Fatalf("%s: PendingDeliveries %+v, %v", when, pending, err)
				}
			}
			wantSent("before Reconcile")
			for i := range 2 {
				if _, err := s.Reconcile(bg); err != nil {
					t.Fatalf("Reconcile %d: %v", i+1, err)
				}
				if n := count(t, s, "conversations", bson.D{{Key: "pending.id", Value: bson.D{{Key: "$gt", Value: ""}}}}); n != 0 {
					t.Fatalf("after Reconcile %d, %d conversations hold pending items", i+1, n)
				}
				if n := count(t, s, "messages", bson.D{{Key: "delivery.status", Value: "SENT"}, {Key: "delivery.externalId", Value: "smtp-1"}}); n != 1 {
					t.Fatalf("after Reconcile %d, %d messages SENT as reported", i+1, n)
				}
				wantSent("after Reconcile")
			}
		})
	}
}
