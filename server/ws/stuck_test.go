package ws

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// tooSlowObserver records why sockets were closed as too slow.
type tooSlowObserver struct {
	nopObserver
	mu  sync.Mutex
	why []string
}

func (o *tooSlowObserver) ClosedTooSlow(why string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.why = append(o.why, why)
}

// A write to a client that reads nothing, stuck once the sockets' buffers
// are full, ends within the write timeout and closes the connection as too
// slow, though no write carries a deadline of its own (writeWatch).
func TestAStuckWriteClosesTheSocketAfterTheWriteTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	obs := &tooSlowObserver{}
	s := New(Config{WriteTimeout: timeout, PingInterval: time.Hour, Observer: obs, Logger: slog.New(slog.DiscardHandler)})
	conns := make(chan *conn, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{transportWS.subprotocol}})
		if err != nil {
			t.Error(err)
			return
		}
		cn := s.newConn(c, r, transportWS)
		if !s.track(cn) {
			t.Error("not tracked")
			return
		}
		conns <- cn
		<-cn.closed
		s.untrack(cn)
	}))
	defer hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), &websocket.DialOptions{Subprotocols: []string{transportWS.subprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseNow()
	cn := <-conns

	// More than the sockets' buffers hold: the write is stuck until the
	// watch closes the socket under it.
	cn.queue.msgs = [][]byte{make([]byte, 64<<20)}
	cn.queue.writing = true
	began := time.Now()
	written := make(chan struct{})
	go func() {
		defer close(written)
		cn.writeQueued()
	}()
	select {
	case <-written:
	case <-time.After(30 * time.Second):
		t.Fatal("the stuck write did not end")
	}
	if took := time.Since(began); took < timeout {
		t.Errorf("the write ended after %v, before the timeout of %v", took, timeout)
	}
	select {
	case <-cn.closed:
	case <-time.After(30 * time.Second):
		t.Fatal("the connection did not close")
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.why) != 1 || obs.why[0] != "write_failed" {
		t.Fatalf("closed as too slow for %q", obs.why)
	}
	if cn.queue.writeStarted.Load() != 0 {
		t.Fatal("the write still counts as in flight")
	}
}
