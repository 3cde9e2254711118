package domain

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"
)

// ConversationResult is what a change to a conversation left: its state as
// written (or as found, for a no-op) and the ownership change it made.
type ConversationResult struct {
	Conversation Conversation
	Change       *OwnershipChange
}

// Conversation returns a conversation of the caller's workspace, or nil.
func (s *Service) Conversation(ctx context.Context, a Actor, id string) (*Conversation, error) {
	if err := requireAgent(a); err != nil {
		return nil, err
	}
	return s.conversation(ctx, a.WorkspaceID, id)
}

// change runs a command on one conversation whose rule decides on the
// conversation alone.
func (s *Service) change(
	ctx context.Context, ws, id string, expectedVersion *int64,
	rule func(c Conversation, now time.Time) (*plan, error),
) (ConversationResult, error) {
	if err := validExpectedVersion(expectedVersion); err != nil {
		return ConversationResult{}, err
	}
	return run(ctx, s, command[Conversation, ConversationResult]{
		load: func(ctx context.Context, _ time.Time) (Conversation, error) {
			return s.existingConversation(ctx, ws, id)
		},
		decide: func(c Conversation, now time.Time) (d decision[ConversationResult], err error) {
			p, err := rule(c, now)
			if err != nil {
				return d, err
			}
			return s.planResult(p, expectedVersion)
		},
	})
}

// planResult decides to write p; the result is the conversation as written
// and its ownership change. A plan that changes nothing writes nothing and
// succeeds, also when expectedVersion is stale, since what it asked for
// already holds. A version conflict is a lost race: the next attempt finds
// the version moved, so with an expectedVersion it answers Conflict.
func (s *Service) planResult(p *plan, expectedVersion *int64) (d decision[ConversationResult], err error) {
	if !p.changed() {
		return done(ConversationResult{Conversation: p.before}), nil
	}
	if expectedVersion != nil && *expectedVersion != p.before.Version {
		return d, Conflict("the conversation changed since you read it", p.before.Version)
	}
	w := p.write()
	return writing(ConversationResult{Conversation: w.Conversation, Change: w.Change}, s.updateConversation(w), ErrVersionConflict), nil
}

// planChanged decides to write p if it changes anything; the result is
// whether it does. A version conflict is a lost race.
func (s *Service) planChanged(p *plan) decision[bool] {
	if !p.changed() {
		return done(false)
	}
	return writing(true, s.updateConversation(p.write()), ErrVersionConflict)
}

// existingConversation loads a conversation; NotFound if there is none.
func (s *Service) existingConversation(ctx context.Context, ws, id string) (Conversation, error) {
	c, err := s.conversation(ctx, ws, id)
	if err != nil {
		return Conversation{}, err
	}
	if c == nil {
		return Conversation{}, NotFound("conversation")
	}
	return *c, nil
}

// The writes of conversations, for decisions.

func (s *Service) updateConversation(w ConversationWrite) func(context.Context) error {
	return func(ctx context.Context) error { return s.store.UpdateConversation(ctx, w) }
}

func (s *Service) insertConversation(w ConversationWrite) func(context.Context) error {
	return func(ctx context.Context) error { return s.store.InsertConversation(ctx, w) }
}

// validExpectedVersion refuses an expected version below 1: versions start
// at 1, so such a version can only be a caller's mistake, and as a stale one
// it would also pass silently on a change that changes nothing. It is checked
// before the conversation is read, so it says nothing of whether it exists.
func validExpectedVersion(v *int64) error {
	if v != nil && *v < 1 {
		return Invalid("input.expectedVersion", "expectedVersion must be 1 or more")
	}
	return nil
}

// SetOwnerCommand assigns a conversation or leaves it unowned.
type SetOwnerCommand struct {
	ConversationID string
	// OwnerID is the new owner, or nil for Unowned; OwnerGiven is false when
	// the caller left it out, which is refused (Unowned must be explicit).
	OwnerID         *string
	OwnerGiven      bool
	OnlyIfUnowned   bool
	ExpectedVersion *int64
}

