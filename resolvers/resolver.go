// Package resolvers maps GraphQL fields to the domain: arguments in, domain
// calls, domain values out. No rule lives here; see package domain.
package resolvers

import (
	"context"
	"errors"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"switchboard/dataloader"
	"switchboard/domain"
	"switchboard/feed"
	"switchboard/graph"
	"switchboard/graph/model"
)

// Resolver is the root resolver.
type Resolver struct {
	Service *domain.Service
	// Feed carries the committed changes that subscriptions stream; nil
	// means no subscriptions.
	Feed *feed.Broker
	// counts shares the counting of queueCountsChanged subscribers.
	counts *countsHub
}

// NewExecutableSchema returns the GraphQL schema bound to svc and the change
// feed, with the complexity of list fields weighted by their page size.
func NewExecutableSchema(svc *domain.Service, changes *feed.Broker) graphql.ExecutableSchema {
	r := &Resolver{Service: svc, Feed: changes}
	if changes != nil {
		r.counts = newCountsHub(svc, changes)
	}
	cfg := graph.Config{Resolvers: r}
	setComplexity(&cfg.Complexity)
	return graph.NewExecutableSchema(cfg)
}

// actor returns the authenticated caller; the server refuses requests
// without one before they reach a resolver.
func actor(ctx context.Context) domain.Actor {
	a, _ := domain.ActorFromContext(ctx)
	return a
}

// loaders returns the operation's loaders, making them if the transport did
// not (a resolver called outside an operation, as in some tests).
func loaders(ctx context.Context, svc *domain.Service) *dataloader.Loaders {
	if l := dataloader.For(ctx); l != nil {
		return l
	}
	return dataloader.New(svc, actor(ctx).WorkspaceID)
}

func (r *Resolver) agent(ctx context.Context, id string) (*domain.Agent, error) {
	if id == "" {
		return nil, nil
	}
	return loaders(ctx, r.Service).Agents.Load(ctx, id)
}

// activeAgents are the active ones of the agents with these ids, in their
// order: a channel's lists name agents who may since have been deactivated.
func (r *Resolver) activeAgents(ctx context.Context, ids []string) ([]domain.Agent, error) {
	agents, err := loaders(ctx, r.Service).Agents.LoadAll(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]domain.Agent, 0, len(agents))
	for _, a := range agents {
		if a != nil && a.Active {
			out = append(out, *a)
		}
	}
	return out, nil
}

// errMissing is for a reference that must exist (a conversation's channel)
// but does not: a store inconsistency, shown as INTERNAL.
var errMissing = errors.New("a referenced record is missing")

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func int64Ptr(p *int) *int64 {
	if p == nil {
		return nil
	}
	v := int64(*p)
	return &v
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func toFilter(f *model.OwnershipFilter) *domain.OwnershipFilter {
	if f == nil {
		return nil
	}
	return &domain.OwnershipFilter{
		Unowned: deref(f.Unowned, false), OwnedByMe: deref(f.OwnedByMe, false),
		OwnedByOthers: deref(f.OwnedByOthers, false), OwnerIDs: f.OwnerIds,
	}
}

func pageInfo(p domain.PageInfo, cursors []string) *model.PageInfo {
	pi := &model.PageInfo{HasNextPage: p.HasNextPage, HasPreviousPage: p.HasPreviousPage}
	if n := len(cursors); n > 0 {
		pi.StartCursor, pi.EndCursor = &cursors[0], &cursors[n-1]
	}
	return pi
}

// argGiven reports whether the client gave the current field's argument
// name, written in the document or as a variable the request sets, rather
// than leaving it to the schema's default. Outside an operation every
// argument counts as given.
func argGiven(ctx context.Context, name string) bool {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Field.Field == nil {
		return true
	}
	arg := fc.Field.Arguments.ForName(name)
	if arg == nil {
		return false
	}
	if arg.Value.Kind == ast.Variable {
		// The operation's variables hold those the request set and those
		// with a default in the operation; an unset one is no argument.
		_, set := graphql.GetOperationContext(ctx).Variables[arg.Value.Raw]
		return set
	}
	return true
}

// selected reports whether the operation selects the field at path below
// the current field, e.g. selected(ctx, "edges", "node", "owner").
func selected(ctx context.Context, path ...string) bool {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return true
	}
	return selects(graphql.GetOperationContext(ctx), fc.Field.Selections, path)
}

func selects(opCtx *graphql.OperationContext, set ast.SelectionSet, path []string) bool {
	if len(path) == 0 {
		return true
	}
	for _, f := range graphql.CollectFields(opCtx, set, nil) {
		if f.Name == path[0] && selects(opCtx, f.Selections, path[1:]) {
			return true
		}
	}
	return false
}

// all runs fns at once (the last one in the caller's goroutine) and returns
// the first of their errors.
func all(fns []func() error) error {
	if len(fns) == 0 {
		return nil
	}
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns[:len(fns)-1] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn()
		}()
	}
	errs[len(fns)-1] = fns[len(fns)-1]()
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// primeChangeAgents loads the agents of a list of ownership changes.
func (r *Resolver) primeChangeAgents(ctx context.Context, changes []domain.OwnershipChange) error {
	ids := make([]string, 0, 3*len(changes))
	for _, c := range changes {
		ids = append(ids, c.FromID, c.ToID, c.ActorID)
	}
	return loaders(ctx, r.Service).PrimeAgents(ctx, ids)
}

// conversationPayload answers a conversation mutation, loading the
// references its selection asks for in one call each, so the payload waits
// for no batch.
func (r *Resolver) conversationPayload(ctx context.Context, res domain.ConversationResult, err error) (*model.ConversationPayload, error) {
	if err != nil {
		return nil, err
	}
	node, err := r.conversationNode(ctx, res.Conversation, "conversation")
	if err != nil {
		return nil, err
	}
	if res.Change != nil && (selected(ctx, "ownershipChange", "from") || selected(ctx, "ownershipChange", "to") || selected(ctx, "ownershipChange", "actor")) {
		if err := r.primeChangeAgents(ctx, []domain.OwnershipChange{*res.Change}); err != nil {
			return nil, err
		}
	}
	return &model.ConversationPayload{Conversation: node, OwnershipChange: res.Change}, nil
}
