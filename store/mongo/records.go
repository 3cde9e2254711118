package mongostore

import (
	"context"
	"errors"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"switchboard/domain"
)

// idWS is the filter of one document of one workspace.
func idWS(k, ws string) bson.D {
	return bson.D{{Key: "_id", Value: k}, {Key: "ws", Value: ws}}
}

// Settings.

// GetSettings returns the workspace's settings, the defaults if it never
// saved any.
func (s *Store) GetSettings(ctx context.Context, workspaceID string) (domain.Settings, error) {
	d, err := findOne[settingsDoc](ctx, s, s.settings, idWS(settingsKey(workspaceID), workspaceID))
	if err != nil {
		return domain.Settings{}, wrap("get settings", err)
	}
	if d == nil {
		return domain.DefaultSettings(workspaceID), nil
	}
	return d.domain(), nil
}

// SaveSettings writes st if the stored version is st.Version-1.
func (s *Store) SaveSettings(ctx context.Context, st domain.Settings) error {
	d := toSettingsDoc(st)
	if st.Version == 1 {
		// The first save: none stored counts as version 0, and the _id
		// makes a second first save a duplicate.
		err := s.insert(ctx, s.settings, d)
		if errors.Is(err, domain.ErrDuplicate) {
			return domain.ErrVersionConflict
		}
		return wrap("save settings", err)
	}
	if st.Version < 1 {
		return domain.ErrVersionConflict
	}
	filter := append(idWS(d.Key, st.WorkspaceID), bson.E{Key: "version", Value: st.Version - 1})
	set := bson.D{
		{Key: "removeOwnershipOnLogout", Value: d.RemoveOwnershipOnLogout}, {Key: "logoutGraceSeconds", Value: d.LogoutGraceSeconds},
		{Key: "switchedOffCount", Value: d.SwitchedOffCount}, {Key: "switchedOffAt", Value: d.SwitchedOffAt},
		{Key: "routingMode", Value: d.RoutingMode}, {Key: "routingDefaultCapacity", Value: d.RoutingDefaultCapacity},
		{Key: "routingUnansweredSeconds", Value: d.RoutingUnanswered}, {Key: "routingPreferLastOwner", Value: d.RoutingPreferLastOwner},
		{Key: "version", Value: d.Version}, {Key: "updatedAt", Value: d.UpdatedAt},
	}
	defer s.lock(d.Key, false)()
	n, err := s.update(ctx, s.settings, filter, bson.D{{Key: "$set", Value: set}})
	if err != nil {
		return wrap("save settings", err)
	}
	if n == 0 {
		return domain.ErrVersionConflict
	}
	return nil
}

// Agents.

func agentKeyOf(d *agentDoc) string { return d.Key }

// AgentsByIDs returns agents in key order, nil for unknown ids.
func (s *Store) AgentsByIDs(ctx context.Context, workspaceID string, ids []string) ([]*domain.Agent, error) {
	out, err := byKeys(ctx, s, s.agents, workspaceID, keys(workspaceID, ids, agentKey), agentKeyOf, (*agentDoc).domain)
	return out, wrap("agents by ids", err)
}

// ListAgents returns a workspace's agents sorted by name, then id.
func (s *Store) ListAgents(ctx context.Context, workspaceID string, f domain.AgentFilter) ([]domain.Agent, error) {
	filter := bson.D{{Key: "ws", Value: workspaceID}}
	if !f.IncludeInactive {
		filter = append(filter, bson.E{Key: "active", Value: true})
	}
	if len(f.Presence) > 0 {
		ps := make([]string, len(f.Presence))
		for i, p := range f.Presence {
			ps[i] = string(p)
		}
		filter = append(filter, bson.E{Key: "presence", Value: bson.D{{Key: "$in", Value: ps}}})
	}
	docs, err := find[agentDoc](ctx, s, s.agents, filter, asc("name", "id"), 0)
	if err != nil {
		return nil, wrap("list agents", err)
	}
	return agentList(docs), nil
}

func agentList(docs []agentDoc) []domain.Agent {
	var out []domain.Agent
	for i := range docs {
		out = append(out, *docs[i].domain())
	}
	return out
}

// InsertAgent creates a; ErrDuplicate if the id is taken.
func (s *Store) InsertAgent(ctx context.Context, a domain.Agent) error {
	d := toAgentDoc(a)
	defer s.lock(d.Key, true)()
	if err := s.insert(ctx, s.agents, d); err != nil {
		return wrap("insert agent", err)
	}
	s.publish(&domain.Event{WorkspaceID: a.WorkspaceID, Agent: &domain.AgentEvent{After: a}})
	return nil
}

