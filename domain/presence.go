package domain

import (
	"context"
	"time"
)

// The presence timeout: an ONLINE or AWAY agent without a sign of life this
// long becomes OFFLINE by themselves. The product's presence rule makes it
// 30 s unless configured, and never more than 55 s.
const (
	DefaultPresenceTimeout = 30 * time.Second
	MaxPresenceTimeout     = 55 * time.Second
)

// WithPresenceTimeout sets how long an ONLINE or AWAY agent may go without a
// sign of life before they become OFFLINE by themselves.
func WithPresenceTimeout(d time.Duration) Option {
	return func(s *Service) { s.presenceTimeout = d }
}

// PresenceTimeout returns the presence timeout.
func (s *Service) PresenceTimeout() time.Duration { return s.presenceTimeout }

// SignIn is an agent opening a subscription socket: an OFFLINE agent becomes
// ONLINE, and the socket is a sign of life.
func (s *Service) SignIn(ctx context.Context, a Actor) (Agent, error) {
	if err := requireAgent(a); err != nil {
		return Agent{}, nil // integrations have no presence
	}
	agent, _, err := s.updateAgent(ctx, a.WorkspaceID, a.ID, func(agent *Agent, now time.Time) (bool, error) {
		if !agent.Active {
			return false, Forbidden("this agent is deactivated")
		}
		if agent.Presence != Offline {
			return false, nil
		}
		agent.LastSeenAt = now
		return setPresent(agent, Online, now), nil
	})
	if err != nil {
		return agent, err
	}
	// The socket is a sign of life; already signed in, it is nothing more.
	s.signs.note(a.WorkspaceID, a.ID, s.now())
	return agent, nil
}

// Alive notes a sign of life of an agent's open socket. It never waits for
// the store and never fails: the jobs write it (writeSignsOfLife).
func (s *Service) Alive(_ context.Context, a Actor) error {
	if a.Role.IsAgent() {
		s.signs.note(a.WorkspaceID, a.ID, s.now())
	}
	return nil
}

// ExpireSilentAgents makes every ONLINE or AWAY agent without a sign of life
// for the presence timeout OFFLINE, as of their last sign of life plus the
// timeout. It returns how many went offline.
//
// An absence is judged only on signs of life that could be written. While
// the store does not take writes, and for one presence timeout after it
// takes them again, nobody is timed out: the signs of life noted during the
// outage, on this instance or another, could not be written, and each
// instance writes those it holds as soon as it sees the store back. A sign
// of life noted here that the store lacks yet is written before its agent is
// judged.
func (s *Service) ExpireSilentAgents(ctx context.Context) (int, error) {
	timeout := s.presenceTimeout
	if s.silenceUnproven(timeout) {
		return 0, nil
	}
	n := 0
	for {
		silent, err := s.store.SilentAgents(ctx, s.now().Add(-timeout), 100)
		if err != nil {
			return n, internal(err)
		}
		for _, a := range silent {
			if seen := s.signs.lastSeen(a.WorkspaceID, a.ID); seen.After(a.LastSeenAt) {
				if err := s.writeSignOfLife(ctx, unwritten{agentKey{a.WorkspaceID, a.ID}, seen}); err != nil {
					return n, internal(err)
				}
			}
			before := a.Presence
			agent, err := s.takeOffline(ctx, a.WorkspaceID, a.ID, func(agent Agent, now time.Time) (time.Time, bool, error) {
				// Decided on the record as written: a sign of life after the
				// sweep read it makes this write lose (Store.UpdateAgent). One
				// noted here since is written by the next round first.
				if agent.Presence == Offline || now.Sub(agent.LastSeenAt) < timeout ||
					s.signs.lastSeen(agent.WorkspaceID, agent.ID).After(agent.LastSeenAt) {
					return now, false, nil
				}
				return agent.LastSeenAt.Add(timeout), true, nil
			})
			if err != nil {
				return n, err
			}
			if before != Offline && agent.Presence == Offline {
				n++
			}
		}
		if len(silent) < 100 {
			return n, nil
		}
	}
}

// silenceUnproven reports whether a silence in the store may be only the
// store's: it did not take writes, or took them again less than one
// presence timeout ago.
func (s *Service) silenceUnproven(timeout time.Duration) bool {
	down, since := s.health.outage()
	return down || (!since.IsZero() && s.clock.Now().Before(since.Add(timeout)))
}
