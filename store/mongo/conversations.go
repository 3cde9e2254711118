package mongostore

import (
	"context"
	"errors"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"switchboard/domain"
)

func conversationKeyOf(d *conversationDoc) string { return d.Key }

// ConversationsByIDs returns conversations in key order, nil for unknown ids.
func (s *Store) ConversationsByIDs(ctx context.Context, workspaceID string, ids []string) ([]*domain.Conversation, error) {
	out, err := byKeys(ctx, s, s.conversations, workspaceID, keys(workspaceID, ids, conversationKey), conversationKeyOf, (*conversationDoc).domain)
	return out, wrap("conversations by ids", err)
}

// ContactConversations returns the contact's open conversation with the
// highest Seq and the highest Seq of all its conversations.
//
// The two answers come from two reads, the highest Seq first: a
// conversation created between them then shows up as the open one (and the
// caller adds to it), and one created and resolved between them makes the
// caller's insert of the next Seq a duplicate (and the caller reads again).
// The other order could miss a new open conversation and start a second one.
func (s *Store) ContactConversations(ctx context.Context, workspaceID, contactID string) (open *domain.Conversation, maxSeq int64, err error) {
	byContact := bson.D{{Key: "ws", Value: workspaceID}, {Key: "contactId", Value: contactID}}
	newest := bson.D{{Key: "seq", Value: -1}}
	last, err := find[conversationDoc](ctx, s, s.conversations, byContact, newest, 1)
	if err != nil {
		return nil, 0, wrap("contact conversations", err)
	}
	if len(last) == 0 {
		return nil, 0, nil
	}
	maxSeq = last[0].Seq
	openFilter := append(slices.Clone(byContact), bson.E{Key: "status", Value: bson.D{{Key: "$in", Value: bson.A{string(domain.StatusNew), string(domain.StatusPending)}}}})
	got, err := find[conversationDoc](ctx, s, s.conversations, openFilter, newest, 1)
	if err != nil {
		return nil, 0, wrap("contact conversations", err)
	}
	if len(got) > 0 {
		open = got[0].domain()
		maxSeq = max(maxSeq, open.Seq)
	}
	return open, maxSeq, nil
}

// pendingOf is the history entry and message a write commits with the
// conversation.
func pendingOf(w domain.ConversationWrite) []pendingItem {
	ws, conv := w.Conversation.WorkspaceID, w.Conversation.ID
	var out []pendingItem
	if h := w.Change; h != nil {
		d := toHistoryDoc(ws, conv, *h)
		out = append(out, pendingItem{ID: d.Key, History: &d})
	}
	if m := w.Message; m != nil {
		d := toMessageDoc(ws, conv, *m)
		out = append(out, pendingItem{ID: d.Key, Message: &d})
	}
	if m := w.Delivery; m != nil && m.Delivery != nil {
		d := toMessageDoc(ws, conv, *m)
		out = append(out, pendingItem{ID: deliveryItemKey(ws, m.ID, m.Delivery.Version), Delivery: &d})
	}
	return out
}

// messageTaken reports whether a message with this id exists, copied or
// still pending.
//
// MongoDB cannot make an update conditional on another collection without a
// transaction, so this check comes just before the write, and two writes
// that bring the same new message id to two different conversations at the
// same moment can both pass it: the same inbound message delivered twice at
// once while its contact's conversation changes, or one agent's idempotency
// key used at once for replies to two conversations. Both changes then
// commit; the second copy finds the first one's message, keeps it and logs
// the collision (the second conversation has a version without a message).
// Two such writes to the same conversation cannot both commit: its version
// decides.
func (s *Store) messageTaken(ctx context.Context, ws, k string) (bool, error) {
	p, err := s.pendingByIDs(ctx, ws, []string{k})
	if err != nil || len(p) > 0 {
		return len(p) > 0, err
	}
	d, err := findOne[messageDoc](ctx, s, s.messages, idWS(k, ws))
	return d != nil, err
}

