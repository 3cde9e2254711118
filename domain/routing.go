package domain

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"
)

// Routing gives NEW unowned conversations to available agents. Like the
// logout cleanup it keeps nothing only in memory: the conversations waiting
// for an agent are the durable state (NEW and unowned, in the store), so a
// fill pass can run at any time, any number of times, and finds what is left
// to do. A workspace is "to be filled" when a committed change may have
// made work routable or opened room (Jobs.Notice), when an admin command
// did (routeSoon), and at every reconcile; the fill is coalesced per
// workspace: one goroutine at a time per workspace loops while it is dirty.
//
// The capacity guarantee rests on two things. One router per workspace:
// a fill pass runs only while this instance holds the workspace's routing
// lease (Store.ClaimRouting, one conditional write of one record), and it
// writes only while at least half the lease is left, so an instance paused
// past its lease stops before another can start. And each routing write is
// one conditional change of the conversation: at the version read (still
// NEW and unowned: routed once per opening), at the agent's version (still
// ONLINE, active, same capacity), and with the agent's load below capacity
// (Store's LoadBelow; SQLite checks it in the write's transaction).

// Routing timing.
const (
	// routingLease is how long an instance's hold on a workspace's routing
	// lasts without renewal; another instance takes over after it.
	routingLease = 15 * time.Second
	// routingPage is how many waiting conversations a fill pass reads at
	// once, longest waiting first.
	routingPage = 100
	// maxRefills bounds the passes a worker runs in a row because a write
	// lost a race; the reconciler comes back after.
	maxRefills = 20
)

// routeSoon marks a workspace as to be filled, when the jobs run.
func (s *Service) routeSoon(ws string) {
	if j := s.jobs.Load(); j != nil {
		j.route(ws)
	}
}

// routingTrigger reports whether a committed change may have made a
// conversation routable or opened room for one.
func routingTrigger(e Event) bool {
	if c := e.Conversation; c != nil && !c.Interim {
		a, b := c.After, c.Before
		if a.Status == StatusNew && a.OwnerID == "" && (b == nil || b.Status != StatusNew || b.OwnerID != "") {
			return true // routable
		}
		if b != nil && b.Status == StatusNew && b.OwnerID != "" && (a.Status != StatusNew || a.OwnerID != b.OwnerID) {
			return true // a load dropped
		}
	}
	if ag := e.Agent; ag != nil {
		a, b := ag.After, ag.Before
		if a.Active && a.Presence == Online {
			if b == nil || b.Presence != Online || !b.Active || !intPtrEqual(a.Capacity, b.Capacity) {
				return true // came ONLINE, or a capacity changed
			}
		}
	}
	return false
}

// route marks ws as to be filled and starts its worker unless one runs.
func (j *Jobs) route(ws string) {
	j.rmu.Lock()
	j.dirty[ws] = true
	if j.routing[ws] {
		j.rmu.Unlock()
		return
	}
	j.routing[ws] = true
	j.rmu.Unlock()
	if !j.begin() {
		j.rmu.Lock()
		delete(j.routing, ws)
		j.rmu.Unlock()
		return
	}
	go func() {
		defer j.wg.Done()
		refills := 0
		for {
			j.rmu.Lock()
			if !j.dirty[ws] || j.ctx.Err() != nil {
				delete(j.routing, ws)
				delete(j.dirty, ws)
				j.rmu.Unlock()
				return
			}
			j.dirty[ws] = false
			j.rmu.Unlock()
			again, err := j.s.fill(j.ctx, ws)
			if j.failed(err) {
				j.s.log.Error("routing failed; the reconciler retries it", "workspace", ws, "err", err)
			}
			if again && refills < maxRefills {
				refills++
				j.rmu.Lock()
				j.dirty[ws] = true
				j.rmu.Unlock()
			}
		}
	}()
}

func (j *Jobs) armUnanswered(c Conversation) {
	j.armConversation("unanswered", c, *c.UnansweredAt, j.s.TakeBackUnanswered)
}

// reconcileRouting marks every workspace with routing on as to be filled,
// and arms the unanswered take-backs due before the next reconcile.
func (j *Jobs) reconcileRouting(ctx context.Context, until time.Time) error {
	convs, err := j.s.store.DueUnanswered(ctx, until, 500)
	if err != nil {
		return internal(err)
	}
	for _, c := range convs {
		j.armUnanswered(c)
	}
	after := ""
	for {
		wss, err := j.s.store.RoutingWorkspaces(ctx, after, 500)
		if err != nil {
			return internal(err)
		}
		for _, ws := range wss {
			j.route(ws)
		}
		if len(wss) < 500 {
			return nil
		}
		after = wss[len(wss)-1]
	}
}

