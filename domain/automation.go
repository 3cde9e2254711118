package domain

import (
	"context"
	"errors"
	"time"
)

// The automation: logout cleanups and boomerangs. Both are derivable from
// what is stored (an agent's armed cleanup, a PENDING conversation's
// boomerangAt), so correctness never rests on an event arriving: a timer
// armed from the change feed does the work on time, and a reconciler finds
// whatever is due at start-up and every ReconcileInterval. Each conversation
// changes by its own conditional write, so running a job twice, or on two
// instances at once, changes each conversation once.

// Automation timing.
const (
	// ReconcileInterval is how often the reconciler looks for due work; it
	// also arms timers for work due before its next look.
	ReconcileInterval = 5 * time.Second
	// claimLease is how long an instance's claim on a cleanup holds without
	// being renewed; if the instance stops, another takes over after it.
	claimLease = time.Minute
	// releasePage is how many conversations a release (a logout cleanup, a
	// deactivation) reads at once and writes in one store call: 10,000
	// conversations take 40 reads and 40 writes. On SQLite a page's writes
	// are one transaction, which holds the write lock for about 25 ms (2
	// cores): other writes wait at most that long behind a cleanup.
	releasePage = 250
)

// errClaimed: another instance is performing the cleanup.
var errClaimed = errors.New("another instance holds the cleanup")

// WithInstanceID names this server instance in cleanup claims.
func WithInstanceID(id string) Option { return func(s *Service) { s.instance = id } }

// WithoutInboundRouting leaves every routing to the fill pass, even on a
// store that can route a new conversation in the write that creates it
// (tests of the fill pass alone use it).
func WithoutInboundRouting() Option { return func(s *Service) { s.fillOnly = true } }

// cancelPendingCleanups cancels the logout cleanups of a workspace that
// were not due when the remove-ownership setting was switched off at off.
// (A cleanup this misses, racing the switch, is cancelled when it comes due:
// RunLogoutCleanup checks the setting too.)
func (s *Service) cancelPendingCleanups(ctx context.Context, ws string, off time.Time) error {
	agents, err := s.store.ListAgents(ctx, ws, AgentFilter{IncludeInactive: true})
	if err != nil {
		return internal(err)
	}
	for _, a := range agents {
		if a.Cleanup == nil || !a.Cleanup.DueAt.After(off) {
			continue
		}
		epoch := a.Cleanup.Epoch
		_, cancelled, err := s.updateAgent(ctx, ws, a.ID, func(agent *Agent, _ time.Time) (bool, error) {
			if agent.Cleanup == nil || agent.Cleanup.Epoch != epoch || !agent.Cleanup.DueAt.After(off) {
				return false, nil
			}
			agent.Cleanup = nil
			return true, nil
		})
		if err != nil {
			return err
		}
		if cancelled {
			s.observer.CleanupCancelled()
		}
	}
	return nil
}

// cleanupCancelled reports whether the remove-ownership setting was switched
// off after the cleanup was armed and before it came due.
func cleanupCancelled(c LogoutCleanup, st Settings) bool {
	return st.SwitchedOffCount != c.SettingsSwitchedOffCount && !st.SwitchedOffAt.After(c.DueAt)
}

// RunLogoutCleanup performs an agent's due logout cleanup: every
// conversation in NEW that the agent owns since before going offline becomes
// unowned (LOGOUT_CLEANUP, by the system). It returns how many it released.
// Calling it again, or on another instance at the same time, releases
// nothing twice.
func (s *Service) RunLogoutCleanup(ctx context.Context, ws, agentID string) (int, error) {
	agent, err := s.agent(ctx, ws, agentID)
	if err != nil || agent == nil || agent.Cleanup == nil {
		return 0, err
	}
	c := *agent.Cleanup
	if s.now().Before(c.DueAt) {
		return 0, nil
	}
	settings, err := s.store.GetSettings(ctx, ws)
	if err != nil {
		return 0, internal(err)
	}
	released := 0
	cancelled := cleanupCancelled(c, settings)
	if !cancelled {
		if err := s.claimCleanup(ctx, ws, agentID, c.Epoch); err != nil {
			if errors.Is(err, errClaimed) {
				return 0, nil
			}
			return 0, err
		}
		if released, err = s.releaseForCleanup(ctx, ws, agentID, c.Epoch); err != nil {
			return released, err
		}
	}
	_, finished, err := s.updateAgent(ctx, ws, agentID, func(agent *Agent, _ time.Time) (bool, error) {
		if agent.Cleanup == nil || agent.Cleanup.Epoch != c.Epoch {
			return false, nil
		}
		agent.Cleanup = nil
		return true, nil
	})
	switch {
	case err != nil || !finished:
	case cancelled:
		s.observer.CleanupCancelled()
	default:
		s.observer.CleanupDone(s.now().Sub(c.DueAt), released)
	}
	return released, err
}

// claimCleanup makes this instance the one performing a cleanup, or renews
// its claim; errClaimed if another instance holds a live claim.
func (s *Service) claimCleanup(ctx context.Context, ws, agentID string, epoch int64) error {
	_, claimed, err := s.updateAgent(ctx, ws, agentID, func(agent *Agent, now time.Time) (bool, error) {
		c := agent.Cleanup
		if c == nil || c.Epoch != epoch {
			return false, nil
		}
		if c.ClaimedBy != s.instance && now.Before(c.ClaimedUntil) {
			return false, errClaimed
		}
		next := *c
		next.ClaimedBy, next.ClaimedUntil = s.instance, now.Add(claimLease)
		agent.Cleanup = &next
		return true, nil
	})
	if err == nil && !claimed {
		// Done or cancelled in between: nothing left to do.
		return errClaimed
	}
	return err
}

