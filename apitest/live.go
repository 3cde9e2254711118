package apitest

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Socket is a graphql-transport-ws client connection of a test.
type Socket struct {
	t   testing.TB
	c   *websocket.Conn
	ctx context.Context
}

// WSMessage is one protocol message.
type WSMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// wait bounds how long a test waits for something that must happen.
const wait = 10 * time.Second

// DialRaw opens a WebSocket to the server with the given subprotocols and
// headers, without any protocol message.
func (e *Env) DialRaw(subprotocols []string, header http.Header) (*Socket, *http.Response, error) {
	e.T.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	url := "ws" + strings.TrimPrefix(e.Server.URL, "http") + "/graphql"
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: subprotocols, HTTPHeader: header})
	if err != nil {
		cancel()
		return nil, resp, err
	}
	s := &Socket{t: e.T, c: c, ctx: ctx}
	e.T.Cleanup(func() { c.CloseNow(); cancel() })
	return s, resp, nil
}

// Dial opens a graphql-transport-ws connection for c and waits for its
// connection_ack.
func (c *Client) Dial() *Socket {
	c.env.T.Helper()
	s, _, err := c.env.DialRaw([]string{"graphql-transport-ws"}, nil)
	if err != nil {
		c.env.T.Fatalf("dial: %v", err)
	}
	s.Send(WSMessage{Type: "connection_init", Payload: mustJSON(map[string]any{"Authorization": "Bearer " + c.Token})})
	if m := s.Read(); m.Type != "connection_ack" {
		c.env.T.Fatalf("want connection_ack, got %+v", m)
	}
	return s
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Send writes a message.
func (s *Socket) Send(m WSMessage) {
	s.t.Helper()
	s.SendRaw(mustJSON(m))
}

// SendRaw writes a text frame.
func (s *Socket) SendRaw(b []byte) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, wait)
	defer cancel()
	if err := s.c.Write(ctx, websocket.MessageText, b); err != nil {
		s.t.Fatalf("write: %v", err)
	}
}

// Read returns the next message, failing the test if none comes in time.
func (s *Socket) Read() WSMessage {
	s.t.Helper()
	m, err := s.TryRead(wait)
	if err != nil {
		s.t.Fatalf("read: %v", err)
	}
	return m
}

// TryRead returns the next message or the error that ended the wait.
func (s *Socket) TryRead(d time.Duration) (WSMessage, error) {
	ctx, cancel := context.WithTimeout(s.ctx, d)
	defer cancel()
	_, b, err := s.c.Read(ctx)
	if err != nil {
		return WSMessage{}, err
	}
	var m WSMessage
	if err := json.Unmarshal(b, &m); err != nil {
		s.t.Fatalf("not a protocol message: %s", b)
	}
	return m, nil
}

// Closed waits for the server to close the connection and returns the
// close code and reason.
func (s *Socket) Closed() (websocket.StatusCode, string) {
	s.t.Helper()
	for {
		_, err := s.TryRead(wait)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if ok := asCloseError(err, &ce); ok {
			return ce.Code, ce.Reason
		}
		s.t.Fatalf("connection ended without a close frame: %v", err)
	}
}

func asCloseError(err error, ce *websocket.CloseError) bool {
	code := websocket.CloseStatus(err)
	if code == -1 {
		return false
	}
	ce.Code = code
	if i := strings.Index(err.Error(), "reason = "); i >= 0 {
		ce.Reason = err.Error()[i+len("reason = "):]
	}
	return true
}

// Subscribe starts an operation with id.
func (s *Socket) Subscribe(id, query string, vars map[string]any) {
	s.t.Helper()
	s.Send(WSMessage{ID: id, Type: "subscribe", Payload: mustJSON(map[string]any{"query": query, "variables": vars})})
}

// Next waits for the next message and requires it to be a `next` of id
// without errors; it decodes its data into out.
func (s *Socket) Next(id string, out any) {
	s.t.Helper()
	m := s.Read()
	if m.Type != "next" || m.ID != id {
		s.t.Fatalf("want next for %s, got %s %s %s", id, m.Type, m.ID, m.Payload)
	}
	var r struct {
		Data   json.RawMessage `json:"data"`
		Errors []Error         `json:"errors"`
	}
	if err := json.Unmarshal(m.Payload, &r); err != nil || len(r.Errors) > 0 {
		s.t.Fatalf("next for %s: %s", id, m.Payload)
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			s.t.Fatalf("decoding %s: %v", r.Data, err)
		}
	}
}

// Ready makes sure the subscriptions sent so far are running: the server
// handles a connection's messages in order, so once a ping sent after them
// is answered, they have subscribed.
func (s *Socket) Ready() {
	s.t.Helper()
	s.Send(WSMessage{Type: "ping"})
	if m := s.Read(); m.Type != "pong" {
		s.t.Fatalf("want pong, got %+v", m)
	}
}
