package sqlite

import (
	"context"
	"slices"
	"strings"

	"switchboard/domain"
)

// The queue indexes (see migrations). Queue statements name their index
// with INDEXED BY: SQLite has no statistics to choose well between them, and
// a statement that could not use the named index fails instead of quietly
// sorting the whole queue.
const (
	idxQueue        = "conversations_queue"
	idxQueueOwned   = "conversations_queue_owned"
	idxQueueOwner   = "conversations_queue_by_owner"
	idxQueueChannel = "conversations_queue_by_channel"
)

// maxArms bounds how many index ranges one queue page merges; a longer list
// of owners or channels is read as one filtered range of the whole queue.
const maxArms = 16

// queuePlan is how a queue view is read: one index range in
// (waiting_since, id) order per value of armCol (or a single range when
// armCol is ""), merged, each with the same filter on columns the index
// holds, so rows that do not match are skipped without being read.
type queuePlan struct {
	none    bool // the view matches nothing
	index   string
	armCol  string
	armVals []string
	filter  string
	args    []any
}

// planQueue chooses the index and ranges that read q's view in order.
func planQueue(q domain.QueueQuery) queuePlan {
	m := q.Owners.Set()
	channels := domain.SortedUnique(q.ChannelIDs)
	var p queuePlan
	switch {
	case m.Finite && len(m.Values) == 0:
		p.none = true
	case m.Finite && len(m.Values) <= maxArms:
		// A few owners: one range per owner. The owner, not the channel, is
		// the arm because a view lists few owners, and most views no channel.
		p.index, p.armCol, p.armVals = idxQueueOwner, "owner_id", m.Values
		p.in("channel_id", channels)
	case !m.Finite && len(channels) > 0 && len(channels) <= maxArms:
		p.index, p.armCol, p.armVals = idxQueueChannel, "channel_id", channels
		p.owners(m)
	default:
		p.index = idxQueue
		if !m.All && !m.Finite && !m.Unowned {
			p.index = idxQueueOwned
		}
		p.owners(m)
		p.in("channel_id", channels)
	}
	return p
}

func (p *queuePlan) in(col string, vals []string) {
	if len(vals) == 0 {
		return
	}
	p.filter += ` AND ` + col + ` IN (` + placeholders(len(vals)) + `)`
	p.args = append(p.args, strArgs(vals)...)
}

func (p *queuePlan) owners(m domain.OwnerSet) {
	switch {
	case m.All:
	case m.Finite:
		p.in("owner_id", m.Values)
	default:
		if !m.Unowned {
			// Spelled as in the partial index's WHERE, so SQLite may use it.
			p.filter += ` AND owner_id <> ''`
		}
		if len(m.Except) > 0 {
			p.filter += ` AND owner_id NOT IN (` + placeholders(len(m.Except)) + `)`
			p.args = append(p.args, strArgs(m.Except)...)
		}
	}
}

// pageSQL is the statement and arguments of one page of q. The rows of a
// page with several arms come back in no particular order (see sortPage).
func (p queuePlan) pageSQL(q domain.QueueQuery) (string, []any) {
	order, cmp := `waiting_since, id`, `>`
	if q.Order == domain.Newest {
		order, cmp = `waiting_since DESC, id DESC`, `<`
	}
	arm := func(cols string, val *string) (string, []any) {
		var b strings.Builder
		args := []any{q.WorkspaceID, string(q.Status)}
		b.WriteString(`SELECT ` + cols + ` FROM conversations INDEXED BY ` + p.index + ` WHERE workspace_id = ? AND status = ?`)
		if val != nil {
			b.WriteString(` AND ` + p.armCol + ` = ?`)
			args = append(args, *val)
		}
		b.WriteString(p.filter)
		args = append(args, p.args...)
		if q.After != nil {
			b.WriteString(` AND (waiting_since, id) ` + cmp + ` (?, ?)`)
			args = append(args, millis(q.After.WaitingSince), q.After.ID)
		}
		b.WriteString(` ORDER BY ` + order + limit(q.Limit))
		return b.String(), args
	}
	if p.armCol == "" {
		return arm(convCols, nil)
	}
	if len(p.armVals) == 1 {
		return arm(convCols, &p.armVals[0])
	}
	// Several arms: each reads only the sort key of its first q.Limit rows
	// from the index (no row is read), SQLite merges them (MERGE (UNION
	// ALL)) and keeps the first q.Limit keys, and only those rows are read.
	var parts []string
	args := []any{q.WorkspaceID}
	for i := range p.armVals {
		sql, a := arm(`waiting_since, id`, &p.armVals[i])
		parts = append(parts, `SELECT * FROM (`+sql+`)`)
		args = append(args, a...)
	}
	return `SELECT ` + convCols + ` FROM conversations WHERE workspace_id = ? AND id IN (SELECT id FROM (` +
		strings.Join(parts, ` UNION ALL `) + ` ORDER BY ` + order + limit(q.Limit) + `))`, args
}

