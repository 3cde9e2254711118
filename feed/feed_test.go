package feed_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"switchboard/domain"
	"switchboard/feed"
)

// Every test here runs real goroutines; none may outlive the package's
// tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait bounds how long a test waits for something that must happen. It is
// loose on purpose (a busy machine, -race): it only turns a hang into a
// failure.
const wait = 10 * time.Second

// change is version v of conversation id in workspace ws.
func change(ws, id string, v int64) domain.Event {
	return domain.Event{WorkspaceID: ws, Conversation: &domain.ConversationEvent{
		After: domain.Conversation{WorkspaceID: ws, ID: id, Version: v, ChannelID: "ch-1", ContactID: "ct-" + id},
	}}
}

// receive returns the next event of s, or why none came: s ended, or
// nothing came in time.
func receive(s *feed.Subscription) (*feed.Event, error) {
	select {
	case ev := <-s.Events():
		return ev, nil
	case <-s.Done():
		return nil, fmt.Errorf("the subscription ended: %w", s.Err())
	case <-time.After(wait):
		return nil, errors.New("no event")
	}
}

// next is receive for the test's own goroutine: it fails t if no event
// comes.
func next(t *testing.T, s *feed.Subscription) *feed.Event {
	t.Helper()
	ev, err := receive(s)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// within waits for wg, failing t (without stopping it: any goroutine may
// call it) if that takes longer than wait.
func within(t *testing.T, wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(wait):
		t.Error("gave up waiting")
	}
}

// ended waits for s to end and returns why.
func ended(t *testing.T, s *feed.Subscription) error {
	t.Helper()
	select {
	case <-s.Done():
		return s.Err()
	case <-time.After(wait):
		t.Fatal("the subscription did not end")
		return nil
	}
}

// isOpen reports whether s has not ended. Ending happens inside the call that
// ends it (Publish, Close, Resync), so right after that call returns the
// answer is settled.
func isOpen(s *feed.Subscription) bool {
	select {
	case <-s.Done():
		return false
	default:
		return true
	}
}

// queued drains what waits in s's queue without waiting for more.
func queued(s *feed.Subscription) []*feed.Event {
	var out []*feed.Event
	for {
		select {
		case ev := <-s.Events():
			out = append(out, ev)
		default:
			return out
		}
	}
}

// publishAll publishes events from another goroutine and fails t unless
// every Publish returns in time: Publish must never block on a subscriber.
func publishAll(t *testing.T, b *feed.Broker, events ...domain.Event) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, e := range events {
			b.Publish(e)
		}
	}()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("Publish blocked")
	}
}

func TestEventsOfOneConversationArriveInOrderUnderConcurrentPublishers(t *testing.T) {
	b := feed.NewBroker()
	defer b.Close()
	const conversations, versions, readers = 8, 50, 4
	var subs []*feed.Subscription
	for range readers {
		subs = append(subs, b.Subscribe("ws", conversations*versions))
	}
	// Another workspace's events go to its own subscribers only.
	other := b.Subscribe("ws-other", conversations*versions)

	// Each conversation has its own publisher, as each is committed in
	// order by its own writer; the publishers race each other.
	var publishers sync.WaitGroup
	for c := range conversations {
		publishers.Add(1)
		go func() {
			defer publishers.Done()
			for v := int64(1); v <= versions; v++ {
				b.Publish(change("ws", fmt.Sprintf("cv-%d", c), v))
			}
		}()
	}
	b.Publish(change("ws-other", "cv-x", 1))

	var readersDone sync.WaitGroup
	for i, s := range subs {
		readersDone.Add(1)
		go func() {
			defer readersDone.Done()
			last := map[string]int64{}
			for range conversations * versions {
				ev, err := receive(s)
				if err != nil {
					t.Errorf("reader %d, after %v: %v", i, last, err)
					return
				}
				c := ev.Conversation.After
				if c.WorkspaceID != "ws" {
					t.Errorf("reader %d: an event of %s", i, c.WorkspaceID)
				}
				if c.Version != last[c.ID]+1 {
					t.Errorf("reader %d: %s version %d after %d", i, c.ID, c.Version, last[c.ID])
				}
				last[c.ID] = c.Version
			}
		}()
	}
	publishers.Wait()
	readersDone.Wait()
	for i, s := range subs {
		if extra := queued(s); len(extra) > 0 {
			t.Errorf("reader %d: %d events more than were published", i, len(extra))
		}
	}
	if ev := next(t, other); ev.Conversation.After.ID != "cv-x" {
		t.Fatalf("the other workspace's subscriber got %+v", ev.Event)
	}
	if extra := queued(other); len(extra) > 0 {
		t.Fatalf("the other workspace's subscriber got %d events of ws", len(extra))
	}
}

