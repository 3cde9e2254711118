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

// position is the position a subscription's payload carries for e; nil
// from a store that keeps no record of changes.
func position(e domain.Event) *string {
	if e.Position == 0 {
		return nil
	}
	p := domain.Position(e.WorkspaceID, e.Position)
	return &p
}

// subscribe streams the changes of the caller's workspace that pick
// accepts, in commit order. Before each one it refreshes the operation's
// loaders from the references the event's subscribers share, so a long-lived
// subscription never serves a stale owner and a thousand subscribers do not
// each read the same records.
//
// It is woken only for events of kinds (a view of conversations never for
// a presence change), and holds no goroutine while no event comes.
//
// With since, it first replays the logged changes after that position, then
// goes on live: it subscribes to the feed before reading the log, so a
// change committed meanwhile is in one or both, and a live event at or
// before the last one replayed is skipped.
//
// Subscribers whose pick has the same key (the same view of the same
// workspace) share one pick per event: the same T goes to all of them, so
// pick must build a value nobody changes afterwards. The transport may
// share more (feed.Deliverer): the result of one subscriber's operation goes
// to every subscriber of the same view running the same operation, so what
// the fields below a subscription resolve must not depend on the caller
// beyond its view, its workspace and its role.
func subscribe[T any](ctx context.Context, r *Resolver, a domain.Actor, kinds feed.Kinds, key string, since *string, pick func(domain.Event) (T, bool)) (<-chan T, error) {
	if r.Feed == nil {
		return nil, errNoFeed
	}
	out := make(chan T)
	// ready tells the transport a value (or the close) is coming on out;
	// set before the first event is handled.
	ready := func() {}
	// end closes out for good: the transport ends the operation.
	end := func() {
		ready()
		close(out)
	}
	var last int64
	deliverShared := feed.Deliverer(ctx)
	// send delivers one event to the operation; false when it has ended.
	send := func(ev *feed.Event) bool {
		p := ev.Memo(key, func() any {
			v, ok := pick(ev.Event)
			return picked[T]{v, ok}
		}).(picked[T])
		if !p.ok {
			return true
		}
		deliver := func() bool {
			// On a failed load the fields load what they need
			// themselves.
			refs, _ := ev.Refs(ctx, r.Service)
			loaders(ctx, r.Service).Reset(refs.Agents, refs.Channels, refs.Contacts)
			ready()
			select {
			case out <- p.v:
				return true
			case <-ctx.Done():
				return false
			}
		}
		return deliverShared(ev, key, deliver)
	}
	// No goroutine waits for this subscription's events: the broker runs
	// one while they come, and the transport reads out only then.
	sub := r.Feed.SubscribeFunc(a.WorkspaceID, kinds, subscriptionQueue, func(ev *feed.Event) bool {
		if since != nil && ev.Position != 0 && ev.Position <= last {
			return true // replayed already
		}
		return send(ev)
	}, func(err error) {
		feed.CutOff(ctx, err)
		end()
	})
	var replay []domain.Event
	if since != nil {
		var err error
		if last, replay, err = r.Service.Resume(ctx, a, "since", *since); err != nil {
			sub.Close()
			return nil, err
		}
	}
	ready = feed.Attach(ctx)
	context.AfterFunc(ctx, sub.Close)
	sub.Start(func() bool {
		// The replay: each event is this subscriber's own (shared with
		// nobody), read a page at a time until the log has no more. Live
		// events wait meanwhile.
		for since != nil && len(replay) > 0 {
			for _, e := range replay {
				if !send(&feed.Event{Event: e}) {
					return false
				}
				last = e.Position
			}
			if len(replay) < domain.ReplayPageSize {
				break
			}
			var err error
			if replay, err = r.Service.EventsAfter(ctx, a.WorkspaceID, last); err != nil {
				// Trimmed while replaying, or the store failed: the
				// transport closes the socket as for a lost place (1013),
				// and the client resumes from its last position, or is
				// told RESET.
				feed.CutOff(ctx, feed.ErrResync)
				end()
				return false
			}
		}
		return true
	})
	return out, nil
}

// picked is the memoized result of a pick.
type picked[T any] struct {
	v  T
	ok bool
}
