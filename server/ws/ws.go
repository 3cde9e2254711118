// Package ws is Switchboard's WebSocket transport for GraphQL: the
// graphql-transport-ws protocol, plus the legacy graphql-ws subprotocol of
// subscriptions-transport-ws, on github.com/coder/websocket. gqlgen ships a
// transport on the same library, but it closes with 1000/1002 instead of the
// protocol's codes, has no per-socket send queue and no cap on operations,
// so this one is written for those rules.
//
// Each connection has a bounded send queue: a client that does not read its
// messages is closed (CloseTooSlow) instead of slowing the server or growing
// memory. The server pings every connection, so a half-open socket (a closed
// laptop) is noticed; each pong is a sign of life of the agent.
package ws

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"switchboard/domain"
	"switchboard/feed"
)

// Presence is what a socket tells about its agent.
type Presence interface {
	// SignIn is the socket opening: an OFFLINE agent becomes ONLINE.
	SignIn(ctx context.Context, a domain.Actor) (domain.Agent, error)
	// Alive is a sign of life (each pong).
	Alive(ctx context.Context, a domain.Actor) error
}

// Config is what the transport needs.
type Config struct {
	// Authenticate checks a bearer token and returns the caller and when the
	// token stops being accepted.
	Authenticate func(ctx context.Context, token string) (domain.Actor, time.Time, error)
	// Executor returns the GraphQL executor for a caller.
	Executor func(domain.Actor) graphql.GraphExecutor
	Presence Presence
	// Feed is watched for the agent's deactivation, which closes the socket.
	Feed  *feed.Broker
	Clock domain.Clock
	// PingInterval is how often the server pings; a ping unanswered within
	// the interval closes the socket.
	PingInterval time.Duration
	// InitTimeout is how long a client has to send connection_init.
	InitTimeout time.Duration
	// WriteTimeout bounds one message write.
	WriteTimeout time.Duration
	// MaxMessageBytes bounds one incoming message.
	MaxMessageBytes int64
	// OperationTimeout bounds preparing an operation, and running a query
	// or mutation.
	OperationTimeout time.Duration
	// MaxOperations bounds the operations running at once on a connection.
	MaxOperations int
	// SendQueue bounds the messages waiting to be written to a connection.
	SendQueue int
	// AllowedOrigins are host patterns (e.g. app.example.com, *.example.com)
	// of browser pages allowed to connect besides the server's own origin.
	AllowedOrigins []string
	// LoopbackOnly admits only browser pages of a loopback origin (http or
	// https on 127.0.0.1, [::1] or localhost, any port) instead of the
	// server's own origin and AllowedOrigins: a local try-out must not be
	// reachable from a page of another site.
	LoopbackOnly bool
	Logger       *slog.Logger
}

