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
	// subscription is listening before the next message is read.
	p := cn.prepare(ctx, id, a, raw)
	// finish ends the operation once its results are sent. The id is
	// free before the client hears the operation ended, so it may start
	// another with the same id at once.
	finish := func(last *message) {
		if p.done != nil {
			p.done()
		}
		cn.ops.forget(id, op)
		if last != nil {
			cn.enqueue(*last)
		}
		cn.ops.running.Done()
	}
	switch {
	case p.respond == nil:
		finish(p.last)
	case p.driver != nil && p.driver.isAttached():
		// A subscription whose resolver says when it has a result: no
		// goroutine waits for it meanwhile.
		p.driver.begin(p.ctx, p.respond, finish)
	default:
		// Queries and mutations run, and other subscriptions stream, in
		// their own goroutine.
		go func() {
			for first := true; ; first = false {
				if more, last := p.respond(first); !more {
					finish(last)
					return
				}
			}
		}()
	}
}

// stop ends an operation the client stopped; nothing is sent back.
func (cn *conn) stop(id string) {
	cn.ops.stop(id)
}

// prepared is an operation started, or the message that ends one that
// could not start (last, when respond is nil).
type prepared struct {
	last *message
	// ctx is the running operation's.
	ctx context.Context
	// respond sends the operation's next result (see conn.respond).
	respond func(first bool) (more bool, last *message)
	// done gives back what the operation held, once it ended.
	done func()
	// driver is a subscription's, which its resolver may attach to.
	driver *driven
}

// prepare validates an operation and starts it.
func (cn *conn) prepare(ctx context.Context, id string, a domain.Actor, raw *graphql.RawParams) prepared {
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
		return prepared{last: cn.errorsMessage(id, exec.DispatchError(graphql.WithOperationContext(ctx, opCtx), errs).Errors)}
	}
	subscription := opCtx.Operation.Operation == ast.Subscription
	release := func() {}
	var (
		share  *sharedStream
		driver *driven
	)
	if subscription {
		cancel()
		if !cn.srv.budget.admitSubscription() {
			return prepared{last: cn.errorsMessage(id, gqlerror.List{{
				Message:    "the server is at its limit of subscriptions; try again later",
				Extensions: map[string]any{"code": string(domain.CodeUnavailable)},
			}})}
		}
		kind := subscriptionKind(opCtx)
		cn.cfg.Observer.SubscriptionStarted(kind)
		release = func() {
			cn.srv.budget.releaseSubscription()
			cn.cfg.Observer.SubscriptionEnded(kind)
		}
		share = newSharedStream(ctx, cn, id, a, raw.Query, raw.OperationName, raw.Variables)
		ctx = feed.WithSharer(ctx, share)
		driver = &driven{}
		ctx = feed.WithDriver(ctx, driver)
	} else {
		ctx = budget
	}
	responses, ctx := exec.DispatchOperation(ctx, opCtx)
	return prepared{
		ctx: ctx,
		respond: func(first bool) (bool, *message) {
			return cn.respond(ctx, id, first, share, responses)
		},
		done: func() {
			release()
			cancel()
		},
		driver: driver,
	}
}

// respond sends an operation's next result: its one for a query or
// mutation, the next event's for a subscription (share is the
// subscription's, nil for others). When no more follow, it returns the
// message that ends the operation: complete (none when the client stopped
// it), or error when it could not start.
func (cn *conn) respond(ctx context.Context, id string, first bool, share *sharedStream, responses graphql.ResponseHandler) (more bool, last *message) {
	subscription := share != nil
	resp := responses(ctx)
	if resp == nil || ctx.Err() != nil {
		return false, cn.ended(ctx, id, subscription)
	}
	if first && subscription && len(resp.Errors) > 0 && (len(resp.Data) == 0 || string(resp.Data) == "null") {
		// The subscription could not start (its arguments were refused).
		return false, cn.errorsMessage(id, resp.Errors)
	}
	payload, err := json.Marshal(wireResponse{Errors: resp.Errors, Data: resp.Data, Extensions: resp.Extensions})
	if err != nil {
		cn.cfg.Logger.Error("encoding a GraphQL response", "err", err)
		cn.close(disconnectInternal)
		return false, nil
	}
	cn.enqueuePayload(id, cn.dialect.next, payload)
	share.sent(payload)
	if !subscription {
		return false, cn.ended(ctx, id, false)
	}
	return true, nil
}

// ended is the message that ends an operation whose results were sent.
func (cn *conn) ended(ctx context.Context, id string, subscription bool) *message {
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
