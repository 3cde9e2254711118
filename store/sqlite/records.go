package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"switchboard/domain"
)

// Settings.

// GetSettings returns the workspace's settings, the defaults if it never saved any.
func (s *Store) GetSettings(ctx context.Context, workspaceID string) (domain.Settings, error) {
	st := domain.Settings{WorkspaceID: workspaceID}
	var updated, switchedOff int64
	r := &st.Routing
	err := s.queryRow(ctx, nil, `
		SELECT remove_ownership_on_logout, logout_grace_seconds, switched_off_count, switched_off_at, version, updated_at,
			routing_mode, routing_default_capacity, routing_unanswered_seconds, routing_prefer_last_owner
		FROM settings WHERE workspace_id = ?`, workspaceID,
	).Scan(&st.RemoveOwnershipOnLogout, &st.LogoutGraceSeconds, &st.SwitchedOffCount, &switchedOff, &st.Version, &updated,
		&r.Mode, &r.DefaultCapacity, &r.UnansweredSeconds, &r.PreferLastOwner)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.DefaultSettings(workspaceID), nil
	}
	if err != nil {
		return domain.Settings{}, failed("get settings", err)
	}
	st.UpdatedAt, st.SwitchedOffAt = fromMillis(updated), fromMillisOrZero(switchedOff)
	return st, nil
}