// UpdateAgent writes a if the stored version is a.Version-1. LastSeenAt only
// moves forward ($max), also past a writer that read an older one.
func (s *Store) UpdateAgent(ctx context.Context, a domain.Agent) error {
	d := toAgentDoc(a)
	set := bson.D{
		{Key: "name", Value: d.Name}, {Key: "email", Value: d.Email}, {Key: "role", Value: d.Role}, {Key: "active", Value: d.Active},
		{Key: "presence", Value: d.Presence}, {Key: "presenceSince", Value: d.PresenceSince}, {Key: "offlineEpoch", Value: d.OfflineEpoch},
		{Key: "cleanup", Value: d.Cleanup}, {Key: "cleanupDueAt", Value: d.CleanupDueAt},
		{Key: "createdAt", Value: d.CreatedAt}, {Key: "updatedAt", Value: d.UpdatedAt}, {Key: "version", Value: d.Version},
		{Key: "capacity", Value: d.Capacity},
	}
	maxes := bson.D{{Key: "lastSeenAt", Value: d.LastSeenAt}}
	if d.LastRoutedAt != nil {
		maxes = append(maxes, bson.E{Key: "lastRoutedAt", Value: *d.LastRoutedAt})
	}
	upd := bson.D{{Key: "$set", Value: set}, {Key: "$max", Value: maxes}}
	// A writer that decided on an older sign of life loses (domain.Store).
	filter := append(idWS(d.Key, a.WorkspaceID), bson.E{Key: "version", Value: a.Version - 1},
		bson.E{Key: "lastSeenAt", Value: bson.D{{Key: "$lte", Value: d.LastSeenAt}}})
	defer s.lock(d.Key, true)()
	s.traced(s.agents, bson.D{{Key: "update", Value: s.agents.Name()}, {Key: "updates", Value: bson.A{bson.D{{Key: "q", Value: filter}, {Key: "u", Value: upd}}}}})
	cctx, cancel := s.op(ctx)
	var before agentDoc
	err := s.agents.FindOneAndUpdate(cctx, filter, upd, options.FindOneAndUpdate().SetReturnDocument(options.Before)).Decode(&before)
	cancel()
	if errors.Is(err, mongo.ErrNoDocuments) {
		cur, err := findOne[agentDoc](ctx, s, s.agents, idWS(d.Key, a.WorkspaceID))
		switch {
		case err != nil:
			return wrap("update agent", err)
		case cur == nil:
			return domain.ErrNotFound
		}
		return domain.ErrVersionConflict
	}
	if err != nil {
		return wrap("update agent", err)
	}
	b := before.domain()
	if b.LastSeenAt.After(a.LastSeenAt) {
		a.LastSeenAt = b.LastSeenAt
	}
	if b.LastRoutedAt.After(a.LastRoutedAt) {
		a.LastRoutedAt = b.LastRoutedAt
	}
	s.publish(&domain.Event{WorkspaceID: a.WorkspaceID, Agent: &domain.AgentEvent{Before: b, After: a}})
	return nil
}

// TouchAgent moves the agent's LastSeenAt forward to at, never back, without
// a new version; ErrNotFound if there is no such agent.
func (s *Store) TouchAgent(ctx context.Context, workspaceID, agentID string, at time.Time) error {
	return s.moveAgentTime(ctx, "touch agent", "lastSeenAt", workspaceID, agentID, at)
}

// moveAgentTime moves one time field of an agent forward to at, never
// back, without a new version (signs of life, routing turns); ErrNotFound
// if there is no such agent.
func (s *Store) moveAgentTime(ctx context.Context, what, field, workspaceID, agentID string, at time.Time) error {
	k := agentKey(workspaceID, agentID)
	defer s.lock(k, false)()
	n, err := s.update(ctx, s.agents, idWS(k, workspaceID),
		bson.D{{Key: "$max", Value: bson.D{{Key: field, Value: utc(at)}}}})
	if err != nil {
		return wrap(what, err)
	}
	if n == 0 {
		return domain.ErrNotFound
	}
	return nil
}

// Channels.

// InsertChannel creates c; ErrDuplicate if its id or name is taken.
func (s *Store) InsertChannel(ctx context.Context, c domain.Channel) error {
	auto := slices.Clone(c.AutoOwnershipAgentIDs)
	slices.Sort(auto)
	auto = slices.Compact(auto)
	if auto == nil {
		auto = []string{}
	}
	routing := sortedIDs(c.RoutingAgentIDs)
	if routing == nil {
		routing = []string{}
	}
	d := channelDoc{Key: channelKey(c.WorkspaceID, c.ID), WS: c.WorkspaceID, ID: c.ID, Name: c.Name, AutoOwn: auto, Routing: routing,
		CreatedAt: utc(c.CreatedAt)}
	return wrap("insert channel", s.insert(ctx, s.channels, d))
}

