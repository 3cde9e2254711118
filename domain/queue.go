package domain

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
)

// QueueRequest asks for one page of a queue view.
type QueueRequest struct {
	Status     QueueStatus
	Ownership  *OwnershipFilter
	ChannelIDs []string
	Order      QueueOrder
	First      int
	After      string
	// Count asks for the count of the whole view too, read beside the
	// page rather than after it.
	Count bool
}

// QueuePage is one page of a queue view.
type QueuePage struct {
	Conversations   []Conversation
	Cursors         []string
	HasNextPage     bool
	HasPreviousPage bool
	// Query counts the whole view (CountQueue), when a caller asks.
	Query QueueQuery
	// Count is the count of the whole view, when the request asked for it
	// (nil otherwise, or when CountErr says why it could not be read).
	Count    *int
	CountErr error
}

// QueueView is a queue view resolved for one caller: what a queue query,
// its cursors and a queueChanged subscription share.
type QueueView struct {
	WorkspaceID string
	Status      QueueStatus
	Owners      OwnerPredicate
	ChannelIDs  []string
	Order       QueueOrder
	fingerprint string
}

// ResolveQueueView checks a view's arguments and resolves its ownership
// filter for the caller.
func (s *Service) ResolveQueueView(ctx context.Context, a Actor, status QueueStatus, f *OwnershipFilter, channelIDs []string, order QueueOrder) (QueueView, error) {
	if err := requireAgent(a); err != nil {
		return QueueView{}, err
	}
	if !status.Valid() {
		return QueueView{}, Invalid("status", "unknown queue")
	}
	if order == "" {
		order = LongestWaiting
	}
	if order != LongestWaiting && order != Newest {
		return QueueView{}, Invalid("order", "unknown order")
	}
	ws := a.WorkspaceID
	channelIDs = sortedUnique(channelIDs)
	if len(channelIDs) > 0 {
		chs, err := s.store.ChannelsByIDs(ctx, ws, channelIDs)
		if err != nil {
			return QueueView{}, internal(err)
		}
		if slices.Contains(chs, nil) {
			return QueueView{}, Invalid("channelIds", "channelIds names a channel that is not in this workspace")
		}
	}
	if err := s.checkOwnerIDs(ctx, ws, f); err != nil {
		return QueueView{}, err
	}
	v := QueueView{WorkspaceID: ws, Status: status, Owners: f.Resolve(a.ID), ChannelIDs: channelIDs, Order: order}
	v.fingerprint = v.computeFingerprint()
	return v, nil
}

func sortedUnique(ids []string) []string {
	if len(ids) == 0 {
		return nil
	}
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// computeFingerprint names the view, so that a cursor used with other
// arguments is noticed.
func (v QueueView) computeFingerprint() string {
	h := sha256.New()
	p := v.Owners
	for _, part := range []string{
		v.WorkspaceID, string(v.Status), string(v.Order),
		strconv.FormatBool(p.Unowned), strconv.FormatBool(p.AnyOwner),
		strings.Join(p.Except, "\x00"), strings.Join(p.Owners, "\x00"), strings.Join(v.ChannelIDs, "\x00"),
	} {
		h.Write([]byte(strconv.Itoa(len(part)) + ":" + part))
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:9])
}

// Key names the view: two views with the same key select the same
// conversations in the same order, for any caller.
func (v QueueView) Key() string { return v.fingerprint }

// Matches reports whether a conversation in state c belongs to the view.
func (v QueueView) Matches(c *Conversation) bool {
	if c == nil || c.Status != v.Status || !v.Owners.Matches(c.OwnerID) {
		return false
	}
	return len(v.ChannelIDs) == 0 || slices.Contains(v.ChannelIDs, c.ChannelID)
}

// queueCursor is the content of a queue cursor.
type queueCursor struct {
	WaitingSince int64  `json:"w"`
	ID           string `json:"i"`
	View         string `json:"v"`
}

// Cursor is where c sorts in the view, as a cursor for `after`.
func (v QueueView) Cursor(c *Conversation) string {
	b, _ := json.Marshal(queueCursor{WaitingSince: c.WaitingSince.UnixMilli(), ID: c.ID, View: v.fingerprint})
	return base64.RawURLEncoding.EncodeToString(b)
}

func (v QueueView) decodeCursor(s string) (*QueueKey, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var qc queueCursor
	if err != nil || json.Unmarshal(b, &qc) != nil || qc.ID == "" {
		return nil, Invalid("after", "after is not a cursor of this API")
	}
	if qc.View != v.fingerprint {
		return nil, Invalid("after", "after is a cursor of a query with other arguments")
	}
	return &QueueKey{WaitingSince: time.UnixMilli(qc.WaitingSince).UTC(), ID: qc.ID}, nil
}

func (v QueueView) query(after *QueueKey, limit int) QueueQuery {
	return QueueQuery{
		WorkspaceID: v.WorkspaceID, Status: v.Status, Owners: v.Owners, ChannelIDs: v.ChannelIDs,
		Order: v.Order, After: after, Limit: limit,
	}
}