// TakeBackUnanswered takes a routed conversation back from its owner if
// its unanswered deadline, at, is due and still set (UNANSWERED, by the
// system); the owner is not given it again during this stay in NEW. It
// reports whether it took it back.
func (s *Service) TakeBackUnanswered(ctx context.Context, ws, conversationID string, at time.Time) (bool, error) {
	return s.changeFrom(ctx, ws, conversationID, func(c Conversation, now time.Time) *plan {
		return ruleUnanswered(c, at, now)
	})
}

// FillWorkspace runs one fill pass for a workspace and reports how many
// conversations it routed (tests and benchmarks call it directly).
func (s *Service) FillWorkspace(ctx context.Context, ws string) (int, error) {
	f, err := s.newFill(ctx, ws)
	if err != nil || f == nil {
		return 0, err
	}
	err = f.run(ctx)
	if errors.Is(err, errRoutingRace) {
		err = nil
	}
	return f.routed, err
}

// fill runs a fill pass; again reports that a write lost a race, so the
// pass ended early and another should run.
func (s *Service) fill(ctx context.Context, ws string) (again bool, err error) {
	f, err := s.newFill(ctx, ws)
	if err != nil || f == nil {
		return false, err
	}
	err = f.run(ctx)
	if errors.Is(err, errRoutingRace) {
		return true, nil
	}
	return false, err
}

// errRoutingRace: a routing write lost its condition; the pass ends and
// another one reads everything again.
var errRoutingRace = errors.New("a routing write lost a race")

// routee is an agent routing may give conversations to, as a pass sees it.
type routee struct {
	agent    Agent
	load     int
	capacity int
}

// fillPass is one fill pass: what it read, and what it routed.
type fillPass struct {
	s        *Service
	ws       string
	settings RoutingSettings
	// leaseUntil is when this instance's routing lease ends.
	leaseUntil time.Time
	agents     map[string]*routee
	// byChannel are each channel's routing agents who are active and ONLINE.
	byChannel map[string][]string
	// lastTurn is the latest routing turn the pass knows of: each turn it
	// records is later, by a millisecond if the clock has not moved, so
	// turns given in the same millisecond still take turns.
	lastTurn time.Time
	routed   int
}

// newFill reads what a pass decides on; nil when routing is off or another
// instance routes the workspace.
func (s *Service) newFill(ctx context.Context, ws string) (*fillPass, error) {
	f, err := s.startFill(ctx, ws)
	if err != nil || f == nil {
		return nil, err
	}
	if held, err := f.claim(ctx); err != nil || !held {
		return nil, err
	}
	agents, err := s.store.ListAgents(ctx, ws, AgentFilter{Presence: []Presence{Online}})
	if err != nil {
		return nil, internal(err)
	}
	for _, a := range agents {
		f.add(a)
	}
	channels, err := s.store.ListChannels(ctx, ws)
	if err != nil {
		return nil, internal(err)
	}
	for _, ch := range channels {
		for _, id := range ch.RoutingAgentIDs {
			if f.agents[id] != nil {
				f.byChannel[ch.ID] = append(f.byChannel[ch.ID], id)
			}
		}
	}
	if err := f.readLoads(ctx); err != nil {
		return nil, err
	}
	return f, nil
}

// startFill is an empty pass over ws with its routing settings; nil when
// routing is off.
func (s *Service) startFill(ctx context.Context, ws string) (*fillPass, error) {
	st, err := s.store.GetSettings(ctx, ws)
	if err != nil {
		return nil, internal(err)
	}
	if st.Routing.Mode == RoutingOff {
		return nil, nil
	}
	return &fillPass{s: s, ws: ws, settings: st.Routing, agents: map[string]*routee{}, byChannel: map[string][]string{}}, nil
}

// add makes a a routee when routing may give them work (active and
// ONLINE), and keeps the latest routing turn of every agent it is shown;
// it reports whether a was taken.
func (f *fillPass) add(a Agent) bool {
	if a.LastRoutedAt.After(f.lastTurn) {
		f.lastTurn = a.LastRoutedAt
	}
	if !a.Active || a.Presence != Online {
		return false
	}
	f.agents[a.ID] = &routee{agent: a, capacity: a.EffectiveCapacity(f.settings)}
	return true
}

// readLoads sets each routee's load from one count of NEW conversations
// per owner.
func (f *fillPass) readLoads(ctx context.Context) error {
	counts, err := f.s.store.CountOwners(ctx, f.ws, StatusNew, nil)
	if err != nil {
		return internal(err)
	}
	for _, c := range counts {
		if r := f.agents[c.OwnerID]; r != nil {
			r.load = c.Count
		}
	}
	return nil
}

