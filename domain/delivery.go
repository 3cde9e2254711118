package domain

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Outbound delivery: every reply is written PENDING in the change that adds
// it; the channel's connector receives it (outboundMessages) and reports
// SENT or FAILED (reportDelivery). The truth is the stored state: "what a
// connector still has to send" is a query on pending deliveries, never a
// queue of its own, so nothing is lost when a connector or the server
// stops.

// DefaultRedeliverAfter is how long a delivery may stay PENDING before it
// is offered again to the connectors subscribed to its channel.
const DefaultRedeliverAfter = 5 * time.Minute

// MaxDeliveryErrorLength bounds the reason of a FAILED delivery.
const MaxDeliveryErrorLength = 1000

// WithRedeliverAfter sets how long a delivery may stay PENDING before it is
// offered again; 0 keeps the default.
func WithRedeliverAfter(d time.Duration) Option {
	return func(s *Service) {
		if d > 0 {
			s.redeliverAfter = d
		}
	}
}

// RedeliverAfter is how long a delivery may stay PENDING before it is
// offered again.
func (s *Service) RedeliverAfter() time.Duration { return s.redeliverAfter }

func requireConnector(a Actor, what string) error {
	if a.Role != RoleIntegration && a.Role != RoleAdmin {
		return Forbidden(what + " is for integrations and admins")
	}
	return nil
}

// OutboundView is what one outboundMessages subscription receives: the
// outbound messages of some channels (every channel when ChannelIDs is
// empty) of one workspace.
type OutboundView struct {
	WorkspaceID string
	ChannelIDs  []string
}

// Matches reports whether an outbound message of channelID is in the view.
func (v OutboundView) Matches(channelID string) bool {
	return len(v.ChannelIDs) == 0 || slices.Contains(v.ChannelIDs, channelID)
}

// Key names the view, for sharing the filtering of an event.
func (v OutboundView) Key() string { return "outbound " + strings.Join(v.ChannelIDs, ",") }

// ResolveOutboundView checks an outboundMessages subscription: integrations
// and admins only, channels of the caller's workspace.
func (s *Service) ResolveOutboundView(ctx context.Context, a Actor, channelIDs []string) (OutboundView, error) {
	if err := requireConnector(a, "outboundMessages"); err != nil {
		return OutboundView{}, err
	}
	channelIDs = sortedUnique(channelIDs)
	if len(channelIDs) > 0 {
		chs, err := s.store.ChannelsByIDs(ctx, a.WorkspaceID, channelIDs)
		if err != nil {
			return OutboundView{}, internal(err)
		}
		for _, c := range chs {
			if c == nil {
				return OutboundView{}, Invalid("channelIds", "channelIds names a channel that is not in this workspace")
			}
		}
	}
	return OutboundView{WorkspaceID: a.WorkspaceID, ChannelIDs: channelIDs}, nil
}

// OutboundOf is what a connector needs of a new outbound message, from the
// event of the change that wrote it; false when the event wrote none or it
// is not in the view.
func OutboundOf(e Event, v OutboundView) (OutboundMessage, bool) {
	ce := e.Conversation
	if ce == nil || ce.Message == nil || ce.Message.Direction != Outbound || ce.Message.Delivery == nil ||
		!v.Matches(ce.After.ChannelID) {
		return OutboundMessage{}, false
	}
	return OutboundMessage{Message: *ce.Message, ConversationID: ce.After.ID, ChannelID: ce.After.ChannelID, ContactID: ce.After.ContactID}, true
}

// PendingOutbound returns a page of the view's deliveries still PENDING,
// oldest first, after the key after (nil: from the oldest); with
// createdBefore set, only those created before it.
func (s *Service) PendingOutbound(ctx context.Context, v OutboundView, after *DeliveryKey, createdBefore time.Time, limit int) ([]OutboundMessage, error) {
	msgs, err := s.store.PendingDeliveries(ctx, DeliveryQuery{
		WorkspaceID: v.WorkspaceID, ChannelIDs: v.ChannelIDs, CreatedBefore: createdBefore, After: after, Limit: limit,
	})
	if err != nil {
		return nil, internal(err)
	}
	var ids []string
	for _, m := range msgs {
		if !slices.Contains(ids, m.ConversationID) {
			ids = append(ids, m.ConversationID)
		}
	}
	convs, err := s.store.ConversationsByIDs(ctx, v.WorkspaceID, ids)
	if err != nil {
		return nil, internal(err)
	}
	byID := map[string]*Conversation{}
	for _, c := range convs {
		if c != nil {
			byID[c.ID] = c
		}
	}
	out := make([]OutboundMessage, 0, len(msgs))
	for _, m := range msgs {
		c := byID[m.ConversationID]
		if c == nil {
			continue
		}
		out = append(out, OutboundMessage{Message: m, ConversationID: c.ID, ChannelID: c.ChannelID, ContactID: c.ContactID})
	}
	return out, nil
}