// SetOwner assigns a conversation to an active agent, or clears its owner.
func (s *Service) SetOwner(ctx context.Context, a Actor, cmd SetOwnerCommand) (ConversationResult, error) {
	if err := requireAgent(a); err != nil {
		return ConversationResult{}, err
	}
	if !cmd.OwnerGiven {
		return ConversationResult{}, Invalid("input.ownerId", "ownerId is required: an agent's id, or null for Unowned")
	}
	ownerID := ""
	if cmd.OwnerID != nil {
		if ownerID = *cmd.OwnerID; ownerID == "" {
			return ConversationResult{}, Invalid("input.ownerId", "ownerId is not an active agent of this workspace")
		}
	}
	if err := validExpectedVersion(cmd.ExpectedVersion); err != nil {
		return ConversationResult{}, err
	}
	ws := a.WorkspaceID
	type loaded struct {
		c     Conversation
		owner *Agent
	}
	return run(ctx, s, command[loaded, ConversationResult]{
		load: func(ctx context.Context, _ time.Time) (l loaded, err error) {
			if l.c, err = s.existingConversation(ctx, ws, cmd.ConversationID); err != nil || ownerID == "" {
				return l, err
			}
			l.owner, err = s.agent(ctx, ws, ownerID)
			return l, err
		},
		decide: func(l loaded, now time.Time) (d decision[ConversationResult], err error) {
			if ownerID != "" && (l.owner == nil || !l.owner.Active) {
				return d, Invalid("input.ownerId", "ownerId is not an active agent of this workspace")
			}
			if cmd.OnlyIfUnowned && l.c.OwnerID != "" && l.c.OwnerID != ownerID {
				return d, Conflict("the conversation already has an owner", l.c.Version)
			}
			p, err := ruleSetOwner(l.c, l.owner, a.ID, now)
			if err != nil {
				return d, err
			}
			return s.planResult(p, cmd.ExpectedVersion)
		},
	})
}

// MoveCommand moves a conversation to another queue.
type MoveCommand struct {
	ConversationID  string
	ExpectedVersion *int64
	// BoomerangAt, for a move to PENDING, is when it comes back to NEW.
	BoomerangAt *time.Time
}

// Resolve moves a conversation to RESOLVED, which removes its owner.
func (s *Service) Resolve(ctx context.Context, a Actor, cmd MoveCommand) (ConversationResult, error) {
	if err := requireAgent(a); err != nil {
		return ConversationResult{}, err
	}
	return s.change(ctx, a.WorkspaceID, cmd.ConversationID, cmd.ExpectedVersion, func(c Conversation, now time.Time) (*plan, error) {
		return ruleResolve(c, a.ID, now), nil
	})
}

// MoveToPending moves a conversation to PENDING, optionally with a
// boomerang time in the future.
func (s *Service) MoveToPending(ctx context.Context, a Actor, cmd MoveCommand) (ConversationResult, error) {
	if err := requireAgent(a); err != nil {
		return ConversationResult{}, err
	}
	return s.change(ctx, a.WorkspaceID, cmd.ConversationID, cmd.ExpectedVersion, func(c Conversation, now time.Time) (*plan, error) {
		return ruleMoveToPending(c, cmd.BoomerangAt, a.ID, now)
	})
}

// MoveToNew moves a PENDING conversation back to NEW, or reopens a RESOLVED
// one, unowned.
func (s *Service) MoveToNew(ctx context.Context, a Actor, cmd MoveCommand) (ConversationResult, error) {
	if err := requireAgent(a); err != nil {
		return ConversationResult{}, err
	}
	return s.change(ctx, a.WorkspaceID, cmd.ConversationID, cmd.ExpectedVersion, func(c Conversation, now time.Time) (*plan, error) {
		return ruleMoveToNew(c, a.ID, now), nil
	})
}

// ReplyCommand is an agent's reply.
type ReplyCommand struct {
	ConversationID  string
	Text            string
	ClientMessageID string
	// ThenMoveTo is PENDING or RESOLVED to move in the same change, or "".
	ThenMoveTo QueueStatus
	// ExpectedVersion, when given, is the version the agent wrote against:
	// a conversation changed since (a new message, an owner change, a move,
	// a delivery report) is a Conflict with its current version, so the
	// client can show what came in and let the agent send anyway.
	ExpectedVersion *int64
}

// ReplyResult is what a reply left.
type ReplyResult struct {
	Conversation Conversation
	Message      Message
	Change       *OwnershipChange
}

