// Package domain holds Switchboard's rules: who may do what to a
// conversation, what each move does to its queue and owner, presence, and the
// store interface those rules need. It imports no transport, no GraphQL code and
// no database driver, so the rules can be read and tested on their own.
package domain

import "time"

// Role is what a caller's token allows. Agents and admins are agents (they
// own conversations and appear in `agents`); integrations only deliver inbound
// messages.
type Role string

const (
	RoleAgent       Role = "AGENT"
	RoleAdmin       Role = "ADMIN"
	RoleIntegration Role = "INTEGRATION"
)

// IsAgent reports whether callers of this role are agents of the workspace.
func (r Role) IsAgent() bool { return r == RoleAgent || r == RoleAdmin }

// Presence is an agent's availability.
type Presence string

const (
	Online  Presence = "ONLINE"
	Away    Presence = "AWAY"
	Offline Presence = "OFFLINE"
)

// Valid reports whether p is one of the known values.
func (p Presence) Valid() bool { return p == Online || p == Away || p == Offline }

// QueueStatus is the queue a conversation is in.
type QueueStatus string

const (
	StatusNew      QueueStatus = "NEW"
	StatusPending  QueueStatus = "PENDING"
	StatusResolved QueueStatus = "RESOLVED"
)

// Valid reports whether s is one of the known queues.
func (s QueueStatus) Valid() bool {
	return s == StatusNew || s == StatusPending || s == StatusResolved
}

// Open reports whether a conversation in this queue can have an owner and
// receives inbound messages.
func (s QueueStatus) Open() bool { return s == StatusNew || s == StatusPending }

// Direction says who wrote a message.
type Direction string

const (
	Inbound  Direction = "INBOUND"
	Outbound Direction = "OUTBOUND"
)

// Reason says why a conversation's owner changed.
type Reason string

const (
	ReasonManual                Reason = "MANUAL"
	ReasonAutoOwnership         Reason = "AUTO_OWNERSHIP"
	ReasonResolved              Reason = "RESOLVED"
	ReasonLogoutCleanup         Reason = "LOGOUT_CLEANUP"
	ReasonInboundWhileOffline   Reason = "INBOUND_WHILE_OFFLINE"
	ReasonBoomerangWhileOffline Reason = "BOOMERANG_WHILE_OFFLINE"
	ReasonRouting               Reason = "ROUTING"
	ReasonUnanswered            Reason = "UNANSWERED"
)

// RoutingMode is how routing chooses among the agents who may take a
// conversation.
type RoutingMode string

const (
	RoutingOff        RoutingMode = "OFF"
	RoutingRoundRobin RoutingMode = "ROUND_ROBIN"
	RoutingBalanced   RoutingMode = "BALANCED"
)

// Valid reports whether m is one of the known modes.
func (m RoutingMode) Valid() bool {
	return m == RoutingOff || m == RoutingRoundRobin || m == RoutingBalanced
}

// RoutingSettings are a workspace's routing settings.
type RoutingSettings struct {
	Mode RoutingMode
	// DefaultCapacity is the capacity of an agent without one of their own.
	DefaultCapacity int
	// UnansweredSeconds: a routed conversation whose owner has not replied
	// within this many seconds is taken back; 0 never.
	UnansweredSeconds int
	// PreferLastOwner gives a returning contact's new conversation to the
	// owner of their previous one first.
	PreferLastOwner bool
}

// QueueOrder is the sort order of a queue view.
type QueueOrder string

const (
	LongestWaiting QueueOrder = "LONGEST_WAITING"
	Newest         QueueOrder = "NEWEST"
)

// Settings are a workspace's settings. A workspace that never saved any has
// DefaultSettings.
type Settings struct {
	WorkspaceID             string
	RemoveOwnershipOnLogout bool
	LogoutGraceSeconds      int
	// SwitchedOffCount grows each time RemoveOwnershipOnLogout is switched
	// off. A logout cleanup remembers the count it was armed with, so switching
	// the setting off cancels every cleanup armed before, even if it is
	// switched on again before they are due, without comparing clock readings.
	SwitchedOffCount int64
	// SwitchedOffAt is when RemoveOwnershipOnLogout was last switched off.
	SwitchedOffAt time.Time
	Routing       RoutingSettings
	// Version grows by one with every saved change; 0 means never saved.
	Version   int64
	UpdatedAt time.Time
}

