package apitest

import (
	"context"
	"errors"
	"sync"
	"time"

	"switchboard/domain"
)

// CountingStore counts the calls made to a store, so tests can prove that a
// query costs a fixed number of store calls, not one per row, and adds up
// the time they take, so benchmarks can tell a request's own cost from its
// store's.
type CountingStore struct {
	domain.Store
	mu      sync.Mutex
	calls   map[string]int
	elapsed time.Duration
}

// NewCountingStore wraps s.
func NewCountingStore(s domain.Store) *CountingStore {
	return &CountingStore{Store: s, calls: map[string]int{}}
}

// count counts a call to name; the func it returns ends the call's time.
func (c *CountingStore) count(name string) func() {
	start := time.Now()
	return func() {
		d := time.Since(start)
		c.mu.Lock()
		c.calls[name]++
		c.elapsed += d
		c.mu.Unlock()
	}
}

// Reset forgets the calls counted so far.
func (c *CountingStore) Reset() {
	c.mu.Lock()
	c.calls = map[string]int{}
	c.elapsed = 0
	c.mu.Unlock()
}

// Elapsed returns the time spent in the calls counted so far, added up
// (calls that overlap count once each).
func (c *CountingStore) Elapsed() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.elapsed
}

// Calls returns the calls counted so far, per method, and their total.
func (c *CountingStore) Calls() (map[string]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.calls))
	total := 0
	for k, v := range c.calls {
		out[k] = v
		total += v
	}
	return out, total
}

func (c *CountingStore) Ping(ctx context.Context) error {
	defer c.count("Ping")()
	return c.Store.Ping(ctx)
}

func (c *CountingStore) GetSettings(ctx context.Context, ws string) (domain.Settings, error) {
	defer c.count("GetSettings")()
	return c.Store.GetSettings(ctx, ws)
}

func (c *CountingStore) SaveSettings(ctx context.Context, s domain.Settings) error {
	defer c.count("SaveSettings")()
	return c.Store.SaveSettings(ctx, s)
}

func (c *CountingStore) AgentsByIDs(ctx context.Context, ws string, ids []string) ([]*domain.Agent, error) {
	defer c.count("AgentsByIDs")()
	return c.Store.AgentsByIDs(ctx, ws, ids)
}

func (c *CountingStore) ListAgents(ctx context.Context, ws string, f domain.AgentFilter) ([]domain.Agent, error) {
	defer c.count("ListAgents")()
	return c.Store.ListAgents(ctx, ws, f)
}

func (c *CountingStore) InsertAgent(ctx context.Context, a domain.Agent) error {
	defer c.count("InsertAgent")()
	return c.Store.InsertAgent(ctx, a)
}

func (c *CountingStore) UpdateAgent(ctx context.Context, a domain.Agent) error {
	defer c.count("UpdateAgent")()
	return c.Store.UpdateAgent(ctx, a)
}

func (c *CountingStore) TouchAgent(ctx context.Context, ws, id string, at time.Time) error {
	defer c.count("TouchAgent")()
	return c.Store.TouchAgent(ctx, ws, id, at)
}

func (c *CountingStore) InsertChannel(ctx context.Context, ch domain.Channel) error {
	defer c.count("InsertChannel")()
	return c.Store.InsertChannel(ctx, ch)
}

func (c *CountingStore) ChannelsByIDs(ctx context.Context, ws string, ids []string) ([]*domain.Channel, error) {
	defer c.count("ChannelsByIDs")()
	return c.Store.ChannelsByIDs(ctx, ws, ids)
}

func (c *CountingStore) ListChannels(ctx context.Context, ws string) ([]domain.Channel, error) {
	defer c.count("ListChannels")()
	return c.Store.ListChannels(ctx, ws)
}

func (c *CountingStore) SetAutoOwnership(ctx context.Context, ws, ch, agent string, on bool) error {
	defer c.count("SetAutoOwnership")()
	return c.Store.SetAutoOwnership(ctx, ws, ch, agent, on)
}

func (c *CountingStore) SetRoutingAgent(ctx context.Context, ws, ch, agent string, on bool) error {
	defer c.count("SetRoutingAgent")()
	return c.Store.SetRoutingAgent(ctx, ws, ch, agent, on)
}

func (c *CountingStore) UpsertContact(ctx context.Context, ct domain.Contact) (domain.Contact, error) {
	defer c.count("UpsertContact")()
	return c.Store.UpsertContact(ctx, ct)
}