// releaseForCleanup releases the agent's NEW conversations assigned before
// the offline epoch. A long cleanup renews its claim between pages once
// half its lease has passed.
func (s *Service) releaseForCleanup(ctx context.Context, ws, agentID string, epoch int64) (int, error) {
	q := OwnedQuery{WorkspaceID: ws, OwnerID: agentID, Statuses: []QueueStatus{StatusNew}}
	claimed := s.now()
	return s.releaseOwned(ctx, q, func(c Conversation, now time.Time) *plan {
		return ruleLogoutCleanup(c, agentID, epoch, now)
	}, func() error {
		if now := s.now(); now.Sub(claimed) >= claimLease/2 {
			claimed = now
			return s.claimCleanup(ctx, ws, agentID, epoch)
		}
		return nil
	})
}

// releaseOwned applies rule to each conversation q finds, page by page in id
// order, and runs between (if set) between full pages. A page's changes are
// written in one store call (UpdateConversations), each conditional on the
// state the page was read in, with its own history entry and event; a
// conversation whose write lost a race is read again and decided afresh,
// alone. It returns how many conversations the rule changed.
func (s *Service) releaseOwned(ctx context.Context, q OwnedQuery, rule func(Conversation, time.Time) *plan, between func() error) (int, error) {
	q.Limit = releasePage
	released := 0
	for {
		convs, err := s.store.OwnedConversations(ctx, q)
		if err != nil {
			return released, internal(err)
		}
		now := s.now()
		var writes []ConversationWrite
		for _, c := range convs {
			if p := rule(c, now); p.changed() {
				writes = append(writes, p.write())
			}
		}
		if len(writes) > 0 {
			errs, err := s.store.UpdateConversations(ctx, writes)
			if err != nil {
				return released, internal(err)
			}
			for i, err := range errs {
				switch {
				case err == nil:
					released++
				case errors.Is(err, ErrVersionConflict):
					c := writes[i].Conversation
					changed, err := s.changeFrom(ctx, c.WorkspaceID, c.ID, rule)
					if err != nil {
						return released, err
					}
					if changed {
						released++
					}
				default:
					return released, internal(err)
				}
			}
		}
		if len(convs) < releasePage {
			return released, nil
		}
		q.AfterID = convs[len(convs)-1].ID
		if between != nil {
			if err := between(); err != nil {
				return released, err
			}
		}
	}
}

// changeFrom reads a conversation and applies rule to it, deciding afresh
// after every lost race. It reports whether it changed anything.
func (s *Service) changeFrom(ctx context.Context, ws, id string, rule func(Conversation, time.Time) *plan) (bool, error) {
	return run(ctx, s, command[*Conversation, bool]{
		load: func(ctx context.Context, _ time.Time) (*Conversation, error) {
			return s.conversation(ctx, ws, id)
		},
		decide: func(cur *Conversation, now time.Time) (decision[bool], error) {
			if cur == nil {
				return done(false), nil // gone: nothing to change
			}
			return s.planChanged(rule(*cur, now)), nil
		},
	})
}

// FireBoomerang brings a PENDING conversation back to NEW if its boomerang,
// scheduled for at, is due and still the one scheduled: a move, a resolve or
// a new boomerang in between cancels it; a message or a new owner does not.
// While its owner is OFFLINE with remove-ownership on, it is released at once
// (BOOMERANG_WHILE_OFFLINE). It reports whether it fired.
func (s *Service) FireBoomerang(ctx context.Context, ws, conversationID string, at time.Time) (bool, error) {
	type loaded struct {
		c        *Conversation
		owner    *Agent
		settings Settings
	}
	due := func(c Conversation, now time.Time) bool {
		return c.Status == StatusPending && c.BoomerangAt != nil && c.BoomerangAt.Equal(at) && !now.Before(at)
	}
	var offline offlineRuleInputs
	fired, err := run(ctx, s, command[loaded, bool]{
		load: func(ctx context.Context, now time.Time) (l loaded, err error) {
			if l.c, err = s.conversation(ctx, ws, conversationID); err != nil || l.c == nil {
				return l, err
			}
			l.settings = DefaultSettings(ws)
			if due(*l.c, now) && l.c.OwnerID != "" {
				l.owner, l.settings, err = offline.load(ctx, s, ws, l.c.OwnerID)
			}
			return l, err
		},
		decide: func(l loaded, now time.Time) (decision[bool], error) {
			if l.c == nil || !due(*l.c, now) {
				return done(false), nil
			}
			return s.planChanged(ruleBoomerang(*l.c, l.owner, l.settings, now)), nil
		},
	})
	if fired && err == nil {
		s.observer.BoomerangFired(s.now().Sub(at))
	}
	return fired, err
}

// offlineRuleInputs loads what the rules for a conversation whose owner may
// be OFFLINE (an inbound message, a boomerang) decide on: the workspace's
// settings and, when remove-ownership-on-logout is on, the owner. A command
// reads the settings once, however many attempts it takes: they may change
// right after any read, so reading them again would close no window.
type offlineRuleInputs struct {
	settings *Settings
}

func (o *offlineRuleInputs) load(ctx context.Context, s *Service, ws, ownerID string) (*Agent, Settings, error) {
	if o.settings == nil {
		st, err := s.store.GetSettings(ctx, ws)
		if err != nil {
			return nil, Settings{}, internal(err)
		}
		o.settings = &st
	}
	if !o.settings.RemoveOwnershipOnLogout {
		return nil, *o.settings, nil
	}
	owner, err := s.agent(ctx, ws, ownerID)
	return owner, *o.settings, err
}
