package domain

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"
)

// Me returns the caller's agent record.
func (s *Service) Me(ctx context.Context, a Actor) (Agent, error) {
	if err := requireAgent(a); err != nil {
		return Agent{}, Forbidden("integrations are not agents")
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
	return s.updateAgent(ctx, a.WorkspaceID, a.ID, func(agent *Agent, now time.Time) (bool, error) {
		if !agent.Active {
			return false, Forbidden("this agent is deactivated")
		}
		return s.applyPresence(ctx, agent, p, now)
	})
}

// Logout makes the caller OFFLINE at once.
func (s *Service) Logout(ctx context.Context, a Actor) (Agent, error) {
	return s.SetPresence(ctx, a, Offline)
}

// applyPresence changes agent's presence as of at; it reports whether
// anything changed.
func (s *Service) applyPresence(ctx context.Context, agent *Agent, p Presence, at time.Time) (bool, error) {
	if agent.Presence == p {
		return false, nil
	}
	if p == Offline {
		settings, err := s.store.GetSettings(ctx, agent.WorkspaceID)
		if err != nil {
			return false, internal(err)
		}
		goOffline(agent, settings, at)
		return true, nil
	}
	agent.Presence, agent.PresenceSince = p, at
	// Coming back before the cleanup is due cancels it; after, it only
	// finds the conversations assigned before the agent went offline.
	if agent.Cleanup != nil && at.Before(agent.Cleanup.DueAt) {
		agent.Cleanup = nil
	}
	return true, nil
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

// updateAgent applies edit to an agent record and writes it conditionally,
// again on a lost race. edit reports whether it changed anything.
func (s *Service) updateAgent(ctx context.Context, ws, id string, edit func(*Agent, time.Time) (bool, error)) (Agent, error) {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		agent, err := s.agent(ctx, ws, id)
		if err != nil {
			return Agent{}, err
		}
		if agent == nil {
			return Agent{}, NotFound("agent")
		}
		next := *agent
		now := s.now()
		changed, err := edit(&next, now)
		if err != nil || !changed {
			return *agent, err
		}
		next.Version, next.UpdatedAt = agent.Version+1, now
		err = s.store.UpdateAgent(ctx, next)
		if errors.Is(err, ErrVersionConflict) {
			continue
		}
		return next, internal(err)
	}
	return Agent{}, tooBusy()
}

// AgentInput creates or changes an agent ahead of (or after) their login.
type AgentInput struct {
	ID     string
	Name   string
	Email  string
	Role   Role
	Active *bool
}

// UpsertAgent creates or changes an agent (admin only). Deactivating an
// agent makes them OFFLINE and releases their NEW and PENDING conversations,
// with the admin as actor.
func (s *Service) UpsertAgent(ctx context.Context, a Actor, in AgentInput) (Agent, error) {
	if err := requireAdmin(a); err != nil {
		return Agent{}, err
	}
	in.Name = strings.TrimSpace(in.Name)
	switch {
	case !validID(in.ID):
		return Agent{}, Invalid("input.id", "id must be 1 to %d printable bytes", MaxIDLength)
	case in.Name == "" || utf8.RuneCountInString(in.Name) > MaxNameLength:
		return Agent{}, Invalid("input.name", "name must be 1 to %d characters", MaxNameLength)
	case len(in.Email) > MaxEmailLength:
		return Agent{}, Invalid("input.email", "email must be at most %d bytes", MaxEmailLength)
	case !in.Role.IsAgent():
		return Agent{}, Invalid("input.role", "role must be AGENT or ADMIN: integrations are not agents")
	case in.Active != nil && !*in.Active && in.ID == a.ID:
		return Agent{}, Invalid("input.active", "you cannot deactivate yourself")
	}
	ws := a.WorkspaceID
	for attempt := 0; attempt < maxAttempts; attempt++ {
		existing, err := s.agent(ctx, ws, in.ID)
		if err != nil {
			return Agent{}, err
		}
		if existing != nil {
			break
		}
		now := s.now()
		agent := Agent{
			WorkspaceID: ws, ID: in.ID, Name: in.Name, Email: in.Email, Role: in.Role,
			Active: in.Active == nil || *in.Active, Presence: Offline, PresenceSince: now,
			CreatedAt: now, UpdatedAt: now, Version: 1,
		}
		err = s.store.InsertAgent(ctx, agent)
		if errors.Is(err, ErrDuplicate) {
			continue
		}
		return agent, internal(err)
	}
	agent, err := s.updateAgent(ctx, ws, in.ID, func(agent *Agent, now time.Time) (bool, error) {
		changed := agent.Name != in.Name || agent.Email != in.Email || agent.Role != in.Role
		agent.Name, agent.Email, agent.Role = in.Name, in.Email, in.Role
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

// releaseAll leaves every NEW and PENDING conversation of a deactivated agent
// unowned, each by its own conditional write.
func (s *Service) releaseAll(ctx context.Context, agent Agent, actorID string) error {
	after := ""
	for {
		convs, err := s.store.OwnedConversations(ctx, OwnedQuery{
			WorkspaceID: agent.WorkspaceID, OwnerID: agent.ID,
			Statuses: []QueueStatus{StatusNew, StatusPending}, AfterID: after, Limit: 200,
		})
		if err != nil {
			return internal(err)
		}
		for _, c := range convs {
			_, err := s.changeFrom(ctx, c, func(c Conversation, now time.Time) (*plan, error) {
				return ruleReleaseDeactivated(c, agent.ID, actorID, now), nil
			})
			if err != nil {
				return err
			}
			after = c.ID
		}
		if len(convs) < 200 {
			return nil
		}
	}
}
