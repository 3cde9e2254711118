// A small graphql-transport-ws client over the browser's WebSocket: the
// token goes in connection_init; subscriptions are started with subscribe
// and fed by next/error/complete; pings are answered. A dropped socket is
// reopened with backoff and its subscriptions are started again; each
// subscription's onActive then runs, so its view can query what it missed.
//
// A subscription given a position function (the position of each event it
// receives) resumes instead: it is started again with `since` set to the
// last position it received (or, before its first event, the last one the
// socket had received when it was started: positions are the workspace's,
// and anything after it that the view selects is replayed, which the view
// takes by version), the server replays what the socket missed, and
// onActive(true) says the view is caught up without a query. When the
// server no longer keeps that far back (an error with code RESET), it is
// started afresh and onActive(false) asks the view to refetch.
//
// "Active" is exact: the server starts each subscribe before it reads the
// next message, so the pong to a ping sent right after the subscribe
// messages means they are all listening. A query made after that misses
// nothing.

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 15000;
const HEARTBEAT_MS = 20000;
const PONG_TIMEOUT_MS = 10000;

export class LiveSocket {
  // onStatus(status): 'connecting' | 'live' | 'reconnecting' | 'closed'.
  // onRefused(reason): the server refused the token or the agent (4401/4403).
  constructor({ url, token, onStatus = () => {}, onRefused = () => {} }) {
    this.url = url;
    this.token = token;
    this.onStatus = onStatus;
    this.onRefused = onRefused;
    this.subs = new Map();
    this.nextId = 1;
    this.nextPing = 1;
    this.waiting = new Map(); // ping number → callback on its pong
    this.attempt = 0;
    this.ws = null;
    this.acked = false;
    this.stopped = false;
    this.timer = null;
    this.heartbeat = null;
    this.status = '';
    this.lastSeen = null; // the last position received, of any subscription
    this.onOnline = () => this.reconnectNow();
    window.addEventListener('online', this.onOnline);
    this.connect();
  }

  get live() {
    return this.acked;
  }

  setStatus(status) {
    if (status !== this.status) {
      this.status = status;
      this.onStatus(status);
    }
  }

  connect() {
    clearTimeout(this.timer);
    this.setStatus(this.everAcked ? 'reconnecting' : 'connecting');
    const ws = new WebSocket(this.url, 'graphql-transport-ws');
    this.ws = ws;
    ws.onopen = () => this.send({ type: 'connection_init', payload: { Authorization: `Bearer ${this.token}` } });
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onclose = (ev) => this.closed(ev.code, ev.reason);
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  receive(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    const sub = msg.id ? this.subs.get(msg.id) : null;
    switch (msg.type) {
      case 'connection_ack':
        this.acked = true;
        this.everAcked = true;
        this.attempt = 0;
        this.startHeartbeat();
        for (const [id, s] of this.subs) this.sendSubscribe(id, s);
        this.barrier(() => {
          this.setStatus('live');
          for (const s of this.subs.values()) s.handlers.onActive?.(s.resuming);
        });
        break;
      case 'ping':
        this.send({ type: 'pong' });
        break;
      case 'pong': {
        const n = msg.payload?.n;
        const done = this.waiting.get(n);
        this.waiting.delete(n);
        done?.();
        break;
      }
      case 'next':
        if (sub) {
          if (msg.payload?.data && sub.position) {
            const p = sub.position(msg.payload.data);
            if (p) sub.last = this.lastSeen = p;
          }
          if (msg.payload?.data) sub.handlers.next?.(msg.payload.data);
          if (msg.payload?.errors) sub.handlers.error?.(msg.payload.errors);
        }
        break;
      case 'error':
        if (sub && sub.resuming && Array.isArray(msg.payload) && msg.payload.some((e) => e?.extensions?.code === 'RESET')) {
          // Too far back: start afresh, and the view refetches.
          sub.last = sub.from = null;
          this.sendSubscribe(msg.id, sub);
          this.barrier(() => this.subs.get(msg.id) === sub && sub.handlers.onActive?.(false));
          break;
        }
        if (sub) {
          this.subs.delete(msg.id);
          sub.handlers.error?.(msg.payload);
        }
        break;
      case 'complete':
        if (sub) {
          this.subs.delete(msg.id);
          sub.handlers.complete?.();
        }
        break;
    }
  }

  // barrier runs done when the server has read every message sent so far.
  barrier(done) {
    const n = this.nextPing++;
    this.waiting.set(n, done);
    this.send({ type: 'ping', payload: { n } });
  }

  startHeartbeat() {
    clearInterval(this.heartbeat);
    // The server pings too (its pings keep our presence), but a browser
    // does not tell the page about them: our own ping notices a dead
    // connection (a laptop that slept) on this side.
    this.heartbeat = setInterval(() => {
      const ws = this.ws;
      let answered = false;
      this.barrier(() => {
        answered = true;
      });
      setTimeout(() => {
        if (!answered && this.ws === ws && this.acked) this.drop();
      }, PONG_TIMEOUT_MS);
    }, HEARTBEAT_MS);
  }

  // drop abandons a socket that does not answer and reconnects.
  drop() {
    const ws = this.ws;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onopen = null;
      try {
        ws.close(4000, 'no answer');
      } catch {
        // already closed
      }
    }
    this.closed(4000, 'no answer');
  }

  closed(code, reason) {
    this.ws = null;
    this.acked = false;
    this.waiting.clear();
    clearInterval(this.heartbeat);
    if (this.stopped) return;
    if (code === 4401 || code === 4403) {
      this.stop();
      this.onRefused(reason || 'Forbidden');
      return;
    }
    this.setStatus('reconnecting');
    const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** this.attempt);
    this.attempt++;
    this.timer = setTimeout(() => this.connect(), delay * (0.75 + Math.random() / 2));
  }

  reconnectNow() {
    if (this.stopped || this.ws) return;
    this.attempt = 0;
    this.connect();
  }

  sendSubscribe(id, s) {
    // The first time it starts from now; then from where it was.
    const since = s.started ? s.last || s.from : null;
    s.started = true;
    s.resuming = Boolean(since);
    const variables = since ? { ...s.variables, since } : s.variables;
    this.send({ id, type: 'subscribe', payload: { query: s.query, variables } });
  }

  // subscribe starts a subscription. handlers: next(data), error(errors),
  // complete(), onActive(resumed) — each time it is listening (again);
  // resumed is true when it picked up after the last event received, so
  // nothing was missed. position(data), when given, returns an event's
  // position: the query must then take a `$since: String` variable.
  subscribe(query, variables, handlers, position = null) {
    const id = String(this.nextId++);
    const s = { query, variables, handlers, position, last: null, from: position && this.lastSeen, started: false, resuming: false };
    this.subs.set(id, s);
    if (this.acked) {
      this.sendSubscribe(id, s);
      this.barrier(() => this.subs.get(id) === s && handlers.onActive?.(false));
    }
    return () => {
      if (this.subs.delete(id) && this.acked) this.send({ id, type: 'complete' });
    };
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.heartbeat);
    window.removeEventListener('online', this.onOnline);
    const ws = this.ws;
    this.ws = null;
    this.acked = false;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onopen = null;
      ws.close(1000, 'signed out');
    }
    this.setStatus('closed');
  }
}