// Queue returns one page of a queue view, sorted by waitingSince (longest
// waiting first by default) with keyset cursors.
func (s *Service) Queue(ctx context.Context, a Actor, r QueueRequest) (p QueuePage, err error) {
	if err := requireAgent(a); err != nil {
		return QueuePage{}, err
	}
	if r.First < 0 || r.First > MaxPageSize {
		return QueuePage{}, Invalid("first", "first must be 0 to %d", MaxPageSize)
	}
	v, err := s.ResolveQueueView(ctx, a, r.Status, r.Ownership, r.ChannelIDs, r.Order)
	if err != nil {
		return QueuePage{}, err
	}
	var after *QueueKey
	if r.After != "" {
		if after, err = v.decodeCursor(r.After); err != nil {
			return QueuePage{}, err
		}
	}
	page := QueuePage{HasPreviousPage: after != nil, Query: v.query(after, r.First)}
	if r.Count {
		// The count does not wait for the page, nor the page for it.
		var n int
		var countErr error
		counted := make(chan struct{})
		go func() {
			defer close(counted)
			n, countErr = s.CountQueue(ctx, page.Query)
		}()
		defer func() {
			<-counted
			switch {
			case err != nil:
			case countErr != nil:
				p.CountErr = countErr
			default:
				p.Count = &n
			}
		}()
	}
	if r.First == 0 {
		return page, nil
	}
	// One row more than asked tells whether there is a next page.
	rows, err := s.store.QueryQueue(ctx, v.query(after, r.First+1))
	if err != nil {
		return QueuePage{}, internal(err)
	}
	if len(rows) > r.First {
		rows, page.HasNextPage = rows[:r.First], true
	}
	page.Conversations = rows
	page.Cursors = make([]string, len(rows))
	for i := range rows {
		page.Cursors[i] = v.Cursor(&rows[i])
	}
	return page, nil
}

// CountQueue counts every conversation of a page's view.
func (s *Service) CountQueue(ctx context.Context, q QueueQuery) (int, error) {
	n, err := s.store.CountQueue(ctx, q)
	return n, internal(err)
}

// QueueCounts are the badge and filter-menu counts of one queue.
func (s *Service) QueueCounts(ctx context.Context, a Actor, status QueueStatus, channelIDs []string) (QueueCounts, error) {
	v, err := s.ResolveQueueView(ctx, a, status, nil, channelIDs, LongestWaiting)
	if err != nil {
		return QueueCounts{}, err
	}
	qc, err := s.OwnerCounts(ctx, a.WorkspaceID, status, v.ChannelIDs)
	if err != nil {
		return QueueCounts{}, err
	}
	return qc.For(a.ID), nil
}

// OwnerCounts counts a queue's conversations per owner, for no caller in
// particular: every owned conversation is in OwnedByOthers, and For gives
// any caller's counts from it. channelIDs is a view's (ResolveQueueView):
// the caller was checked there.
func (s *Service) OwnerCounts(ctx context.Context, ws string, status QueueStatus, channelIDs []string) (QueueCounts, error) {
	rows, err := s.store.CountOwners(ctx, ws, status, channelIDs)
	if err != nil {
		return QueueCounts{}, internal(err)
	}
	var qc QueueCounts
	for _, r := range rows {
		qc.Total += r.Count
		if r.OwnerID == "" {
			qc.Unowned += r.Count
			continue
		}
		qc.OwnedByOthers += r.Count
		qc.ByOwner = append(qc.ByOwner, r)
	}
	slices.SortFunc(qc.ByOwner, func(x, y OwnerCount) int {
		return cmp.Or(cmp.Compare(y.Count, x.Count), cmp.Compare(x.OwnerID, y.OwnerID))
	})
	return qc, nil
}

// For returns the counts as caller me sees them, from counts for no caller
// (OwnerCounts): its own conversations move from OwnedByOthers to
// OwnedByMe. ByOwner is shared, not copied.
func (q QueueCounts) For(me string) QueueCounts {
	for _, o := range q.ByOwner {
		if o.OwnerID == me {
			q.OwnedByMe += o.Count
			q.OwnedByOthers -= o.Count
		}
	}
	return q
}

// Same reports whether q and o show the same counts.
func (q QueueCounts) Same(o QueueCounts) bool {
	return q.Total == o.Total && q.Unowned == o.Unowned && q.OwnedByMe == o.OwnedByMe &&
		q.OwnedByOthers == o.OwnedByOthers && slices.Equal(q.ByOwner, o.ByOwner)
}

// ResolveOwnershipFilter checks an ownershipChanged subscription's
// arguments and resolves its ownership filter for the caller.
func (s *Service) ResolveOwnershipFilter(ctx context.Context, a Actor, statuses []QueueStatus, f *OwnershipFilter) (ChangeFilter, error) {
	if err := requireAgent(a); err != nil {
		return ChangeFilter{}, err
	}
	for _, st := range statuses {
		if !st.Valid() {
			return ChangeFilter{}, Invalid("status", "unknown queue")
		}
	}
	if err := s.checkOwnerIDs(ctx, a.WorkspaceID, f); err != nil {
		return ChangeFilter{}, err
	}
	return ChangeFilter{Statuses: statuses, Owners: f.Resolve(a.ID)}, nil
}

// checkOwnerIDs refuses a filter naming an agent the workspace does not
// have.
func (s *Service) checkOwnerIDs(ctx context.Context, ws string, f *OwnershipFilter) error {
	if f == nil || len(f.OwnerIDs) == 0 {
		return nil
	}
	agents, err := s.store.AgentsByIDs(ctx, ws, sortedUnique(f.OwnerIDs))
	if err != nil {
		return internal(err)
	}
	if slices.Contains(agents, nil) {
		return Invalid("ownership.ownerIds", "ownerIds names an agent that is not in this workspace")
	}
	return nil
}