func TestASubscriberWhoseQueueIsFullIsCutOffAndTheOthersKeepUp(t *testing.T) {
	b := feed.NewBroker()
	defer b.Close()
	slow := b.Subscribe("ws", 2) // never reads
	fast := b.Subscribe("ws", 1) // reads every event as it comes

	got := make(chan int64)
	go func() {
		defer close(got)
		for {
			select {
			case ev := <-fast.Events():
				got <- ev.Conversation.After.Version
			case <-fast.Done():
				return
			}
		}
	}()
	publishStep := func(v int64) {
		t.Helper()
		publishAll(t, b, change("ws", "cv-1", v))
		select {
		case gv := <-got:
			if gv != v {
				t.Fatalf("the fast subscriber got version %d; want %d", gv, v)
			}
		case <-time.After(wait):
			t.Fatalf("the fast subscriber did not get version %d", v)
		}
	}
	// A full queue is not yet too slow.
	publishStep(1)
	publishStep(2)
	if !isOpen(slow) {
		t.Fatalf("a subscriber with a full queue was cut off: %v", slow.Err())
	}
	// One more is.
	publishStep(3)
	if err := ended(t, slow); !errors.Is(err, feed.ErrTooSlow) {
		t.Fatalf("the slow subscriber ended with %v; want ErrTooSlow", err)
	}
	if n := b.Subscribers(); n != 1 {
		t.Fatalf("%d subscribers after the cut-off; want 1", n)
	}
	// What was queued before the cut-off is still there to read; the event
	// that did not fit, and those after it, are not.
	publishStep(4)
	var versions []int64
	for _, ev := range queued(slow) {
		versions = append(versions, ev.Conversation.After.Version)
	}
	if fmt.Sprint(versions) != "[1 2]" {
		t.Fatalf("the slow subscriber's queue holds versions %v; want [1 2]", versions)
	}
	// Closing a cut-off subscription keeps the reason.
	slow.Close()
	if err := slow.Err(); !errors.Is(err, feed.ErrTooSlow) {
		t.Fatalf("after Close the reason is %v; want ErrTooSlow", err)
	}
	fast.Close()
	for range got {
	}
}

func TestSubscribersOfOneViewShareTheFilteringOfEachEvent(t *testing.T) {
	b := feed.NewBroker()
	defer b.Close()
	const subscribers, events = 32, 20
	type view struct{ version int64 }
	var computed [events + 1]atomic.Int32
	// results[i][v] is what subscriber i got for version v.
	results := make([][]*view, subscribers)
	subs := make([]*feed.Subscription, subscribers)
	for i := range subs {
		subs[i] = b.Subscribe("ws", events)
	}
	// Each subscriber signals it has the event before it asks for the
	// filtering, and the filtering waits for every signal: the subscribers
	// all ask while the first filtering of the event runs.
	received := make([]sync.WaitGroup, events+1)
	for v := 1; v <= events; v++ {
		received[v].Add(subscribers)
	}
	var wg sync.WaitGroup
	for i, s := range subs {
		results[i] = make([]*view, events+1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range events {
				ev, err := receive(s)
				if err != nil {
					t.Errorf("subscriber %d: %v", i, err)
					return
				}
				v := ev.Conversation.After.Version
				received[v].Done()
				r := ev.Memo("queue NEW unowned", func() any {
					computed[v].Add(1)
					within(t, &received[v])
					return &view{version: v}
				}).(*view)
				results[i][v] = r
			}
		}()
	}
	for v := int64(1); v <= events; v++ {
		b.Publish(change("ws", "cv-1", v))
	}
	wg.Wait()
	for v := 1; v <= events; v++ {
		if n := computed[v].Load(); n != 1 {
			t.Errorf("version %d: filtered %d times for %d subscribers of one view; want once", v, n, subscribers)
		}
		for i := range subs {
			if r := results[i][v]; r == nil || r != results[0][v] || r.version != int64(v) {
				t.Errorf("version %d: subscriber %d got %+v, subscriber 0 %+v; want the same value", v, i, results[i][v], results[0][v])
			}
		}
	}
}

