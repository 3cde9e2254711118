// Package testserver starts a real Switchboard server (app.New) for tests
// that drive it from outside Go (Node clients, a browser) or only over
// HTTP: the SQLite store, the change broker, the real clock, over httptest.
package testserver

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"switchboard/app"
	"switchboard/domain"
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

// Start starts a server whose tokens are signed with secret; it shuts down
// when the test ends.
func Start(t *testing.T, secret []byte) *Server {
	t.Helper()
	return StartWith(t, secret, nil)
}

// StartWith is Start with configure given the server's settings (limits,
// dev mode) before the server is built; the parts app.New wires (Service,
// Verifier, Feed, Logger) are not configure's to set.
func StartWith(t *testing.T, secret []byte, configure func(*server.Config)) *Server {
	t.Helper()
	return start(t, secret, configure, false)
}

// StartWithJobs is Start with the background jobs running, as switchboard
// serve runs them (routing, the logout cleanup, boomerangs), on the real
// clock: for a test that watches routing give work out.
func StartWithJobs(t *testing.T, secret []byte) *Server {
	t.Helper()
	return start(t, secret, nil, true)
}

func start(t *testing.T, secret []byte, configure func(*server.Config), jobs bool) *Server {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	var sc server.Config
	if configure != nil {
		configure(&sc)
	}
	a, err := app.New(context.Background(), app.Config{
		Store: func(_ context.Context, sink domain.EventSink) (domain.Store, error) {
			return sqlitetest.New(t, sqlite.Options{EventSink: sink, Logger: log}), nil
		},
		Keys: server.KeyConfig{Secret: secret}, Server: sc, Logger: log, Jobs: jobs,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		ts.Close()
	})
	return &Server{URL: ts.URL, Service: a.Service(), Secret: secret}
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

// Node returns the command that runs script with node in dir. It reads the
// script first, because go test caches a passing result against the files
// the test itself opened: without this, an edited script would not run
// again until something in Go changed.
func Node(ctx context.Context, t *testing.T, node, dir, script string) *exec.Cmd {
	t.Helper()
	if _, err := os.ReadFile(filepath.Join(dir, script)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = dir
	return cmd
}
