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

const convCols = `workspace_id, id, channel_id, contact_id, seq, status, owner_id, owned_since, owner_epoch,
	assigned_while_offline, owner_version, waiting_since, boomerang_at, created_at, updated_at, version,
	routing_excluded, unanswered_at, resolved_owner_id, preferred_agent_id`

func scanConversation(row scanner) (*domain.Conversation, error) {
	var c domain.Conversation
	var ownedSince, boomerang, unanswered sql.NullInt64
	var waiting, created, updated int64
	var excluded string
	if err := row.Scan(&c.WorkspaceID, &c.ID, &c.ChannelID, &c.ContactID, &c.Seq, &c.Status, &c.OwnerID, &ownedSince,
		&c.OwnerEpoch, &c.AssignedWhileOffline, &c.OwnerVersion, &waiting, &boomerang, &created, &updated, &c.Version,
		&excluded, &unanswered, &c.ResolvedOwnerID, &c.PreferredAgentID); err != nil {
		return nil, err
	}
	if excluded != "" {
		if err := json.Unmarshal([]byte(excluded), &c.RoutingExcluded); err != nil {
			return nil, fmt.Errorf("decode routing exclusions: %w", err)
		}
	}
	c.UnansweredAt = fromNullMillis(unanswered)
	c.OwnedSince, c.BoomerangAt = fromNullMillis(ownedSince), fromNullMillis(boomerang)
	c.WaitingSince, c.CreatedAt, c.UpdatedAt = fromMillis(waiting), fromMillis(created), fromMillis(updated)
	return &c, nil
}

func scanConversations(rows *sql.Rows, err error) ([]domain.Conversation, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []domain.Conversation
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *c)
	}
	return out, rows.Err()
}

// ConversationsByIDs returns conversations in key order, nil for unknown ids.
func (s *Store) ConversationsByIDs(ctx context.Context, workspaceID string, ids []string) ([]*domain.Conversation, error) {
	out, err := byIDs(ctx, s, workspaceID, ids, `SELECT `+convCols+` FROM conversations WHERE workspace_id = ? AND id IN (%s)`,
		func(row scanner) (string, *domain.Conversation, error) {
			c, err := scanConversation(row)
			if err != nil {
				return "", nil, err
			}
			return c.ID, c, nil
		})
	if err != nil {
		return nil, failed("conversations by ids", err)
	}
	return out, nil
}

// ContactConversations returns the contact's open conversation with the
// highest Seq and the highest Seq of all its conversations.
func (s *Store) ContactConversations(ctx context.Context, workspaceID, contactID string) (open *domain.Conversation, maxSeq int64, err error) {
	// One snapshot for both answers: a conversation created in between
	// could otherwise be missing from one and counted by the other.
	err = s.read(ctx, "contact conversations", func(tx *sql.Tx) error {
		open, err = scanConversation(s.queryRow(ctx, tx, `
			SELECT `+convCols+` FROM conversations
			WHERE workspace_id = ? AND contact_id = ? AND status IN ('NEW', 'PENDING')
			ORDER BY seq DESC LIMIT 1`, workspaceID, contactID))
		if errors.Is(err, sql.ErrNoRows) {
			open = nil
		} else if err != nil {
			return err
		}
		return s.queryRow(ctx, tx, `SELECT coalesce(max(seq), 0) FROM conversations WHERE workspace_id = ? AND contact_id = ?`,
			workspaceID, contactID).Scan(&maxSeq)
	})
	if err != nil {
		return nil, 0, err
	}
	return open, maxSeq, nil
}

// InsertConversation creates w.Conversation with its message and history
// entry; ErrDuplicate (and nothing written) if the conversation id or the
// message id exists.
func (s *Store) InsertConversation(ctx context.Context, w domain.ConversationWrite) error {
	return s.write(ctx, "insert conversation", func(tx *sql.Tx) (*domain.Event, error) {
		if err := s.insertConversation(ctx, s.txExec(tx), w); err != nil {
			return nil, err
		}
		return conversationEvent(w), nil
	})
}

