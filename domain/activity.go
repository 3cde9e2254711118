package domain

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Activity is who else is on a conversation now: the agents viewing it (an
// agent holding its conversationActivity subscription) and those typing a
// reply. It is ephemeral: never stored with the conversation, never in its
// history, never a new version. A viewer goes with the subscription that
// made them one (so with its socket); typing goes on false, on a reply by
// the typist, or TypingFor after the last true.

// TypingFor is how long a setTyping(true) lasts unless repeated.
const TypingFor = 6 * time.Second

// Typing calls each agent may make: a burst of typingBurst, refilled at
// typingPerSecond; the calls beyond are no-ops.
const (
	typingBurst     = 5
	typingPerSecond = 4
)

// ActivityEvent is a conversation's activity after a change of it: the
// agents viewing and typing, by id, sorted. Seq grows with every change this
// instance publishes, so a subscriber can drop an event older than the
// snapshot it started from.
type ActivityEvent struct {
	ConversationID string   `json:",omitzero"`
	Seq            uint64   `json:",omitzero"`
	Viewers        []string `json:",omitzero"`
	Typing         []string `json:",omitzero"`
}

// ConversationActivity is what a conversationActivity subscriber is sent:
// the conversation (its id and version) and the agents viewing and typing.
type ConversationActivity struct {
	Conversation Conversation
	Seq          uint64
	Viewers      []*Agent
	Typing       []*Agent
}

// WithActivitySink makes the service publish each change of a
// conversation's activity to sink, as an Event with Activity set. Without
// one, activity is tracked but nobody hears of its changes.
func WithActivitySink(sink EventSink) Option {
	return func(s *Service) { s.activitySink = sink }
}

// activityKey names one conversation.
type activityKey struct{ workspaceID, conversationID string }

// ActivityLease is one viewer's hold or one agent's typing on a
// conversation, as instances tell each other through an ActivityExchange.
type ActivityLease struct {
	WorkspaceID, ConversationID, AgentID string `json:",omitzero"`
	// Holder names a viewer's hold, unique among instances; "" for typing
	// (one per agent and conversation, whichever instance set it).
	Holder string `json:",omitzero"`
	// Instance is the instance that wrote it.
	Instance string `json:",omitzero"`
	// Until is when it ends unless written again.
	Until time.Time `json:",omitzero"`
}

// ActivityLeaseEvent is a lease written (or dropped) by some instance, as
// the exchange's feed delivers it to every instance.
type ActivityLeaseEvent struct {
	Lease   ActivityLease `json:",omitzero"`
	Dropped bool          `json:",omitzero"`
}

// ActivityExchange carries viewers and typing between instances: a store
// whose changes reach every instance (MongoDB's change stream) keeps the
// leases, and its feed delivers each write and drop as an Event with Lease
// set, to be handed to Service.ApplyActivityLease. Without one (SQLite, a
// MongoDB without change streams: one instance) activity stays in process.
type ActivityExchange interface {
	PutActivity(ctx context.Context, l ActivityLease) error
	DropActivity(ctx context.Context, l ActivityLease) error
	// DropExpiredActivity removes the leases that ended before before:
	// those of an instance that stopped without dropping them.
	DropExpiredActivity(ctx context.Context, before time.Time) error
}

// activityTracker holds the activity of the conversations someone views or
// types on, in memory: this instance's own, and with an exchange, the
// other instances' as their leases say.
type activityTracker struct {
	clock    Clock
	sink     EventSink
	instance string
	// lease is how long a viewer's lease lasts unless renewed (the presence
	// timeout: a viewer on an instance that died goes within it).
	lease    time.Duration
	exchange ActivityExchange
	// out queues the lease writes for the exchange, in order.
	out chan leaseWrite

	mu    sync.Mutex
	seq   uint64
	convs map[activityKey]*convActivity
	// rates are the typing calls' buckets, per agent.
	rates map[agentKey]*bucket
	calls int
	// holders counts the holds view handed out.
	holders uint64
}

// leaseWrite is a lease to put or drop.
type leaseWrite struct {
	lease ActivityLease
	drop  bool
}

// convActivity is one conversation's activity.
type convActivity struct {
	// viewers holds, per agent, the holds (subscriptions, here or on other
	// instances) that make them a viewer: an agent with several devices is
	// one viewer.
	viewers map[string]map[string]*hold
	typing  map[string]*typist
}

// hold is one subscription's hold on a conversation; remote ones end at
// until unless their lease is renewed.
type hold struct {
	remote bool
	until  time.Time
	timer  Timer
	// renewal: it replaces a hold of the same holder.
	renewal bool
}

// typist is an agent typing on a conversation until until; remote when
// another instance took the call.
type typist struct {
	until  time.Time
	timer  Timer
	remote bool
}

// bucket is a token bucket.
type bucket struct {
	tokens float64
	at     time.Time
}

func newActivityTracker(clock Clock, instance string, lease time.Duration) *activityTracker {
	return &activityTracker{clock: clock, instance: instance, lease: lease,
		convs: map[activityKey]*convActivity{}, rates: map[agentKey]*bucket{}}
}

// write queues a lease write for the exchange, if there is one; t.mu is
// held. A full queue drops it: a viewer's lease is renewed soon, and
// typing ends by itself.
func (t *activityTracker) write(l ActivityLease, drop bool) {
	if t.out == nil {
		return
	}
	select {
	case t.out <- leaseWrite{l, drop}:
	default:
	}
}

func (t *activityTracker) viewerLease(k activityKey, agent, holder string, until time.Time) ActivityLease {
	return ActivityLease{WorkspaceID: k.workspaceID, ConversationID: k.conversationID, AgentID: agent,
		Holder: holder, Instance: t.instance, Until: until}
}

func (t *activityTracker) typingLease(k activityKey, agent string, until time.Time) ActivityLease {
	return ActivityLease{WorkspaceID: k.workspaceID, ConversationID: k.conversationID, AgentID: agent,
		Instance: t.instance, Until: until}
}

// view makes agent a viewer of k until release is called.
func (t *activityTracker) view(k activityKey, agent string) (release func(), snap ActivityEvent) {
	t.mu.Lock()
	t.holders++
	h := t.instance + "/" + strconv.FormatUint(t.holders, 10)
	t.addHold(k, agent, h, &hold{})
	t.write(t.viewerLease(k, agent, h, t.clock.Now().Add(t.lease)), false)
	snap = t.snapshot(k, t.convs[k])
	t.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { t.unview(k, agent, h) }) }, snap
}

