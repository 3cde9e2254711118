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

// change runs one command on one conversation: load, apply the rule, write
// conditionally, and on a lost race load and apply again. A command that
// changes nothing succeeds without a write, also when expectedVersion is
// stale, since what it asked for already holds.
func (s *Service) change(
	ctx context.Context, ws, id string, expectedVersion *int64,
	rule func(c Conversation, now time.Time) (*plan, error),
) (ConversationResult, error) {
	if err := validExpectedVersion(expectedVersion); err != nil {
		return ConversationResult{}, err
	}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		c, err := s.conversation(ctx, ws, id)
		if err != nil {
			return ConversationResult{}, err
		}
		if c == nil {
			return ConversationResult{}, NotFound("conversation")
		}
		p, err := rule(*c, s.now())
		if err != nil {
			return ConversationResult{}, err
		}
		if !p.changed() {
			return ConversationResult{Conversation: *c}, nil
		}
		if expectedVersion != nil && *expectedVersion != c.Version {
			return ConversationResult{}, Conflict("the conversation changed since you read it", c.Version)
		}
		w := p.write()
		err = s.store.UpdateConversation(ctx, w)
		if errors.Is(err, ErrVersionConflict) {
			continue
		}
		if err != nil {
			return ConversationResult{}, internal(err)
		}
		return ConversationResult{Conversation: w.Conversation, Change: w.Change}, nil
	}
	return ConversationResult{}, tooBusy()
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
	return s.change(ctx, a.WorkspaceID, cmd.ConversationID, cmd.ExpectedVersion, func(c Conversation, now time.Time) (*plan, error) {
		var owner *Agent
		if ownerID != "" {
			var err error
			if owner, err = s.agent(ctx, a.WorkspaceID, ownerID); err != nil {
				return nil, err
			}
			if owner == nil || !owner.Active {
				return nil, Invalid("input.ownerId", "ownerId is not an active agent of this workspace")
			}
		}
		if cmd.OnlyIfUnowned && c.OwnerID != "" && c.OwnerID != ownerID {
			return nil, Conflict("the conversation already has an owner", c.Version)
		}
		return ruleSetOwner(c, owner, a.ID, now)
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
	if strings.TrimSpace(cmd.Text) == "" {
		return ReplyResult{}, Invalid("input.text", "text must not be empty")
	}
	if len(cmd.Text) > MaxTextBytes || !utf8.ValidString(cmd.Text) {
		return ReplyResult{}, Invalid("input.text", "text must be valid UTF-8 of at most %d bytes", MaxTextBytes)
	}
	if cmd.ThenMoveTo != "" && cmd.ThenMoveTo != StatusPending && cmd.ThenMoveTo != StatusResolved {
		return ReplyResult{}, Invalid("input.thenMoveTo", "thenMoveTo must be PENDING or RESOLVED")
	}
	if len(cmd.ClientMessageID) > MaxExternalIDLen {
		return ReplyResult{}, Invalid("input.clientMessageId", "clientMessageId must be at most %d bytes", MaxExternalIDLen)
	}
	ws := a.WorkspaceID
	messageID := RandomID("mo_")
	if cmd.ClientMessageID != "" {
		messageID = ReplyMessageID(ws, a.ID, cmd.ClientMessageID)
	}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		c, err := s.conversation(ctx, ws, cmd.ConversationID)
		if err != nil {
			return ReplyResult{}, err
		}
		if c == nil {
			return ReplyResult{}, NotFound("conversation")
		}
		// The repeat check comes after the conversation is read: a first
		// attempt that commits after this check moves the version, and the
		// conditional write below then loses.
		if cmd.ClientMessageID != "" {
			if r, done, err := s.repeatedReply(ctx, ws, messageID, cmd); done || err != nil {
				return r, err
			}
		}
		author, err := s.agent(ctx, ws, a.ID)
		if err != nil {
			return ReplyResult{}, err
		}
		if author == nil || !author.Active {
			return ReplyResult{}, Forbidden("this agent is deactivated")
		}
		channel, err := s.channel(ctx, ws, c.ChannelID)
		if err != nil {
			return ReplyResult{}, err
		}
		p, err := ruleReply(*c, replyRule{
			author: author, autoOwn: channel != nil && channel.HasAutoOwnership(a.ID),
			text: cmd.Text, externalID: cmd.ClientMessageID, messageID: messageID, thenMoveTo: cmd.ThenMoveTo,
		}, s.now())
		if err != nil {
			return ReplyResult{}, err
		}
		w := p.write()
		err = s.store.UpdateConversation(ctx, w)
		if errors.Is(err, ErrVersionConflict) || errors.Is(err, ErrDuplicate) {
			continue
		}
		if err != nil {
			return ReplyResult{}, internal(err)
		}
		return ReplyResult{Conversation: w.Conversation, Message: *w.Message, Change: w.Change}, nil
	}
	return ReplyResult{}, tooBusy()
}

