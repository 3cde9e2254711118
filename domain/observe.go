package domain

import (
	"context"
	"time"
)

// Observer is told what the service and its jobs do, for an operator's
// figures (counts, lateness, latency) and traces. The domain owns it and
// imports nothing to fill it: the metrics and tracing packages implement
// it, and app hands it over with WithObserver. Every method must return
// at once: they are called on the request path and in the jobs.
type Observer interface {
	// StoreCall is told a store call named op (the Store method) starts;
	// it may return a context for the call (a tracing span), and the
	// function it returns is called with the call's outcome.
	StoreCall(ctx context.Context, op string) (context.Context, func(error))
	// PresenceChanged: a committed change moved an agent's presence.
	PresenceChanged(from, to Presence)
	// CleanupArmed: going OFFLINE armed a logout cleanup.
	CleanupArmed()
	// CleanupDone: a due logout cleanup was performed, lateness after it
	// was due (on the service's clock), releasing released conversations.
	CleanupDone(lateness time.Duration, released int)
	// CleanupCancelled: an armed cleanup was cancelled (the setting was
	// switched off before it came due).
	CleanupCancelled()
	// BoomerangFired: a boomerang brought a conversation back, lateness
	// after it was due.
	BoomerangFired(lateness time.Duration)
	// ReconcilerRan: the reconciler looked for due work; err is why it
	// failed, nil if it did not.
	ReconcilerRan(err error)
}

// NopObserver observes nothing; embed it to implement only some methods.
type NopObserver struct{}

func (NopObserver) StoreCall(ctx context.Context, _ string) (context.Context, func(error)) {
	return ctx, nopDone
}
func (NopObserver) PresenceChanged(_, _ Presence)  {}
func (NopObserver) CleanupArmed()                  {}
func (NopObserver) CleanupDone(time.Duration, int) {}
func (NopObserver) CleanupCancelled()              {}
func (NopObserver) BoomerangFired(time.Duration)   {}
func (NopObserver) ReconcilerRan(error)            {}

func nopDone(error) {}

// WithObserver sets what the service tells of its work; nil observes
// nothing.
func WithObserver(o Observer) Option {
	return func(s *Service) {
		if o != nil {
			s.observer = o
		}
	}
}

// Observers is one Observer that tells each of os, in order.
func Observers(os ...Observer) Observer {
	var list observers
	for _, o := range os {
		if o != nil {
			list = append(list, o)
		}
	}
	if len(list) == 1 {
		return list[0]
	}
	return list
}

type observers []Observer

func (l observers) StoreCall(ctx context.Context, op string) (context.Context, func(error)) {
	dones := make([]func(error), len(l))
	for i, o := range l {
		ctx, dones[i] = o.StoreCall(ctx, op)
	}
	return ctx, func(err error) {
		for i := len(dones) - 1; i >= 0; i-- {
			dones[i](err)
		}
	}
}

func (l observers) PresenceChanged(from, to Presence) {
	for _, o := range l {
		o.PresenceChanged(from, to)
	}
}

func (l observers) CleanupArmed() {
	for _, o := range l {
		o.CleanupArmed()
	}
}

func (l observers) CleanupDone(lateness time.Duration, released int) {
	for _, o := range l {
		o.CleanupDone(lateness, released)
	}
}

func (l observers) CleanupCancelled() {
	for _, o := range l {
		o.CleanupCancelled()
	}
}

func (l observers) BoomerangFired(lateness time.Duration) {
	for _, o := range l {
		o.BoomerangFired(lateness)
	}
}

func (l observers) ReconcilerRan(err error) {
	for _, o := range l {
		o.ReconcilerRan(err)
	}
}

// noticeObserved tells the observer what a committed change did to an
// agent: its presence moved, a logout cleanup was armed. The jobs see every
// committed change (on MongoDB, every instance's), so these count changes
// as the feed carries them.
func (s *Service) noticeObserved(e Event) {
	a := e.Agent
	if a == nil {
		return
	}
	from := Offline
	if a.Before != nil {
		from = a.Before.Presence
	}
	if from != a.After.Presence {
		s.observer.PresenceChanged(from, a.After.Presence)
	}
	if c := a.After.Cleanup; c != nil && (a.Before == nil || a.Before.Cleanup == nil || a.Before.Cleanup.Epoch != c.Epoch) {
		s.observer.CleanupArmed()
	}
}

