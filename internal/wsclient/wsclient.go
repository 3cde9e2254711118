// Package wsclient is the GraphQL WebSocket client of the tests: it speaks
// graphql-transport-ws, or the legacy graphql-ws, to a real server over a
// real socket, and fails the test at the first step that goes wrong. It is
// for tests only: in the production binary, server/ws alone imports
// coder/websocket (internal/archtest checks it).
package wsclient

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The subprotocols a Switchboard server speaks.
const (
	TransportWS = "graphql-transport-ws"
	LegacyWS    = "graphql-ws"
)

// Wait bounds how long a step waits for something that must happen. It is
// loose on purpose (a busy CI machine, -race): it only catches what does
// not happen at all.
const Wait = 10 * time.Second

// readLimit bounds one message from the server: results of hostile
// documents and subscription events with long texts are large, and the
// library's default (32 KiB) would end the read, not the test.
const readLimit = 4 << 20

// Message is one protocol message, in either direction.
type Message struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// JSON encodes v for a payload; it panics on what cannot be encoded, a
// mistake of the test.
func JSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Socket is a client connection whose messages a goroutine reads as they
// come (so the client answers pings, as a browser does) into a queue that
// the test reads with a deadline. It is closed when the test ends.
type Socket struct {
	t    testing.TB
	c    *websocket.Conn
	in   chan Message
	done chan struct{} // closed when reading ended; err says why
	err  error
}

// DialConn opens a WebSocket to url (ws://host/graphql) offering
// subprotocols, with header on the upgrade request, and reads nothing: for
// a test that plays a client that does not read. On failure it returns
// websocket.Dial's response and error.
func DialConn(t testing.TB, url string, subprotocols []string, header http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: subprotocols, HTTPHeader: header})
	if err != nil {
		return nil, resp, err
	}
	c.SetReadLimit(readLimit)
	t.Cleanup(func() { c.CloseNow() })
	return c, resp, nil
}

// Dial opens a socket as DialConn does and starts reading it; it sends
// nothing.
func Dial(t testing.TB, url string, subprotocols []string, header http.Header) (*Socket, *http.Response, error) {
	t.Helper()
	c, resp, err := DialConn(t, url, subprotocols, header)
	if err != nil {
		return nil, resp, err
	}
	return Listen(t, c), resp, nil
}

// Connect opens a socket on subprotocol, sends connection_init with token,
// and waits for the ack (and on the legacy protocol, for the keep-alive
// that follows it).
func Connect(t testing.TB, url, subprotocol, token string) *Socket {
	t.Helper()
	s, _, err := Dial(t, url, []string{subprotocol}, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	s.Init(map[string]any{"Authorization": "Bearer " + token})
	s.Expect("connection_ack")
	if subprotocol == LegacyWS {
		s.Expect("ka")
	}
	return s
}

// Listen starts reading c.
func Listen(t testing.TB, c *websocket.Conn) *Socket {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Socket{t: t, c: c, in: make(chan Message, 4096), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				s.err = err
				return
			}
			var m Message
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
	// Registered after DialConn's, so it runs first: the reader ends before
	// the test's own cleanups (a server shutdown, a leak check) run.
	t.Cleanup(func() { c.CloseNow(); cancel(); <-s.done })
	return s
}

// Subprotocol is the subprotocol the server agreed on ("" for none).
func (s *Socket) Subprotocol() string { return s.c.Subprotocol() }

// Messages are the messages read and not yet taken, for a test that reads
// in a goroutine of its own; Done and Err tell when and why reading ended.
func (s *Socket) Messages() <-chan Message { return s.in }

// Done is closed when reading has ended.
func (s *Socket) Done() <-chan struct{} { return s.done }

// Err is why reading ended, once Done is closed.
func (s *Socket) Err() error { return s.err }

// Close closes the connection with the close handshake.
func (s *Socket) Close(code websocket.StatusCode, reason string) error {
	return s.c.Close(code, reason)
}

// Init sends connection_init with payload.
func (s *Socket) Init(payload any) {
	s.t.Helper()
	s.Send(Message{Type: "connection_init", Payload: JSON(payload)})
}

// Send writes a message.
func (s *Socket) Send(m Message) {
	s.t.Helper()
	s.SendRaw(JSON(m))
}

// SendRaw writes a text frame.
func (s *Socket) SendRaw(b []byte) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	if err := s.c.Write(ctx, websocket.MessageText, b); err != nil {
		s.t.Fatalf("write: %v", err)
	}
}