func TestAnotherViewOfTheSameEventIsFilteredOnItsOwn(t *testing.T) {
	b := feed.NewBroker()
	defer b.Close()
	s := b.Subscribe("ws", 1)
	b.Publish(change("ws", "cv-1", 1))
	ev := next(t, s)
	a := ev.Memo("view a", func() any { return "a" })
	bv := ev.Memo("view b", func() any { return "b" })
	again := ev.Memo("view a", func() any { return "a again" })
	if a != "a" || bv != "b" || again != "a" {
		t.Fatalf("views a, b, a: %v %v %v", a, bv, again)
	}
	// The next event is filtered afresh.
	b.Publish(change("ws", "cv-1", 2))
	if got := next(t, s).Memo("view a", func() any { return "a, version 2" }); got != "a, version 2" {
		t.Fatalf("the next event's view a: %v", got)
	}
}

func TestTapSeesEveryEventOfEveryWorkspaceInPublishOrder(t *testing.T) {
	b := feed.NewBroker()
	defer b.Close()
	var mu sync.Mutex
	var first, second []string
	record := func(into *[]string) func(domain.Event) {
		return func(e domain.Event) {
			mu.Lock()
			defer mu.Unlock()
			*into = append(*into, fmt.Sprintf("%s/%d", e.WorkspaceID, e.Conversation.After.Version))
		}
	}
	b.Tap(record(&first))
	// A subscriber that is cut off changes nothing for the taps.
	b.Subscribe("ws-a", 0)
	publishAll(t, b, change("ws-a", "cv-1", 1), change("ws-b", "cv-2", 1))
	b.Tap(record(&second))
	publishAll(t, b, change("ws-a", "cv-1", 2), change("ws-c", "cv-3", 1))
	mu.Lock()
	defer mu.Unlock()
	if got := fmt.Sprint(first); got != "[ws-a/1 ws-b/1 ws-a/2 ws-c/1]" {
		t.Errorf("the first tap saw %s", got)
	}
	// A tap sees what is published from when it is added.
	if got := fmt.Sprint(second); got != "[ws-a/2 ws-c/1]" {
		t.Errorf("the second tap saw %s", got)
	}
}

func TestCloseEndsEverySubscriptionWithErrClosed(t *testing.T) {
	b := feed.NewBroker()
	subs := []*feed.Subscription{b.Subscribe("ws-a", 1), b.Subscribe("ws-a", 1), b.Subscribe("ws-b", 1)}
	// A reader waiting for an event wakes when the broker closes.
	woke := make(chan error)
	go func() {
		select {
		case <-subs[0].Events():
			woke <- errors.New("an event")
		case <-subs[0].Done():
			woke <- subs[0].Err()
		}
	}()
	b.Close()
	select {
	case err := <-woke:
		if !errors.Is(err, feed.ErrClosed) {
			t.Fatalf("the waiting reader woke with %v; want ErrClosed", err)
		}
	case <-time.After(wait):
		t.Fatal("the waiting reader did not wake")
	}
	for i, s := range subs {
		if err := ended(t, s); !errors.Is(err, feed.ErrClosed) {
			t.Errorf("subscription %d ended with %v; want ErrClosed", i, err)
		}
	}
	if n := b.Subscribers(); n != 0 {
		t.Fatalf("%d subscribers after Close", n)
	}
	// A subscription made after Close has already ended.
	late := b.Subscribe("ws-a", 1)
	if isOpen(late) || !errors.Is(late.Err(), feed.ErrClosed) {
		t.Fatalf("a subscription after Close: open %v, err %v", isOpen(late), late.Err())
	}
	// Publishing after Close delivers nothing, and does not block.
	publishAll(t, b, change("ws-a", "cv-1", 1))
	for i, s := range append(subs, late) {
		if got := queued(s); len(got) > 0 {
			t.Errorf("subscription %d got an event after Close", i)
		}
	}
	// Closing a subscription the broker ended keeps the reason.
	subs[1].Close()
	if err := subs[1].Err(); !errors.Is(err, feed.ErrClosed) {
		t.Fatalf("after Close of the subscription: %v; want ErrClosed", err)
	}
	// Closing the broker twice is harmless.
	b.Close()
}

