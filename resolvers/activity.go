package resolvers

import (
	"context"
	"slices"
	"time"

	"switchboard/domain"
	"switchboard/feed"
)

// watchActivity streams a conversation's activity: the snapshot when the
// watch begins, then one whenever its viewers, its typists or its version
// change. While it runs the caller is a viewer.
//
// Every subscriber of the conversation picks the same value from an event
// (one read of the conversation and its agents, shared), so the transport
// may share its execution. A subscriber skips what it has already sent: an
// event older than its first snapshot, or one that changes nothing it
// showed. When a queued event is older in one part (its lists, its
// version) than what it sent, it sends the newer of each as its own.
func watchActivity(ctx context.Context, r *Resolver, a domain.Actor, conversationID string) (<-chan *domain.ConversationActivity, error) {
	if r.Feed == nil {
		return nil, errNoFeed
	}
	if err := domain.RequireAgent(a); err != nil {
		return nil, err
	}
	// Subscribed before the watch begins: no change after its snapshot is
	// missed.
	sub := r.Feed.SubscribeConversation(a.WorkspaceID, conversationID, subscriptionQueue)
	w, err := r.Service.WatchActivity(ctx, a, conversationID)
	if err != nil {
		sub.Close()
		return nil, err
	}
	key := "activity " + conversationID
	l := loaders(ctx, r.Service)
	out := make(chan *domain.ConversationActivity)
	go func() {
		defer close(out)
		defer sub.Close()
		defer w.Close()
		send := func(ev *feed.Event, view string, v *domain.ConversationActivity) bool {
			return feed.Deliver(ctx, ev, view, func() bool {
				refs, _ := ev.Refs(ctx, r.Service)
				l.Reset(refs.Agents, refs.Channels, refs.Contacts)
				select {
				case out <- v:
					return true
				case <-ctx.Done():
					return false
				}
			})
		}
		// A value of this subscriber alone goes through an event of its
		// own, so nothing of another subscriber's execution stands for it.
		sendOwn := func(v *domain.ConversationActivity) bool {
			return send(&feed.Event{Event: domain.Event{WorkspaceID: a.WorkspaceID}}, key+" own", v)
		}
		last := &w.First
		if !sendOwn(last) {
			return
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-sub.Done():
				feed.CutOff(ctx, sub.Err())
				return
			case ev := <-sub.Events():
				p := ev.Memo(key, func() any {
					// Not the first subscriber's context: its end must
					// not fail the others' pick.
					pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
					defer cancel()
					v, err := r.Service.ActivityAfter(pctx, a.WorkspaceID, conversationID, ev.Event)
					return picked[*domain.ConversationActivity]{v, err == nil && v != nil}
				}).(picked[*domain.ConversationActivity])
				if !p.ok {
					continue
				}
				next := newerActivity(last, p.v)
				if sameActivity(next, last) {
					continue
				}
				last = next
				var ok bool
				if next == p.v {
					ok = send(ev, key, next)
				} else {
					ok = sendOwn(next)
				}
				if !ok {
					return
				}
			}
		}
	}()
	return out, nil
}

// newerActivity is v, or, where last is newer in a part (the lists, the
// conversation), v with last's part.
func newerActivity(last, v *domain.ConversationActivity) *domain.ConversationActivity {
	listsOld := v.Seq < last.Seq
	convOld := v.Conversation.Version < last.Conversation.Version
	if !listsOld && !convOld {
		return v
	}
	n := *v
	if listsOld {
		n.Seq, n.Viewers, n.Typing = last.Seq, last.Viewers, last.Typing
	}
	if convOld {
		n.Conversation = last.Conversation
	}
	return &n
}

// sameActivity reports whether a and b show the same: version, viewers and
// typists.
func sameActivity(a, b *domain.ConversationActivity) bool {
	ids := func(agents []*domain.Agent) []string {
		out := make([]string, len(agents))
		for i, x := range agents {
			out[i] = x.ID
		}
		return out
	}
	return a.Conversation.Version == b.Conversation.Version &&
		slices.Equal(ids(a.Viewers), ids(b.Viewers)) && slices.Equal(ids(a.Typing), ids(b.Typing))
}
