package domain

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// Signs of life (an authenticated request, a pong on a socket) are noted in
// memory, per agent, and written off the request path: the jobs write each
// agent's latest every touchEvery, one write per agent however many signs
// came in meanwhile. So no request waits for a sign of life to be written,
// and none fails because it could not be. A sign the store could not take
// stays noted, and is written once the store takes writes again; meanwhile
// this instance's presence sweep reads it from memory, so an agent whose
// socket lives here is never timed out for a write that failed.

// signsOfLife are the signs of life noted by this instance.
type signsOfLife struct {
	mu     sync.Mutex
	agents map[agentKey]*signOfLife
}

type agentKey struct{ workspaceID, agentID string }

type signOfLife struct {
	seen   time.Time // the latest sign of life noted here
	stored time.Time // the latest of them the store took
}

func newSignsOfLife() *signsOfLife { return &signsOfLife{agents: map[agentKey]*signOfLife{}} }

// note records a sign of life of an agent at at.
func (l *signsOfLife) note(workspaceID, agentID string, at time.Time) {
	k := agentKey{workspaceID, agentID}
	l.mu.Lock()
	defer l.mu.Unlock()
	sl := l.agents[k]
	if sl == nil {
		sl = &signOfLife{}
		l.agents[k] = sl
	}
	if at.After(sl.seen) {
		sl.seen = at
	}
}

// lastSeen returns the latest sign of life of an agent noted here, the zero
// time if none is remembered.
func (l *signsOfLife) lastSeen(workspaceID, agentID string) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if sl := l.agents[agentKey{workspaceID, agentID}]; sl != nil {
		return sl.seen
	}
	return time.Time{}
}

// unwritten is the latest sign of life of one agent, not yet written.
type unwritten struct {
	agentKey
	at time.Time
}

// toWrite returns, for each agent with a sign of life the store has not
// taken, the latest one, longest unwritten first.
func (l *signsOfLife) toWrite() []unwritten {
	l.mu.Lock()
	var out []unwritten
	for k, sl := range l.agents {
		if sl.seen.After(sl.stored) {
			out = append(out, unwritten{k, sl.seen})
		}
	}
	l.mu.Unlock()
	slices.SortFunc(out, func(a, b unwritten) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.workspaceID, b.workspaceID), cmp.Compare(a.agentID, b.agentID))
	})
	return out
}

// stored records that the store took an agent's sign of life at at.
func (l *signsOfLife) stored(k agentKey, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if sl := l.agents[k]; sl != nil && at.After(sl.stored) {
		sl.stored = at
	}
}

// forget drops the agents whose every sign of life noted here is stored and
// older than before: the store knows all this instance could tell a sweep
// about them, so memory holds only agents active lately or not yet written.
func (l *signsOfLife) forget(before time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, sl := range l.agents {
		if !sl.seen.After(sl.stored) && sl.seen.Before(before) {
			delete(l.agents, k)
		}
	}
}

// writeSignsOfLife writes the latest unwritten sign of life of each agent.
// It stops at the first one the store cannot take now: the rest would fail
// too, and every one of them stays noted for the next round.
func (s *Service) writeSignsOfLife(ctx context.Context) error {
	var fault error
	for _, u := range s.signs.toWrite() {
		err := s.writeSignOfLife(ctx, u)
		switch {
		case err == nil:
		case errors.Is(err, ErrUnavailable) || ctx.Err() != nil:
			return internal(err)
		case fault == nil:
			fault = err
		}
	}
	s.signs.forget(s.now().Add(-s.presenceTimeout))
	return internal(fault)
}

// writeSignOfLife writes one agent's sign of life.
func (s *Service) writeSignOfLife(ctx context.Context, u unwritten) error {
	err := s.store.TouchAgent(ctx, u.workspaceID, u.agentID, u.at)
	if errors.Is(err, ErrNotFound) {
		// No record to move: nothing is left to write for this sign.
		err = nil
	}
	if err == nil {
		s.signs.stored(u.agentKey, u.at)
	}
	return err
}
