package domain

import (
	"context"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
)

// PageArgs are Relay-style paging arguments.
type PageArgs struct {
	First  *int
	After  *string
	Last   *int
	Before *string
}

// PageInfo is Relay's page information.
type PageInfo struct {
	HasNextPage     bool
	HasPreviousPage bool
}

// MessagePage is one page of a conversation's messages, oldest first.
type MessagePage struct {
	Messages []Message
	Cursors  []string
	PageInfo
}

// versionCursor encodes a position in a conversation's messages or
// history, both ordered by conversation version.
func versionCursor(kind string, v int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + strconv.FormatInt(v, 10)))
}

func decodeVersionCursor(kind, arg, s string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		if v, ok := strings.CutPrefix(string(b), kind+":"); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
				return n, nil
			}
		}
	}
	return 0, Invalid(arg, "%s is not a cursor of this list", arg)
}

func pageSize(arg string, n *int, def int) (int, error) {
	if n == nil {
		return def, nil
	}
	if *n < 0 || *n > MaxPageSize {
		return 0, Invalid(arg, "%s must be 0 to %d", arg, MaxPageSize)
	}
	return *n, nil
}

// versionBounds is the part of a page of messages or history that paging
// decides: AfterVersion and BeforeVersion (0: unbounded), the rows to read,
// and from which end.
type versionBounds struct {
	AfterVersion, BeforeVersion int64
	Limit                       int
	NewestFirst                 bool
}

// versionPage reads one Relay page of a conversation's list ordered by
// version (messages, history) through list, which returns rows in the order
// it read them: first/after from the oldest, last/before from the newest,
// first and last not together, cursors of kind validated. It reads one row
// more than the page to learn whether there are more; rows come back oldest
// first whichever end they were read from.
func versionPage[T any](args PageArgs, kind string, def int, list func(versionBounds) ([]T, error), version func(T) int64) ([]T, []string, PageInfo, error) {
	var info PageInfo
	if args.First != nil && args.Last != nil {
		return nil, nil, info, Invalid("first", "give first or last, not both")
	}
	var b versionBounds
	var err error
	if args.After != nil {
		if b.AfterVersion, err = decodeVersionCursor(kind, "after", *args.After); err != nil {
			return nil, nil, info, err
		}
	}
	if args.Before != nil {
		if b.BeforeVersion, err = decodeVersionCursor(kind, "before", *args.Before); err != nil {
			return nil, nil, info, err
		}
	}
	if args.Last != nil {
		if b.Limit, err = pageSize("last", args.Last, def); err != nil {
			return nil, nil, info, err
		}
		b.NewestFirst = true
		info.HasNextPage = args.Before != nil
	} else {
		if b.Limit, err = pageSize("first", args.First, def); err != nil {
			return nil, nil, info, err
		}
		info.HasPreviousPage = args.After != nil
	}
	if b.Limit == 0 {
		return nil, nil, info, nil
	}
	want := b.Limit
	b.Limit++
	rows, err := list(b)
	if err != nil {
		return nil, nil, info, internal(err)
	}
	more := len(rows) > want
	if more {
		rows = rows[:want]
	}
	if b.NewestFirst {
		slices.Reverse(rows)
		info.HasPreviousPage = more
	} else {
		info.HasNextPage = more
	}
	cursors := make([]string, len(rows))
	for i, r := range rows {
		cursors[i] = versionCursor(kind, version(r))
	}
	return rows, cursors, info, nil
}

// Messages returns a page of a conversation's messages: first/after from the
// oldest, last/before from the newest; always oldest first.
func (s *Service) Messages(ctx context.Context, ws, conversationID string, args PageArgs) (MessagePage, error) {
	msgs, cursors, info, err := versionPage(args, "msg", DefaultPageSize, func(b versionBounds) ([]Message, error) {
		return s.store.ListMessages(ctx, MessageQuery{
			WorkspaceID: ws, ConversationID: conversationID,
			AfterVersion: b.AfterVersion, BeforeVersion: b.BeforeVersion, Limit: b.Limit, NewestFirst: b.NewestFirst,
		})
	}, func(m Message) int64 { return m.Version })
	if err != nil {
		return MessagePage{}, err
	}
	return MessagePage{Messages: msgs, Cursors: cursors, PageInfo: info}, nil
}

// HistoryPage is one page of a conversation's ownership history.
type HistoryPage struct {
	Changes []OwnershipChange
	Cursors []string
	PageInfo
}

