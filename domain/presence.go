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
	agent, signedIn, err := s.updateAgent(ctx, a.WorkspaceID, a.ID, func(agent *Agent, now time.Time) (bool, error) {
		if !agent.Active {
			return false, Forbidden("this agent is deactivated")
		}
		if agent.Presence != Offline {
			return false, nil
		}
		agent.LastSeenAt = now
		return setPresent(agent, Online, now), nil
	})
	if err != nil || signedIn {
		return agent, err
	}
	// Already signed in: the new socket is a sign of life.
	return agent, s.Alive(ctx, a)
}

// Alive records a sign of life of an agent's open socket.
func (s *Service) Alive(ctx context.Context, a Actor) error {
	if !a.Role.IsAgent() {
		return nil
	}
	return internal(s.store.TouchAgent(ctx, a.WorkspaceID, a.ID, s.now()))
}

// ExpireSilentAgents makes every ONLINE or AWAY agent without a sign of life
// for the presence timeout OFFLINE, as of their last sign of life plus the
// timeout. It returns how many went offline.
func (s *Service) ExpireSilentAgents(ctx context.Context) (int, error) {
	timeout := s.presenceTimeout
	n := 0
	for {
		silent, err := s.store.SilentAgents(ctx, s.now().Add(-timeout), 100)
		if err != nil {
			return n, internal(err)
		}
		for _, a := range silent {
			before := a.Presence
			agent, err := s.takeOffline(ctx, a.WorkspaceID, a.ID, func(agent Agent, now time.Time) (time.Time, bool, error) {
				// Decided on the record as written: a sign of life after the
				// sweep read it makes this write lose (Store.UpdateAgent).
				if agent.Presence == Offline || now.Sub(agent.LastSeenAt) < timeout {
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
