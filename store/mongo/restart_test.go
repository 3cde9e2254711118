package mongostore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"switchboard/app"
	"switchboard/domain"
	"switchboard/internal/fakeclock"
	"switchboard/server"
	mongostore "switchboard/store/mongo"
	"switchboard/store/mongo/mongotest"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, deadline time.Duration, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("%s: not within %s", what, deadline)
		}
		time.Sleep(50 * time.Millisecond) // a poll interval, not a wait for something
	}
}

// TestSurvivesAServerRestart kills the server in the middle of use and
// starts it again on the same data and address: while it is down every
// call fails (UNAVAILABLE to callers: retry later) and Ping fails; after it
// returns the same store, never reopened, works again, with nothing lost or
// doubled.
func TestSurvivesAServerRestart(t *testing.T) {
	if mongotest.Real() {
		t.Skip("this test kills and restarts its server: it runs on a FerretDB process of its own, not on " + mongotest.EnvURI)
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

	ctx := context.Background()
	s, err := mongostore.Open(ctx, srv.URI, mongostore.Options{Database: "restart", OpTimeout: 2 * time.Second, Logger: mongotest.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	clock := fakeclock.New(t0)
	secret := []byte("restart-test-secret-restart-test-secret")
	a, err := app.New(ctx, app.Config{Store: app.UseStore(s), Keys: server.KeyConfig{Secret: secret}, Clock: clock, Logger: mongotest.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown(ctx)
	svc := a.Service()
	admin, err := svc.Authenticate(ctx, domain.Claims{WorkspaceID: "ws", Subject: "ada", Role: "admin", Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := svc.CreateChannel(ctx, admin, "Email")
	if err != nil {
		t.Fatal(err)
	}
	integration := domain.Actor{WorkspaceID: "ws", ID: "mailer", Role: domain.RoleIntegration}
	inbound := func(contact, msg string) (domain.InboundResult, error) {
		clock.Advance(time.Second)
		return svc.IngestInbound(ctx, integration, domain.InboundCommand{ChannelID: ch.ID, ContactExternalID: contact,
			ExternalMessageID: msg, Text: "text of " + msg})
	}
	var convs []string
	for i := range 3 {
		r, err := inbound(fmt.Sprintf("contact-%d", i), fmt.Sprintf("before-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		convs = append(convs, r.ConversationID)
	}
	owner := "ada"
	if _, err := svc.SetOwner(ctx, admin, domain.SetOwnerCommand{ConversationID: convs[0], OwnerID: &owner, OwnerGiven: true}); err != nil {
		t.Fatal(err)
	}

	// The same service behind the real HTTP server, as callers see it.
	api := httptest.NewServer(a.Handler())
	defer api.Close()
	token, err := server.MintHS256(secret, server.TokenRequest{Subject: "ada", WorkspaceID: "ws", Role: "admin", Name: "Ada", TTL: time.Hour}, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	query := func() (int, string) {
		req, _ := http.NewRequest(http.MethodPost, api.URL+"/graphql", strings.NewReader(`{"query":"{ channels { id } }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := api.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	ready := func() int {
		resp, err := api.Client().Get(api.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status, body := query(); status != http.StatusOK || ready() != http.StatusOK {
		t.Fatalf("before the kill: HTTP %d %s, readyz %d", status, body, ready())
	}

	srv.Kill()

	status, body := query()
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `"code":"UNAVAILABLE"`) ||
		strings.Contains(strings.ToLower(body), "mongo") || strings.Contains(body, addr) {
		t.Errorf("a request while the server is down: HTTP %d %s; want 503 UNAVAILABLE without detail", status, body)
	}
	if code := ready(); code != http.StatusServiceUnavailable {
		t.Errorf("readyz while the server is down: %d, want 503", code)
	}
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping succeeded while the server is down")
	}
	if _, err := inbound("contact-0", "while-down"); domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Errorf("an inbound message while the server is down: %v, want an UNAVAILABLE error", err)
	}
	if _, err := svc.SetOwner(ctx, admin, domain.SetOwnerCommand{ConversationID: convs[1], OwnerID: &owner, OwnerGiven: true}); domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Errorf("an assignment while the server is down: %v, want an UNAVAILABLE error", err)
	}
	if _, err := s.ConversationsByIDs(ctx, "ws", convs); !errors.Is(err, domain.ErrUnavailable) {
		t.Errorf("a read while the server is down: %v, want domain.ErrUnavailable", err)
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Ping after the restart", time.Minute, func() bool { return s.Ping(ctx) == nil })
	if code := ready(); code != http.StatusOK {
		t.Errorf("readyz after the restart: %d, want 200", code)
	}
	if status, body := query(); status != http.StatusOK || strings.Contains(body, "errors") {
		t.Errorf("a request after the restart: HTTP %d %s", status, body)
	}

	// The webhook retries what failed, and repeats what had succeeded.
	for i := range 3 {
		r, err := inbound(fmt.Sprintf("contact-%d", i), fmt.Sprintf("before-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if !r.Duplicate || r.ConversationID != convs[i] {
			t.Errorf("repeating message before-%d after the restart: %+v, want a duplicate of %s", i, r, convs[i])
		}
	}
	r, err := inbound("contact-0", "while-down")
	if err != nil || r.Duplicate || r.ConversationID != convs[0] {
		t.Fatalf("retrying the message that failed: %+v, %v", r, err)
	}
	if _, err := svc.SetOwner(ctx, admin, domain.SetOwnerCommand{ConversationID: convs[1], OwnerID: &owner, OwnerGiven: true}); err != nil {
		t.Fatal(err)
	}

	// Nothing lost, nothing doubled.
	got, err := s.ConversationsByIDs(ctx, "ws", convs)
	if err != nil {
		t.Fatal(err)
	}
	wantVersions := []int64{3, 2, 1} // before-0, the assignment, while-down; before-1 and its assignment; before-2
	for i, c := range got {
		if c == nil || c.Version != wantVersions[i] {
			t.Fatalf("conversation %d after the restart: %+v, want version %d", i, c, wantVersions[i])
		}
	}
	for i, want := range [][]string{{"before-0", "while-down"}, {"before-1"}, {"before-2"}} {
		msgs, err := s.ListMessages(ctx, domain.MessageQuery{WorkspaceID: "ws", ConversationID: convs[i], Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range msgs {
			ids = append(ids, m.ExternalID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(want) {
			t.Errorf("messages of conversation %d: %v, want %v", i, ids, want)
		}
	}
	for i, want := range []int{1, 1, 0} {
		h, err := s.ListHistory(ctx, domain.HistoryQuery{WorkspaceID: "ws", ConversationID: convs[i], Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != want {
			t.Errorf("history of conversation %d: %d entries, want %d", i, len(h), want)
		}
	}
	n, err := s.CountQueue(ctx, domain.QueueQuery{WorkspaceID: "ws", Status: domain.StatusNew, Owners: domain.OwnerPredicate{Unowned: true, AnyOwner: true}})
	if err != nil || n != 3 {
		t.Errorf("CountQueue after the restart: %d, %v; want 3", n, err)
	}
	if left, err := s.Reconcile(ctx); err != nil || left != 0 {
		t.Errorf("Reconcile after the restart: %d items left pending, %v", left, err)
	}
}
