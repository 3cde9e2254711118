package ws

import (
	"sync/atomic"
	"time"
)

// writeWatch bounds each message write by the write timeout with one timer
// for the whole server, instead of a timeout context per write: a context
// with a deadline costs a timer, a cancel registration with the
// connection's context and, inside the WebSocket library, another one to
// close the socket when it ends; at an event to thousands of sockets that
// was a tenth of the server's CPU. Writers only stamp when their write
// began (sendQueue.writeStarted), and the timer, armed while any write is
// in flight, closes the sockets whose write has run past the timeout,
// within a quarter of it.
type writeWatch struct {
	armed atomic.Bool
}

// watchPeriod is how often the watch looks while writes are in flight; a
// tiny write timeout does not make it spin.
func (s *Server) watchPeriod() time.Duration {
	return max(s.cfg.WriteTimeout/4, time.Millisecond)
}

// writing arms the watch, if it is not, for a write that has begun (its
// start stamped first).
func (s *Server) writing() {
	if !s.watch.armed.Load() && s.watch.armed.CompareAndSwap(false, true) {
		time.AfterFunc(s.watchPeriod(), s.sweepWrites)
	}
}

// sweepWrites closes the sockets whose write has run past the timeout, and
// looks again later while any write is in flight.
func (s *Server) sweepWrites() {
	if s.closeStuck() {
		time.AfterFunc(s.watchPeriod(), s.sweepWrites)
		return
	}
	s.watch.armed.Store(false)
	// A write that began after the look above found the watch armed and
	// armed nothing: look once more, after disarming, so that either the
	// writer or this look arms it again.
	if s.closeStuck() && s.watch.armed.CompareAndSwap(false, true) {
		time.AfterFunc(s.watchPeriod(), s.sweepWrites)
	}
}

// closeStuck closes the sockets whose write began more than the write
// timeout ago, and reports whether any write is in flight.
func (s *Server) closeStuck() (inFlight bool) {
	now := time.Now().UnixNano()
	limit := int64(s.cfg.WriteTimeout)
	var stuck []*conn
	s.registry.mu.Lock()
	for cn := range s.conns {
		if began := cn.queue.writeStarted.Load(); began != 0 {
			inFlight = true
			if now-began > limit {
				stuck = append(stuck, cn)
			}
		}
	}
	s.registry.mu.Unlock()
	for _, cn := range stuck {
		// As the library does when a write's context ends: the socket
		// is closed under the write, which fails, and the writer closes
		// the connection as too slow.
		go cn.ws.CloseNow()
	}
	return inFlight
}
