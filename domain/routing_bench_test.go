package domain_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"switchboard/domain"
)

// routedWatch tells a waiter when a conversation's routed change commits.
type routedWatch struct {
	mu      sync.Mutex
	waiting map[string]chan struct{}
}

func (w *routedWatch) Publish(e domain.Event) {
	c := e.Conversation
	if c == nil || c.Change == nil || c.Change.Reason != domain.ReasonRouting {
		return
	}
	w.mu.Lock()
	ch := w.waiting[c.After.ID]
	delete(w.waiting, c.After.ID)
	w.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

func (w *routedWatch) expect(id string) chan struct{} {
	ch := make(chan struct{})
	w.mu.Lock()
	w.waiting[id] = ch
	w.mu.Unlock()
	return ch
}

// BenchmarkInboundRouted compares, in one run, an inbound message that
// starts a conversation with routing off (inbound alone) with the same with
// routing on, timed until its routed change commits (the jobs route it from
// the committed change, as in the server). Fifty ONLINE agents of capacity
// 100 take them. It reports each one's p99 and their ratio; run it with
// -benchtime=1000x or less (capacity).
func BenchmarkInboundRouted(b *testing.B) {
	run := func(mode domain.RoutingMode) []time.Duration {
		e := newRoutingEnv(b)
		watch := &routedWatch{waiting: map[string]chan struct{}{}}
		e.tap.also = watch
		for i := range 50 {
			id := fmt.Sprint("ag-", i)
			e.agent(id, domain.Online)
			if _, err := e.svc.UpsertAgent(e.ctx, e.admin, domain.AgentInput{ID: id, Name: id, Role: domain.RoleAgent,
				CapacityGiven: true, Capacity: ptr(100)}); err != nil {
				b.Fatal(err)
			}
		}
		e.mode(mode)
		e.startJobs()
		out := make([]time.Duration, 0, b.N)
		for i := range b.N {
			contact := fmt.Sprint("c-", i)
			id := domain.ConversationID(rws, domain.ContactID(rws, e.channel, contact), 1)
			var done chan struct{}
			if mode != domain.RoutingOff {
				done = watch.expect(id)
			}
			start := time.Now()
			if _, err := e.svc.IngestInbound(e.ctx, e.feed, domain.InboundCommand{
				ChannelID: e.channel, ContactExternalID: contact, ExternalMessageID: fmt.Sprint("m-", i), Text: "hi",
			}); err != nil {
				b.Fatal(err)
			}
			if done != nil {
				select {
				case <-done:
				case <-time.After(30 * time.Second):
					b.Fatalf("conversation %d was not routed", i)
				}
			}
			out = append(out, time.Since(start))
		}
		return out
	}
	b.ResetTimer()
	alone := run(domain.RoutingOff)
	routed := run(domain.RoutingBalanced)
	pa, pr := p99(alone), p99(routed)
	b.ReportMetric(float64(pa.Microseconds()), "inbound-p99-µs")
	b.ReportMetric(float64(pr.Microseconds()), "routed-p99-µs")
	b.ReportMetric(float64(pr)/float64(pa), "p99-ratio")
	b.ReportMetric(float64(quantile(routed, 50))/float64(quantile(alone, 50)), "p50-ratio")
}

// BenchmarkFillOnline times the fill pass that gives an agent who comes
// ONLINE their five conversations, with 1,000 and with 20,000 waiting, in
// one run (two stores, passes alternating), and reports each one's mean
// and their ratio: the longest waiting come from the queue index, so the
// pass costs the same whatever waits behind them. Between passes the five
// are set Unowned again by an admin, untimed.
func BenchmarkFillOnline(b *testing.B) {
	type setup struct {
		e     *routingEnv
		ann   domain.Actor
		spent time.Duration
	}
	prepare := func(waiting int) *setup {
		e := newRoutingEnv(b)
		ann := e.agent("ann", domain.Offline)
		e.mode(domain.RoutingBalanced)
		for i := range waiting {
			if _, err := e.svc.IngestInbound(e.ctx, e.feed, domain.InboundCommand{
				ChannelID: e.channel, ContactExternalID: fmt.Sprint("w-", i), ExternalMessageID: fmt.Sprint("m-", i), Text: "hi",
			}); err != nil {
				b.Fatal(err)
			}
			if i%100 == 0 {
				e.clock.Advance(time.Millisecond)
			}
		}
		return &setup{e: e, ann: ann}
	}
	pass := func(s *setup) {
		e := s.e
		if _, err := e.svc.SetPresence(e.ctx, s.ann, domain.Offline); err != nil {
			b.Fatal(err)
		}
		owned, err := e.db.OwnedConversations(e.ctx, domain.OwnedQuery{WorkspaceID: rws, OwnerID: "ann",
			Statuses: []domain.QueueStatus{domain.StatusNew}, Limit: 100})
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range owned {
			e.setOwner(e.admin, c.ID, nil)
		}
		if _, err := e.svc.SetPresence(e.ctx, s.ann, domain.Online); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if n := e.fill(); n != domain.DefaultCapacity {
			b.Fatalf("routed %d, want %d", n, domain.DefaultCapacity)
		}
		s.spent += time.Since(start)
	}
	small, large := prepare(1_000), prepare(20_000)
	b.ResetTimer()
	for range b.N {
		pass(small)
		pass(large)
	}
	ms, ml := small.spent/time.Duration(b.N), large.spent/time.Duration(b.N)
	b.ReportMetric(float64(ms.Microseconds()), "fill-1k-µs")
	b.ReportMetric(float64(ml.Microseconds()), "fill-20k-µs")
	b.ReportMetric(float64(ml)/float64(ms), "ratio")
}

func p99(ds []time.Duration) time.Duration { return quantile(ds, 99) }

// quantile is the q-th percentile of ds.
func quantile(ds []time.Duration, q int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*q/100)]
}
