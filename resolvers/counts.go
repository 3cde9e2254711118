package resolvers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"switchboard/domain"
	"switchboard/feed"
)

// countsEvery is the least time between two count queries of one shape,
// and between two snapshots sent to one subscriber.
const countsEvery = time.Second

// countsHub shares the counting behind queueCountsChanged. Its subscribers
// are grouped by shape (workspace, queue, channel set): each shape follows
// its workspace's changes on the feed and holds one snapshot of the
// queue's counts per owner (domain.Service.OwnerCounts), from which every
// subscriber of the shape derives its own counts (QueueCounts.For). A
// shape counts again only after a change that can move one of its counts,
// and at most once a second (countsEvery, on the service's clock), so the
// store sees one count query per shape per second however many subscribe.
type countsHub struct {
	svc   *domain.Service
	feed  *feed.Broker
	clock domain.Clock

	mu     sync.Mutex
	shapes map[string]*countShape
}

func newCountsHub(svc *domain.Service, changes *feed.Broker) *countsHub {
	return &countsHub{svc: svc, feed: changes, clock: svc.Clock(), shapes: map[string]*countShape{}}
}

// countShape is the subscribers of one queue's counts and their shared
// snapshot. Its goroutine (run) reads the feed, counts, and wakes the
// subscribers; they read the snapshot themselves.
type countShape struct {
	h *countsHub
	// view selects the shape's conversations (every owner).
	view domain.QueueView
	// stop is closed when the last subscriber has left; done when the
	// shape ended by itself (the feed closed), err saying why.
	stop chan struct{}
	done chan struct{}
	err  error
	// kick asks run to count now: a subscriber waits for its first
	// snapshot.
	kick chan struct{}

	mu   sync.Mutex
	subs map[*countsSub]struct{}
	// gen counts the changes seen that can move a count; a snapshot
	// holds the gen at which its count began, so it includes them all.
	gen     uint64
	snap    *countSnapshot
	waiters []countWaiter
}

// countSnapshot is one count of a shape, shared by its subscribers.
type countSnapshot struct {
	gen    uint64
	counts domain.QueueCounts // for no caller: see domain.Service.OwnerCounts
	// ev carries the snapshot through the transport: the subscribers who
	// derive the same counts from it share one execution of their
	// operation (feed.Deliver).
	ev *feed.Event
}

// countWaiter is a subscriber waiting for a snapshot that includes the
// changes up to gen.
type countWaiter struct {
	gen uint64
	c   chan error
}

// countsSub is one subscriber of a shape: woken (notify) when a snapshot
// with other counts is in.
type countsSub struct{ notify chan struct{} }

// join adds a subscriber to the shape of v, starting the shape if it is
// the first.
func (h *countsHub) join(v domain.QueueView) (*countShape, *countsSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.shapes[v.Key()]
	if s == nil {
		s = &countShape{
			h: h, view: v, stop: make(chan struct{}), done: make(chan struct{}), kick: make(chan struct{}, 1),
			subs: map[*countsSub]struct{}{},
		}
		h.shapes[v.Key()] = s
		// Subscribed before any count is read: no change after it is
		// missed.
		go s.run(h.feed.SubscribeKinds(v.WorkspaceID, feed.Conversations, subscriptionQueue))
	}
	sub := &countsSub{notify: make(chan struct{}, 1)}
	s.mu.Lock()
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	return s, sub
}

// leave removes a subscriber; the last one stops the shape.
func (h *countsHub) leave(s *countShape, sub *countsSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s.mu.Lock()
	delete(s.subs, sub)
	empty := len(s.subs) == 0
	s.mu.Unlock()
	if empty {
		if h.shapes[s.view.Key()] == s {
			delete(h.shapes, s.view.Key())
		}
		close(s.stop)
	}
}

