package mongostore

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"switchboard/domain"
)

// queueFilter is the filter of q's view without its keyset condition;
// none when the view matches nothing.
func queueFilter(q domain.QueueQuery) (filter bson.D, none bool) {
	filter = bson.D{{Key: "ws", Value: q.WorkspaceID}, {Key: "status", Value: string(q.Status)}}
	switch m := q.Owners.Set(); {
	case m.All:
	case m.Finite && len(m.Values) == 0:
		return nil, true
	case m.Finite:
		filter = append(filter, in("ownerId", m.Values))
	default:
		nin := m.Except
		if !m.Unowned {
			nin = append([]string{""}, nin...)
		}
		if len(nin) > 0 {
			filter = append(filter, bson.E{Key: "ownerId", Value: bson.D{{Key: "$nin", Value: nin}}})
		}
	}
	if ch := domain.SortedUnique(q.ChannelIDs); len(ch) > 0 {
		filter = append(filter, in("channelId", ch))
	}
	return filter, false
}

// in is field = the one value, or field in the values.
func in(field string, values []string) bson.E {
	if len(values) == 1 {
		return bson.E{Key: field, Value: values[0]}
	}
	return bson.E{Key: field, Value: bson.D{{Key: "$in", Value: values}}}
}

// QueryQueue returns up to q.Limit conversations of a queue view after
// q.After, in q.Order: sorted by (waitingSince, id), read in that order
// from a queue index.
func (s *Store) QueryQueue(ctx context.Context, q domain.QueueQuery) ([]domain.Conversation, error) {
	filter, none := queueFilter(q)
	if none || q.Limit <= 0 {
		return nil, nil
	}
	dir, after, from := 1, "$gt", "$gte"
	if q.Order == domain.Newest {
		dir, after, from = -1, "$lt", "$lte"
	}
	if k := q.After; k != nil {
		w := utc(k.WaitingSince)
		// The range on waitingSince bounds the index scan; the $or keeps
		// only the rows strictly after the key.
		filter = append(filter,
			bson.E{Key: "waitingSince", Value: bson.D{{Key: from, Value: w}}},
			bson.E{Key: "$or", Value: bson.A{
				bson.D{{Key: "waitingSince", Value: bson.D{{Key: after, Value: w}}}},
				bson.D{{Key: "waitingSince", Value: w}, {Key: "id", Value: bson.D{{Key: after, Value: k.ID}}}},
			}})
	}
	docs, err := find[conversationDoc](ctx, s, s.conversations, filter,
		bson.D{{Key: "waitingSince", Value: dir}, {Key: "id", Value: dir}}, int64(q.Limit))
	if err != nil {
		return nil, wrap("query queue", err)
	}
	return conversationList(docs), nil
}

// CountQueue counts the conversations of a queue view.
func (s *Store) CountQueue(ctx context.Context, q domain.QueueQuery) (int, error) {
	filter, none := queueFilter(q)
	if none {
		return 0, nil
	}
	n, err := s.count(ctx, s.conversations, filter)
	return n, wrap("count queue", err)
}

// count counts the documents of filter.
func (s *Store) count(ctx context.Context, coll *mongo.Collection, filter bson.D) (int, error) {
	// CountDocuments is an aggregate of $match and $group: explain it so.
	s.traced(coll, bson.D{{Key: "aggregate", Value: coll.Name()}, {Key: "pipeline", Value: bson.A{
		bson.D{{Key: "$match", Value: filter}},
		bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: 1}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}},
	}}, {Key: "cursor", Value: bson.D{}}})
	ctx, cancel := s.op(ctx)
	defer cancel()
	n, err := coll.CountDocuments(ctx, filter)
	return int(n), err
}

// CountOwners counts a queue's conversations per owner ("" for unowned), in
// owner order.
func (s *Store) CountOwners(ctx context.Context, workspaceID string, status domain.QueueStatus, channelIDs []string) ([]domain.OwnerCount, error) {
	match := bson.D{{Key: "ws", Value: workspaceID}, {Key: "status", Value: string(status)}}
	if ch := domain.SortedUnique(channelIDs); len(ch) > 0 {
		match = append(match, in("channelId", ch))
	}
	pipeline := bson.A{
		bson.D{{Key: "$match", Value: match}},
		bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$ownerId"}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}},
		bson.D{{Key: "$sort", Value: bson.D{{Key: "_id", Value: 1}}}},
	}
	s.traced(s.conversations, bson.D{{Key: "aggregate", Value: s.conversations.Name()}, {Key: "pipeline", Value: pipeline}, {Key: "cursor", Value: bson.D{}}})
	cctx, cancel := s.op(ctx)
	defer cancel()
	cur, err := s.conversations.Aggregate(cctx, pipeline)
	if err != nil {
		return nil, wrap("count owners", err)
	}
	var rows []struct {
		Owner string `bson:"_id"`
		N     int    `bson:"n"`
	}
	if err := cur.All(cctx, &rows); err != nil {
		return nil, wrap("count owners", err)
	}
	var out []domain.OwnerCount
	for _, r := range rows {
		out = append(out, domain.OwnerCount{OwnerID: r.Owner, Count: r.N})
	}
	return out, nil
}
