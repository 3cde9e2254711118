package resolvers

import (
	"context"
	"errors"

	"switchboard/domain"
	"switchboard/feed"
)

// subscriptionQueue bounds the events waiting for one subscription; a
// subscriber that lets more pile up is cut off (feed.ErrTooSlow).
const subscriptionQueue = 256

var errNoFeed = errors.New("this server has no change feed")

// subscribe streams the changes of the caller's workspace that pick
// accepts, in commit order. Before each one it refreshes the operation's
// loaders from the references the event's subscribers share, so a long-lived
// subscription never serves a stale owner and a thousand subscribers do not
// each read the same records.
//
// Subscribers whose pick has the same key (the same view of the same
// workspace) share one pick per event: the same T goes to all of them, so
// pick must build a value nobody changes afterwards. The transport may
// share more (feed.Deliver): the result of one subscriber's operation goes
// to every subscriber of the same view running the same operation, so what
// the fields below a subscription resolve must not depend on the caller
// beyond its view, its workspace and its role.
func subscribe[T any](ctx context.Context, r *Resolver, a domain.Actor, key string, pick func(domain.Event) (T, bool)) (<-chan T, error) {
	if r.Feed == nil {
		return nil, errNoFeed
	}
	sub := r.Feed.Subscribe(a.WorkspaceID, subscriptionQueue)
	l := loaders(ctx, r.Service)
	out := make(chan T)
	go func() {
		defer close(out)
		defer sub.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case <-sub.Done():
				feed.CutOff(ctx, sub.Err())
				return
			case ev := <-sub.Events():
				p := ev.Memo(key, func() any {
					v, ok := pick(ev.Event)
					return picked[T]{v, ok}
				}).(picked[T])
				if !p.ok {
					continue
				}
				deliver := func() bool {
					// On a failed load the fields load what they need
					// themselves.
					refs, _ := ev.Refs(ctx, r.Service)
					l.Reset(refs.Agents, refs.Channels, refs.Contacts)
					select {
					case out <- p.v:
						return true
					case <-ctx.Done():
						return false
					}
				}
				if !feed.Deliver(ctx, ev, key, deliver) {
					return
				}
			}
		}
	}()
	return out, nil
}

// picked is the memoized result of a pick.
type picked[T any] struct {
	v  T
	ok bool
}
