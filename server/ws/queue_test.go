package ws

import (
	"bytes"
	"log/slog"
	"testing"
)

// A connection's queue is bounded in messages and in bytes; a message
// larger than the byte bound goes out alone.
func TestSendQueueIsBoundedInMessagesAndBytes(t *testing.T) {
	s := New(Config{SendQueue: 4, SendQueueBytes: 1000, Budget: SocketBudget(10), Logger: slog.New(slog.DiscardHandler)})
	newQueue := func() *conn {
		cn := &conn{srv: s, cfg: &s.cfg}
		// As if a writer were busy with the first message: nothing is
		// written, so the queue only grows.
		cn.queue.writing = true
		return cn
	}
	msg := func(n int) []byte { return bytes.Repeat([]byte("x"), n) }

	cn := newQueue()
	for i := range 4 {
		if r := cn.enqueueBytes(msg(10)); r != queued {
			t.Fatalf("message %d: %v", i, r)
		}
	}
	if r := cn.enqueueBytes(msg(10)); r != refusedFull {
		t.Fatalf("a fifth message: %v", r)
	}

	cn = newQueue()
	if cn.enqueueBytes(msg(600)) != queued || cn.enqueueBytes(msg(400)) != queued {
		t.Fatal("1000 bytes refused")
	}
	if r := cn.enqueueBytes(msg(1)); r != refusedFull {
		t.Fatalf("a byte past the bound: %v", r)
	}

	cn = newQueue()
	if r := cn.enqueueBytes(msg(5000)); r != queued {
		t.Fatalf("a large message alone: %v", r)
	}
	if r := cn.enqueueBytes(msg(1)); r != refusedFull {
		t.Fatalf("after a large message: %v", r)
	}

	// What the queues held goes back to the server's budget when their
	// connections end; nothing is queued after.
	if q := s.budget.queued.Load(); q != 4*10+1000+5000 {
		t.Fatalf("the budget counts %d bytes queued", q)
	}
	cn.queue.discard(s.budget)
	if r := cn.enqueueBytes(msg(1)); r != refusedClosed {
		t.Fatalf("after discard: %v", r)
	}
	if q := s.budget.queued.Load(); q != 4*10+1000 {
		t.Fatalf("the budget counts %d bytes queued", q)
	}
}
