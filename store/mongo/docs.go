package mongostore

import (
	"slices"
	"time"

	"switchboard/domain"
)

// The documents, one struct per collection. Field names are short but
// readable; times are BSON dates (milliseconds), null where the domain's time
// is optional; an unowned conversation has the empty ownerId (not null), so
// the queue indexes can seek it by equality.

type settingsDoc struct {
	Key                     string `bson:"_id"`
	WS                      string `bson:"ws"`
	RemoveOwnershipOnLogout bool   `bson:"removeOwnershipOnLogout"`
	LogoutGraceSeconds      int    `bson:"logoutGraceSeconds"`
	SwitchedOffCount        int64  `bson:"switchedOffCount"`
	// SwitchedOffAt is when the setting was last switched off; null for
	// never.
	SwitchedOffAt *time.Time `bson:"switchedOffAt"`
	// The routing settings: a document saved before routing existed has
	// none of them, which reads as the defaults (an empty mode is OFF, a
	// zero capacity the default, a missing preferLastOwner on).
	RoutingMode            string    `bson:"routingMode"`
	RoutingDefaultCapacity int       `bson:"routingDefaultCapacity"`
	RoutingUnanswered      int       `bson:"routingUnansweredSeconds"`
	RoutingPreferLastOwner *bool     `bson:"routingPreferLastOwner"`
	Version                int64     `bson:"version"`
	UpdatedAt              time.Time `bson:"updatedAt"`
}

func toSettingsDoc(s domain.Settings) settingsDoc {
	r := s.Routing
	if r.Mode == "" {
		r = domain.DefaultRoutingSettings()
	}
	prefer := r.PreferLastOwner
	return settingsDoc{
		Key: settingsKey(s.WorkspaceID), WS: s.WorkspaceID, RemoveOwnershipOnLogout: s.RemoveOwnershipOnLogout,
		LogoutGraceSeconds: s.LogoutGraceSeconds, SwitchedOffCount: s.SwitchedOffCount, SwitchedOffAt: zeroAsNil(s.SwitchedOffAt),
		RoutingMode: string(r.Mode), RoutingDefaultCapacity: r.DefaultCapacity, RoutingUnanswered: r.UnansweredSeconds,
		RoutingPreferLastOwner: &prefer, Version: s.Version, UpdatedAt: utc(s.UpdatedAt),
	}
}

// zeroAsNil and nilAsZero keep the zero time ("never") as null.
func zeroAsNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := utc(t)
	return &u
}

func nilAsZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func (d *settingsDoc) domain() domain.Settings {
	r := domain.DefaultRoutingSettings()
	if d.RoutingMode != "" {
		r.Mode = domain.RoutingMode(d.RoutingMode)
	}
	if d.RoutingDefaultCapacity > 0 {
		r.DefaultCapacity = d.RoutingDefaultCapacity
	}
	r.UnansweredSeconds = d.RoutingUnanswered
	if d.RoutingPreferLastOwner != nil {
		r.PreferLastOwner = *d.RoutingPreferLastOwner
	}
	return domain.Settings{
		WorkspaceID: d.WS, RemoveOwnershipOnLogout: d.RemoveOwnershipOnLogout, LogoutGraceSeconds: d.LogoutGraceSeconds,
		SwitchedOffCount: d.SwitchedOffCount, SwitchedOffAt: nilAsZero(d.SwitchedOffAt), Routing: r,
		Version: d.Version, UpdatedAt: d.UpdatedAt,
	}
}

type cleanupDoc struct {
	Epoch                    int64     `bson:"epoch"`
	DueAt                    time.Time `bson:"dueAt"`
	SettingsSwitchedOffCount int64     `bson:"settingsSwitchedOffCount"`
	// ClaimedBy and ClaimedUntil: the instance performing the cleanup.
	ClaimedBy    string     `bson:"claimedBy"`
	ClaimedUntil *time.Time `bson:"claimedUntil"`
}

type agentDoc struct {
	Key           string      `bson:"_id"`
	WS            string      `bson:"ws"`
	ID            string      `bson:"id"`
	Name          string      `bson:"name"`
	Email         string      `bson:"email"`
	Role          string      `bson:"role"`
	Active        bool        `bson:"active"`
	Presence      string      `bson:"presence"`
	PresenceSince time.Time   `bson:"presenceSince"`
	OfflineEpoch  int64       `bson:"offlineEpoch"`
	LastSeenAt    time.Time   `bson:"lastSeenAt"`
	Cleanup       *cleanupDoc `bson:"cleanup"`
	// CleanupDueAt is Cleanup.DueAt, null when there is none: the field
	// the DueCleanups index sorts by.
	CleanupDueAt *time.Time `bson:"cleanupDueAt"`
	// Capacity is null for the workspace default; LastRoutedAt null for
	// never, and only moved forward ($max).
	Capacity     *int       `bson:"capacity"`
	LastRoutedAt *time.Time `bson:"lastRoutedAt"`
	CreatedAt    time.Time  `bson:"createdAt"`
	UpdatedAt    time.Time  `bson:"updatedAt"`
	Version      int64      `bson:"version"`
}

