package app_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/app"
	"switchboard/domain"
	"switchboard/server"
	"switchboard/store/sqlite"
	"switchboard/store/sqlite/sqlitetest"
)

var (
	quiet = slog.New(slog.DiscardHandler)
	keys  = server.KeyConfig{Secret: []byte("app-test-secret-app-test-secret-app-test")}
)

// Run serves until its context ends, then takes everything down: the
// port is closed and the data dir's lock released, so another server may
// open it.
func TestRunServesUntilItsContextEndsThenReleasesTheStore(t *testing.T) {
	dir := t.TempDir()
	a, err := app.New(context.Background(), app.Config{DataDir: dir, Keys: keys, Logger: quiet, Jobs: true})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- a.Run(ctx, ln) }()

	resp, err := http.Get("http://" + ln.Addr().String() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz: %d %s", resp.StatusCode, body)
	}

	stop()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(app.DefaultDrainTimeout + 5*time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("the port still accepts connections after Run")
	}
	again, err := sqlite.Open(context.Background(), dir, sqlite.Options{Logger: quiet})
	if err != nil {
		t.Fatalf("the data dir after Run: %v", err)
	}
	again.Close()
	if err := a.Shutdown(context.Background()); err != nil {
		t.Errorf("a second Shutdown: %v", err)
	}
}

// A store the caller gives stays open after Shutdown: it is the caller's.
func TestAGivenStoreIsLeftOpen(t *testing.T) {
	st := sqlitetest.New(t, sqlite.Options{Logger: quiet})
	a, err := app.New(context.Background(), app.Config{Store: app.UseStore(st), Keys: keys, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if a.Store() != st {
		t.Error("Store() is not the given store")
	}
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := st.Ping(context.Background()); err != nil {
		t.Errorf("the given store after Shutdown: %v", err)
	}
}

// The store's committed changes reach the feed, and the jobs see them.
func TestTheStorePublishesToTheFeed(t *testing.T) {
	a, err := app.New(context.Background(), app.Config{
		Store: func(_ context.Context, sink domain.EventSink) (domain.Store, error) {
			return sqlitetest.New(t, sqlite.Options{EventSink: sink, Logger: quiet}), nil
		},
		Keys: keys, Logger: quiet, Jobs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Shutdown(context.Background()) })
	sub := a.Feed().Subscribe("ws", 8)
	defer sub.Close()
	ben := domain.Actor{WorkspaceID: "ws", ID: "ben", Role: domain.RoleAgent}
	if _, err := a.Service().Authenticate(context.Background(), domain.Claims{WorkspaceID: "ws", Subject: "ben", Role: "agent", Name: "Ben"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Service().Logout(context.Background(), ben); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-sub.Events():
		if ev.Agent == nil {
			t.Fatalf("event %+v, want an agent's presence", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event on the feed")
	}
}

// Mistakes in the Config are ConfigErrors, found before any store is
// opened.
func TestConfigMistakesAreFoundBeforeTheStoreIsOpened(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	for name, cfg := range map[string]app.Config{
		"no key":             {DataDir: dir},
		"a short secret":     {DataDir: dir, Keys: server.KeyConfig{Secret: []byte("short")}},
		"no store":           {Keys: keys},
		"a service of yours": {DataDir: dir, Keys: keys, Server: server.Config{Service: &domain.Service{}}},
	} {
		cfg.Logger = quiet
		_, err := app.New(context.Background(), cfg)
		if !errors.As(err, new(*app.ConfigError)) {
			t.Errorf("%s: %v, want a ConfigError", name, err)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the data dir was touched: %v", err)
	}
}

func TestMigrateSaysWhatItDid(t *testing.T) {
	dir := t.TempDir()
	report, err := app.Migrate(context.Background(), app.Config{DataDir: dir, Logger: quiet})
	if err != nil || report == "" {
		t.Fatalf("%q, %v", report, err)
	}
	if _, err := os.Stat(filepath.Join(dir, sqlite.DBFile)); err != nil {
		t.Errorf("no database after Migrate: %v", err)
	}
}

// syncBuffer is a log sink the test reads while the App writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A WebSocket whose client never reads and a request whose body never
// comes hold up the drain only until DrainTimeout: then they are cut, Run
// returns no error, and the log says how many were cut.
func TestRunCutsWhatTheDrainLeaves(t *testing.T) {
	var logs syncBuffer
	const drain = 500 * time.Millisecond
	a, err := app.New(context.Background(), app.Config{DataDir: t.TempDir(), Keys: keys, Jobs: true, DrainTimeout: drain,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- a.Run(ctx, ln) }()

	dial := func(request string) net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := io.WriteString(c, request); err != nil {
			t.Fatal(err)
		}
		return c
	}
	socket := dial("GET /graphql HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n")
	// Read the handshake's answer, and nothing after it.
	status := make([]byte, len("HTTP/1.1 101"))
	if _, err := io.ReadFull(socket, status); err != nil || string(status) != "HTTP/1.1 101" {
		t.Fatalf("upgrade: %q %v", status, err)
	}
	dial("POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"query\":")
	time.Sleep(100 * time.Millisecond) // until the server reads the request's head

	stopped := time.Now()
	stop()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(drain + 5*time.Second):
		t.Fatal("Run did not return")
	}
	took := time.Since(stopped)
	if took < drain || took > drain+2*time.Second {
		t.Errorf("Run returned %v after its context ended; the drain is %v", took, drain)
	}
	if !strings.Contains(logs.String(), "websockets_cut=1 http_requests_cut=1") {
		t.Errorf("the log does not say what was cut:\n%s", logs.String())
	}
}