// Default values of a workspace's settings.
const (
	DefaultLogoutGraceSeconds = 30
	MaxLogoutGraceSeconds     = 60

	DefaultCapacity      = 5
	MinCapacity          = 1
	MaxCapacity          = 100
	MinUnansweredSeconds = 5
	MaxUnansweredSeconds = 86400
)

// DefaultSettings are the settings of a workspace that never changed them.
func DefaultSettings(workspaceID string) Settings {
	return Settings{WorkspaceID: workspaceID, LogoutGraceSeconds: DefaultLogoutGraceSeconds, Routing: DefaultRoutingSettings()}
}

// DefaultRoutingSettings are the routing settings of a workspace that never
// changed them: routing off.
func DefaultRoutingSettings() RoutingSettings {
	return RoutingSettings{Mode: RoutingOff, DefaultCapacity: DefaultCapacity, PreferLastOwner: true}
}

// Agent is a person who works the queues: role AGENT or ADMIN.
type Agent struct {
	WorkspaceID   string    `json:",omitzero"`
	ID            string    `json:",omitzero"`
	Name          string    `json:",omitzero"`
	Email         string    `json:",omitzero"`
	Role          Role      `json:",omitzero"`
	Active        bool      `json:",omitzero"`
	Presence      Presence  `json:",omitzero"`
	PresenceSince time.Time `json:",omitzero"`
	// OfflineEpoch grows by one each time the agent goes OFFLINE. A
	// conversation remembers the owner's epoch at assignment, so the logout
	// cleanup can tell "assigned before they went offline" (an older epoch)
	// from "assigned after" by the order of events, not by clock readings.
	OfflineEpoch int64 `json:",omitzero"`
	// LastSeenAt is the agent's last sign of life (request or socket).
	LastSeenAt time.Time `json:",omitzero"`
	// Cleanup is the pending logout cleanup, armed when the agent went
	// OFFLINE with the remove-ownership setting on; nil when none is due.
	Cleanup *LogoutCleanup `json:",omitzero"`
	// Capacity is the most NEW conversations routing gives the agent at
	// once; nil: the workspace's default.
	Capacity *int `json:",omitzero"`
	// LastRoutedAt is when routing last gave the agent a conversation (zero:
	// never): ROUND_ROBIN's turn, BALANCED's tie-break. It only moves
	// forward, without a new version (ConversationWrite.Turn).
	LastRoutedAt time.Time `json:",omitzero"`
	CreatedAt    time.Time `json:",omitzero"`
	UpdatedAt    time.Time `json:",omitzero"`
	// Version grows by one with every change to the agent record.
	Version int64 `json:",omitzero"`
	// Position is set on an agent a subscription delivers: where its change
	// is in the workspace's changes (see Position).
	Position *string `json:",omitzero"`
}

// LogoutCleanup is a release of an agent's NEW conversations that is due.
type LogoutCleanup struct {
	// Epoch is the agent's OfflineEpoch when it was armed: conversations
	// assigned at an older epoch are released.
	Epoch int64     `json:",omitzero"`
	DueAt time.Time `json:",omitzero"`
	// SettingsSwitchedOffCount is the workspace's Settings.SwitchedOffCount
	// when it was armed; a different count at due time means the setting was
	// switched off in between, which cancels the cleanup.
	SettingsSwitchedOffCount int64 `json:",omitzero"`
	// ClaimedBy and ClaimedUntil name the server instance performing the
	// cleanup and how long its claim holds: with several instances, one
	// performs each cleanup, and another takes over if it stops.
	ClaimedBy    string    `json:",omitzero"`
	ClaimedUntil time.Time `json:",omitzero"`
}