// InsertConversation creates w.Conversation with its message and history
// entry in one insert; ErrDuplicate (and nothing written) if the
// conversation id (or the contact's seq) or the message id exists.
func (s *Store) InsertConversation(ctx context.Context, w domain.ConversationWrite) error {
	c := w.Conversation
	if m := w.Message; m != nil {
		taken, err := s.messageTaken(ctx, c.WorkspaceID, messageKey(c.WorkspaceID, m.ID))
		if err != nil {
			return wrap("insert conversation", err)
		}
		if taken {
			return domain.ErrDuplicate
		}
	}
	items := pendingOf(w)
	d := toConversationDoc(c, items)
	unlock := s.lock(d.Key, true)
	if err := s.insert(ctx, s.conversations, d); err != nil {
		unlock()
		return wrap("insert conversation", err)
	}
	s.publish(conversationEvent(w))
	unlock()
	s.copyOut(ctx, d.Key, c.WorkspaceID, items)
	return nil
}

// UpdateConversation writes w as one change if the stored version is
// w.Conversation.Version-1 and w.OwnerCheck holds: one conditional update
// that sets the new state and pushes the change's history entry and message
// into `pending`, from where they are then copied.
//
// w.OwnerCheck is read just before the update: MongoDB cannot condition an
// update on another document without a transaction. That narrows the
// window in which the owner's record can change unseen to the time between
// that read and the update; it does not close it.
func (s *Store) UpdateConversation(ctx context.Context, w domain.ConversationWrite) error {
	c := w.Conversation
	ws := c.WorkspaceID
	k := conversationKey(ws, c.ID)
	if m := w.Message; m != nil {
		taken, err := s.messageTaken(ctx, ws, messageKey(ws, m.ID))
		if err != nil {
			return wrap("update conversation", err)
		}
		if taken {
			return domain.ErrDuplicate
		}
	}
	if oc := w.OwnerCheck; oc != nil {
		a, err := findOne[agentDoc](ctx, s, s.agents, idWS(agentKey(ws, oc.AgentID), ws))
		if err != nil {
			return wrap("update conversation", err)
		}
		if a == nil || a.Version != oc.Version {
			return domain.ErrVersionConflict
		}
	}
	if lc := w.LoadBelow; lc != nil {
		// Counted just before the write, from the queue index: routing's
		// own writes of a workspace are serial behind its lease, so only a
		// manual assignment committed in this instant can slip past, and
		// manual assignments may exceed capacity.
		n, err := s.countOwned(ctx, ws, domain.StatusNew, lc.AgentID)
		if err != nil {
			return wrap("update conversation", err)
		}
		if n >= int64(lc.Capacity) {
			return domain.ErrVersionConflict
		}
	}
	items := pendingOf(w)
	upd := bson.D{{Key: "$set", Value: toState(c)}}
	if len(items) > 0 {
		upd = append(upd, bson.E{Key: "$push", Value: bson.D{{Key: "pending", Value: bson.D{{Key: "$each", Value: items}}}}})
	}
	filter := append(idWS(k, ws), bson.E{Key: "version", Value: c.Version - 1})
	unlock := s.lock(k, true)
	n, err := s.update(ctx, s.conversations, filter, upd)
	if err != nil {
		unlock()
		return wrap("update conversation", err)
	}
	if n == 0 {
		unlock()
		return domain.ErrVersionConflict
	}
	s.publish(conversationEvent(w))
	unlock()
	s.copyOut(ctx, k, ws, items)
	return nil
}

// UpdateConversations writes each of ws by UpdateConversation, one after
// the other: each stays one conditional single-document update carrying its
// own history entry. (A bulk write would save round trips, but it reports
// only how many updates matched, not which, and without a transaction
// nothing else tells a write that lost its condition from one that did
// not.) It stops at the first error that is not a write's own outcome.
func (s *Store) UpdateConversations(ctx context.Context, ws []domain.ConversationWrite) ([]error, error) {
	errs := make([]error, len(ws))
	for i, w := range ws {
		err := s.UpdateConversation(ctx, w)
		if err != nil && !isSentinel(err) {
			return nil, err
		}
		errs[i] = err
	}
	return errs, nil
}

