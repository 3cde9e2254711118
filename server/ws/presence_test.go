package ws_test

import (
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"

	"switchboard/domain"
)

// Presence with real sockets on the real clock: an agent whose every socket
// is gone goes OFFLINE by itself once the presence timeout has passed since
// their last sign of life (the last pong), not before; a reconnect within
// the timeout changes nothing.
func TestDroppedSocketsTakeTheAgentOfflineAfterTheTimeout(t *testing.T) {
	const timeout = 1500 * time.Millisecond
	e := newEnv(t, func(c *envConfig) {
		c.realClock, c.presenceTimeout, c.jobs = true, timeout, true
	})
	// The server's own ping interval: a third of the timeout.
	const pingInterval = timeout / 3
	w := e.newWorkspace("ws-presence")

	watcher := e.dial(w.cleo)
	watcher.Subscribe("p", `subscription { presenceChanged { id presence presenceSince } }`, nil)
	watcher.Ready()
	type presenceEvent struct {
		PresenceChanged struct {
			ID, Presence  string
			PresenceSince time.Time
		}
	}
	var ev presenceEvent

	// Two sockets of Ben: the first signs him in, the second changes nothing.
	open := func() (*socket, *rawClient) {
		t.Helper()
		s := e.dial(w.ben)
		raw := dialTCP(t, e, w.ben)
		if f := raw.readFrame(t, wait); f.opcode != opText || string(f.payload) != `{"type":"connection_ack"}` {
			t.Fatalf("raw socket: %d %s", f.opcode, f.payload)
		}
		go answerPings(raw)
		return s, raw
	}
	// drop closes one socket with the close handshake and drops the other's
	// TCP connection without a close frame.
	drop := func(s *socket, raw *rawClient) time.Time {
		t.Helper()
		at := time.Now()
		if err := s.Close(websocket.StatusNormalClosure, "bye"); err != nil {
			t.Fatalf("closing: %v", err)
		}
		raw.conn.Close()
		return at
	}
	s, raw := open()
	watcher.Next("p", &ev)
	if ev.PresenceChanged.ID != "ben" || ev.PresenceChanged.Presence != "ONLINE" {
		t.Fatalf("Ben opening sockets: %+v", ev)
	}

	// Both dropped, and a reconnect within the timeout: no event at all,
	// for well past the timeout and a presence sweep.
	dropped := drop(s, raw)
	watcher.Quiet(timeout / 5)
	s, raw = open()
	watcher.Quiet(time.Until(dropped.Add(timeout + domain.PresenceSweepInterval + time.Second)))
	if p := e.presenceOf(w, "ben"); p.Presence != domain.Online {
		t.Fatalf("Ben after reconnecting: %+v", p)
	}

	// Both dropped for good: OFFLINE as of the last sign of life plus the
	// timeout, announced once that moment has passed, and not before.
	dropped = drop(s, raw)
	watcher.Next("p", &ev)
	arrived := time.Now()
	if ev.PresenceChanged.ID != "ben" || ev.PresenceChanged.Presence != "OFFLINE" {
		t.Fatalf("after the drop: %+v", ev)
	}
	ben := e.presenceOf(w, "ben")
	since := ev.PresenceChanged.PresenceSince
	if !since.Equal(ben.LastSeenAt.Add(timeout)) || !ben.PresenceSince.Equal(since) {
		t.Fatalf("presenceSince %s, want the last sign of life %s plus %s (stored: %s)", since, ben.LastSeenAt, timeout, ben.PresenceSince)
	}
	// The last sign of life is the last pong before the drop: within a ping
	// interval of it (plus slack for a slow machine).
	const slack = 500 * time.Millisecond
	if lastPong := dropped.Sub(ben.LastSeenAt); lastPong < -slack || lastPong > pingInterval+slack {
		t.Fatalf("last sign of life %s, %s before the drop at %s", ben.LastSeenAt, lastPong, dropped)
	}
	if arrived.Before(since) {
		t.Fatalf("OFFLINE arrived at %s, before the timeout had passed (%s)", arrived, since)
	}
	if early := arrived.Sub(dropped); early < timeout-pingInterval-slack {
		t.Fatalf("OFFLINE arrived %s after the drop, before the timeout (%s) less a ping interval", early, timeout)
	}
	if late := arrived.Sub(since); late > domain.PresenceSweepInterval+time.Second {
		t.Fatalf("OFFLINE arrived %s after the timeout had passed", late)
	}
	t.Logf("dropped at %s; last pong %s before; OFFLINE as of %s after the drop, announced %s after the drop",
		dropped.Format("15:04:05.000"), dropped.Sub(ben.LastSeenAt), since.Sub(dropped), arrived.Sub(dropped))

	// Everyone reading agents sees it too.
	var out struct {
		Agents []struct {
			ID, Presence  string
			PresenceSince time.Time
		}
	}
	e.post(w.cleo, `{ agents { id presence presenceSince } }`, nil, &out)
	for _, a := range out.Agents {
		if a.ID == "ben" && (a.Presence != "OFFLINE" || !a.PresenceSince.Equal(since)) {
			t.Fatalf("agents: %+v", a)
		}
	}
	watcher.Quiet(100 * time.Millisecond)
}

// presenceOf reads an agent's record from the store.
func (e *env) presenceOf(w *workspace, id string) domain.Agent {
	e.t.Helper()
	agents, err := e.store.AgentsByIDs(context.Background(), w.id, []string{id})
	if err != nil || len(agents) != 1 || agents[0] == nil {
		e.t.Fatalf("reading agent %s: %v", id, err)
	}
	return *agents[0]
}

// answerPings answers the server's pings on a raw socket until it is closed,
// like a healthy client.
func answerPings(c *rawClient) {
	for {
		c.conn.SetReadDeadline(time.Now().Add(time.Minute))
		f, err := c.next()
		if err != nil {
			return
		}
		if f.opcode == opPing {
			if c.send(opPong, f.payload) != nil {
				return
			}
		}
	}
}
