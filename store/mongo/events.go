package mongostore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"switchboard/domain"
)

// The record of changes that resuming subscribers replay: a collection of
// events keyed by workspace and position, written idempotently by key, so
// that every instance may write the same event and any instance can serve
// any position.
//
// With change streams, an event's position is the cluster time of its
// oplog entry (seconds << 32 | increment): the same on every instance, and
// increasing in the order the change stream delivers. Each instance's feed
// writes the event to the record before publishing it, so whatever this
// instance has published is in the record, and a subscriber that reads the
// record after subscribing misses nothing at the seam. Without change
// streams (one instance, publishing in process) the store numbers its
// events the same way from its own clock, never going back.
//
// A change-stream resume token would also name a place any instance can
// open, but only while the oplog holds it, which the store cannot size per
// workspace (10 minutes or 10,000 events), and reopening a stream per
// resuming subscriber costs a cursor on the server each; the record is
// read by an index and trimmed by the store's own rule.

var _ domain.EventLog = (*Store)(nil)

// eventDoc is one event of the record.
type eventDoc struct {
	Key  string    `bson:"_id"`
	WS   string    `bson:"ws"`
	Pos  int64     `bson:"pos"`
	At   time.Time `bson:"at"`
	Body string    `bson:"body"`
}

// horizonDoc is the newest position trimmed from a workspace's record
// (key ""): all workspaces, after the feed lost its place).
type horizonDoc struct {
	Key     string `bson:"_id"`
	Through int64  `bson:"through"`
}

// eventKey keys an event by workspace and position, positions in order.
func eventKey(ws string, pos int64) string { return key(ws, fmt.Sprintf("%016x", pos)) }

// clusterPosition is the position of a cluster time.
func clusterPosition(ts bson.Timestamp) int64 { return int64(ts.T)<<32 | int64(ts.I) }

// positions numbers the events a store publishes in process.
type positions struct {
	mu     sync.Mutex
	last   int64
	loaded bool
}

// logEvent writes e to the record; an event already there (written by
// another instance's feed) is left as it is.
func (s *Store) logEvent(ctx context.Context, e *domain.Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("mongo: encode the event: %w", err)
	}
	at := time.Now()
	switch {
	case e.Conversation != nil:
		at = e.Conversation.After.UpdatedAt
	case e.Agent != nil:
		at = e.Agent.After.UpdatedAt
	}
	err = s.insert(ctx, s.db.Collection(collEvents), eventDoc{
		Key: eventKey(e.WorkspaceID, e.Position), WS: e.WorkspaceID, Pos: e.Position, At: utc(at), Body: string(body),
	})
	if errors.Is(err, domain.ErrDuplicate) {
		return nil
	}
	return wrap("log event", err)
}

// publishLogged numbers e after every event this process published
// before, writes it to the record, and publishes it: for a store that
// publishes in process. An event the record could not take is published
// all the same (its subscribers are live), and a subscriber resuming from
// before it is told to refetch.
func (s *Store) publishLogged(e *domain.Event) {
	p := &s.positions
	p.mu.Lock()
	defer p.mu.Unlock()
	ctx := context.Background()
	if !p.loaded {
		last, err := s.lastPosition(ctx)
		if err != nil {
			s.log.Warn("mongo: reading the record of changes failed", "err", err)
		} else {
			p.last, p.loaded = last, true
		}
	}
	e.Position = max(p.last+1, time.Now().Unix()<<32)
	p.last = e.Position
	if err := s.logEvent(ctx, e); err != nil {
		s.log.Warn("mongo: a change could not be written to the record of changes; resuming from before it means a refetch", "err", err)
		if err := s.raiseHorizon(ctx, "", e.Position); err != nil {
			s.log.Warn("mongo: raising the horizon of the record of changes failed", "err", err)
		}
	}
	s.sink.Publish(*e)
}

// lastPosition is the highest position in the record.
func (s *Store) lastPosition(ctx context.Context) (int64, error) {
	docs, err := find[eventDoc](ctx, s, s.db.Collection(collEvents), bson.D{}, bson.D{{Key: "pos", Value: -1}}, 1)
	if err != nil || len(docs) == 0 {
		return 0, err
	}
	return docs[0].Pos, nil
}

// raiseHorizon marks the positions up to through as no longer all kept,
// in workspace ws ("" for all).
func (s *Store) raiseHorizon(ctx context.Context, ws string, through int64) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	_, err := s.db.Collection(collEventHorizons).UpdateOne(ctx, bson.D{{Key: "_id", Value: ws}},
		bson.D{{Key: "$max", Value: bson.D{{Key: "through", Value: through}}}}, options.UpdateOne().SetUpsert(true))
	return wrap("raise the horizon", err)
}