func TestClosingASubscriptionEndsItWithoutAnError(t *testing.T) {
	b := feed.NewBroker()
	defer b.Close()
	s := b.Subscribe("ws", 1)
	stays := b.Subscribe("ws", 3)
	s.Close()
	if err := ended(t, s); err != nil {
		t.Fatalf("a closed subscription's Err: %v; want nil", err)
	}
	if n := b.Subscribers(); n != 1 {
		t.Fatalf("%d subscribers; want 1", n)
	}
	// It gets nothing more, and so is never cut off for not reading.
	publishAll(t, b, change("ws", "cv-1", 1), change("ws", "cv-1", 2), change("ws", "cv-1", 3))
	if got := queued(s); len(got) > 0 {
		t.Fatalf("a closed subscription got %d events", len(got))
	}
	if err := s.Err(); err != nil {
		t.Fatalf("a closed subscription was cut off: %v", err)
	}
	if got := len(queued(stays)); got != 3 {
		t.Fatalf("the other subscription got %d events; want 3", got)
	}
	s.Close() // twice is harmless
}

func TestResyncEndsEverySubscriptionWithErrResyncAndTheBrokerGoesOn(t *testing.T) {
	b := feed.NewBroker()
	defer b.Close()
	subs := []*feed.Subscription{b.Subscribe("ws-a", 1), b.Subscribe("ws-b", 1)}
	b.Resync()
	for i, s := range subs {
		if err := ended(t, s); !errors.Is(err, feed.ErrResync) {
			t.Errorf("subscription %d ended with %v; want ErrResync", i, err)
		}
	}
	if n := b.Subscribers(); n != 0 {
		t.Fatalf("%d subscribers after Resync", n)
	}
	// Subscribers that come back after catching up receive what follows.
	again := b.Subscribe("ws-a", 1)
	publishAll(t, b, change("ws-a", "cv-1", 7))
	if ev := next(t, again); ev.Conversation.After.Version != 7 {
		t.Fatalf("after Resync: %+v", ev.Event)
	}
	for i, s := range subs {
		if got := queued(s); len(got) > 0 {
			t.Errorf("ended subscription %d got an event after Resync", i)
		}
	}
}

// refReader counts the store calls behind Refs.
type refReader struct {
	agents, channels, contacts atomic.Int32
	agentIDs                   chan []string
}

func (r *refReader) AgentsByIDs(ctx context.Context, ws string, ids []string) ([]*domain.Agent, error) {
	r.agents.Add(1)
	r.agentIDs <- ids
	out := make([]*domain.Agent, len(ids))
	for i, id := range ids {
		if id != "unknown" {
			out[i] = &domain.Agent{WorkspaceID: ws, ID: id}
		}
	}
	return out, nil
}

func (r *refReader) ChannelsByIDs(ctx context.Context, ws string, ids []string) ([]*domain.Channel, error) {
	r.channels.Add(1)
	return []*domain.Channel{{WorkspaceID: ws, ID: ids[0]}}, nil
}

func (r *refReader) ContactsByIDs(ctx context.Context, ws string, ids []string) ([]*domain.Contact, error) {
	r.contacts.Add(1)
	return []*domain.Contact{{WorkspaceID: ws, ID: ids[0]}}, nil
}