// History returns a page of a conversation's ownership changes, paged as
// Messages pages messages: first/after from the oldest, last/before from the
// newest; always oldest first.
func (s *Service) History(ctx context.Context, ws, conversationID string, args PageArgs) (HistoryPage, error) {
	changes, cursors, info, err := versionPage(args, "oc", DefaultHistoryPageSize, func(b versionBounds) ([]OwnershipChange, error) {
		return s.store.ListHistory(ctx, HistoryQuery{
			WorkspaceID: ws, ConversationID: conversationID,
			AfterVersion: b.AfterVersion, BeforeVersion: b.BeforeVersion, Limit: b.Limit, NewestFirst: b.NewestFirst,
		})
	}, func(c OwnershipChange) int64 { return c.Version })
	if err != nil {
		return HistoryPage{}, err
	}
	return HistoryPage{Changes: changes, Cursors: cursors, PageInfo: info}, nil
}

// maxMissed bounds the missed assignments listed at once; an agent acknowledges
// them to see more.
const maxMissed = 500

// MissedAssignments lists the conversations the caller owns that were
// assigned to them while they were OFFLINE and not yet acknowledged, oldest
// assignment first.
func (s *Service) MissedAssignments(ctx context.Context, a Actor) ([]MissedAssignment, error) {
	if err := requireAgent(a); err != nil {
		return nil, err
	}
	convs, keys, err := s.missed(ctx, a)
	if err != nil {
		return nil, err
	}
	entries, err := s.store.HistoryEntries(ctx, a.WorkspaceID, keys)
	if err != nil {
		return nil, internal(err)
	}
	out := make([]MissedAssignment, 0, len(convs))
	for i, c := range convs {
		if entries[i] == nil {
			continue
		}
		out = append(out, MissedAssignment{Conversation: c, Change: *entries[i]})
	}
	slices.SortFunc(out, func(x, y MissedAssignment) int {
		if c := x.Change.At.Compare(y.Change.At); c != 0 {
			return c
		}
		return strings.Compare(x.Conversation.ID, y.Conversation.ID)
	})
	return out, nil
}

// missed returns the caller's unacknowledged missed assignments and their
// history keys.
func (s *Service) missed(ctx context.Context, a Actor) ([]Conversation, []HistoryKey, error) {
	convs, err := s.store.OwnedConversations(ctx, OwnedQuery{
		WorkspaceID: a.WorkspaceID, OwnerID: a.ID, Statuses: []QueueStatus{StatusNew, StatusPending},
		OnlyAssignedWhileOffline: true, Limit: maxMissed,
	})
	if err != nil {
		return nil, nil, internal(err)
	}
	keys := make([]HistoryKey, len(convs))
	for i, c := range convs {
		keys[i] = HistoryKey{ConversationID: c.ID, Version: c.OwnerVersion}
	}
	acked, err := s.store.AcknowledgedAssignments(ctx, a.WorkspaceID, a.ID, keys)
	if err != nil {
		return nil, nil, internal(err)
	}
	var outC []Conversation
	var outK []HistoryKey
	for i := range convs {
		if !acked[i] {
			outC = append(outC, convs[i])
			outK = append(outK, keys[i])
		}
	}
	return outC, outK, nil
}

// AcknowledgeMissedAssignments marks the caller's missed assignments of these
// conversations as seen; it returns how many were acknowledged now.
func (s *Service) AcknowledgeMissedAssignments(ctx context.Context, a Actor, conversationIDs []string) (int, error) {
	if err := requireAgent(a); err != nil {
		return 0, err
	}
	if len(conversationIDs) > MaxAcknowledgeIDs {
		return 0, Invalid("conversationIds", "at most %d conversationIds at once", MaxAcknowledgeIDs)
	}
	ids := sortedUnique(conversationIDs)
	if len(ids) == 0 {
		return 0, nil
	}
	convs, err := s.store.ConversationsByIDs(ctx, a.WorkspaceID, ids)
	if err != nil {
		return 0, internal(err)
	}
	var keys []HistoryKey
	for _, c := range convs {
		if c != nil && c.Status.Open() && c.OwnerID == a.ID && c.AssignedWhileOffline {
			keys = append(keys, HistoryKey{ConversationID: c.ID, Version: c.OwnerVersion})
		}
	}
	if len(keys) == 0 {
		return 0, nil
	}
	acked, err := s.store.AcknowledgedAssignments(ctx, a.WorkspaceID, a.ID, keys)
	if err != nil {
		return 0, internal(err)
	}
	var fresh []HistoryKey
	for i, k := range keys {
		if !acked[i] {
			fresh = append(fresh, k)
		}
	}
	if len(fresh) == 0 {
		return 0, nil
	}
	if err := s.store.AcknowledgeAssignments(ctx, a.WorkspaceID, a.ID, fresh); err != nil {
		return 0, internal(err)
	}
	return len(fresh), nil
}