// addHold adds (or renews) a hold; an agent's first makes them a viewer.
// t.mu is held.
func (t *activityTracker) addHold(k activityKey, agent, h string, x *hold) {
	c := t.conv(k)
	hs := c.viewers[agent]
	if hs == nil {
		hs = map[string]*hold{}
		c.viewers[agent] = hs
	}
	if old := hs[h]; old != nil && old.timer != nil {
		old.timer.Stop()
	}
	hs[h] = x
	if len(hs) == 1 && !x.renewal {
		t.changed(k, c)
	}
}

func (t *activityTracker) unview(k activityKey, agent string, h string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.removeHold(k, agent, h, time.Time{}) {
		t.write(t.viewerLease(k, agent, h, time.Time{}), true)
	}
}

// removeHold removes a hold, only if it ends at until when until is not
// zero; it reports whether it did. t.mu is held.
func (t *activityTracker) removeHold(k activityKey, agent, h string, until time.Time) bool {
	c := t.convs[k]
	if c == nil {
		return false
	}
	hs := c.viewers[agent]
	x := hs[h]
	if x == nil || (!until.IsZero() && !x.until.Equal(until)) {
		return false
	}
	if x.timer != nil {
		x.timer.Stop()
	}
	delete(hs, h)
	if len(hs) == 0 {
		delete(c.viewers, agent)
		t.changed(k, c)
	}
	t.drop(k, c)
	return true
}

