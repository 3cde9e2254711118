package ws_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"switchboard/app"
	"switchboard/domain"
	"switchboard/feed"
	"switchboard/internal/fakeclock"
	"switchboard/internal/wsclient"
	"switchboard/server"
	"switchboard/store/sqlite"
	"switchboard/store/sqlite/sqlitetest"
)

// The harness of these tests: a real server (app.New) on a real SQLite
// store and change feed, served by httptest, and clients on real sockets.

// wait bounds how long a test waits for something that must happen, as the
// shared client does.
const wait = wsclient.Wait

var (
	secret = []byte("ws-test-secret-ws-test-secret-ws-test-secret")
	epoch  = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
)

// checkLeaks fails t if a goroutine outlives it. It runs last among t's
// cleanups, after the server has shut down and the store has closed.
func checkLeaks(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		goleak.VerifyNone(t)
	})
}

// envConfig is what a test changes about its server.
type envConfig struct {
	server.Config
	// realClock runs the service and the tokens on the system clock (the
	// default is a fake clock starting at epoch).
	realClock       bool
	presenceTimeout time.Duration
	// jobs starts the background jobs (the presence sweep).
	jobs bool
	// log receives the server's logs (the default discards them).
	log *slog.Logger
}

type env struct {
	t     *testing.T
	clock *fakeclock.Clock // nil on the real clock
	now   func() time.Time
	svc   *domain.Service
	store domain.Store
	feed  *feed.Broker
	srv   *server.Server
	ts    *httptest.Server
	url   string // the HTTP endpoint
	wsURL string // the same as ws://
}

// newEnv starts a server on a fresh SQLite store.
func newEnv(t *testing.T, opts ...func(*envConfig)) *env {
	t.Helper()
	checkLeaks(t)
	var cfg envConfig
	for _, o := range opts {
		o(&cfg)
	}
	log := slog.New(slog.DiscardHandler)
	serverLog := log
	if cfg.log != nil {
		serverLog = cfg.log
	}
	e := &env{t: t, now: time.Now}
	ac := app.Config{
		Store: func(_ context.Context, sink domain.EventSink) (domain.Store, error) {
			return sqlitetest.New(t, sqlite.Options{EventSink: sink, Logger: log}), nil
		},
		Keys: server.KeyConfig{Secret: secret}, Server: cfg.Config, PresenceTimeout: cfg.presenceTimeout,
		Logger: serverLog, Jobs: cfg.jobs,
	}
	if !cfg.realClock {
		e.clock = fakeclock.New(epoch)
		e.now = e.clock.Now
		ac.Clock = e.clock
	}
	a, err := app.New(context.Background(), ac)
	if err != nil {
		t.Fatal(err)
	}
	e.svc, e.store, e.feed, e.srv = a.Service(), a.Store(), a.Feed(), a.Server()
	e.ts = httptest.NewServer(a.Handler())
	e.url = e.ts.URL + "/graphql"
	e.wsURL = "ws" + strings.TrimPrefix(e.url, "http")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutting down: %v", err)
		}
		e.ts.Close()
		http.DefaultClient.CloseIdleConnections()
	})
	return e
}

// with returns e for a subtest: its failures and cleanups are t's.
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// token mints a token valid for an hour from now (of the env's clock).
func (e *env) token(ws, sub, role string) string {
	e.t.Helper()
	return e.tokenAt(ws, sub, role, e.now(), time.Hour)
}