// sortPage puts the rows of a page in q's order.
func sortPage(rows []domain.Conversation, order domain.QueueOrder) {
	slices.SortFunc(rows, func(x, y domain.Conversation) int {
		c := x.WaitingSince.Compare(y.WaitingSince)
		if c == 0 {
			c = strings.Compare(x.ID, y.ID)
		}
		if order == domain.Newest {
			return -c
		}
		return c
	})
}

// QueryQueue returns up to q.Limit conversations of a queue view after
// q.After, in q.Order.
func (s *Store) QueryQueue(ctx context.Context, q domain.QueueQuery) ([]domain.Conversation, error) {
	p := planQueue(q)
	if p.none || q.Limit <= 0 {
		return nil, nil
	}
	query, args := p.pageSQL(q)
	out, err := scanConversations(s.query(ctx, nil, query, args...))
	if err != nil {
		return nil, failed("query queue", err)
	}
	if len(p.armVals) > 1 {
		sortPage(out, q.Order)
	}
	return out, nil
}

// countSQL is the statement and arguments that count q's view from the
// badge counts (migration 5); none when the view matches nothing.
func countSQL(q domain.QueueQuery) (query string, args []any, none bool) {
	channels := domain.SortedUnique(q.ChannelIDs)
	table := `queue_owner_counts`
	if len(channels) > 0 {
		table = `queue_counts`
	}
	query = `SELECT coalesce(sum(n), 0) FROM ` + table + ` WHERE workspace_id = ? AND status = ?`
	args = []any{q.WorkspaceID, string(q.Status)}
	switch m := q.Owners.Set(); {
	case m.All:
	case m.Finite && len(m.Values) == 0:
		return "", nil, true
	case m.Finite:
		query += ` AND owner_id IN (` + placeholders(len(m.Values)) + `)`
		args = append(args, strArgs(m.Values)...)
	default:
		if !m.Unowned {
			query += ` AND owner_id <> ''`
		}
		if len(m.Except) > 0 {
			query += ` AND owner_id NOT IN (` + placeholders(len(m.Except)) + `)`
			args = append(args, strArgs(m.Except)...)
		}
	}
	if len(channels) > 0 {
		query += ` AND channel_id IN (` + placeholders(len(channels)) + `)`
		args = append(args, strArgs(channels)...)
	}
	return query, args, false
}

// CountQueue counts the conversations of a queue view from the badge
// counts: it reads one row per owner and channel of the queue that the
// view selects, however many conversations they count.
func (s *Store) CountQueue(ctx context.Context, q domain.QueueQuery) (int, error) {
	query, args, none := countSQL(q)
	if none {
		return 0, nil
	}
	var n int
	if err := s.queryRow(ctx, nil, query, args...).Scan(&n); err != nil {
		return 0, failed("count queue", err)
	}
	return n, nil
}

// countOwnersSQL is the statement and arguments of CountOwners.
func countOwnersSQL(workspaceID string, status domain.QueueStatus, channelIDs []string) (string, []any) {
	channels := domain.SortedUnique(channelIDs)
	if len(channels) == 0 {
		return `SELECT owner_id, n FROM queue_owner_counts WHERE workspace_id = ? AND status = ? ORDER BY owner_id`,
			[]any{workspaceID, string(status)}
	}
	query := `SELECT owner_id, sum(n) FROM queue_counts WHERE workspace_id = ? AND status = ?`
	args := []any{workspaceID, string(status)}
	query += ` AND channel_id IN (` + placeholders(len(channels)) + `)`
	args = append(args, strArgs(channels)...)
	return query + ` GROUP BY owner_id ORDER BY owner_id`, args
}

// CountOwners counts a queue's conversations per owner ("" for unowned), in
// owner order, from the badge counts.
func (s *Store) CountOwners(ctx context.Context, workspaceID string, status domain.QueueStatus, channelIDs []string) ([]domain.OwnerCount, error) {
	query, args := countOwnersSQL(workspaceID, status, channelIDs)
	rows, err := s.query(ctx, nil, query, args...)
	if err != nil {
		return nil, failed("count owners", err)
	}
	defer rows.Close()
	var out []domain.OwnerCount
	for rows.Next() {
		var c domain.OwnerCount
		if err := rows.Scan(&c.OwnerID, &c.Count); err != nil {
			return nil, failed("count owners", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, failed("count owners", err)
	}
	return out, nil
}
