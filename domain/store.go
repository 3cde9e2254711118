package domain

import (
	"context"
	"time"
)

// Store is the storage the rules need. Two implementations pass one
// conformance suite (store/storetest): the embedded SQLite store and the
// MongoDB store.
//
// An error that only says the store cannot serve the call now (see
// ErrUnavailable) wraps ErrUnavailable, from every method; callers are
// told to retry. Every other error is a fault, shown as INTERNAL.
//
// Every change to a conversation is one conditional write that carries its
// history entry and its message, so no crash separates them; every other
// write is idempotent by key. Batch reads return results in key order, with
// nil for an unknown key. Every read and write is scoped to a workspace.
type Store interface {
	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
	// WriteProbe writes the store's one probe record (the time at), which
	// nothing reads: a write that succeeds says the store takes writes.
	WriteProbe(ctx context.Context, at time.Time) error
	Close() error

	// GetSettings returns the workspace's settings, DefaultSettings when it
	// never saved any.
	GetSettings(ctx context.Context, workspaceID string) (Settings, error)
	// SaveSettings writes s if the stored version is s.Version-1 (none stored
	// counts as 0), else ErrVersionConflict.
	SaveSettings(ctx context.Context, s Settings) error

	AgentsByIDs(ctx context.Context, workspaceID string, ids []string) ([]*Agent, error)
	// ListAgents returns a workspace's agents sorted by name, then id.
	ListAgents(ctx context.Context, workspaceID string, f AgentFilter) ([]Agent, error)
	// InsertAgent creates a; ErrDuplicate if the id is taken.
	InsertAgent(ctx context.Context, a Agent) error
	// UpdateAgent writes a if the stored version is a.Version-1 and the
	// stored LastSeenAt is not after a.LastSeenAt, else ErrVersionConflict
	// (ErrNotFound if there is no such agent). TouchAgent moves LastSeenAt
	// without a version; the second condition makes a writer that decided on
	// an older sign of life (the presence timeout) lose to a newer one.
	UpdateAgent(ctx context.Context, a Agent) error
	// TouchAgent moves LastSeenAt forward to at (never back) without a new
	// version: signs of life are frequent and change nothing a writer checks.
	TouchAgent(ctx context.Context, workspaceID, agentID string, at time.Time) error

	// InsertChannel creates c; ErrDuplicate if its id or name is taken.
	InsertChannel(ctx context.Context, c Channel) error
	ChannelsByIDs(ctx context.Context, workspaceID string, ids []string) ([]*Channel, error)
	// ListChannels returns a workspace's channels sorted by name, then id.
	ListChannels(ctx context.Context, workspaceID string) ([]Channel, error)
	// SetAutoOwnership turns auto-ownership on or off for one agent on one
	// channel; idempotent. ErrNotFound if the channel is unknown.
	SetAutoOwnership(ctx context.Context, workspaceID, channelID, agentID string, enabled bool) error
	// SetRoutingAgent names or unnames one agent as a routing agent of one
	// channel; idempotent. ErrNotFound if the channel is unknown.
	SetRoutingAgent(ctx context.Context, workspaceID, channelID, agentID string, enabled bool) error
	// ClaimRouting makes instance the workspace's router until until, if
	// nobody holds the workspace's routing lease, it has expired (at or
	// before now), or instance holds it already: one conditional write of
	// one record. It reports whether instance holds the lease.
	ClaimRouting(ctx context.Context, workspaceID, instance string, now, until time.Time) (bool, error)

	// UpsertContact creates the contact with c's id unless it exists, and sets
	// its name when c.Name is not empty; it returns the stored contact.
	UpsertContact(ctx context.Context, c Contact) (Contact, error)
	ContactsByIDs(ctx context.Context, workspaceID string, ids []string) ([]*Contact, error)

	ConversationsByIDs(ctx context.Context, workspaceID string, ids []string) ([]*Conversation, error)
	// ContactConversations returns the contact's open conversation with the
	// highest Seq (nil if none is open) and the highest Seq of all its
	// conversations (0 if it has none).
	ContactConversations(ctx context.Context, workspaceID, contactID string) (open *Conversation, maxSeq int64, err error)
	// InsertConversation creates w.Conversation (version 1) with w's message
	// and history entry; ErrDuplicate if the conversation id or the message id
	// exists.
	InsertConversation(ctx context.Context, w ConversationWrite) error
	// UpdateConversation writes w.Conversation, w.Change and w.Message as
	// one change if the stored version is w.Conversation.Version-1 and
	// w.OwnerCheck holds, else ErrVersionConflict; ErrDuplicate if w.Message's
	// id exists (nothing is written then).
	UpdateConversation(ctx context.Context, w ConversationWrite) error
	// UpdateConversations writes many changes, each as UpdateConversation
	// would: on its own condition, with its own history entry and message,
	// and with its own event. It returns one error per write, in order: nil,
	// ErrVersionConflict or ErrDuplicate; a write that loses its condition
	// leaves the others be. An error of the call itself (the store cannot
	// take writes now) leaves unsaid which writes were made: each is
	// conditional, so the caller reads again and decides again. Bulk jobs
	// (a logout cleanup, a deactivation) use it to change many
	// conversations in one call: SQLite commits them in one transaction.
	UpdateConversations(ctx context.Context, ws []ConversationWrite) ([]error, error)
	// QueryQueue returns up to q.Limit conversations of a queue view after
	// q.After, in q.Order.
	QueryQueue(ctx context.Context, q QueueQuery) ([]Conversation, error)
	// CountQueue counts the conversations of a queue view (Limit and After
	// ignored).
	CountQueue(ctx context.Context, q QueueQuery) (int, error)
	// CountOwners counts a queue's conversations per owner, with "" for
	// unowned; channelIDs empty means every channel.
	CountOwners(ctx context.Context, workspaceID string, status QueueStatus, channelIDs []string) ([]OwnerCount, error)
	// OwnedConversations returns up to q.Limit conversations owned by
	// q.OwnerID in the queues q.Statuses, in id order after q.AfterID. With
	// q.OnlyAssignedWhileOffline it returns only those assigned to the owner
	// while they were OFFLINE.
	OwnedConversations(ctx context.Context, q OwnedQuery) ([]Conversation, error)

	// MessagesByIDs returns messages by id.
	MessagesByIDs(ctx context.Context, workspaceID string, ids []string) ([]*Message, error)
	// ListMessages returns a page of a conversation's messages.
	ListMessages(ctx context.Context, q MessageQuery) ([]Message, error)

	// ListHistory returns a page of a conversation's ownership changes.
	ListHistory(ctx context.Context, q HistoryQuery) ([]OwnershipChange, error)
	// HistoryEntries returns history entries by (conversation, version).
	HistoryEntries(ctx context.Context, workspaceID string, keys []HistoryKey) ([]*OwnershipChange, error)

	// PendingDeliveries returns up to q.Limit outbound messages whose
	// delivery is PENDING, oldest first (by CreatedAt, then conversation,
	// then version), after q.After.
	PendingDeliveries(ctx context.Context, q DeliveryQuery) ([]Message, error)
	// CountPendingDeliveries counts the outbound messages of a channel whose
	// delivery is PENDING, and of those the ones created before stalledBefore.
	CountPendingDeliveries(ctx context.Context, workspaceID, channelID string, stalledBefore time.Time) (pending, stalled int, err error)

	// The sweeps below are the only reads across workspaces: they find due
	// work for the background jobs (boomerangs, logout cleanups, presence
	// timeouts), each served by an index of its own.

	// DueBoomerangs returns up to limit PENDING conversations, of any
	// workspace, whose boomerang is due at or before t, soonest first.
	DueBoomerangs(ctx context.Context, t time.Time, limit int) ([]Conversation, error)
	// DueCleanups returns up to limit agents, of any workspace, whose logout
	// cleanup is due at or before t, soonest first.
	DueCleanups(ctx context.Context, t time.Time, limit int) ([]Agent, error)
	// SilentAgents returns up to limit agents, of any workspace, who are
	// ONLINE or AWAY and were last seen before t, longest silent first.
	SilentAgents(ctx context.Context, t time.Time, limit int) ([]Agent, error)
	// DueUnanswered returns up to limit NEW conversations, of any
	// workspace, whose unanswered take-back is due at or before t, soonest
	// first.
	DueUnanswered(ctx context.Context, t time.Time, limit int) ([]Conversation, error)
	// RoutingWorkspaces returns up to limit ids of workspaces whose routing
	// mode is not OFF, in id order after afterID.
	RoutingWorkspaces(ctx context.Context, afterID string, limit int) ([]string, error)

	// AcknowledgeAssignments records that agentID has seen these assignments;
	// idempotent.
	AcknowledgeAssignments(ctx context.Context, workspaceID, agentID string, keys []HistoryKey) error
	// AcknowledgedAssignments reports, for each key, whether agentID has
	// acknowledged it.
	AcknowledgedAssignments(ctx context.Context, workspaceID, agentID string, keys []HistoryKey) ([]bool, error)
}