// observedStore is a Store whose every call is told to an Observer.
type observedStore struct {
	st  Store
	obs Observer
}

func (o observedStore) Ping(ctx context.Context) error {
	ctx, done := o.obs.StoreCall(ctx, "Ping")
	err := o.st.Ping(ctx)
	done(err)
	return err
}

func (o observedStore) WriteProbe(ctx context.Context, at time.Time) error {
	ctx, done := o.obs.StoreCall(ctx, "WriteProbe")
	err := o.st.WriteProbe(ctx, at)
	done(err)
	return err
}

func (o observedStore) Close() error { return o.st.Close() }

func (o observedStore) GetSettings(ctx context.Context, workspaceID string) (Settings, error) {
	ctx, done := o.obs.StoreCall(ctx, "GetSettings")
	r, err := o.st.GetSettings(ctx, workspaceID)
	done(err)
	return r, err
}

func (o observedStore) SaveSettings(ctx context.Context, st Settings) error {
	ctx, done := o.obs.StoreCall(ctx, "SaveSettings")
	err := o.st.SaveSettings(ctx, st)
	done(err)
	return err
}

func (o observedStore) AgentsByIDs(ctx context.Context, workspaceID string, ids []string) ([]*Agent, error) {
	ctx, done := o.obs.StoreCall(ctx, "AgentsByIDs")
	r, err := o.st.AgentsByIDs(ctx, workspaceID, ids)
	done(err)
	return r, err
}

func (o observedStore) ListAgents(ctx context.Context, workspaceID string, f AgentFilter) ([]Agent, error) {
	ctx, done := o.obs.StoreCall(ctx, "ListAgents")
	r, err := o.st.ListAgents(ctx, workspaceID, f)
	done(err)
	return r, err
}

func (o observedStore) InsertAgent(ctx context.Context, a Agent) error {
	ctx, done := o.obs.StoreCall(ctx, "InsertAgent")
	err := o.st.InsertAgent(ctx, a)
	done(err)
	return err
}

func (o observedStore) UpdateAgent(ctx context.Context, a Agent) error {
	ctx, done := o.obs.StoreCall(ctx, "UpdateAgent")
	err := o.st.UpdateAgent(ctx, a)
	done(err)
	return err
}

func (o observedStore) TouchAgent(ctx context.Context, workspaceID, agentID string, at time.Time) error {
	ctx, done := o.obs.StoreCall(ctx, "TouchAgent")
	err := o.st.TouchAgent(ctx, workspaceID, agentID, at)
	done(err)
	return err
}

func (o observedStore) InsertChannel(ctx context.Context, c Channel) error {
	ctx, done := o.obs.StoreCall(ctx, "InsertChannel")
	err := o.st.InsertChannel(ctx, c)
	done(err)
	return err
}

func (o observedStore) ChannelsByIDs(ctx context.Context, workspaceID string, ids []string) ([]*Channel, error) {
	ctx, done := o.obs.StoreCall(ctx, "ChannelsByIDs")
	r, err := o.st.ChannelsByIDs(ctx, workspaceID, ids)
	done(err)
	return r, err
}

func (o observedStore) ListChannels(ctx context.Context, workspaceID string) ([]Channel, error) {
	ctx, done := o.obs.StoreCall(ctx, "ListChannels")
	r, err := o.st.ListChannels(ctx, workspaceID)
	done(err)
	return r, err
}

func (o observedStore) SetAutoOwnership(ctx context.Context, workspaceID, channelID, agentID string, enabled bool) error {
	ctx, done := o.obs.StoreCall(ctx, "SetAutoOwnership")
	err := o.st.SetAutoOwnership(ctx, workspaceID, channelID, agentID, enabled)
	done(err)
	return err
}

func (o observedStore) UpsertContact(ctx context.Context, c Contact) (Contact, error) {
	ctx, done := o.obs.StoreCall(ctx, "UpsertContact")
	r, err := o.st.UpsertContact(ctx, c)
	done(err)
	return r, err
}