// insertConversation is InsertConversation's statements in a transaction.
func (s *Store) insertConversation(ctx context.Context, exec execFunc, w domain.ConversationWrite) error {
	c := w.Conversation
	_, err := exec(ctx, `INSERT INTO conversations (`+convCols+`) VALUES (`+placeholders(20)+`)`,
		c.WorkspaceID, c.ID, c.ChannelID, c.ContactID, c.Seq, string(c.Status), c.OwnerID, nullMillis(c.OwnedSince),
		c.OwnerEpoch, c.AssignedWhileOffline, c.OwnerVersion, millis(c.WaitingSince), nullMillis(c.BoomerangAt),
		millis(c.CreatedAt), millis(c.UpdatedAt), c.Version,
		excludedCol(c.RoutingExcluded), nullMillis(c.UnansweredAt), c.ResolvedOwnerID, c.PreferredAgentID)
	if err != nil {
		return dup(err)
	}
	return s.insertParts(ctx, exec, w)
}

// InsertConversationRouted inserts w and, in the same transaction, writes
// route if its conditions hold (domain.InboundRouter). Writes are serial
// (one writer connection, and SQLite's write lock across processes), and
// the routing change's conditions are read inside the transaction, after
// the insert took the write lock: nothing can commit between the check and
// the write. A failed condition is undone alone (a savepoint) and the
// insert commits unrouted.
func (s *Store) InsertConversationRouted(ctx context.Context, w domain.ConversationWrite, route domain.RoutedWrite) (bool, error) {
	var routed bool
	err := s.writeEvents(ctx, "insert conversation routed", func(tx *sql.Tx) ([]loggedEvent, error) {
		routed = false
		exec := s.txExec(tx)
		if err := s.insertConversation(ctx, exec, w); err != nil {
			return nil, err
		}
		created := conversationEvent(w)
		if _, err := exec(ctx, `SAVEPOINT route`); err != nil {
			return nil, err
		}
		err := s.updateConversation(ctx, exec, route.ConversationWrite, &route)
		switch {
		case isSentinel(err):
			if _, err := exec(ctx, `ROLLBACK TO route`); err != nil {
				return nil, err
			}
		case err != nil:
			return nil, err
		default:
			routed = true
		}
		if _, err := exec(ctx, `RELEASE route`); err != nil {
			return nil, err
		}
		if !routed {
			return []loggedEvent{{Event: *created}}, nil
		}
		created.Conversation.Interim = true
		return []loggedEvent{{Event: *created}, {Event: *conversationEvent(route.ConversationWrite)}}, nil
	})
	if err != nil {
		return false, err
	}
	return routed, nil
}

// UpdateConversation writes w as one change if the stored version is
// w.Conversation.Version-1 and w.OwnerCheck holds.
func (s *Store) UpdateConversation(ctx context.Context, w domain.ConversationWrite) error {
	return s.write(ctx, "update conversation", func(tx *sql.Tx) (*domain.Event, error) {
		if err := s.updateConversation(ctx, s.txExec(tx), w, nil); err != nil {
			return nil, err
		}
		return conversationEvent(w), nil
	})
}

