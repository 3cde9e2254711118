package app_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
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
	case <-time.After(app.ShutdownTimeout + 5*time.Second):
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
