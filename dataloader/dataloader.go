// Package dataloader batches the reads that GraphQL fields make by id
// (owners, authors, channels, contacts, conversations), so a page of a hundred
// rows costs one store call per kind instead of one per row.
//
// It uses github.com/vikstrous/dataloadgen: generic (no code generation),
// small, and with a per-loader cache. Loaders are made per GraphQL operation,
// never per connection: a WebSocket connection lives for hours and must not
// serve stale agents from a cache.
package dataloader

import (
	"context"
	"sync"

	"github.com/vikstrous/dataloadgen"

	"switchboard/domain"
)

// Reader is the batch reads the loaders are built on; *domain.Service
// provides them.
type Reader interface {
	AgentsByIDs(ctx context.Context, ws string, ids []string) ([]*domain.Agent, error)
	ChannelsByIDs(ctx context.Context, ws string, ids []string) ([]*domain.Channel, error)
	ContactsByIDs(ctx context.Context, ws string, ids []string) ([]*domain.Contact, error)
	ConversationsByIDs(ctx context.Context, ws string, ids []string) ([]*domain.Conversation, error)
	// WorkspaceRoutingSettings and NewLoads are what Agent.capacity and
	// Agent.load need: read once per operation, whatever the agents.
	WorkspaceRoutingSettings(ctx context.Context, ws string) (domain.RoutingSettings, error)
	NewLoads(ctx context.Context, ws string) ([]domain.OwnerCount, error)
}

// Loaders are the loaders of one operation in one workspace.
type Loaders struct {
	Agents        *dataloadgen.Loader[string, *domain.Agent]
	Channels      *dataloadgen.Loader[string, *domain.Channel]
	Contacts      *dataloadgen.Loader[string, *domain.Contact]
	Conversations *dataloadgen.Loader[string, *domain.Conversation]

	reader Reader
	ws     string

	mu      sync.Mutex
	routing *routingReads
}

// routingReads are the workspace-wide reads behind agents' capacity and
// load, each made at most once per operation (or per event, after Reset).
type routingReads struct {
	settingsOnce sync.Once
	settings     domain.RoutingSettings
	settingsErr  error
	loadsOnce    sync.Once
	loads        map[string]int
	loadsErr     error
}

func (l *Loaders) routingReads() *routingReads {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.routing == nil {
		l.routing = &routingReads{}
	}
	return l.routing
}

// Capacity is the agent's effective capacity: their own, else the
// workspace default (read once).
func (l *Loaders) Capacity(ctx context.Context, a *domain.Agent) (int, error) {
	if a.Capacity != nil {
		return *a.Capacity, nil
	}
	r := l.routingReads()
	r.settingsOnce.Do(func() { r.settings, r.settingsErr = l.reader.WorkspaceRoutingSettings(ctx, l.ws) })
	if r.settingsErr != nil {
		return 0, r.settingsErr
	}
	return a.EffectiveCapacity(r.settings), nil
}

// Load is how many NEW conversations the agent owns, from one count of
// the workspace's owners per operation.
func (l *Loaders) Load(ctx context.Context, agentID string) (int, error) {
	r := l.routingReads()
	r.loadsOnce.Do(func() {
		counts, err := l.reader.NewLoads(ctx, l.ws)
		r.loads, r.loadsErr = make(map[string]int, len(counts)), err
		for _, c := range counts {
			r.loads[c.OwnerID] = c.Count
		}
	})
	return r.loads[agentID], r.loadsErr
}

// wait is how long a loader collects keys before it fetches: none. Lists
// load their references up front (the Prime methods), so a page's store
// calls never rested on timing, and what is left to load is a single
// record (a mutation's payload, `conversation(id)`), which a wait would
// only delay: a sleep of any length under a millisecond takes more than a
// millisecond on Linux, and it was paid once per level of such a result.
// Keys loaded before the batch's goroutine runs still share its fetch.
const wait = 0

// New returns fresh loaders reading workspace ws.
func New(r Reader, ws string) *Loaders {
	return &Loaders{
		Agents:        newLoader(ws, r.AgentsByIDs),
		Channels:      newLoader(ws, r.ChannelsByIDs),
		Contacts:      newLoader(ws, r.ContactsByIDs),
		Conversations: newLoader(ws, r.ConversationsByIDs),
		reader:        r,
		ws:            ws,
	}
}

func newLoader[V any](ws string, fetch func(context.Context, string, []string) ([]*V, error)) *dataloadgen.Loader[string, *V] {
	return dataloadgen.NewLoader(func(ctx context.Context, ids []string) ([]*V, []error) {
		vs, err := fetch(ctx, ws, ids)
		if err != nil {
			return nil, []error{err}
		}
		return vs, nil
	}, dataloadgen.WithWait(wait))
}

type loadersKey struct{}

// With returns ctx carrying l.
func With(ctx context.Context, l *Loaders) context.Context {
	return context.WithValue(ctx, loadersKey{}, l)
}

// For returns the loaders of the operation ctx belongs to.
func For(ctx context.Context) *Loaders {
	l, _ := ctx.Value(loadersKey{}).(*Loaders)
	return l
}

// PrimeAgents reads the agents with these ids in one store call and puts them
// in the loader's cache.
func (l *Loaders) PrimeAgents(ctx context.Context, ids []string) error {
	return prime(ctx, l.Agents, l.ws, ids, l.reader.AgentsByIDs)
}

// PrimeChannels is PrimeAgents for channels.
func (l *Loaders) PrimeChannels(ctx context.Context, ids []string) error {
	return prime(ctx, l.Channels, l.ws, ids, l.reader.ChannelsByIDs)
}

// PrimeContacts is PrimeAgents for contacts.
func (l *Loaders) PrimeContacts(ctx context.Context, ids []string) error {
	return prime(ctx, l.Contacts, l.ws, ids, l.reader.ContactsByIDs)
}

// PrimeConversations puts conversations the caller already holds in the
// loader's cache.
func (l *Loaders) PrimeConversations(convs []domain.Conversation) {
	for i := range convs {
		c := convs[i]
		l.Conversations.Prime(c.ID, &c)
	}
}

func prime[V any](ctx context.Context, l *dataloadgen.Loader[string, *V], ws string, ids []string,
	fetch func(context.Context, string, []string) ([]*V, error)) error {
	seen := make(map[string]bool, len(ids))
	keys := make([]string, 0, len(ids))
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			keys = append(keys, id)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	vs, err := fetch(ctx, ws, keys)
	if err != nil {
		return err
	}
	for i, k := range keys {
		l.Prime(k, vs[i])
	}
	return nil
}

// Reset empties the caches and primes them with records already loaded: a
// subscription lives for hours, so its loaders start afresh with each event,
// from the references the event's subscribers share.
func (l *Loaders) Reset(agents map[string]*domain.Agent, channels map[string]*domain.Channel, contacts map[string]*domain.Contact) {
	l.mu.Lock()
	l.routing = nil
	l.mu.Unlock()
	l.Agents.ClearAll()
	l.Channels.ClearAll()
	l.Contacts.ClearAll()
	l.Conversations.ClearAll()
	for id, a := range agents {
		l.Agents.Prime(id, a)
	}
	for id, c := range channels {
		l.Channels.Prime(id, c)
	}
	for id, c := range contacts {
		l.Contacts.Prime(id, c)
	}
}