// countOwned counts the conversations of a queue one agent owns, covered by
// conversations_queue_by_owner.
func (s *Store) countOwned(ctx context.Context, ws string, status domain.QueueStatus, ownerID string) (int64, error) {
	filter := bson.D{{Key: "ws", Value: ws}, {Key: "status", Value: string(status)}, {Key: "ownerId", Value: ownerID}}
	ctx, cancel := s.op(ctx)
	defer cancel()
	return s.conversations.CountDocuments(ctx, filter)
}

func conversationEvent(w domain.ConversationWrite) *domain.Event {
	return &domain.Event{WorkspaceID: w.Conversation.WorkspaceID, Conversation: &domain.ConversationEvent{
		Before: w.Before, After: w.Conversation, Change: w.Change, Message: w.Message, Delivery: w.Delivery,
	}}
}

// copyOut copies a committed change's pending items to their collections
// and pulls them from the conversation. The change is committed already, so
// a failure here is only logged: readers see pending items, and Reconcile
// copies them later. It runs even if the caller's context ends, within the
// store's own timeout.
func (s *Store) copyOut(ctx context.Context, convKey, ws string, items []pendingItem) {
	if len(items) == 0 || s.crashAfterCommit {
		return
	}
	ctx = context.WithoutCancel(ctx)
	for _, it := range items {
		if err := s.copyItem(ctx, it); err != nil {
			s.log.Warn("mongo: copying a committed change's history entry or message failed; Reconcile copies it later",
				"item", it.ID, "err", err)
			return
		}
	}
	if err := s.pullPending(ctx, convKey, ws, items); err != nil {
		s.log.Warn("mongo: clearing a copied change from pending failed; Reconcile clears it later", "conversation", convKey, "err", err)
	}
}

// copyItem inserts one pending item into its collection; one that is there
// already is left as it is.
func (s *Store) copyItem(ctx context.Context, it pendingItem) error {
	var err error
	switch {
	case it.Delivery != nil:
		return s.applyDelivery(ctx, it.Delivery)
	case it.Message != nil:
		err = s.insert(ctx, s.messages, it.Message)
	case it.History != nil:
		err = s.insert(ctx, s.history, it.History)
	default:
		return errors.New("pending item " + it.ID + " holds nothing")
	}
	if !errors.Is(err, domain.ErrDuplicate) {
		return err
	}
	if m := it.Message; m != nil {
		// A retry, or Reconcile beside a writer, finds its own message; a
		// message of another change means two writes shared a new id.
		have, err := findOne[messageDoc](ctx, s, s.messages, idWS(m.Key, m.WS))
		if err != nil {
			return err
		}
		if have != nil && (have.ConversationID != m.ConversationID || have.Version != m.Version) {
			s.log.Error("mongo: two changes committed the same new message id; the first one's message is kept",
				"workspace", m.WS, "message", m.ID, "kept_conversation", have.ConversationID, "kept_version", have.Version,
				"dropped_conversation", m.ConversationID, "dropped_version", m.Version)
		}
	}
	return nil
}

// applyDelivery sets a stored message's delivery state unless a newer one
// is there already; idempotent. A message not copied yet is an error: the
// item stays pending, and Reconcile copies the conversation's items in the
// order they were pushed, the message first.
func (s *Store) applyDelivery(ctx context.Context, m *messageDoc) error {
	d := m.Delivery
	if d == nil {
		return errors.New("pending delivery of " + m.Key + " holds no state")
	}
	filter := append(idWS(m.Key, m.WS), bson.E{Key: "$or", Value: bson.A{
		bson.D{{Key: "delivery", Value: bson.D{{Key: "$exists", Value: false}}}},
		bson.D{{Key: "delivery.version", Value: bson.D{{Key: "$lt", Value: d.Version}}}},
	}})
	n, err := s.update(ctx, s.messages, filter, bson.D{{Key: "$set", Value: bson.D{{Key: "delivery", Value: d}}}})
	if err != nil || n > 0 {
		return err
	}
	have, err := findOne[messageDoc](ctx, s, s.messages, idWS(m.Key, m.WS))
	if err != nil {
		return err
	}
	if have == nil {
		return errors.New("the message of pending delivery " + m.Key + " is not copied yet")
	}
	return nil
}