func TestTheRefsOfAnEventAreLoadedOnceForAllItsSubscribers(t *testing.T) {
	b := feed.NewBroker()
	defer b.Close()
	const subscribers = 16
	var subs []*feed.Subscription
	for range subscribers {
		subs = append(subs, b.Subscribe("ws", 1))
	}
	e := change("ws", "cv-1", 3)
	c := e.Conversation
	c.Before = &domain.Conversation{OwnerID: "ben"}
	c.After.OwnerID = "cleo"
	c.Change = &domain.OwnershipChange{FromID: "ben", ToID: "cleo", ActorID: "ada"}
	c.Message = &domain.Message{AuthorID: "unknown"}
	b.Publish(e)

	r := &refReader{agentIDs: make(chan []string, subscribers)}
	var wg sync.WaitGroup
	refs := make([]feed.Refs, subscribers)
	for i, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev, err := receive(s)
			if err != nil {
				t.Errorf("subscriber %d: %v", i, err)
				return
			}
			got, err := ev.Refs(context.Background(), r)
			if err != nil {
				t.Errorf("subscriber %d: %v", i, err)
			}
			refs[i] = got
		}()
	}
	wg.Wait()
	if a, ch, ct := r.agents.Load(), r.channels.Load(), r.contacts.Load(); a != 1 || ch != 1 || ct != 1 {
		t.Fatalf("%d subscribers made %d agent, %d channel and %d contact calls; want one each", subscribers, a, ch, ct)
	}
	// Each agent the event names is asked for once.
	if ids := fmt.Sprint(<-r.agentIDs); ids != "[cleo ben ada unknown]" {
		t.Fatalf("agents asked for: %s", ids)
	}
	for i, got := range refs {
		if got.Agents["ben"] == nil || got.Agents["cleo"] == nil || got.Agents["ada"] == nil || got.Agents["unknown"] != nil {
			t.Errorf("subscriber %d: agents %v", i, got.Agents)
		}
		if got.Channels["ch-1"] == nil || got.Contacts["ct-cv-1"] == nil {
			t.Errorf("subscriber %d: channels %v, contacts %v", i, got.Channels, got.Contacts)
		}
		if got.Agents["ben"] != refs[0].Agents["ben"] {
			t.Errorf("subscriber %d got its own copy of the records", i)
		}
	}
}

func TestCutOffReachesTheFunctionInTheContext(t *testing.T) {
	var got []error
	ctx := feed.WithCutOff(context.Background(), func(err error) { got = append(got, err) })
	feed.CutOff(ctx, feed.ErrTooSlow)
	// A subscription closed by its reader ended for no error: nothing to
	// report.
	feed.CutOff(ctx, nil)
	// Without a function in the context, nothing happens.
	feed.CutOff(context.Background(), feed.ErrResync)
	if len(got) != 1 || !errors.Is(got[0], feed.ErrTooSlow) {
		t.Fatalf("reported %v; want [ErrTooSlow]", got)
	}
}

// sharerFunc is a feed.Sharer of a function.
type sharerFunc func(e *feed.Event, view string, deliver func() bool) bool

func (f sharerFunc) Share(e *feed.Event, view string, deliver func() bool) bool {
	return f(e, view, deliver)
}

