package resolvers

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"switchboard/domain"
	"switchboard/graph/model"
)

// conversationRefs are the references of a conversation that an operation
// selects at one place in its document.
type conversationRefs struct{ owner, label, channel, contact bool }

// selectedRefs reads, in one walk of the document, which references the
// operation selects on the conversations at path below the current field.
func selectedRefs(ctx context.Context, path ...string) conversationRefs {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return conversationRefs{owner: true, label: true, channel: true, contact: true}
	}
	var refs conversationRefs
	eachSelected(graphql.GetOperationContext(ctx), fc.Field.Selections, path, func(name string) {
		switch name {
		case "owner":
			refs.owner = true
		case "ownershipLabel":
			refs.label = true
		case "channel":
			refs.channel = true
		case "contact":
			refs.contact = true
		}
	})
	return refs
}

// eachSelected calls fn with the name of every field selected at path
// below set, through every field that path's names match (aliases too).
func eachSelected(opCtx *graphql.OperationContext, set ast.SelectionSet, path []string, fn func(name string)) {
	for _, f := range graphql.CollectFields(opCtx, set, nil) {
		switch {
		case len(path) == 0:
			fn(f.Name)
		case f.Name == path[0]:
			eachSelected(opCtx, f.Selections, path[1:], fn)
		}
	}
}

// responsePlaces returns where, in the response, the operation's field
// (by name) stands on the value at path below the current field: one place
// per response key, so under each alias the client gave it or any field of
// path. An error belongs at those places, as the client named them.
func responsePlaces(ctx context.Context, field string, path ...string) []ast.Path {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return nil
	}
	opCtx := graphql.GetOperationContext(ctx)
	var places []ast.Path
	var walk func(set ast.SelectionSet, at ast.Path, path []string)
	walk = func(set ast.SelectionSet, at ast.Path, path []string) {
		for _, f := range graphql.CollectFields(opCtx, set, nil) {
			here := append(at[:len(at):len(at)], ast.PathName(f.Alias))
			switch {
			case len(path) == 0 && f.Name == field:
				places = append(places, here)
			case len(path) > 0 && f.Name == path[0]:
				walk(f.Selections, here, path[1:])
			}
		}
	}
	walk(fc.Field.Selections, graphql.GetPath(ctx), path)
	return places
}

// primeConversations loads, in one store call per kind, the references
// refs names of a list of conversations. The kinds are read at once, not
// one after the other: they do not depend on each other, and a page waits
// for the slowest of them only.
func (r *Resolver) primeConversations(ctx context.Context, convs []domain.Conversation, refs conversationRefs) error {
	if len(convs) == 0 {
		return nil
	}
	l := loaders(ctx, r.Service)
	ids := func(of func(c *domain.Conversation) string) []string {
		out := make([]string, len(convs))
		for i := range convs {
			out[i] = of(&convs[i])
		}
		return out
	}
	var primes []func() error
	if refs.owner || refs.label {
		owners := ids(func(c *domain.Conversation) string { return c.OwnerID })
		primes = append(primes, func() error { return l.PrimeAgents(ctx, owners) })
	}
	if refs.channel {
		channels := ids(func(c *domain.Conversation) string { return c.ChannelID })
		primes = append(primes, func() error { return l.PrimeChannels(ctx, channels) })
	}
	if refs.contact {
		contacts := ids(func(c *domain.Conversation) string { return c.ContactID })
		primes = append(primes, func() error { return l.PrimeContacts(ctx, contacts) })
	}
	return all(primes)
}

// conversationNodes returns convs as the API shows them: each with the
// references refs names loaded into it, so that gqlgen reads them as plain
// fields and runs no resolver per row. A reference already in the
// operation's loaders (a page's, primed in one call per kind; an event's,
// shared by its subscribers) costs nothing; the others are fetched at
// once, one batch per kind. A list should be primed first
// (primeConversations): loaders that fetch without waiting may split a
// list's keys over several batches.
//
// A channel or contact that fails to load fails the whole value: they may
// not be null, so the conversation would be null anyway. An owner that
// fails to load, when convs is one conversation whose fields stand in the
// response where placesOf says, is null with the error at each of its
// places (and at the label's when that is selected too), as when the owner
// was a field of its own: the rest of the conversation still reaches the
// client. Without placesOf (a list, whose owners were read up front) it
// fails the whole value too.
func (r *Resolver) conversationNodes(ctx context.Context, convs []domain.Conversation, refs conversationRefs, placesOf func(field string) []ast.Path) ([]model.Conversation, error) {
	out := make([]model.Conversation, len(convs))
	if len(convs) == 0 {
		return out, nil
	}
	l := loaders(ctx, r.Service)
	type loads struct {
		owner   func() (*domain.Agent, error)
		channel func() (*domain.Channel, error)
		contact func() (*domain.Contact, error)
	}
	// Every load is asked for before any is waited on, so the kinds are
	// fetched side by side.
	pending := make([]loads, len(convs))
	for i := range convs {
		c := &convs[i]
		out[i].Conversation = *c
		if (refs.owner || refs.label) && c.OwnerID != "" {
			pending[i].owner = l.Agents.LoadThunk(ctx, c.OwnerID)
		}
		if refs.channel {
			pending[i].channel = l.Channels.LoadThunk(ctx, c.ChannelID)
		}
		if refs.contact {
			pending[i].contact = l.Contacts.LoadThunk(ctx, c.ContactID)
		}
	}
	for i := range out {
		n, p := &out[i], pending[i]
		if p.owner != nil {
			owner, err := p.owner()
			if err != nil {
				if placesOf == nil {
					return nil, err
				}
				for _, field := range []string{"owner", "ownershipLabel"} {
					for _, at := range placesOf(field) {
						graphql.AddError(ctx, gqlerror.WrapPath(at, err))
					}
				}
			}
			if refs.owner {
				n.Owner = owner
			}
			if refs.label && owner != nil {
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

// conversationNode is one conversation as the API shows it, with the
// references the operation selects on it at path below the current field.
func (r *Resolver) conversationNode(ctx context.Context, c domain.Conversation, path ...string) (*model.Conversation, error) {
	placesOf := func(field string) []ast.Path { return responsePlaces(ctx, field, path...) }
	nodes, err := r.conversationNodes(ctx, []domain.Conversation{c}, selectedRefs(ctx, path...), placesOf)
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
