package resolvers

import (
	"context"
	"time"

	"switchboard/domain"
	"switchboard/feed"
)

// outboundPage is how many pending deliveries one backlog read takes.
const outboundPage = 100

// outbound streams a connector's outbound messages: first every delivery
// of the view still PENDING, oldest first, then new replies as they are
// committed; and, every so often, the deliveries PENDING for longer than
// the service's redelivery delay that this subscription offered that long
// ago (or never). The feed is subscribed before the backlog is read, so a
// reply committed in between is in one or the other (or both: it is sent
// once). Delivery is at least once; a failed read ends the subscription
// with the close code that tells the client to reconnect, where it gets
// the backlog again.
func (r *Resolver) outbound(ctx context.Context, v domain.OutboundView) (<-chan *domain.OutboundMessage, error) {
	if r.Feed == nil {
		return nil, errNoFeed
	}
	sub := r.Feed.SubscribeKinds(v.WorkspaceID, feed.Conversations, subscriptionQueue)
	l := loaders(ctx, r.Service)
	out := make(chan *domain.OutboundMessage)
	svc := r.Service
	every := max(svc.RedeliverAfter()/4, 10*time.Millisecond)
	tick := make(chan struct{}, 1)
	var timer domain.Timer
	arm := func() {
		timer = svc.Clock().AfterFunc(every, func() {
			select {
			case tick <- struct{}{}:
			default:
			}
		})
	}
	go func() {
		defer close(out)
		defer sub.Close()
		defer func() {
			if timer != nil {
				timer.Stop()
			}
		}()
		// offered: when this subscription last offered each message still
		// PENDING as far as it knows.
		offered := map[string]time.Time{}
		send := func(m domain.OutboundMessage) bool {
			offered[m.Message.ID] = svc.Clock().Now()
			select {
			case out <- &m:
				return true
			case <-ctx.Done():
				return false
			}
		}
		// pending sends the view's PENDING deliveries created before
		// `before` (all when zero) that keep(m) accepts.
		pending := func(before time.Time, keep func(domain.OutboundMessage) bool) bool {
			var after *domain.DeliveryKey
			for {
				page, err := svc.PendingOutbound(ctx, v, after, before, outboundPage)
				if err != nil {
					if ctx.Err() == nil {
						feed.CutOff(ctx, feed.ErrResync)
					}
					return false
				}
				for _, m := range page {
					if keep(m) && !send(m) {
						return false
					}
				}
				if len(page) < outboundPage {
					return true
				}
				k := domain.DeliveryKeyOf(page[len(page)-1].Message)
				after = &k
			}
		}
		if !pending(time.Time{}, func(domain.OutboundMessage) bool { return true }) {
			return
		}
		arm()
		for {
			select {
			case <-ctx.Done():
				return
			case <-sub.Done():
				feed.CutOff(ctx, sub.Err())
				return
			case <-tick:
				now := svc.Clock().Now()
				due := now.Add(-svc.RedeliverAfter())
				if !pending(due, func(m domain.OutboundMessage) bool {
					at, ok := offered[m.Message.ID]
					return !ok || !at.After(due)
				}) {
					return
				}
				arm()
			case ev := <-sub.Events():
				if ce := ev.Conversation; ce != nil && ce.Delivery != nil && ce.Delivery.Delivery != nil &&
					ce.Delivery.Delivery.Status != domain.DeliveryPending {
					delete(offered, ce.Delivery.ID)
				}
				p := ev.Memo(v.Key(), func() any {
					m, ok := domain.OutboundOf(ev.Event, v)
					return picked[domain.OutboundMessage]{m, ok}
				}).(picked[domain.OutboundMessage])
				if !p.ok {
					continue
				}
				if _, seen := offered[p.v.Message.ID]; seen {
					continue
				}
				refs, _ := ev.Refs(ctx, svc)
				l.Reset(refs.Agents, refs.Channels, refs.Contacts)
				if !send(p.v) {
					return
				}
			}
		}
	}()
	return out, nil
}

// eventMessage is the message a change added, or else the one whose
// delivery it changed, as the change left it.
func eventMessage(ce *domain.ConversationEvent) *domain.Message {
	var m domain.Message
	switch {
	case ce.Message != nil:
		m = *ce.Message
	case ce.Delivery != nil:
		m = *ce.Delivery
	default:
		return nil
	}
	return &m
}
