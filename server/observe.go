package server

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"switchboard/server/ws"
)

// Observer is told about each GraphQL operation, for an operator's figures
// and traces. Its methods must return at once.
type Observer interface {
	// Operation is told an operation starts: over transport ("http" or
	// "websocket"), of type opType ("query", "mutation", "subscription",
	// or "invalid" for a request refused before its operation ran:
	// unauthenticated, a bad body, a document unparsable, invalid or
	// unknown to the trusted documents) and named name ("" when
	// anonymous). It may return a context for the operation (a
	// tracing span); the function it returns is called when the operation
	// has answered (a subscription: when it has started).
	Operation(ctx context.Context, transport, opType, name string) (context.Context, func())
	// OperationErrors is told the extensions.code of each error of one of
	// the operation's responses (a code once per response).
	OperationErrors(ctx context.Context, transport, opType, name string, codes []string)
}

type nopObserver struct{}

func (nopObserver) Operation(ctx context.Context, _, _, _ string) (context.Context, func()) {
	return ctx, func() {}
}
func (nopObserver) OperationErrors(context.Context, string, string, string, []string) {}

// observedKey marks the context of an operation the Observer was told of.
type observedKey struct{}

func transportOf(ctx context.Context) string {
	if ws.OverSocket(ctx) {
		return "websocket"
	}
	return "http"
}

// observeOperation tells the observer an operation starts and wraps its
// responses to tell it their errors, and when it answered.
func (s *Server) observeOperation(ctx context.Context, next func(context.Context) graphql.ResponseHandler) graphql.ResponseHandler {
	opCtx := graphql.GetOperationContext(ctx)
	transport, opType, name := transportOf(ctx), "invalid", ""
	if opCtx != nil && opCtx.Operation != nil {
		opType, name = string(opCtx.Operation.Operation), opCtx.Operation.Name
	}
	ctx, done := s.observer.Operation(context.WithValue(ctx, observedKey{}, true), transport, opType, name)
	responses := next(ctx)
	if opType == "subscription" {
		done()
		done = nil
	}
	return func(ctx context.Context) *graphql.Response {
		resp := responses(ctx)
		if resp != nil {
			if codes := errorCodes(resp.Errors); codes != nil {
				s.observer.OperationErrors(ctx, transport, opType, name, codes)
			}
		}
		if done != nil {
			done()
			done = nil
		}
		return resp
	}
}

// observeRefused tells the observer of a document refused before it ran
// (DispatchError): an operation of type "invalid" that answered at once.
func (s *Server) observeRefused(ctx context.Context, resp *graphql.Response) {
	if ctx.Value(observedKey{}) != nil {
		return
	}
	transport := transportOf(ctx)
	ctx, done := s.observer.Operation(ctx, transport, "invalid", "")
	if resp != nil {
		if codes := errorCodes(resp.Errors); codes != nil {
			s.observer.OperationErrors(ctx, transport, "invalid", "", codes)
		}
	}
	done()
}

// errorCodes are the distinct extensions.code of errs ("NONE" for an error
// without one), in order; nil without errors.
func errorCodes(errs gqlerror.List) []string {
	var codes []string
next:
	for _, e := range errs {
		code, _ := e.Extensions["code"].(string)
		if code == "" {
			code = "NONE"
		}
		for _, c := range codes {
			if c == code {
				continue next
			}
		}
		codes = append(codes, code)
	}
	return codes
}