// Reply adds an agent's message to a conversation, in one change with the
// auto-ownership it triggers and the move it asks for. With a
// ClientMessageID, the same reply twice is one reply.
func (s *Service) Reply(ctx context.Context, a Actor, cmd ReplyCommand) (ReplyResult, error) {
	if err := requireAgent(a); err != nil {
		return ReplyResult{}, err
	}
	if err := validReply(cmd); err != nil {
		return ReplyResult{}, err
	}
	if err := validExpectedVersion(cmd.ExpectedVersion); err != nil {
		return ReplyResult{}, err
	}
	ws := a.WorkspaceID
	messageID := RandomID("mo_")
	if cmd.ClientMessageID != "" {
		messageID = ReplyMessageID(ws, a.ID, cmd.ClientMessageID)
	}
	type loaded struct {
		c       Conversation
		repeat  *ReplyResult // the first answer, when this reply was made before
		author  *Agent
		autoOwn bool // auto-ownership is on for the author on the channel
	}
	res, err := run(ctx, s, command[loaded, ReplyResult]{
		load: func(ctx context.Context, _ time.Time) (l loaded, err error) {
			if l.c, err = s.existingConversation(ctx, ws, cmd.ConversationID); err != nil {
				return l, err
			}
			// The repeat check comes after the conversation is read: a first
			// attempt that commits after this check moves the version, and the
			// conditional write then loses.
			if cmd.ClientMessageID != "" {
				if l.repeat, err = s.repeatedReply(ctx, ws, messageID, cmd); l.repeat != nil || err != nil {
					return l, err
				}
			}
			if l.author, err = s.agent(ctx, ws, a.ID); err != nil {
				return l, err
			}
			if l.author == nil || !l.author.Active {
				return l, Forbidden("this agent is deactivated")
			}
			channel, err := s.channel(ctx, ws, l.c.ChannelID)
			l.autoOwn = channel != nil && channel.HasAutoOwnership(a.ID)
			return l, err
		},
		decide: func(l loaded, now time.Time) (d decision[ReplyResult], err error) {
			if l.repeat != nil {
				return done(*l.repeat), nil
			}
			// A reply always changes the conversation, so a stale expected
			// version is always a Conflict (a repeat above answered first).
			if cmd.ExpectedVersion != nil && *cmd.ExpectedVersion != l.c.Version {
				return d, Conflict("the conversation changed since you read it", l.c.Version)
			}
			p, err := ruleReply(l.c, replyRule{
				author: l.author, autoOwn: l.autoOwn,
				text: cmd.Text, externalID: cmd.ClientMessageID, messageID: messageID, thenMoveTo: cmd.ThenMoveTo,
			}, now)
			if err != nil {
				return d, err
			}
			w := p.write()
			// A duplicate message id is the same reply, committed first by a
			// concurrent request: the next attempt answers with it.
			return writing(ReplyResult{Conversation: w.Conversation, Message: *w.Message, Change: w.Change},
				s.updateConversation(w), ErrVersionConflict, ErrDuplicate), nil
		},
	})
	if err == nil {
		// A reply sent ends its author's typing there.
		s.activity.stoppedTyping(activityKey{ws, res.Conversation.ID}, a.ID)
	}
	return res, err
}

func validReply(cmd ReplyCommand) error {
	switch {
	case strings.TrimSpace(cmd.Text) == "":
		return Invalid("input.text", "text must not be empty")
	case len(cmd.Text) > MaxTextBytes || !utf8.ValidString(cmd.Text):
		return Invalid("input.text", "text must be valid UTF-8 of at most %d bytes", MaxTextBytes)
	case cmd.ThenMoveTo != "" && cmd.ThenMoveTo != StatusPending && cmd.ThenMoveTo != StatusResolved:
		return Invalid("input.thenMoveTo", "thenMoveTo must be PENDING or RESOLVED")
	case len(cmd.ClientMessageID) > MaxExternalIDLen:
		return Invalid("input.clientMessageId", "clientMessageId must be at most %d bytes", MaxExternalIDLen)
	}
	return nil
}

