package ws

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"runtime"
	"strings"
	"sync/atomic"

	"switchboard/domain"
	"switchboard/feed"
)

// sharedStream is a subscription's feed.Sharer. The subscribers of one view
// of an event who run the same operation (the same document, operation
// name and variables, under the same role) would each execute it and
// encode the same result: a burst of events to thousands of them cost
// thousands of executions at once, each with its goroutines and garbage.
// Instead the first of them executes it, within one of the server's
// execution slots, and the others send its encoded result under their own
// operation id.
type sharedStream struct {
	cn *conn
	id string
	// ctx is the operation's.
	ctx context.Context
	// operation names the operation for sharing: a digest of what the
	// result depends on besides the event and the view (the document may
	// be long; the name is made once per event and subscriber).
	operation string
	// awaiting is set while this subscriber's own execution runs for
	// Share; its stream then hands the encoded result back on encoded.
	awaiting atomic.Bool
	encoded  chan []byte
	// prefix is the envelope of this subscription's events up to their
	// payload, made once rather than per event.
	prefix []byte
	// memoView and memoKey are the last view Share was given and its key
	// for Memo: a subscription keeps one view, and Share runs for one of
	// its events at a time.
	memoView, memoKey string
}

func newSharedStream(ctx context.Context, cn *conn, id string, a domain.Actor, query, operationName string, variables map[string]any) *sharedStream {
	vars, _ := json.Marshal(variables) // map keys sorted: one text per value
	// The executor is chosen by role (what may be introspected); the rest
	// of the actor matters only through the view.
	digest := sha256.Sum256([]byte(strings.Join([]string{string(a.Role), operationName, query, string(vars)}, "\x00")))
	return &sharedStream{
		cn: cn, id: id, ctx: ctx, encoded: make(chan []byte, 1),
		operation: "ws " + hex.EncodeToString(digest[:]),
		prefix:    envelopePrefix(id, cn.dialect.next),
	}
}

// Share implements feed.Sharer: the first subscriber of this view and
// operation executes it for everyone, the others enqueue its payload.
func (s *sharedStream) Share(e *feed.Event, view string, deliver func() bool) bool {
	mine := false
	if view != s.memoView || s.memoKey == "" {
		s.memoView, s.memoKey = view, view+"\x00"+s.operation
	}
	payload, _ := e.Memo(s.memoKey, func() any {
		mine = true
		if p := s.execute(deliver); p != nil {
			return p
		}
		return nil
	}).([]byte)
	switch {
	case mine:
		// Its stream has sent it, unless the operation ended.
		return payload != nil
	case payload == nil:
		// The one who executed it was stopped first: execute our own.
		return s.execute(deliver) != nil
	}
	if s.cn.opsCtx.Err() == nil {
		s.cn.enqueueEncoded(appendEnvelope(s.prefix, payload))
	}
	return s.ctx.Err() == nil
}

// execute runs this subscriber's own delivery through its operation within
// an execution slot, and returns the payload its stream sent; nil if the
// operation ended first.
func (s *sharedStream) execute(deliver func() bool) []byte {
	release, ok := s.cn.srv.executions.acquire(s.ctx)
	if !ok {
		return nil
	}
	defer release()
	s.awaiting.Store(true)
	if !deliver() {
		s.awaiting.Store(false)
		return nil
	}
	select {
	case p := <-s.encoded:
		return p
	case <-s.ctx.Done():
		return nil
	}
}

// sent is called by the stream with each payload it has queued: one that
// Share waits for goes back to it.
func (s *sharedStream) sent(payload []byte) {
	if s != nil && s.awaiting.CompareAndSwap(true, false) {
		s.encoded <- payload
	}
}

// executions bounds the subscription events being executed at once,
// server-wide: each holds its goroutines (one per field that resolves
// apart) and its garbage until it is encoded, so a burst of events to
// thousands of subscribers of different views would hold all of that at
// once. Waiting subscribers hold only their place in the feed.
type executions chan struct{}

// newExecutions makes room for four executions per core: they rarely
// wait, so more would only hold more memory at once.
func newExecutions() executions { return make(executions, 4*runtime.GOMAXPROCS(0)) }

// acquire takes a slot, or fails when ctx ends first.
func (x executions) acquire(ctx context.Context) (release func(), ok bool) {
	select {
	case x <- struct{}{}:
		return func() { <-x }, true
	case <-ctx.Done():
		return nil, false
	}
}
