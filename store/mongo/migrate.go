package mongostore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The collections.
const (
	collSettings      = "settings"
	collAgents        = "agents"
	collChannels      = "channels"
	collContacts      = "contacts"
	collConversations = "conversations"
	collMessages      = "messages"
	collHistory       = "history"
	collAcks          = "acks"
	// collFeeds keeps each feed's resume token (read and written by _id).
	collFeeds = "feeds"
	// collProbe holds the probe record, written by _id to learn whether
	// the store takes writes; nothing reads it.
	collProbe = "probe"
	// collActivity holds the leases of viewers and typists, shared by the
	// instances through the change stream (activity.go).
	collActivity = "activity"
	// collEvents is the record of changes resuming subscribers replay
	// (events.go), collEventHorizons the newest position trimmed from it,
	// per workspace.
	collEvents        = "events"
	collEventHorizons = "eventHorizons"
	// collRoutingLeases holds each workspace's routing lease (ClaimRouting,
	// by _id).
	collRoutingLeases = "routingLeases"
)

var collections = []string{collSettings, collAgents, collChannels, collContacts, collConversations, collMessages, collHistory, collAcks,
	collFeeds, collProbe, collActivity, collEvents, collEventHorizons, collRoutingLeases}

// watched are the collections a change feed watches: their change events
// must carry the document as the change left it.
var watched = []string{collConversations, collAgents, collActivity}

// index is one index Migrate creates, and the queries it serves. None is
// partial, sparse or TTL: FerretDB refuses those, and the store expires
// nothing by itself that an index would have to.
type index struct {
	coll   string
	name   string
	keys   bson.D
	unique bool
	serves string
}

func asc(fields ...string) bson.D {
	d := make(bson.D, len(fields))
	for i, f := range fields {
		d[i] = bson.E{Key: f, Value: 1}
	}
	return d
}

// indexes are every index beside the _id ones. The _id index serves every
// read by key: GetSettings, AgentsByIDs, ChannelsByIDs, ContactsByIDs,
// ConversationsByIDs, MessagesByIDs, HistoryEntries, AcknowledgedAssignments,
// and every conditional write (which filter on _id, ws and a version).
var indexes = []index{
	{collAgents, "agents_by_name", asc("ws", "name", "id"), false, "ListAgents (sorted by name, then id)"},
	{collAgents, "agents_cleanup_due", asc("cleanupDueAt", "ws", "id"), false, "DueCleanups (soonest first)"},
	{collAgents, "agents_silent", asc("presence", "lastSeenAt", "ws", "id"), false, "SilentAgents (ONLINE and AWAY, longest silent first)"},
	{collChannels, "channels_by_name", asc("ws", "name"), true, "ListChannels; a channel name is unique per workspace"},
	{collContacts, "contacts_by_channel", asc("ws", "channelId", "externalId"), true, "a contact's external id is unique per channel"},
	{collConversations, "conversations_by_contact", asc("ws", "contactId", "seq"), true, "ContactConversations; a contact's n-th conversation is created once"},
	{collConversations, "conversations_queue", asc("ws", "status", "waitingSince", "id", "ownerId", "channelId"), false,
		"QueryQueue and CountQueue of a whole queue or of 'owned by others'"},
	{collConversations, "conversations_queue_by_owner", asc("ws", "status", "ownerId", "waitingSince", "id", "channelId"), false,
		"QueryQueue and CountQueue of unowned, mine, named owners; CountOwners"},
	{collConversations, "conversations_queue_by_channel", asc("ws", "status", "channelId", "waitingSince", "id", "ownerId"), false,
		"QueryQueue and CountQueue of some channels"},
	{collConversations, "conversations_by_owner", asc("ws", "ownerId", "id", "status", "assignedWhileOffline"), false,
		"OwnedConversations (in id order)"},
	{collConversations, "conversations_boomerang_due", asc("boomerangDueAt", "ws", "id"), false, "DueBoomerangs (soonest first)"},
	{collConversations, "conversations_unanswered_due", asc("unansweredDueAt", "ws", "id"), false, "DueUnanswered (soonest first)"},
	{collSettings, "settings_routing", asc("routingMode", "ws"), false, "RoutingWorkspaces (routing on, in id order)"},
	{collConversations, "conversations_pending", asc("pending.id"), false,
		"a new message's id check against uncopied messages; pending reads of MessagesByIDs and HistoryEntries; Reconcile"},
	{collMessages, "messages_by_conversation", asc("ws", "conversationId", "version"), true, "ListMessages; one message per conversation version"},
	{collMessages, "messages_pending_delivery", asc("ws", "delivery.status", "createdAt", "conversationId", "version", "channelId"), false,
		"PendingDeliveries and CountPendingDeliveries (oldest first)"},
	{collHistory, "history_by_conversation", asc("ws", "conversationId", "version"), true, "ListHistory; one entry per conversation version"},
	{collActivity, "activity_until", asc("until"), false, "DropExpiredActivity (leases of instances that stopped)"},
	{collEvents, "events_by_workspace", asc("ws", "pos"), true, "EventsAfter; TrimEvents (its workspaces, its newest, what it drops)"},
	{collEvents, "events_by_position", asc("pos"), false, "the newest position of a store that numbers its own events"},
}

