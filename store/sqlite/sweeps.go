package sqlite

import (
	"context"
	"database/sql"
	"time"

	"switchboard/domain"
)

// The sweeps read across workspaces, each from its own partial index
// (migration 2), named with INDEXED BY so that a statement that could not
// use it fails instead of scanning.

// DueBoomerangs returns up to n PENDING conversations, of any workspace,
// whose boomerang is due at or before t, soonest first.
func (s *Store) DueBoomerangs(ctx context.Context, t time.Time, n int) ([]domain.Conversation, error) {
	if n <= 0 {
		return nil, nil
	}
	// The status and IS NOT NULL terms are spelled as in the index's WHERE,
	// so that SQLite may use it.
	out, err := scanConversations(s.query(ctx, nil, `SELECT `+convCols+` FROM conversations INDEXED BY conversations_boomerang_due
		WHERE status = 'PENDING' AND boomerang_at IS NOT NULL AND boomerang_at <= ?
		ORDER BY boomerang_at, workspace_id, id`+limit(n), millis(t)))
	if err != nil {
		return nil, failed("due boomerangs", err)
	}
	return out, nil
}

// DueCleanups returns up to n agents, of any workspace, whose logout
// cleanup is due at or before t, soonest first.
func (s *Store) DueCleanups(ctx context.Context, t time.Time, n int) ([]domain.Agent, error) {
	if n <= 0 {
		return nil, nil
	}
	out, err := scanAgents(s.query(ctx, nil, `SELECT `+agentCols+` FROM agents INDEXED BY agents_cleanup_due
		WHERE cleanup_due_at IS NOT NULL AND cleanup_due_at <= ?
		ORDER BY cleanup_due_at, workspace_id, id`+limit(n), millis(t)))
	if err != nil {
		return nil, failed("due cleanups", err)
	}
	return out, nil
}

// SilentAgents returns up to n ONLINE or AWAY agents, of any workspace,
// last seen before t, longest silent first.
func (s *Store) SilentAgents(ctx context.Context, t time.Time, n int) ([]domain.Agent, error) {
	if n <= 0 {
		return nil, nil
	}
	out, err := scanAgents(s.query(ctx, nil, `SELECT `+agentCols+` FROM agents INDEXED BY agents_silent
		WHERE presence <> 'OFFLINE' AND last_seen_at < ?
		ORDER BY last_seen_at, workspace_id, id`+limit(n), millis(t)))
	if err != nil {
		return nil, failed("silent agents", err)
	}
	return out, nil
}

// DueUnanswered returns up to n NEW conversations, of any workspace, whose
// unanswered take-back is due at or before t, soonest first.
func (s *Store) DueUnanswered(ctx context.Context, t time.Time, n int) ([]domain.Conversation, error) {
	if n <= 0 {
		return nil, nil
	}
	out, err := scanConversations(s.query(ctx, nil, `SELECT `+convCols+` FROM conversations INDEXED BY conversations_unanswered_due
		WHERE status = 'NEW' AND unanswered_at IS NOT NULL AND unanswered_at <= ?
		ORDER BY unanswered_at, workspace_id, id`+limit(n), millis(t)))
	if err != nil {
		return nil, failed("due unanswered", err)
	}
	return out, nil
}

// RoutingWorkspaces returns up to n ids of workspaces with routing on, in
// id order after afterID.
func (s *Store) RoutingWorkspaces(ctx context.Context, afterID string, n int) ([]string, error) {
	if n <= 0 {
		return nil, nil
	}
	rows, err := s.query(ctx, nil, `SELECT workspace_id FROM settings INDEXED BY settings_routing
		WHERE routing_mode <> 'OFF' AND workspace_id > ? ORDER BY workspace_id`+limit(n), afterID)
	if err != nil {
		return nil, failed("routing workspaces", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var ws string
		if err := rows.Scan(&ws); err != nil {
			return nil, failed("routing workspaces", err)
		}
		out = append(out, ws)
	}
	if err := rows.Err(); err != nil {
		return nil, failed("routing workspaces", err)
	}
	return out, nil
}

func scanAgents(rows *sql.Rows, err error) ([]domain.Agent, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []domain.Agent
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *a)
	}
	return out, rows.Err()
}