func (o observedStore) ContactsByIDs(ctx context.Context, workspaceID string, ids []string) ([]*Contact, error) {
	ctx, done := o.obs.StoreCall(ctx, "ContactsByIDs")
	r, err := o.st.ContactsByIDs(ctx, workspaceID, ids)
	done(err)
	return r, err
}

func (o observedStore) ConversationsByIDs(ctx context.Context, workspaceID string, ids []string) ([]*Conversation, error) {
	ctx, done := o.obs.StoreCall(ctx, "ConversationsByIDs")
	r, err := o.st.ConversationsByIDs(ctx, workspaceID, ids)
	done(err)
	return r, err
}

func (o observedStore) ContactConversations(ctx context.Context, workspaceID, contactID string) (*Conversation, int64, error) {
	ctx, done := o.obs.StoreCall(ctx, "ContactConversations")
	open, maxSeq, err := o.st.ContactConversations(ctx, workspaceID, contactID)
	done(err)
	return open, maxSeq, err
}

func (o observedStore) InsertConversation(ctx context.Context, w ConversationWrite) error {
	ctx, done := o.obs.StoreCall(ctx, "InsertConversation")
	err := o.st.InsertConversation(ctx, w)
	done(err)
	return err
}

func (o observedStore) UpdateConversation(ctx context.Context, w ConversationWrite) error {
	ctx, done := o.obs.StoreCall(ctx, "UpdateConversation")
	err := o.st.UpdateConversation(ctx, w)
	done(err)
	return err
}

func (o observedStore) QueryQueue(ctx context.Context, q QueueQuery) ([]Conversation, error) {
	ctx, done := o.obs.StoreCall(ctx, "QueryQueue")
	r, err := o.st.QueryQueue(ctx, q)
	done(err)
	return r, err
}

func (o observedStore) CountQueue(ctx context.Context, q QueueQuery) (int, error) {
	ctx, done := o.obs.StoreCall(ctx, "CountQueue")
	r, err := o.st.CountQueue(ctx, q)
	done(err)
	return r, err
}

func (o observedStore) CountOwners(ctx context.Context, workspaceID string, status QueueStatus, channelIDs []string) ([]OwnerCount, error) {
	ctx, done := o.obs.StoreCall(ctx, "CountOwners")
	r, err := o.st.CountOwners(ctx, workspaceID, status, channelIDs)
	done(err)
	return r, err
}

func (o observedStore) OwnedConversations(ctx context.Context, q OwnedQuery) ([]Conversation, error) {
	ctx, done := o.obs.StoreCall(ctx, "OwnedConversations")
	r, err := o.st.OwnedConversations(ctx, q)
	done(err)
	return r, err
}

func (o observedStore) MessagesByIDs(ctx context.Context, workspaceID string, ids []string) ([]*Message, error) {
	ctx, done := o.obs.StoreCall(ctx, "MessagesByIDs")
	r, err := o.st.MessagesByIDs(ctx, workspaceID, ids)
	done(err)
	return r, err
}

func (o observedStore) ListMessages(ctx context.Context, q MessageQuery) ([]Message, error) {
	ctx, done := o.obs.StoreCall(ctx, "ListMessages")
	r, err := o.st.ListMessages(ctx, q)
	done(err)
	return r, err
}

func (o observedStore) ListHistory(ctx context.Context, q HistoryQuery) ([]OwnershipChange, error) {
	ctx, done := o.obs.StoreCall(ctx, "ListHistory")
	r, err := o.st.ListHistory(ctx, q)
	done(err)
	return r, err
}

func (o observedStore) HistoryEntries(ctx context.Context, workspaceID string, keys []HistoryKey) ([]*OwnershipChange, error) {
	ctx, done := o.obs.StoreCall(ctx, "HistoryEntries")
	r, err := o.st.HistoryEntries(ctx, workspaceID, keys)
	done(err)
	return r, err
}

func (o observedStore) DueBoomerangs(ctx context.Context, t time.Time, limit int) ([]Conversation, error) {
	ctx, done := o.obs.StoreCall(ctx, "DueBoomerangs")
	r, err := o.st.DueBoomerangs(ctx, t, limit)
	done(err)
	return r, err
}