// overlayDeliveries applies to msgs the delivery states of the pending
// items given (reports committed but not yet copied to their messages).
func overlayDeliveries(msgs []*domain.Message, items []pendingItem) {
	for _, it := range items {
		d := it.Delivery
		if d == nil || d.Delivery == nil {
			continue
		}
		for _, m := range msgs {
			if m != nil && m.ID == d.ID && m.ConversationID == d.ConversationID &&
				(m.Delivery == nil || m.Delivery.Version < d.Delivery.Version) {
				m.Delivery = d.Delivery.domain()
			}
		}
	}
}

// withPendingDeliveries applies the uncopied delivery reports of their
// conversations to outbound messages.
func (s *Store) withPendingDeliveries(ctx context.Context, ws string, msgs []*domain.Message) error {
	var convKeys []string
	for _, m := range msgs {
		if m != nil && m.Direction == domain.Outbound {
			convKeys = append(convKeys, conversationKey(ws, m.ConversationID))
		}
	}
	if len(convKeys) == 0 {
		return nil
	}
	convs, err := byKeys(ctx, s, s.conversations, ws, convKeys, conversationKeyOf, func(d *conversationDoc) *[]pendingItem { return &d.Pending })
	if err != nil {
		return err
	}
	for _, p := range convs {
		if p != nil {
			overlayDeliveries(msgs, *p)
		}
	}
	return nil
}

// PendingDeliveries returns a page of a workspace's PENDING deliveries,
// oldest first, from messages_pending_delivery. A reply still in its
// conversation's pending list (its copy failed; Reconcile copies it) is
// found once it is copied.
func (s *Store) PendingDeliveries(ctx context.Context, q domain.DeliveryQuery) ([]domain.Message, error) {
	if q.Limit <= 0 {
		return nil, nil
	}
	filter := bson.D{{Key: "ws", Value: q.WorkspaceID}, {Key: "delivery.status", Value: string(domain.DeliveryPending)}}
	if a := q.After; a != nil {
		t := utc(a.CreatedAt)
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "createdAt", Value: bson.D{{Key: "$gt", Value: t}}}},
			bson.D{{Key: "createdAt", Value: t}, {Key: "conversationId", Value: bson.D{{Key: "$gt", Value: a.ConversationID}}}},
			bson.D{{Key: "createdAt", Value: t}, {Key: "conversationId", Value: a.ConversationID}, {Key: "version", Value: bson.D{{Key: "$gt", Value: a.Version}}}},
		}})
	}
	if !q.CreatedBefore.IsZero() {
		filter = append(filter, bson.E{Key: "createdAt", Value: bson.D{{Key: "$lt", Value: utc(q.CreatedBefore)}}})
	}
	if len(q.ChannelIDs) > 0 {
		filter = append(filter, bson.E{Key: "channelId", Value: bson.D{{Key: "$in", Value: q.ChannelIDs}}})
	}
	docs, err := find[messageDoc](ctx, s, s.messages, filter, asc("createdAt", "conversationId", "version"), int64(q.Limit))
	if err != nil {
		return nil, wrap("pending deliveries", err)
	}
	msgs := make([]*domain.Message, len(docs))
	for i := range docs {
		msgs[i] = docs[i].domain()
	}
	if err := s.withPendingDeliveries(ctx, q.WorkspaceID, msgs); err != nil {
		return nil, wrap("pending deliveries", err)
	}
	var out []domain.Message
	for _, m := range msgs {
		if m.Delivery != nil && m.Delivery.Status == domain.DeliveryPending {
			out = append(out, *m)
		}
	}
	return out, nil
}

