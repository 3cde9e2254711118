package mongostore

import (
	"reflect"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"switchboard/domain"
)

// A change-stream event of a report carries the message's new delivery,
// decoded from the pending item of the change's own version; an older
// report still pending (its copy failed) is not this change's.
func TestChangeEventOfAReportCarriesTheDelivery(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	conv := func(v int64) domain.Conversation {
		return domain.Conversation{WorkspaceID: "ws", ID: "cv", ChannelID: "ch", ContactID: "ct", Seq: 1, Status: domain.StatusNew,
			WaitingSince: t0, CreatedAt: t0, UpdatedAt: t0.Add(time.Duration(v) * time.Second), Version: v}
	}
	reply := domain.Message{WorkspaceID: "ws", ID: "r", ConversationID: "cv", Direction: domain.Outbound, Text: "hi", AuthorID: "ag",
		Version: 2, CreatedAt: t0, ChannelID: "ch", Delivery: &domain.Delivery{Status: domain.DeliveryPending, At: t0, Version: 2}}
	failed, sent := reply, reply
	failed.Delivery = &domain.Delivery{Status: domain.DeliveryFailed, At: t0.Add(time.Second), Error: "bounced", Version: 3}
	sent.Delivery = &domain.Delivery{Status: domain.DeliverySent, At: t0.Add(2 * time.Second), ExternalID: "smtp-1", Version: 4}
	before := conv(3)
	w := domain.ConversationWrite{Conversation: conv(4), Before: &before, Delivery: &sent}
	// The earlier report's item is still pending beside this one's.
	items := append(pendingOf(domain.ConversationWrite{Conversation: conv(3), Delivery: &failed}), pendingOf(w)...)
	after, err := bson.Marshal(toConversationDoc(w.Conversation, items))
	if err != nil {
		t.Fatal(err)
	}
	old, err := bson.Marshal(toConversationDoc(before, pendingOf(domain.ConversationWrite{Conversation: conv(3), Delivery: &failed})))
	if err != nil {
		t.Fatal(err)
	}
	ev := changeEvent{OperationType: "update", FullDocument: after, FullDocumentBeforeChange: old}
	ev.NS.Coll = collConversations
	got := ev.domain()
	if got == nil || got.Conversation == nil {
		t.Fatalf("no event: %+v", got)
	}
	ce := got.Conversation
	if ce.Message != nil || ce.Change != nil || !reflect.DeepEqual(ce.Delivery, &sent) || ce.After.Version != 4 || ce.Before.Version != 3 {
		t.Fatalf("event: %+v\ndelivery %+v", ce, ce.Delivery)
	}
}
