// Package feed fans committed changes out to the subscriptions of one
// process. Whatever delivers the changes — the SQLite store in process, or a
// MongoDB change stream carrying the writes of every instance — publishes
// into a Broker; each GraphQL subscription reads its workspace's changes from
// it.
//
// Publishing never blocks: every subscription has a bounded queue, and one
// that falls behind is cut off (its Err says so) rather than slowing the
// source or growing memory without bound.
package feed

import (
	"context"
	"errors"
	"slices"
	"sync"

	"switchboard/domain"
)

// ErrTooSlow is why a subscription was cut off: its queue was full.
var ErrTooSlow = errors.New("the subscriber fell behind the change feed")

// ErrClosed is why a subscription ended when the broker shut down.
var ErrClosed = errors.New("the change feed is shutting down")

// ErrResync is why a subscription ended when the change feed lost its
// place: changes may have been missed, so the subscriber should catch up.
var ErrResync = errors.New("the change feed resynchronised; changes may have been missed")

// Broker delivers events to the subscriptions of their workspace, in the
// order they were published.
type Broker struct {
	mu   sync.Mutex
	subs map[string]map[*Subscription]struct{}
	// topics holds the subscriptions to one conversation's events
	// (SubscribeConversation), by workspace and conversation.
	topics map[topic]map[*Subscription]struct{}
	taps   []func(domain.Event)
	closed bool
}

// topic names one conversation of one workspace.
type topic struct{ ws, conversation string }

// Tap calls f with every published event, of every workspace, in publish
// order; f must not block (the background jobs time due work with it).
func (b *Broker) Tap(f func(domain.Event)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.taps = append(b.taps, f)
}

// NewBroker returns an empty broker.
func NewBroker() *Broker {
	return &Broker{subs: map[string]map[*Subscription]struct{}{}, topics: map[topic]map[*Subscription]struct{}{}}
}

// Subscription receives the events of one workspace.
type Subscription struct {
	b  *Broker
	ws string
	// conversation, if not "", narrows it to one conversation's events.
	conversation string
	c            chan *Event
	// done is closed when the subscription ends, err says why.
	done chan struct{}
	err  error
}

// Subscribe starts receiving the events of workspace ws; queue bounds how
// many may wait to be read.
func (b *Broker) Subscribe(ws string, queue int) *Subscription {
	s := &Subscription{b: b, ws: ws, c: make(chan *Event, queue), done: make(chan struct{})}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		s.end(ErrClosed)
		return s
	}
	if b.subs[ws] == nil {
		b.subs[ws] = map[*Subscription]struct{}{}
	}
	b.subs[ws][s] = struct{}{}
	return s
}

// SubscribeConversation starts receiving the events of one conversation of
// workspace ws: its changes, and the changes of who views and types on it
// (which only such subscriptions receive). A thousand agents each watching
// one of a hundred conversations are woken by their own conversation's
// events only.
func (b *Broker) SubscribeConversation(ws, conversationID string, queue int) *Subscription {
	s := &Subscription{b: b, ws: ws, conversation: conversationID, c: make(chan *Event, queue), done: make(chan struct{})}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		s.end(ErrClosed)
		return s
	}
	k := topic{ws, conversationID}
	if b.topics[k] == nil {
		b.topics[k] = map[*Subscription]struct{}{}
	}
	b.topics[k][s] = struct{}{}
	return s
}

// Events returns the subscription's events.
func (s *Subscription) Events() <-chan *Event { return s.c }

// Done is closed when the subscription has ended (Close, cut off, or broker
// closed).
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err says why the subscription ended: nil after Close.
func (s *Subscription) Err() error {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	return s.err
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.remove(s)
	s.end(nil)
}

// end marks s ended with err; b.mu is held.
func (s *Subscription) end(err error) {
	select {
	case <-s.done:
	default:
		s.err = err
		close(s.done)
	}
}