// UpdateConversations writes each of ws as UpdateConversation would, all in
// one transaction (one fsync): each inside a savepoint, so that one whose
// condition fails, or whose message or history entry is a duplicate, is
// undone alone and reported in its place, while the others commit.
func (s *Store) UpdateConversations(ctx context.Context, ws []domain.ConversationWrite) ([]error, error) {
	errs := make([]error, len(ws))
	if len(ws) == 0 {
		return errs, nil
	}
	// The events are encoded on another goroutine while the changes are
	// written (those of changes undone are not used).
	bodies := encodeEvents(ws)
	deferCounts := countsDeferrable(ws)
	err := s.writeEvents(ctx, "update conversations", func(tx *sql.Tx) ([]loggedEvent, error) {
		clear(errs)
		// Each statement is prepared once for the whole batch: preparing
		// an UPDATE of conversations compiles its count triggers too.
		ex, done := s.preparedExec(tx)
		defer done()
		if deferCounts {
			if _, err := ex(ctx, `UPDATE queue_counts_deferral SET deferred = 1 WHERE id = 1`); err != nil {
				return nil, err
			}
		}
		var written []int
		for i, w := range ws {
			if _, err := ex(ctx, `SAVEPOINT change`); err != nil {
				return nil, err
			}
			err := s.updateConversation(ctx, ex, w, nil)
			switch {
			case isSentinel(err):
				errs[i] = err
				if _, err := ex(ctx, `ROLLBACK TO change`); err != nil {
					return nil, err
				}
			case err != nil:
				return nil, err
			default:
				written = append(written, i)
			}
			if _, err := ex(ctx, `RELEASE change`); err != nil {
				return nil, err
			}
		}
		if deferCounts {
			if err := addCountChanges(ctx, ex, ws, written); err != nil {
				return nil, err
			}
			if _, err := ex(ctx, `UPDATE queue_counts_deferral SET deferred = 0 WHERE id = 1`); err != nil {
				return nil, err
			}
		}
		encoded, err := bodies()
		if err != nil {
			return nil, err
		}
		evs := make([]loggedEvent, len(written))
		for j, i := range written {
			evs[j] = loggedEvent{Event: *conversationEvent(ws[i]), body: encoded[i]}
		}
		return evs, nil
	})
	if err != nil {
		return nil, err
	}
	return errs, nil
}

// deferCountsFrom is the smallest batch that keeps the badge counts itself:
// below it, the trigger's statements cost less than the batch's own.
const deferCountsFrom = 8

// countsDeferrable reports whether a batch of changes may keep the badge
// counts itself instead of the update trigger (addCountChanges): a large
// enough batch whose every change says the state it changes (Before, one
// version older, so a write that succeeds changed exactly that), and none
// of which is conditional on a load (routing), which reads the counts
// between the batch's writes.
func countsDeferrable(ws []domain.ConversationWrite) bool {
	if len(ws) < deferCountsFrom {
		return false
	}
	for _, w := range ws {
		b, c := w.Before, &w.Conversation
		if b == nil || w.LoadBelow != nil || b.Version != c.Version-1 ||
			b.WorkspaceID != c.WorkspaceID || b.ID != c.ID || b.ChannelID != c.ChannelID {
			return false
		}
	}
	return true
}