// repeatedReply answers a reply whose idempotency key was used before: the
// same reply gets the first answer; another text or conversation is refused.
// It returns nil for a key not used yet.
func (s *Service) repeatedReply(ctx context.Context, ws, messageID string, cmd ReplyCommand) (*ReplyResult, error) {
	msgs, err := s.store.MessagesByIDs(ctx, ws, []string{messageID})
	if err != nil {
		return nil, internal(err)
	}
	m := msgs[0]
	if m == nil {
		return nil, nil
	}
	if m.ConversationID != cmd.ConversationID || m.Text != cmd.Text {
		return nil, Invalid("input.clientMessageId", "clientMessageId was already used for another reply")
	}
	c, err := s.conversation(ctx, ws, m.ConversationID)
	if err != nil || c == nil {
		return nil, internal(errors.Join(err, errors.New("conversation of a stored reply is missing")))
	}
	entries, err := s.store.HistoryEntries(ctx, ws, []HistoryKey{{ConversationID: m.ConversationID, Version: m.Version}})
	if err != nil {
		return nil, internal(err)
	}
	return &ReplyResult{Conversation: *c, Message: *m, Change: entries[0]}, nil
}

// InboundCommand is a message from a contact, delivered by a channel
// integration.
type InboundCommand struct {
	ChannelID         string
	ContactExternalID string
	ContactName       string
	ExternalMessageID string
	Text              string
}

// InboundResult is what an integration learns about a delivered message.
type InboundResult struct {
	ConversationID string
	MessageID      string
	Status         QueueStatus
	Duplicate      bool
}

// IngestInbound adds a contact's message to the contact's open conversation
// on the channel, or starts a new unowned conversation in NEW. The same
// external message id twice is one message.
func (s *Service) IngestInbound(ctx context.Context, a Actor, cmd InboundCommand) (InboundResult, error) {
	if a.Role != RoleIntegration && a.Role != RoleAdmin {
		return InboundResult{}, Forbidden("ingestInbound is for integrations and admins")
	}
	if err := validateInbound(cmd); err != nil {
		return InboundResult{}, err
	}
	ws := a.WorkspaceID
	channel, err := s.channel(ctx, ws, cmd.ChannelID)
	if err != nil {
		return InboundResult{}, err
	}
	if channel == nil {
		return InboundResult{}, Invalid("input.channelId", "channelId is not a channel of this workspace")
	}
	messageID := InboundMessageID(ws, cmd.ChannelID, cmd.ExternalMessageID)
	first, err := s.deliveredBefore(ctx, ws, messageID)
	if err != nil {
		return InboundResult{}, err
	}
	if first != nil {
		return *first, nil
	}
	contact, err := s.store.UpsertContact(ctx, Contact{
		WorkspaceID: ws, ID: ContactID(ws, cmd.ChannelID, cmd.ContactExternalID), ChannelID: cmd.ChannelID,
		ExternalID: cmd.ContactExternalID, Name: strings.TrimSpace(cmd.ContactName), CreatedAt: s.now(),
	})
	if err != nil {
		return InboundResult{}, internal(err)
	}
	message := Message{ID: messageID, Direction: Inbound, Text: cmd.Text, ExternalID: cmd.ExternalMessageID}
	return s.deliver(ctx, ws, channel, contact.ID, message)
}