func (c *Config) defaults() {
	if c.Clock == nil {
		c.Clock = domain.SystemClock{}
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 10 * time.Second
	}
	if c.InitTimeout <= 0 {
		c.InitTimeout = 10 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 256 << 10
	}
	if c.OperationTimeout <= 0 {
		c.OperationTimeout = 10 * time.Second
	}
	if c.MaxOperations <= 0 {
		c.MaxOperations = 100
	}
	if c.SendQueue <= 0 {
		c.SendQueue = 256
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Server accepts GraphQL WebSocket connections.
type Server struct {
	cfg   Config
	mu    sync.Mutex
	conns map[*conn]struct{}
	// byAgent finds the connections of an agent (workspace, id) when the
	// agent is deactivated.
	byAgent  map[[2]string]map[*conn]struct{}
	shutdown bool
	wg       sync.WaitGroup
}

// New returns a transport.
func New(cfg Config) *Server {
	cfg.defaults()
	s := &Server{cfg: cfg, conns: map[*conn]struct{}{}, byAgent: map[[2]string]map[*conn]struct{}{}}
	if cfg.Feed != nil {
		cfg.Feed.Tap(s.notice)
	}
	return s
}

// notice closes the connections of an agent the change deactivated, on any
// instance: the change reaches every instance's feed. It never blocks.
func (s *Server) notice(e domain.Event) {
	a := e.Agent
	if a == nil || a.After.Active {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for cn := range s.byAgent[[2]string{a.After.WorkspaceID, a.After.ID}] {
		cn.close(disconnectDeactivated)
	}
}

// watchAgent makes notice find cn by its agent.
func (s *Server) watchAgent(cn *conn, a domain.Actor) {
	k := [2]string{a.WorkspaceID, a.ID}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byAgent[k] == nil {
		s.byAgent[k] = map[*conn]struct{}{}
	}
	s.byAgent[k][cn] = struct{}{}
}

// IsUpgrade reports whether r asks for a WebSocket.
func IsUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// Connections returns how many connections are open.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// ServeHTTP upgrades the request and serves the connection until it ends.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	opts := &websocket.AcceptOptions{OriginPatterns: s.cfg.AllowedOrigins}
	for _, d := range dialects {
		opts.Subprotocols = append(opts.Subprotocols, d.subprotocol)
	}
	if s.cfg.LoopbackOnly {
		if origin := r.Header.Get("Origin"); origin != "" && !loopbackOrigin(origin) {
			s.cfg.Logger.Debug("websocket upgrade refused: not a loopback origin", "origin", origin)
			http.Error(w, "only pages on 127.0.0.1, [::1] or localhost may connect", http.StatusForbidden)
			return
		}
		// The origin is checked above; Accept's own check would refuse a
		// loopback page on another port or name.
		opts.OriginPatterns, opts.InsecureSkipVerify = nil, true
	}
	c, err := websocket.Accept(w, r, opts)
	if err != nil {
		// Accept has answered (a bad handshake, or an origin not allowed).
		s.cfg.Logger.Debug("websocket upgrade refused", "err", err, "origin", r.Header.Get("Origin"))
		return
	}
	d := dialectOf(c.Subprotocol())
	cn := s.newConn(c, r, d)
	if !s.track(cn) {
		closeWith(c, disconnectShutdown)
		return
	}
	defer s.untrack(cn)
	if d == nil {
		closeWith(c, disconnectSubprotocol)
		return
	}
	c.SetReadLimit(s.cfg.MaxMessageBytes)
	cn.run()
}

func (s *Server) track(cn *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		return false
	}
	s.conns[cn] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(cn *conn) {
	s.mu.Lock()
	delete(s.conns, cn)
	cn.mu.Lock()
	k := [2]string{cn.actor.WorkspaceID, cn.actor.ID}
	cn.mu.Unlock()
	if m := s.byAgent[k]; m != nil {
		if delete(m, cn); len(m) == 0 {
			delete(s.byAgent, k)
		}
	}
	s.mu.Unlock()
	s.wg.Done()
}

// Shutdown closes every connection with "going away" and waits for them to
// end, or for ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	conns := make([]*conn, 0, len(s.conns))
	for cn := range s.conns {
		conns = append(conns, cn)
	}
	s.mu.Unlock()
	for _, cn := range conns {
		cn.close(disconnectShutdown)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// conn is one client connection.
type conn struct {
	srv     *Server
	cfg     *Config
	ws      *websocket.Conn
	dialect *dialect
	// headerToken is the token of the upgrade request, if it had one.
	headerToken string

	// ctx lives as long as the connection's loops; opsCtx is the parent of
	// its operations and ends as soon as the connection starts closing.
	ctx       context.Context
	cancel    context.CancelFunc
	opsCtx    context.Context
	cancelOps context.CancelFunc
	send      chan []byte
	closeOnce sync.Once
	closed    chan struct{}

	mu       sync.Mutex
	initSeen bool
	acked    bool
	actor    domain.Actor
	ops      map[string]*operation
	timers   []domain.Timer
	opsWG    sync.WaitGroup
}

type operation struct {
	cancel context.CancelFunc
}

func (s *Server) newConn(c *websocket.Conn, r *http.Request, d *dialect) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	opsCtx, cancelOps := context.WithCancel(ctx)
	return &conn{
		srv: s, cfg: &s.cfg, ws: c, dialect: d, headerToken: bearer(r.Header.Get("Authorization")),
		ctx: ctx, cancel: cancel, opsCtx: opsCtx, cancelOps: cancelOps,
		send: make(chan []byte, s.cfg.SendQueue), closed: make(chan struct{}),
		ops: map[string]*operation{},
	}
}

func bearer(h string) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(tok)
	}
	return ""
}

// run serves the connection until it closes.
func (cn *conn) run() {
	go cn.writeLoop()
	go cn.pingLoop()
	cn.after(cn.cfg.InitTimeout, func() {
		cn.mu.Lock()
		seen := cn.initSeen
		cn.mu.Unlock()
		if !seen {
			cn.close(disconnectInitTimeout)
		}
	})
	for {
		_, data, err := cn.ws.Read(cn.ctx)
		if err != nil {
			if status := websocket.CloseStatus(err); status == -1 && cn.ctx.Err() == nil {
				cn.cfg.Logger.Debug("websocket read ended", "err", err)
			}
			cn.close(disconnectNormal)
			break
		}
		cn.handle(data)
	}
	<-cn.closed
	cn.opsWG.Wait()
}