// InboundRouter is a Store that can route a new conversation in the very
// transaction that creates it: an optional capability (Service checks for
// it), for a store whose transactions span records, so that the routing
// write's conditions, the agent's load among them, hold at its commit
// whatever else commits at the same time. SQLite has it; MongoDB does not
// (an update there cannot be conditional on other documents' count without
// a multi-document transaction; its conversations are routed by the fill
// pass, serial behind the workspace's lease).
type InboundRouter interface {
	// InsertConversationRouted inserts w as InsertConversation does and,
	// in the same transaction, writes route as UpdateConversation would,
	// if its conditions hold: route.Conversation at version 2 over w's
	// version 1, route.OwnerCheck, route.LoadBelow, and route's own (the
	// agent still a routing agent of the conversation's channel, with the
	// load and turn the choice was made on, and no other conversation
	// waiting on a channel the agent routes for), with route.Turn. When
	// they do not hold, w commits alone, unrouted. It reports whether route
	// was written. Each change is its own event, in order (the creation,
	// marked Interim when the routing follows it); errors are
	// InsertConversation's.
	InsertConversationRouted(ctx context.Context, w ConversationWrite, route RoutedWrite) (bool, error)
}

// RoutedWrite is the routing change of a conversation created in the same
// transaction, with what routing chose it on: the write holds only while
// those are unchanged, so that an inbound routed at the same time as
// another (or as a fill pass) chooses as a serial router would, or not at
// all.
type RoutedWrite struct {
	ConversationWrite
	// Load is the agent's load (NEW conversations owned) the choice read.
	Load int
	// LastRoutedAt is the agent's routing turn the choice read.
	LastRoutedAt time.Time
}

