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

// Messages returns a page of a conversation's messages: first/after from the
// oldest, last/before from the newest; always oldest first.
func (s *Service) Messages(ctx context.Context, ws, conversationID string, args PageArgs) (MessagePage, error) {
	if args.First != nil && args.Last != nil {
		return MessagePage{}, Invalid("first", "give first or last, not both")
	}
	q := MessageQuery{WorkspaceID: ws, ConversationID: conversationID}
	var err error
	if args.After != nil {
		if q.AfterVersion, err = decodeVersionCursor("msg", "after", *args.After); err != nil {
			return MessagePage{}, err
		}
	}
	if args.Before != nil {
		if q.BeforeVersion, err = decodeVersionCursor("msg", "before", *args.Before); err != nil {
			return MessagePage{}, err
		}
	}
	var page MessagePage
	if args.Last != nil {
		if q.Limit, err = pageSize("last", args.Last, DefaultPageSize); err != nil {
			return MessagePage{}, err
		}
		q.NewestFirst = true
		page.HasNextPage = args.Before != nil
	} else {
		if q.Limit, err = pageSize("first", args.First, DefaultPageSize); err != nil {
			return MessagePage{}, err
		}
		page.HasPreviousPage = args.After != nil
	}
	if q.Limit == 0 {
		return page, nil
	}
	want := q.Limit
	q.Limit++
	msgs, err := s.store.ListMessages(ctx, q)
	if err != nil {
		return MessagePage{}, internal(err)
	}
	more := len(msgs) > want
	if more {
		msgs = msgs[:want]
	}
	if q.NewestFirst {
		slices.Reverse(msgs)
		page.HasPreviousPage = more
	} else {
		page.HasNextPage = more
	}
	page.Messages = msgs
	page.Cursors = make([]string, len(msgs))
	for i, m := range msgs {
		page.Cursors[i] = versionCursor("msg", m.Version)
	}
	return page, nil
}

// HistoryPage is one page of a conversation's ownership history.
type HistoryPage struct {
	Changes []OwnershipChange
	Cursors []string
	PageInfo
}

// History returns a page of a conversation's ownership changes, oldest
// first.
func (s *Service) History(ctx context.Context, ws, conversationID string, first *int, after *string) (HistoryPage, error) {
	n, err := pageSize("first", first, 50)
	if err != nil {
		return HistoryPage{}, err
	}
	var from int64
	if after != nil {
		if from, err = decodeVersionCursor("oc", "after", *after); err != nil {
			return HistoryPage{}, err
		}
	}
	page := HistoryPage{PageInfo: PageInfo{HasPreviousPage: after != nil}}
	if n == 0 {
		return page, nil
	}
	changes, err := s.store.ListHistory(ctx, ws, conversationID, from, n+1)
	if err != nil {
		return HistoryPage{}, internal(err)
	}
	if len(changes) > n {
		changes, page.HasNextPage = changes[:n], true
	}
	page.Changes = changes
	page.Cursors = make([]string, len(changes))
	for i, c := range changes {
		page.Cursors[i] = versionCursor("oc", c.Version)
	}
	return page, nil
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