// claim makes sure this instance holds the workspace's routing lease with
// at least half its length left: the lease a pass of this instance took a
// moment ago serves the next pass too (one write per half lease, not per
// pass), else it is taken or renewed.
func (f *fillPass) claim(ctx context.Context) (bool, error) {
	now := f.s.now()
	if until, ok := f.s.leases.Load(f.ws); ok && until.(time.Time).Sub(now) >= routingLease/2 {
		f.leaseUntil = until.(time.Time)
		return true, nil
	}
	until := now.Add(routingLease)
	held, err := f.s.store.ClaimRouting(ctx, f.ws, f.s.instance, now, until)
	if err != nil {
		return false, internal(err)
	}
	if !held {
		f.s.leases.Delete(f.ws)
		return false, nil
	}
	f.leaseUntil = until
	f.s.leases.Store(f.ws, until)
	return true, nil
}

// leaseLeft makes sure the lease has at least half its length left before
// a write, renewing it; false when it is lost.
func (f *fillPass) leaseLeft(ctx context.Context) (bool, error) {
	if f.leaseUntil.Sub(f.s.now()) >= routingLease/2 {
		return true, nil
	}
	return f.claim(ctx)
}

// A held lease is remembered per workspace (Service.leases) only as an
// optimisation: the store's record is what holds it, and a remembered
// lease is used only while it has at least half its length left, which the
// store's record then has too.