func channelKeyOf(d *channelDoc) string { return d.Key }

// ChannelsByIDs returns channels in key order, nil for unknown ids.
func (s *Store) ChannelsByIDs(ctx context.Context, workspaceID string, ids []string) ([]*domain.Channel, error) {
	out, err := byKeys(ctx, s, s.channels, workspaceID, keys(workspaceID, ids, channelKey), channelKeyOf, (*channelDoc).domain)
	return out, wrap("channels by ids", err)
}

// ListChannels returns a workspace's channels sorted by name (names are
// unique per workspace, so that is also by name, then id).
func (s *Store) ListChannels(ctx context.Context, workspaceID string) ([]domain.Channel, error) {
	docs, err := find[channelDoc](ctx, s, s.channels, bson.D{{Key: "ws", Value: workspaceID}}, asc("name"), 0)
	if err != nil {
		return nil, wrap("list channels", err)
	}
	var out []domain.Channel
	for i := range docs {
		out = append(out, *docs[i].domain())
	}
	return out, nil
}

// SetAutoOwnership turns auto-ownership on or off for one agent on one
// channel; ErrNotFound if the channel is unknown.
func (s *Store) SetAutoOwnership(ctx context.Context, workspaceID, channelID, agentID string, enabled bool) error {
	return s.setChannelAgent(ctx, "set auto-ownership", "autoOwnership", workspaceID, channelID, agentID, enabled)
}

// SetRoutingAgent names or unnames one agent as a routing agent of one
// channel; ErrNotFound if the channel is unknown.
func (s *Store) SetRoutingAgent(ctx context.Context, workspaceID, channelID, agentID string, enabled bool) error {
	return s.setChannelAgent(ctx, "set routing agent", "routingAgents", workspaceID, channelID, agentID, enabled)
}

// setChannelAgent adds agentID to, or removes it from, one of a channel's
// lists of agents; idempotent, ErrNotFound if the channel is unknown.
func (s *Store) setChannelAgent(ctx context.Context, what, list, workspaceID, channelID, agentID string, enabled bool) error {
	op := "$pull"
	if enabled {
		op = "$addToSet"
	}
	k := channelKey(workspaceID, channelID)
	defer s.lock(k, false)()
	n, err := s.update(ctx, s.channels, idWS(k, workspaceID),
		bson.D{{Key: op, Value: bson.D{{Key: list, Value: agentID}}}})
	if err != nil {
		return wrap(what, err)
	}
	if n == 0 {
		return domain.ErrNotFound
	}
	return nil
}

// touchRouted moves the agent's LastRoutedAt forward to at, never back,
// without a new version; ErrNotFound if there is no such agent.
func (s *Store) touchRouted(ctx context.Context, workspaceID, agentID string, at time.Time) error {
	return s.moveAgentTime(ctx, "touch routed", "lastRoutedAt", workspaceID, agentID, at)
}

// routingLeaseDoc is a workspace's routing lease: which instance routes
// the workspace, until when.
type routingLeaseDoc struct {
	WS     string    `bson:"_id"`
	Holder string    `bson:"holder"`
	Until  time.Time `bson:"until"`
}

// ClaimRouting takes or renews the workspace's routing lease: one
// conditional upsert of its document, matching only a lease that is ours or
// has expired. A live lease of another instance does not match, so the
// upsert tries to insert a second document with the same _id, and the
// duplicate key says the lease is lost.
func (s *Store) ClaimRouting(ctx context.Context, workspaceID, instance string, now, until time.Time) (bool, error) {
	filter := bson.D{{Key: "_id", Value: workspaceID}, {Key: "$or", Value: bson.A{
		bson.D{{Key: "holder", Value: instance}},
		bson.D{{Key: "until", Value: bson.D{{Key: "$lte", Value: utc(now)}}}},
	}}}
	upd := bson.D{{Key: "$set", Value: bson.D{{Key: "holder", Value: instance}, {Key: "until", Value: utc(until)}}}}
	defer s.lock("routing "+workspaceID, false)()
	s.traced(s.routingLeases, bson.D{{Key: "update", Value: s.routingLeases.Name()},
		{Key: "updates", Value: bson.A{bson.D{{Key: "q", Value: filter}, {Key: "u", Value: upd}, {Key: "upsert", Value: true}}}}})
	cctx, cancel := s.op(ctx)
	defer cancel()
	res, err := s.routingLeases.UpdateOne(cctx, filter, upd, options.UpdateOne().SetUpsert(true))
	if mongo.IsDuplicateKeyError(err) {
		return false, nil
	}
	if err != nil {
		return false, wrap("claim routing", err)
	}
	return res.MatchedCount+res.UpsertedCount > 0, nil
}

