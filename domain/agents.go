package domain

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// Me returns the caller's agent record.
func (s *Service) Me(ctx context.Context, a Actor) (Agent, error) {
	if err := requireAgent(a); err != nil {
		return Agent{}, Forbidden("integrations are not agents")
	}
	if agent := agentFromContext(ctx, a); agent != nil {
		return *agent, nil
	}
	agent, err := s.agent(ctx, a.WorkspaceID, a.ID)
	if err != nil {
		return Agent{}, err
	}
	if agent == nil {
		// Authenticate provisions every agent, so this is only reached if the
		// record went away in between.
		return Agent{}, NotFound("agent")
	}
	return *agent, nil
}

// Agents lists the workspace's agents, active ones unless includeInactive.
func (s *Service) Agents(ctx context.Context, a Actor, presence []Presence, includeInactive bool) ([]Agent, error) {
	if err := requireAgent(a); err != nil {
		return nil, err
	}
	agents, err := s.store.ListAgents(ctx, a.WorkspaceID, AgentFilter{Presence: presence, IncludeInactive: includeInactive})
	return agents, internal(err)
}

// SetPresence sets the caller's presence. Going OFFLINE arms the logout
// cleanup when the workspace's remove-ownership setting is on; coming back
// cancels a pending one.
func (s *Service) SetPresence(ctx context.Context, a Actor, p Presence) (Agent, error) {
	if err := requireAgent(a); err != nil {
		return Agent{}, err
	}
	if !p.Valid() {
		return Agent{}, Invalid("presence", "unknown presence")
	}
	return s.setPresenceOf(ctx, a.WorkspaceID, a.ID, p, Forbidden("this agent is deactivated"))
}

// SetAgentPresence sets another agent's presence (admin only), exactly as
// SetPresence would for them: OFFLINE is going offline, as a logout is.
func (s *Service) SetAgentPresence(ctx context.Context, a Actor, agentID string, p Presence) (Agent, error) {
	if err := requireAdmin(a); err != nil {
		return Agent{}, err
	}
	if !p.Valid() {
		return Agent{}, Invalid("presence", "unknown presence")
	}
	agent, err := s.agent(ctx, a.WorkspaceID, agentID)
	if err != nil {
		return Agent{}, err
	}
	if agent == nil {
		return Agent{}, NotFound("agent")
	}
	return s.setPresenceOf(ctx, a.WorkspaceID, agentID, p, Invalid("agentId", "agentId is not an active agent"))
}

// setPresenceOf sets an agent's presence; inactive is the answer when the
// agent is deactivated.
func (s *Service) setPresenceOf(ctx context.Context, ws, id string, p Presence, inactive error) (Agent, error) {
	if p == Offline {
		return s.takeOffline(ctx, ws, id, func(agent Agent, now time.Time) (time.Time, bool, error) {
			if !agent.Active {
				return now, false, inactive
			}
			return now, agent.Presence != Offline, nil
		})
	}
	agent, _, err := s.updateAgent(ctx, ws, id, func(agent *Agent, now time.Time) (bool, error) {
		if !agent.Active {
			return false, inactive
		}
		return setPresent(agent, p, now), nil
	})
	return agent, err
}

// Logout makes the caller OFFLINE at once.
func (s *Service) Logout(ctx context.Context, a Actor) (Agent, error) {
	return s.SetPresence(ctx, a, Offline)
}

// setPresent makes agent ONLINE or AWAY (p) as of at; it reports whether
// anything changed.
func setPresent(agent *Agent, p Presence, at time.Time) bool {
	if agent.Presence == p {
		return false
	}
	agent.Presence, agent.PresenceSince = p, at
	// Coming back before the cleanup is due cancels it; after, it only
	// finds the conversations assigned before the agent went offline.
	if agent.Cleanup != nil && at.Before(agent.Cleanup.DueAt) {
		agent.Cleanup = nil
	}
	return true
}

// goOffline makes agent OFFLINE as of at: a new offline epoch, and a logout
// cleanup due at + the grace when the remove-ownership setting is on.
func goOffline(agent *Agent, settings Settings, at time.Time) {
	agent.Presence, agent.PresenceSince = Offline, at
	agent.OfflineEpoch++
	agent.Cleanup = nil
	if settings.RemoveOwnershipOnLogout {
		agent.Cleanup = &LogoutCleanup{
			Epoch:                    agent.OfflineEpoch,
			DueAt:                    at.Add(time.Duration(settings.LogoutGraceSeconds) * time.Second),
			SettingsSwitchedOffCount: settings.SwitchedOffCount,
		}
	}
}