func (c *CountingStore) ContactsByIDs(ctx context.Context, ws string, ids []string) ([]*domain.Contact, error) {
	defer c.count("ContactsByIDs")()
	return c.Store.ContactsByIDs(ctx, ws, ids)
}

func (c *CountingStore) ConversationsByIDs(ctx context.Context, ws string, ids []string) ([]*domain.Conversation, error) {
	defer c.count("ConversationsByIDs")()
	return c.Store.ConversationsByIDs(ctx, ws, ids)
}

func (c *CountingStore) ContactConversations(ctx context.Context, ws, contactID string) (*domain.Conversation, int64, error) {
	defer c.count("ContactConversations")()
	return c.Store.ContactConversations(ctx, ws, contactID)
}

func (c *CountingStore) InsertConversation(ctx context.Context, w domain.ConversationWrite) error {
	defer c.count("InsertConversation")()
	return c.Store.InsertConversation(ctx, w)
}

func (c *CountingStore) UpdateConversation(ctx context.Context, w domain.ConversationWrite) error {
	defer c.count("UpdateConversation")()
	return c.Store.UpdateConversation(ctx, w)
}

func (c *CountingStore) UpdateConversations(ctx context.Context, ws []domain.ConversationWrite) ([]error, error) {
	defer c.count("UpdateConversations")()
	return c.Store.UpdateConversations(ctx, ws)
}

func (c *CountingStore) QueryQueue(ctx context.Context, q domain.QueueQuery) ([]domain.Conversation, error) {
	defer c.count("QueryQueue")()
	return c.Store.QueryQueue(ctx, q)
}

func (c *CountingStore) CountQueue(ctx context.Context, q domain.QueueQuery) (int, error) {
	defer c.count("CountQueue")()
	return c.Store.CountQueue(ctx, q)
}

func (c *CountingStore) CountOwners(ctx context.Context, ws string, s domain.QueueStatus, ch []string) ([]domain.OwnerCount, error) {
	defer c.count("CountOwners")()
	return c.Store.CountOwners(ctx, ws, s, ch)
}

func (c *CountingStore) OwnedConversations(ctx context.Context, q domain.OwnedQuery) ([]domain.Conversation, error) {
	defer c.count("OwnedConversations")()
	return c.Store.OwnedConversations(ctx, q)
}

func (c *CountingStore) MessagesByIDs(ctx context.Context, ws string, ids []string) ([]*domain.Message, error) {
	defer c.count("MessagesByIDs")()
	return c.Store.MessagesByIDs(ctx, ws, ids)
}

func (c *CountingStore) ListMessages(ctx context.Context, q domain.MessageQuery) ([]domain.Message, error) {
	defer c.count("ListMessages")()
	return c.Store.ListMessages(ctx, q)
}

func (c *CountingStore) ListHistory(ctx context.Context, q domain.HistoryQuery) ([]domain.OwnershipChange, error) {
	defer c.count("ListHistory")()
	return c.Store.ListHistory(ctx, q)
}

func (c *CountingStore) HistoryEntries(ctx context.Context, ws string, keys []domain.HistoryKey) ([]*domain.OwnershipChange, error) {
	defer c.count("HistoryEntries")()
	return c.Store.HistoryEntries(ctx, ws, keys)
}

func (c *CountingStore) AcknowledgeAssignments(ctx context.Context, ws, agent string, keys []domain.HistoryKey) error {
	defer c.count("AcknowledgeAssignments")()
	return c.Store.AcknowledgeAssignments(ctx, ws, agent, keys)
}

func (c *CountingStore) AcknowledgedAssignments(ctx context.Context, ws, agent string, keys []domain.HistoryKey) ([]bool, error) {
	defer c.count("AcknowledgedAssignments")()
	return c.Store.AcknowledgedAssignments(ctx, ws, agent, keys)
}

// EventsAfter reads the wrapped store's record of changes, if it keeps one.
func (c *CountingStore) EventsAfter(ctx context.Context, ws string, after int64, limit int) ([]domain.Event, error) {
	c.count("EventsAfter")
	log, ok := c.Store.(domain.EventLog)
	if !ok {
		return nil, errNoEventLog
	}
	return log.EventsAfter(ctx, ws, after, limit)
}

// TrimEvents trims the wrapped store's record of changes, if it keeps one.
func (c *CountingStore) TrimEvents(ctx context.Context, before time.Time, keep int) (int, error) {
	c.count("TrimEvents")
	log, ok := c.Store.(domain.EventLog)
	if !ok {
		return 0, nil
	}
	return log.TrimEvents(ctx, before, keep)
}

var errNoEventLog = errors.New("this store keeps no record of changes")