// setTyping starts (or prolongs) or stops agent's typing on k. It reports
// false when the call was over the agent's rate and did nothing: a stop of
// typing in progress always goes through, as it can only follow a start
// that was taken.
func (t *activityTracker) setTyping(k activityKey, agent string, typing bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clock.Now()
	c := t.convs[k]
	var cur *typist
	if c != nil {
		cur = c.typing[agent]
	}
	if !typing && cur == nil {
		return t.take(agentKey{k.workspaceID, agent}, now)
	}
	if typing && !t.take(agentKey{k.workspaceID, agent}, now) {
		return false
	}
	if !typing {
		t.stopTyping(k, c, agent)
		return true
	}
	until := now.Add(TypingFor)
	t.startTyping(k, agent, until, false)
	t.write(t.typingLease(k, agent, until), false)
	return true
}

// startTyping makes agent typing on k until until; t.mu is held.
func (t *activityTracker) startTyping(k activityKey, agent string, until time.Time, remote bool) {
	c := t.conv(k)
	cur := c.typing[agent]
	if cur != nil {
		cur.timer.Stop()
	} else {
		cur = &typist{}
		c.typing[agent] = cur
		t.changed(k, c)
	}
	cur.until, cur.remote = until, remote
	cur.timer = t.clock.AfterFunc(until.Sub(t.clock.Now()), func() { t.expire(k, agent, until) })
}

// stoppedTyping ends agent's typing on k, if any (their reply was sent).
func (t *activityTracker) stoppedTyping(k activityKey, agent string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.convs[k]; c != nil {
		t.stopTyping(k, c, agent)
	}
}

// expire ends a typing that was not repeated in time.
func (t *activityTracker) expire(k activityKey, agent string, until time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.convs[k]; c != nil {
		if cur := c.typing[agent]; cur != nil && cur.until.Equal(until) {
			t.stopTyping(k, c, agent)
		}
	}
}

// stopTyping ends agent's typing on k here, and for every instance; t.mu
// is held.
func (t *activityTracker) stopTyping(k activityKey, c *convActivity, agent string) {
	cur := c.typing[agent]
	if cur == nil {
		return
	}
	t.endTyping(k, c, agent)
	t.write(t.typingLease(k, agent, cur.until), true)
}

// endTyping ends agent's typing on k here; t.mu is held.
func (t *activityTracker) endTyping(k activityKey, c *convActivity, agent string) {
	cur := c.typing[agent]
	if cur == nil {
		return
	}
	cur.timer.Stop()
	delete(c.typing, agent)
	t.changed(k, c)
	t.drop(k, c)
}

// apply takes in a lease another instance wrote or dropped (or this one:
// its own are known already and left alone, but a drop of a typing lease
// from anywhere ends the typing it names).
func (t *activityTracker) apply(e ActivityLeaseEvent) {
	l := e.Lease
	k := activityKey{l.WorkspaceID, l.ConversationID}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clock.Now()
	switch {
	case l.Holder != "" && l.Instance == t.instance:
	case l.Holder != "" && e.Dropped:
		t.removeHold(k, l.AgentID, l.Holder, time.Time{})
	case l.Holder != "":
		if !l.Until.After(now) {
			return
		}
		x := &hold{remote: true, until: l.Until}
		until, agent, h := l.Until, l.AgentID, l.Holder
		x.timer = t.clock.AfterFunc(until.Sub(now), func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			t.removeHold(k, agent, h, until)
		})
		if c := t.convs[k]; c != nil && c.viewers[l.AgentID][l.Holder] != nil {
			x.renewal = true
		}
		t.addHold(k, l.AgentID, l.Holder, x)
	case e.Dropped:
		// Only the typing the drop ended: not one renewed since.
		if c := t.convs[k]; c != nil {
			if cur := c.typing[l.AgentID]; cur != nil && (l.Until.IsZero() || !cur.until.After(l.Until)) {
				t.endTyping(k, c, l.AgentID)
			}
		}
	case l.Instance == t.instance:
	case l.Until.After(now):
		t.startTyping(k, l.AgentID, l.Until, true)
	}
}