// Report is what Migrate did.
type Report struct {
	// Server describes the server: product, version, topology.
	Server   string
	Database string
	// Created lists the collections and indexes Migrate created; Present
	// counts those it found already there.
	Created []string
	Present int
	// Enabled lists what Migrate switched on, or found on.
	Enabled []string
	// Skipped lists what this server lacks, and what that costs.
	Skipped []Skip
	// ChangeStreams is true when the server can run the change-stream feed
	// (a replica set or sharded cluster of MongoDB 6.0 or later, with pre-
	// and post-images on the watched collections).
	ChangeStreams bool

	ferret bool
}

// Skip is something Migrate could not set up on this server.
type Skip struct {
	What, Why, Cost string
}

func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "MongoDB store: database %q on %s\n", r.Database, r.Server)
	if len(r.Created) == 0 {
		fmt.Fprintf(&b, "  collections and indexes: all %d present, nothing created\n", r.Present)
	} else {
		var colls, idx []string
		for _, c := range r.Created {
			if name, ok := strings.CutPrefix(c, "collection "); ok {
				colls = append(colls, name)
			} else {
				idx = append(idx, strings.TrimPrefix(c, "index "))
			}
		}
		if len(colls) > 0 {
			fmt.Fprintf(&b, "  created %d collections: %s\n", len(colls), strings.Join(colls, ", "))
		}
		if len(idx) > 0 {
			fmt.Fprintf(&b, "  created %d indexes: %s\n", len(idx), strings.Join(idx, ", "))
		}
		if r.Present > 0 {
			fmt.Fprintf(&b, "  %d collections and indexes were present already\n", r.Present)
		}
	}
	for _, e := range r.Enabled {
		fmt.Fprintf(&b, "  enabled: %s\n", e)
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(&b, "  skipped: %s: %s; cost: %s\n", s.What, s.Why, s.Cost)
	}
	return b.String()
}

// serverInfo is what Migrate needs to know of the server.
type serverInfo struct {
	ferret     bool
	version    string
	major      int
	minor      int
	replicaSet string // "" for a standalone server
	sharded    bool
}

func (i serverInfo) String() string {
	switch {
	case i.ferret:
		return fmt.Sprintf("FerretDB (MongoDB %s wire protocol)", i.version)
	case i.sharded:
		return fmt.Sprintf("MongoDB %s, sharded cluster", i.version)
	case i.replicaSet != "":
		return fmt.Sprintf("MongoDB %s, replica set %s", i.version, i.replicaSet)
	}
	return fmt.Sprintf("MongoDB %s, standalone", i.version)
}

func (s *Store) serverInfo(ctx context.Context) (serverInfo, error) {
	var info serverInfo
	var build struct {
		Version string  `bson:"version"`
		Ferret  *string `bson:"ferretdbVersion"`
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	if err := s.client.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&build); err != nil {
		return info, fmt.Errorf("buildInfo: %w", err)
	}
	info.version, info.ferret = build.Version, build.Ferret != nil
	parts := strings.SplitN(build.Version, ".", 3)
	if len(parts) >= 2 {
		info.major, _ = strconv.Atoi(parts[0])
		info.minor, _ = strconv.Atoi(parts[1])
	}
	var hello struct {
		SetName string `bson:"setName"`
		Msg     string `bson:"msg"`
	}
	if err := s.client.Database("admin").RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		return info, fmt.Errorf("hello: %w", err)
	}
	info.replicaSet, info.sharded = hello.SetName, hello.Msg == "isdbgrid"
	return info, nil
}

// Migrate creates the collections and indexes that are missing, and
// enables pre- and post-images on the watched collections where the server
// has them (MongoDB 6.0+ on a replica set). It is idempotent, and several
// instances may run it at once. What it did, and what it skipped with what
// that costs, is in the report, which it also logs.
func (s *Store) Migrate(ctx context.Context) (Report, error) {
	r, err := s.migrate(ctx)
	if err != nil {
		return r, fmt.Errorf("mongo: migrate database %q on %s: %w", s.db.Name(), s.hosts, err)
	}
	attrs := []any{"database", r.Database, "server", r.Server, "created", r.Created, "present", r.Present, "enabled", r.Enabled}
	s.log.Info("mongo schema migrated", attrs...)
	for _, sk := range r.Skipped {
		s.log.Warn("mongo: skipped "+sk.What, "why", sk.Why, "cost", sk.Cost)
	}
	return r, nil
}