// openChannels are the channels with a routing agent who has room.
func (f *fillPass) openChannels() []string {
	var out []string
	for ch, ids := range f.byChannel {
		for _, id := range ids {
			if r := f.agents[id]; r.load < r.capacity {
				out = append(out, ch)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// run routes the waiting conversations of the open channels, longest
// waiting first, page by page, until nobody has room or none is left.
// The assignments decided on a page are written in one store call
// (UpdateConversations: one transaction on SQLite, as the logout cleanup's
// pages are), so an agent's up-to-capacity assignments commit together
// rather than one commit each; each is still its own conditional change
// with its history entry and event, in the order decided.
func (f *fillPass) run(ctx context.Context) error {
	var after *QueueKey
	for {
		open := f.openChannels()
		if len(open) == 0 {
			return nil
		}
		page, err := f.s.store.QueryQueue(ctx, QueueQuery{
			WorkspaceID: f.ws, Status: StatusNew, Owners: OwnerPredicate{Unowned: true}, ChannelIDs: open,
			Order: LongestWaiting, After: after, Limit: routingPage,
		})
		if err != nil {
			return internal(err)
		}
		var batch []ConversationWrite
		for _, c := range page {
			if r := f.choose(c); r != nil {
				if w, ok := f.assign(c, r); ok {
					batch = append(batch, w)
				}
			}
		}
		if err := f.give(ctx, batch); err != nil {
			return err
		}
		if len(page) < routingPage {
			return nil
		}
		last := page[len(page)-1]
		after = &QueueKey{WaitingSince: last.WaitingSince, ID: last.ID}
	}
}

// assign decides the routing of c to r, conditional on the conversation
// and the agent as read and on the agent's load, with the agent's turn,
// and counts it in the pass's view of r (their load and turn), so that the
// rest of the page is decided as if it had been written.
func (f *fillPass) assign(c Conversation, r *routee) (ConversationWrite, bool) {
	now := f.s.now()
	p := ruleRoute(c, &r.agent, r.capacity, f.settings.UnansweredSeconds, now)
	if !p.changed() {
		return ConversationWrite{}, false
	}
	turn := f.nextTurn(now)
	w := p.write()
	w.Turn = &AgentTurn{AgentID: r.agent.ID, At: turn}
	r.load++
	f.lastTurn, r.agent.LastRoutedAt = turn, turn
	return w, true
}

// give writes a page's routing assignments in one store call. A write
// that lost its condition (the conversation or the agent changed, or the
// agent's load reached capacity: each store checks the load write by
// write, so the writes before it in the batch count) leaves the others be;
// but the pass's view is then wrong, so the pass ends and another one reads
// everything again.
func (f *fillPass) give(ctx context.Context, batch []ConversationWrite) error {
	if len(batch) == 0 {
		return nil
	}
	if held, err := f.leaseLeft(ctx); err != nil || !held {
		return err
	}
	errs, err := f.s.store.UpdateConversations(ctx, batch)
	if err != nil {
		return internal(err)
	}
	lost := false
	for _, err := range errs {
		switch {
		case err == nil:
			f.routed++
		case errors.Is(err, ErrVersionConflict):
			lost = true
		default:
			return internal(err)
		}
	}
	if lost {
		return errRoutingRace
	}
	return nil
}

// choose picks the agent to give c to: the preferred agent (the owner of
// the contact's previous conversation) when routing could give it to them,
// else by the mode; nil when nobody may take it now.
func (f *fillPass) choose(c Conversation) *routee {
	ids := f.byChannel[c.ChannelID]
	eligible := func(id string) *routee {
		r := f.agents[id]
		if r == nil || r.load >= r.capacity || c.RoutingExcludes(id) {
			return nil
		}
		return r
	}
	if f.settings.PreferLastOwner && c.PreferredAgentID != "" && slices.Contains(ids, c.PreferredAgentID) {
		if r := eligible(c.PreferredAgentID); r != nil {
			return r
		}
	}
	var best *routee
	for _, id := range ids {
		r := eligible(id)
		if r == nil {
			continue
		}
		if best == nil || f.before(r, best) {
			best = r
		}
	}
	return best
}

// before reports whether the mode puts a ahead of b.
func (f *fillPass) before(a, b *routee) bool {
	if f.settings.Mode == RoutingBalanced && a.load != b.load {
		return a.load < b.load
	}
	if c := a.agent.LastRoutedAt.Compare(b.agent.LastRoutedAt); c != 0 {
		return c < 0
	}
	return cmp.Less(a.agent.ID, b.agent.ID)
}

// Routing in the inbound's write. A new conversation is routed in the
// transaction that creates it when the store can (InboundRouter: SQLite),
// instead of waiting for the fill pass to wake from the committed change,
// read everything and commit a second write. The inbound reads what a pass
// would for its one channel (the settings, the channel's routing agents,
// their loads and turns), chooses by the same rules (choose: the preferred
// agent, then the mode's order, never above capacity), and the store writes
// the routing change in the creation's transaction on the routing write's
// conditions (the agent's record version, load below capacity) and on what
// the choice read (the agent still a routing agent of the channel, with the
// same load and turn, and nothing else waiting on the agent's channels: a
// new conversation never passes one waiting longer). The load is checked
// inside the transaction, so capacity holds strictly against any other
// writer, this instance's fill pass or another instance's on the same
// file; the conversation does not exist for anyone else before the
// commit, so it is routed once. When a condition fails, the conversation
// is created unrouted and the fill pass routes it as before: concurrent
// inbounds never route on a stale choice.
// It needs no lease: the lease serialises fill passes, whose load checks
// MongoDB cannot make atomic; here the store makes each one atomic.

// inboundRouting reads what routing a new conversation of channel in the
// inbound's write decides on; nil when routing is off, the channel has no
// routing agent or the store cannot.
func (s *Service) inboundRouting(ctx context.Context, ws string, channel *Channel) (*fillPass, error) {
	if s.inboundRouter == nil || channel == nil || len(channel.RoutingAgentIDs) == 0 {
		return nil, nil
	}
	f, err := s.startFill(ctx, ws)
	if err != nil || f == nil {
		return nil, err
	}
	agents, err := s.store.AgentsByIDs(ctx, ws, channel.RoutingAgentIDs)
	if err != nil {
		return nil, internal(err)
	}
	for _, a := range agents {
		if a != nil && f.add(*a) {
			f.byChannel[channel.ID] = append(f.byChannel[channel.ID], a.ID)
		}
	}
	if len(f.agents) == 0 {
		return nil, nil
	}
	if err := f.readLoads(ctx); err != nil {
		return nil, err
	}
	return f, nil
}

// routeNew decides the routing change of c, a conversation being created
// (version 1), from what inboundRouting read; nil when nobody may take it
// now (the fill pass will, when room opens).
func (f *fillPass) routeNew(c Conversation, now time.Time) *RoutedWrite {
	r := f.choose(c)
	if r == nil {
		return nil
	}
	p := ruleRoute(c, &r.agent, r.capacity, f.settings.UnansweredSeconds, now)
	if !p.changed() {
		return nil
	}
	w := p.write()
	w.Turn = &AgentTurn{AgentID: r.agent.ID, At: f.nextTurn(now)}
	return &RoutedWrite{ConversationWrite: w, Load: r.load, LastRoutedAt: r.agent.LastRoutedAt}
}

// nextTurn is the turn stamp of the next routing: now, or a millisecond
// after the latest turn known when the clock has not moved past it.
func (f *fillPass) nextTurn(now time.Time) time.Time {
	if !now.After(f.lastTurn) {
		return f.lastTurn.Add(time.Millisecond)
	}
	return now
}

// insertRouted creates w and, when route is set, routes it in the same
// write (InboundRouter).
func (s *Service) insertRouted(w ConversationWrite, route *RoutedWrite) func(context.Context) error {
	if route == nil {
		return s.insertConversation(w)
	}
	return func(ctx context.Context) error {
		_, err := s.inboundRouter.InsertConversationRouted(ctx, w, *route)
		return err
	}
}
