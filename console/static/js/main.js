// The agent console: sign-in, then a session — the top bar (my presence,
// log out), the inbox (queue and conversation side by side) and the admin
// page, kept live by subscriptions over one WebSocket.
import { Api, describe } from './api.js';
import { h, replace } from './dom.js';
import { dot, refreshTimes, presenceWords } from './format.js';
import { LiveSocket } from './live.js';
import * as Q from './queries.js';
import { toast, toastError } from './toast.js';
import { mountAdmin } from './views/admin.js';
import { mountConversation, emptyConversation } from './views/conversation.js';
import { checkMissed } from './views/missed.js';
import { mountQueue } from './views/queue.js';
import { mountSignIn } from './views/signin.js';

const TOKEN_KEY = 'switchboard.token';
const STATUSES = ['NEW', 'PENDING', 'RESOLVED'];

const topbar = document.getElementById('topbar');
const main = document.getElementById('main');
let session = null;

function showSignIn(message, kind = 'error') {
  topbar.hidden = true;
  topbar.replaceChildren();
  document.title = 'Sign in · Switchboard';
  mountSignIn(main, { message, kind, signIn });
}

// signIn checks a token with `me` and starts a session; it returns the
// reason when the token will not do.
async function signIn(token) {
  token = token.trim().replace(/^Bearer\s+/i, '');
  if (!token) return 'Paste a token first.';
  let me;
  try {
    ({ me } = await new Api(token).request(Q.ME));
  } catch (err) {
    sessionStorage.removeItem(TOKEN_KEY);
    if (err.code === 'UNAUTHENTICATED') return 'This token was not accepted: it is malformed, signed with another key, or expired.';
    if (err.code === 'FORBIDDEN') return 'This token cannot use the console: it belongs to a channel integration, or to an agent who was deactivated.';
    return describe(err);
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  session = new Session(token, me);
  return '';
}

class Session {
  constructor(token, me) {
    this.me = me;
    this.workspace = workspaceOf(token);
    this.agents = new Map();
    this.listeners = new Map();
    this.api = new Api(token, { onSignedOut: (err) => this.end(describe(err)) });
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    this.live = new LiveSocket({
      url: `${scheme}//${location.host}/graphql`,
      token,
      onStatus: (s) => this.renderConnection(s),
      onRefused: (reason) => this.end(/expired/i.test(reason)
        ? 'Your sign-in has expired; sign in again with a new token.'
        : 'The server closed the session: this account may no longer sign in.'),
    });
    this.stops = [
      // Resumed after a drop, they replay what was missed: a refetch only
      // when they could not (onActive(false)).
      this.live.subscribe(Q.PRESENCE_CHANGED, {}, {
        next: (d) => this.agentChanged(d.presenceChanged),
        onActive: (resumed) => resumed || this.loadAgents(),
      }, (d) => d.presenceChanged.position),
      // Every change to any conversation, for an open conversation;
      // onActive(false) also means "refetch after a reconnect".
      ...STATUSES.map((status) => this.live.subscribe(Q.ANY_CHANGE, { status }, {
        next: (d) => this.emit('conversation', d.queueChanged.conversation),
        onActive: (resumed) => resumed || this.emit('caught-up'),
      }, (d) => d.queueChanged.position)),
    ];
    this.page = h('div', { class: 'page' });
    this.notices = h('div', { class: 'notices' });
    replace(main, this.notices, this.page);
    this.renderTopbar();
    this.loadAgents();
    checkMissed(this);
    this.onHash = () => this.route();
    window.addEventListener('hashchange', this.onHash);
    this.route();
  }

  // A tiny event bus: 'agents', 'conversation' ({id, version, status}),
  // 'caught-up'.
  on(name, fn) {
    if (!this.listeners.has(name)) this.listeners.set(name, new Set());
    this.listeners.get(name).add(fn);
    return () => this.listeners.get(name).delete(fn);
  }

  emit(name, detail) {
    for (const fn of this.listeners.get(name) || []) fn(detail);
  }

  get isAdmin() {
    return this.me.role === 'ADMIN';
  }

  async loadAgents() {
    try {
      const { agents } = await this.api.request(Q.AGENTS);
      this.agents = new Map(agents.map((a) => [a.id, a]));
      const mine = this.agents.get(this.me.id);
      if (mine) this.me.presence = mine.presence;
      this.agentsUpdated();
    } catch (err) {
      if (!err.signedOut) toastError(describe(err));
    }
  }

  agentChanged(a) {
    if (!a.active) this.agents.delete(a.id);
    else this.agents.set(a.id, { ...this.agents.get(a.id), ...a });
    if (a.id === this.me.id) {
      const was = this.me.presence;
      this.me.presence = a.presence;
      // Back from OFFLINE: assignments may have come meanwhile.
      if (was === 'OFFLINE' && a.presence !== 'OFFLINE') checkMissed(this);
    }
    this.agentsUpdated();
  }

  agentsUpdated() {
    for (const el of document.querySelectorAll('.dot[data-agent]')) {
      const a = this.agents.get(el.dataset.agent);
      if (a) el.replaceWith(dot(a.presence, a.id, el.dataset.decorative === 'true'));
    }
    this.renderPresence();
    this.emit('agents');
  }

  // agentList is the active agents, by name.
  agentList() {
    return [...this.agents.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  renderTopbar() {
    this.connection = h('span', { class: 'connection', role: 'status' });
    this.presence = h('div', { class: 'me' });
    this.nav = h('nav', { class: 'main-nav', 'aria-label': 'Main' },
      h('a', { href: '#/queue/NEW', dataset: { page: 'inbox' } }, 'Inbox'),
      this.isAdmin && h('a', { href: '#/admin', dataset: { page: 'admin' } }, 'Admin'));
    replace(topbar,
      h('div', { class: 'brand' }, h('span', { class: 'logo', 'aria-hidden': 'true' }), 'Switchboard',
        this.workspace && h('span', { class: 'workspace', title: 'Workspace' }, this.workspace)),
      this.nav, this.connection, this.presence);
    topbar.hidden = false;
    this.renderConnection(this.live.status);
    this.renderPresence();
  }

  renderConnection(status) {
    if (!this.connection) return;
    const words = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…', closed: 'Offline' };
    this.connection.dataset.status = status || 'connecting';
    replace(this.connection, h('span', { class: 'pulse', 'aria-hidden': 'true' }), words[status] || 'Connecting…');
    document.body.dataset.live = String(status === 'live');
  }

  renderPresence() {
    if (!this.presence) return;
    const p = this.me.presence;
    const choice = (value) => h('button', {
      type: 'button', class: 'seg', 'aria-pressed': String(p === value), onclick: () => this.setPresence(value),
    }, dot(value, null, true), presenceWords[value]);
    replace(this.presence,
      h('span', { class: 'me-name' }, dot(p, this.me.id), this.me.name),
      h('div', { class: 'segmented', role: 'group', 'aria-label': 'My presence' }, choice('ONLINE'), choice('AWAY')),
      h('button', { type: 'button', class: 'quiet', onclick: () => this.logout() }, 'Log out'));
  }

  async setPresence(presence) {
    try {
      const d = await this.api.request(Q.SET_PRESENCE, { presence });
      this.agentChanged({ ...this.me, ...this.agents.get(this.me.id), ...d.setPresence.agent, active: true });
      toast(presence === 'AWAY' ? 'You are Away.' : 'You are Online.');
    } catch (err) {
      if (!err.signedOut) toastError(describe(err));
    }
  }

  async logout() {
    // The socket first: its pongs are signs of life.
    this.live.stop();
    try {
      await this.api.request(Q.LOGOUT);
    } catch {
      // Signed out here either way; the server times us out.
    }
    this.end('You are logged out.', 'info');
  }

  end(message, kind = 'error') {
    if (session !== this) return;
    session = null;
    this.live.stop();
    this.stops.forEach((stop) => stop());
    this.view?.unmount();
    this.conversation?.unmount();
    window.removeEventListener('hashchange', this.onHash);
    sessionStorage.removeItem(TOKEN_KEY);
    showSignIn(message, kind);
  }

  // route shows the page of the location's hash: #/queue/STATUS[/ID] or
  // #/admin.
  route() {
    const [page, a, b] = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
    const name = page === 'admin' ? 'admin' : 'inbox';
    for (const link of this.nav.querySelectorAll('a')) {
      if (link.dataset.page === name) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    if (name === 'admin') {
      if (this.view?.name !== 'admin') {
        this.view?.unmount();
        this.conversation?.unmount();
        this.conversation = null;
        this.view = mountAdmin(this.page, this);
      }
      document.title = 'Admin · Switchboard';
      return;
    }
    const status = STATUSES.includes(a) ? a : 'NEW';
    const id = b || null;
    if (this.view?.name !== 'inbox') {
      this.view?.unmount();
      const queuePane = h('section', { class: 'queue-pane', 'aria-label': 'Queue' });
      this.conversationPane = h('section', { class: 'conversation-pane', 'aria-label': 'Conversation' });
      replace(this.page, h('div', { class: 'inbox' }, queuePane, this.conversationPane));
      this.view = mountQueue(queuePane, this);
      this.conversation = null;
    }
    this.view.show(status, id);
    if (this.conversation?.id !== id || !this.conversationPane.firstChild) {
      this.conversation?.unmount();
      this.conversation = id ? mountConversation(this.conversationPane, this, id) : null;
      if (!id) emptyConversation(this.conversationPane);
    }
    this.page.dataset.hasConversation = String(Boolean(id));
    document.title = `${{ NEW: 'New', PENDING: 'Pending', RESOLVED: 'Resolved' }[status]} · Switchboard`;
  }
}

// workspaceOf reads the workspace from the token, for the top bar (the
// server checked the token; this only shows a name).
function workspaceOf(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part)).workspace_id || '';
  } catch {
    return '';
  }
}

// The skip link focuses the page without touching the hash (the router's).
document.querySelector('.skip-link').addEventListener('click', (ev) => {
  ev.preventDefault();
  main.focus();
});
setInterval(() => refreshTimes(), 30000);
const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) {
  signIn(saved).then((problem) => problem && showSignIn(problem));
} else {
  showSignIn();
}
