package app

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// conns knows the connections the App's HTTP server accepted and has not
// closed, those handed over to WebSockets included: http.Server's Shutdown
// neither waits for nor closes a hijacked connection, and its Close leaves
// them open too, so only this can cut a socket whose client stopped
// reading.
type conns struct {
	mu   sync.Mutex
	open map[*conn]struct{}
}

func newConns() *conns { return &conns{open: map[*conn]struct{}{}} }

// conn is an accepted connection that leaves conns when it is closed.
type conn struct {
	net.Conn
	set       *conns
	hijacked  atomic.Bool
	closeOnce sync.Once
}

func (c *conn) Close() error {
	c.closeOnce.Do(func() {
		c.set.mu.Lock()
		delete(c.set.open, c)
		c.set.mu.Unlock()
	})
	return c.Conn.Close()
}

// CloseWrite keeps the half-close of a TCP connection, with which
// http.Server lets a client read an answer sent before the body it did
// not read (413), instead of resetting the connection under it.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// listener puts every connection it accepts in its conns.
type listener struct {
	net.Listener
	set *conns
}

func (l listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c := &conn{Conn: nc, set: l.set}
	l.set.mu.Lock()
	l.set.open[c] = struct{}{}
	l.set.mu.Unlock()
	return c, nil
}

// connState is the HTTP server's ConnState hook: it notes which
// connections became WebSockets.
func (s *conns) connState(nc net.Conn, state http.ConnState) {
	if c, ok := nc.(*conn); ok && state == http.StateHijacked {
		c.hijacked.Store(true)
	}
}

// cut closes every connection still open and says how many were
// WebSockets and how many plain HTTP (a request still running or still
// being sent).
func (s *conns) cut() (sockets, requests int) {
	s.mu.Lock()
	left := make([]*conn, 0, len(s.open))
	for c := range s.open {
		left = append(left, c)
	}
	s.mu.Unlock()
	for _, c := range left {
		if c.hijacked.Load() {
			sockets++
		} else {
			requests++
		}
		_ = c.Close()
	}
	return sockets, requests
}
