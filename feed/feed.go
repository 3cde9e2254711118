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
	mu sync.Mutex
	// subs holds the subscriptions to a workspace's events of some kinds
	// (a presence change does not wake a subscription of conversations).
	subs map[wsKinds]map[*Subscription]struct{}
	// topics holds the subscriptions to one conversation's events
	// (SubscribeConversation), by workspace and conversation.
	topics map[topic]map[*Subscription]struct{}
	taps   []func(domain.Event)
	closed bool
}

// topic names one conversation of one workspace.
type topic struct{ ws, conversation string }

// Kinds are kinds of events, which a subscription chooses: the broker
// wakes it only for those. When ten thousand agents sign in, each sign-in
// is a presence change, which a subscription of conversations would only
// drop, ten thousand times each.
type Kinds uint8

const (
	// Conversations are changes of conversations (Event.Conversation).
	Conversations Kinds = 1 << iota
	// Agents are changes of agent records, presence included (Event.Agent).
	Agents
	// AllKinds is every event of the workspace, those of neither kind
	// included.
	AllKinds Kinds = 0xff
)

// kindOf is the kind of e, 0 for one of neither kind (only AllKinds
// subscriptions receive those).
func kindOf(e domain.Event) Kinds {
	switch {
	case e.Conversation != nil:
		return Conversations
	case e.Agent != nil:
		return Agents
	}
	return 0
}

// wsKinds names the subscriptions of one workspace to some kinds.
type wsKinds struct {
	ws    string
	kinds Kinds
}

// Tap calls f with every published event, of every workspace, in publish
// order; f must not block (the background jobs time due work with it).
func (b *Broker) Tap(f func(domain.Event)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.taps = append(b.taps, f)
}

// NewBroker returns an empty broker.
func NewBroker() *Broker {
	return &Broker{subs: map[wsKinds]map[*Subscription]struct{}{}, topics: map[topic]map[*Subscription]struct{}{}}
}

// Subscription receives the events of one workspace.
type Subscription struct {
	b     *Broker
	ws    string
	kinds Kinds
	// conversation, if not "", narrows it to one conversation's events.
	conversation string
	// c queues its events, unless it hands them to a function (pump).
	c chan *Event
	// pump, if set, is how it hands its events to a function instead.
	pump *pump
	// done is closed when the subscription ends, err says why.
	done chan struct{}
	err  error
}

// Subscribe starts receiving the events of workspace ws; queue bounds how
// many may wait to be read.
func (b *Broker) Subscribe(ws string, queue int) *Subscription {
	return b.SubscribeKinds(ws, AllKinds, queue)
}

// SubscribeKinds starts receiving the events of workspace ws of the given
// kinds; queue bounds how many may wait to be read.
func (b *Broker) SubscribeKinds(ws string, kinds Kinds, queue int) *Subscription {
	s := &Subscription{b: b, ws: ws, kinds: kinds, c: make(chan *Event, queue), done: make(chan struct{})}
	b.add(s)
	return s
}

// SubscribeFunc starts receiving the events of workspace ws of the given
// kinds, handed to handle one at a time, in order, once Start is called.
// No goroutine waits for them: one runs handle while events wait, and ends
// when none does, so an idle subscription holds no goroutine and no queue.
// At most queue events wait; past that the subscription is cut off, as
// one whose queue is full. handle returns false to end the subscription.
// When the subscription is cut off (not closed), ended is called with why,
// after the events handled before, on the same goroutine.
func (b *Broker) SubscribeFunc(ws string, kinds Kinds, queue int, handle func(*Event) bool, ended func(error)) *Subscription {
	s := &Subscription{b: b, ws: ws, kinds: kinds, done: make(chan struct{}),
		pump: &pump{limit: queue, handle: handle, ended: ended}}
	b.add(s)
	return s
}

// add registers s with its workspace.
func (b *Broker) add(s *Subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		s.end(ErrClosed)
		return
	}
	k := wsKinds{s.ws, s.kinds}
	if b.subs[k] == nil {
		b.subs[k] = map[*Subscription]struct{}{}
	}
	b.subs[k][s] = struct{}{}
}

// pump hands a SubscribeFunc subscription's events to its function.
type pump struct {
	limit  int
	handle func(*Event) bool
	ended  func(error)

	mu sync.Mutex
	// waiting are the events not yet handled, nil while none waits.
	waiting []*Event
	// started: Start was called; running: a goroutine is handling.
	started, running bool
	// stop is set when the subscription ended: nothing more is handled;
	// cut says why it was cut off, nil if it was closed.
	stop bool
	cut  error
}