func TestDeliverGoesThroughTheSharerInTheContext(t *testing.T) {
	ev := &feed.Event{}
	delivered := 0
	deliver := func() bool { delivered++; return true }
	// Without a Sharer, the subscriber delivers its own value.
	if !feed.Deliver(context.Background(), ev, "view", deliver) || delivered != 1 {
		t.Fatalf("delivered %d", delivered)
	}
	// With one, the Sharer decides, and says whether the subscription goes on.
	var shared []string
	ctx := feed.WithSharer(context.Background(), sharerFunc(func(e *feed.Event, view string, d func() bool) bool {
		if e != ev {
			t.Error("another event")
		}
		shared = append(shared, view)
		return view != "ended"
	}))
	if !feed.Deliver(ctx, ev, "queue NEW", deliver) || feed.Deliver(ctx, ev, "ended", deliver) {
		t.Fatal("the Sharer's answer was not passed on")
	}
	if delivered != 1 || len(shared) != 2 || shared[0] != "queue NEW" {
		t.Fatalf("delivered %d, shared %v", delivered, shared)
	}
	// Deliverer does the same, with the Sharer looked up once.
	if d := feed.Deliverer(ctx); !d(ev, "queue NEW", deliver) || d(ev, "ended", deliver) {
		t.Fatal("the Deliverer did not pass the Sharer's answer on")
	}
	if d := feed.Deliverer(context.Background()); !d(ev, "view", deliver) {
		t.Fatal("the Deliverer without a Sharer")
	}
	if delivered != 2 || len(shared) != 4 || shared[2] != "queue NEW" {
		t.Fatalf("delivered %d, shared %v", delivered, shared)
	}
}

// TestConversationSubscriptions: a subscription to one conversation gets its
// changes and its activity, nothing of other conversations or workspaces;
// the workspace's subscriptions get the changes but never activity.
func TestConversationSubscriptions(t *testing.T) {
	b := feed.NewBroker()
	defer b.Close()
	one := b.SubscribeConversation("ws-a", "cv-1", 8)
	defer one.Close()
	all := b.Subscribe("ws-a", 8)
	defer all.Close()
	activity := func(ws, id string) domain.Event {
		return domain.Event{WorkspaceID: ws, Activity: &domain.ActivityEvent{ConversationID: id, Viewers: []string{"ben"}}}
	}
	b.Publish(activity("ws-a", "cv-2"))
	b.Publish(activity("ws-b", "cv-1"))
	b.Publish(change("ws-a", "cv-2", 1))
	b.Publish(change("ws-b", "cv-1", 1))
	b.Publish(activity("ws-a", "cv-1"))
	b.Publish(change("ws-a", "cv-1", 2))
	if ev := next(t, one); ev.Activity == nil || ev.Activity.ConversationID != "cv-1" || ev.WorkspaceID != "ws-a" {
		t.Fatalf("first event of cv-1: %+v", ev.Event)
	}
	if ev := next(t, one); ev.Conversation == nil || ev.Conversation.After.ID != "cv-1" || ev.Conversation.After.Version != 2 {
		t.Fatalf("second event of cv-1: %+v", ev.Event)
	}
	for _, want := range []string{"cv-2", "cv-1"} {
		if ev := next(t, all); ev.Conversation == nil || ev.Conversation.After.ID != want {
			t.Fatalf("the workspace's subscription: %+v, want a change of %s", ev.Event, want)
		}
	}
	if n := b.Subscribers(); n != 2 {
		t.Fatalf("%d subscribers, want 2", n)
	}
	one.Close()
	if n := b.Subscribers(); n != 1 {
		t.Fatalf("%d subscribers after a Close, want 1", n)
	}
	b.Resync()
	if _, err := receive(all); !errors.Is(err, feed.ErrResync) {
		t.Fatalf("after Resync: %v", err)
	}
}

// presence is a presence change of agent id in workspace ws.
func presence(ws, id string) domain.Event {
	return domain.Event{WorkspaceID: ws, Agent: &domain.AgentEvent{
		Before: &domain.Agent{ID: id, Presence: domain.Offline}, After: domain.Agent{ID: id, Presence: domain.Online},
	}}
}

func TestASubscriptionOfOneKindIsNeverGivenAnEventOfAnother(t *testing.T) {
	b := feed.NewBroker()
	defer b.Close()
	// A queue of one: a presence change queued for the subscription of
	// conversations would cut it off at the second.
	convs := b.SubscribeKinds("w", feed.Conversations, 1)
	agents := b.SubscribeKinds("w", feed.Agents, 1)
	all := b.Subscribe("w", 10)
	for i := range 5 {
		b.Publish(presence("w", fmt.Sprint("a", i)))
	}
	if !isOpen(convs) || len(queued(convs)) != 0 {
		t.Fatalf("the subscription of conversations was given presence changes (open %v)", isOpen(convs))
	}
	if isOpen(agents) {
		t.Fatal("the subscription of agents with a queue of one kept five events")
	}
	b.Publish(change("w", "c1", 1))
	if ev := next(t, convs); ev.Conversation == nil || ev.Conversation.After.ID != "c1" {
		t.Fatalf("the subscription of conversations got %+v", ev.Event)
	}
	if got := len(queued(all)); got != 6 {
		t.Fatalf("the subscription of all kinds got %d events, want 6", got)
	}
}