func toAgentDoc(a domain.Agent) agentDoc {
	d := agentDoc{
		Key: agentKey(a.WorkspaceID, a.ID), WS: a.WorkspaceID, ID: a.ID, Name: a.Name, Email: a.Email, Role: string(a.Role),
		Active: a.Active, Presence: string(a.Presence), PresenceSince: utc(a.PresenceSince), OfflineEpoch: a.OfflineEpoch,
		LastSeenAt: utc(a.LastSeenAt), CreatedAt: utc(a.CreatedAt), UpdatedAt: utc(a.UpdatedAt), Version: a.Version,
		LastRoutedAt: zeroAsNil(a.LastRoutedAt),
	}
	if a.Capacity != nil {
		c := *a.Capacity
		d.Capacity = &c
	}
	if c := a.Cleanup; c != nil {
		due := utc(c.DueAt)
		d.Cleanup = &cleanupDoc{
			Epoch: c.Epoch, DueAt: due, SettingsSwitchedOffCount: c.SettingsSwitchedOffCount,
			ClaimedBy: c.ClaimedBy, ClaimedUntil: zeroAsNil(c.ClaimedUntil),
		}
		d.CleanupDueAt = &due
	}
	return d
}

func (d *agentDoc) domain() *domain.Agent {
	a := &domain.Agent{
		WorkspaceID: d.WS, ID: d.ID, Name: d.Name, Email: d.Email, Role: domain.Role(d.Role), Active: d.Active,
		Presence: domain.Presence(d.Presence), PresenceSince: d.PresenceSince, OfflineEpoch: d.OfflineEpoch,
		LastSeenAt: d.LastSeenAt, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, Version: d.Version,
		LastRoutedAt: nilAsZero(d.LastRoutedAt),
	}
	if d.Capacity != nil {
		c := *d.Capacity
		a.Capacity = &c
	}
	if c := d.Cleanup; c != nil {
		a.Cleanup = &domain.LogoutCleanup{
			Epoch: c.Epoch, DueAt: c.DueAt, SettingsSwitchedOffCount: c.SettingsSwitchedOffCount,
			ClaimedBy: c.ClaimedBy, ClaimedUntil: nilAsZero(c.ClaimedUntil),
		}
	}
	return a
}

type channelDoc struct {
	Key       string    `bson:"_id"`
	WS        string    `bson:"ws"`
	ID        string    `bson:"id"`
	Name      string    `bson:"name"`
	AutoOwn   []string  `bson:"autoOwnership"`
	Routing   []string  `bson:"routingAgents"`
	CreatedAt time.Time `bson:"createdAt"`
}