// ConversationWrite is one change to one conversation.
type ConversationWrite struct {
	// Conversation is the state after the change; its Version is one more
	// than the version the change was computed from.
	Conversation Conversation
	// Before is the state the change was computed from (nil for a new
	// conversation); stores with an in-process feed publish it.
	Before *Conversation
	// Change is the history entry of an ownership change, if any.
	Change *OwnershipChange
	// Message is the message this change adds, if any.
	Message *Message
	// Delivery is an outbound message of the conversation, as this change
	// leaves it: the change sets its Delivery (reportDelivery). The store
	// writes it in the same change, or, where it cannot, carries it with the
	// change and applies it idempotently by Delivery.Version.
	Delivery *Message
	// OwnerCheck, when set, makes the write conditional on an agent record
	// being at a version as well: the new owner of an assignment, whose
	// presence and offline epoch the conversation records. A store that
	// cannot check it atomically checks it just before the write.
	OwnerCheck *AgentVersion
	// LoadBelow, when set, makes the write conditional on the agent owning
	// fewer than Capacity NEW conversations (routing's capacity). SQLite
	// checks it in the write's transaction; MongoDB counts just before the
	// write (routing writes of a workspace are serial behind its lease).
	LoadBelow *LoadCheck
	// Turn, when set, moves an agent's LastRoutedAt forward to Turn.At
	// (never back, without a new version of the agent) when the write
	// commits: routing's record of whose turn it was. SQLite writes it in
	// the same transaction; MongoDB right after the conversation's update,
	// so a crash between the two can cost that agent's turn (fairness),
	// never capacity.
	Turn *AgentTurn
}

// AgentTurn is when routing last gave an agent a conversation.
type AgentTurn struct {
	AgentID string
	At      time.Time
}

// LoadCheck is a bound on an agent's load: their NEW conversations.
type LoadCheck struct {
	AgentID  string
	Capacity int
}

// AgentVersion names an agent record at one version.
type AgentVersion struct {
	AgentID string
	Version int64
}

// AgentFilter selects agents for ListAgents.
type AgentFilter struct {
	Presence        []Presence // empty: any
	IncludeInactive bool
}

// QueueQuery is one page of a queue view.
type QueueQuery struct {
	WorkspaceID string
	Status      QueueStatus
	Owners      OwnerPredicate
	ChannelIDs  []string // empty: every channel
	Order       QueueOrder
	// After is the sort key of the last row of the previous page; nil for the
	// first page.
	After *QueueKey
	Limit int
}

// QueueKey is where a conversation sorts in a queue view: by WaitingSince,
// then by ID to break ties, so keyset paging neither repeats nor skips rows.
type QueueKey struct {
	WaitingSince time.Time
	ID           string
}

// OwnedQuery selects conversations owned by one agent.
type OwnedQuery struct {
	WorkspaceID              string
	OwnerID                  string
	Statuses                 []QueueStatus
	OnlyAssignedWhileOffline bool
	AfterID                  string
	Limit                    int
}