// DeliveryCounts are a channel's deliveries waiting for its connector.
type DeliveryCounts struct {
	// Pending are the outbound messages not yet reported SENT or FAILED.
	Pending int
	// Stalled are those of them PENDING for longer than RedeliverAfter.
	Stalled int
}

// DeliveryCounts counts a channel's pending deliveries (agents, admins).
func (s *Service) DeliveryCounts(ctx context.Context, a Actor, channelID string) (DeliveryCounts, error) {
	if err := requireAgent(a); err != nil {
		return DeliveryCounts{}, err
	}
	p, st, err := s.store.CountPendingDeliveries(ctx, a.WorkspaceID, channelID, s.now().Add(-s.redeliverAfter))
	return DeliveryCounts{Pending: p, Stalled: st}, internal(err)
}

// ReportDeliveryCommand is a connector's report of an outbound message.
type ReportDeliveryCommand struct {
	MessageID  string
	Status     DeliveryStatus
	ExternalID string
	Error      string
}

// ReportDelivery records whether an outbound message was sent. The same
// report twice is one; a report that differs from a SENT one is refused
// (a FAILED message may be reported again: a later attempt's outcome). The
// report is a change of the message's conversation, so agents see it live.
func (s *Service) ReportDelivery(ctx context.Context, a Actor, cmd ReportDeliveryCommand) (Message, error) {
	if err := requireConnector(a, "reportDelivery"); err != nil {
		return Message{}, err
	}
	cmd.Error = strings.TrimSpace(cmd.Error)
	if err := validReport(cmd); err != nil {
		return Message{}, err
	}
	ws := a.WorkspaceID
	type loaded struct {
		m Message
		c Conversation
	}
	return run(ctx, s, command[loaded, Message]{
		load: func(ctx context.Context, _ time.Time) (l loaded, err error) {
			// The message names its conversation; its delivery is read again
			// after the conversation, so a report committed after that read
			// moves the version this attempt's write is conditional on.
			msgs, err := s.store.MessagesByIDs(ctx, ws, []string{cmd.MessageID})
			if err != nil {
				return l, internal(err)
			}
			if msgs[0] == nil {
				return l, NotFound("message")
			}
			if l.c, err = s.existingConversation(ctx, ws, msgs[0].ConversationID); err != nil {
				return l, err
			}
			if msgs, err = s.store.MessagesByIDs(ctx, ws, []string{cmd.MessageID}); err != nil {
				return l, internal(err)
			}
			l.m = *msgs[0]
			if l.m.Direction != Outbound {
				return l, Invalid("input.messageId", "messageId is an inbound message; only outbound messages are delivered")
			}
			return l, nil
		},
		decide: func(l loaded, now time.Time) (d decision[Message], err error) {
			cur := l.m.Delivery
			if cur != nil && cur.Status == cmd.Status && cur.ExternalID == cmd.ExternalID && cur.Error == cmd.Error {
				return done(l.m), nil
			}
			if cur != nil && cur.Status == DeliverySent {
				return d, Invalid("input.status", "this message was already reported SENT")
			}
			p := newPlan(l.c, now)
			w := p.write()
			m := l.m
			m.Delivery = &Delivery{Status: cmd.Status, At: p.now, ExternalID: cmd.ExternalID, Error: cmd.Error, Version: w.Conversation.Version}
			w.Delivery = &m
			return writing(m, s.updateConversation(w), ErrVersionConflict), nil
		},
	})
}

func validReport(cmd ReportDeliveryCommand) error {
	switch {
	case cmd.MessageID == "" || len(cmd.MessageID) > MaxIDLength:
		return Invalid("input.messageId", "messageId must be 1 to %d bytes", MaxIDLength)
	case cmd.Status != DeliverySent && cmd.Status != DeliveryFailed:
		return Invalid("input.status", "status must be SENT or FAILED")
	case cmd.ExternalID != "" && !validKey(cmd.ExternalID, MaxExternalIDLen):
		return Invalid("input.externalMessageId", "externalMessageId must be 1 to %d printable bytes", MaxExternalIDLen)
	case cmd.Status == DeliveryFailed && cmd.Error == "":
		return Invalid("input.error", "a FAILED report needs an error the agent can read")
	case cmd.Status == DeliverySent && cmd.Error != "":
		return Invalid("input.error", "a SENT report has no error")
	case utf8.RuneCountInString(cmd.Error) > MaxDeliveryErrorLength || !utf8.ValidString(cmd.Error):
		return Invalid("input.error", "error must be valid UTF-8 of at most %d characters", MaxDeliveryErrorLength)
	}
	return nil
}