// agentResult is an agent record as a command left it, and whether the
// command changed it.
type agentResult struct {
	agent   Agent
	changed bool
}

// updateAgent applies edit to an agent record as loaded and writes it
// conditionally. edit reports whether it changed anything; so does
// updateAgent, for the attempt that decided.
func (s *Service) updateAgent(ctx context.Context, ws, id string, edit func(*Agent, time.Time) (bool, error)) (Agent, bool, error) {
	r, err := run(ctx, s, command[Agent, agentResult]{
		load: func(ctx context.Context, _ time.Time) (Agent, error) {
			return s.existingAgent(ctx, ws, id)
		},
		decide: func(agent Agent, now time.Time) (d decision[agentResult], err error) {
			next := agent
			changed, err := edit(&next, now)
			if err != nil {
				return d, err
			}
			return s.agentEdited(agent, next, changed, now), nil
		},
	})
	return r.agent, r.changed, err
}

// takeOffline makes an agent OFFLINE if goes decides so, on the record as
// loaded, and as of the time goes returns. Only then are the workspace's
// settings read: they decide whether going offline arms a logout cleanup.
func (s *Service) takeOffline(ctx context.Context, ws, id string, goes func(Agent, time.Time) (time.Time, bool, error)) (Agent, error) {
	type loaded struct {
		agent    Agent
		goes     bool
		at       time.Time
		settings Settings
	}
	r, err := run(ctx, s, command[loaded, agentResult]{
		load: func(ctx context.Context, now time.Time) (l loaded, err error) {
			if l.agent, err = s.existingAgent(ctx, ws, id); err != nil {
				return l, err
			}
			if l.at, l.goes, err = goes(l.agent, now); err != nil || !l.goes {
				return l, err
			}
			l.settings, err = s.store.GetSettings(ctx, ws)
			return l, internal(err)
		},
		decide: func(l loaded, now time.Time) (decision[agentResult], error) {
			next := l.agent
			if l.goes {
				goOffline(&next, l.settings, l.at)
			}
			return s.agentEdited(l.agent, next, l.goes, now), nil
		},
	})
	return r.agent, err
}

// agentEdited decides to write next, an edit of agent, at the next version;
// nothing when the edit changed nothing. A version conflict is a lost race.
func (s *Service) agentEdited(agent, next Agent, changed bool, now time.Time) decision[agentResult] {
	if !changed {
		return done(agentResult{agent: agent})
	}
	next.Version, next.UpdatedAt = agent.Version+1, now
	return writing(agentResult{agent: next, changed: true}, s.updateAgentRecord(next), ErrVersionConflict)
}

// existingAgent loads an agent; NotFound if there is none.
func (s *Service) existingAgent(ctx context.Context, ws, id string) (Agent, error) {
	agent, err := s.agent(ctx, ws, id)
	if err != nil {
		return Agent{}, err
	}
	if agent == nil {
		return Agent{}, NotFound("agent")
	}
	return *agent, nil
}

// The writes of agent records, for decisions.

func (s *Service) insertAgent(a Agent) func(context.Context) error {
	return func(ctx context.Context) error { return s.store.InsertAgent(ctx, a) }
}

func (s *Service) updateAgentRecord(a Agent) func(context.Context) error {
	return func(ctx context.Context) error { return s.store.UpdateAgent(ctx, a) }
}

// AgentInput creates or changes an agent ahead of (or after) their login.
type AgentInput struct {
	ID     string
	Name   string
	Email  string
	Role   Role
	Active *bool
	// CapacityGiven is false when the input left capacity out (it stays
	// as it is); Capacity nil then returns to the workspace default.
	CapacityGiven bool
	Capacity      *int
}