// handled is what a SubscribeFunc subscription's function was given.
type handled struct {
	mu     sync.Mutex
	events []int64
	got    chan struct{}
	err    chan error
}

func newHandled() *handled {
	return &handled{got: make(chan struct{}, 1000), err: make(chan error, 1)}
}

func (h *handled) handle(ev *feed.Event) bool {
	h.mu.Lock()
	h.events = append(h.events, ev.Conversation.After.Version)
	h.mu.Unlock()
	h.got <- struct{}{}
	return true
}

func (h *handled) ended(err error) { h.err <- err }

func (h *handled) await(t *testing.T, n int) []int64 {
	t.Helper()
	for range n {
		select {
		case <-h.got:
		case <-time.After(wait):
			t.Fatal("an event was not handled")
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int64(nil), h.events...)
}

func TestAFunctionSubscriptionHandlesItsEventsInOrderAfterItsFirstStep(t *testing.T) {
	b := feed.NewBroker()
	defer b.Close()
	h := newHandled()
	s := b.SubscribeFunc("w", feed.Conversations, 100, h.handle, h.ended)
	defer s.Close()
	// Published before Start: they wait for the first step.
	b.Publish(change("w", "c1", 1))
	b.Publish(change("w", "c1", 2))
	firstDone := make(chan struct{})
	s.Start(func() bool {
		h.mu.Lock()
		h.events = append(h.events, 0)
		h.mu.Unlock()
		close(firstDone)
		return true
	})
	<-firstDone
	for v := int64(3); v <= 50; v++ {
		b.Publish(change("w", "c1", v))
	}
	got := h.await(t, 50)
	for i, v := range got {
		if v != int64(i) {
			t.Fatalf("handled out of order: %v", got)
		}
	}
}

func TestAFunctionSubscriptionTooFarBehindIsCutOffAndToldSo(t *testing.T) {
	b := feed.NewBroker()
	defer b.Close()
	h := newHandled()
	s := b.SubscribeFunc("w", feed.Conversations, 2, h.handle, h.ended)
	release := make(chan struct{})
	s.Start(func() bool { <-release; return true })
	for v := int64(1); v <= 3; v++ {
		b.Publish(change("w", "c1", v))
	}
	close(release)
	select {
	case err := <-h.err:
		if !errors.Is(err, feed.ErrTooSlow) {
			t.Fatalf("ended with %v, want ErrTooSlow", err)
		}
	case <-time.After(wait):
		t.Fatal("the subscription was not told it was cut off")
	}
	if !errors.Is(s.Err(), feed.ErrTooSlow) {
		t.Fatalf("Err is %v", s.Err())
	}
}

func TestAFunctionSubscriptionHoldsNoGoroutineWhileIdleAndClosesQuietly(t *testing.T) {
	b := feed.NewBroker()
	defer b.Close()
	h := newHandled()
	s := b.SubscribeFunc("w", feed.Conversations, 10, h.handle, h.ended)
	s.Start(nil)
	b.Publish(change("w", "c1", 1))
	h.await(t, 1)
	// No goroutine of the subscription is left while it idles (goleak
	// waits a while for one on its way out).
	if err := goleak.Find(); err != nil {
		t.Fatalf("an idle subscription holds a goroutine: %v", err)
	}
	s.Close()
	select {
	case err := <-h.err:
		t.Fatalf("a closed subscription was told %v", err)
	default:
	}
	if s.Err() != nil {
		t.Fatalf("Err after Close is %v", s.Err())
	}
}