// after arms a timer that lives as long as the connection.
func (cn *conn) after(d time.Duration, f func()) {
	t := cn.cfg.Clock.AfterFunc(d, f)
	cn.mu.Lock()
	cn.timers = append(cn.timers, t)
	cn.mu.Unlock()
}

// close closes the connection for reason, once. Operations stop at once;
// the close handshake runs in the background.
func (cn *conn) close(reason disconnect) {
	cn.closeOnce.Do(func() {
		cn.cancelOps()
		cn.mu.Lock()
		for _, t := range cn.timers {
			t.Stop()
		}
		cn.mu.Unlock()
		go func() {
			_ = closeWith(cn.ws, reason)
			cn.cancel()
			close(cn.closed)
		}()
	})
}

// enqueue queues a message for the client; a client whose queue is full is
// not reading, and is closed.
func (cn *conn) enqueue(m message) {
	b, err := json.Marshal(m)
	if err != nil {
		cn.cfg.Logger.Error("encoding a websocket message", "err", err)
		cn.close(disconnectInternal)
		return
	}
	select {
	case <-cn.opsCtx.Done():
	case cn.send <- b:
	default:
		cn.close(disconnectTooSlow)
	}
}

func (cn *conn) writeLoop() {
	for {
		select {
		case <-cn.ctx.Done():
			return
		case b := <-cn.send:
			ctx, cancel := context.WithTimeout(cn.ctx, cn.cfg.WriteTimeout)
			err := cn.ws.Write(ctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				cn.close(disconnectTooSlow)
				return
			}
		}
	}
}

// pingLoop pings the client; an unanswered ping closes the connection, and
// each answer is a sign of life, followed by the dialect's keep-alive if it
// has one.
func (cn *conn) pingLoop() {
	t := time.NewTicker(cn.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-cn.opsCtx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(cn.opsCtx, cn.cfg.PingInterval)
		err := cn.ws.Ping(ctx)
		cancel()
		if err != nil {
			cn.close(disconnectPingUnanswered)
			return
		}
		cn.mu.Lock()
		acked, a := cn.acked, cn.actor
		cn.mu.Unlock()
		if acked {
			if err := cn.cfg.Presence.Alive(cn.opsCtx, a); err != nil && cn.opsCtx.Err() == nil {
				cn.cfg.Logger.Warn("recording a sign of life", "err", err)
			}
			if ka := cn.dialect.keepAlive; ka != "" {
				cn.enqueue(message{Type: ka})
			}
		}
	}
}

// handle acts on one client message.
func (cn *conn) handle(data []byte) {
	m, err := decodeMessage(data, cn.dialect)
	if err != nil {
		cn.close(disconnectInvalid(err))
		return
	}
	switch m.Kind {
	case kindInit:
		cn.init(m.Token)
	case kindPing:
		cn.enqueue(message{Type: cn.dialect.pong, Payload: m.Payload})
	case kindPong:
		// An answer to a protocol ping; the server pings at the WebSocket level.
	case kindStart:
		cn.start(m.ID, m.Operation)
	case kindStop:
		cn.stop(m.ID)
	case kindTerminate:
		cn.close(disconnectNormal)
	}
}

// init authenticates the connection with the token of its connection_init
// payload, or else of the upgrade request.
func (cn *conn) init(token string) {
	cn.mu.Lock()
	seen := cn.initSeen
	cn.initSeen = true
	cn.mu.Unlock()
	if seen {
		cn.close(disconnectTooManyInits)
		return
	}
	if token == "" {
		token = cn.headerToken
	}
	actor, expires, err := cn.cfg.Authenticate(cn.opsCtx, token)
	if err == nil {
		_, err = cn.cfg.Presence.SignIn(cn.opsCtx, actor)
	}
	if err != nil {
		cn.refuse(err)
		return
	}
	cn.mu.Lock()
	cn.actor = actor
	cn.mu.Unlock()
	cn.after(expires.Sub(cn.cfg.Clock.Now()), func() { cn.close(disconnectTokenExpired) })
	if actor.Role.IsAgent() {
		cn.srv.watchAgent(cn, actor)
	}
	for _, m := range cn.dialect.acknowledgement() {
		cn.enqueue(m)
	}
	cn.mu.Lock()
	cn.acked = true
	cn.mu.Unlock()
}