// Start starts handing events to the subscription's function (of
// SubscribeFunc), first calling first, if not nil, on the same goroutine:
// events published meanwhile wait for it (a replay of what came before).
// first returns false to end the subscription.
func (s *Subscription) Start(first func() bool) {
	p := s.pump
	p.mu.Lock()
	p.started, p.running = true, true
	p.mu.Unlock()
	go func() {
		if first != nil && !first() {
			s.Close()
			p.mu.Lock()
			p.running = false
			p.mu.Unlock()
			return
		}
		s.run()
	}()
}

// push queues ev for the function, and starts a goroutine to handle it if
// none runs; false when too many wait. b.mu is held.
func (p *pump) push(s *Subscription, ev *Event) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop {
		return true
	}
	if len(p.waiting) >= p.limit {
		return false
	}
	p.waiting = append(p.waiting, ev)
	p.wake(s)
	return true
}

// wake starts a goroutine to handle what waits, if none runs; p.mu is
// held.
func (p *pump) wake(s *Subscription) {
	if p.started && !p.running {
		p.running = true
		go s.run()
	}
}

// run handles the waiting events in order until none waits.
func (s *Subscription) run() {
	p := s.pump
	for {
		p.mu.Lock()
		if p.stop {
			p.waiting, p.running = nil, false
			cut := p.cut
			p.cut = nil
			p.mu.Unlock()
			if cut != nil && p.ended != nil {
				p.ended(cut)
			}
			return
		}
		if len(p.waiting) == 0 {
			// Let the backing array go: the next event makes its own.
			p.waiting, p.running = nil, false
			p.mu.Unlock()
			return
		}
		ev := p.waiting[0]
		p.waiting[0] = nil
		p.waiting = p.waiting[1:]
		p.mu.Unlock()
		if !p.handle(ev) {
			s.Close()
		}
	}
}

// SubscribeConversation starts receiving the events of one conversation of
// workspace ws: its changes, and the changes of who views and types on it
// (which only such subscriptions receive). A thousand agents each watching
// one of a hundred conversations are woken by their own conversation's
// events only.
func (b *Broker) SubscribeConversation(ws, conversationID string, queue int) *Subscription {
	s := &Subscription{b: b, ws: ws, kinds: AllKinds, conversation: conversationID, c: make(chan *Event, queue), done: make(chan struct{})}
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

// Events returns the subscription's events (nil for one of SubscribeFunc).
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
		if p := s.pump; p != nil {
			p.mu.Lock()
			p.stop, p.cut = true, err
			p.wake(s)
			p.mu.Unlock()
		}
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
	k := wsKinds{s.ws, s.kinds}
	if m := b.subs[k]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(b.subs, k)
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
	// A change of activity goes only to its conversation's subscribers;
	// any other change to the subscribers of its kind, and of all kinds.
	if e.Activity == nil {
		if k := kindOf(e); k != 0 {
			b.deliver(b.subs[wsKinds{e.WorkspaceID, k}], ev)
		}
		b.deliver(b.subs[wsKinds{e.WorkspaceID, AllKinds}], ev)
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
		if s.pump != nil {
			if !s.pump.push(s, ev) {
				b.remove(s)
				s.end(ErrTooSlow)
			}
			continue
		}
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
	b.subs = map[wsKinds]map[*Subscription]struct{}{}
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
	return Deliverer(ctx)(e, view, deliver)
}

// Deliverer returns Deliver for ctx, with its Sharer looked up once: a
// subscription delivers every event through the same one, and an
// operation's context is a long chain to walk for each event of each
// subscriber.
func Deliverer(ctx context.Context) func(e *Event, view string, deliver func() bool) bool {
	if s, ok := ctx.Value(sharerKey{}).(Sharer); ok {
		return s.Share
	}
	return func(_ *Event, _ string, deliver func() bool) bool { return deliver() }
}

// Driver runs a subscription's operation only when its resolver has
// something for it, instead of a goroutine of the transport's waiting on
// the resolver's channel for the subscription's whole life. A transport
// puts one in each subscription's context (WithDriver); a resolver that
// sends on its channel only as below tells it so (Attach), and the
// transport reads the channel only after each Ready.
type Driver interface {
	// Attach says the resolver calls Ready before each value it sends on
	// its channel and before closing it. A resolver that does not attach
	// is read by a goroutine that waits on its channel.
	Attach()
	// Ready says one more value (or the channel's close) is coming: the
	// transport reads it, once, without blocking the caller.
	Ready()
}

type driverKey struct{}

// WithDriver returns ctx carrying d, for Attach and Ready.
func WithDriver(ctx context.Context, d Driver) context.Context {
	return context.WithValue(ctx, driverKey{}, d)
}

// Attach tells the Driver in ctx, if any, that the resolver calls Ready;
// it returns the function to call, a no-op where there is no Driver.
func Attach(ctx context.Context) (ready func()) {
	if d, ok := ctx.Value(driverKey{}).(Driver); ok {
		d.Attach()
		return d.Ready
	}
	return func() {}
}
