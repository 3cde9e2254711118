package mongostore

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"switchboard/domain"
)

// Viewers and typing between instances (domain.ActivityExchange): each
// lease is one document of the activity collection, keyed by what it is
// about, written and deleted by _id; the change-stream feed delivers each
// write and delete to every instance (Watch), the delete with the document
// as it was (pre-images), so a drop says which typing it ends. Only for a
// server with change streams: without them one instance serves, and
// activity stays in its process.

// activityDoc is one lease.
type activityDoc struct {
	ID       activityID `bson:"_id"`
	Instance string     `bson:"instance"`
	Until    time.Time  `bson:"until"`
}

// activityID is what a lease is about: a viewer's hold (holder set) or an
// agent's typing (holder empty: one per agent and conversation).
type activityID struct {
	WS           string `bson:"w"`
	Conversation string `bson:"c"`
	Agent        string `bson:"a"`
	Holder       string `bson:"h"`
}

func activityKey(l domain.ActivityLease) activityID {
	return activityID{WS: l.WorkspaceID, Conversation: l.ConversationID, Agent: l.AgentID, Holder: l.Holder}
}

func (d *activityDoc) domain() domain.ActivityLease {
	return domain.ActivityLease{WorkspaceID: d.ID.WS, ConversationID: d.ID.Conversation, AgentID: d.ID.Agent,
		Holder: d.ID.Holder, Instance: d.Instance, Until: d.Until}
}

// PutActivity writes a lease (domain.ActivityExchange).
func (s *Store) PutActivity(ctx context.Context, l domain.ActivityLease) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	doc := activityDoc{ID: activityKey(l), Instance: l.Instance, Until: domain.Truncate(l.Until)}
	_, err := s.db.Collection(collActivity).ReplaceOne(ctx, bson.D{{Key: "_id", Value: doc.ID}}, doc, options.Replace().SetUpsert(true))
	return wrap("put activity", err)
}

// DropActivity deletes a lease (domain.ActivityExchange).
func (s *Store) DropActivity(ctx context.Context, l domain.ActivityLease) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	_, err := s.db.Collection(collActivity).DeleteOne(ctx, bson.D{{Key: "_id", Value: activityKey(l)}})
	return wrap("drop activity", err)
}

// DropExpiredActivity deletes the leases that ended before before
// (domain.ActivityExchange).
func (s *Store) DropExpiredActivity(ctx context.Context, before time.Time) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	_, err := s.db.Collection(collActivity).DeleteMany(ctx, bson.D{{Key: "until", Value: bson.D{{Key: "$lt", Value: before}}}})
	return wrap("drop expired activity", err)
}

// activityEvent turns a change event of the activity collection into a
// lease event; nil if it is not one.
func (ev *changeEvent) activityEvent() *domain.Event {
	var d activityDoc
	dropped := ev.OperationType == "delete"
	raw := ev.FullDocument
	if dropped {
		raw = ev.FullDocumentBeforeChange
	}
	if len(raw) == 0 || bson.Unmarshal(raw, &d) != nil {
		if !dropped || len(ev.DocumentKey) == 0 || bson.Unmarshal(ev.DocumentKey, &struct {
			ID *activityID `bson:"_id"`
		}{&d.ID}) != nil {
			return nil
		}
		// A delete without its pre-image: it ends whatever it names.
	}
	return &domain.Event{WorkspaceID: d.ID.WS, Lease: &domain.ActivityLeaseEvent{Lease: d.domain(), Dropped: dropped}}
}