// SaveSettings writes st if the stored version is st.Version-1.
func (s *Store) SaveSettings(ctx context.Context, st domain.Settings) error {
	return s.write(ctx, "save settings", func(tx *sql.Tx) (*domain.Event, error) {
		r := st.Routing
		if r.Mode == "" {
			r = domain.DefaultRoutingSettings()
		}
		args := []any{st.RemoveOwnershipOnLogout, st.LogoutGraceSeconds, st.SwitchedOffCount, millisOrZero(st.SwitchedOffAt),
			string(r.Mode), r.DefaultCapacity, r.UnansweredSeconds, r.PreferLastOwner,
			st.Version, millis(st.UpdatedAt), st.WorkspaceID}
		var res sql.Result
		var err error
		if st.Version == 1 {
			// Version 1 is the first save: none stored counts as version 0.
			res, err = s.exec(ctx, tx, `
				INSERT INTO settings (remove_ownership_on_logout, logout_grace_seconds, switched_off_count, switched_off_at,
					routing_mode, routing_default_capacity, routing_unanswered_seconds, routing_prefer_last_owner,
					version, updated_at, workspace_id)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, args...)
		} else {
			res, err = s.exec(ctx, tx, `
				UPDATE settings SET remove_ownership_on_logout = ?, logout_grace_seconds = ?, switched_off_count = ?, switched_off_at = ?,
					routing_mode = ?, routing_default_capacity = ?, routing_unanswered_seconds = ?, routing_prefer_last_owner = ?,
					version = ?, updated_at = ?
				WHERE workspace_id = ? AND version = ?`, append(args, st.Version-1)...)
		}
		return nil, oneRow(res, err, domain.ErrVersionConflict)
	})
}

// oneRow turns a write that changed no row into ifNone.
func oneRow(res sql.Result, err error, ifNone error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ifNone
	}
	return nil
}

// Agents.

const agentCols = `workspace_id, id, name, email, role, active, presence, presence_since, offline_epoch, last_seen_at,
	cleanup_epoch, cleanup_due_at, cleanup_switched_off_count, cleanup_claimed_by, cleanup_claimed_until, created_at, updated_at, version,
	capacity, last_routed_at`

func scanAgent(row scanner) (*domain.Agent, error) {
	var a domain.Agent
	var presenceSince, lastSeen, created, updated int64
	var epoch, due, count sql.NullInt64
	var claimedBy string
	var claimedUntil, lastRouted int64
	var capacity sql.NullInt64
	if err := row.Scan(&a.WorkspaceID, &a.ID, &a.Name, &a.Email, &a.Role, &a.Active, &a.Presence, &presenceSince,
		&a.OfflineEpoch, &lastSeen, &epoch, &due, &count, &claimedBy, &claimedUntil, &created, &updated, &a.Version,
		&capacity, &lastRouted); err != nil {
		return nil, err
	}
	if capacity.Valid {
		c := int(capacity.Int64)
		a.Capacity = &c
	}
	a.LastRoutedAt = fromMillisOrZero(lastRouted)
	a.PresenceSince, a.LastSeenAt = fromMillis(presenceSince), fromMillis(lastSeen)
	a.CreatedAt, a.UpdatedAt = fromMillis(created), fromMillis(updated)
	if epoch.Valid {
		a.Cleanup = &domain.LogoutCleanup{
			Epoch: epoch.Int64, DueAt: fromMillis(due.Int64), SettingsSwitchedOffCount: count.Int64,
			ClaimedBy: claimedBy, ClaimedUntil: fromMillisOrZero(claimedUntil),
		}
	}
	return &a, nil
}

// agentArgs are a's columns in agentCols order.
func agentArgs(a domain.Agent) []any {
	var epoch, due, count any
	claimedBy, claimedUntil := "", int64(0)
	if c := a.Cleanup; c != nil {
		epoch, due, count = c.Epoch, millis(c.DueAt), c.SettingsSwitchedOffCount
		claimedBy, claimedUntil = c.ClaimedBy, millisOrZero(c.ClaimedUntil)
	}
	var capacity any
	if a.Capacity != nil {
		capacity = *a.Capacity
	}
	return []any{a.WorkspaceID, a.ID, a.Name, a.Email, string(a.Role), a.Active, string(a.Presence), millis(a.PresenceSince),
		a.OfflineEpoch, millis(a.LastSeenAt), epoch, due, count, claimedBy, claimedUntil, millis(a.CreatedAt), millis(a.UpdatedAt), a.Version,
		capacity, millisOrZero(a.LastRoutedAt)}
}

// AgentsByIDs returns agents in key order, nil for unknown ids.
func (s *Store) AgentsByIDs(ctx context.Context, workspaceID string, ids []string) ([]*domain.Agent, error) {
	out, err := byIDs(ctx, s, workspaceID, ids, `SELECT `+agentCols+` FROM agents WHERE workspace_id = ? AND id IN (%s)`,
		func(row scanner) (string, *domain.Agent, error) {
			a, err := scanAgent(row)
			if err != nil {
				return "", nil, err
			}
			return a.ID, a, nil
		})
	if err != nil {
		return nil, failed("agents by ids", err)
	}
	return out, nil
}

// byIDs runs query (with %s for the id placeholders) over ids in chunks and
// returns the rows in key order, nil where no row has the key.
func byIDs[T any](ctx context.Context, s *Store, workspaceID string, ids []string, query string,
	scan func(scanner) (string, *T, error),
) ([]*T, error) {
	out := make([]*T, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	found := make(map[string]*T, len(ids))
	for _, c := range chunks(len(ids)) {
		part := ids[c[0]:c[1]]
		args := append(make([]any, 0, 1+bucket(len(part))), workspaceID)
		args = append(args, strArgs(part)...)
		for len(args) < 1+bucket(len(part)) {
			args = append(args, part[len(part)-1])
		}
		rows, err := s.query(ctx, nil, fmt.Sprintf(query, placeholders(len(args)-1)), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			id, v, err := scan(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			found[id] = v
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	for i, id := range ids {
		out[i] = found[id]
	}
	return out, nil
}

// ListAgents returns a workspace's agents sorted by name, then id.
func (s *Store) ListAgents(ctx context.Context, workspaceID string, f domain.AgentFilter) ([]domain.Agent, error) {
	query := `SELECT ` + agentCols + ` FROM agents WHERE workspace_id = ?`
	args := []any{workspaceID}
	if !f.IncludeInactive {
		query += ` AND active`
	}
	if len(f.Presence) > 0 {
		query += ` AND presence IN (` + placeholders(len(f.Presence)) + `)`
		for _, p := range f.Presence {
			args = append(args, string(p))
		}
	}
	query += ` ORDER BY name, id`
	rows, err := s.query(ctx, nil, query, args...)
	if err != nil {
		return nil, failed("list agents", err)
	}
	defer rows.Close()
	var out []domain.Agent
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return nil, failed("list agents", err)
		}
		out = append(out, *a)
	}
	if err := rows.Err(); err != nil {
		return nil, failed("list agents", err)
	}
	return out, nil
}

// InsertAgent creates a; ErrDuplicate if the id is taken.
func (s *Store) InsertAgent(ctx context.Context, a domain.Agent) error {
	return s.write(ctx, "insert agent", func(tx *sql.Tx) (*domain.Event, error) {
		_, err := s.exec(ctx, tx, `INSERT INTO agents (`+agentCols+`) VALUES (`+placeholders(20)+`)`, agentArgs(a)...)
		if err != nil {
			return nil, dup(err)
		}
		return &domain.Event{WorkspaceID: a.WorkspaceID, Agent: &domain.AgentEvent{After: a}}, nil
	})
}

// UpdateAgent writes a if the stored version is a.Version-1.
func (s *Store) UpdateAgent(ctx context.Context, a domain.Agent) error {
	return s.write(ctx, "update agent", func(tx *sql.Tx) (*domain.Event, error) {
		// The write lock is held from BEGIN IMMEDIATE, so the row read here is
		// the one the update below replaces.
		before, err := scanAgent(s.queryRow(ctx, tx, `SELECT `+agentCols+` FROM agents WHERE workspace_id = ? AND id = ?`, a.WorkspaceID, a.ID))
		if errors.Is(err, sql.ErrNoRows) {
			return nil, domain.ErrNotFound
		}
		if err != nil {
			return nil, err
		}
		if before.Version != a.Version-1 || before.LastSeenAt.After(a.LastSeenAt) {
			return nil, domain.ErrVersionConflict
		}
		args := agentArgs(a)[2:] // every column but the key
		_, err = s.exec(ctx, tx, `
			UPDATE agents SET name = ?, email = ?, role = ?, active = ?, presence = ?, presence_since = ?, offline_epoch = ?,
				last_seen_at = max(last_seen_at, ?), cleanup_epoch = ?, cleanup_due_at = ?, cleanup_switched_off_count = ?,
				cleanup_claimed_by = ?, cleanup_claimed_until = ?, created_at = ?, updated_at = ?, version = ?,
				capacity = ?, last_routed_at = max(last_routed_at, ?)
			WHERE workspace_id = ? AND id = ?`, append(args, a.WorkspaceID, a.ID)...)
		if err != nil {
			return nil, err
		}
		// Signs of life only move forward, also past a writer that read an
		// older one; so do routing's turns.
		if before.LastSeenAt.After(a.LastSeenAt) {
			a.LastSeenAt = before.LastSeenAt
		}
		if before.LastRoutedAt.After(a.LastRoutedAt) {
			a.LastRoutedAt = before.LastRoutedAt
		}
		return &domain.Event{WorkspaceID: a.WorkspaceID, Agent: &domain.AgentEvent{Before: before, After: a}}, nil
	})
}

// TouchAgent moves the agent's LastSeenAt forward to at, never back, without
// a new version; ErrNotFound if there is no such agent.
func (s *Store) TouchAgent(ctx context.Context, workspaceID, agentID string, at time.Time) error {
	return s.write(ctx, "touch agent", func(tx *sql.Tx) (*domain.Event, error) {
		// Matching the row even when at is older keeps "unknown agent" apart
		// from "nothing to move".
		res, err := s.exec(ctx, tx, `UPDATE agents SET last_seen_at = max(last_seen_at, ?) WHERE workspace_id = ? AND id = ?`,
			millis(at), workspaceID, agentID)
		return nil, oneRow(res, err, domain.ErrNotFound)
	})
}

// Channels.

// channelCols reads a channel with its auto-ownership and routing agents as
// JSON arrays.
const channelCols = `c.workspace_id, c.id, c.name, c.created_at,
	(SELECT json_group_array(a.agent_id) FROM auto_ownership a WHERE a.workspace_id = c.workspace_id AND a.channel_id = c.id),
	(SELECT json_group_array(r.agent_id) FROM routing_agents r WHERE r.workspace_id = c.workspace_id AND r.channel_id = c.id)`

func scanChannel(row scanner) (*domain.Channel, error) {
	var c domain.Channel
	var created int64
	var agents, routing string
	if err := row.Scan(&c.WorkspaceID, &c.ID, &c.Name, &created, &agents, &routing); err != nil {
		return nil, err
	}
	c.CreatedAt = fromMillis(created)
	var err error
	if c.AutoOwnershipAgentIDs, err = agentIDList(agents); err != nil {
		return nil, fmt.Errorf("decode auto-ownership agents: %w", err)
	}
	if c.RoutingAgentIDs, err = agentIDList(routing); err != nil {
		return nil, fmt.Errorf("decode routing agents: %w", err)
	}
	return &c, nil
}

// agentIDList decodes a JSON array of agent ids, sorted, nil when empty.
func agentIDList(js string) ([]string, error) {
	var ids []string
	if err := json.Unmarshal([]byte(js), &ids); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, nil
	}
	// The primary key orders them already; sorting here keeps that a
	// promise of this code rather than of the query planner.
	slices.Sort(ids)
	return ids, nil
}

// InsertChannel creates c; ErrDuplicate if its id or name is taken.
func (s *Store) InsertChannel(ctx context.Context, c domain.Channel) error {
	return s.write(ctx, "insert channel", func(tx *sql.Tx) (*domain.Event, error) {
		_, err := s.exec(ctx, tx, `INSERT INTO channels (workspace_id, id, name, created_at) VALUES (?, ?, ?, ?)`,
			c.WorkspaceID, c.ID, c.Name, millis(c.CreatedAt))
		if err != nil {
			return nil, dup(err)
		}
		for _, agentID := range c.AutoOwnershipAgentIDs {
			if _, err := s.exec(ctx, tx, `INSERT INTO auto_ownership (workspace_id, channel_id, agent_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
				c.WorkspaceID, c.ID, agentID); err != nil {
				return nil, err
			}
		}
		for _, agentID := range c.RoutingAgentIDs {
			if _, err := s.exec(ctx, tx, `INSERT INTO routing_agents (workspace_id, channel_id, agent_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
				c.WorkspaceID, c.ID, agentID); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
}

// ChannelsByIDs returns channels in key order, nil for unknown ids.
func (s *Store) ChannelsByIDs(ctx context.Context, workspaceID string, ids []string) ([]*domain.Channel, error) {
	out, err := byIDs(ctx, s, workspaceID, ids, `SELECT `+channelCols+` FROM channels c WHERE c.workspace_id = ? AND c.id IN (%s)`,
		func(row scanner) (string, *domain.Channel, error) {
			c, err := scanChannel(row)
			if err != nil {
				return "", nil, err
			}
			return c.ID, c, nil
		})
	if err != nil {
		return nil, failed("channels by ids", err)
	}
	return out, nil
}

// ListChannels returns a workspace's channels sorted by name, then id.
func (s *Store) ListChannels(ctx context.Context, workspaceID string) ([]domain.Channel, error) {
	rows, err := s.query(ctx, nil, `SELECT `+channelCols+` FROM channels c WHERE c.workspace_id = ? ORDER BY c.name, c.id`, workspaceID)
	if err != nil {
		return nil, failed("list channels", err)
	}
	defer rows.Close()
	var out []domain.Channel
	for rows.Next() {
		c, err := scanChannel(rows)
		if err != nil {
			return nil, failed("list channels", err)
		}
		out = append(out, *c)
	}
	if err := rows.Err(); err != nil {
		return nil, failed("list channels", err)
	}
	return out, nil
}

// SetAutoOwnership turns auto-ownership on or off for one agent on one
// channel; ErrNotFound if the channel is unknown.
func (s *Store) SetAutoOwnership(ctx context.Context, workspaceID, channelID, agentID string, enabled bool) error {
	return s.setChannelAgent(ctx, "set auto-ownership", "auto_ownership", workspaceID, channelID, agentID, enabled)
}

// SetRoutingAgent names or unnames one agent as a routing agent of one
// channel; ErrNotFound if the channel is unknown.
func (s *Store) SetRoutingAgent(ctx context.Context, workspaceID, channelID, agentID string, enabled bool) error {
	return s.setChannelAgent(ctx, "set routing agent", "routing_agents", workspaceID, channelID, agentID, enabled)
}

// setChannelAgent adds or removes one (channel, agent) row of table, one
// of the channel's lists of agents (a constant of this file, never input);
// idempotent, ErrNotFound if the channel is unknown.
func (s *Store) setChannelAgent(ctx context.Context, what, table, workspaceID, channelID, agentID string, enabled bool) error {
	return s.write(ctx, what, func(tx *sql.Tx) (*domain.Event, error) {
		var one int
		err := s.queryRow(ctx, tx, `SELECT 1 FROM channels WHERE workspace_id = ? AND id = ?`, workspaceID, channelID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, domain.ErrNotFound
		}
		if err != nil {
			return nil, err
		}
		if enabled {
			_, err = s.exec(ctx, tx, `INSERT INTO `+table+` (workspace_id, channel_id, agent_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
				workspaceID, channelID, agentID)
		} else {
			_, err = s.exec(ctx, tx, `DELETE FROM `+table+` WHERE workspace_id = ? AND channel_id = ? AND agent_id = ?`,
				workspaceID, channelID, agentID)
		}
		return nil, err
	})
}

// ClaimRouting takes, renews or finds lost the workspace's routing lease:
// one conditional upsert of its row.
func (s *Store) ClaimRouting(ctx context.Context, workspaceID, instance string, now, until time.Time) (bool, error) {
	held := false
	err := s.write(ctx, "claim routing", func(tx *sql.Tx) (*domain.Event, error) {
		res, err := s.exec(ctx, tx, `INSERT INTO routing_leases (workspace_id, holder, until) VALUES (?, ?, ?)
			ON CONFLICT (workspace_id) DO UPDATE SET holder = excluded.holder, until = excluded.until
			WHERE routing_leases.holder = excluded.holder OR routing_leases.until <= ?`,
			workspaceID, instance, millis(until), millis(now))
		if err != nil {
			return nil, err
		}
		n, err := res.RowsAffected()
		held = n == 1
		return nil, err
	})
	if err != nil {
		return false, err
	}
	return held, nil
}

// Contacts.

const contactCols = `workspace_id, id, channel_id, external_id, name, created_at`

func scanContact(row scanner) (*domain.Contact, error) {
	var c domain.Contact
	var created int64
	if err := row.Scan(&c.WorkspaceID, &c.ID, &c.ChannelID, &c.ExternalID, &c.Name, &created); err != nil {
		return nil, err
	}
	c.CreatedAt = fromMillis(created)
	return &c, nil
}

// UpsertContact creates the contact unless it exists and sets its name when
// c.Name is not empty; it returns the stored contact. ErrDuplicate if another
// contact has c's external id on c's channel.
func (s *Store) UpsertContact(ctx context.Context, c domain.Contact) (domain.Contact, error) {
	// Every inbound message upserts its contact, and nearly always the
	// contact exists as asked: answer that from a reader, without taking the
	// write lock.
	got, err := s.contact(ctx, nil, c.WorkspaceID, c.ID)
	if err != nil {
		return domain.Contact{}, failed("upsert contact", err)
	}
	if got != nil && (c.Name == "" || c.Name == got.Name) {
		return *got, nil
	}
	err = s.write(ctx, "upsert contact", func(tx *sql.Tx) (*domain.Event, error) {
		if _, err := s.exec(ctx, tx, `INSERT INTO contacts (`+contactCols+`) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			c.WorkspaceID, c.ID, c.ChannelID, c.ExternalID, c.Name, millis(c.CreatedAt)); err != nil {
			return nil, err
		}
		if c.Name != "" {
			if _, err := s.exec(ctx, tx, `UPDATE contacts SET name = ? WHERE workspace_id = ? AND id = ?`, c.Name, c.WorkspaceID, c.ID); err != nil {
				return nil, err
			}
		}
		if got, err = s.contact(ctx, tx, c.WorkspaceID, c.ID); err != nil {
			return nil, err
		}
		if got == nil {
			// The insert was ignored for the (channel, external id) key, not
			// for the id.
			return nil, domain.ErrDuplicate
		}
		return nil, nil
	})
	if err != nil {
		return domain.Contact{}, err
	}
	return *got, nil
}

func (s *Store) contact(ctx context.Context, tx *sql.Tx, workspaceID, id string) (*domain.Contact, error) {
	c, err := scanContact(s.queryRow(ctx, tx, `SELECT `+contactCols+` FROM contacts WHERE workspace_id = ? AND id = ?`, workspaceID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return c, err
}

// ContactsByIDs returns contacts in key order, nil for unknown ids.
func (s *Store) ContactsByIDs(ctx context.Context, workspaceID string, ids []string) ([]*domain.Contact, error) {
	out, err := byIDs(ctx, s, workspaceID, ids, `SELECT `+contactCols+` FROM contacts WHERE workspace_id = ? AND id IN (%s)`,
		func(row scanner) (string, *domain.Contact, error) {
			c, err := scanContact(row)
			if err != nil {
				return "", nil, err
			}
			return c.ID, c, nil
		})
	if err != nil {
		return nil, failed("contacts by ids", err)
	}
	return out, nil
}
