// Package ws is Switchboard's WebSocket transport for GraphQL: the
// graphql-transport-ws protocol, plus the legacy graphql-ws subprotocol of
// subscriptions-transport-ws, on github.com/coder/websocket. gqlgen ships a
// transport on the same library, but it closes with 1000/1002 instead of the
// protocol's codes, has no per-socket send queue and no cap on operations,
// so this one is written for those rules.
//
// Each connection has a send queue bounded in messages and in bytes: a
// client that does not read its messages is closed (CloseTooSlow) instead of
// slowing the server or growing memory. What all connections hold together
// is bounded by a Budget: sockets and subscriptions past it are refused
// when they start, and when the queues together hold too much, the slowest
// readers are closed first. The server pings every connection, so a
// half-open socket (a closed laptop) is noticed; each pong is a sign of
// life of the agent.
package ws

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/coder/websocket"

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
	// SendQueueBytes bounds the bytes of the messages waiting to be written
	// to a connection; a message larger on its own is written when nothing
	// waits before it.
	SendQueueBytes int64
	// Budget bounds what all connections hold together; zero:
	// DefaultBudget.
	Budget Budget
	// AllowedOrigins are host patterns (e.g. app.example.com, *.example.com)
	// of browser pages allowed to connect besides the server's own origin.
	AllowedOrigins []string
	// LoopbackOnly admits only browser pages of a loopback origin (http or
	// https on 127.0.0.1, [::1] or localhost, any port) instead of the
	// server's own origin and AllowedOrigins: a local try-out must not be
	// reachable from a page of another site.
	LoopbackOnly bool
	Logger       *slog.Logger
	// Observer is told what the transport does; nil: nothing.
	Observer Observer
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
	if c.SendQueueBytes <= 0 {
		c.SendQueueBytes = 1 << 20
	}
	if c.Budget == (Budget{}) {
		c.Budget = DefaultBudget()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
}

// Server accepts GraphQL WebSocket connections.
type Server struct {
	cfg Config
	registry
	budget     *budget
	executions executions
	watch      writeWatch
}

// New returns a transport.
func New(cfg Config) *Server {
	cfg.defaults()
	s := &Server{cfg: cfg, registry: newRegistry(), budget: newBudget(cfg.Budget, cfg.Logger, time.Now), executions: newExecutions()}
	if cfg.Feed != nil {
		cfg.Feed.Tap(s.notice)
	}
	return s
}

// retryAfterSeconds is the Retry-After of a socket refused for the budget:
// long enough for others to leave, short enough that an agent's console is
// back soon.
const retryAfterSeconds = 5

// IsUpgrade reports whether r asks for a WebSocket.
func IsUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
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
	// Refused before the upgrade: a refused socket costs an HTTP answer,
	// not a connection that must stay open through a close handshake.
	if !s.budget.admitSocket() {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
		http.Error(w, "too many WebSocket connections: try again later", http.StatusServiceUnavailable)
		return
	}
	c, err := websocket.Accept(smallBuffers{w}, r, opts)
	if err != nil {
		s.budget.releaseSocket()
		// Accept has answered (a bad handshake, or an origin not allowed).
		s.cfg.Logger.Debug("websocket upgrade refused", "err", err, "origin", r.Header.Get("Origin"))
		return
	}
	// The connection is the transport's now, no longer the HTTP server's:
	// it is served on a goroutine of its own, and the request, its
	// headers and the handlers' stack frames that served it are let go
	// rather than held for as long as the socket stays open.
	cn := s.newConn(c, r, dialectOf(c.Subprotocol()))
	if !s.track(cn) {
		closeWith(c, disconnectShutdown)
		s.budget.releaseSocket()
		return
	}
	go s.serve(cn)
}

// serve serves a tracked connection until it ends.
func (s *Server) serve(cn *conn) {
	defer s.budget.releaseSocket()
	defer cn.queue.discard(s.budget)
	defer s.untrack(cn)
	c := cn.ws
	d := cn.dialect
	if d == nil {
		closeWith(c, disconnectSubprotocol)
		return
	}
	c.SetReadLimit(s.cfg.MaxMessageBytes)
	s.cfg.Observer.SocketOpened(d.subprotocol)
	defer s.cfg.Observer.SocketClosed(d.subprotocol)
	cn.run()
}
