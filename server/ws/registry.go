package ws

import (
	"context"
	"sync"

	"switchboard/domain"
)

// registry knows the open connections: every one, to close them all on
// shutdown, and an agent's, to close them when the agent is deactivated.
type registry struct {
	mu    sync.Mutex
	conns map[*conn]struct{}
	// byAgent finds the connections of an agent (workspace, id).
	byAgent  map[agentKey]map[*conn]struct{}
	shutdown bool
	// open counts the connections still being served, for Shutdown.
	open sync.WaitGroup
}

// agentKey is an agent's workspace and id.
type agentKey [2]string

func keyOf(a domain.Actor) agentKey { return agentKey{a.WorkspaceID, a.ID} }

func newRegistry() registry {
	return registry{conns: map[*conn]struct{}{}, byAgent: map[agentKey]map[*conn]struct{}{}}
}

// track adds a connection that is being served; false once shutdown has
// begun.
func (r *registry) track(cn *conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shutdown {
		return false
	}
	r.conns[cn] = struct{}{}
	r.open.Add(1)
	return true
}

// untrack removes a connection whose serving ended.
func (r *registry) untrack(cn *conn) {
	r.mu.Lock()
	delete(r.conns, cn)
	k := keyOf(cn.caller())
	if m := r.byAgent[k]; m != nil {
		if delete(m, cn); len(m) == 0 {
			delete(r.byAgent, k)
		}
	}
	r.mu.Unlock()
	r.open.Done()
}

// watchAgent makes notice find cn by its agent.
func (r *registry) watchAgent(cn *conn, a domain.Actor) {
	k := keyOf(a)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byAgent[k] == nil {
		r.byAgent[k] = map[*conn]struct{}{}
	}
	r.byAgent[k][cn] = struct{}{}
}

// notice closes the connections of an agent the change deactivated, on any
// instance: the change reaches every instance's feed. It never blocks.
func (r *registry) notice(e domain.Event) {
	a := e.Agent
	if a == nil || a.After.Active {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for cn := range r.byAgent[agentKey{a.After.WorkspaceID, a.After.ID}] {
		cn.close(disconnectDeactivated)
	}
}

// Connections returns how many connections are open.
func (r *registry) Connections() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.conns)
}

// Shutdown closes every connection with "going away" and waits for them to
// end, or for ctx.
func (r *registry) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.shutdown = true
	conns := make([]*conn, 0, len(r.conns))
	for cn := range r.conns {
		conns = append(conns, cn)
	}
	r.mu.Unlock()
	for _, cn := range conns {
		cn.close(disconnectShutdown)
	}
	done := make(chan struct{})
	go func() { r.open.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