func (o observedStore) DueCleanups(ctx context.Context, t time.Time, limit int) ([]Agent, error) {
	ctx, done := o.obs.StoreCall(ctx, "DueCleanups")
	r, err := o.st.DueCleanups(ctx, t, limit)
	done(err)
	return r, err
}

func (o observedStore) SilentAgents(ctx context.Context, t time.Time, limit int) ([]Agent, error) {
	ctx, done := o.obs.StoreCall(ctx, "SilentAgents")
	r, err := o.st.SilentAgents(ctx, t, limit)
	done(err)
	return r, err
}

func (o observedStore) AcknowledgeAssignments(ctx context.Context, workspaceID, agentID string, keys []HistoryKey) error {
	ctx, done := o.obs.StoreCall(ctx, "AcknowledgeAssignments")
	err := o.st.AcknowledgeAssignments(ctx, workspaceID, agentID, keys)
	done(err)
	return err
}

func (o observedStore) AcknowledgedAssignments(ctx context.Context, workspaceID, agentID string, keys []HistoryKey) ([]bool, error) {
	ctx, done := o.obs.StoreCall(ctx, "AcknowledgedAssignments")
	r, err := o.st.AcknowledgedAssignments(ctx, workspaceID, agentID, keys)
	done(err)
	return r, err
}

func (o observedStore) UpdateConversations(ctx context.Context, ws []ConversationWrite) ([]error, error) {
	ctx, done := o.obs.StoreCall(ctx, "UpdateConversations")
	r, err := o.st.UpdateConversations(ctx, ws)
	done(err)
	return r, err
}

func (o observedStore) PendingDeliveries(ctx context.Context, q DeliveryQuery) ([]Message, error) {
	ctx, done := o.obs.StoreCall(ctx, "PendingDeliveries")
	r, err := o.st.PendingDeliveries(ctx, q)
	done(err)
	return r, err
}

func (o observedStore) CountPendingDeliveries(ctx context.Context, workspaceID, channelID string, stalledBefore time.Time) (pending, stalled int, err error) {
	ctx, done := o.obs.StoreCall(ctx, "CountPendingDeliveries")
	pending, stalled, err = o.st.CountPendingDeliveries(ctx, workspaceID, channelID, stalledBefore)
	done(err)
	return pending, stalled, err
}

func (o observedStore) SetRoutingAgent(ctx context.Context, workspaceID, channelID, agentID string, enabled bool) error {
	ctx, done := o.obs.StoreCall(ctx, "SetRoutingAgent")
	err := o.st.SetRoutingAgent(ctx, workspaceID, channelID, agentID, enabled)
	done(err)
	return err
}

func (o observedStore) ClaimRouting(ctx context.Context, workspaceID, instance string, now, until time.Time) (bool, error) {
	ctx, done := o.obs.StoreCall(ctx, "ClaimRouting")
	r, err := o.st.ClaimRouting(ctx, workspaceID, instance, now, until)
	done(err)
	return r, err
}

func (o observedStore) DueUnanswered(ctx context.Context, t time.Time, limit int) ([]Conversation, error) {
	ctx, done := o.obs.StoreCall(ctx, "DueUnanswered")
	r, err := o.st.DueUnanswered(ctx, t, limit)
	done(err)
	return r, err
}

func (o observedStore) RoutingWorkspaces(ctx context.Context, afterID string, limit int) ([]string, error) {
	ctx, done := o.obs.StoreCall(ctx, "RoutingWorkspaces")
	r, err := o.st.RoutingWorkspaces(ctx, afterID, limit)
	done(err)
	return r, err
}

// observedInboundRouter is an InboundRouter whose every call is told to an
// Observer, as observedStore's are.
type observedInboundRouter struct {
	ir  InboundRouter
	obs Observer
}

func (o observedInboundRouter) InsertConversationRouted(ctx context.Context, w ConversationWrite, route RoutedWrite) (bool, error) {
	ctx, done := o.obs.StoreCall(ctx, "InsertConversationRouted")
	r, err := o.ir.InsertConversationRouted(ctx, w, route)
	done(err)
	return r, err
}