// deliver adds an inbound message to the contact's open conversation, or
// starts the contact's next conversation with it.
func (s *Service) deliver(ctx context.Context, ws string, channel *Channel, contactID string, message Message) (InboundResult, error) {
	channelID := channel.ID
	type loaded struct {
		open     *Conversation  // the contact's open conversation, if any
		maxSeq   int64          // the contact's highest conversation seq
		repeat   *InboundResult // the first answer, when the message was delivered before
		owner    *Agent
		settings Settings
		// preferred is the owner of the contact's previous conversation
		// when it was resolved, for the next one.
		preferred string
		// routing is what routing the new conversation in its own write
		// rests on, when it can be (inboundRouting).
		routing *fillPass
	}
	var offline offlineRuleInputs
	return run(ctx, s, command[loaded, InboundResult]{
		load: func(ctx context.Context, _ time.Time) (l loaded, err error) {
			if l.open, l.maxSeq, err = s.store.ContactConversations(ctx, ws, contactID); err != nil {
				return l, internal(err)
			}
			// As for replies, the repeat check follows the read it depends on.
			if l.repeat, err = s.deliveredBefore(ctx, ws, message.ID); l.repeat != nil || err != nil {
				return l, err
			}
			l.settings = DefaultSettings(ws)
			if o := l.open; o != nil && o.Status == StatusPending && o.OwnerID != "" {
				l.owner, l.settings, err = offline.load(ctx, s, ws, o.OwnerID)
			}
			if l.open == nil && l.maxSeq > 0 && err == nil {
				var prev *Conversation
				if prev, err = s.conversation(ctx, ws, ConversationID(ws, contactID, l.maxSeq)); prev != nil && prev.Status == StatusResolved {
					l.preferred = prev.ResolvedOwnerID
				}
			}
			if l.open == nil && err == nil {
				l.routing, err = s.inboundRouting(ctx, ws, channel)
			}
			return l, err
		},
		decide: func(l loaded, now time.Time) (decision[InboundResult], error) {
			if l.repeat != nil {
				return done(*l.repeat), nil
			}
			// Either write loses to a concurrent delivery by a version
			// conflict, or by a duplicate id: the contact's next conversation
			// or this very message, written first.
			if l.open == nil {
				w := newConversation(ws, channelID, contactID, l.maxSeq+1, message, now)
				w.Conversation.PreferredAgentID = l.preferred
				var route *RoutedWrite
				if l.routing != nil {
					route = l.routing.routeNew(w.Conversation, now)
				}
				return writing(delivered(w), s.insertRouted(w, route), ErrVersionConflict, ErrDuplicate), nil
			}
			w := ruleInbound(*l.open, message, l.owner, l.settings, now).write()
			return writing(delivered(w), s.updateConversation(w), ErrVersionConflict, ErrDuplicate), nil
		},
	})
}

// delivered is what an integration learns of the write of its message.
func delivered(w ConversationWrite) InboundResult {
	return InboundResult{ConversationID: w.Conversation.ID, MessageID: w.Message.ID, Status: w.Conversation.Status}
}

func validateInbound(cmd InboundCommand) error {
	switch {
	case !validKey(cmd.ContactExternalID, MaxExternalIDLen):
		return Invalid("input.contactExternalId", "contactExternalId must be 1 to %d printable bytes", MaxExternalIDLen)
	case !validKey(cmd.ExternalMessageID, MaxExternalIDLen):
		return Invalid("input.externalMessageId", "externalMessageId must be 1 to %d printable bytes", MaxExternalIDLen)
	case len(cmd.Text) > MaxTextBytes || !utf8.ValidString(cmd.Text):
		return Invalid("input.text", "text must be valid UTF-8 of at most %d bytes", MaxTextBytes)
	case utf8.RuneCountInString(cmd.ContactName) > MaxNameLength:
		return Invalid("input.contactName", "contactName must be at most %d characters", MaxNameLength)
	}
	return nil
}

// deliveredBefore answers a repeated inbound message with the first one's
// conversation; nil for a message not delivered yet.
func (s *Service) deliveredBefore(ctx context.Context, ws, messageID string) (*InboundResult, error) {
	msgs, err := s.store.MessagesByIDs(ctx, ws, []string{messageID})
	if err != nil {
		return nil, internal(err)
	}
	m := msgs[0]
	if m == nil {
		return nil, nil
	}
	c, err := s.conversation(ctx, ws, m.ConversationID)
	if err != nil || c == nil {
		return nil, internal(errors.Join(err, errors.New("conversation of a stored message is missing")))
	}
	return &InboundResult{ConversationID: c.ID, MessageID: m.ID, Status: c.Status, Duplicate: true}, nil
}

// newConversation is a contact's seq-th conversation, started by message:
// NEW and unowned.
func newConversation(ws, channelID, contactID string, seq int64, m Message, now time.Time) ConversationWrite {
	now = Truncate(now)
	c := Conversation{
		WorkspaceID: ws, ID: ConversationID(ws, contactID, seq), ChannelID: channelID, ContactID: contactID,
		Seq: seq, Status: StatusNew, WaitingSince: now, CreatedAt: now, UpdatedAt: now, Version: 1,
	}
	m.WorkspaceID, m.ConversationID, m.Version, m.CreatedAt = ws, c.ID, 1, now
	return ConversationWrite{Conversation: c, Message: &m}
}
