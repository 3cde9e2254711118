package ws

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"switchboard/domain"
	"switchboard/feed"
)

// operations are a connection's running operations, by id.
type operations struct {
	mu   sync.Mutex
	byID map[string]*operation
	// running counts the operations whose goroutine has not ended, so the
	// connection ends after them.
	running sync.WaitGroup
}

type operation struct {
	cancel context.CancelFunc
}

func newOperations() operations {
	return operations{byID: map[string]*operation{}}
}

// Why an operation could not be added.
var (
	errIDInUse    = errors.New("the id is in use")
	errTooManyOps = errors.New("too many operations on this connection")
)

// add registers an operation under id, with a context of parent that its
// cancel ends. An id in use is replaced when replace is set, and refused
// otherwise; at most limit operations run at once.
func (o *operations) add(parent context.Context, id string, replace bool, limit int) (context.Context, *operation, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if old, ok := o.byID[id]; ok {
		if !replace {
			return nil, nil, errIDInUse
		}
		old.cancel()
		delete(o.byID, id)
	}
	if len(o.byID) >= limit {
		return nil, nil, errTooManyOps
	}
	ctx, cancel := context.WithCancel(parent)
	op := &operation{cancel: cancel}
	o.byID[id] = op
	o.running.Add(1)
	return ctx, op, nil
}

// forget removes an operation that ended, unless another took its id.
func (o *operations) forget(id string, op *operation) {
	op.cancel()
	o.mu.Lock()
	if o.byID[id] == op {
		delete(o.byID, id)
	}
	o.mu.Unlock()
}

// stop ends the operation of id, if one runs.
func (o *operations) stop(id string) {
	o.mu.Lock()
	op, ok := o.byID[id]
	delete(o.byID, id)
	o.mu.Unlock()
	if ok {
		op.cancel()
	}
}

// wait waits for every operation's goroutine to end.
func (o *operations) wait() { o.running.Wait() }

// start runs an operation.
func (cn *conn) start(id string, raw *graphql.RawParams) {
	acked, a := cn.session()
	if !acked {
		cn.close(disconnectUnauthorized)
		return
	}
	ctx, op, err := cn.ops.add(cn.opsCtx, id, cn.dialect.startReplaces, cn.cfg.MaxOperations)
	switch {
	case errors.Is(err, errIDInUse):
		cn.close(disconnectDuplicateID(id))
		return
	case errors.Is(err, errTooManyOps):
		cn.sendErrors(id, gqlerror.List{{Message: err.Error(), Extensions: map[string]any{"code": string(domain.CodeInvalid)}}})
		return
	}

	// Prepared here, in the order the client sent its messages: a
	// subscription is listening before the next message is read. Queries and
	// mutations run, and subscriptions stream, in their own goroutine.
	stream, last := cn.prepare(ctx, id, a, raw)
	go func() {
		defer cn.ops.running.Done()
		if stream != nil {
			last = stream()
		}
		// The id is free before the client hears the operation ended, so
		// it may start another with the same id at once.
		cn.ops.forget(id, op)
		if last != nil {
			cn.enqueue(*last)
		}
	}()
}

// stop ends an operation the client stopped; nothing is sent back.
func (cn *conn) stop(id string) {
	cn.ops.stop(id)
}

