package ws

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"switchboard/domain"
)

// conn is one client connection.
type conn struct {
	srv     *Server
	cfg     *Config
	ws      *websocket.Conn
	dialect *dialect
	// headerToken is the token of the upgrade request, if it had one.
	headerToken string

	// ctx lives as long as the connection's loops; opsCtx is the parent of
	// its operations and ends as soon as the connection starts closing.
	ctx       context.Context
	cancel    context.CancelFunc
	opsCtx    context.Context
	cancelOps context.CancelFunc
	queue     sendQueue
	closeOnce sync.Once
	closed    chan struct{}

	// mu guards what connection_init settles, and the timers.
	mu       sync.Mutex
	initSeen bool
	acked    bool
	actor    domain.Actor
	timers   []domain.Timer
	// pinger fires the next ping; closing stops it for good.
	pinger  *time.Timer
	closing bool

	ops operations
}

func (s *Server) newConn(c *websocket.Conn, r *http.Request, d *dialect) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	opsCtx, cancelOps := context.WithCancel(ctx)
	return &conn{
		srv: s, cfg: &s.cfg, ws: c, dialect: d, headerToken: bearer(r.Header.Get("Authorization")),
		ctx: ctx, cancel: cancel, opsCtx: opsCtx, cancelOps: cancelOps,
		closed: make(chan struct{}),
		ops:    newOperations(),
	}
}

// run serves the connection until it closes: it reads the client's
// messages and acts on each in turn. Writes happen in a goroutine that
// runs while messages wait (writeQueued), pings in a timer's, and a
// subscription's events in goroutines that run while they come: an idle
// connection has this one goroutine.
func (cn *conn) run() {
	cn.armPing()
	cn.after(cn.cfg.InitTimeout, func() {
		cn.mu.Lock()
		seen := cn.initSeen
		cn.mu.Unlock()
		if !seen {
			cn.close(disconnectInitTimeout)
		}
	})
	for {
		_, data, err := cn.ws.Read(cn.ctx)
		if err != nil {
			if status := websocket.CloseStatus(err); status == -1 && cn.ctx.Err() == nil {
				cn.cfg.Logger.Debug("websocket read ended", "err", err)
			}
			cn.close(disconnectNormal)
			break
		}
		// Handled on a goroutine of its own, waited for: starting an
		// operation runs deep (validation, the resolver), and would grow
		// the reader's stack, held for as long as the socket is open.
		handled := make(chan struct{})
		go func() {
			defer close(handled)
			cn.handle(data)
		}()
		<-handled
	}
	<-cn.closed
	cn.ops.wait()
}

// handle acts on one client message.
func (cn *conn) handle(data []byte) {
	m, err := decodeMessage(data, cn.dialect)
	if err != nil {
		cn.close(disconnectInvalid(err))
		return
	}
	switch m.Kind {
	case kindInit:
		cn.init(m.Token)
	case kindPing:
		cn.enqueue(message{Type: cn.dialect.pong, Payload: m.Payload})
	case kindPong:
		// An answer to a protocol ping; the server pings at the WebSocket level.
	case kindStart:
		cn.start(m.ID, m.Operation)
	case kindStop:
		cn.stop(m.ID)
	case kindTerminate:
		cn.close(disconnectNormal)
	}
}

// session returns whether connection_init was acknowledged, and the caller
// it authenticated.
func (cn *conn) session() (acked bool, a domain.Actor) {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.acked, cn.actor
}

// caller returns the caller connection_init authenticated, if any.
func (cn *conn) caller() domain.Actor {
	_, a := cn.session()
	return a
}

// after arms a timer that lives as long as the connection.
func (cn *conn) after(d time.Duration, f func()) {
	t := cn.cfg.Clock.AfterFunc(d, f)
	cn.mu.Lock()
	cn.timers = append(cn.timers, t)
	cn.mu.Unlock()
}

// close closes the connection for reason, once. Operations stop at once;
// the close handshake runs in the background.
func (cn *conn) close(reason disconnect) (closed bool) {
	cn.closeOnce.Do(func() {
		closed = true
		cn.cancelOps()
		cn.mu.Lock()
		cn.closing = true
		for _, t := range cn.timers {
			t.Stop()
		}
		if cn.pinger != nil {
			cn.pinger.Stop()
		}
		cn.mu.Unlock()
		go func() {
			_ = closeWith(cn.ws, reason)
			cn.cancel()
			close(cn.closed)
		}()
	})
	return closed
}

