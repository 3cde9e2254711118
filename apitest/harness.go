// Package apitest is the GraphQL API test suite: it drives a real server over
// HTTP (httptest) on a real store, and any store runs it (Run). The SQLite
// store runs it in store/sqlite; the MongoDB store runs the same suite.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"switchboard/app"
	"switchboard/domain"
	"switchboard/feed"
	"switchboard/internal/fakeclock"
	"switchboard/server"
)

// Factory makes a fresh, empty store for one test.
type Factory struct {
	// New returns a new, empty store that delivers every committed change to
	// sink (in process, or through its change feed).
	New func(t *testing.T, sink domain.EventSink) domain.Store
	// Atomic is false for a test server whose conditional updates are not
	// atomic under concurrency; race tests skip there, saying so.
	Atomic bool
}

// Secret signs the test tokens.
var Secret = []byte("apitest-secret-apitest-secret-apitest-secret")

// TokenTTL is how long test tokens live on the fake clock: long enough for
// tests that move the clock by hours.
const TokenTTL = 24 * time.Hour

// Epoch is where the fake clock of every test starts.
var Epoch = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// Env is one test's running server.
type Env struct {
	T       testing.TB
	Store   *CountingStore
	Clock   *fakeclock.Clock
	Service *domain.Service
	Feed    *feed.Broker
	Server  *httptest.Server
	URL     string
}

// EnvConfig is what options change: the server's settings and how its
// tokens are verified. The parts app.New wires (Service, Verifier, Feed,
// Logger) are not an option's to set.
type EnvConfig struct {
	server.Config
	Keys server.KeyConfig
	// Jobs runs the background jobs (presence timeout, logout cleanups,
	// boomerangs) on the test's fake clock.
	Jobs bool
	// PresenceTimeout overrides the default presence timeout.
	PresenceTimeout time.Duration
	// EventRetention and EventRetentionCount override how long changes
	// stay replayable (app.Config).
	EventRetention      time.Duration
	EventRetentionCount int
}

// WithJobs runs the background jobs on the test's fake clock.
func WithJobs() Option { return func(c *EnvConfig) { c.Jobs = true } }

// WithPresenceTimeout sets the presence timeout.
func WithPresenceTimeout(d time.Duration) Option {
	return func(c *EnvConfig) { c.PresenceTimeout = d }
}

// Option changes how an Env is built.
type Option func(*EnvConfig)

// WithIntrospection sets the introspection policy.
func WithIntrospection(i server.Introspection) Option {
	return func(c *EnvConfig) { c.Introspection = i }
}

// WithLimits sets the request limits.
func WithLimits(l server.Limits) Option {
	return func(c *EnvConfig) { c.Limits = l }
}

// WithTokenChecks makes the server require tokens of this issuer and
// audience (either may be empty: not checked). Env.Token does not set them;
// tests that use this option mint their own tokens.
func WithTokenChecks(issuer, audience string) Option {
	return func(c *EnvConfig) { c.Keys.Issuer, c.Keys.Audience = issuer, audience }
}

// NewEnv starts a server on a fresh store.
func NewEnv(t *testing.T, f Factory, opts ...Option) *Env {
	t.Helper()
	clock := fakeclock.New(Epoch)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := EnvConfig{Keys: server.KeyConfig{Secret: Secret}}
	for _, o := range opts {
		o(&cfg)
	}
	var st *CountingStore
	a, err := app.New(context.Background(), app.Config{
		Store: func(_ context.Context, sink domain.EventSink) (domain.Store, error) {
			st = NewCountingStore(f.New(t, sink))
			return st, nil
		},
		Keys: cfg.Keys, Server: cfg.Config, PresenceTimeout: cfg.PresenceTimeout,
		Clock: clock, Logger: log, Jobs: cfg.Jobs,
		EventRetention: cfg.EventRetention, EventRetentionCount: cfg.EventRetentionCount,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Shutdown(ctx)
		ts.Close()
	})
	return &Env{T: t, Store: st, Clock: clock, Service: a.Service(), Feed: a.Feed(), Server: ts, URL: ts.URL + "/graphql"}
}

// Client is a caller with a token.
type Client struct {
	env   *Env
	Token string
	Actor domain.Actor
}

