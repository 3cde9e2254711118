package ws_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"switchboard/app"
	"switchboard/domain"
	"switchboard/feed"
	"switchboard/internal/fakeclock"
	"switchboard/server"
	"switchboard/store/sqlite"
	"switchboard/store/sqlite/sqlitetest"
)

// The harness of these tests: a real server (app.New) on a real SQLite
// store and change feed, served by httptest, and clients on real sockets.

// wait bounds how long a test waits for something that must happen.
const wait = 10 * time.Second

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
	e := &env{t: t, now: time.Now}
	ac := app.Config{
		Store: func(_ context.Context, sink domain.EventSink) (domain.Store, error) {
			return sqlitetest.New(t, sqlite.Options{EventSink: sink, Logger: log}), nil
		},
		Keys: server.KeyConfig{Secret: secret}, Server: cfg.Config, PresenceTimeout: cfg.presenceTimeout,
		Logger: log, Jobs: cfg.jobs,
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

// message is one protocol message.
type message struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// socket is a client connection whose messages a goroutine reads as they
// come (so the client answers pings, like a browser), into a channel the
// test reads with a deadline.
type socket struct {
	t    *testing.T
	c    *websocket.Conn
	in   chan message
	done chan struct{} // closed when reading ended; err says why
	err  error
	stop context.CancelFunc
}

// dialConn opens a WebSocket to the server.
func (e *env) dialConn(subprotocols []string, header http.Header, opts *websocket.DialOptions) (*websocket.Conn, *http.Response, error) {
	e.t.Helper()
	if opts == nil {
		opts = &websocket.DialOptions{}
	}
	opts.Subprotocols, opts.HTTPHeader = subprotocols, header
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, e.wsURL, opts)
	if err == nil {
		e.t.Cleanup(func() { c.CloseNow() })
	}
	return c, resp, err
}

// listen starts reading c's messages.
func listen(t *testing.T, c *websocket.Conn) *socket {
	ctx, cancel := context.WithCancel(context.Background())
	s := &socket{t: t, c: c, in: make(chan message, 4096), done: make(chan struct{}), stop: cancel}
	go func() {
		defer close(s.done)
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				s.err = err
				return
			}
			var m message
			if err := json.Unmarshal(b, &m); err != nil {
				s.err = errors.New("not a protocol message: " + string(b))
				return
			}
			select {
			case s.in <- m:
			case <-ctx.Done():
				s.err = ctx.Err()
				return
			}
		}
	}()
	// Registered after dialConn's CloseNow, so it runs first: the reader
	// ends before the connection is dropped, and before the leak check.
	t.Cleanup(func() { c.CloseNow(); cancel(); <-s.done })
	return s
}

// dialRaw opens a socket with the given subprotocols and headers, sending
// nothing.
func (e *env) dialRaw(subprotocols []string, header http.Header) *socket {
	e.t.Helper()
	c, _, err := e.dialConn(subprotocols, header, nil)
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	return listen(e.t, c)
}

// dial opens a graphql-transport-ws connection with token and waits for its
// connection_ack.
func (e *env) dial(token string) *socket {
	e.t.Helper()
	s := e.dialRaw([]string{"graphql-transport-ws"}, nil)
	s.init(map[string]any{"Authorization": "Bearer " + token})
	s.expect("connection_ack")
	return s
}

// dialLegacy opens a connection on the legacy graphql-ws subprotocol and
// waits for its connection_ack and first keep-alive.
func (e *env) dialLegacy(token string) *socket {
	e.t.Helper()
	s := e.dialRaw([]string{"graphql-ws"}, nil)
	s.init(map[string]any{"Authorization": "Bearer " + token})
	s.expect("connection_ack")
	s.expect("ka")
	return s
}

func (s *socket) init(payload any) {
	s.t.Helper()
	s.send(message{Type: "connection_init", Payload: mustJSON(payload)})
}

func (s *socket) send(m message) {
	s.t.Helper()
	s.sendRaw(mustJSON(m))
}

func (s *socket) sendRaw(b []byte) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := s.c.Write(ctx, websocket.MessageText, b); err != nil {
		s.t.Fatalf("write: %v", err)
	}
}