// UpsertAgent creates or changes an agent (admin only). Deactivating an
// agent makes them OFFLINE and releases their NEW and PENDING conversations,
// with the admin as actor.
func (s *Service) UpsertAgent(ctx context.Context, a Actor, in AgentInput) (Agent, error) {
	if err := requireAdmin(a); err != nil {
		return Agent{}, err
	}
	in.Name = strings.TrimSpace(in.Name)
	if err := validAgentInput(a, in); err != nil {
		return Agent{}, err
	}
	ws := a.WorkspaceID
	created, err := s.createAgent(ctx, ws, in)
	if err != nil {
		return Agent{}, err
	}
	if created != nil {
		return *created, nil
	}
	agent, _, err := s.updateAgent(ctx, ws, in.ID, func(agent *Agent, now time.Time) (bool, error) {
		changed := agent.Name != in.Name || agent.Email != in.Email || agent.Role != in.Role
		agent.Name, agent.Email, agent.Role = in.Name, in.Email, in.Role
		if in.CapacityGiven && !intPtrEqual(agent.Capacity, in.Capacity) {
			changed = true
			agent.Capacity = cloneInt(in.Capacity)
		}
		if in.Active != nil && *in.Active != agent.Active {
			changed = true
			agent.Active = *in.Active
			if !agent.Active && agent.Presence != Offline {
				agent.Presence, agent.PresenceSince = Offline, now
				agent.OfflineEpoch++
			}
			// A deactivated agent's conversations are released right below,
			// so no logout cleanup is needed.
			agent.Cleanup = nil
		}
		return changed, nil
	})
	if err != nil {
		return Agent{}, err
	}
	if !agent.Active {
		// Also when the agent was already inactive: running it again finishes
		// a release that an earlier attempt left half done.
		if err := s.releaseAll(ctx, agent, a.ID); err != nil {
			return Agent{}, err
		}
	}
	return agent, nil
}

// createAgent creates the agent in describes unless it exists; it returns
// the agent created, or nil if there was one.
func (s *Service) createAgent(ctx context.Context, ws string, in AgentInput) (*Agent, error) {
	return run(ctx, s, command[*Agent, *Agent]{
		load: func(ctx context.Context, _ time.Time) (*Agent, error) {
			return s.agent(ctx, ws, in.ID)
		},
		decide: func(existing *Agent, now time.Time) (decision[*Agent], error) {
			if existing != nil {
				return done[*Agent](nil), nil // UpsertAgent changes it
			}
			agent := &Agent{
				WorkspaceID: ws, ID: in.ID, Name: in.Name, Email: in.Email, Role: in.Role,
				Active: in.Active == nil || *in.Active, Presence: Offline, PresenceSince: now,
				CreatedAt: now, UpdatedAt: now, Version: 1, Capacity: cloneInt(in.Capacity),
			}
			// Created by another request meanwhile: change it instead.
			return writing(agent, s.insertAgent(*agent), ErrDuplicate), nil
		},
	})
}

// validAgentInput checks an admin's agent input, its name already trimmed.
func validAgentInput(a Actor, in AgentInput) error {
	switch {
	case !validID(in.ID):
		return Invalid("input.id", "id must be 1 to %d printable bytes", MaxIDLength)
	case in.Name == "" || utf8.RuneCountInString(in.Name) > MaxNameLength:
		return Invalid("input.name", "name must be 1 to %d characters", MaxNameLength)
	case len(in.Email) > MaxEmailLength:
		return Invalid("input.email", "email must be at most %d bytes", MaxEmailLength)
	case !in.Role.IsAgent():
		return Invalid("input.role", "role must be AGENT or ADMIN: integrations are not agents")
	case in.Active != nil && !*in.Active && in.ID == a.ID:
		return Invalid("input.active", "you cannot deactivate yourself")
	case in.Capacity != nil && (*in.Capacity < MinCapacity || *in.Capacity > MaxCapacity):
		return Invalid("input.capacity", "capacity must be %d to %d, or null for the workspace default", MinCapacity, MaxCapacity)
	}
	return nil
}

func intPtrEqual(a, b *int) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func cloneInt(p *int) *int {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// releaseAll leaves every NEW and PENDING conversation of a deactivated agent
// unowned, each by its own conditional write.
func (s *Service) releaseAll(ctx context.Context, agent Agent, actorID string) error {
	q := OwnedQuery{WorkspaceID: agent.WorkspaceID, OwnerID: agent.ID, Statuses: []QueueStatus{StatusNew, StatusPending}}
	_, err := s.releaseOwned(ctx, q, func(c Conversation, now time.Time) *plan {
		return ruleReleaseDeactivated(c, agent.ID, actorID, now)
	}, nil)
	return err
}
