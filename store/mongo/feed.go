package mongostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"switchboard/domain"
)

// The change-stream feed: on a replica set, every instance watches the
// conversations and agents collections and delivers each committed change,
// whichever instance made it, to its own sink. Events carry the documents as
// the change left them and as they were before it (pre- and post-images,
// which Migrate enables), never a later re-read; the history entry and
// message of a change come from the `pending` items of its post-image.

// ChangeStreams reports whether this server can run the feed.
func (s *Store) ChangeStreams() bool { return s.migration.ChangeStreams }

// PublishInProcess makes the store publish its own committed changes to
// sink right after each write: for a server without change streams, where
// only one instance may run. Call it before the store is shared.
func (s *Store) PublishInProcess(sink domain.EventSink) { s.sink = sink }

// FeedHooks are told about the feed's life.
type FeedHooks struct {
	// Resynced is called when the feed lost its place (its resume token was
	// too old, or the collections were dropped) and started again from now:
	// subscribers may have missed changes and should catch up.
	Resynced func()
	// Ready is called each time the change stream is open: changes
	// committed after that are delivered.
	Ready func()
	// Resumed is called each time the change stream opens again after the
	// last change it handled (a restart, a failover, a network error).
	Resumed func()
}

// Watch delivers every committed change to sink, in the order the database
// committed them, until ctx ends. It resumes after the last change it
// handled, kept in the store under name (one name per instance), so a
// restarted instance continues where it stopped. Network errors and
// failovers are retried; a lost place is resynchronised, never a crash.
func (s *Store) Watch(ctx context.Context, name string, sink domain.EventSink, hooks FeedHooks) error {
	if !s.ChangeStreams() {
		return errors.New("mongo: this server has no change streams (see migrate)")
	}
	backoff := 100 * time.Millisecond
	// failing: the stream failed and has not opened since. A server that is
	// away fails every reopening; the log says so once, and once more when
	// the stream opens again.
	failing := false
	opened := func() {
		if failing {
			s.log.Info("mongo feed: the change stream is open again")
			failing = false
		}
		if hooks.Ready != nil {
			hooks.Ready()
		}
	}
	failed := func(msg string, args ...any) {
		if failing {
			s.log.Debug(msg, args...)
			return
		}
		failing = true
		s.log.Warn(msg+" (said once until the stream opens again)", args...)
	}
	for ctx.Err() == nil {
		token, err := s.loadResumeToken(ctx, name)
		if err != nil {
			failed("mongo feed: reading the resume token failed; retrying", "err", err)
		} else {
			ready := opened
			if token != nil && hooks.Resumed != nil {
				ready = func() { opened(); hooks.Resumed() }
			}
			err = s.watch(ctx, name, token, sink, ready)
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case isLostPlace(err):
			s.log.Warn("mongo feed: the saved place in the change stream is gone; starting from now (subscribers catch up)", "err", err)
			if err := s.saveResumeToken(ctx, name, nil); err != nil {
				s.log.Warn("mongo feed: clearing the resume token failed", "err", err)
			}
			// What happened meanwhile may be missing from the record of
			// changes too: a subscriber resuming from before now refetches.
			if err := s.raiseHorizon(ctx, "", time.Now().Unix()<<32); err != nil {
				s.log.Warn("mongo feed: raising the horizon of the record of changes failed", "err", err)
			}
			if hooks.Resynced != nil {
				hooks.Resynced()
			}
			backoff = 100 * time.Millisecond
			continue
		case err != nil:
			failed("mongo feed: the change stream failed; reopening it", "err", err, "in", backoff)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
	return nil
}

// isLostPlace reports whether a change stream cannot resume where it was:
// ChangeStreamHistoryLost (286), a token of a dropped collection
// (InvalidResumeToken 260), or a fatal change stream error (280).
func isLostPlace(err error) bool {
	var se mongo.ServerError
	if errors.As(err, &se) {
		return se.HasErrorCode(286) || se.HasErrorCode(260) || se.HasErrorCode(280)
	}
	return errors.Is(err, errInvalidated)
}

var errInvalidated = errors.New("the change stream was invalidated")

// watch runs one change stream from token (nil: from now).
func (s *Store) watch(ctx context.Context, name string, token bson.Raw, sink domain.EventSink, ready func()) error {
	pipeline := mongo.Pipeline{{{Key: "$match", Value: bson.D{
		{Key: "$or", Value: bson.A{
			bson.D{
				{Key: "ns.coll", Value: bson.D{{Key: "$in", Value: bson.A{collConversations, collAgents}}}},
				{Key: "operationType", Value: bson.D{{Key: "$in", Value: bson.A{"insert", "update", "replace"}}}},
			},
			bson.D{
				{Key: "ns.coll", Value: collActivity},
				{Key: "operationType", Value: bson.D{{Key: "$in", Value: bson.A{"insert", "replace", "delete"}}}},
			},
			bson.D{{Key: "operationType", Value: "invalidate"}},
		}},
	}}}}
	opts := options.ChangeStream().
		SetFullDocument(options.Required).
		SetFullDocumentBeforeChange(options.WhenAvailable).
		SetMaxAwaitTime(time.Second)
	if token != nil {
		opts.SetResumeAfter(token)
	}
	cs, err := s.db.Watch(ctx, pipeline, opts)
	if err != nil {
		return err
	}
	defer cs.Close(context.Background())
	if ready != nil {
		ready()
	}
	lastSaved := time.Now()
	for cs.Next(ctx) {
		var ev changeEvent
		if err := cs.Decode(&ev); err != nil {
			return fmt.Errorf("decode a change event: %w", err)
		}
		if ev.OperationType == "invalidate" {
			return errInvalidated
		}
		if e := ev.domain(); e != nil {
			e.CommittedAt = ev.WallTime
			// In the record before it is published: see events.go.
			e.Position = clusterPosition(ev.ClusterTime)
			if err := s.logEvent(ctx, e); err != nil {
				return err
			}
			sink.Publish(*e)
		}
		// Saving after every event would double the writes; a restart
		// replays at most a second of events, which subscribers and the
		// jobs take as they come (each is the state of its own change).
		if time.Since(lastSaved) > time.Second {
			if err := s.saveResumeToken(ctx, name, cs.ResumeToken()); err != nil {
				s.log.Warn("mongo feed: saving the resume token failed", "err", err)
			}
			lastSaved = time.Now()
		}
	}
	if err := s.saveResumeToken(context.WithoutCancel(ctx), name, cs.ResumeToken()); err != nil && ctx.Err() == nil {
		s.log.Warn("mongo feed: saving the resume token failed", "err", err)
	}
	return cs.Err()
}

// changeEvent is the part of a change event the feed reads.
type changeEvent struct {
	OperationType string         `bson:"operationType"`
	ClusterTime   bson.Timestamp `bson:"clusterTime"`
	NS            struct {
		Coll string `bson:"coll"`
	} `bson:"ns"`
	FullDocument             bson.Raw `bson:"fullDocument"`
	FullDocumentBeforeChange bson.Raw `bson:"fullDocumentBeforeChange"`
	DocumentKey              bson.Raw `bson:"documentKey"`
	// WallTime is when the primary committed the change (MongoDB 6.0+).
	WallTime time.Time `bson:"wallTime"`
}

// domain turns a change event into the event of the change it records; nil
// for writes that change nothing a subscriber sees (a copy out of pending,
// a sign of life), which do not move the version.
func (ev *changeEvent) domain() *domain.Event {
	switch ev.NS.Coll {
	case collActivity:
		return ev.activityEvent()
	case collConversations:
		var after conversationDoc
		if bson.Unmarshal(ev.FullDocument, &after) != nil {
			return nil
		}
		var before *conversationDoc
		if len(ev.FullDocumentBeforeChange) > 0 {
			before = &conversationDoc{}
			if bson.Unmarshal(ev.FullDocumentBeforeChange, before) != nil {
				before = nil
			}
		}
		if before != nil && before.State.Version == after.State.Version {
			return nil
		}
		ce := &domain.ConversationEvent{After: *after.domain()}
		if before != nil {
			ce.Before = before.domain()
		}
		for _, p := range after.Pending {
			switch {
			case p.History != nil && p.History.Version == after.State.Version:
				ce.Change = p.History.domain()
				snapshot := ce.After
				ce.Change.Conversation = &snapshot
			case p.Message != nil && p.Message.Version == after.State.Version:
				ce.Message = p.Message.domain()
			case p.Delivery != nil && p.Delivery.Delivery != nil && p.Delivery.Delivery.Version == after.State.Version:
				ce.Delivery = p.Delivery.domain()
			}
		}
		return &domain.Event{WorkspaceID: after.WS, Conversation: ce}
	case collAgents:
		var after agentDoc
		if bson.Unmarshal(ev.FullDocument, &after) != nil {
			return nil
		}
		ae := &domain.AgentEvent{After: *after.domain()}
		if len(ev.FullDocumentBeforeChange) > 0 {
			var before agentDoc
			if bson.Unmarshal(ev.FullDocumentBeforeChange, &before) == nil {
				if before.Version == after.Version {
					return nil
				}
				ae.Before = before.domain()
			}
		}
		return &domain.Event{WorkspaceID: after.WS, Agent: ae}
	}
	return nil
}

type feedDoc struct {
	Key       string    `bson:"_id"`
	Token     bson.Raw  `bson:"token"`
	UpdatedAt time.Time `bson:"updatedAt"`
}

func (s *Store) loadResumeToken(ctx context.Context, name string) (bson.Raw, error) {
	d, err := findOne[feedDoc](ctx, s, s.db.Collection(collFeeds), bson.D{{Key: "_id", Value: name}})
	if err != nil || d == nil || len(d.Token) == 0 {
		return nil, err
	}
	return d.Token, nil
}

func (s *Store) saveResumeToken(ctx context.Context, name string, token bson.Raw) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	_, err := s.db.Collection(collFeeds).UpdateOne(ctx, bson.D{{Key: "_id", Value: name}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "token", Value: token}, {Key: "updatedAt", Value: time.Now().UTC()}}}},
		options.UpdateOne().SetUpsert(true))
	return err
}
