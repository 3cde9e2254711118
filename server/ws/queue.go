package ws

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// sendQueue is a connection's messages waiting to be written, in order. It
// is bounded in messages and in bytes, and it holds no memory while empty:
// an idle connection (most of them, most of the time) keeps neither a
// buffer nor a writer goroutine. A writer goroutine runs only while there
// is something to write.
type sendQueue struct {
	mu   sync.Mutex
	msgs [][]byte
	// bytes counts the bytes of msgs, the one being written included; the
	// server's budget holds the same bytes for this queue.
	bytes int64
	// writing is set while a writer goroutine runs.
	writing bool
	// discarded is set once the connection has ended: nothing is queued
	// or written after.
	discarded bool
	// lastWrite is when a message was last written (UnixNano).
	lastWrite atomic.Int64
	// writeStarted is when the write in flight began (UnixNano), 0 when
	// none is: the server's writeWatch closes a socket whose write has
	// run past the write timeout.
	writeStarted atomic.Int64
}

// Why a message was not queued.
type queueRefusal int

const (
	queued queueRefusal = iota
	// refusedClosed: the connection has ended.
	refusedClosed
	// refusedFull: the queue is at its bound in messages or in bytes.
	refusedFull
	// refusedShed: the server's queues together are over their budget,
	// and this one holds more than its share.
	refusedShed
)

// enqueue queues b for the client, or says why not; a client whose queue
// is full is not reading, and the caller closes it.
func (cn *conn) enqueueBytes(b []byte) queueRefusal {
	q := &cn.queue
	n := int64(len(b))
	q.mu.Lock()
	switch {
	case q.discarded:
		q.mu.Unlock()
		return refusedClosed
	case len(q.msgs) >= cn.cfg.SendQueue:
		q.mu.Unlock()
		return refusedFull
	// A message larger than the bound on its own still goes out when
	// nothing waits before it: its bytes exist already (an operation's
	// answer), and what the bound stops is messages piling up.
	case len(q.msgs) > 0 && q.bytes+n > cn.cfg.SendQueueBytes:
		q.mu.Unlock()
		return refusedFull
	case !cn.srv.budget.queue(q.bytes, n):
		q.mu.Unlock()
		return refusedShed
	}
	q.msgs = append(q.msgs, b)
	q.bytes += n
	start := !q.writing
	q.writing = true
	q.mu.Unlock()
	if start {
		go cn.writeQueued()
	}
	return queued
}

// writeQueued writes the queued messages in order, each within the write
// timeout (writeWatch), until the queue is empty or the connection is closing (its close
// frame goes next); a write that fails or times out closes the connection.
func (cn *conn) writeQueued() {
	q := &cn.queue
	for {
		q.mu.Lock()
		if len(q.msgs) == 0 || q.discarded || cn.opsCtx.Err() != nil {
			q.writing = false
			q.mu.Unlock()
			return
		}
		b := q.msgs[0]
		q.mu.Unlock()

		// Bounded by the server's write watch, not a context: a context
		// that can end costs timers and registrations on every write.
		// Closing the connection ends a write waiting for its turn.
		q.writeStarted.Store(time.Now().UnixNano())
		cn.srv.writing()
		err := cn.ws.Write(context.Background(), websocket.MessageText, b)
		q.writeStarted.Store(0)
		q.lastWrite.Store(time.Now().UnixNano())

		q.mu.Lock()
		if !q.discarded {
			q.msgs[0] = nil
			q.msgs = q.msgs[1:]
			if len(q.msgs) == 0 {
				// Let the backing array go: the next burst makes its own.
				q.msgs = nil
			}
			q.bytes -= int64(len(b))
			cn.srv.budget.unqueue(int64(len(b)))
		}
		if err != nil {
			q.writing = false
			q.mu.Unlock()
			cn.closeTooSlow(disconnectTooSlow, "write_failed")
			return
		}
		q.mu.Unlock()
	}
}

// behind reports whether messages were written within d, wait to be
// written, or one is being written: a ping sent now would reach the client
// after them.
func (q *sendQueue) behind(d time.Duration) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.writing || len(q.msgs) > 0 || time.Since(time.Unix(0, q.lastWrite.Load())) < d
}

// discard drops what is still queued once the connection has ended, and
// gives its bytes back to the server's budget.
func (q *sendQueue) discard(b *budget) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.discarded = true
	b.unqueue(q.bytes)
	q.msgs, q.bytes = nil, 0
}
