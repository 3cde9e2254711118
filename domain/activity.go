package domain

import (
	"context"
	"slices"
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
	ConversationID string
	Seq            uint64
	Viewers        []string
	Typing         []string
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

// activityTracker holds the activity of the conversations someone views or
// types on, in memory.
type activityTracker struct {
	clock Clock
	sink  EventSink

	mu    sync.Mutex
	seq   uint64
	convs map[activityKey]*convActivity
	// rates are the typing calls' buckets, per agent.
	rates map[agentKey]*bucket
	calls int
	// holders counts the holds view handed out.
	holders uint64
}

// convActivity is one conversation's activity.
type convActivity struct {
	// viewers holds, per agent, the holders (subscriptions) that make them
	// a viewer: an agent with several devices is one viewer.
	viewers map[string]map[uint64]struct{}
	typing  map[string]*typist
}

// typist is an agent typing on a conversation until until.
type typist struct {
	until time.Time
	timer Timer
}

// bucket is a token bucket.
type bucket struct {
	tokens float64
	at     time.Time
}

func newActivityTracker(clock Clock) *activityTracker {
	return &activityTracker{clock: clock, convs: map[activityKey]*convActivity{}, rates: map[agentKey]*bucket{}}
}

// view makes agent a viewer of k until release is called.
func (t *activityTracker) view(k activityKey, agent string) (release func(), snap ActivityEvent) {
	t.mu.Lock()
	t.holders++
	h := t.holders
	c := t.conv(k)
	hs := c.viewers[agent]
	if hs == nil {
		hs = map[uint64]struct{}{}
		c.viewers[agent] = hs
	}
	hs[h] = struct{}{}
	if len(hs) == 1 {
		t.changed(k, c)
	}
	snap = t.snapshot(k, c)
	t.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { t.unview(k, agent, h) }) }, snap
}

func (t *activityTracker) unview(k activityKey, agent string, h uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.convs[k]
	if c == nil {
		return
	}
	hs := c.viewers[agent]
	if _, ok := hs[h]; !ok {
		return
	}
	delete(hs, h)
	if len(hs) == 0 {
		delete(c.viewers, agent)
		t.changed(k, c)
	}
	t.drop(k, c)
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
	if c == nil {
		c = t.conv(k)
	}
	if cur != nil {
		cur.timer.Stop()
	} else {
		cur = &typist{}
		c.typing[agent] = cur
		t.changed(k, c)
	}
	until := now.Add(TypingFor)
	cur.until = until
	cur.timer = t.clock.AfterFunc(TypingFor, func() { t.expire(k, agent, until) })
	return true
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

func (t *activityTracker) stopTyping(k activityKey, c *convActivity, agent string) {
	cur := c.typing[agent]
	if cur == nil {
		return
	}
	cur.timer.Stop()
	delete(c.typing, agent)
	t.changed(k, c)
	t.drop(k, c)
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
		c = &convActivity{viewers: map[string]map[uint64]struct{}{}, typing: map[string]*typist{}}
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
