// Words and times as people read them.
import { h } from './dom.js';

// The server's clock minus ours, learned from HTTP Date headers, so that
// "waiting 5 min" is right on a machine whose clock is off.
let skew = 0;

export function noteServerDate(header) {
  const server = Date.parse(header || '');
  if (!Number.isNaN(server)) {
    const d = server - Date.now();
    // Date has whole seconds: correct only a clear difference.
    skew = Math.abs(d) > 2000 ? d : 0;
  }
}

export function now() {
  return Date.now() + skew;
}

// span says how long ms is: "<1 min", "5 min", "2 h 5 min", "3 days 2 h".
export function span(ms) {
  const min = Math.floor(Math.max(0, ms) / 60000);
  if (min < 1) return '<1 min';
  if (min < 60) return `${min} min`;
  const hours = Math.floor(min / 60);
  if (hours < 24) return min % 60 ? `${hours} h ${min % 60} min` : `${hours} h`;
  const days = Math.floor(hours / 24);
  const d = days === 1 ? '1 day' : `${days} days`;
  return hours % 24 ? `${d} ${hours % 24} h` : d;
}

// since renders a time that keeps saying how long ago iso was ("waiting
// 5 min"); refreshTimes updates it.
export function since(iso, before = 'waiting ', after = '') {
  const el = h('time', { datetime: iso, title: dateTime(iso), dataset: { since: iso, before, after } });
  el.textContent = before + span(now() - Date.parse(iso)) + after;
  return el;
}

export function refreshTimes(root = document) {
  for (const el of root.querySelectorAll('time[data-since]')) {
    const { since: iso, before, after } = el.dataset;
    el.textContent = before + span(now() - Date.parse(iso)) + after;
  }
}

const sameDay = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const otherDay = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

// dateTime is a short local time: "14:05" today, "Mar 2, 14:05" otherwise.
export function dateTime(iso) {
  const d = new Date(iso);
  return (d.toDateString() === new Date(now()).toDateString() ? sameDay : otherDay).format(d);
}

export const presenceWords = { ONLINE: 'Online', AWAY: 'Away', OFFLINE: 'Offline' };

// dot is an agent's presence: green online, orange away, grey offline.
// With the agent's id, it follows their presence live. A decorative dot
// (next to the word itself) is hidden from screen readers.
export function dot(presence, agentId, decorative = false) {
  const word = presenceWords[presence] || 'Offline';
  return h('span', {
    class: `dot dot-${(presence || 'OFFLINE').toLowerCase()}`, title: word,
    role: decorative ? null : 'img', 'aria-label': decorative ? null : word, 'aria-hidden': decorative ? 'true' : null,
    dataset: agentId ? { agent: agentId, decorative: decorative ? 'true' : null } : null,
  });
}

export const statusWords = { NEW: 'New', PENDING: 'Pending', RESOLVED: 'Resolved' };

export const reasonWords = {
  MANUAL: 'assigned by hand',
  AUTO_OWNERSHIP: 'auto-ownership: replied first',
  RESOLVED: 'resolved',
  LOGOUT_CLEANUP: 'the owner logged out',
  INBOUND_WHILE_OFFLINE: 'a new message came while the owner was offline',
  BOOMERANG_WHILE_OFFLINE: 'came back to New while the owner was offline',
};

// changeWhy says why an ownership change happened. Routing's own changes
// read as a sentence about the agent ("Routed to Ben Baker"); the others
// say who made them and why.
export function changeWhy(e) {
  if (e.reason === 'ROUTING') return `Routed to ${e.to?.name || 'an agent'}`;
  if (e.reason === 'UNANSWERED') return `Taken back: ${e.from?.name || 'the owner'} did not reply in time`;
  return `${e.actor ? `by ${e.actor.name}` : 'by the system'} · ${reasonWords[e.reason] || e.reason}`;
}

// waited says how long a conversation has been in its queue.
export function waited(c) {
  if (c.status === 'RESOLVED') return since(c.waitingSince, 'resolved ', ' ago');
  if (c.status === 'PENDING') return since(c.waitingSince, 'pending ');
  return since(c.waitingSince, 'waiting ');
}