// read returns the next message, failing the test if none comes in time.
func (s *socket) read() message {
	s.t.Helper()
	select {
	case m := <-s.in:
		return m
	case <-s.done:
		select {
		case m := <-s.in:
			return m
		default:
		}
		s.t.Fatalf("read: the connection ended: %v", s.err)
	case <-time.After(wait):
		s.t.Fatalf("read: no message within %s", wait)
	}
	panic("unreachable")
}

// expect reads the next message and requires its type.
func (s *socket) expect(typ string) message {
	s.t.Helper()
	m := s.read()
	if m.Type != typ {
		s.t.Fatalf("want %s, got %s %s %s", typ, m.Type, m.ID, m.Payload)
	}
	return m
}

// quiet requires that no message arrives for d and the connection stays
// open.
func (s *socket) quiet(d time.Duration) {
	s.t.Helper()
	select {
	case m := <-s.in:
		s.t.Fatalf("want no message for %s, got %s %s %s", d, m.Type, m.ID, m.Payload)
	case <-s.done:
		s.t.Fatalf("want the connection open, it ended: %v", s.err)
	case <-time.After(d):
	}
}

// closed waits for the server to close the connection, skipping the
// messages before, and returns the close code and reason.
func (s *socket) closed() (websocket.StatusCode, string) {
	s.t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case <-s.in:
			continue
		case <-s.done:
		case <-deadline:
			s.t.Fatalf("the connection is still open after %s", wait)
		}
		// Messages read before the close may still be queued.
		for len(s.in) > 0 {
			<-s.in
		}
		var ce websocket.CloseError
		if !errors.As(s.err, &ce) {
			s.t.Fatalf("the connection ended without a close frame: %v", s.err)
		}
		return ce.Code, ce.Reason
	}
}

// closedWith requires the server to close the connection with code.
func (s *socket) closedWith(code websocket.StatusCode) string {
	s.t.Helper()
	got, reason := s.closed()
	if got != code {
		s.t.Fatalf("close code %d (%q), want %d", got, reason, code)
	}
	return reason
}

// subscribe starts an operation (graphql-transport-ws).
func (s *socket) subscribe(id, query string, vars map[string]any) {
	s.t.Helper()
	s.send(message{ID: id, Type: "subscribe", Payload: mustJSON(map[string]any{"query": query, "variables": vars})})
}

// start starts an operation (legacy protocol).
func (s *socket) start(id, query string, vars map[string]any) {
	s.t.Helper()
	s.send(message{ID: id, Type: "start", Payload: mustJSON(map[string]any{"query": query, "variables": vars})})
}

// next reads a message that must be a result of id (next, or data on the
// legacy protocol) without errors, and decodes its data into out.
func (s *socket) next(id string, out any) {
	s.t.Helper()
	m := s.read()
	if (m.Type != "next" && m.Type != "data") || m.ID != id {
		s.t.Fatalf("want a result for %s, got %s %s %s", id, m.Type, m.ID, m.Payload)
	}
	var r struct {
		Data   json.RawMessage `json:"data"`
		Errors []any           `json:"errors"`
	}
	if err := json.Unmarshal(m.Payload, &r); err != nil || len(r.Errors) > 0 {
		s.t.Fatalf("result for %s: %s", id, m.Payload)
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			s.t.Fatalf("decoding %s: %v", r.Data, err)
		}
	}
}

// ready makes sure the messages sent so far were handled: the server
// handles a connection's messages in order (a subscription is listening
// before the next message is read), so once a ping sent after them is
// answered, they have been.
func (s *socket) ready() {
	s.t.Helper()
	s.send(message{Type: "ping"})
	s.expect("pong")
}

// readyLegacy is ready for the legacy protocol, which has no ping: a query
// started after the other messages answers after them.
func (s *socket) readyLegacy() {
	s.t.Helper()
	s.start("ready", `{ me { id } }`, nil)
	s.next("ready", nil)
	if m := s.expect("complete"); m.ID != "ready" {
		s.t.Fatalf("want complete for ready, got %+v", m)
	}
}