// CountPendingDeliveries counts a channel's PENDING deliveries, and those
// created before stalledBefore.
func (s *Store) CountPendingDeliveries(ctx context.Context, workspaceID, channelID string, stalledBefore time.Time) (pending, stalled int, err error) {
	filter := bson.D{{Key: "ws", Value: workspaceID}, {Key: "delivery.status", Value: string(domain.DeliveryPending)}, {Key: "channelId", Value: channelID}}
	if pending, err = s.count(ctx, s.messages, filter); err != nil {
		return 0, 0, wrap("count pending deliveries", err)
	}
	filter = append(filter, bson.E{Key: "createdAt", Value: bson.D{{Key: "$lt", Value: utc(stalledBefore)}}})
	if stalled, err = s.count(ctx, s.messages, filter); err != nil {
		return 0, 0, wrap("count pending deliveries", err)
	}
	return pending, stalled, nil
}

// pullPending removes these exact items from a conversation's pending list.
func (s *Store) pullPending(ctx context.Context, convKey, ws string, values any) error {
	defer s.lock(convKey, false)()
	_, err := s.update(ctx, s.conversations, idWS(convKey, ws), bson.D{{Key: "$pullAll", Value: bson.D{{Key: "pending", Value: values}}}})
	return err
}

// pendingByIDs returns the pending items of a workspace with these ids, by
// id.
func (s *Store) pendingByIDs(ctx context.Context, ws string, ks []string) (map[string]pendingItem, error) {
	out := map[string]pendingItem{}
	uk := unique(ks)
	for _, c := range chunks(len(uk)) {
		part := uk[c[0]:c[1]]
		want := make(map[string]bool, len(part))
		for _, k := range part {
			want[k] = true
		}
		docs, err := find[conversationDoc](ctx, s, s.conversations,
			bson.D{{Key: "ws", Value: ws}, {Key: "pending.id", Value: bson.D{{Key: "$in", Value: part}}}}, nil, 0)
		if err != nil {
			return nil, err
		}
		for _, d := range docs {
			for _, it := range d.Pending {
				if want[it.ID] {
					out[it.ID] = it
				}
			}
		}
	}
	return out, nil
}

// conversationPending returns the pending items of one conversation.
func (s *Store) conversationPending(ctx context.Context, ws, convID string) ([]pendingItem, error) {
	d, err := findOne[conversationDoc](ctx, s, s.conversations, idWS(conversationKey(ws, convID), ws))
	if err != nil || d == nil {
		return nil, err
	}
	return d.Pending, nil
}

// OwnedConversations returns up to q.Limit conversations owned by q.OwnerID
// in q.Statuses (empty: any), in id order after q.AfterID.
func (s *Store) OwnedConversations(ctx context.Context, q domain.OwnedQuery) ([]domain.Conversation, error) {
	if q.OwnerID == "" || q.Limit <= 0 {
		return nil, nil
	}
	filter := bson.D{{Key: "ws", Value: q.WorkspaceID}, {Key: "ownerId", Value: q.OwnerID}, {Key: "id", Value: bson.D{{Key: "$gt", Value: q.AfterID}}}}
	if len(q.Statuses) > 0 {
		st := make([]string, len(q.Statuses))
		for i, x := range q.Statuses {
			st[i] = string(x)
		}
		filter = append(filter, bson.E{Key: "status", Value: bson.D{{Key: "$in", Value: st}}})
	}
	if q.OnlyAssignedWhileOffline {
		filter = append(filter, bson.E{Key: "assignedWhileOffline", Value: true})
	}
	docs, err := find[conversationDoc](ctx, s, s.conversations, filter, asc("id"), int64(q.Limit))
	if err != nil {
		return nil, wrap("owned conversations", err)
	}
	return conversationList(docs), nil
}

func conversationList(docs []conversationDoc) []domain.Conversation {
	var out []domain.Conversation
	for i := range docs {
		out = append(out, *docs[i].domain())
	}
	return out
}

