package resolvers

import (
	"context"

	"switchboard/domain"
	"switchboard/graph/model"
)

// conversationNodes returns convs as the API shows them: each with the
// references the operation selects below path (owner, ownershipLabel,
// channel, contact) loaded into it, so that gqlgen reads them as plain
// fields and runs no resolver per row. A reference already in the
// operation's loaders (a page's, primed in one call per kind; an event's,
// shared by its subscribers) costs nothing; the others are fetched at
// once, one batch per kind. A list should be primed first
// (primeConversations): loaders that fetch without waiting may split a
// list's keys over several batches.
//
// A reference that fails to load fails the whole value, where a resolver
// per field used to fail that field alone: the store is what failed, and
// the caller gets its error once.
func (r *Resolver) conversationNodes(ctx context.Context, convs []domain.Conversation, path ...string) ([]model.Conversation, error) {
	out := make([]model.Conversation, len(convs))
	if len(convs) == 0 {
		return out, nil
	}
	sel := func(field string) bool { return selected(ctx, append(path[:len(path):len(path)], field)...) }
	withOwner, withLabel, withChannel, withContact := sel("owner"), sel("ownershipLabel"), sel("channel"), sel("contact")
	l := loaders(ctx, r.Service)
	type refs struct {
		owner   func() (*domain.Agent, error)
		channel func() (*domain.Channel, error)
		contact func() (*domain.Contact, error)
	}
	// Every load is asked for before any is waited on, so the kinds are
	// fetched side by side.
	pending := make([]refs, len(convs))
	for i := range convs {
		c := &convs[i]
		out[i].Conversation = *c
		if (withOwner || withLabel) && c.OwnerID != "" {
			pending[i].owner = l.Agents.LoadThunk(ctx, c.OwnerID)
		}
		if withChannel {
			pending[i].channel = l.Channels.LoadThunk(ctx, c.ChannelID)
		}
		if withContact {
			pending[i].contact = l.Contacts.LoadThunk(ctx, c.ContactID)
		}
	}
	for i := range out {
		n, p := &out[i], pending[i]
		if p.owner != nil {
			owner, err := p.owner()
			if err != nil {
				return nil, err
			}
			if withOwner {
				n.Owner = owner
			}
			if withLabel && owner != nil {
				n.OwnershipLabel = strPtr(domain.OwnershipLabel(n.Status, owner.Name))
			}
		}
		if p.channel != nil {
			ch, err := required(p.channel())
			if err != nil {
				return nil, err
			}
			n.Channel = ch
		}
		if p.contact != nil {
			ct, err := required(p.contact())
			if err != nil {
				return nil, err
			}
			n.Contact = ct
		}
	}
	return out, nil
}

// conversationNode is conversationNodes for one conversation.
func (r *Resolver) conversationNode(ctx context.Context, c domain.Conversation, path ...string) (*model.Conversation, error) {
	nodes, err := r.conversationNodes(ctx, []domain.Conversation{c}, path...)
	if err != nil {
		return nil, err
	}
	return &nodes[0], nil
}

// required is a loaded reference that must exist: a missing one is a
// store inconsistency (errMissing).
func required[T any](v *T, err error) (*T, error) {
	if err == nil && v == nil {
		err = errMissing
	}
	return v, err
}