// renew writes this instance's viewers' leases again; t.mu is not held.
func (t *activityTracker) renew() {
	t.mu.Lock()
	defer t.mu.Unlock()
	until := t.clock.Now().Add(t.lease)
	for k, c := range t.convs {
		for agent, hs := range c.viewers {
			for h, x := range hs {
				if !x.remote {
					t.write(t.viewerLease(k, agent, h, until), false)
				}
			}
		}
	}
}

// ApplyActivityLease takes in a lease the exchange's feed delivered.
func (s *Service) ApplyActivityLease(e ActivityLeaseEvent) { s.activity.apply(e) }

// WithActivityExchange makes the service share viewers and typing with the
// other instances through ex; RunActivityExchange writes the leases.
func WithActivityExchange(ex ActivityExchange) Option {
	return func(s *Service) { s.activityExchange = ex }
}

// RunActivityExchange writes this instance's leases to the exchange, in
// order, renews its viewers' leases every third of their life, and drops
// the leases of instances that stopped without dropping theirs, until ctx
// ends. Without an exchange it returns at once.
func (s *Service) RunActivityExchange(ctx context.Context) {
	t := s.activity
	if t.exchange == nil {
		return
	}
	tick := make(chan struct{}, 1)
	var arm func()
	arm = func() {
		s.clock.AfterFunc(t.lease/3, func() {
			select {
			case tick <- struct{}{}:
			default:
			}
		})
	}
	arm()
	for {
		select {
		case <-ctx.Done():
			return
		case w := <-t.out:
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			var err error
			if w.drop {
				err = t.exchange.DropActivity(wctx, w.lease)
			} else {
				err = t.exchange.PutActivity(wctx, w.lease)
			}
			cancel()
			if err != nil && ctx.Err() == nil {
				s.log.Debug("activity: a lease was not written", "err", err)
			}
		case <-tick:
			arm()
			t.renew()
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if err := t.exchange.DropExpiredActivity(wctx, s.clock.Now().Add(-t.lease)); err != nil && ctx.Err() == nil {
				s.log.Debug("activity: expired leases were not dropped", "err", err)
			}
			cancel()
		}
	}
}