// MessageQuery is one page of a conversation's messages, by version.
type MessageQuery struct {
	WorkspaceID    string
	ConversationID string
	// AfterVersion and BeforeVersion bound the page (0: unbounded).
	AfterVersion  int64
	BeforeVersion int64
	Limit         int
	// NewestFirst takes the page from the newest end; rows still come back
	// in the order they sort (newest first).
	NewestFirst bool
}

// HistoryQuery is one page of a conversation's ownership history, by
// version, bounded and ordered as a MessageQuery.
type HistoryQuery struct {
	WorkspaceID    string
	ConversationID string
	// AfterVersion and BeforeVersion bound the page (0: unbounded).
	AfterVersion  int64
	BeforeVersion int64
	Limit         int
	// NewestFirst takes the page from the newest end; rows still come back
	// in the order they sort (newest first).
	NewestFirst bool
}

// DeliveryQuery is one page of a workspace's pending deliveries.
type DeliveryQuery struct {
	WorkspaceID string
	ChannelIDs  []string // empty: every channel
	// CreatedBefore, when not zero, keeps only messages created before it.
	CreatedBefore time.Time
	After         *DeliveryKey
	Limit         int
}

// DeliveryKey is where a message sorts among pending deliveries.
type DeliveryKey struct {
	CreatedAt      time.Time
	ConversationID string
	Version        int64
}

// DeliveryKeyOf is where m sorts among pending deliveries.
func DeliveryKeyOf(m Message) DeliveryKey {
	return DeliveryKey{CreatedAt: m.CreatedAt, ConversationID: m.ConversationID, Version: m.Version}
}

// HistoryKey names one ownership change.
type HistoryKey struct {
	ConversationID string
	Version        int64
}

// Event is a committed change, as it was committed. Both stores keep their
// record of changes (EventLog) as JSON of it, so its fields and those of
// the records it carries are omitzero: a stored event holds what is set,
// not a null or a zero for every field it lacks (a logout cleanup writes
// one per conversation). An absent field decodes as its zero value, so
// records written either way read the same.
type Event struct {
	WorkspaceID string `json:",omitzero"`
	// Position is where the change is in its workspace's changes,
	// increasing in the order they are published; 0 from a store that
	// keeps no EventLog.
	Position     int64              `json:",omitzero"`
	Conversation *ConversationEvent `json:",omitzero"`
	Agent        *AgentEvent        `json:",omitzero"`
	// Activity is a change of who views or types on a conversation: never
	// stored, published by the instance that tracks it.
	Activity *ActivityEvent `json:",omitzero"`
	// Lease is a viewer's or a typist's lease written or dropped by some
	// instance, from an ActivityExchange's feed: for
	// Service.ApplyActivityLease, not for subscribers.
	Lease *ActivityLeaseEvent `json:",omitzero"`
	// CommittedAt is when the store committed the change, by the wall
	// clock of the store (SQLite: this process; MongoDB: the primary's);
	// zero when unknown. Publishing it later than this is the feed's lag.
	CommittedAt time.Time `json:",omitzero"`
}

// ConversationEvent is one committed change to a conversation.
type ConversationEvent struct {
	Before  *Conversation    `json:",omitzero"` // nil when the change created it
	After   Conversation     `json:",omitzero"`
	Change  *OwnershipChange `json:",omitzero"`
	Message *Message         `json:",omitzero"`
	// Delivery is the outbound message whose delivery state this change set.
	Delivery *Message `json:",omitzero"`
	// Interim marks a change the same transaction changed again at once:
	// the conversation's next event follows it, and no reader ever saw
	// this state alone (a new conversation routed in the write that
	// created it). Subscribers see it as any change; the jobs do not
	// route from it, since it was never waiting.
	Interim bool `json:",omitzero"`
}

// AgentEvent is one committed change to an agent record.
type AgentEvent struct {
	Before *Agent `json:",omitzero"` // nil when the change created it
	After  Agent  `json:",omitzero"`
}

// PresenceViewChanged reports whether the change moved what a console
// shows beside an agent's presence dot: the presence, or the agent's own
// capacity (load out of capacity). presenceChanged delivers these.
func (e *AgentEvent) PresenceViewChanged() bool {
	return e.Before != nil && (e.Before.Presence != e.After.Presence || !intPtrEqual(e.Before.Capacity, e.After.Capacity))
}

// EventSink receives committed changes from a store that publishes them in
// process. Publish must not block; it is called in commit order.
type EventSink interface {
	Publish(Event)
}
