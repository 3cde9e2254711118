package ws

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"

	"switchboard/domain"
	"switchboard/feed"
)

// A connection that queues without writing, as in the queue's tests.
func queueingConn(s *Server) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	cn := &conn{srv: s, cfg: &s.cfg, dialect: transportWS, ctx: ctx, cancel: cancel, opsCtx: ctx, cancelOps: cancel}
	cn.queue.writing = true
	return cn
}

func (cn *conn) queued() []string {
	cn.queue.mu.Lock()
	defer cn.queue.mu.Unlock()
	var out []string
	for _, m := range cn.queue.msgs {
		out = append(out, string(m))
	}
	return out
}

// The subscribers of one view running one operation execute it once per
// event; each gets the result under its own id. Another view, another
// operation, another role executes on its own.
func TestSubscribersOfOneViewAndOperationShareOneExecution(t *testing.T) {
	s := New(Config{Logger: slog.New(slog.DiscardHandler)})
	agent := domain.Actor{WorkspaceID: "w", ID: "ben", Role: domain.RoleAgent}
	const query = `subscription { queueChanged(status: NEW) { kind } }`
	var executions atomic.Int64
	// subscriber is one subscription: its stream "executes" the operation
	// when its value is delivered, and sends the result.
	subscriber := func(id string, a domain.Actor, query string, vars map[string]any) (*conn, func(e *feed.Event, view string) bool) {
		cn := queueingConn(s)
		st := newSharedStream(context.Background(), cn, id, a, query, "", vars)
		return cn, func(e *feed.Event, view string) bool {
			return st.Share(e, view, func() bool {
				executions.Add(1)
				go func() {
					payload := []byte(`{"data":{"view":"` + view + `"}}`)
					cn.enqueuePayload(id, cn.dialect.next, payload)
					st.sent(payload)
				}()
				return true
			})
		}
	}

	ev := &feed.Event{}
	var conns []*conn
	var wg sync.WaitGroup
	for i := range 50 {
		cn, share := subscriber("q", domain.Actor{WorkspaceID: "w", ID: string(rune('a' + i)), Role: domain.RoleAgent}, query, map[string]any{"b": 1, "a": 2})
		conns = append(conns, cn)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !share(ev, "queue NEW") {
				t.Error("not delivered")
			}
		}()
	}
	wg.Wait()
	if n := executions.Load(); n != 1 {
		t.Fatalf("%d executions for one view and operation", n)
	}
	for _, cn := range conns {
		if got := cn.queued(); len(got) != 1 || got[0] != `{"id":"q","type":"next","payload":{"data":{"view":"queue NEW"}}}` {
			t.Fatalf("queued %q", got)
		}
	}

	for _, other := range []struct {
		name, view, query string
		actor             domain.Actor
		vars              map[string]any
	}{
		{"another view", "queue NEW mine", query, agent, nil},
		{"another operation", "queue NEW", `subscription { queueChanged(status: NEW) { kind cursor } }`, agent, nil},
		{"other variables", "queue NEW", query, agent, map[string]any{"a": 3}},
		{"another role", "queue NEW", query, domain.Actor{WorkspaceID: "w", ID: "ada", Role: domain.RoleAdmin}, nil},
	} {
		before := executions.Load()
		_, share := subscriber("x", other.actor, other.query, other.vars)
		if !share(ev, other.view) || executions.Load() != before+1 {
			t.Errorf("%s: not executed on its own", other.name)
		}
	}
	// The same variables written in another order are the same operation.
	before := executions.Load()
	cn, share := subscriber("y", agent, query, map[string]any{"a": 2, "b": 1})
	if !share(ev, "queue NEW") || executions.Load() != before {
		t.Error("the same variables executed again")
	}
	if got := cn.queued(); len(got) != 1 || got[0] != `{"id":"y","type":"next","payload":{"data":{"view":"queue NEW"}}}` {
		t.Fatalf("queued %q", got)
	}
}

// The envelope around a shared payload (encoded by json.Marshal, as the
// stream does) is the message enqueue would encode.
func TestEnqueuePayloadEncodesAsEnqueue(t *testing.T) {
	s := New(Config{Logger: slog.New(slog.DiscardHandler)})
	for _, id := range []string{"q", `a"b\c`, "<tag>&", "ünï"} {
		a, b := queueingConn(s), queueingConn(s)
		payload, _ := json.Marshal(map[string]any{"data": map[string]any{"x": "<y>"}})
		a.enqueue(message{ID: id, Type: "next", Payload: payload})
		b.enqueuePayload(id, "next", payload)
		if ga, gb := a.queued(), b.queued(); len(ga) != 1 || len(gb) != 1 || ga[0] != gb[0] {
			t.Errorf("%q: %q != %q", id, ga, gb)
		}
	}
}
