package ws_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"switchboard/internal/wsclient"
	"switchboard/server"
	"switchboard/server/ws"
)

// Tests of the WebSocket transport against a real server: every protocol
// rule and close code of graphql-transport-ws, the legacy graphql-ws
// subprotocol, authentication, origins, limits, slow and dead clients, and
// shutdown.

const queueQuery = `subscription { queueChanged(status: NEW) { kind conversation { id version owner { id } } } }`

type queueEvent struct {
	QueueChanged struct {
		Kind         string
		Conversation struct {
			ID      string
			Version int
			Owner   *struct{ ID string }
		}
	}
}

func TestInvalidMessagesClose4400(t *testing.T) {
	e := newEnv(t)
	w := e.newWorkspace("ws-proto")
	for _, tc := range []struct{ name, msg string }{
		{"not JSON", `{"type": "subscribe", `},
		{"not an object", `["connection_init"]`},
		{"no type", `{"id": "1"}`},
		{"unknown type", `{"type": "subscribe_all"}`},
		{"a server message type", `{"type": "next", "id": "1", "payload": {}}`},
		{"subscribe without an id", `{"type": "subscribe", "payload": {"query": "{ me { id } }"}}`},
		{"subscribe with an empty id", `{"id": "", "type": "subscribe", "payload": {"query": "{ me { id } }"}}`},
		{"subscribe without a query", `{"id": "1", "type": "subscribe", "payload": {}}`},
		{"connection_init with a payload that is no object", `{"type": "connection_init", "payload": "Bearer x"}`},
		{"a repeated type", `{"type": "ping", "type": "subscribe", "id": "1", "payload": {"query": "{ me { id } }"}}`},
		{"a repeated query", `{"id": "1", "type": "subscribe", "payload": {"query": "{ me { id } }", "query": "{ me { name } }"}}`},
		{"nesting too deep", `{"type": "ping", "payload": ` + strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40) + `}`},
		{"a huge id", `{"id": "` + strings.Repeat("x", 10000) + `", "type": "subscribe", "payload": {"query": "{ me { id } }"}}`},
		{"a number id", `{"id": 1, "type": "subscribe", "payload": {"query": "{ me { id } }"}}`},
		{"invalid UTF-8", "{\"type\": \"ping\", \"payload\": {\"a\": \"\xff\"}}"},
		{"two messages in one", `{"type": "ping"} {"type": "ping"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			s := e.dialRaw([]string{"graphql-transport-ws"}, nil)
			if !strings.HasPrefix(tc.msg, `{"type": "connection_init"`) {
				s.Init(map[string]any{"Authorization": "Bearer " + w.ben})
				s.Expect("connection_ack")
			}
			s.SendRaw([]byte(tc.msg))
			if reason := s.ClosedWith(ws.CloseBadRequest); !strings.HasPrefix(reason, "Invalid message received") {
				t.Fatalf("reason %q", reason)
			}
		})
	}
}

func TestSubscribeBeforeAckCloses4401(t *testing.T) {
	e := newEnv(t)
	e.newWorkspace("ws-proto")
	s := e.dialRaw([]string{"graphql-transport-ws"}, nil)
	s.Subscribe("1", queueQuery, nil)
	if reason := s.ClosedWith(ws.CloseUnauthorized); reason != "Unauthorized" {
		t.Fatalf("reason %q", reason)
	}
}

func TestRefusedInitCloses4403(t *testing.T) {
	e := newEnv(t)
	w := e.newWorkspace("ws-proto")
	expired := e.tokenAt(w.id, "ben", "agent", e.now().Add(-2*time.Hour), time.Hour)
	otherKey, err := server.MintHS256([]byte("another-secret-another-secret-another-secret"),
		server.TokenRequest{Subject: "ben", WorkspaceID: w.id, Role: "agent", TTL: time.Hour}, e.now())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		payload any
	}{
		{"no payload", nil},
		{"no token", map[string]any{"other": "x"}},
		{"malformed token", map[string]any{"Authorization": "Bearer not-a-jwt"}},
		{"token of another key", map[string]any{"Authorization": "Bearer " + otherKey}},
		{"expired token", map[string]any{"Authorization": "Bearer " + expired}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			s := e.dialRaw([]string{"graphql-transport-ws"}, nil)
			s.Init(tc.payload)
			if reason := s.ClosedWith(ws.CloseForbidden); !strings.HasPrefix(reason, "Forbidden") {
				t.Fatalf("reason %q", reason)
			}
		})
		t.Run(tc.name+" (legacy: connection_error first)", func(t *testing.T) {
			e := e.with(t)
			s := e.dialRaw([]string{"graphql-ws"}, nil)
			s.Init(tc.payload)
			m := s.Expect("connection_error")
			if !strings.Contains(string(m.Payload), "UNAUTHENTICATED") {
				t.Fatalf("connection_error payload %s", m.Payload)
			}
			s.ClosedWith(ws.CloseForbidden)
		})
	}
}

func TestInitTimeoutCloses4408(t *testing.T) {
	e := newEnv(t)
	e.newWorkspace("ws-proto")
	armed := e.clock.Armed()
	s := e.dialRaw([]string{"graphql-transport-ws"}, nil)
	select {
	case <-armed:
	case <-time.After(wait):
		t.Fatal("the init timeout was never armed")
	}
	// A millisecond before the timeout the connection is open; a ping
	// before connection_init is answered.
	e.clock.Advance(10*time.Second - time.Millisecond)
	s.Ready()
	e.clock.Advance(time.Millisecond)
	if reason := s.ClosedWith(ws.CloseInitTimeout); reason != "Connection initialisation timeout" {
		t.Fatalf("reason %q", reason)
	}
}

func TestDuplicateIDCloses4409(t *testing.T) {
	e := newEnv(t)
	w := e.newWorkspace("ws-proto")
	s := e.dial(w.ben)
	s.Subscribe("q", queueQuery, nil)
	s.Ready()
	s.Subscribe("q", queueQuery, nil)
	if reason := s.ClosedWith(ws.CloseDuplicateID); reason != "Subscriber for q already exists" {
		t.Fatalf("reason %q", reason)
	}
}

func TestDuplicateIDAfterCompleteIsFine(t *testing.T) {
	e := newEnv(t)
	w := e.newWorkspace("ws-proto")
	s := e.dial(w.ben)
	// A finished query frees its id.
	s.Subscribe("q", `{ me { id } }`, nil)
	s.Next("q", nil)
	s.Expect("complete")
	// So does a subscription the client completed.
	s.Subscribe("q", queueQuery, nil)
	s.Send(message{ID: "q", Type: "complete"})
	s.Subscribe("q", queueQuery, nil)
	s.Ready()
	id := w.inbound("maria", "m1", "hello")
	var ev queueEvent
	s.Next("q", &ev)
	if ev.QueueChanged.Conversation.ID != id {
		t.Fatalf("event %+v", ev)
	}
}

func TestLegacyDuplicateIDReplacesTheOperation(t *testing.T) {
	e := newEnv(t)
	w := e.newWorkspace("ws-proto")
	s := e.dialLegacy(w.ben)
	s.Subscribe("1", `subscription { queueChanged(status: PENDING) { kind conversation { id } } }`, nil)
	s.Subscribe("1", queueQuery, nil)
	s.Ready()
	id := w.inbound("maria", "m1", "hello")
	var ev queueEvent
	s.Next("1", &ev)
	if ev.QueueChanged.Kind != "ENTERED" || ev.QueueChanged.Conversation.ID != id {
		t.Fatalf("event %+v", ev)
	}
	// The replaced operation sent no complete, and the connection is open.
	s.Ready()
}

func TestSecondInitCloses4429(t *testing.T) {
	e := newEnv(t)
	w := e.newWorkspace("ws-proto")
	s := e.dial(w.ben)
	s.Init(map[string]any{"Authorization": "Bearer " + w.ben})
	if reason := s.ClosedWith(ws.CloseTooManyInits); reason != "Too many initialisation requests" {
		t.Fatalf("reason %q", reason)
	}
}

func TestNoAcceptableSubprotocolCloses4406(t *testing.T) {
	e := newEnv(t)
	for _, offered := range [][]string{nil, {"graphql-transport-ws-v2", "mqtt"}} {
		s := e.dialRaw(offered, nil)
		if s.Subprotocol() != "" {
			t.Fatalf("offered %v, agreed on %q", offered, s.Subprotocol())
		}
		s.ClosedWith(ws.CloseSubprotocolNotAcceptable)
	}
	// Both protocols are agreed on when offered.
	for _, p := range []string{"graphql-transport-ws", "graphql-ws"} {
		s := e.dialRaw([]string{"x-other", p}, nil)
		if s.Subprotocol() != p {
			t.Fatalf("offered %s, agreed on %q", p, s.Subprotocol())
		}
	}
}

func TestMessageOverTheLimitCloses1009(t *testing.T) {
	e := newEnv(t, func(c *envConfig) { c.WebSocket.MaxMessageBytes = 4 << 10 })
	w := e.newWorkspace("ws-proto")
	s := e.dial(w.ben)
	// Just under the limit is fine.
	pad := strings.Repeat(" ", 4<<10-len(`{"type":"ping"}`))
	s.SendRaw([]byte(`{"type":"ping"}` + pad))
	s.Expect("pong")
	s.SendRaw([]byte(`{"type":"ping"}` + pad + " "))
	s.ClosedWith(websocket.StatusMessageTooBig)
}

func TestPingIsAnsweredWithItsPayload(t *testing.T) {
	e := newEnv(t)
	w := e.newWorkspace("ws-proto")
	s := e.dial(w.ben)
	s.Send(message{Type: "ping", Payload: mustJSON(map[string]any{"seq": 7, "note": "are you there"})})
	m := s.Expect("pong")
	if string(m.Payload) != `{"note":"are you there","seq":7}` {
		t.Fatalf("pong payload %s", m.Payload)
	}
	s.Send(message{Type: "ping"})
	if m := s.Expect("pong"); len(m.Payload) != 0 {
		t.Fatalf("pong of a ping without payload: %s", m.Payload)
	}
	// A pong from the client (an answer, or a unidirectional heartbeat) is
	// accepted silently.
	s.Send(message{Type: "pong", Payload: mustJSON(map[string]any{"beat": 1})})
	s.Ready()
}

func TestClientCompleteStopsASubscription(t *testing.T) {
	e := newEnv(t)
	w := e.newWorkspace("ws-proto")
	s := e.dial(w.ben)
	s.Subscribe("q", queueQuery, nil)
	s.Ready()
	subscribers := e.feed.Subscribers()
	s.Send(message{ID: "q", Type: "complete"})
	s.Ready()
	waitFor(t, "the subscription to leave the feed", func() bool { return e.feed.Subscribers() == subscribers-1 })
	// An event now reaches only a sentinel subscription: no next and no
	// complete for q.
	s.Subscribe("sentinel", queueQuery, nil)
	s.Ready()
	id := w.inbound("maria", "m1", "hello")
	var ev queueEvent
	s.Next("sentinel", &ev)
	if ev.QueueChanged.Conversation.ID != id {
		t.Fatalf("event %+v", ev)
	}
	s.Ready()
	// Completing an unknown or finished id is harmless.
	s.Send(message{ID: "q", Type: "complete"})
	s.Send(message{ID: "never", Type: "complete"})
	s.Ready()
}

func TestQueriesAndMutationsOverTheSocket(t *testing.T) {
	e := newEnv(t)
	w := e.newWorkspace("ws-proto")
	id := w.inbound("maria", "m1", "hello")
	mutation := `mutation($id: ID!, $o: ID) { setOwner(input: {conversationId: $id, ownerId: $o}) { conversation { version owner { id } } } }`
	type setOwner struct {
		SetOwner struct {
			Conversation struct {
				Version int
				Owner   *struct{ ID string }
			}
		}
	}
	for _, legacy := range []bool{false, true} {
		t.Run(map[bool]string{false: "graphql-transport-ws", true: "legacy graphql-ws"}[legacy], func(t *testing.T) {
			e := e.with(t)
			var s *socket
			if legacy {
				s = e.dialLegacy(w.ben)
			} else {
				s = e.dial(w.ben)
			}
			owner := map[bool]string{false: "ben", true: "cleo"}[legacy]
			s.Subscribe("m", mutation, map[string]any{"id": id, "o": owner})
			var out setOwner
			s.Next("m", &out)
			if out.SetOwner.Conversation.Owner == nil || out.SetOwner.Conversation.Owner.ID != owner {
				t.Fatalf("mutation over the socket: %+v", out)
			}
			if m := s.Expect("complete"); m.ID != "m" {
				t.Fatalf("complete for %q", m.ID)
			}
			s.Subscribe("q", `{ me { id presence } }`, nil)
			var me struct{ Me struct{ ID, Presence string } }
			s.Next("q", &me)
			if me.Me.ID != "ben" || me.Me.Presence != "ONLINE" {
				t.Fatalf("query over the socket: %+v", me)
			}
			if m := s.Expect("complete"); m.ID != "q" {
				t.Fatalf("complete for %q", m.ID)
			}
			// A query the schema refuses is an error message, and the
			// connection stays.
			s.Subscribe("bad", `{ me { nope } }`, nil)
			if m := s.Expect("error"); m.ID != "bad" || !strings.Contains(string(m.Payload), "GRAPHQL_VALIDATION_FAILED") {
				t.Fatalf("error %+v %s", m, m.Payload)
			}
		})
	}
}

func TestTokenSources(t *testing.T) {
	e := newEnv(t)
	w := e.newWorkspace("ws-proto")
	t.Run("the upgrade request's Authorization header", func(t *testing.T) {
		e := e.with(t)
		s := e.dialRaw([]string{"graphql-transport-ws"}, http.Header{"Authorization": {"Bearer " + w.ben}})
		s.Send(message{Type: "connection_init"})
		s.Expect("connection_ack")
		s.Subscribe("q", `{ me { id } }`, nil)
		var me struct{ Me struct{ ID string } }
		s.Next("q", &me)
		if me.Me.ID != "ben" {
			t.Fatalf("me %+v", me)
		}
	})
	t.Run("the payload's token wins over the header", func(t *testing.T) {
		e := e.with(t)
		s := e.dialRaw([]string{"graphql-transport-ws"}, http.Header{"Authorization": {"Bearer " + w.ben}})
		s.Init(map[string]any{"Authorization": "Bearer " + w.cleo})
		s.Expect("connection_ack")
		s.Subscribe("q", `{ me { id } }`, nil)
		var me struct{ Me struct{ ID string } }
		s.Next("q", &me)
		if me.Me.ID != "cleo" {
			t.Fatalf("me %+v", me)
		}
	})
	for _, payload := range []map[string]any{
		{"Authorization": "Bearer " + w.cleo},
		{"authorization": "Bearer " + w.cleo},
		{"authorization": w.cleo},
		{"token": w.cleo},
		{"token": "Bearer " + w.cleo},
	} {
		for key, v := range payload {
			name := key
			if strings.HasPrefix(v.(string), "Bearer ") {
				name += " with Bearer"
			}
			t.Run("connection_init "+name, func(t *testing.T) {
				e := e.with(t)
				s := e.dialRaw([]string{"graphql-transport-ws"}, nil)
				s.Init(payload)
				s.Expect("connection_ack")
				s.Subscribe("q", `{ me { id } }`, nil)
				var me struct{ Me struct{ ID string } }
				s.Next("q", &me)
				if me.Me.ID != "cleo" {
					t.Fatalf("me %+v", me)
				}
			})
		}
	}
}

func TestTokenExpiryCloses4403(t *testing.T) {
	e := newEnv(t)
	w := e.newWorkspace("ws-proto")
	s := e.dial(w.ben)
	s.Subscribe("q", queueQuery, nil)
	s.Ready()
	// The token lives an hour, and is accepted for the leeway after.
	e.clock.Advance(time.Hour + server.TokenLeeway - time.Millisecond)
	s.Ready()
	e.clock.Advance(time.Millisecond)
	if reason := s.ClosedWith(ws.CloseForbidden); reason != "Forbidden: the token has expired" {
		t.Fatalf("reason %q", reason)
	}
}

func TestOriginCheck(t *testing.T) {
	e := newEnv(t, func(c *envConfig) { c.AllowedOrigins = []string{"*.example.com"} })
	w := e.newWorkspace("ws-proto")
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"", true},       // not a browser
		{e.ts.URL, true}, // the server's own origin
		{"http://evil.example", false},
		{"https://app.example.com", true}, // an allowed pattern
		{"https://example.com.evil.example", false},
		{"http://" + strings.Replace(e.ts.Listener.Addr().String(), "127.0.0.1", "localhost", 1), false}, // same port, another host
	} {
		t.Run(fmt.Sprintf("Origin %q", tc.origin), func(t *testing.T) {
			e := e.with(t)
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			c, resp, err := e.dialConn([]string{"graphql-transport-ws"}, h)
			if !tc.ok {
				if err == nil {
					t.Fatal("the upgrade was accepted")
				}
				if resp == nil || resp.StatusCode != http.StatusForbidden {
					t.Fatalf("want 403, got %v %v", resp, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			s := wsclient.Listen(t, c)
			s.Init(map[string]any{"Authorization": "Bearer " + w.ben})
			s.Expect("connection_ack")
		})
	}
}

func TestOriginCheckUnderDev(t *testing.T) {
	e := newEnv(t, func(c *envConfig) { c.Dev, c.AllowedOrigins = true, []string{"*.example.com"} })
	w := e.newWorkspace("ws-proto")
	port := e.ts.Listener.Addr().(*net.TCPAddr).Port
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"", true},       // not a browser
		{e.ts.URL, true}, // the server's own origin
		{fmt.Sprintf("http://localhost:%d", port), true},
		{"http://localhost:3000", true}, // a page of another local server
		{"https://LOCALHOST", true},
		{"http://[::1]:5173", true},
		{"http://evil.example", false},
		{"https://app.example.com", false}, // allowed origins do not count under dev
		{fmt.Sprintf("http://127.0.0.1.evil.example:%d", port), false},
		{fmt.Sprintf("http://localhost.evil.example:%d", port), false},
		{"null", false}, // a sandboxed or file: page
		{"file://", false},
	} {
		t.Run(fmt.Sprintf("Origin %q", tc.origin), func(t *testing.T) {
			e := e.with(t)
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			c, resp, err := e.dialConn([]string{"graphql-transport-ws"}, h)
			if !tc.ok {
				if err == nil {
					t.Fatal("the upgrade was accepted")
				}
				if resp == nil || resp.StatusCode != http.StatusForbidden {
					t.Fatalf("want 403, got %v %v", resp, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			s := wsclient.Listen(t, c)
			s.Init(map[string]any{"Authorization": "Bearer " + w.ben})
			s.Expect("connection_ack")
		})
	}
}

func TestOperationCap(t *testing.T) {
	e := newEnv(t, func(c *envConfig) { c.WebSocket.MaxOperations = 2 })
	w := e.newWorkspace("ws-proto")
	s := e.dial(w.ben)
	s.Subscribe("a", queueQuery, nil)
	s.Subscribe("b", queueQuery, nil)
	s.Subscribe("c", queueQuery, nil)
	m := s.Expect("error")
	if m.ID != "c" || !strings.Contains(string(m.Payload), "too many operations") {
		t.Fatalf("error %+v %s", m, m.Payload)
	}
	// The connection stays, and completing one makes room.
	s.Send(message{ID: "a", Type: "complete"})
	s.Subscribe("c", queueQuery, nil)
	s.Ready()
	id := w.inbound("maria", "m1", "hello")
	got := map[string]bool{}
	for range 2 {
		m := s.Read()
		if m.Type != "next" || !strings.Contains(string(m.Payload), id) {
			t.Fatalf("want an event, got %+v %s", m, m.Payload)
		}
		got[m.ID] = true
	}
	if !got["b"] || !got["c"] {
		t.Fatalf("events for %v, want b and c", got)
	}
}

func TestShutdownClosesWithGoingAway(t *testing.T) {
	e := newEnv(t)
	w := e.newWorkspace("ws-proto")
	s := e.dial(w.ben)
	s.Subscribe("q", queueQuery, nil)
	s.Ready()
	legacy := e.dialLegacy(w.cleo)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	for _, c := range []*socket{s, legacy} {
		if reason := c.ClosedWith(websocket.StatusGoingAway); reason != "server shutting down" {
			t.Fatalf("reason %q", reason)
		}
	}
	// A socket opened after is turned away the same way.
	late := e.dialRaw([]string{"graphql-transport-ws"}, nil)
	late.ClosedWith(websocket.StatusGoingAway)
}

// A client that stops reading while events pile up is closed with 1013 once
// its send queue is full (in messages, or in bytes), or once the server's
// queues together are over their budget and it holds the most; another
// subscriber gets every event, before and after.
func TestSlowConsumerIsClosedAndOthersKeepUp(t *testing.T) {
	for _, tc := range []struct {
		name string
		ws.Config
		// logged, if not "", is in a log line once the slow client is shed.
		logged string
	}{
		{name: "its queue's messages", Config: ws.Config{SendQueue: 16}},
		{name: "its queue's bytes", Config: ws.Config{SendQueue: 1 << 20, SendQueueBytes: 256 << 10}},
		{
			name: "the server's queues",
			// Each of the two sockets' share is 256 KiB; the fast one never
			// holds that much.
			Config: ws.Config{SendQueue: 1 << 20, SendQueueBytes: 64 << 20, Budget: ws.Budget{Sockets: 10, Bytes: 1 << 30, QueueBytes: 512 << 10}},
			logged: "closing the slowest readers",
		},
	} {
		t.Run(tc.name, func(t *testing.T) { slowConsumerIsClosed(t, tc.Config, tc.logged) })
	}
}

func slowConsumerIsClosed(t *testing.T, queues ws.Config, logged string) {
	var logs logBuffer
	e := newEnv(t, func(c *envConfig) {
		c.WebSocket.SendQueue = queues.SendQueue
		c.WebSocket.SendQueueBytes = queues.SendQueueBytes
		c.WebSocket.Budget = queues.Budget
		// Long enough that neither the ping nor the write timeout is what
		// closes the silent client.
		c.WebSocket.PingInterval = time.Minute
		c.WebSocket.WriteTimeout = time.Minute
		c.log = logs.logger()
	})
	w := e.newWorkspace("ws-proto")
	w.inbound("maria", "m0", "hello")

	fast := e.dial(w.cleo)
	fast.Subscribe("q", `subscription { queueChanged(status: NEW) { conversation { id version } } }`, nil)
	fast.Ready()
	// The fast subscriber reads all the time, until a pong.
	var (
		mu       sync.Mutex
		versions []int
		fastErr  error
	)
	fastDone := make(chan struct{})
	go func() {
		defer close(fastDone)
		for {
			var m message
			select {
			case m = <-fast.Messages():
			case <-fast.Done():
				mu.Lock()
				fastErr = fmt.Errorf("the fast subscriber's connection ended: %v", fast.Err())
				mu.Unlock()
				return
			}
			if m.Type == "pong" {
				return
			}
			var ev struct {
				Data struct {
					QueueChanged struct{ Conversation struct{ Version int } }
				}
			}
			if m.Type != "next" || json.Unmarshal(m.Payload, &ev) != nil {
				mu.Lock()
				fastErr = fmt.Errorf("fast subscriber: %+v %s", m, m.Payload)
				mu.Unlock()
				return
			}
			mu.Lock()
			versions = append(versions, ev.Data.QueueChanged.Conversation.Version)
			mu.Unlock()
		}
	}()

	// The slow client reads nothing after its subscription started; each
	// event carries the latest message, 32 KiB, so the socket's buffers fill
	// after some hundred events, then the send queue.
	slowConn, _, err := e.dialConn([]string{"graphql-transport-ws"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	slowConn.SetReadLimit(1 << 20)
	slowWrite := func(m message) {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := slowConn.Write(ctx, websocket.MessageText, mustJSON(m)); err != nil {
			t.Fatal(err)
		}
	}
	slowWrite(message{Type: "connection_init", Payload: mustJSON(map[string]any{"token": w.ben})})
	slowWrite(message{ID: "q", Type: "subscribe", Payload: mustJSON(map[string]any{
		"query": `subscription { queueChanged(status: NEW) { conversation { id version messages(last: 1) { edges { node { text } } } } } }`,
	})})
	slowWrite(message{Type: "ping"})
	// Its connection_ack and pong say it is subscribed; then it stops.
	for _, want := range []string{"connection_ack", "pong"} {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		_, b, err := slowConn.Read(ctx)
		cancel()
		if err != nil || !strings.Contains(string(b), want) {
			t.Fatalf("slow client: want %s, got %s %v", want, b, err)
		}
	}
	before := e.feed.Subscribers()

	text := strings.Repeat("x", 32<<10)
	produced := 1 // version 1 is the conversation's creation, before the subscriptions
	deadline := time.Now().Add(60 * time.Second)
	for e.feed.Subscribers() == before {
		if time.Now().After(deadline) || produced > 5000 {
			t.Fatalf("the slow client was not cut off after %d events", produced-1)
		}
		produced++
		w.inbound("maria", fmt.Sprintf("m%d", produced), text)
	}
	t.Logf("the slow client was cut off after %d events", produced-1)
	// The slow client's subscription leaves the feed.
	waitFor(t, "the slow client's feed subscription to end", func() bool { return e.feed.Subscribers() == before-1 })

	// Reading again, the slow client finds what was sent before the close,
	// then the close: 1013 and the documented reason.
	slow := wsclient.Listen(t, slowConn)
	code, reason := slow.Closed()
	if code != websocket.StatusTryAgainLater || reason != "client too slow: reconnect and catch up" {
		t.Fatalf("slow client closed with %d %q", code, reason)
	}

	// The fast subscriber keeps up after the cut too.
	for range 3 {
		produced++
		w.inbound("maria", fmt.Sprintf("m%d", produced), "after")
	}
	waitFor(t, "the fast subscriber to get every event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(versions) == produced-1 || fastErr != nil
	})
	fast.Send(message{Type: "ping"})
	<-fastDone
	if fastErr != nil {
		t.Fatal(fastErr)
	}
	for i, v := range versions {
		if v != i+2 {
			t.Fatalf("the fast subscriber got versions %v, want 2..%d in order", versions, produced)
		}
	}
	if logged != "" && len(logs.lines(logged)) != 1 {
		t.Fatalf("want one log line with %q, got %q", logged, logs.lines(logged))
	}
}

// A client that reads, but more slowly than events come, finds the server's
// pings behind the messages it has not read yet: it is told it is too slow
// (1013), not that it is gone (1008).
func TestAPingBehindUnreadMessagesCloses1013(t *testing.T) {
	const interval = 300 * time.Millisecond
	e := newEnv(t, func(c *envConfig) {
		c.WebSocket.PingInterval = interval
		// Neither the queue nor the write timeout is what closes it.
		c.WebSocket.SendQueue = 1 << 20
		c.WebSocket.SendQueueBytes = 1 << 30
		c.WebSocket.WriteTimeout = time.Minute
	})
	w := e.newWorkspace("ws-proto")
	w.inbound("maria", "m0", "hello")
	rc := dialTCP(t, e, w.ben)
	// Its socket buffers little, so what it has not read waits at the
	// server.
	if tc, ok := rc.conn.(*net.TCPConn); ok {
		tc.SetReadBuffer(16 << 10)
	}
	var writing sync.Mutex
	send := func(opcode byte, payload []byte) {
		writing.Lock()
		defer writing.Unlock()
		rc.conn.SetWriteDeadline(time.Now().Add(wait))
		_ = rc.send(opcode, payload)
	}
	// It reads a frame every 50 ms, from the start, and answers each ping
	// it comes to.
	acked, closed := make(chan struct{}), make(chan frame, 1)
	var cut atomic.Bool
	go func() {
		for {
			if !cut.Load() {
				time.Sleep(50 * time.Millisecond)
			}
			rc.conn.SetReadDeadline(time.Now().Add(wait))
			f, err := rc.next()
			if err != nil {
				close(closed)
				return
			}
			switch {
			case f.opcode == opPing:
				send(opPong, f.payload)
			case f.opcode == opClose:
				closed <- f
				return
			case strings.Contains(string(f.payload), "connection_ack"):
				close(acked)
			}
		}
	}()
	<-acked
	before := e.feed.Subscribers()
	send(opText, mustJSON(message{ID: "q", Type: "subscribe", Payload: mustJSON(map[string]any{
		"query": `subscription { queueChanged(status: NEW) { conversation { id messages(last: 1) { edges { node { text } } } } } }`,
	})}))
	waitFor(t, "the subscription", func() bool { return e.feed.Subscribers() == before+1 })

	// Each event is 32 KiB: they come faster than it reads.
	text := strings.Repeat("x", 32<<10)
	for i := 1; e.feed.Subscribers() > before; i++ {
		if i > 5000 {
			t.Fatal("the slow reader was not closed after 5000 events")
		}
		w.inbound("maria", fmt.Sprintf("m%d", i), text)
	}

	// Once it is closed, it reads what is left at full speed.
	cut.Store(true)
	var f frame
	for f = range closed {
		break
	}
	if code, reason := f.closeStatus(); code != int(websocket.StatusTryAgainLater) || reason != "client too slow: reconnect and catch up" {
		t.Fatalf("closed with %d %q", code, reason)
	}
}

// A client that stops answering pings (a closed laptop: the socket is
// half-open) is closed within about two ping intervals: one until the ping,
// one waiting for its pong.
func TestHalfOpenSocketIsClosed(t *testing.T) {
	const interval = 400 * time.Millisecond
	e := newEnv(t, func(c *envConfig) { c.WebSocket.PingInterval = interval })
	w := e.newWorkspace("ws-proto")

	// A client that answers pings stays connected past several.
	live := e.dial(w.cleo)
	start := time.Now()
	rc := dialTCP(t, e, w.ben)
	var pings int
	var closedAfter time.Duration
	var code int
	var reason string
	for {
		f := rc.readFrame(t, 4*interval+wait)
		if f.opcode == opPing {
			pings++ // and no pong
		}
		if f.opcode == opClose {
			closedAfter = time.Since(start)
			code, reason = f.closeStatus()
			break
		}
	}
	rc.conn.Close()
	if code != int(websocket.StatusPolicyViolation) || reason != "ping unanswered" {
		t.Fatalf("closed with %d %q", code, reason)
	}
	if pings != 1 {
		t.Fatalf("%d pings before the close, want 1", pings)
	}
	if closedAfter < 2*interval-50*time.Millisecond || closedAfter > 2*interval+2*time.Second {
		t.Fatalf("closed %s after connecting, want about %s", closedAfter, 2*interval)
	}
	// The answering client is still there.
	live.Ready()
}

// waitFor polls cond until it holds, failing t after wait.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
