package domain

import "context"

type actorKey struct{}

// ContextWithActor returns ctx carrying the authenticated caller.
func ContextWithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFromContext returns the caller ctx carries; ok is false when there is
// none (the zero Actor is then refused by every operation).
func ActorFromContext(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}

type agentCtxKey struct{}

// ContextWithAgent returns ctx carrying the caller's agent record as their
// authentication read it (nil: none), so that the request's own reads of it
// (`me`) need no second store call.
func ContextWithAgent(ctx context.Context, a *Agent) context.Context {
	if a == nil {
		return ctx
	}
	return context.WithValue(ctx, agentCtxKey{}, a)
}

// agentFromContext returns the record of the caller a that ctx carries.
func agentFromContext(ctx context.Context, a Actor) *Agent {
	ag, _ := ctx.Value(agentCtxKey{}).(*Agent)
	if ag == nil || ag.WorkspaceID != a.WorkspaceID || ag.ID != a.ID {
		return nil
	}
	return ag
}