// Channel is where contacts write from (an email address, a chat widget...).
type Channel struct {
	WorkspaceID string
	ID          string
	Name        string
	// AutoOwnershipAgentIDs are the agents who become owner of an unowned
	// conversation of this channel when they reply to it, sorted.
	AutoOwnershipAgentIDs []string
	// RoutingAgentIDs are the agents routing may give this channel's
	// conversations to, sorted.
	RoutingAgentIDs []string
	CreatedAt       time.Time
}

// IsRoutingAgent reports whether routing may give agentID this channel's
// conversations.
func (c *Channel) IsRoutingAgent(agentID string) bool {
	for _, id := range c.RoutingAgentIDs {
		if id == agentID {
			return true
		}
	}
	return false
}

// EffectiveCapacity is the agent's capacity, else the workspace default.
func (a *Agent) EffectiveCapacity(st RoutingSettings) int {
	if a.Capacity != nil {
		return *a.Capacity
	}
	if st.DefaultCapacity > 0 {
		return st.DefaultCapacity
	}
	return DefaultCapacity
}

// HasAutoOwnership reports whether auto-ownership is on for agentID.
func (c *Channel) HasAutoOwnership(agentID string) bool {
	for _, id := range c.AutoOwnershipAgentIDs {
		if id == agentID {
			return true
		}
	}
	return false
}

// Contact is a customer on one channel; ExternalID is unique per channel.
type Contact struct {
	WorkspaceID string
	ID          string
	ChannelID   string
	ExternalID  string
	Name        string
	CreatedAt   time.Time
}

// DisplayName is the contact's name, nil when the channel gave none.
func (c *Contact) DisplayName() *string {
	if c.Name == "" {
		return nil
	}
	return &c.Name
}

// Conversation is one thread with a contact, in exactly one queue.
type Conversation struct {
	WorkspaceID string `json:",omitzero"`
	ID          string `json:",omitzero"`
	ChannelID   string `json:",omitzero"`
	ContactID   string `json:",omitzero"`
	// Seq numbers the conversations of one contact: 1, 2, ...; a new one is
	// only created with the next number, which makes concurrent first
	// messages of one contact create one conversation.
	Seq    int64       `json:",omitzero"`
	Status QueueStatus `json:",omitzero"`
	// OwnerID is "" when the conversation is unowned.
	OwnerID    string     `json:",omitzero"`
	OwnedSince *time.Time `json:",omitzero"`
	// OwnerEpoch is the owner's Agent.OfflineEpoch when they were assigned.
	OwnerEpoch int64 `json:",omitzero"`
	// AssignedWhileOffline is true when the owner was OFFLINE when assigned.
	AssignedWhileOffline bool `json:",omitzero"`
	// OwnerVersion is the conversation version at which the owner was set; it
	// names the history entry of the assignment.
	OwnerVersion int64      `json:",omitzero"`
	WaitingSince time.Time  `json:",omitzero"`
	BoomerangAt  *time.Time `json:",omitzero"`
	// RoutingExcluded are the agents routing must not give the
	// conversation to during this stay in NEW: who set it Unowned
	// themselves, or from whom a rule took it. Empty outside NEW; at most
	// MaxRoutingExcluded, the most recent last.
	RoutingExcluded []string `json:",omitzero"`
	// UnansweredAt is when a routed conversation is taken back if its owner
	// has not replied; nil when no take-back is due.
	UnansweredAt *time.Time `json:",omitzero"`
	// ResolvedOwnerID is the owner it had when it was resolved, kept while
	// RESOLVED: the contact's next conversation prefers them.
	ResolvedOwnerID string `json:",omitzero"`
	// PreferredAgentID is, on a contact's new conversation, the owner of
	// their previous one when it was resolved ("" if none).
	PreferredAgentID string    `json:",omitzero"`
	CreatedAt        time.Time `json:",omitzero"`
	UpdatedAt        time.Time `json:",omitzero"`
	Version          int64     `json:",omitzero"`
}

// MaxRoutingExcluded bounds Conversation.RoutingExcluded; the oldest
// names drop out first.
const MaxRoutingExcluded = 50