// take takes a token of agent's bucket; false when it is empty.
func (t *activityTracker) take(a agentKey, now time.Time) bool {
	t.calls++
	if t.calls%1024 == 0 {
		// Forget buckets that have refilled: their agents stopped calling.
		for k, b := range t.rates {
			if now.Sub(b.at) > time.Second*typingBurst/typingPerSecond {
				delete(t.rates, k)
			}
		}
	}
	b := t.rates[a]
	if b == nil {
		b = &bucket{tokens: typingBurst, at: now}
		t.rates[a] = b
	}
	b.tokens = min(typingBurst, b.tokens+now.Sub(b.at).Seconds()*typingPerSecond)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// conv returns k's activity, made if missing; t.mu is held.
func (t *activityTracker) conv(k activityKey) *convActivity {
	c := t.convs[k]
	if c == nil {
		c = &convActivity{viewers: map[string]map[string]*hold{}, typing: map[string]*typist{}}
		t.convs[k] = c
	}
	return c
}

// drop forgets k's activity when nobody views or types; t.mu is held.
func (t *activityTracker) drop(k activityKey, c *convActivity) {
	if len(c.viewers) == 0 && len(c.typing) == 0 {
		delete(t.convs, k)
	}
}

// changed publishes k's activity as it is now; t.mu is held, so events
// leave in the order of the changes.
func (t *activityTracker) changed(k activityKey, c *convActivity) {
	t.seq++
	if t.sink == nil {
		return
	}
	e := t.snapshot(k, c)
	t.sink.Publish(Event{WorkspaceID: k.workspaceID, Activity: &e})
}

// snapshot is k's activity now; t.mu is held.
func (t *activityTracker) snapshot(k activityKey, c *convActivity) ActivityEvent {
	e := ActivityEvent{ConversationID: k.conversationID, Seq: t.seq, Viewers: []string{}, Typing: []string{}}
	if c == nil {
		return e
	}
	for a := range c.viewers {
		e.Viewers = append(e.Viewers, a)
	}
	for a := range c.typing {
		e.Typing = append(e.Typing, a)
	}
	slices.Sort(e.Viewers)
	slices.Sort(e.Typing)
	return e
}

// current is k's activity now.
func (t *activityTracker) current(k activityKey) ActivityEvent {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.snapshot(k, t.convs[k])
}

// ActivityWatch is a conversationActivity subscriber's hold on a
// conversation: while it is open, its agent is a viewer.
type ActivityWatch struct {
	// First is the activity when the watch began.
	First ConversationActivity
	// Close ends the watch; more calls do nothing.
	Close func()
}

// WatchActivity makes the caller a viewer of a conversation of their
// workspace until the watch is closed, and returns its activity now.
// Agents and admins only.
func (s *Service) WatchActivity(ctx context.Context, a Actor, conversationID string) (*ActivityWatch, error) {
	if err := requireAgent(a); err != nil {
		return nil, err
	}
	c, err := s.existingConversation(ctx, a.WorkspaceID, conversationID)
	if err != nil {
		return nil, err
	}
	release, snap := s.activity.view(activityKey{a.WorkspaceID, conversationID}, a.ID)
	first, err := s.activityOf(ctx, a.WorkspaceID, &c, snap)
	if err != nil {
		release()
		return nil, err
	}
	return &ActivityWatch{First: *first, Close: release}, nil
}

// ActivityAfter is what a conversationActivity subscriber of the
// conversation is sent after e: the conversation as e left it (read anew
// for a change of activity), and the activity as e says (as it is now,
// for a change of the conversation). Nil when e is not about it.
func (s *Service) ActivityAfter(ctx context.Context, ws, conversationID string, e Event) (*ConversationActivity, error) {
	switch {
	case e.Activity != nil && e.Activity.ConversationID == conversationID:
		return s.activityOf(ctx, ws, nil, *e.Activity)
	case e.Conversation != nil && e.Conversation.After.ID == conversationID:
		after := e.Conversation.After
		return s.activityOf(ctx, ws, &after, s.activity.current(activityKey{ws, conversationID}))
	}
	return nil, nil
}

// activityOf completes an activity with its conversation (read when c is
// nil) and agents.
func (s *Service) activityOf(ctx context.Context, ws string, c *Conversation, e ActivityEvent) (*ConversationActivity, error) {
	if c == nil {
		var err error
		if c, err = s.conversation(ctx, ws, e.ConversationID); err != nil {
			return nil, err
		}
		if c == nil {
			return nil, NotFound("conversation")
		}
	}
	ids := append(slices.Clone(e.Viewers), e.Typing...)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	byID := map[string]*Agent{}
	if len(ids) > 0 {
		agents, err := s.store.AgentsByIDs(ctx, ws, ids)
		if err != nil {
			return nil, internal(err)
		}
		for i, id := range ids {
			byID[id] = agents[i]
		}
	}
	pick := func(ids []string) []*Agent {
		out := make([]*Agent, 0, len(ids))
		for _, id := range ids {
			if a := byID[id]; a != nil {
				out = append(out, a)
			}
		}
		return out
	}
	return &ConversationActivity{Conversation: *c, Seq: e.Seq, Viewers: pick(e.Viewers), Typing: pick(e.Typing)}, nil
}

// SetTyping says the caller is typing a reply on a conversation of their
// workspace (typing true, repeated while they type) or stopped. It reports
// false when the call was over the caller's rate and did nothing.
func (s *Service) SetTyping(ctx context.Context, a Actor, conversationID string, typing bool) (bool, error) {
	if err := requireAgent(a); err != nil {
		return false, err
	}
	if _, err := s.existingConversation(ctx, a.WorkspaceID, conversationID); err != nil {
		return false, err
	}
	return s.activity.setTyping(activityKey{a.WorkspaceID, conversationID}, a.ID, typing), nil
}