// addCountChanges adds to the badge counts the net change of the writes of
// ws that were written: what the update trigger would have added one
// conversation at a time.
func addCountChanges(ctx context.Context, exec execFunc, ws []domain.ConversationWrite, written []int) error {
	type key struct{ ws, status, owner, channel string }
	queues, owners := map[key]int{}, map[key]int{}
	for _, i := range written {
		b, a := ws[i].Before, &ws[i].Conversation
		if b.Status == a.Status && b.OwnerID == a.OwnerID {
			continue
		}
		queues[key{b.WorkspaceID, string(b.Status), b.OwnerID, b.ChannelID}]--
		queues[key{a.WorkspaceID, string(a.Status), a.OwnerID, a.ChannelID}]++
		owners[key{b.WorkspaceID, string(b.Status), b.OwnerID, ""}]--
		owners[key{a.WorkspaceID, string(a.Status), a.OwnerID, ""}]++
	}
	for _, t := range []struct {
		table, cols string
		channel     bool
		changes     map[key]int
	}{
		{"queue_counts", "workspace_id, status, owner_id, channel_id", true, queues},
		{"queue_owner_counts", "workspace_id, status, owner_id", false, owners},
	} {
		for k, n := range t.changes {
			if n == 0 {
				continue
			}
			keyVals := []any{k.ws, k.status, k.owner}
			match := `workspace_id = ? AND status = ? AND owner_id = ?`
			if t.channel {
				keyVals = append(keyVals, k.channel)
				match += ` AND channel_id = ?`
			}
			if _, err := exec(ctx, `INSERT INTO `+t.table+` (`+t.cols+`, n) VALUES (`+placeholders(len(keyVals)+1)+`)
				ON CONFLICT DO UPDATE SET n = n + excluded.n`, append(keyVals, n)...); err != nil {
				return err
			}
			// A count that falls to zero is removed, as the trigger removes it.
			if n < 0 {
				if _, err := exec(ctx, `DELETE FROM `+t.table+` WHERE `+match+` AND n = 0`, keyVals...); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// encodeEvents encodes the event of each of ws, as the record of changes
// keeps it, on a goroutine of its own; the function it returns waits for
// them.
func encodeEvents(ws []domain.ConversationWrite) func() ([][]byte, error) {
	bodies := make([][]byte, len(ws))
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i, w := range ws {
			if bodies[i], err = json.Marshal(conversationEvent(w)); err != nil {
				err = fmt.Errorf("encode the event: %w", err)
				return
			}
		}
	}()
	return func() ([][]byte, error) {
		<-done
		return bodies, err
	}
}

// updateConversation is UpdateConversation's statements in tx; with
// route, also on what routing chose on (InsertConversationRouted).
func (s *Store) updateConversation(ctx context.Context, exec execFunc, w domain.ConversationWrite, route *domain.RoutedWrite) error {
	c := w.Conversation
	// Only what a change can change: the conversation's channel, contact,
	// seq and creation stay as inserted.
	query := `
		UPDATE conversations SET status = ?, owner_id = ?, owned_since = ?, owner_epoch = ?, assigned_while_offline = ?,
			owner_version = ?, waiting_since = ?, boomerang_at = ?, updated_at = ?, version = ?,
			routing_excluded = ?, unanswered_at = ?, resolved_owner_id = ?, preferred_agent_id = ?
		WHERE workspace_id = ? AND id = ? AND version = ?`
	args := []any{string(c.Status), c.OwnerID, nullMillis(c.OwnedSince), c.OwnerEpoch, c.AssignedWhileOffline,
		c.OwnerVersion, millis(c.WaitingSince), nullMillis(c.BoomerangAt), millis(c.UpdatedAt), c.Version,
		excludedCol(c.RoutingExcluded), nullMillis(c.UnansweredAt), c.ResolvedOwnerID, c.PreferredAgentID,
		c.WorkspaceID, c.ID, c.Version - 1}
	if oc := w.OwnerCheck; oc != nil {
		query += ` AND EXISTS (SELECT 1 FROM agents WHERE workspace_id = ? AND id = ? AND version = ?)`
		args = append(args, c.WorkspaceID, oc.AgentID, oc.Version)
	}
	if lc := w.LoadBelow; lc != nil {
		// The agent's NEW count, kept by the triggers in this same
		// transaction: no write can slip between this check and the update.
		query += ` AND coalesce((SELECT n FROM queue_owner_counts WHERE workspace_id = ? AND status = 'NEW' AND owner_id = ?), 0) < ?`
		args = append(args, c.WorkspaceID, lc.AgentID, lc.Capacity)
	}
	if r := route; r != nil {
		// Still a routing agent of the channel, with the load and the turn
		// the choice was made on, and no other conversation waiting on a
		// channel the agent routes for: those go out first (longest
		// waiting first), through the fill pass.
		query += ` AND EXISTS (SELECT 1 FROM routing_agents WHERE workspace_id = ? AND channel_id = ? AND agent_id = ?)
			AND coalesce((SELECT n FROM queue_owner_counts WHERE workspace_id = ? AND status = 'NEW' AND owner_id = ?), 0) = ?
			AND EXISTS (SELECT 1 FROM agents WHERE workspace_id = ? AND id = ? AND last_routed_at = ?)
			AND NOT EXISTS (SELECT 1 FROM routing_agents ra JOIN conversations w
				ON w.workspace_id = ra.workspace_id AND w.status = 'NEW' AND w.channel_id = ra.channel_id AND w.owner_id = '' AND w.id <> ?
				WHERE ra.workspace_id = ? AND ra.agent_id = ?)`
		args = append(args, c.WorkspaceID, c.ChannelID, c.OwnerID, c.WorkspaceID, c.OwnerID, r.Load,
			c.WorkspaceID, c.OwnerID, millisOrZero(r.LastRoutedAt), c.ID, c.WorkspaceID, c.OwnerID)
	}
	res, err := exec(ctx, query, args...)
	if err := oneRow(res, err, domain.ErrVersionConflict); err != nil {
		return err
	}
	if t := w.Turn; t != nil {
		// Routing's turn, in the same transaction: no crash separates it
		// from the assignment.
		if _, err := exec(ctx, `UPDATE agents SET last_routed_at = max(last_routed_at, ?) WHERE workspace_id = ? AND id = ?`,
			millis(t.At), c.WorkspaceID, t.AgentID); err != nil {
			return err
		}
	}
	return s.insertParts(ctx, exec, w)
}

// insertParts inserts a change's message and history entry, keyed by the
// conversation they belong to.
func (s *Store) insertParts(ctx context.Context, exec execFunc, w domain.ConversationWrite) error {
	ws, convID := w.Conversation.WorkspaceID, w.Conversation.ID
	if m := w.Message; m != nil {
		d := toDeliveryCols(m.Delivery)
		_, err := exec(ctx, `INSERT INTO messages (`+messageCols+`) VALUES (`+placeholders(15)+`)`,
			ws, m.ID, convID, string(m.Direction), m.Text, m.AuthorID, m.ExternalID, m.Version, millis(m.CreatedAt),
			m.ChannelID, d.status, d.at, d.externalID, d.err, d.version)
		if err != nil {
			return dup(err)
		}
	}
	if m := w.Delivery; m != nil && m.Delivery != nil {
		d := toDeliveryCols(m.Delivery)
		res, err := exec(ctx, `UPDATE messages SET delivery_status = ?, delivery_at = ?, delivery_external_id = ?,
				delivery_error = ?, delivery_version = ?
			WHERE workspace_id = ? AND id = ? AND conversation_id = ? AND direction = 'OUTBOUND'`,
			d.status, d.at, d.externalID, d.err, d.version, ws, m.ID, convID)
		if err := oneRow(res, err, domain.ErrNotFound); err != nil {
			return err
		}
	}
	if h := w.Change; h != nil {
		_, err := exec(ctx, `INSERT INTO history (`+historyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			ws, convID, h.Version, h.ID, string(h.Status), millis(h.At), h.FromID, h.ToID, h.ActorID, string(h.Reason))
		if err != nil {
			return dup(err)
		}
	}
	return nil
}

// excludedCol is RoutingExcluded as its column keeps it: a JSON array, ”
// for none.
func excludedCol(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	b, _ := json.Marshal(ids) // a []string always encodes
	return string(b)
}

func conversationEvent(w domain.ConversationWrite) *domain.Event {
	return &domain.Event{WorkspaceID: w.Conversation.WorkspaceID, Conversation: &domain.ConversationEvent{
		Before: w.Before, After: w.Conversation, Change: w.Change, Message: w.Message, Delivery: w.Delivery,
	}}
}

// OwnedConversations returns up to q.Limit conversations owned by q.OwnerID
// in q.Statuses (empty: any), in id order after q.AfterID.
func (s *Store) OwnedConversations(ctx context.Context, q domain.OwnedQuery) ([]domain.Conversation, error) {
	if q.OwnerID == "" || q.Limit <= 0 {
		return nil, nil
	}
	// owner_id <> '' is always true here; it is spelled out so that SQLite
	// may use the partial index of owned conversations.
	query := `SELECT ` + convCols + ` FROM conversations INDEXED BY conversations_by_owner
		WHERE workspace_id = ? AND owner_id = ? AND owner_id <> '' AND id > ?`
	args := []any{q.WorkspaceID, q.OwnerID, q.AfterID}
	if len(q.Statuses) > 0 {
		query += ` AND status IN (` + placeholders(len(q.Statuses)) + `)`
		for _, st := range q.Statuses {
			args = append(args, string(st))
		}
	}
	if q.OnlyAssignedWhileOffline {
		query += ` AND assigned_while_offline`
	}
	query += ` ORDER BY id` + limit(q.Limit)
	out, err := scanConversations(s.query(ctx, nil, query, args...))
	if err != nil {
		return nil, failed("owned conversations", err)
	}
	return out, nil
}

// Messages.

const messageCols = `workspace_id, id, conversation_id, direction, text, author_id, external_id, version, created_at,
	channel_id, delivery_status, delivery_at, delivery_external_id, delivery_error, delivery_version`

// deliveryCols is a delivery state as the messages table keeps it: status
// ” for none.
type deliveryCols struct {
	status, externalID, err string
	at, version             int64
}

func toDeliveryCols(d *domain.Delivery) deliveryCols {
	if d == nil {
		return deliveryCols{}
	}
	return deliveryCols{status: string(d.Status), externalID: d.ExternalID, err: d.Error, at: millis(d.At), version: d.Version}
}

func scanMessages(rows *sql.Rows, err error) ([]domain.Message, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []domain.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *m)
	}
	return out, rows.Err()
}

func scanMessage(row scanner) (*domain.Message, error) {
	var m domain.Message
	var created int64
	var d deliveryCols
	if err := row.Scan(&m.WorkspaceID, &m.ID, &m.ConversationID, &m.Direction, &m.Text, &m.AuthorID, &m.ExternalID,
		&m.Version, &created, &m.ChannelID, &d.status, &d.at, &d.externalID, &d.err, &d.version); err != nil {
		return nil, err
	}
	m.CreatedAt = fromMillis(created)
	if d.status != "" {
		m.Delivery = &domain.Delivery{
			Status: domain.DeliveryStatus(d.status), At: fromMillis(d.at), ExternalID: d.externalID, Error: d.err, Version: d.version,
		}
	}
	return &m, nil
}

// PendingDeliveries returns a page of a workspace's PENDING deliveries,
// oldest first: one range of messages_pending_delivery.
func (s *Store) PendingDeliveries(ctx context.Context, q domain.DeliveryQuery) ([]domain.Message, error) {
	if q.Limit <= 0 {
		return nil, nil
	}
	query := `SELECT ` + messageCols + ` FROM messages INDEXED BY messages_pending_delivery
		WHERE workspace_id = ? AND delivery_status = 'PENDING'`
	args := []any{q.WorkspaceID}
	if a := q.After; a != nil {
		query += ` AND (created_at, conversation_id, version) > (?, ?, ?)`
		args = append(args, millis(a.CreatedAt), a.ConversationID, a.Version)
	}
	if !q.CreatedBefore.IsZero() {
		query += ` AND created_at < ?`
		args = append(args, millis(q.CreatedBefore))
	}
	if len(q.ChannelIDs) > 0 {
		query += ` AND channel_id IN (` + placeholders(len(q.ChannelIDs)) + `)`
		args = append(args, strArgs(q.ChannelIDs)...)
	}
	query += ` ORDER BY created_at, conversation_id, version` + limit(q.Limit)
	out, err := scanMessages(s.query(ctx, nil, query, args...))
	if err != nil {
		return nil, failed("pending deliveries", err)
	}
	return out, nil
}

// CountPendingDeliveries counts a channel's PENDING deliveries, and those
// created before stalledBefore.
func (s *Store) CountPendingDeliveries(ctx context.Context, workspaceID, channelID string, stalledBefore time.Time) (pending, stalled int, err error) {
	err = s.queryRow(ctx, nil, `SELECT count(*), coalesce(sum(created_at < ?), 0) FROM messages INDEXED BY messages_pending_delivery
		WHERE workspace_id = ? AND delivery_status = 'PENDING' AND channel_id = ?`,
		millis(stalledBefore), workspaceID, channelID).Scan(&pending, &stalled)
	if err != nil {
		return 0, 0, failed("count pending deliveries", err)
	}
	return pending, stalled, nil
}

// MessagesByIDs returns messages in key order, nil for unknown ids.
func (s *Store) MessagesByIDs(ctx context.Context, workspaceID string, ids []string) ([]*domain.Message, error) {
	out, err := byIDs(ctx, s, workspaceID, ids, `SELECT `+messageCols+` FROM messages WHERE workspace_id = ? AND id IN (%s)`,
		func(row scanner) (string, *domain.Message, error) {
			m, err := scanMessage(row)
			if err != nil {
				return "", nil, err
			}
			return m.ID, m, nil
		})
	if err != nil {
		return nil, failed("messages by ids", err)
	}
	return out, nil
}

// ListMessages returns a page of a conversation's messages by version.
func (s *Store) ListMessages(ctx context.Context, q domain.MessageQuery) ([]domain.Message, error) {
	if q.Limit <= 0 {
		return nil, nil
	}
	query := `SELECT ` + messageCols + ` FROM messages WHERE workspace_id = ? AND conversation_id = ? AND version > ?`
	args := []any{q.WorkspaceID, q.ConversationID, q.AfterVersion}
	if q.BeforeVersion > 0 {
		query += ` AND version < ?`
		args = append(args, q.BeforeVersion)
	}
	if q.NewestFirst {
		query += ` ORDER BY version DESC` + limit(q.Limit)
	} else {
		query += ` ORDER BY version` + limit(q.Limit)
	}
	out, err := scanMessages(s.query(ctx, nil, query, args...))
	if err != nil {
		return nil, failed("list messages", err)
	}
	return out, nil
}

// History.

const historyCols = `workspace_id, conversation_id, version, id, status, at, from_id, to_id, actor_id, reason`

func scanHistory(row scanner) (*domain.OwnershipChange, error) {
	var h domain.OwnershipChange
	var at int64
	if err := row.Scan(&h.WorkspaceID, &h.ConversationID, &h.Version, &h.ID, &h.Status, &at, &h.FromID, &h.ToID,
		&h.ActorID, &h.Reason); err != nil {
		return nil, err
	}
	h.At = fromMillis(at)
	return &h, nil
}

// ListHistory returns a page of a conversation's ownership changes by
// version. Both directions are one range of the history table's primary key
// (workspace, conversation, version), read forwards or backwards: a page
// from the newest end reads a page's rows, however long the history.
func (s *Store) ListHistory(ctx context.Context, q domain.HistoryQuery) ([]domain.OwnershipChange, error) {
	if q.Limit <= 0 {
		return nil, nil
	}
	query := `SELECT ` + historyCols + ` FROM history WHERE workspace_id = ? AND conversation_id = ? AND version > ?`
	args := []any{q.WorkspaceID, q.ConversationID, q.AfterVersion}
	if q.BeforeVersion > 0 {
		query += ` AND version < ?`
		args = append(args, q.BeforeVersion)
	}
	if q.NewestFirst {
		query += ` ORDER BY version DESC` + limit(q.Limit)
	} else {
		query += ` ORDER BY version` + limit(q.Limit)
	}
	rows, err := s.query(ctx, nil, query, args...)
	if err != nil {
		return nil, failed("list history", err)
	}
	defer rows.Close()
	var out []domain.OwnershipChange
	for rows.Next() {
		h, err := scanHistory(rows)
		if err != nil {
			return nil, failed("list history", err)
		}
		out = append(out, *h)
	}
	if err := rows.Err(); err != nil {
		return nil, failed("list history", err)
	}
	return out, nil
}

// byKeys runs query (with %s for a VALUES list of (conversation_id, version)
// pairs) over keys in chunks, with args before the pairs, and passes each
// row to row.
func (s *Store) byKeys(ctx context.Context, query string, args []any, keys []domain.HistoryKey, row func(scanner) error) error {
	for _, c := range chunks(len(keys)) {
		part := keys[c[0]:c[1]]
		n := bucket(len(part))
		values := make([]byte, 0, n*8)
		a := append([]any(nil), args...)
		for i := range n {
			if i > 0 {
				values = append(values, ", "...)
			}
			values = append(values, "(?, ?)"...)
			k := part[min(i, len(part)-1)]
			a = append(a, k.ConversationID, k.Version)
		}
		rows, err := s.query(ctx, nil, fmt.Sprintf(query, values), a...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := row(rows); err != nil {
				rows.Close()
				return err
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// HistoryEntries returns history entries by key, nil for unknown keys.
func (s *Store) HistoryEntries(ctx context.Context, workspaceID string, keys []domain.HistoryKey) ([]*domain.OwnershipChange, error) {
	found := make(map[domain.HistoryKey]*domain.OwnershipChange, len(keys))
	err := s.byKeys(ctx, `SELECT `+historyCols+` FROM history
		WHERE workspace_id = ? AND (conversation_id, version) IN (VALUES %s)`, []any{workspaceID}, keys,
		func(row scanner) error {
			h, err := scanHistory(row)
			if err != nil {
				return err
			}
			found[domain.HistoryKey{ConversationID: h.ConversationID, Version: h.Version}] = h
			return nil
		})
	if err != nil {
		return nil, failed("history entries", err)
	}
	out := make([]*domain.OwnershipChange, len(keys))
	for i, k := range keys {
		out[i] = found[k]
	}
	return out, nil
}

// Acknowledgements.

// AcknowledgeAssignments records that agentID has seen these assignments.
func (s *Store) AcknowledgeAssignments(ctx context.Context, workspaceID, agentID string, keys []domain.HistoryKey) error {
	if len(keys) == 0 {
		return nil
	}
	return s.write(ctx, "acknowledge assignments", func(tx *sql.Tx) (*domain.Event, error) {
		for _, k := range keys {
			if _, err := s.exec(ctx, tx, `INSERT INTO acks (workspace_id, agent_id, conversation_id, version) VALUES (?, ?, ?, ?)
				ON CONFLICT DO NOTHING`, workspaceID, agentID, k.ConversationID, k.Version); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
}

// AcknowledgedAssignments reports, for each key, whether agentID has
// acknowledged it.
func (s *Store) AcknowledgedAssignments(ctx context.Context, workspaceID, agentID string, keys []domain.HistoryKey) ([]bool, error) {
	found := make(map[domain.HistoryKey]bool, len(keys))
	err := s.byKeys(ctx, `SELECT conversation_id, version FROM acks
		WHERE workspace_id = ? AND agent_id = ? AND (conversation_id, version) IN (VALUES %s)`, []any{workspaceID, agentID}, keys,
		func(row scanner) error {
			var k domain.HistoryKey
			if err := row.Scan(&k.ConversationID, &k.Version); err != nil {
				return err
			}
			found[k] = true
			return nil
		})
	if err != nil {
		return nil, failed("acknowledged assignments", err)
	}
	out := make([]bool, len(keys))
	for i, k := range keys {
		out[i] = found[k]
	}
	return out, nil
}
