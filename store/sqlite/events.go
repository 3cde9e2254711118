package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"switchboard/domain"
)

// The record of changes (migration 5): every event the store publishes is
// written in the transaction of its change, so a committed change is
// always in the record and a rolled back one never is.

var _ domain.EventLog = (*Store)(nil)

const insertEvent = `INSERT INTO events (workspace_id, at, body) VALUES (?, ?, ?)`

// logEvents writes evs to the record in tx, in order, and sets their
// positions; the statement is prepared once for a transaction of several.
func (s *Store) logEvents(ctx context.Context, tx *sql.Tx, evs []loggedEvent) error {
	if len(evs) == 0 {
		return nil
	}
	exec := s.txExec(tx)
	if len(evs) > 1 {
		var done func()
		exec, done = s.preparedExec(tx)
		defer done()
	}
	for i := range evs {
		ev := &evs[i]
		body := ev.body
		if body == nil {
			var err error
			if body, err = json.Marshal(ev.Event); err != nil {
				return fmt.Errorf("encode the event: %w", err)
			}
		}
		res, err := exec(ctx, insertEvent, ev.WorkspaceID, millis(eventTime(&ev.Event)), string(body))
		if err != nil {
			return err
		}
		if ev.Position, err = res.LastInsertId(); err != nil {
			return err
		}
	}
	return nil
}

// eventTime is when the change of ev was made, on the service's clock.
func eventTime(ev *domain.Event) time.Time {
	switch {
	case ev.Conversation != nil:
		return ev.Conversation.After.UpdatedAt
	case ev.Agent != nil:
		return ev.Agent.After.UpdatedAt
	}
	return time.Time{}
}

// EventsAfter returns up to limit events of the workspace after position
// after, in order; domain.ErrPositionTooOld when some were trimmed.
func (s *Store) EventsAfter(ctx context.Context, workspaceID string, after int64, limit int) ([]domain.Event, error) {
	var out []domain.Event
	err := s.read(ctx, "events after", func(tx *sql.Tx) error {
		var horizon int64
		err := s.queryRow(ctx, tx, `SELECT trimmed_through FROM event_horizons WHERE workspace_id = ?`, workspaceID).Scan(&horizon)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if after < horizon {
			return domain.ErrPositionTooOld
		}
		rows, err := s.query(ctx, tx, `SELECT position, body FROM events WHERE workspace_id = ? AND position > ?
			ORDER BY position LIMIT ?`, workspaceID, after, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var pos int64
			var body string
			if err := rows.Scan(&pos, &body); err != nil {
				return err
			}
			var ev domain.Event
			if err := json.Unmarshal([]byte(body), &ev); err != nil {
				return fmt.Errorf("decode event %d: %w", pos, err)
			}
			ev.Position = pos
			out = append(out, ev)
		}
		if err := rows.Err(); err != nil || len(out) > 0 {
			return err
		}
		return s.beyondNewest(ctx, tx, workspaceID, after)
	})
	if errors.Is(err, domain.ErrPositionTooOld) {
		return nil, err
	}
	return out, err
}

// beyondNewest is ErrPositionTooOld when after is past the workspace's
// newest logged event: a subscriber was given only logged positions, and
// trimming keeps the newest, so such a position is from a store this one
// was restored behind, and the changes made since would be missed.
func (s *Store) beyondNewest(ctx context.Context, tx *sql.Tx, workspaceID string, after int64) error {
	var newest int64
	if err := s.queryRow(ctx, tx, `SELECT coalesce(max(position), 0) FROM events WHERE workspace_id = ?`, workspaceID).Scan(&newest); err != nil {
		return err
	}
	if after > newest {
		return domain.ErrPositionTooOld
	}
	return nil
}

// TrimEvents drops, in every workspace, the events before before that are
// not among its newest keep, and moves the workspace's horizon past them.
func (s *Store) TrimEvents(ctx context.Context, before time.Time, keep int) (int, error) {
	// The workspaces, one index search each (a scan of the whole index
	// would read every event).
	var workspaces []string
	for {
		var ws string
		after := ""
		if len(workspaces) > 0 {
			after = workspaces[len(workspaces)-1]
		}
		err := s.queryRow(ctx, nil, `SELECT workspace_id FROM events WHERE workspace_id > ? ORDER BY workspace_id LIMIT 1`, after).Scan(&ws)
		if errors.Is(err, sql.ErrNoRows) {
			break
		}
		if err != nil {
			return 0, failed("trim events: workspaces", err)
		}
		workspaces = append(workspaces, ws)
	}
	total := 0
	for _, ws := range workspaces {
		n := 0
		err := s.write(ctx, "trim events", func(tx *sql.Tx) (*domain.Event, error) {
			// The position of the newest event beyond the kept count.
			var cut int64
			err := s.queryRow(ctx, tx, `SELECT position FROM events WHERE workspace_id = ? ORDER BY position DESC LIMIT 1 OFFSET ?`,
				ws, max(keep, 0)).Scan(&cut)
			if errors.Is(err, sql.ErrNoRows) {
				return nil, nil
			}
			if err != nil {
				return nil, err
			}
			var through sql.NullInt64
			if err := s.queryRow(ctx, tx, `SELECT max(position) FROM events WHERE workspace_id = ? AND position <= ? AND at < ?`,
				ws, cut, millis(before)).Scan(&through); err != nil || !through.Valid {
				return nil, err
			}
			res, err := s.exec(ctx, tx, `DELETE FROM events WHERE workspace_id = ? AND position <= ? AND at < ?`, ws, cut, millis(before))
			if err != nil {
				return nil, err
			}
			d, _ := res.RowsAffected()
			n = int(d)
			_, err = s.exec(ctx, tx, `INSERT INTO event_horizons (workspace_id, trimmed_through) VALUES (?, ?)
				ON CONFLICT (workspace_id) DO UPDATE SET trimmed_through = max(trimmed_through, excluded.trimmed_through)`,
				ws, through.Int64)
			return nil, err
		})
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}
