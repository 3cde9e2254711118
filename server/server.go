// Package server is Switchboard's HTTP face: the GraphQL endpoint (GraphQL
// over HTTP), bearer-token authentication, request limits, the error
// presenter, the playground and the health endpoints.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"switchboard/domain"
	"switchboard/feed"
	"switchboard/resolvers"
	"switchboard/server/ws"
)

// Config is what the server needs.
type Config struct {
	Service       *domain.Service
	Verifier      *Verifier
	Introspection Introspection
	Limits        Limits
	Logger        *slog.Logger
	// Feed carries committed changes to subscriptions; nil serves no
	// subscriptions.
	Feed *feed.Broker
	// AllowedOrigins are host patterns of browser pages, besides the
	// server's own origin, allowed to open a WebSocket and to call /graphql
	// (CORS).
	AllowedOrigins []string
	// WebSocket tunes the WebSocket transport (zero values: defaults).
	WebSocket ws.Config
	// DevTokens are offered on the console's sign-in page (served at
	// /console/dev-tokens); only `switchboard dev` sets them.
	DevTokens []DevToken
	// TrustedDocuments, when set, are the only documents callers other than
	// admins may run (LoadTrustedDocuments reads them).
	TrustedDocuments map[string]string
	// Dev is `switchboard dev`: a local try-out on loopback, where only
	// loopback host names are answered (a page on another site cannot rebind
	// its name to us and read the demo tokens) and introspection costs
	// nothing against the complexity limit.
	Dev bool
	// Observer is told about each GraphQL operation; nil: nothing.
	Observer Observer
}

// Server serves the API.
type Server struct {
	svc      *domain.Service
	verifier *Verifier
	log      *slog.Logger
	limits   Limits
	// Two executors of one schema: field suggestions in validation errors
	// reveal the schema, so callers who may not introspect get none.
	withSuggestions    guardedExecutor
	withoutSuggestions guardedExecutor
	introspection      Introspection
	dev                bool
	gate               *costGate
	persisted          *persistedDocuments
	mux                *http.ServeMux
	// handler is mux, behind the loopback host check under dev.
	handler http.Handler
	sockets *ws.Server
	// observer is told about each GraphQL operation.
	observer Observer
}

// New returns a server for cfg.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Limits = cfg.Limits.withDefaults()
	if cfg.Introspection == "" {
		cfg.Introspection = IntrospectionAdmins
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	s := &Server{
		svc: cfg.Service, verifier: cfg.Verifier, log: cfg.Logger, limits: cfg.Limits,
		introspection: cfg.Introspection, dev: cfg.Dev, gate: newCostGate(), persisted: newPersistedDocuments(cfg.TrustedDocuments), mux: http.NewServeMux(),
		observer: cfg.Observer,
	}
	schema := resolvers.NewExecutableSchema(cfg.Service, cfg.Feed)
	s.withSuggestions = s.newExecutor(schema, true)
	s.withoutSuggestions = s.newExecutor(schema, false)

	wsCfg := cfg.WebSocket
	wsCfg.Authenticate = s.authenticateSocket
	wsCfg.Executor = func(a domain.Actor) graphql.GraphExecutor { return s.executorFor(a) }
	wsCfg.Presence = cfg.Service
	wsCfg.Feed = cfg.Feed
	wsCfg.Clock = cfg.Service.Clock()
	wsCfg.AllowedOrigins = cfg.AllowedOrigins
	wsCfg.LoopbackOnly = cfg.Dev
	if cfg.Dev && len(cfg.AllowedOrigins) > 0 {
		cfg.Logger.Warn("allowed origins are ignored under dev: only pages on 127.0.0.1, [::1] or localhost may open a WebSocket")
	}
	wsCfg.Logger = cfg.Logger
	wsCfg.OperationTimeout = cfg.Limits.OperationTimeout
	if wsCfg.PingInterval == 0 {
		// Pinged at least every third of the presence timeout, a silent
		// socket is noticed well before its agent would time out.
		wsCfg.PingInterval = cfg.Service.PresenceTimeout() / 3
	}
	s.sockets = ws.New(wsCfg)

	s.mux.Handle("/graphql", withCORS(http.HandlerFunc(s.serveGraphQL), cfg.AllowedOrigins, cfg.Dev))
	s.mountPlayground()
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writePlain(w, http.StatusOK, "ok\n")
	})
	s.mux.HandleFunc("GET /readyz", s.serveReady)
	s.mountConsole(cfg.DevTokens)
	s.handler = s.mux
	if cfg.Dev {
		s.handler = loopbackHostsOnly(cfg.Logger, s.mux)
	}
	return s
}

// executorFor picks the executor for a caller.
func (s *Server) executorFor(a domain.Actor) guardedExecutor {
	if s.introspection.Allows(a) {
		return s.withSuggestions
	}
	return s.withoutSuggestions
}

// Shutdown closes every WebSocket with "going away" and waits for them, or
// for ctx. (http.Server.Shutdown does not wait for hijacked connections.)
func (s *Server) Shutdown(ctx context.Context) error { return s.sockets.Shutdown(ctx) }

// authenticateSocket authenticates a WebSocket's token.
func (s *Server) authenticateSocket(ctx context.Context, token string) (domain.Actor, time.Time, error) {
	claims, expires, err := s.verifier.VerifyExpiry(token)
	if err != nil {
		return domain.Actor{}, time.Time{}, err
	}
	a, err := s.svc.Authenticate(ctx, claims)
	return a, expires, err
}

// Handler returns the HTTP handler of every endpoint.
func (s *Server) Handler() http.Handler { return s.handler }

// ServeHTTP serves every endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// serveReady is red while the store does not answer or does not take
// writes. It logs nothing: a load balancer asks every few seconds, and the
// service logs an outage once, when it starts and when it ends.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.svc.Ready(ctx); err != nil {
		s.log.Debug("not ready", "err", err)
		writePlain(w, http.StatusServiceUnavailable, "store unavailable\n")
		return
	}
	writePlain(w, http.StatusOK, "ready\n")
}

func writePlain(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// authenticate turns the request's bearer token into an actor, and the
// agent record it read (for domain.ContextWithAgent).
func (s *Server) authenticate(ctx context.Context, header string) (domain.Actor, *domain.Agent, error) {
	claims, err := s.verifier.Verify(BearerToken(header))
	if err != nil {
		return domain.Actor{}, nil, err
	}
	return s.svc.AuthenticateAgent(ctx, claims)
}

// statusForAuthError is the HTTP status of a refused request.
func statusForAuthError(err error) int {
	switch domain.ErrorCode(err) {
	case domain.CodeUnauthenticated:
		return http.StatusUnauthorized
	case domain.CodeForbidden:
		return http.StatusForbidden
	case domain.CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