// sortedIDs is a sorted copy of ids without repeats, nil when empty.
func sortedIDs(ids []string) []string {
	if len(ids) == 0 {
		return nil
	}
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

func (d *channelDoc) domain() *domain.Channel {
	c := &domain.Channel{WorkspaceID: d.WS, ID: d.ID, Name: d.Name, CreatedAt: d.CreatedAt}
	c.AutoOwnershipAgentIDs = sortedIDs(d.AutoOwn)
	c.RoutingAgentIDs = sortedIDs(d.Routing)
	return c
}

type contactDoc struct {
	Key        string    `bson:"_id"`
	WS         string    `bson:"ws"`
	ID         string    `bson:"id"`
	ChannelID  string    `bson:"channelId"`
	ExternalID string    `bson:"externalId"`
	Name       string    `bson:"name"`
	CreatedAt  time.Time `bson:"createdAt"`
}

func toContactDoc(c domain.Contact) contactDoc {
	return contactDoc{
		Key: contactKey(c.WorkspaceID, c.ID), WS: c.WorkspaceID, ID: c.ID, ChannelID: c.ChannelID,
		ExternalID: c.ExternalID, Name: c.Name, CreatedAt: utc(c.CreatedAt),
	}
}

func (d *contactDoc) domain() *domain.Contact {
	return &domain.Contact{
		WorkspaceID: d.WS, ID: d.ID, ChannelID: d.ChannelID, ExternalID: d.ExternalID, Name: d.Name, CreatedAt: d.CreatedAt,
	}
}

// conversationState is what a change to a conversation sets: every field
// but the key, the channel, the contact, the seq and the creation time.
type conversationState struct {
	Status               string     `bson:"status"`
	OwnerID              string     `bson:"ownerId"`
	OwnedSince           *time.Time `bson:"ownedSince"`
	OwnerEpoch           int64      `bson:"ownerEpoch"`
	AssignedWhileOffline bool       `bson:"assignedWhileOffline"`
	OwnerVersion         int64      `bson:"ownerVersion"`
	WaitingSince         time.Time  `bson:"waitingSince"`
	BoomerangAt          *time.Time `bson:"boomerangAt"`
	// BoomerangDueAt is BoomerangAt while the conversation is PENDING, null
	// otherwise: the field the DueBoomerangs index sorts by, so the sweep
	// needs no partial index.
	BoomerangDueAt *time.Time `bson:"boomerangDueAt"`
	// Routing's memory (domain.Conversation). UnansweredDueAt is
	// UnansweredAt while the conversation is NEW, null otherwise: the field
	// the DueUnanswered index sorts by.
	RoutingExcluded  []string   `bson:"routingExcluded"`
	UnansweredAt     *time.Time `bson:"unansweredAt"`
	UnansweredDueAt  *time.Time `bson:"unansweredDueAt"`
	ResolvedOwnerID  string     `bson:"resolvedOwnerId"`
	PreferredAgentID string     `bson:"preferredAgentId"`
	UpdatedAt        time.Time  `bson:"updatedAt"`
	Version          int64      `bson:"version"`
}

type conversationDoc struct {
	Key       string    `bson:"_id"`
	WS        string    `bson:"ws"`
	ID        string    `bson:"id"`
	ChannelID string    `bson:"channelId"`
	ContactID string    `bson:"contactId"`
	Seq       int64     `bson:"seq"`
	CreatedAt time.Time `bson:"createdAt"`

	State conversationState `bson:",inline"`

	// Pending holds the history entries and messages of recent changes
	// until they are copied to their collections.
	Pending []pendingItem `bson:"pending"`
}

func toState(c domain.Conversation) conversationState {
	st := conversationState{
		Status: string(c.Status), OwnerID: c.OwnerID, OwnedSince: utcPtr(c.OwnedSince), OwnerEpoch: c.OwnerEpoch,
		AssignedWhileOffline: c.AssignedWhileOffline, OwnerVersion: c.OwnerVersion, WaitingSince: utc(c.WaitingSince),
		BoomerangAt: utcPtr(c.BoomerangAt), UpdatedAt: utc(c.UpdatedAt), Version: c.Version,
		RoutingExcluded: slices.Clone(c.RoutingExcluded), UnansweredAt: utcPtr(c.UnansweredAt),
		ResolvedOwnerID: c.ResolvedOwnerID, PreferredAgentID: c.PreferredAgentID,
	}
	if c.Status == domain.StatusPending {
		st.BoomerangDueAt = st.BoomerangAt
	}
	if c.Status == domain.StatusNew {
		st.UnansweredDueAt = st.UnansweredAt
	}
	return st
}

func toConversationDoc(c domain.Conversation, pending []pendingItem) conversationDoc {
	if pending == nil {
		pending = []pendingItem{}
	}
	return conversationDoc{
		Key: conversationKey(c.WorkspaceID, c.ID), WS: c.WorkspaceID, ID: c.ID, ChannelID: c.ChannelID, ContactID: c.ContactID,
		Seq: c.Seq, CreatedAt: utc(c.CreatedAt), State: toState(c), Pending: pending,
	}
}

func (d *conversationDoc) domain() *domain.Conversation {
	st := &d.State
	return &domain.Conversation{
		WorkspaceID: d.WS, ID: d.ID, ChannelID: d.ChannelID, ContactID: d.ContactID, Seq: d.Seq,
		Status: domain.QueueStatus(st.Status), OwnerID: st.OwnerID, OwnedSince: st.OwnedSince, OwnerEpoch: st.OwnerEpoch,
		AssignedWhileOffline: st.AssignedWhileOffline, OwnerVersion: st.OwnerVersion, WaitingSince: st.WaitingSince,
		BoomerangAt: st.BoomerangAt, CreatedAt: d.CreatedAt, UpdatedAt: st.UpdatedAt, Version: st.Version,
		UnansweredAt: st.UnansweredAt, ResolvedOwnerID: st.ResolvedOwnerID, PreferredAgentID: st.PreferredAgentID,
		RoutingExcluded: sliceOrNil(st.RoutingExcluded),
	}
}

func sliceOrNil(xs []string) []string {
	if len(xs) == 0 {
		return nil
	}
	return slices.Clone(xs)
}

type messageDoc struct {
	Key            string    `bson:"_id"`
	WS             string    `bson:"ws"`
	ID             string    `bson:"id"`
	ConversationID string    `bson:"conversationId"`
	Direction      string    `bson:"direction"`
	Text           string    `bson:"text"`
	AuthorID       string    `bson:"authorId"`
	ExternalID     string    `bson:"externalId"`
	Version        int64     `bson:"version"`
	CreatedAt      time.Time `bson:"createdAt"`
	// ChannelID and Delivery are set on outbound messages only.
	ChannelID string       `bson:"channelId,omitempty"`
	Delivery  *deliveryDoc `bson:"delivery,omitempty"`
}

// deliveryDoc is an outbound message's delivery state.
type deliveryDoc struct {
	Status     string    `bson:"status"`
	At         time.Time `bson:"at"`
	ExternalID string    `bson:"externalId,omitempty"`
	Error      string    `bson:"error,omitempty"`
	// Version is the conversation version that set it: a copy out of
	// pending applies it only over an older one.
	Version int64 `bson:"version"`
}

func toDeliveryDoc(d *domain.Delivery) *deliveryDoc {
	if d == nil {
		return nil
	}
	return &deliveryDoc{Status: string(d.Status), At: utc(d.At), ExternalID: d.ExternalID, Error: d.Error, Version: d.Version}
}

func (d *deliveryDoc) domain() *domain.Delivery {
	if d == nil {
		return nil
	}
	return &domain.Delivery{Status: domain.DeliveryStatus(d.Status), At: d.At, ExternalID: d.ExternalID, Error: d.Error, Version: d.Version}
}

func toMessageDoc(ws, convID string, m domain.Message) messageDoc {
	return messageDoc{
		Key: messageKey(ws, m.ID), WS: ws, ID: m.ID, ConversationID: convID, Direction: string(m.Direction), Text: m.Text,
		AuthorID: m.AuthorID, ExternalID: m.ExternalID, Version: m.Version, CreatedAt: utc(m.CreatedAt),
		ChannelID: m.ChannelID, Delivery: toDeliveryDoc(m.Delivery),
	}
}

func (d *messageDoc) domain() *domain.Message {
	return &domain.Message{
		WorkspaceID: d.WS, ID: d.ID, ConversationID: d.ConversationID, Direction: domain.Direction(d.Direction),
		Text: d.Text, AuthorID: d.AuthorID, ExternalID: d.ExternalID, Version: d.Version, CreatedAt: d.CreatedAt,
		ChannelID: d.ChannelID, Delivery: d.Delivery.domain(),
	}
}

type historyDoc struct {
	Key            string    `bson:"_id"`
	WS             string    `bson:"ws"`
	ID             string    `bson:"id"`
	ConversationID string    `bson:"conversationId"`
	Version        int64     `bson:"version"`
	Status         string    `bson:"status"`
	At             time.Time `bson:"at"`
	FromID         string    `bson:"fromId"`
	ToID           string    `bson:"toId"`
	ActorID        string    `bson:"actorId"`
	Reason         string    `bson:"reason"`
}

func toHistoryDoc(ws, convID string, h domain.OwnershipChange) historyDoc {
	return historyDoc{
		Key: historyKey(ws, convID, h.Version), WS: ws, ID: h.ID, ConversationID: convID, Version: h.Version,
		Status: string(h.Status), At: utc(h.At), FromID: h.FromID, ToID: h.ToID, ActorID: h.ActorID, Reason: string(h.Reason),
	}
}

func (d *historyDoc) domain() *domain.OwnershipChange {
	return &domain.OwnershipChange{
		WorkspaceID: d.WS, ID: d.ID, ConversationID: d.ConversationID, Version: d.Version, Status: domain.QueueStatus(d.Status),
		At: d.At, FromID: d.FromID, ToID: d.ToID, ActorID: d.ActorID, Reason: domain.Reason(d.Reason),
	}
}

// pendingItem is a history entry or a message that a change committed with
// the conversation and that is not yet known to be in its own collection.
// ID is its _id there. An item is pulled from `pending` by its exact value
// ($pullAll), which every MongoDB and FerretDB supports; the store encodes
// the same item to the same bytes every time.
//
// Delivery is a reportDelivery's new state of an outbound message: the
// message as the change leaves it, applied to the stored message only over
// an older delivery version (its ID is deliveryItemKey, not the message's).
type pendingItem struct {
	ID       string      `bson:"id"`
	Message  *messageDoc `bson:"message,omitempty"`
	History  *historyDoc `bson:"history,omitempty"`
	Delivery *messageDoc `bson:"delivery,omitempty"`
}

type ackDoc struct {
	Key            string `bson:"_id"`
	WS             string `bson:"ws"`
	AgentID        string `bson:"agentId"`
	ConversationID string `bson:"conversationId"`
	Version        int64  `bson:"version"`
}
