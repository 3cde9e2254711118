// Package testserver starts a real Switchboard server for tests that drive
// it from outside Go (Node clients, a browser): the SQLite store, the change
// broker, the real clock, over httptest.
package testserver

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/feed"
	"switchboard/server"
	"switchboard/store/sqlite"
	"switchboard/store/sqlite/sqlitetest"
)

// Server is a running server.
type Server struct {
	URL     string // http://host:port
	Service *domain.Service
	Secret  []byte
}

// Options are what a test changes about the server.
type Options struct {
	// Dev makes it a `switchboard dev` server (server.Config.Dev).
	Dev bool
	// DevTokens are offered at /console/dev-tokens.
	DevTokens []server.DevToken
}

// Start starts a server whose tokens are signed with secret; it shuts down
// when the test ends.
func Start(t *testing.T, secret []byte) *Server {
	t.Helper()
	return StartWith(t, secret, Options{})
}

// StartWith is Start with options.
func StartWith(t *testing.T, secret []byte, opts Options) *Server {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	broker := feed.NewBroker()
	st := sqlitetest.New(t, sqlite.Options{EventSink: broker, Logger: log})
	svc := domain.NewService(st, domain.WithLogger(log))
	verifier, err := server.NewVerifier(server.KeyConfig{Secret: secret}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Config{
		Service: svc, Verifier: verifier, Logger: log, Feed: broker, Dev: opts.Dev, DevTokens: opts.DevTokens,
	})
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		ts.Close()
		broker.Close()
	})
	return &Server{URL: ts.URL, Service: svc, Secret: secret}
}

// Token mints a token for the server, valid for an hour.
func (s *Server) Token(t *testing.T, ws, sub, role, name string) string {
	t.Helper()
	tok, err := server.MintHS256(s.Secret, server.TokenRequest{
		Subject: sub, WorkspaceID: ws, Role: role, Name: name, Email: sub + "@example.com", TTL: time.Hour,
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Require skips t when a tool the test needs is missing (err says which),
// except under CI=true, where the tools are installed and their absence is
// a failure.
func Require(t *testing.T, err error, what string) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI needs %s: %v", what, err)
	}
	t.Skipf("needs %s: %v", what, err)
}