// Contacts.

// UpsertContact creates the contact unless it exists and sets its name when
// c.Name is not empty; it returns the stored contact. ErrDuplicate if another
// contact has c's external id on c's channel.
func (s *Store) UpsertContact(ctx context.Context, c domain.Contact) (domain.Contact, error) {
	d := toContactDoc(c)
	filter := idWS(d.Key, c.WorkspaceID)
	// Nearly always the contact exists as asked: one read answers.
	got, err := findOne[contactDoc](ctx, s, s.contacts, filter)
	if err != nil {
		return domain.Contact{}, wrap("upsert contact", err)
	}
	if got != nil && (c.Name == "" || c.Name == got.Name) {
		return *got.domain(), nil
	}
	if got == nil {
		err := s.insert(ctx, s.contacts, d)
		if err == nil {
			return *d.domain(), nil
		}
		if !errors.Is(err, domain.ErrDuplicate) {
			return domain.Contact{}, wrap("upsert contact", err)
		}
		// Inserted by someone else just now, or another contact has the
		// external id: the read below tells.
	}
	if c.Name != "" {
		unlock := s.lock(d.Key, false)
		_, err := s.update(ctx, s.contacts, filter, bson.D{{Key: "$set", Value: bson.D{{Key: "name", Value: c.Name}}}})
		unlock()
		if err != nil {
			return domain.Contact{}, wrap("upsert contact", err)
		}
	}
	if got, err = findOne[contactDoc](ctx, s, s.contacts, filter); err != nil {
		return domain.Contact{}, wrap("upsert contact", err)
	}
	if got == nil {
		return domain.Contact{}, domain.ErrDuplicate
	}
	return *got.domain(), nil
}

func contactKeyOf(d *contactDoc) string { return d.Key }

// ContactsByIDs returns contacts in key order, nil for unknown ids.
func (s *Store) ContactsByIDs(ctx context.Context, workspaceID string, ids []string) ([]*domain.Contact, error) {
	out, err := byKeys(ctx, s, s.contacts, workspaceID, keys(workspaceID, ids, contactKey), contactKeyOf, (*contactDoc).domain)
	return out, wrap("contacts by ids", err)
}

// Acknowledgements.

// AcknowledgeAssignments records that agentID has seen these assignments;
// inserting an acknowledgement that exists changes nothing.
func (s *Store) AcknowledgeAssignments(ctx context.Context, workspaceID, agentID string, ks []domain.HistoryKey) error {
	if len(ks) == 0 {
		return nil
	}
	seen := map[string]bool{}
	var docs []any
	for _, k := range ks {
		d := ackDoc{Key: ackKey(workspaceID, agentID, k.ConversationID, k.Version), WS: workspaceID, AgentID: agentID,
			ConversationID: k.ConversationID, Version: k.Version}
		if !seen[d.Key] {
			seen[d.Key] = true
			docs = append(docs, d)
		}
	}
	for _, c := range chunks(len(docs)) {
		cctx, cancel := s.op(ctx)
		_, err := s.acks.InsertMany(cctx, docs[c[0]:c[1]], options.InsertMany().SetOrdered(false))
		cancel()
		if err != nil && !onlyDuplicates(err) {
			return wrap("acknowledge assignments", err)
		}
	}
	return nil
}

// onlyDuplicates reports whether every error of a bulk write is a duplicate
// key.
func onlyDuplicates(err error) bool {
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return false
	}
	for _, we := range bwe.WriteErrors {
		if we.Code != 11000 {
			return false
		}
	}
	return true
}

// AcknowledgedAssignments reports, for each key, whether agentID has
// acknowledged it.
func (s *Store) AcknowledgedAssignments(ctx context.Context, workspaceID, agentID string, ks []domain.HistoryKey) ([]bool, error) {
	ids := make([]string, len(ks))
	for i, k := range ks {
		ids[i] = ackKey(workspaceID, agentID, k.ConversationID, k.Version)
	}
	found, err := byKeys(ctx, s, s.acks, workspaceID, ids, func(d *ackDoc) string { return d.Key }, func(d *ackDoc) *ackDoc { return d })
	if err != nil {
		return nil, wrap("acknowledged assignments", err)
	}
	out := make([]bool, len(ks))
	for i, d := range found {
		out[i] = d != nil
	}
	return out, nil
}
