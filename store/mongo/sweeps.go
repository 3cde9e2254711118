package mongostore

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"switchboard/domain"
)

// The sweeps are the only reads across workspaces besides Reconcile. Each
// reads an index of its own from its start: a derived field that is null
// when nothing is due (boomerangDueAt, cleanupDueAt), so a plain index serves
// where SQLite uses a partial one. A range on a date never matches null.

// DueBoomerangs returns up to n PENDING conversations, of any workspace,
// whose boomerang is due at or before t, soonest first.
func (s *Store) DueBoomerangs(ctx context.Context, t time.Time, n int) ([]domain.Conversation, error) {
	if n <= 0 {
		return nil, nil
	}
	docs, err := find[conversationDoc](ctx, s, s.conversations,
		bson.D{{Key: "boomerangDueAt", Value: bson.D{{Key: "$lte", Value: utc(t)}}}}, asc("boomerangDueAt", "ws", "id"), int64(n))
	if err != nil {
		return nil, wrap("due boomerangs", err)
	}
	return conversationList(docs), nil
}

// DueCleanups returns up to n agents, of any workspace, whose logout
// cleanup is due at or before t, soonest first.
func (s *Store) DueCleanups(ctx context.Context, t time.Time, n int) ([]domain.Agent, error) {
	if n <= 0 {
		return nil, nil
	}
	docs, err := find[agentDoc](ctx, s, s.agents,
		bson.D{{Key: "cleanupDueAt", Value: bson.D{{Key: "$lte", Value: utc(t)}}}}, asc("cleanupDueAt", "ws", "id"), int64(n))
	if err != nil {
		return nil, wrap("due cleanups", err)
	}
	return agentList(docs), nil
}

// SilentAgents returns up to n ONLINE or AWAY agents, of any workspace,
// last seen before t, longest silent first. The index leads with presence,
// so the two presences are two ranges that the server merges in order.
func (s *Store) SilentAgents(ctx context.Context, t time.Time, n int) ([]domain.Agent, error) {
	if n <= 0 {
		return nil, nil
	}
	docs, err := find[agentDoc](ctx, s, s.agents, bson.D{
		{Key: "presence", Value: bson.D{{Key: "$in", Value: bson.A{string(domain.Away), string(domain.Online)}}}},
		{Key: "lastSeenAt", Value: bson.D{{Key: "$lt", Value: utc(t)}}},
	}, asc("lastSeenAt", "ws", "id"), int64(n))
	if err != nil {
		return nil, wrap("silent agents", err)
	}
	return agentList(docs), nil
}

// DueUnanswered returns up to n NEW conversations, of any workspace, whose
// unanswered take-back is due at or before t, soonest first.
func (s *Store) DueUnanswered(ctx context.Context, t time.Time, n int) ([]domain.Conversation, error) {
	if n <= 0 {
		return nil, nil
	}
	docs, err := find[conversationDoc](ctx, s, s.conversations,
		bson.D{{Key: "unansweredDueAt", Value: bson.D{{Key: "$lte", Value: utc(t)}}}}, asc("unansweredDueAt", "ws", "id"), int64(n))
	if err != nil {
		return nil, wrap("due unanswered", err)
	}
	return conversationList(docs), nil
}

// RoutingWorkspaces returns up to n ids of workspaces with routing on, in
// id order after afterID: the settings of the two modes that route, two
// ranges of settings_routing merged in order.
func (s *Store) RoutingWorkspaces(ctx context.Context, afterID string, n int) ([]string, error) {
	if n <= 0 {
		return nil, nil
	}
	docs, err := find[settingsDoc](ctx, s, s.settings, bson.D{
		{Key: "routingMode", Value: bson.D{{Key: "$in", Value: bson.A{string(domain.RoutingRoundRobin), string(domain.RoutingBalanced)}}}},
		{Key: "ws", Value: bson.D{{Key: "$gt", Value: afterID}}},
	}, asc("ws"), int64(n))
	if err != nil {
		return nil, wrap("routing workspaces", err)
	}
	out := make([]string, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.WS)
	}
	return out, nil
}