// prepare validates an operation and starts it; the returned function
// streams its results and returns the message that ends the operation. When
// the operation could not start, it returns only that message.
func (cn *conn) prepare(ctx context.Context, id string, a domain.Actor, raw *graphql.RawParams) (func() *message, *message) {
	ctx = domain.ContextWithActor(ctx, a)
	ctx = feed.WithCutOff(ctx, func(err error) {
		switch {
		case errors.Is(err, feed.ErrTooSlow):
			cn.closeTooSlow(disconnectTooSlow, "feed")
		case errors.Is(err, feed.ErrResync):
			cn.closeTooSlow(disconnectResync, "resync")
		case errors.Is(err, feed.ErrClosed):
			cn.close(disconnectShutdown)
		}
	})
	ctx = graphql.StartOperationTrace(ctx)
	ctx = context.WithValue(ctx, socketKey{}, true)
	exec := cn.cfg.Executor(a)
	// Preparing any operation, and running a query or mutation, has the
	// operation's budget; a subscription runs until it ends.
	budget, cancel := context.WithTimeout(ctx, cn.cfg.OperationTimeout)
	opCtx, errs := exec.CreateOperationContext(budget, raw)
	if errs != nil {
		cancel()
		return nil, cn.errorsMessage(id, exec.DispatchError(graphql.WithOperationContext(ctx, opCtx), errs).Errors)
	}
	subscription := opCtx.Operation.Operation == ast.Subscription
	release := func() {}
	var share *sharedStream
	if subscription {
		cancel()
		if !cn.srv.budget.admitSubscription() {
			return nil, cn.errorsMessage(id, gqlerror.List{{
				Message:    "the server is at its limit of subscriptions; try again later",
				Extensions: map[string]any{"code": string(domain.CodeUnavailable)},
			}})
		}
		kind := subscriptionKind(opCtx)
		cn.cfg.Observer.SubscriptionStarted(kind)
		release = func() {
			cn.srv.budget.releaseSubscription()
			cn.cfg.Observer.SubscriptionEnded(kind)
		}
		share = newSharedStream(ctx, cn, id, a, raw.Query, raw.OperationName, raw.Variables)
		ctx = feed.WithSharer(ctx, share)
	} else {
		ctx = budget
	}
	responses, ctx := exec.DispatchOperation(ctx, opCtx)
	return func() *message {
		defer release()
		defer cancel()
		return cn.stream(ctx, id, share, responses)
	}, nil
}

// stream sends an operation's results: one for a query or mutation, one per
// event for a subscription (share is the subscription's, nil for others);
// it returns the message that ends it: complete (none when the client
// stopped it), or error when it could not start.
func (cn *conn) stream(ctx context.Context, id string, share *sharedStream, responses graphql.ResponseHandler) *message {
	subscription := share != nil
	for first := true; ; first = false {
		resp := responses(ctx)
		if resp == nil || ctx.Err() != nil {
			break
		}
		if first && subscription && len(resp.Errors) > 0 && (len(resp.Data) == 0 || string(resp.Data) == "null") {
			// The subscription could not start (its arguments were refused).
			return cn.errorsMessage(id, resp.Errors)
		}
		payload, err := json.Marshal(wireResponse{Errors: resp.Errors, Data: resp.Data, Extensions: resp.Extensions})
		if err != nil {
			cn.cfg.Logger.Error("encoding a GraphQL response", "err", err)
			cn.close(disconnectInternal)
			return nil
		}
		cn.enqueuePayload(id, cn.dialect.next, payload)
		share.sent(payload)
		if !subscription {
			break
		}
	}
	if ctx.Err() != nil {
		if !subscription && errors.Is(ctx.Err(), context.DeadlineExceeded) && cn.opsCtx.Err() == nil {
			return cn.errorsMessage(id, gqlerror.List{{
				Message:    "the operation took longer than the server allows; try again later",
				Extensions: map[string]any{"code": string(domain.CodeUnavailable)},
			}})
		}
		return nil
	}
	return &message{ID: id, Type: cn.dialect.complete}
}

// wireResponse is a GraphQL result as it goes out.
type wireResponse struct {
	Errors     []*gqlerror.Error `json:"errors,omitempty"`
	Data       json.RawMessage   `json:"data,omitempty"`
	Extensions map[string]any    `json:"extensions,omitempty"`
}

func (cn *conn) sendErrors(id string, errs gqlerror.List) {
	if m := cn.errorsMessage(id, errs); m != nil {
		cn.enqueue(*m)
	}
}

// errorsMessage is the message that ends an operation with errors.
func (cn *conn) errorsMessage(id string, errs gqlerror.List) *message {
	payload, err := json.Marshal(errs)
	if err != nil {
		cn.close(disconnectInternal)
		return nil
	}
	return &message{ID: id, Type: cn.dialect.errorType, Payload: payload}
}

// subscriptionKind is the root field a subscription listens to (a
// subscription has exactly one).
func subscriptionKind(opCtx *graphql.OperationContext) string {
	for _, sel := range opCtx.Operation.SelectionSet {
		if f, ok := sel.(*ast.Field); ok {
			return f.Name
		}
	}
	return "unknown"
}