// Token mints a token for claims valid for TokenTTL of the fake clock.
func (e *Env) Token(ws, sub, role, name string) string {
	e.T.Helper()
	tok, err := server.MintHS256(Secret, server.TokenRequest{
		Subject: sub, WorkspaceID: ws, Role: role, Name: name, Email: sub + "@example.com", TTL: TokenTTL,
	}, e.Clock.Now())
	if err != nil {
		e.T.Fatal(err)
	}
	return tok
}

func (e *Env) client(ws, id, role, name string, r domain.Role) *Client {
	return &Client{env: e, Token: e.Token(ws, id, role, name), Actor: domain.Actor{WorkspaceID: ws, ID: id, Role: r, Name: name, Email: id + "@example.com"}}
}

// Agent returns a client with an agent token (the agent is provisioned by
// its first request).
func (e *Env) Agent(ws, id, name string) *Client {
	return e.client(ws, id, "agent", name, domain.RoleAgent)
}

// Admin returns a client with an admin token.
func (e *Env) Admin(ws, id, name string) *Client {
	return e.client(ws, id, "admin", name, domain.RoleAdmin)
}

// Integration returns a client with an integration token.
func (e *Env) Integration(ws, id string) *Client {
	return e.client(ws, id, "integration", id, domain.RoleIntegration)
}

// Response is a decoded GraphQL response.
type Response struct {
	Status int
	Header http.Header
	Data   json.RawMessage `json:"data"`
	Errors []Error         `json:"errors"`
	Raw    []byte
}

// Error is one GraphQL error.
type Error struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Code returns the code of the first error, "" if none.
func (r *Response) Code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// Do posts a GraphQL operation with the client's token.
func (c *Client) Do(query string, vars map[string]any) *Response {
	c.env.T.Helper()
	return c.env.Post(c.Token, query, vars)
}

// MustDo is Do that fails the test on any error, and decodes data into out
// (when out is not nil).
func (c *Client) MustDo(query string, vars map[string]any, out any) *Response {
	c.env.T.Helper()
	r := c.Do(query, vars)
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		c.env.T.Fatalf("%s\nvariables %v\n=> HTTP %d %s", strings.TrimSpace(query), vars, r.Status, r.Raw)
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			c.env.T.Fatalf("decoding %s: %v", r.Data, err)
		}
	}
	return r
}

// MustFail runs an operation that must fail with code, and returns the
// response.
func (c *Client) MustFail(code, query string, vars map[string]any) *Response {
	c.env.T.Helper()
	r := c.Do(query, vars)
	if r.Code() != code {
		c.env.T.Fatalf("%s\nvariables %v\n=> want error %s, got HTTP %d %s", strings.TrimSpace(query), vars, code, r.Status, r.Raw)
	}
	return r
}

// Argument returns extensions.argument of the first error, "" if none.
func (r *Response) Argument() string {
	if len(r.Errors) == 0 {
		return ""
	}
	a, _ := r.Errors[0].Extensions["argument"].(string)
	return a
}

// CurrentVersion returns extensions.currentVersion of the first error, and
// whether it is there and a whole number.
func (r *Response) CurrentVersion() (int, bool) {
	if len(r.Errors) == 0 {
		return 0, false
	}
	v, ok := r.Errors[0].Extensions["currentVersion"].(float64)
	if !ok || v != float64(int(v)) {
		return 0, false
	}
	return int(v), true
}

// MustFailArg runs an operation that must fail with code and
// extensions.argument, and returns the response.
func (c *Client) MustFailArg(code, argument, query string, vars map[string]any) *Response {
	c.env.T.Helper()
	r := c.MustFail(code, query, vars)
	if got := r.Argument(); got != argument {
		c.env.T.Fatalf("%s\nvariables %v\n=> want %s with argument %q, got argument %q: %s", strings.TrimSpace(query), vars, code, argument, got, r.Raw)
	}
	return r
}

// Post sends a POST with an optional token.
func (e *Env) Post(token, query string, vars map[string]any) *Response {
	e.T.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		e.T.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, e.URL, bytes.NewReader(body))
	if err != nil {
		e.T.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.Send(req)
}

// Send sends any request and decodes the GraphQL response.
func (e *Env) Send(req *http.Request) *Response {
	e.T.Helper()
	resp, err := e.Server.Client().Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.T.Fatal(err)
	}
	r := &Response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(raw) > 0 && strings.Contains(resp.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(raw, r); err != nil {
			e.T.Fatalf("response is not JSON: %v: %s", err, raw)
		}
	}
	return r
}