func (b *Broker) remove(s *Subscription) {
	if s.conversation != "" {
		k := topic{s.ws, s.conversation}
		if m := b.topics[k]; m != nil {
			delete(m, s)
			if len(m) == 0 {
				delete(b.topics, k)
			}
		}
		return
	}
	if m := b.subs[s.ws]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(b.subs, s.ws)
		}
	}
}

// Publish delivers e to every subscription of its workspace without
// blocking; a subscription whose queue is full is cut off. It implements
// domain.EventSink.
func (b *Broker) Publish(e domain.Event) {
	ev := &Event{Event: e}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, f := range b.taps {
		f(e)
	}
	// A change of activity goes only to its conversation's subscribers.
	if e.Activity == nil {
		b.deliver(b.subs[e.WorkspaceID], ev)
	}
	conversation := ""
	switch {
	case e.Conversation != nil:
		conversation = e.Conversation.After.ID
	case e.Activity != nil:
		conversation = e.Activity.ConversationID
	}
	if conversation != "" {
		b.deliver(b.topics[topic{e.WorkspaceID, conversation}], ev)
	}
}

// deliver queues ev on each of subs, cutting off those whose queue is full;
// b.mu is held.
func (b *Broker) deliver(subs map[*Subscription]struct{}, ev *Event) {
	for s := range subs {
		select {
		case s.c <- ev:
		default:
			b.remove(s)
			s.end(ErrTooSlow)
		}
	}
}

// Resync ends every subscription with ErrResync: the source may have
// skipped changes, and each subscriber must catch up with a query.
func (b *Broker) Resync() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.endAll(ErrResync)
}

// endAll ends every subscription with err; b.mu is held.
func (b *Broker) endAll(err error) {
	for _, m := range b.subs {
		for s := range m {
			s.end(err)
		}
	}
	for _, m := range b.topics {
		for s := range m {
			s.end(err)
		}
	}
	b.subs = map[string]map[*Subscription]struct{}{}
	b.topics = map[topic]map[*Subscription]struct{}{}
}

// Close ends every subscription; later ones end at once.
func (b *Broker) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.endAll(ErrClosed)
}

// Subscribers returns how many subscriptions are open.
func (b *Broker) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, m := range b.subs {
		n += len(m)
	}
	for _, m := range b.topics {
		n += len(m)
	}
	return n
}

// Event is one published change, shared by every subscription that receives
// it. Refs holds what its subscribers look up about it, loaded once for all
// of them.
type Event struct {
	domain.Event
	refs refs
	memo sync.Map // key → *memoEntry
}

// memoEntry is one key's value of Memo, computed by the first caller.
type memoEntry struct {
	once sync.Once
	v    any
}

// Memo returns what compute returns for key, computing it once per event:
// subscribers of the same view share their filtering of an event. The
// subscribers of an event all wake when it is published, so they ask at
// once: those who ask while the first computes wait for its value rather
// than each computing their own.
func (e *Event) Memo(key string, compute func() any) any {
	m, ok := e.memo.Load(key)
	if !ok {
		m, _ = e.memo.LoadOrStore(key, &memoEntry{})
	}
	entry := m.(*memoEntry)
	entry.once.Do(func() { entry.v = compute() })
	return entry.v
}

// refs are the records an event's subscribers resolve (owners, actors,
// channel, contact), loaded once per event.
type refs struct {
	once     sync.Once
	agents   map[string]*domain.Agent
	channels map[string]*domain.Channel
	contacts map[string]*domain.Contact
	err      error
}

// RefReader reads records by id; *domain.Service is one.
type RefReader interface {
	AgentsByIDs(ctx context.Context, ws string, ids []string) ([]*domain.Agent, error)
	ChannelsByIDs(ctx context.Context, ws string, ids []string) ([]*domain.Channel, error)
	ContactsByIDs(ctx context.Context, ws string, ids []string) ([]*domain.Contact, error)
}