// first returns a snapshot that includes every change the shape had seen
// when it was called: the shape's own if it is that new, else the one a
// count begun now gives (or its error).
func (s *countShape) first(ctx context.Context) (*countSnapshot, error) {
	s.mu.Lock()
	if s.snap != nil && s.snap.gen == s.gen {
		snap := s.snap
		s.mu.Unlock()
		return snap, nil
	}
	w := countWaiter{gen: s.gen, c: make(chan error, 1)}
	s.waiters = append(s.waiters, w)
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	select {
	case err := <-w.c:
		if err != nil {
			return nil, err
		}
		return s.current(), nil
	case <-s.done:
		return nil, s.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// current is the newest snapshot.
func (s *countShape) current() *countSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap
}

// moves reports whether a change can move one of the shape's counts: the
// conversation enters or leaves the queue (its status or channel), or
// changes owner in it. A message or a move elsewhere does not.
func (s *countShape) moves(e domain.Event) bool {
	ce := e.Conversation
	if ce == nil {
		return false
	}
	was, is := s.view.Matches(ce.Before), s.view.Matches(&ce.After)
	return was != is || (was && ce.Before.OwnerID != ce.After.OwnerID)
}

// counted is the result of one count.
type counted struct {
	gen    uint64
	counts domain.QueueCounts
	err    error
}

// run follows the feed and counts when due, until the last subscriber
// leaves or the feed closes.
func (s *countShape) run(sub *feed.Subscription) {
	defer func() { sub.Close() }()
	var (
		counting bool
		began    time.Time // when the last count began
		timer    domain.Timer
	)
	results := make(chan counted, 1)
	due := make(chan struct{}, 1)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	// schedule counts now if a subscriber waits for its first snapshot,
	// or if a change is not counted yet and the last count began a second
	// ago or more; else it arms a timer for that second.
	schedule := func() {
		if counting {
			return
		}
		s.mu.Lock()
		waiting := len(s.waiters) > 0
		stale := s.snap == nil || s.snap.gen < s.gen
		gen := s.gen
		s.mu.Unlock()
		if !waiting && !stale {
			return
		}
		now := s.h.clock.Now()
		if !waiting && !began.IsZero() && now.Sub(began) < countsEvery {
			if timer == nil {
				timer = s.h.clock.AfterFunc(began.Add(countsEvery).Sub(now), func() {
					select {
					case due <- struct{}{}:
					default:
					}
				})
			}
			return
		}
		if timer != nil {
			timer.Stop()
			timer = nil
		}
		counting, began = true, now
		v := s.view
		go func() {
			// Not a subscriber's context: its end must not fail the
			// others' count.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			qc, err := s.h.svc.OwnerCounts(ctx, v.WorkspaceID, v.Status, v.ChannelIDs)
			results <- counted{gen, qc, err}
		}()
	}
	for {
		select {
		case <-s.stop:
			return
		case <-s.kick:
			schedule()
		case <-due:
			timer = nil
			schedule()
		case ev := <-sub.Events():
			if s.moves(ev.Event) {
				s.mu.Lock()
				s.gen++
				s.mu.Unlock()
				schedule()
			}
		case <-sub.Done():
			err := sub.Err()
			if errors.Is(err, feed.ErrClosed) {
				s.end(err)
				return
			}
			// Cut off or resynchronised: changes may have been missed,
			// but counts are state, not events: count again.
			sub = s.h.feed.SubscribeKinds(s.view.WorkspaceID, feed.Conversations, subscriptionQueue)
			s.mu.Lock()
			s.gen++
			s.mu.Unlock()
			schedule()
		case r := <-results:
			counting = false
			s.installed(r)
			// A failed count (the store is out) leaves the shape stale:
			// it counts again a second later, and its subscribers stay.
			schedule()
		}
	}
}

// installed takes a count's result: a new snapshot when its counts differ
// (its subscribers woken), and the answer of those waiting for it.
func (s *countShape) installed(r counted) {
	s.mu.Lock()
	var wake []*countsSub
	if r.err == nil && (s.snap == nil || r.gen >= s.snap.gen) {
		if s.snap != nil && s.snap.counts.Same(r.counts) {
			s.snap.gen = r.gen
		} else {
			s.snap = &countSnapshot{gen: r.gen, counts: r.counts, ev: &feed.Event{Event: domain.Event{WorkspaceID: s.view.WorkspaceID}}}
			for sub := range s.subs {
				wake = append(wake, sub)
			}
		}
	}
	keep := s.waiters[:0]
	for _, w := range s.waiters {
		if w.gen <= r.gen {
			w.c <- r.err
		} else {
			keep = append(keep, w)
		}
	}
	s.waiters = keep
	s.mu.Unlock()
	for _, sub := range wake {
		select {
		case sub.notify <- struct{}{}:
		default:
		}
	}
}

// end ends the shape for err: its subscribers are cut off.
func (s *countShape) end(err error) {
	s.err = err
	close(s.done)
	s.h.mu.Lock()
	if s.h.shapes[s.view.Key()] == s {
		delete(s.h.shapes, s.view.Key())
	}
	s.h.mu.Unlock()
}

// countsView names what a subscriber's payload depends on besides its
// operation: the shape and the counts it derived. Subscribers whose
// counts are the same share an execution; one whose ownedByMe differs
// never receives another's.
func countsView(shape string, qc domain.QueueCounts) string {
	var b strings.Builder
	fmt.Fprintf(&b, "counts %s %d %d %d %d", shape, qc.Total, qc.Unowned, qc.OwnedByMe, qc.OwnedByOthers)
	for _, o := range qc.ByOwner {
		fmt.Fprintf(&b, " %s:%d", o.OwnerID, o.Count)
	}
	return b.String()
}

// owners loads the agents of a snapshot's byOwner once for all of its
// subscribers; nil if that fails (each operation then loads its own).
func (snap *countSnapshot) owners(svc *domain.Service) map[string]*domain.Agent {
	return snap.ev.Memo("owners", func() any {
		ids := make([]string, len(snap.counts.ByOwner))
		for i, o := range snap.counts.ByOwner {
			ids[i] = o.OwnerID
		}
		if len(ids) == 0 {
			return map[string]*domain.Agent{}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		agents, err := svc.AgentsByIDs(ctx, snap.ev.WorkspaceID, ids)
		if err != nil {
			return map[string]*domain.Agent(nil)
		}
		out := make(map[string]*domain.Agent, len(ids))
		for i, id := range ids {
			out[id] = agents[i]
		}
		return out
	}).(map[string]*domain.Agent)
}

// watchCounts streams the caller's counts of a queue: a snapshot at once,
// then one whenever they change, at most once a second.
func watchCounts(ctx context.Context, r *Resolver, a domain.Actor, status domain.QueueStatus, channelIDs []string) (<-chan *domain.QueueCounts, error) {
	if r.Feed == nil || r.counts == nil {
		return nil, errNoFeed
	}
	// The same checks as queueCounts: an agent or admin, a known queue,
	// channels of the caller's workspace.
	v, err := r.Service.ResolveQueueView(ctx, a, status, nil, channelIDs, domain.LongestWaiting)
	if err != nil {
		return nil, err
	}
	hub := r.counts
	shape, sub := hub.join(v)
	snap, err := shape.first(ctx)
	if err != nil {
		hub.leave(shape, sub)
		return nil, err
	}
	withOwners := selected(ctx, "byOwner", "owner")
	l := loaders(ctx, r.Service)
	out := make(chan *domain.QueueCounts)
	send := func(ev *feed.Event, view string, qc domain.QueueCounts, agents map[string]*domain.Agent) bool {
		return feed.Deliver(ctx, ev, view, func() bool {
			l.Reset(agents, nil, nil)
			select {
			case out <- &qc:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}
	go func() {
		defer close(out)
		defer hub.leave(shape, sub)
		// The first snapshot is this subscriber's own (its owners read
		// now, not when the snapshot was counted).
		last := snap.counts.For(a.ID)
		if !send(&feed.Event{Event: domain.Event{WorkspaceID: a.WorkspaceID}}, "counts own", last, nil) {
			return
		}
		sentAt := hub.clock.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-shape.done:
				feed.CutOff(ctx, shape.err)
				return
			case <-sub.notify:
			}
			if wait := sentAt.Add(countsEvery).Sub(hub.clock.Now()); wait > 0 {
				// Changes within the second are sent together, as the
				// newest snapshot when it is over.
				wake := make(chan struct{})
				t := hub.clock.AfterFunc(wait, func() { close(wake) })
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-shape.done:
					t.Stop()
					feed.CutOff(ctx, shape.err)
					return
				case <-wake:
				}
			}
			snap := shape.current()
			qc := snap.counts.For(a.ID)
			if qc.Same(last) {
				continue
			}
			var agents map[string]*domain.Agent
			if withOwners {
				agents = snap.owners(r.Service)
			}
			if !send(snap.ev, countsView(shape.view.Key(), qc), qc, agents) {
				return
			}
			last, sentAt = qc, hub.clock.Now()
		}
	}()
	return out, nil
}
