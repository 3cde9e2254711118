package domain

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"
)

// Settings returns the workspace's settings.
func (s *Service) Settings(ctx context.Context, a Actor) (Settings, error) {
	if err := requireAgent(a); err != nil {
		return Settings{}, err
	}
	st, err := s.store.GetSettings(ctx, a.WorkspaceID)
	return st, internal(err)
}

// SettingsPatch changes some settings; nil fields stay as they are.
type SettingsPatch struct {
	RemoveOwnershipOnLogout *bool
	LogoutGraceSeconds      *int
	Routing                 RoutingPatch
}

// RoutingPatch changes some routing settings; nil fields stay as they are.
type RoutingPatch struct {
	Mode              *RoutingMode
	DefaultCapacity   *int
	UnansweredSeconds *int
	PreferLastOwner   *bool
}

func (p RoutingPatch) validate() error {
	if m := p.Mode; m != nil && !m.Valid() {
		return Invalid("input.routing.mode", "mode must be OFF, ROUND_ROBIN or BALANCED")
	}
	if c := p.DefaultCapacity; c != nil && (*c < MinCapacity || *c > MaxCapacity) {
		return Invalid("input.routing.defaultCapacity", "defaultCapacity must be %d to %d", MinCapacity, MaxCapacity)
	}
	if u := p.UnansweredSeconds; u != nil && *u != 0 && (*u < MinUnansweredSeconds || *u > MaxUnansweredSeconds) {
		return Invalid("input.routing.unansweredSeconds", "unansweredSeconds must be 0 (never) or %d to %d",
			MinUnansweredSeconds, MaxUnansweredSeconds)
	}
	return nil
}

// UpdateSettings changes the workspace's settings (admin only). Switching
// remove-ownership-on-logout off cancels every pending logout cleanup.
func (s *Service) UpdateSettings(ctx context.Context, a Actor, p SettingsPatch) (Settings, error) {
	if err := requireAdmin(a); err != nil {
		return Settings{}, err
	}
	if g := p.LogoutGraceSeconds; g != nil && (*g < 0 || *g > MaxLogoutGraceSeconds) {
		return Settings{}, Invalid("input.logoutGraceSeconds", "logoutGraceSeconds must be 0 to %d", MaxLogoutGraceSeconds)
	}
	if err := p.Routing.validate(); err != nil {
		return Settings{}, err
	}
	ws := a.WorkspaceID
	type saved struct {
		settings    Settings
		switchedOff bool // remove-ownership-on-logout went from on to off
	}
	r, err := run(ctx, s, command[Settings, saved]{
		load: func(ctx context.Context, _ time.Time) (Settings, error) {
			cur, err := s.store.GetSettings(ctx, ws)
			return cur, internal(err)
		},
		decide: func(cur Settings, now time.Time) (decision[saved], error) {
			next := p.applied(cur, now)
			if next == cur {
				return done(saved{settings: cur}), nil
			}
			next.Version, next.UpdatedAt = cur.Version+1, now
			return writing(saved{settings: next, switchedOff: next.SwitchedOffCount != cur.SwitchedOffCount},
				func(ctx context.Context) error { return s.store.SaveSettings(ctx, next) }, ErrVersionConflict), nil
		},
	})
	if err != nil {
		return Settings{}, err
	}
	if r.switchedOff {
		if err := s.cancelPendingCleanups(ctx, ws, r.settings.SwitchedOffAt); err != nil {
			return Settings{}, err
		}
	}
	if r.settings.Routing.Mode != RoutingOff {
		// Switched on, or routing that may now give more: fill the room.
		s.routeSoon(ws)
	}
	return r.settings, nil
}

// applied returns cur with the patch applied as of now; switching
// remove-ownership-on-logout off is counted and dated, for the cleanups it
// cancels.
func (p SettingsPatch) applied(cur Settings, now time.Time) Settings {
	next := cur
	if p.RemoveOwnershipOnLogout != nil {
		if cur.RemoveOwnershipOnLogout && !*p.RemoveOwnershipOnLogout {
			next.SwitchedOffCount++
			next.SwitchedOffAt = now
		}
		next.RemoveOwnershipOnLogout = *p.RemoveOwnershipOnLogout
	}
	if p.LogoutGraceSeconds != nil {
		next.LogoutGraceSeconds = *p.LogoutGraceSeconds
	}
	r := p.Routing
	if r.Mode != nil {
		next.Routing.Mode = *r.Mode
	}
	if r.DefaultCapacity != nil {
		next.Routing.DefaultCapacity = *r.DefaultCapacity
	}
	if r.UnansweredSeconds != nil {
		next.Routing.UnansweredSeconds = *r.UnansweredSeconds
	}
	if r.PreferLastOwner != nil {
		next.Routing.PreferLastOwner = *r.PreferLastOwner
	}
	return next
}