// closeTooSlow closes the connection with 1013 and tells the observer why,
// unless it was closing already.
func (cn *conn) closeTooSlow(reason disconnect, why string) {
	if cn.close(reason) {
		cn.cfg.Observer.ClosedTooSlow(why)
	}
}

// enqueue queues a message for the client; a client whose queue is full is
// not reading, and is closed, as is one shed because the server's queues
// together hold too much.
func (cn *conn) enqueue(m message) {
	if cn.opsCtx.Err() != nil {
		return // closing: nothing more goes out
	}
	b, err := json.Marshal(m)
	if err != nil {
		cn.cfg.Logger.Error("encoding a websocket message", "err", err)
		cn.close(disconnectInternal)
		return
	}
	cn.enqueueEncoded(b)
}

// enqueuePayload queues an operation's message whose payload is encoded
// already (a result the subscribers of one view share): only the envelope
// is this connection's. It is the message enqueue would encode.
func (cn *conn) enqueuePayload(id, typ string, payload []byte) {
	if cn.opsCtx.Err() != nil {
		return
	}
	cn.enqueueEncoded(appendEnvelope(envelopePrefix(id, typ), payload))
}

// envelopePrefix is the start of an operation's message, up to its
// payload: {"id":…,"type":"…","payload":
func envelopePrefix(id, typ string) []byte {
	quotedID, _ := json.Marshal(id)
	b := make([]byte, 0, len(quotedID)+len(typ)+len(`{"id":,"type":"","payload":`))
	b = append(b, `{"id":`...)
	b = append(b, quotedID...)
	b = append(b, `,"type":"`...)
	b = append(b, typ...) // one of the dialect's, plain ASCII
	return append(b, `","payload":`...)
}

// appendEnvelope is the message of prefix (envelopePrefix) and payload, in
// a new slice.
func appendEnvelope(prefix, payload []byte) []byte {
	b := make([]byte, 0, len(prefix)+len(payload)+1)
	b = append(b, prefix...)
	b = append(b, payload...)
	return append(b, '}')
}

// enqueueEncoded queues an encoded message, or closes the connection whose
// queue refuses it.
func (cn *conn) enqueueEncoded(b []byte) {
	switch cn.enqueueBytes(b) {
	case refusedFull:
		cn.closeTooSlow(disconnectTooSlow, "send_queue")
	case refusedShed:
		cn.closeTooSlow(disconnectTooSlow, "budget")
	}
}

// armPing arms the next ping, unless the connection is closing.
func (cn *conn) armPing() {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	switch {
	case cn.closing:
	case cn.pinger == nil:
		cn.pinger = time.AfterFunc(cn.cfg.PingInterval, cn.ping)
	default:
		cn.pinger.Reset(cn.cfg.PingInterval)
	}
}

// ping pings the client; an unanswered ping closes the connection, and
// each answer is a sign of life, followed by the dialect's keep-alive if it
// has one. Then it arms the next.
func (cn *conn) ping() {
	ctx, cancel := context.WithTimeout(cn.opsCtx, cn.cfg.PingInterval)
	err := cn.ws.Ping(ctx)
	cancel()
	if err != nil {
		// With messages written shortly before the ping (half an interval
		// before it was sent), or still waiting, the ping waited behind
		// them: the client may be there but not reading, and is told so,
		// as when its queue fills.
		if cn.queue.behind(cn.cfg.PingInterval * 3 / 2) {
			cn.closeTooSlow(disconnectTooSlow, "ping_behind")
		} else {
			cn.close(disconnectPingUnanswered)
		}
		return
	}
	if acked, a := cn.session(); acked {
		if err := cn.cfg.Presence.Alive(cn.opsCtx, a); err != nil && cn.opsCtx.Err() == nil {
			cn.cfg.Logger.Warn("recording a sign of life", "err", err)
		}
		if ka := cn.dialect.keepAlive; ka != "" {
			cn.enqueue(message{Type: ka})
		}
	}
	cn.armPing()
}