// repeatedReply answers a reply whose idempotency key was used before: the
// same reply gets the first answer; another text or conversation is refused.
func (s *Service) repeatedReply(ctx context.Context, ws, messageID string, cmd ReplyCommand) (ReplyResult, bool, error) {
	msgs, err := s.store.MessagesByIDs(ctx, ws, []string{messageID})
	if err != nil {
		return ReplyResult{}, true, internal(err)
	}
	m := msgs[0]
	if m == nil {
		return ReplyResult{}, false, nil
	}
	if m.ConversationID != cmd.ConversationID || m.Text != cmd.Text {
		return ReplyResult{}, true, Invalid("input.clientMessageId", "clientMessageId was already used for another reply")
	}
	c, err := s.conversation(ctx, ws, m.ConversationID)
	if err != nil || c == nil {
		return ReplyResult{}, true, internal(errors.Join(err, errors.New("conversation of a stored reply is missing")))
	}
	entries, err := s.store.HistoryEntries(ctx, ws, []HistoryKey{{ConversationID: m.ConversationID, Version: m.Version}})
	if err != nil {
		return ReplyResult{}, true, internal(err)
	}
	return ReplyResult{Conversation: *c, Message: *m, Change: entries[0]}, true, nil
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
	if r, dup, err := s.deliveredBefore(ctx, ws, messageID); dup || err != nil {
		return r, err
	}
	contact, err := s.store.UpsertContact(ctx, Contact{
		WorkspaceID: ws, ID: ContactID(ws, cmd.ChannelID, cmd.ContactExternalID), ChannelID: cmd.ChannelID,
		ExternalID: cmd.ContactExternalID, Name: strings.TrimSpace(cmd.ContactName), CreatedAt: s.now(),
	})
	if err != nil {
		return InboundResult{}, internal(err)
	}
	message := Message{ID: messageID, Direction: Inbound, Text: cmd.Text, ExternalID: cmd.ExternalMessageID}
	var settings *Settings
	for attempt := 0; attempt < maxAttempts; attempt++ {
		open, maxSeq, err := s.store.ContactConversations(ctx, ws, contact.ID)
		if err != nil {
			return InboundResult{}, internal(err)
		}
		// As for replies, the repeat check follows the read it depends on.
		if r, dup, err := s.deliveredBefore(ctx, ws, messageID); dup || err != nil {
			return r, err
		}
		var w ConversationWrite
		if open == nil {
			w = newConversation(ws, channel.ID, contact.ID, maxSeq+1, message, s.now())
			err = s.store.InsertConversation(ctx, w)
		} else {
			var owner *Agent
			if open.Status == StatusPending && open.OwnerID != "" {
				if settings == nil {
					st, err := s.store.GetSettings(ctx, ws)
					if err != nil {
						return InboundResult{}, internal(err)
					}
					settings = &st
				}
				if settings.RemoveOwnershipOnLogout {
					if owner, err = s.agent(ctx, ws, open.OwnerID); err != nil {
						return InboundResult{}, err
					}
				}
			}
			w = ruleInbound(*open, message, owner, settingsOrDefault(settings, ws), s.now()).write()
			err = s.store.UpdateConversation(ctx, w)
		}
		if errors.Is(err, ErrVersionConflict) || errors.Is(err, ErrDuplicate) {
			continue
		}
		if err != nil {
			return InboundResult{}, internal(err)
		}
		return InboundResult{ConversationID: w.Conversation.ID, MessageID: messageID, Status: w.Conversation.Status}, nil
	}
	return InboundResult{}, tooBusy()
}

func settingsOrDefault(s *Settings, ws string) Settings {
	if s == nil {
		return DefaultSettings(ws)
	}
	return *s
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
// conversation.
func (s *Service) deliveredBefore(ctx context.Context, ws, messageID string) (InboundResult, bool, error) {
	msgs, err := s.store.MessagesByIDs(ctx, ws, []string{messageID})
	if err != nil {
		return InboundResult{}, true, internal(err)
	}
	m := msgs[0]
	if m == nil {
		return InboundResult{}, false, nil
	}
	c, err := s.conversation(ctx, ws, m.ConversationID)
	if err != nil || c == nil {
		return InboundResult{}, true, internal(errors.Join(err, errors.New("conversation of a stored message is missing")))
	}
	return InboundResult{ConversationID: c.ID, MessageID: m.ID, Status: c.Status, Duplicate: true}, true, nil
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