// Messages and history. Each read looks at the pending items first and the
// collection second: an item leaves `pending` only after it is in its
// collection, so an item committed before the read began is seen in one or
// the other.

func messageKeyOf(d *messageDoc) string { return d.Key }

// MessagesByIDs returns messages in key order, nil for unknown ids.
func (s *Store) MessagesByIDs(ctx context.Context, workspaceID string, ids []string) ([]*domain.Message, error) {
	ks := keys(workspaceID, ids, messageKey)
	pending, err := s.pendingByIDs(ctx, workspaceID, ks)
	if err != nil {
		return nil, wrap("messages by ids", err)
	}
	out, err := byKeys(ctx, s, s.messages, workspaceID, ks, messageKeyOf, (*messageDoc).domain)
	if err != nil {
		return nil, wrap("messages by ids", err)
	}
	for i, k := range ks {
		if it, ok := pending[k]; ok && out[i] == nil && it.Message != nil {
			out[i] = it.Message.domain()
		}
	}
	if err := s.withPendingDeliveries(ctx, workspaceID, out); err != nil {
		return nil, wrap("messages by ids", err)
	}
	return out, nil
}

// ListMessages returns a page of a conversation's messages by version.
func (s *Store) ListMessages(ctx context.Context, q domain.MessageQuery) ([]domain.Message, error) {
	if q.Limit <= 0 {
		return nil, nil
	}
	pending, err := s.conversationPending(ctx, q.WorkspaceID, q.ConversationID)
	if err != nil {
		return nil, wrap("list messages", err)
	}
	inRange := func(v int64) bool { return v > q.AfterVersion && (q.BeforeVersion <= 0 || v < q.BeforeVersion) }
	versions := bson.D{{Key: "$gt", Value: q.AfterVersion}}
	if q.BeforeVersion > 0 {
		versions = append(versions, bson.E{Key: "$lt", Value: q.BeforeVersion})
	}
	dir := 1
	if q.NewestFirst {
		dir = -1
	}
	docs, err := find[messageDoc](ctx, s, s.messages,
		bson.D{{Key: "ws", Value: q.WorkspaceID}, {Key: "conversationId", Value: q.ConversationID}, {Key: "version", Value: versions}},
		bson.D{{Key: "version", Value: dir}}, int64(q.Limit))
	if err != nil {
		return nil, wrap("list messages", err)
	}
	byVersion := map[int64]domain.Message{}
	for i := range docs {
		byVersion[docs[i].Version] = *docs[i].domain()
	}
	for _, it := range pending {
		if m := it.Message; m != nil && inRange(m.Version) {
			if _, ok := byVersion[m.Version]; !ok {
				byVersion[m.Version] = *m.domain()
			}
		}
	}
	out := page(byVersion, dir, q.Limit, func(m domain.Message) int64 { return m.Version })
	ptrs := make([]*domain.Message, len(out))
	for i := range out {
		ptrs[i] = &out[i]
	}
	overlayDeliveries(ptrs, pending)
	return out, nil
}