// horizon is the newest position no longer kept for ws.
func (s *Store) horizon(ctx context.Context, ws string) (int64, error) {
	var through int64
	for _, k := range []string{"", ws} {
		d, err := findOne[horizonDoc](ctx, s, s.db.Collection(collEventHorizons), bson.D{{Key: "_id", Value: k}})
		if err != nil {
			return 0, err
		}
		if d != nil {
			through = max(through, d.Through)
		}
	}
	return through, nil
}

// EventsAfter returns up to limit events of the workspace after position
// after, in order; domain.ErrPositionTooOld when some were trimmed.
func (s *Store) EventsAfter(ctx context.Context, workspaceID string, after int64, limit int) ([]domain.Event, error) {
	h, err := s.horizon(ctx, workspaceID)
	if err != nil {
		return nil, err
	}
	if after < h {
		return nil, domain.ErrPositionTooOld
	}
	docs, err := find[eventDoc](ctx, s, s.db.Collection(collEvents),
		bson.D{{Key: "ws", Value: workspaceID}, {Key: "pos", Value: bson.D{{Key: "$gt", Value: after}}}},
		bson.D{{Key: "ws", Value: 1}, {Key: "pos", Value: 1}}, int64(limit))
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		// Past the workspace's newest: a position of a store this one was
		// restored behind (subscribers are given logged positions only,
		// and trimming keeps the newest), whose later changes would be
		// missed.
		newest, err := find[eventDoc](ctx, s, s.db.Collection(collEvents),
			bson.D{{Key: "ws", Value: workspaceID}}, bson.D{{Key: "ws", Value: -1}, {Key: "pos", Value: -1}}, 1)
		if err != nil {
			return nil, err
		}
		if len(newest) == 0 || after > newest[0].Pos {
			return nil, domain.ErrPositionTooOld
		}
	}
	out := make([]domain.Event, len(docs))
	for i, d := range docs {
		if err := json.Unmarshal([]byte(d.Body), &out[i]); err != nil {
			return nil, fmt.Errorf("mongo: decode event %d: %w", d.Pos, err)
		}
		out[i].Position = d.Pos
	}
	return out, nil
}

// TrimEvents drops, in every workspace, the events before before that are
// not among its newest keep, and raises the workspace's horizon past them.
func (s *Store) TrimEvents(ctx context.Context, before time.Time, keep int) (int, error) {
	coll := s.db.Collection(collEvents)
	// The workspaces, one index seek each.
	var workspaces []string
	for {
		filter := bson.D{}
		if len(workspaces) > 0 {
			filter = bson.D{{Key: "ws", Value: bson.D{{Key: "$gt", Value: workspaces[len(workspaces)-1]}}}}
		}
		next, err := find[eventDoc](ctx, s, coll, filter, bson.D{{Key: "ws", Value: 1}, {Key: "pos", Value: 1}}, 1)
		if err != nil {
			return 0, err
		}
		if len(next) == 0 {
			break
		}
		workspaces = append(workspaces, next[0].WS)
	}
	total := 0
	for _, ws := range workspaces {
		beyond, err := find[eventDoc](ctx, s, coll, bson.D{{Key: "ws", Value: ws}}, bson.D{{Key: "ws", Value: -1}, {Key: "pos", Value: -1}}, int64(keep)+1)
		if err != nil {
			return total, err
		}
		if len(beyond) <= keep {
			continue
		}
		cut := beyond[len(beyond)-1].Pos
		filter := bson.D{{Key: "ws", Value: ws}, {Key: "pos", Value: bson.D{{Key: "$lte", Value: cut}}},
			{Key: "at", Value: bson.D{{Key: "$lt", Value: utc(before)}}}}
		last, err := find[eventDoc](ctx, s, coll, filter, bson.D{{Key: "ws", Value: -1}, {Key: "pos", Value: -1}}, 1)
		if err != nil || len(last) == 0 {
			if err != nil {
				return total, err
			}
			continue
		}
		// The horizon first: a reader never finds a gap it is not told of.
		if err := s.raiseHorizon(ctx, ws, last[0].Pos); err != nil {
			return total, err
		}
		dctx, cancel := s.op(ctx)
		r, err := coll.DeleteMany(dctx, bson.D{{Key: "ws", Value: ws}, {Key: "pos", Value: bson.D{{Key: "$lte", Value: last[0].Pos}}}})
		cancel()
		if err != nil {
			return total, wrap("trim events", err)
		}
		total += int(r.DeletedCount)
	}
	return total, nil
}