// Channels lists the workspace's channels.
func (s *Service) Channels(ctx context.Context, a Actor) ([]Channel, error) {
	if err := requireAgent(a); err != nil {
		return nil, err
	}
	chs, err := s.store.ListChannels(ctx, a.WorkspaceID)
	return chs, internal(err)
}

// CreateChannel adds a channel (admin only); names are unique per workspace.
func (s *Service) CreateChannel(ctx context.Context, a Actor, name string) (Channel, error) {
	if err := requireAdmin(a); err != nil {
		return Channel{}, err
	}
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > MaxNameLength {
		return Channel{}, Invalid("input.name", "name must be 1 to %d characters", MaxNameLength)
	}
	ch := Channel{WorkspaceID: a.WorkspaceID, ID: RandomID("ch_"), Name: name, CreatedAt: s.now()}
	err := s.store.InsertChannel(ctx, ch)
	if errors.Is(err, ErrDuplicate) {
		return Channel{}, Invalid("input.name", "a channel with this name exists")
	}
	return ch, internal(err)
}

// SetAutoOwnership turns auto-ownership on or off for one agent on one
// channel (admin only). An unknown agent is BAD_USER_INPUT, as an agent an
// input refers to is.
func (s *Service) SetAutoOwnership(ctx context.Context, a Actor, channelID, agentID string, enabled bool) (Channel, error) {
	unknown := Invalid("input.agentId", "agentId is not an active agent of this workspace")
	return s.setChannelAgent(ctx, a, channelID, agentID, enabled, unknown, s.store.SetAutoOwnership)
}

// SetRoutingAgent names or unnames an agent as a routing agent of one
// channel (admin only). An unknown agent, or one of another workspace, is
// NOT_FOUND (issue 18 asks it). Naming one may open room: routing runs.
func (s *Service) SetRoutingAgent(ctx context.Context, a Actor, channelID, agentID string, enabled bool) (Channel, error) {
	ch, err := s.setChannelAgent(ctx, a, channelID, agentID, enabled, NotFound("agent"), s.store.SetRoutingAgent)
	if err == nil && enabled {
		s.routeSoon(a.WorkspaceID)
	}
	return ch, err
}

// setChannelAgent checks an admin's change to one of a channel's lists of
// agents (the channel of the workspace, else NOT_FOUND; the agent known,
// else unknownAgent; active when named, else BAD_USER_INPUT), makes it with
// set, and returns the channel as it leaves it.
func (s *Service) setChannelAgent(ctx context.Context, a Actor, channelID, agentID string, enabled bool, unknownAgent error,
	set func(ctx context.Context, workspaceID, channelID, agentID string, enabled bool) error) (Channel, error) {
	if err := requireAdmin(a); err != nil {
		return Channel{}, err
	}
	ch, err := s.channel(ctx, a.WorkspaceID, channelID)
	if err != nil {
		return Channel{}, err
	}
	if ch == nil {
		return Channel{}, NotFound("channel")
	}
	agent, err := s.agent(ctx, a.WorkspaceID, agentID)
	if err != nil {
		return Channel{}, err
	}
	if agent == nil {
		return Channel{}, unknownAgent
	}
	if enabled && !agent.Active {
		return Channel{}, Invalid("input.agentId", "agentId is not an active agent of this workspace")
	}
	if err := set(ctx, a.WorkspaceID, channelID, agentID, enabled); err != nil {
		if errors.Is(err, ErrNotFound) {
			return Channel{}, NotFound("channel")
		}
		return Channel{}, internal(err)
	}
	ch, err = s.channel(ctx, a.WorkspaceID, channelID)
	if err != nil || ch == nil {
		return Channel{}, internal(errors.Join(err, errors.New("channel vanished")))
	}
	return *ch, nil
}