// Refs are the records an event's subscribers look up: the agents it names
// (owners before and after, the change's actor, a message's author), the
// conversation's channel and contact.
type Refs struct {
	Agents   map[string]*domain.Agent
	Channels map[string]*domain.Channel
	Contacts map[string]*domain.Contact
}

// Refs loads the event's references once, for every subscriber: a thousand
// subscribers of one event cost three store calls, not three thousand.
func (e *Event) Refs(ctx context.Context, r RefReader) (Refs, error) {
	e.refs.once.Do(func() { e.refs.err = e.loadRefs(ctx, r) })
	return Refs{Agents: e.refs.agents, Channels: e.refs.channels, Contacts: e.refs.contacts}, e.refs.err
}

func (e *Event) loadRefs(ctx context.Context, r RefReader) error {
	c := e.Conversation
	if c == nil {
		return nil
	}
	ws := e.WorkspaceID
	var agentIDs []string
	add := func(id string) {
		if id != "" && !slices.Contains(agentIDs, id) {
			agentIDs = append(agentIDs, id)
		}
	}
	add(c.After.OwnerID)
	if c.Before != nil {
		add(c.Before.OwnerID)
	}
	if c.Change != nil {
		add(c.Change.FromID)
		add(c.Change.ToID)
		add(c.Change.ActorID)
	}
	if c.Message != nil {
		add(c.Message.AuthorID)
	}
	e.refs.agents = map[string]*domain.Agent{}
	if len(agentIDs) > 0 {
		agents, err := r.AgentsByIDs(ctx, ws, agentIDs)
		if err != nil {
			return err
		}
		for i, id := range agentIDs {
			e.refs.agents[id] = agents[i]
		}
	}
	chs, err := r.ChannelsByIDs(ctx, ws, []string{c.After.ChannelID})
	if err != nil {
		return err
	}
	e.refs.channels = map[string]*domain.Channel{c.After.ChannelID: chs[0]}
	cts, err := r.ContactsByIDs(ctx, ws, []string{c.After.ContactID})
	if err != nil {
		return err
	}
	e.refs.contacts = map[string]*domain.Contact{c.After.ContactID: cts[0]}
	return nil
}

type cutOffKey struct{}

// WithCutOff returns ctx carrying f, which a subscription resolver calls
// when the broker cut its subscription off: the transport then closes the
// connection with a code that tells the client to reconnect and catch up.
func WithCutOff(ctx context.Context, f func(error)) context.Context {
	return context.WithValue(ctx, cutOffKey{}, f)
}

// CutOff reports, through the function WithCutOff put in ctx, that a
// subscription ended for err.
func CutOff(ctx context.Context, err error) {
	if f, ok := ctx.Value(cutOffKey{}).(func(error)); ok && err != nil {
		f(err)
	}
}

// Sharer lets the subscribers of one view of an event share the work of
// delivering it: the value their view picks is the same for all of them, so
// what a transport makes of it (the operation's result, encoded) can be made
// once and sent to each. A transport puts one in each subscription's
// context (WithSharer).
type Sharer interface {
	// Share delivers e, as view picked it, to this subscriber. deliver hands
	// this subscriber's value to its operation, as without a Sharer; Share
	// calls it when no other subscriber's result can stand for this one's.
	// Share reports false when the subscription has ended.
	Share(e *Event, view string, deliver func() bool) bool
}

type sharerKey struct{}

// WithSharer returns ctx carrying s, for Deliver.
func WithSharer(ctx context.Context, s Sharer) context.Context {
	return context.WithValue(ctx, sharerKey{}, s)
}

// Deliver delivers e, as view picked it, through the Sharer in ctx, or else
// by deliver itself; false when the subscription has ended. A subscriber's
// view must say all that its value depends on, as for Memo.
func Deliver(ctx context.Context, e *Event, view string, deliver func() bool) bool {
	if s, ok := ctx.Value(sharerKey{}).(Sharer); ok {
		return s.Share(e, view, deliver)
	}
	return deliver()
}
