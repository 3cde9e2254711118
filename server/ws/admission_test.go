package ws_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"switchboard/server/ws"
)

// Sockets past the budget are refused at the upgrade with 503 and
// Retry-After, before anything of a connection is kept; a place that frees
// is given again. The refusing is logged when it starts and when it ends,
// not per socket.
func TestSocketsPastTheBudgetAreRefusedAtTheUpgrade(t *testing.T) {
	var logs logBuffer
	e := newEnv(t, func(c *envConfig) {
		c.WebSocket.Budget = ws.SocketBudget(2)
		c.log = logs.logger()
	})
	w := e.newWorkspace("ws-budget")
	first := e.dial(w.ben)
	second := e.dial(w.cleo)

	for range 3 {
		c, resp, err := e.dialConn([]string{"graphql-transport-ws"}, nil)
		if err == nil {
			c.CloseNow()
			t.Fatal("a third socket was accepted")
		}
		if resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "5" {
			t.Fatalf("refused with %v, %v", resp, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(body), "too many WebSocket connections: try again later") {
			t.Fatalf("body %q", body)
		}
	}
	if got := logs.lines("refusing new sockets"); len(got) != 1 || !strings.Contains(got[0], "sockets=2 max_sockets=2") {
		t.Fatalf("logged %q", got)
	}
	// Those admitted are served as ever.
	first.Ready()
	second.Ready()

	// One leaves: there is room again, said once, and its place is given.
	second.Close(1000, "")
	waitFor(t, "the end of the refusing to be logged", func() bool { return len(logs.lines("room again")) == 1 })
	if got := logs.lines("room again"); !strings.Contains(got[0], "refused_sockets=3") {
		t.Fatalf("logged %q", got)
	}
	again := e.dial(w.cleo)
	again.Ready()
	if n := len(logs.lines("refusing new sockets")); n != 1 {
		t.Fatalf("the refusing was logged %d times", n)
	}
}

// A subscription past the budget is answered with an error for its
// operation; the socket stays, and a subscription that ends makes room.
func TestSubscriptionsPastTheBudgetGetAnError(t *testing.T) {
	e := newEnv(t, func(c *envConfig) {
		// One socket, with room for two subscriptions.
		c.WebSocket.Budget = ws.Budget{Sockets: 4, Bytes: ws.SocketBytes + 2*ws.SubscriptionBytes, QueueBytes: 1 << 20}
	})
	w := e.newWorkspace("ws-budget")
	s := e.dial(w.ben)
	s.Subscribe("a", queueQuery, nil)
	s.Subscribe("b", queueQuery, nil)
	s.Subscribe("c", queueQuery, nil)
	m := s.Expect("error")
	if m.ID != "c" || !strings.Contains(string(m.Payload), "limit of subscriptions; try again later") ||
		!strings.Contains(string(m.Payload), `"code":"UNAVAILABLE"`) {
		t.Fatalf("error %+v %s", m, m.Payload)
	}
	// Queries are not subscriptions: they still run.
	s.Subscribe("q", `{ me { id } }`, nil)
	s.Next("q", nil)
	s.Expect("complete")

	s.Send(message{ID: "a", Type: "complete"})
	s.Ready()
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
