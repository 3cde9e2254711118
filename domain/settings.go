package domain

import (
	"context"
	"errors"
	"strings"
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
	for attempt := 0; attempt < maxAttempts; attempt++ {
		cur, err := s.store.GetSettings(ctx, a.WorkspaceID)
		if err != nil {
			return Settings{}, internal(err)
		}
		next := cur
		if p.RemoveOwnershipOnLogout != nil {
			if cur.RemoveOwnershipOnLogout && !*p.RemoveOwnershipOnLogout {
				next.SwitchedOffCount++
				next.SwitchedOffAt = s.now()
			}
			next.RemoveOwnershipOnLogout = *p.RemoveOwnershipOnLogout
		}
		if p.LogoutGraceSeconds != nil {
			next.LogoutGraceSeconds = *p.LogoutGraceSeconds
		}
		if next == cur {
			return cur, nil
		}
		next.Version, next.UpdatedAt = cur.Version+1, s.now()
		err = s.store.SaveSettings(ctx, next)
		if errors.Is(err, ErrVersionConflict) {
			continue
		}
		if err != nil {
			return Settings{}, internal(err)
		}
		if next.SwitchedOffCount != cur.SwitchedOffCount {
			if err := s.cancelPendingCleanups(ctx, a.WorkspaceID, next.SwitchedOffAt); err != nil {
				return Settings{}, err
			}
		}
		return next, nil
	}
	return Settings{}, tooBusy()
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
// channel (admin only).
func (s *Service) SetAutoOwnership(ctx context.Context, a Actor, channelID, agentID string, enabled bool) (Channel, error) {
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
	if agent == nil || (enabled && !agent.Active) {
		return Channel{}, Invalid("input.agentId", "agentId is not an active agent of this workspace")
	}
	if err := s.store.SetAutoOwnership(ctx, a.WorkspaceID, channelID, agentID, enabled); err != nil {
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