// page sorts rows by version in direction dir and keeps the first limit.
func page[T any](rows map[int64]T, dir, limit int, version func(T) int64) []T {
	var out []T
	for _, r := range rows {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b T) int {
		va, vb := version(a), version(b)
		switch {
		case va < vb:
			return -dir
		case va > vb:
			return dir
		}
		return 0
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// ListHistory returns a page of a conversation's ownership changes by
// version, from history_by_conversation (ws, conversationId, version) read
// forwards or backwards, with the entries not yet copied out of the
// conversation's pending list.
func (s *Store) ListHistory(ctx context.Context, q domain.HistoryQuery) ([]domain.OwnershipChange, error) {
	if q.Limit <= 0 {
		return nil, nil
	}
	pending, err := s.conversationPending(ctx, q.WorkspaceID, q.ConversationID)
	if err != nil {
		return nil, wrap("list history", err)
	}
	inRange := func(v int64) bool { return v > q.AfterVersion && (q.BeforeVersion <= 0 || v < q.BeforeVersion) }
	versions := bson.D{{Key: "$gt", Value: q.AfterVersion}}
	if q.BeforeVersion > 0 {
		versions = append(versions, bson.E{Key: "$lt", Value: q.BeforeVersion})
	}
	dir := 1
	if q.NewestFirst {
		dir = -1
	}
	docs, err := find[historyDoc](ctx, s, s.history,
		bson.D{{Key: "ws", Value: q.WorkspaceID}, {Key: "conversationId", Value: q.ConversationID}, {Key: "version", Value: versions}},
		bson.D{{Key: "version", Value: dir}}, int64(q.Limit))
	if err != nil {
		return nil, wrap("list history", err)
	}
	byVersion := map[int64]domain.OwnershipChange{}
	for i := range docs {
		byVersion[docs[i].Version] = *docs[i].domain()
	}
	for _, it := range pending {
		if h := it.History; h != nil && inRange(h.Version) {
			if _, ok := byVersion[h.Version]; !ok {
				byVersion[h.Version] = *h.domain()
			}
		}
	}
	return page(byVersion, dir, q.Limit, func(h domain.OwnershipChange) int64 { return h.Version }), nil
}

func historyKeyOf(d *historyDoc) string { return d.Key }

// HistoryEntries returns history entries by key, nil for unknown keys.
func (s *Store) HistoryEntries(ctx context.Context, workspaceID string, hk []domain.HistoryKey) ([]*domain.OwnershipChange, error) {
	ks := make([]string, len(hk))
	for i, k := range hk {
		ks[i] = historyKey(workspaceID, k.ConversationID, k.Version)
	}
	pending, err := s.pendingByIDs(ctx, workspaceID, ks)
	if err != nil {
		return nil, wrap("history entries", err)
	}
	out, err := byKeys(ctx, s, s.history, workspaceID, ks, historyKeyOf, (*historyDoc).domain)
	if err != nil {
		return nil, wrap("history entries", err)
	}
	for i, k := range ks {
		if it, ok := pending[k]; ok && out[i] == nil && it.History != nil {
			out[i] = it.History.domain()
		}
	}
	return out, nil
}

// Reconcile copies the pending items that interrupted writes left behind
// (a crash, a lost connection or a failover between a change's update and
// its copy) and clears them from their conversations; it returns how many
// it copied (or found copied already). Running it twice, or beside writers, copies each item once.
// Open runs it; a server should also run it every minute or so (beside the
// sweeps), since until it runs readers pay one more lookup for those items.
// It is the one read across workspaces besides the sweeps.
func (s *Store) Reconcile(ctx context.Context) (int, error) {
	type leftover struct {
		Key     string     `bson:"_id"`
		WS      string     `bson:"ws"`
		Pending []bson.Raw `bson:"pending"`
	}
	copied := 0
	seen := map[string]bool{}
	// Each pass takes a batch of conversations with pending items. A
	// conversation can come back while writers add to it; a pass that finds
	// only conversations this run has cleared already ends it.
	for {
		docs, err := find[leftover](ctx, s, s.conversations, bson.D{{Key: "pending.id", Value: bson.D{{Key: "$gt", Value: ""}}}}, nil, 100)
		if err != nil {
			return copied, wrap("reconcile", err)
		}
		fresh := false
		for _, d := range docs {
			fresh = fresh || !seen[d.Key]
			seen[d.Key] = true
			for _, raw := range d.Pending {
				var it pendingItem
				if err := bson.Unmarshal(raw, &it); err != nil {
					return copied, wrap("reconcile: decode a pending item of "+d.Key, err)
				}
				if err := s.copyItem(ctx, it); err != nil {
					return copied, wrap("reconcile", err)
				}
				copied++
			}
			if err := s.pullPending(ctx, d.Key, d.WS, d.Pending); err != nil {
				return copied, wrap("reconcile", err)
			}
		}
		if !fresh {
			break
		}
	}
	return copied, nil
}
