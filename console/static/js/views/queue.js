// The queue: New, Pending and Resolved tabs with counts, the ownership
// filter, rows that say who owns each conversation and how long it has
// waited, and paging. Rows enter, leave and change live: a queueChanged
// subscription for the view, merged with what queries return by version.
// The counts come live too: a queueCountsChanged subscription per tab.
import { describe } from '../api.js';
import { h, replace, visuallyHidden } from '../dom.js';
import { dot, waited, statusWords } from '../format.js';
import { popover } from '../popover.js';
import * as Q from '../queries.js';
import { toastError } from '../toast.js';

const STATUSES = ['NEW', 'PENDING', 'RESOLVED'];
const FILTER_KEY = 'switchboard.filter';
const ORDER_KEY = 'switchboard.order';

export function mountQueue(root, app) {
  let status = null;
  let selectedId = null;
  let filter = loadFilter();
  let order = sessionStorage.getItem(ORDER_KEY) === 'NEWEST' ? 'NEWEST' : 'LONGEST_WAITING';
  let rows = [];
  let hasNext = false;
  let endCursor = null;
  let loaded = false;
  let counts = null;
  // latest: the newest state each event told of, by conversation id — so
  // that a query answer older than an event does not undo it.
  let latest = new Map();
  let view = 0; // bumped when the view's arguments change
  let loadSeq = 0;
  let stopView = null;
  let animate = false; // rows built while true flash: they just changed
  const nodes = new Map(); // conversation id → {version, selected, li}

  const tabs = h('nav', { class: 'tabs', 'aria-label': 'Queues' });
  const filterMenu = popover({ label: 'All conversations', className: 'filter-button', render: filterPanel, panelLabel: 'Show conversations' });
  const orderSelect = h('select', {
    id: 'order',
    onchange: () => {
      order = orderSelect.value;
      sessionStorage.setItem(ORDER_KEY, order);
      restart();
    },
  },
  h('option', { value: 'LONGEST_WAITING', selected: order === 'LONGEST_WAITING' }, 'Longest waiting'),
  h('option', { value: 'NEWEST', selected: order === 'NEWEST' }, 'Newest'));
  const summary = h('p', { class: 'summary', 'aria-live': 'polite' });
  const list = h('ul', { class: 'rows', 'aria-label': 'Conversations' });
  const empty = h('p', { class: 'empty', hidden: true });
  const more = h('button', { type: 'button', class: 'more', hidden: true, onclick: loadMore }, 'Show more');
  replace(root,
    h('h1', { class: 'visually-hidden' }, 'Inbox'),
    tabs,
    h('div', { class: 'toolbar' }, filterMenu.element,
      h('label', { class: 'order', for: 'order' }, 'Sort', orderSelect)),
    summary, list, empty, more);

  const offs = [
    app.on('agents', () => {
      // A deactivated agent can no longer be filtered on.
      const ids = filter.ownerIds.filter((id) => app.agents.has(id));
      if (ids.length !== filter.ownerIds.length && app.agents.size > 0) setFilter({ ownerIds: ids });
      else {
        filterMenu.refresh();
        renderSummary();
      }
    }),
  ];
  // Each tab's counts: the server sends them when subscribed (again after
  // a reconnect) and whenever they change, so nothing is refetched.
  const stopCounts = STATUSES.map((s) => app.live.subscribe(Q.COUNTS_CHANGED, { status: s }, {
    next: (d) => {
      counts = { ...counts, [s]: d.queueCountsChanged };
      renderTabs();
      renderSummary();
      filterMenu.refresh();
    },
    error: (errors) => toastError(`Live counts stopped: ${errors?.[0]?.message || 'refused'}.`),
  }));

  // ownership is the view's filter argument (none on Resolved, where
  // nothing is owned, and none when no option is chosen).
  function ownership() {
    if (status === 'RESOLVED' || !anyFilter()) return null;
    return {
      unowned: filter.unowned, ownedByMe: filter.ownedByMe, ownedByOthers: filter.ownedByOthers,
      ownerIds: filter.ownedByOthers ? [] : filter.ownerIds.filter((id) => id !== app.me.id),
    };
  }

  function anyFilter() {
    return filter.unowned || filter.ownedByMe || filter.ownedByOthers || filter.ownerIds.length > 0;
  }

  // restart subscribes to the view and loads it: the subscription first,
  // then the query once it listens, so nothing falls between the two.
  function restart() {
    const v = ++view;
    stopView?.();
    latest = new Map();
    rows = [];
    loaded = false;
    nodes.clear();
    render();
    const variables = { status, ownership: ownership(), order };
    stopView = app.live.subscribe(Q.QUEUE_CHANGED, variables, {
      next: (d) => v === view && applyEvent(d.queueChanged),
      // Resumed after a drop, the missed changes come as events.
      onActive: (resumed) => v === view && !resumed && load(),
      error: (errors) => v === view && toastError(`Live updates of this queue stopped: ${errors?.[0]?.message || 'refused'}.`),
    }, (d) => d.queueChanged.position);
    if (!app.live.live) load();
  }

  async function load() {
    const seq = ++loadSeq;
    root.setAttribute('aria-busy', 'true');
    try {
      const d = await app.api.request(Q.QUEUE, { status, ownership: ownership(), order, after: null });
      if (seq !== loadSeq) return;
      rows = d.queue.edges.map((e) => e.node);
      hasNext = d.queue.pageInfo.hasNextPage;
      endCursor = d.queue.pageInfo.endCursor;
      for (const id of latest.keys()) merge(id);
      loaded = true;
      render();
    } catch (err) {
      if (seq === loadSeq && !err.signedOut) toastError(describe(err));
    } finally {
      if (seq === loadSeq) root.removeAttribute('aria-busy');
    }
  }

  async function loadMore() {
    const v = view;
    more.disabled = true;
    try {
      const d = await app.api.request(Q.QUEUE, { status, ownership: ownership(), order, after: endCursor });
      if (v !== view) return;
      const have = new Set(rows.map((r) => r.id));
      rows.push(...d.queue.edges.map((e) => e.node).filter((c) => !have.has(c.id)));
      hasNext = d.queue.pageInfo.hasNextPage;
      endCursor = d.queue.pageInfo.endCursor;
      for (const id of latest.keys()) merge(id);
      render();
    } catch (err) {
      if (!err.signedOut) toastError(describe(err));
    } finally {
      more.disabled = false;
    }
  }

  function applyEvent(ev) {
    const c = ev.conversation;
    const prev = latest.get(c.id);
    if (prev && prev.version >= c.version) return;
    latest.set(c.id, { version: c.version, inView: ev.kind !== 'LEFT', conversation: c });
    merge(c.id);
    animate = true;
    render();
    animate = false;
  }

  // merge folds the latest event about id into the rows.
  function merge(id) {
    const l = latest.get(id);
    const i = rows.findIndex((r) => r.id === id);
    if (i >= 0) {
      if (l.version <= rows[i].version) return;
      if (l.inView) rows[i] = l.conversation;
      else rows.splice(i, 1);
    } else if (l.inView && (!hasNext || compare(l.conversation, rows[rows.length - 1]) < 0)) {
      // Rows past the last one shown come with "Show more".
      rows.push(l.conversation);
    } else {
      return;
    }
    rows.sort(compare);
  }

  function compare(a, b) {
    const d = Date.parse(a.waitingSince) - Date.parse(b.waitingSince) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
    return order === 'NEWEST' ? -d : d;
  }

  // countFor is how many conversations a tab shows under the filter: the
  // options are a union of disjoint parts.
  function countFor(s) {
    const c = counts?.[s];
    if (!c) return null;
    if (s === 'RESOLVED' || !anyFilter()) return c.total;
    const mine = filter.ownedByMe || filter.ownerIds.includes(app.me.id);
    let n = (filter.unowned ? c.unowned : 0) + (mine ? c.ownedByMe : 0);
    if (filter.ownedByOthers) n += c.ownedByOthers;
    else for (const id of filter.ownerIds) if (id !== app.me.id) n += ownerCount(c, id);
    return n;
  }

  function ownerCount(c, id) {
    return c.byOwner.find((o) => o.owner.id === id)?.count || 0;
  }

  function render() {
    renderTabs();
    renderSummary();
    renderRows();
  }

  function renderTabs() {
    replace(tabs, STATUSES.map((s) => {
      const n = countFor(s);
      return h('a', {
        href: `#/queue/${s}`, class: 'tab', dataset: { status: s }, 'aria-current': s === status ? 'page' : null,
      }, statusWords[s], ' ', h('span', { class: 'count', 'aria-label': n == null ? null : `${n} conversations` }, n == null ? '…' : String(n)));
    }));
  }

  function renderSummary() {
    filterMenu.element.hidden = status === 'RESOLVED';
    filterMenu.setLabel(filterLabel());
    const n = countFor(status);
    summary.textContent = !loaded || n == null ? 'Loading…' : `${n} ${n === 1 ? 'conversation' : 'conversations'}`;
  }

  function renderRows() {
    const want = rows.map(rowNode);
    let at = list.firstChild;
    for (const li of want) {
      if (li === at) at = at.nextSibling;
      else list.insertBefore(li, at);
    }
    while (at) {
      const next = at.nextSibling;
      nodes.delete(at.dataset.id);
      at.remove();
      at = next;
    }
    empty.hidden = !loaded || rows.length > 0;
    empty.textContent = anyFilter() && status !== 'RESOLVED'
      ? `No ${statusWords[status]} conversations match the filter.`
      : `No ${statusWords[status]} conversations.`;
    more.hidden = !hasNext;
  }

  // rowNode is a row's list item, kept while its conversation is unchanged
  // (so the focus stays where it is when other rows move).
  function rowNode(c) {
    const selected = c.id === selectedId;
    const known = nodes.get(c.id);
    if (known && known.version === c.version && known.selected === selected) return known.li;
    const last = c.messages.edges[0]?.node;
    const owner = c.owner ? app.agents.get(c.owner.id) : null;
    const li = h('li', { class: `row-item${animate ? ' fresh' : ''}`, dataset: { id: c.id } },
      h('a', { class: 'row', href: `#/queue/${status}/${encodeURIComponent(c.id)}`, 'aria-current': selected ? 'true' : null },
        h('span', { class: 'row-top' },
          h('span', { class: 'contact' }, c.contact.name || c.contact.externalId),
          h('span', { class: 'channel' }, c.channel.name)),
        last && h('span', { class: 'preview' },
          last.direction === 'OUTBOUND' && h('span', { class: 'you' }, 'You: '), last.text || '(no text)'),
        h('span', { class: 'row-meta' },
          h('span', { class: `owner${c.owner ? '' : ' unowned'}` },
            c.owner && dot(owner?.presence || 'OFFLINE', c.owner.id),
            c.ownershipLabel || (c.status === 'RESOLVED' ? 'Resolved' : 'Unowned')),
          h('span', { class: 'sep', 'aria-hidden': 'true' }, '·'),
          waited(c))));
    nodes.set(c.id, { version: c.version, selected, li });
    return li;
  }

  function filterLabel() {
    if (!anyFilter()) return 'All conversations';
    const parts = [];
    if (filter.unowned) parts.push('Unowned');
    if (filter.ownedByMe && filter.ownedByOthers) parts.push('All owned');
    else {
      if (filter.ownedByMe) parts.push('Mine');
      if (filter.ownedByOthers) parts.push('Others');
      for (const id of filter.ownerIds) parts.push(app.agents.get(id)?.name || id);
    }
    return parts.length > 2 ? `${parts[0]} +${parts.length - 1}` : parts.join(', ');
  }

  function filterPanel() {
    const c = counts?.[status];
    const option = (id, checked, label, n, onchange, opts = {}) => h('label', { class: `check${opts.disabled ? ' disabled' : ''}`, for: id },
      h('input', { type: 'checkbox', id, checked, disabled: opts.disabled, onchange: (ev) => onchange(ev.target.checked) }),
      opts.before, h('span', { class: 'check-label' }, label, opts.hint && h('span', { class: 'hint' }, opts.hint)),
      n != null && h('span', { class: 'count' }, String(n)));
    const others = app.agentList().filter((a) => a.id !== app.me.id);
    return [
      option('f-unowned', filter.unowned, 'Unowned', c?.unowned, (on) => setFilter({ unowned: on })),
      option('f-mine', filter.ownedByMe, 'Owned by me', c?.ownedByMe, (on) => setFilter({ ownedByMe: on })),
      option('f-all', filter.ownedByMe && filter.ownedByOthers, 'Select all', c && c.ownedByMe + c.ownedByOthers,
        (on) => setFilter({ ownedByMe: on, ownedByOthers: on, ownerIds: [] }), { hint: 'owned by anyone' }),
      h('p', { class: 'panel-sub', id: 'f-agents' }, 'Owned by'),
      h('div', { role: 'group', 'aria-labelledby': 'f-agents' },
        others.length === 0 ? h('p', { class: 'hint' }, 'No other agents yet.') : others.map((a) => option(
          `f-agent-${a.id}`, filter.ownedByOthers || filter.ownerIds.includes(a.id), a.name, c && ownerCount(c, a.id),
          (on) => setFilter({ ownerIds: on ? [...filter.ownerIds, a.id] : filter.ownerIds.filter((x) => x !== a.id) }),
          { before: [dot(a.presence, a.id), loadOf(a)], disabled: filter.ownedByOthers }))),
      h('div', { class: 'panel-foot' },
        h('button', { type: 'button', class: 'link', disabled: !anyFilter(), onclick: () => setFilter(emptyFilter()) }, 'Show everything'),
        visuallyHidden('Options combine: a conversation shows if it matches any of them.')),
    ];
  }

  // loadOf is an agent's load beside their dot: the NEW conversations they
  // own (the live NEW counts, no query) out of their capacity.
  function loadOf(a) {
    if (a.capacity == null || !counts?.NEW) return null;
    const load = ownerCount(counts.NEW, a.id);
    return h('span', {
      class: `load${load >= a.capacity ? ' load-full' : ''}`, dataset: { load: String(load), capacity: String(a.capacity) },
      title: `${load} of ${a.capacity} New conversations`,
    }, h('span', { 'aria-hidden': 'true' }, `${load}/${a.capacity}`), visuallyHidden(`load ${load} of ${a.capacity}`));
  }

  function setFilter(patch) {
    filter = { ...filter, ...patch };
    sessionStorage.setItem(FILTER_KEY, JSON.stringify(filter));
    filterMenu.refresh();
    renderTabs();
    restart();
  }

  return {
    name: 'inbox',
    show(s, id) {
      const changed = s !== status;
      status = s;
      if (id !== selectedId) {
        selectedId = id;
        if (!changed) renderRows();
      }
      if (changed) {
        filterMenu.close(false);
        restart();
      }
    },
    unmount() {
      view++;
      stopView?.();
      stopCounts.forEach((stop) => stop());
      offs.forEach((off) => off());
    },
  };
}

function emptyFilter() {
  return { unowned: false, ownedByMe: false, ownedByOthers: false, ownerIds: [] };
}

function loadFilter() {
  try {
    const f = JSON.parse(sessionStorage.getItem(FILTER_KEY) || 'null');
    if (f && Array.isArray(f.ownerIds)) return { ...emptyFilter(), ...f };
  } catch {
    // a filter of an older console
  }
  return emptyFilter();
}