func (e *env) tokenAt(ws, sub, role string, issued time.Time, ttl time.Duration) string {
	e.t.Helper()
	tok, err := server.MintHS256(secret, server.TokenRequest{
		Subject: sub, WorkspaceID: ws, Role: role, Name: strings.ToUpper(sub[:1]) + sub[1:], Email: sub + "@example.com", TTL: ttl,
	}, issued)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// post runs a GraphQL operation over HTTP and decodes its data into out.
func (e *env) post(token, query string, vars map[string]any, out any) {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequest(http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r struct {
		Data   json.RawMessage
		Errors []any
	}
	if err := json.Unmarshal(raw, &r); err != nil || resp.StatusCode != http.StatusOK || len(r.Errors) > 0 {
		e.t.Fatalf("%s\n=> HTTP %d %s", query, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			e.t.Fatalf("decoding %s: %v", r.Data, err)
		}
	}
}

// workspace is a workspace with an admin (ada), two agents (ben, cleo), an
// integration and a channel.
type workspace struct {
	e                      *env
	id                     string
	admin, ben, cleo, intg string // tokens
	channel                string
}

// newWorkspace provisions a workspace: each person makes a request, the
// admin creates a channel.
func (e *env) newWorkspace(ws string) *workspace {
	e.t.Helper()
	w := &workspace{e: e, id: ws,
		admin: e.token(ws, "ada", "admin"), ben: e.token(ws, "ben", "agent"), cleo: e.token(ws, "cleo", "agent"),
		intg: e.token(ws, "connector", "integration"),
	}
	for _, tok := range []string{w.admin, w.ben, w.cleo} {
		e.post(tok, `{ me { id } }`, nil, nil)
	}
	var out struct {
		CreateChannel struct{ Channel struct{ ID string } }
	}
	e.post(w.admin, `mutation { createChannel(input: {name: "Email"}) { channel { id } } }`, nil, &out)
	w.channel = out.CreateChannel.Channel.ID
	return w
}

// inbound delivers a message from contact and returns its conversation's id.
func (w *workspace) inbound(contact, messageID, text string) string {
	w.e.t.Helper()
	var out struct {
		IngestInbound struct{ ConversationID string }
	}
	w.e.post(w.intg, `mutation($in: InboundInput!) { ingestInbound(input: $in) { conversationId } }`, map[string]any{"in": map[string]any{
		"channelId": w.channel, "contactExternalId": contact, "externalMessageId": messageID, "text": text,
	}}, &out)
	return out.IngestInbound.ConversationID
}

// setOwner assigns a conversation as the admin.
func (w *workspace) setOwner(id, owner string) {
	w.e.t.Helper()
	w.e.post(w.admin, `mutation($id: ID!, $o: ID) { setOwner(input: {conversationId: $id, ownerId: $o}) { conversation { id } } }`,
		map[string]any{"id": id, "o": owner}, nil)
}

// message and socket are the shared test client's (internal/wsclient).
type (
	message = wsclient.Message
	socket  = wsclient.Socket
)

func mustJSON(v any) json.RawMessage { return wsclient.JSON(v) }

// dialConn opens a WebSocket to the server that nothing reads yet.
func (e *env) dialConn(subprotocols []string, header http.Header) (*websocket.Conn, *http.Response, error) {
	e.t.Helper()
	return wsclient.DialConn(e.t, e.wsURL, subprotocols, header)
}

// dialRaw opens a socket with the given subprotocols and headers, sending
// nothing.
func (e *env) dialRaw(subprotocols []string, header http.Header) *socket {
	e.t.Helper()
	s, _, err := wsclient.Dial(e.t, e.wsURL, subprotocols, header)
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	return s
}

// dial opens a graphql-transport-ws connection with token and waits for its
// connection_ack.
func (e *env) dial(token string) *socket {
	e.t.Helper()
	return wsclient.Connect(e.t, e.wsURL, wsclient.TransportWS, token)
}

// dialLegacy opens a connection on the legacy graphql-ws subprotocol and
// waits for its connection_ack and first keep-alive.
func (e *env) dialLegacy(token string) *socket {
	e.t.Helper()
	return wsclient.Connect(e.t, e.wsURL, wsclient.LegacyWS, token)
}

// logBuffer collects a server's log lines, safe for its goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// lines returns the lines logged so far that contain substr.
func (l *logBuffer) lines(substr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.b.String(), "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return out
}