// refuse closes a connection whose caller may not connect.
func (cn *conn) refuse(err error) {
	code := domain.ErrorCode(err)
	if code != domain.CodeUnauthenticated && code != domain.CodeForbidden {
		cn.cfg.Logger.Error("authenticating a websocket", "err", err)
		cn.close(disconnectInternal)
		return
	}
	if b := cn.dialect.refusal(err); b != nil {
		// Written here, not queued: the close below would race the write
		// loop and could go out first. Nothing else is queued before the ack.
		ctx, cancel := context.WithTimeout(cn.opsCtx, cn.cfg.WriteTimeout)
		_ = cn.ws.Write(ctx, websocket.MessageText, b)
		cancel()
	}
	cn.close(disconnectForbidden(err))
}

// start runs an operation.
func (cn *conn) start(id string, raw *graphql.RawParams) {
	cn.mu.Lock()
	acked, a := cn.acked, cn.actor
	cn.mu.Unlock()
	if !acked {
		cn.close(disconnectUnauthorized)
		return
	}
	cn.mu.Lock()
	if old, ok := cn.ops[id]; ok {
		if !cn.dialect.startReplaces {
			cn.mu.Unlock()
			cn.close(disconnectDuplicateID(id))
			return
		}
		old.cancel()
		delete(cn.ops, id)
	}
	if len(cn.ops) >= cn.cfg.MaxOperations {
		cn.mu.Unlock()
		cn.sendErrors(id, gqlerror.List{{
			Message:    "too many operations on this connection",
			Extensions: map[string]any{"code": string(domain.CodeInvalid)},
		}})
		return
	}
	ctx, cancel := context.WithCancel(cn.opsCtx)
	op := &operation{cancel: cancel}
	cn.ops[id] = op
	cn.opsWG.Add(1)
	cn.mu.Unlock()

	// Prepared here, in the order the client sent its messages: a
	// subscription is listening before the next message is read. Queries and
	// mutations run, and subscriptions stream, in their own goroutine.
	stream, last := cn.prepare(ctx, id, a, raw)
	go func() {
		defer cn.opsWG.Done()
		if stream != nil {
			last = stream()
		}
		// The id is free before the client hears the operation ended, so
		// it may start another with the same id at once.
		cn.forget(id, op)
		if last != nil {
			cn.enqueue(*last)
		}
	}()
}

// forget removes an operation that ended, unless another took its id.
func (cn *conn) forget(id string, op *operation) {
	op.cancel()
	cn.mu.Lock()
	if cn.ops[id] == op {
		delete(cn.ops, id)
	}
	cn.mu.Unlock()
}

// stop ends an operation the client completed; no complete is sent back.
func (cn *conn) stop(id string) {
	cn.mu.Lock()
	op, ok := cn.ops[id]
	delete(cn.ops, id)
	cn.mu.Unlock()
	if ok {
		op.cancel()
	}
}

// prepare validates an operation and starts it; the returned function
// streams its results and returns the message that ends the operation. When
// the operation could not start, it returns only that message.
func (cn *conn) prepare(ctx context.Context, id string, a domain.Actor, raw *graphql.RawParams) (func() *message, *message) {
	ctx = domain.ContextWithActor(ctx, a)
	ctx = feed.WithCutOff(ctx, func(err error) {
		switch {
		case errors.Is(err, feed.ErrTooSlow):
			cn.close(disconnectTooSlow)
		case errors.Is(err, feed.ErrResync):
			cn.close(disconnectResync)
		case errors.Is(err, feed.ErrClosed):
			cn.close(disconnectShutdown)
		}
	})
	ctx = graphql.StartOperationTrace(ctx)
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
	if subscription {
		cancel()
	} else {
		ctx = budget
	}
	responses, ctx := exec.DispatchOperation(ctx, opCtx)
	return func() *message {
		defer cancel()
		return cn.stream(ctx, id, subscription, responses)
	}, nil
}

// stream sends an operation's results: one for a query or mutation, one per
// event for a subscription; it returns the message that ends it: complete
// (none when the client completed it), or error when it could not start.
func (cn *conn) stream(ctx context.Context, id string, subscription bool, responses graphql.ResponseHandler) *message {
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
		cn.enqueue(message{ID: id, Type: cn.dialect.next, Payload: payload})
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

// errorsMessage is the error message of an operation.
func (cn *conn) errorsMessage(id string, errs gqlerror.List) *message {
	payload, err := json.Marshal(errs)
	if err != nil {
		cn.close(disconnectInternal)
		return nil
	}
	return &message{ID: id, Type: cn.dialect.errorType, Payload: payload}
}