// RoutingExcludes reports whether routing must not give c to agentID.
func (c *Conversation) RoutingExcludes(agentID string) bool {
	for _, id := range c.RoutingExcluded {
		if id == agentID {
			return true
		}
	}
	return false
}

// Message is one message of a conversation.
type Message struct {
	WorkspaceID    string    `json:",omitzero"`
	ID             string    `json:",omitzero"`
	ConversationID string    `json:",omitzero"`
	Direction      Direction `json:",omitzero"`
	Text           string    `json:",omitzero"`
	// AuthorID is the replying agent; "" for inbound messages.
	AuthorID string `json:",omitzero"`
	// ExternalID is the channel's message id (inbound) or the client's
	// idempotency key (replies); "" when none was given.
	ExternalID string `json:",omitzero"`
	// Version is the conversation version this message created; it orders the
	// messages of a conversation.
	Version   int64     `json:",omitzero"`
	CreatedAt time.Time `json:",omitzero"`
	// ChannelID is the conversation's channel, kept on outbound messages so
	// that a channel's pending deliveries are one indexed read; "" on
	// inbound messages.
	ChannelID string `json:",omitzero"`
	// Delivery is an outbound message's delivery state; nil on inbound
	// messages and on replies written before delivery existed.
	Delivery *Delivery `json:",omitzero"`
}

// DeliveryStatus is where an outbound message is on its way to the contact.
type DeliveryStatus string

const (
	DeliveryPending DeliveryStatus = "PENDING"
	DeliverySent    DeliveryStatus = "SENT"
	DeliveryFailed  DeliveryStatus = "FAILED"
)

// Delivery is an outbound message's delivery state: PENDING when the reply
// is written, then SENT or FAILED as the channel's connector reports.
type Delivery struct {
	Status DeliveryStatus `json:",omitzero"`
	// At is when the status last changed.
	At time.Time `json:",omitzero"`
	// ExternalID is the channel's id of the sent message, if it gave one.
	ExternalID string `json:",omitzero"`
	// Error is why it failed, for the agent to read.
	Error string `json:",omitzero"`
	// Version is the conversation version of the change that set this state:
	// a store that applies the state after the change committed (MongoDB's
	// copy out of pending) applies it only over an older one.
	Version int64 `json:",omitzero"`
}

// OutboundMessage is what a connector needs to send one outbound message.
type OutboundMessage struct {
	Message        Message
	ConversationID string
	ChannelID      string
	ContactID      string
}

// OwnershipChange is one entry of a conversation's ownership history.
type OwnershipChange struct {
	WorkspaceID    string `json:",omitzero"`
	ID             string `json:",omitzero"`
	ConversationID string `json:",omitzero"`
	// Version is the conversation version right after this change.
	Version int64 `json:",omitzero"`
	// Status is the conversation's queue right after this change.
	Status QueueStatus `json:",omitzero"`
	At     time.Time   `json:",omitzero"`
	FromID string      `json:",omitzero"`
	ToID   string      `json:",omitzero"`
	// ActorID is "" when the system made the change.
	ActorID string `json:",omitzero"`
	Reason  Reason `json:",omitzero"`
	// Conversation, when set, is the conversation as this change left it
	// (events and mutation payloads carry it); otherwise readers load it.
	Conversation *Conversation `json:",omitzero"`
	// Position is set on a change a subscription delivers: where it is in
	// the workspace's changes (see Position).
	Position *string `json:",omitzero"`
}

// MissedAssignment is a conversation assigned to an agent while they were
// OFFLINE, which they still own and have not acknowledged.
type MissedAssignment struct {
	Conversation Conversation
	Change       OwnershipChange
}

// OwnerCount is how many conversations of a queue one agent owns.
type OwnerCount struct {
	OwnerID string
	Count   int
}

// QueueCounts are the badge counts of one queue.
type QueueCounts struct {
	Total         int
	Unowned       int
	OwnedByMe     int
	OwnedByOthers int
	ByOwner       []OwnerCount
}