func (s *Store) migrate(ctx context.Context) (Report, error) {
	r := Report{Database: s.db.Name()}
	info, err := s.serverInfo(ctx)
	if err != nil {
		return r, err
	}
	r.Server = info.String()
	r.ferret = info.ferret

	specs, err := s.collectionSpecs(ctx)
	if err != nil {
		return r, err
	}
	for _, name := range collections {
		if _, ok := specs[name]; ok {
			r.Present++
			continue
		}
		if err := s.createCollection(ctx, name); err != nil {
			return r, err
		}
		r.Created = append(r.Created, "collection "+name)
	}

	for _, coll := range collections {
		var want []index
		for _, ix := range indexes {
			if ix.coll == coll {
				want = append(want, ix)
			}
		}
		if len(want) == 0 {
			continue
		}
		have, err := s.indexNames(ctx, coll)
		if err != nil {
			return r, err
		}
		var models []mongo.IndexModel
		for _, ix := range want {
			if slices.Contains(have, ix.name) {
				r.Present++
				continue
			}
			o := options.Index().SetName(ix.name)
			if ix.unique {
				o.SetUnique(true)
			}
			models = append(models, mongo.IndexModel{Keys: ix.keys, Options: o})
			r.Created = append(r.Created, "index "+coll+"."+ix.name)
		}
		if len(models) == 0 {
			continue
		}
		// Creating an index that exists with the same keys and options is
		// a no-op, so an instance that raced us here is fine.
		cctx, cancel := s.op(ctx)
		_, err = s.db.Collection(coll).Indexes().CreateMany(cctx, models)
		cancel()
		if err != nil {
			return r, fmt.Errorf("create indexes of %s: %w", coll, err)
		}
	}

	what := "pre- and post-images (changeStreamPreAndPostImages) on " + strings.Join(watched, " and ")
	feedCost := "no change-stream feed can run on this server: events reach only the subscribers of the instance that made " +
		"the change (in-process publishing), so run one instance only"
	switch {
	case info.ferret:
		r.Skipped = append(r.Skipped, Skip{What: what, Why: "FerretDB has no change streams and no collMod", Cost: feedCost +
			"; FerretDB also answers only filters on _id alone from an index (everything else is a scan), and its updates are " +
			"not atomic under concurrency (this store serializes its own writes per document, within one process only): " +
			"a test server, not a production one"})
	case info.replicaSet == "" && !info.sharded:
		r.Skipped = append(r.Skipped, Skip{What: what, Why: "a standalone MongoDB has no oplog, so no change streams",
			Cost: feedCost + "; run MongoDB as a replica set (a single-node one will do)"})
	case info.major < 6:
		r.Skipped = append(r.Skipped, Skip{What: what, Why: fmt.Sprintf("MongoDB %s predates them (6.0)", info.version),
			Cost: "change events could carry only a later re-read of a conversation (updateLookup), not the state the change " +
				"left; upgrade to MongoDB 6.0 or later"})
	default:
		r.ChangeStreams = true
		for _, coll := range watched {
			if preAndPostImages(specs[coll]) {
				r.Enabled = append(r.Enabled, "pre- and post-images on "+coll+" (already on)")
				continue
			}
			cctx, cancel := s.op(ctx)
			err := s.db.RunCommand(cctx, bson.D{{Key: "collMod", Value: coll},
				{Key: "changeStreamPreAndPostImages", Value: bson.D{{Key: "enabled", Value: true}}}}).Err()
			cancel()
			if err != nil {
				return r, fmt.Errorf("enable pre- and post-images on %s: %w", coll, err)
			}
			r.Enabled = append(r.Enabled, "pre- and post-images on "+coll)
		}
	}
	return r, nil
}

// collectionSpecs returns the database's collections by name, with their
// options.
func (s *Store) collectionSpecs(ctx context.Context) (map[string]bson.Raw, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	specs, err := s.db.ListCollectionSpecifications(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("list collections: %w", err)
	}
	out := make(map[string]bson.Raw, len(specs))
	for _, sp := range specs {
		out[sp.Name] = sp.Options
	}
	return out, nil
}

func preAndPostImages(opts bson.Raw) bool {
	if opts == nil {
		return false
	}
	v, err := opts.LookupErr("changeStreamPreAndPostImages", "enabled")
	if err != nil {
		return false
	}
	on, ok := v.BooleanOK()
	return ok && on
}

func (s *Store) createCollection(ctx context.Context, name string) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	err := s.db.CreateCollection(ctx, name)
	var ce mongo.CommandError
	if errors.As(err, &ce) && (ce.Code == 48 || ce.Name == "NamespaceExists") {
		return nil // another instance created it just now
	}
	if err != nil {
		return fmt.Errorf("create collection %s: %w", name, err)
	}
	return nil
}

func (s *Store) indexNames(ctx context.Context, coll string) ([]string, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	specs, err := s.db.Collection(coll).Indexes().ListSpecifications(ctx)
	if err != nil {
		return nil, fmt.Errorf("list indexes of %s: %w", coll, err)
	}
	var out []string
	for _, sp := range specs {
		out = append(out, sp.Name)
	}
	return out, nil
}
