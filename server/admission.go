package server

import (
	"context"
	"runtime"
	"sync"

	"golang.org/x/sync/semaphore"

	"switchboard/domain"
)

// costGate admits the costly part of a request a few at a time, and one at
// a time per caller: decoding a large body, and preparing (parsing,
// measuring, validating) a document the server has not seen before. Every
// such step is bounded by the limits, but a caller who sends them in a loop
// from many connections would otherwise keep every core busy, and everyone
// else's requests would wait behind them. Requests that need no costly step
// (a small body, a document prepared before, which is what a real client
// sends) never wait here.
//
// The gate holds at most max(1, GOMAXPROCS-1) steps at once, so at least
// one core is left for everything else; waiting is first come, first
// served, and a caller waits behind at most one step of each other caller.
// A wait ends with the request's context (the client went away, or the
// operation's deadline passed).
type costGate struct {
	all *semaphore.Weighted
	mu  sync.Mutex
	// callers holds each caller's one slot while it is used or awaited.
	callers map[string]*callerSlot
}

type callerSlot struct {
	free  chan struct{} // holds a token when the caller's slot is free
	users int           // holders and waiters, so the slot can be dropped
}

// callerKey names the caller of ctx for the gate: one agent, admin or
// integration of one workspace.
func callerKey(ctx context.Context) string {
	a, _ := domain.ActorFromContext(ctx)
	return a.WorkspaceID + "\x00" + a.ID
}

func newCostGate() *costGate {
	return &costGate{
		all:     semaphore.NewWeighted(int64(max(1, runtime.GOMAXPROCS(0)-1))),
		callers: make(map[string]*callerSlot),
	}
}

// enter waits until caller may take one costly step; release ends it.
func (g *costGate) enter(ctx context.Context, caller string) (release func(), err error) {
	slot := g.slot(caller)
	select {
	case <-slot.free:
	case <-ctx.Done():
		g.drop(caller, slot)
		return nil, ctx.Err()
	}
	if err := g.all.Acquire(ctx, 1); err != nil {
		slot.free <- struct{}{}
		g.drop(caller, slot)
		return nil, err
	}
	return func() {
		g.all.Release(1)
		slot.free <- struct{}{}
		g.drop(caller, slot)
	}, nil
}

func (g *costGate) slot(caller string) *callerSlot {
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.callers[caller]
	if !ok {
		s = &callerSlot{free: make(chan struct{}, 1)}
		s.free <- struct{}{}
		g.callers[caller] = s
	}
	s.users++
	return s
}

func (g *costGate) drop(caller string, s *callerSlot) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s.users--; s.users == 0 {
		delete(g.callers, caller)
	}
}
