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