// Subscribe starts an operation under id: subscribe, or start on the
// legacy protocol.
func (s *Socket) Subscribe(id, query string, vars map[string]any) {
	s.t.Helper()
	typ := "subscribe"
	if s.Subprotocol() == LegacyWS {
		typ = "start"
	}
	s.Send(Message{ID: id, Type: typ, Payload: JSON(map[string]any{"query": query, "variables": vars})})
}

// Read returns the next message, failing the test if none comes in time.
func (s *Socket) Read() Message {
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
	case <-time.After(Wait):
		s.t.Fatalf("read: no message within %s", Wait)
	}
	panic("unreachable")
}

// Expect reads the next message and requires its type.
func (s *Socket) Expect(typ string) Message {
	s.t.Helper()
	m := s.Read()
	if m.Type != typ {
		s.t.Fatalf("want %s, got %s %s %s", typ, m.Type, m.ID, m.Payload)
	}
	return m
}

// Next reads a message that must be a result of id (next, or data on the
// legacy protocol) without errors, and decodes its data into out.
func (s *Socket) Next(id string, out any) {
	s.t.Helper()
	typ := "next"
	if s.Subprotocol() == LegacyWS {
		typ = "data"
	}
	m := s.Read()
	if m.Type != typ || m.ID != id {
		s.t.Fatalf("want %s for %s, got %s %s %s", typ, id, m.Type, m.ID, m.Payload)
	}
	var r struct {
		Data   json.RawMessage `json:"data"`
		Errors []any           `json:"errors"`
	}
	if err := json.Unmarshal(m.Payload, &r); err != nil || len(r.Errors) > 0 {
		s.t.Fatalf("%s for %s: %s", typ, id, m.Payload)
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			s.t.Fatalf("decoding %s: %v", r.Data, err)
		}
	}
}

// Ready makes sure the messages sent so far were handled: the server
// handles a connection's messages in order (a subscription is listening
// before the next message is read), so once a ping sent after them is
// answered, they have been. The legacy protocol has no ping: a query
// started after them answers after them.
func (s *Socket) Ready() {
	s.t.Helper()
	if s.Subprotocol() == LegacyWS {
		s.Subscribe("ready", `{ me { id } }`, nil)
		s.Next("ready", nil)
		if m := s.Expect("complete"); m.ID != "ready" {
			s.t.Fatalf("want complete for ready, got %+v", m)
		}
		return
	}
	s.Send(Message{Type: "ping"})
	s.Expect("pong")
}

// Quiet requires that no message arrives for d and the connection stays
// open.
func (s *Socket) Quiet(d time.Duration) {
	s.t.Helper()
	select {
	case m := <-s.in:
		s.t.Fatalf("want no message for %s, got %s %s %s", d, m.Type, m.ID, m.Payload)
	case <-s.done:
		s.t.Fatalf("want the connection open, it ended: %v", s.err)
	case <-time.After(d):
	}
}

// Closed waits for the server to close the connection, skipping the
// messages before, and returns the close code and reason.
func (s *Socket) Closed() (websocket.StatusCode, string) {
	s.t.Helper()
	deadline := time.After(Wait)
	for {
		select {
		case <-s.in:
			continue
		case <-s.done:
		case <-deadline:
			s.t.Fatalf("the connection is still open after %s", Wait)
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

// ClosedWith requires the server to close the connection with code, and
// returns the reason.
func (s *Socket) ClosedWith(code websocket.StatusCode) string {
	s.t.Helper()
	got, reason := s.Closed()
	if got != code {
		s.t.Fatalf("close code %d (%q), want %d", got, reason, code)
	}
	return reason
}

// Drop ends the connection at once, without a close handshake: a client
// that went away.
func (s *Socket) Drop() { s.c.CloseNow() }

// T is the test the socket reports to.
func (s *Socket) T() testing.TB { return s.t }
