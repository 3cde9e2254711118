package mongostore_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"switchboard/app"
	"switchboard/domain"
	"switchboard/internal/outagetest"
	"switchboard/internal/wsclient"
	"switchboard/server"
	mongostore "switchboard/store/mongo"
	"switchboard/store/mongo/mongotest"
)

// The server process goes away under a running Switchboard and comes back
// on the same data and address: writes and reads are UNAVAILABLE while it
// is gone (nothing answers either), /readyz turns red and green again by
// itself, the log says so once each way, and connected agents stay ONLINE
// with their conversations.
func TestAServerOutageDegradesAndDamagesNothing(t *testing.T) {
	if mongotest.Real() {
		t.Skip("this test stops and restarts its server: it runs on a FerretDB process of its own, not on " + mongotest.EnvURI)
	}
	bin := mongotest.Binary(t)
	addr, err := mongotest.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := mongotest.Start(bin, t.TempDir(), addr)
	if err != nil {
		mongotest.Unavailable(t, "cannot start FerretDB: %v", err)
	}
	t.Cleanup(srv.Stop)

	const timeout = 2 * time.Second
	logs := &outagetest.Log{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	secret := []byte("outage-test-secret-outage-test-secret")
	a, err := app.New(context.Background(), app.Config{
		Store: func(ctx context.Context, sink domain.EventSink) (domain.Store, error) {
			// Calls give up on a server that does not answer after 2 s, as
			// a deployment would configure its own bound.
			s, err := mongostore.Open(ctx, srv.URI, mongostore.Options{Database: "outage", OpTimeout: 2 * time.Second, Logger: log})
			if err != nil {
				return nil, err
			}
			t.Cleanup(func() { s.Close() })
			// FerretDB has no change streams: one instance, in process.
			s.PublishInProcess(sink)
			return s, nil
		},
		Keys: server.KeyConfig{Secret: secret}, PresenceTimeout: timeout, Jobs: true, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wsclient.Wait)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutting down: %v", err)
		}
		api.Close()
	})
	outagetest.Run(t, outagetest.Server{URL: api.URL, Secret: secret, PresenceTimeout: timeout, Logs: logs},
		outagetest.Outage{
			Start: func(*testing.T) { srv.Kill() },
			End: func(t *testing.T) {
				if err := srv.Restart(); err != nil {
					t.Fatal(err)
				}
			},
			Reads:       false,
			ReadyWithin: time.Minute,
		})
}
