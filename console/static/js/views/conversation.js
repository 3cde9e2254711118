// One conversation: its messages, who owns it (a drop-down of agents with
// their presence, and Unowned), the ownership history with reasons, a reply
// box, and the moves: to Pending (with an optional boomerang time), to New,
// resolve. Every move sends the version shown as expectedVersion; when
// someone else changed it first, the person is told and it is reloaded.
// Who else is on it is shown live ("Cleo is viewing", "Cleo is typing…"),
// and typing in the reply box says so to them. A reply is sent against the
// version its draft began on: when someone else wrote meanwhile, the agent
// sees what came in and chooses to send anyway or to review.
import { describe, CONFLICT_WORDS } from '../api.js';
import { h, replace, visuallyHidden } from '../dom.js';
import { changeWhy, dateTime, dot, presenceWords, statusWords, waited } from '../format.js';
import { popover } from '../popover.js';
import * as Q from '../queries.js';
import { toast, toastError } from '../toast.js';

// TYPING_EVERY_MS: how often "I am typing" is repeated while the text
// changes; the server forgets it 6 s after the last.
const TYPING_EVERY_MS = 2000;

export function emptyConversation(root) {
  replace(root, h('div', { class: 'placeholder' },
    h('p', null, 'Pick a conversation from the queue.')));
}

export function mountConversation(root, app, id) {
  let conv = null;
  let busy = false;
  let reloadTimer = null;
  let loadSeq = 0;
  let draft = { text: null, key: '', version: null };
  // Typing: true is repeated every TYPING_EVERY_MS while the text changes
  // (the server forgets it 6 s after the last); false when the box empties.
  let typingSentAt = 0;
  let typingOn = false;
  let activity = { viewers: [], typing: [] };
  // The ownership history shown: entries oldest first (rendered newest
  // first), and where the next older page starts. A reload brings the
  // newest page; older pages are loaded on request and kept while the
  // newest page still reaches back to what is shown.
  let history = { entries: [], hasOlder: false, before: null };

  const head = h('header', { class: 'conv-head' });
  const actions = h('div', { class: 'conv-actions' });
  const messages = h('ol', { class: 'messages', 'aria-label': 'Messages' });
  const messagesWrap = h('div', { class: 'messages-wrap', tabindex: '0', 'aria-label': 'Messages' }, messages);
  const historyList = h('ol', { class: 'history-list', 'aria-label': 'Ownership changes, newest first' });
  const historySummary = h('summary', null, 'Ownership history');
  const olderHistory = h('button', { type: 'button', class: 'link history-older', hidden: true, onclick: loadOlderHistory }, 'Show older changes');
  const historyPanel = h('details', { class: 'history' }, historySummary, historyList, olderHistory);
  const ownerMenu = popover({ label: 'Owner', className: 'owner-button', role: 'menu', panelLabel: 'Owner', render: ownerItems });
  const boomerang = h('input', { type: 'datetime-local', id: 'boomerang', name: 'boomerang' });
  const toPendingButton = h('button', { type: 'submit' }, 'Move to Pending');
  const pendingForm = h('form', { class: 'pending-form', onsubmit: moveToPending },
    h('label', { for: 'boomerang' }, 'Back to New at', h('span', { class: 'hint' }, ' (optional)')),
    boomerang, toPendingButton);
  const moveButtons = h('div', { class: 'move-buttons' });
  const text = h('textarea', {
    id: 'reply-text', name: 'text', rows: 3, required: true, placeholder: 'Write a reply…',
    oninput: () => typed(),
    onkeydown: (ev) => {
      if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        send('');
      }
    },
  });
  const replyLabel = h('label', { for: 'reply-text' }, 'Reply');
  const replyNote = h('p', { class: 'hint', hidden: true }, 'This conversation is resolved: reopen it to reply.');
  const activityLine = h('p', { class: 'activity', 'aria-live': 'polite' });
  const raced = h('div', { class: 'raced', role: 'alertdialog', 'aria-label': 'New messages while you were writing', hidden: true });
  const replyButtons = [
    h('button', { type: 'submit', class: 'primary', value: '' }, 'Send'),
    h('button', { type: 'submit', value: 'PENDING' }, 'Send and move to Pending'),
    h('button', { type: 'submit', value: 'RESOLVED' }, 'Send and resolve'),
  ];
  const replyForm = h('form', {
    class: 'reply', 'aria-label': 'Reply',
    onsubmit: (ev) => {
      ev.preventDefault();
      send(ev.submitter?.value || '');
    },
  }, replyLabel, raced, text, replyNote, h('div', { class: 'reply-buttons' }, replyButtons,
    h('span', { class: 'hint' }, 'Ctrl+Enter sends')));
  const article = h('article', { class: 'conversation', 'aria-labelledby': 'conv-title', 'aria-busy': 'true' },
    head, actions, messagesWrap, activityLine, replyForm, historyPanel);
  replace(root, article);

  const offs = [
    app.on('conversation', (c) => {
      if (c.id === id && conv && c.version > conv.version) scheduleReload();
    }),
    app.on('caught-up', scheduleReload),
    app.on('agents', () => conv && renderOwnerButton()),
    app.live.subscribe(Q.ACTIVITY, { id }, {
      next: (d) => showActivity(d.conversationActivity),
      error: () => showActivity({ viewers: [], typing: [] }),
    }),
  ];
  load();

  function showActivity(a) {
    activity = a;
    const others = (list) => list.filter((x) => x.id !== app.me.id).map((x) => x.name);
    const typing = others(a.typing);
    const viewing = others(a.viewers).filter((n) => !typing.includes(n));
    const words = (names, one, many) => names.length === 0 ? null
      : `${names.join(', ').replace(/, ([^,]*)$/, ' and $1')} ${names.length === 1 ? one : many}`;
    const parts = [words(typing, 'is typing…', 'are typing…'), words(viewing, 'is viewing', 'are viewing')].filter(Boolean);
    activityLine.textContent = parts.join(' · ');
    activityLine.hidden = parts.length === 0;
    if (conv && a.conversation && a.conversation.version > conv.version) scheduleReload();
  }

  // typed tells the others that I type (at most every TYPING_EVERY_MS), or
  // that I stopped when the box is empty.
  function typed() {
    if (draft.version === null && conv) {
      draft.version = conv.version;
      draft.seenIds = new Set(conv.messages.edges.map((e) => e.node.id));
    }
    const on = text.value.trim() !== '';
    if (!on) {
      draft.version = null;
      draft.seenIds = null;
      if (typingOn) setTyping(false);
      return;
    }
    if (!typingOn || Date.now() - typingSentAt >= TYPING_EVERY_MS) setTyping(true);
  }

  function setTyping(on) {
    typingOn = on;
    typingSentAt = on ? Date.now() : 0;
    app.api.request(Q.SET_TYPING, { id, typing: on }).catch(() => {});
  }

  function scheduleReload() {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(load, 100);
  }

  async function load() {
    const seq = ++loadSeq;
    try {
      const d = await app.api.request(Q.CONVERSATION_QUERY, { id });
      if (seq !== loadSeq) return;
      if (!d.conversation) {
        replace(root, h('div', { class: 'placeholder' },
          h('p', { role: 'alert' }, 'This conversation does not exist, or is not in your workspace.')));
        return;
      }
      show(d.conversation);
    } catch (err) {
      if (seq === loadSeq && !err.signedOut) toastError(describe(err));
    }
  }

  function show(c) {
    // Never go back to an older state (an answer that crossed a newer one).
    if (conv && c.version < conv.version) return;
    conv = c;
    mergeHistory(c.history);
    article.removeAttribute('aria-busy');
    article.dataset.version = String(c.version);
    article.dataset.status = c.status;
    render();
  }

  function render() {
    const c = conv;
    const name = c.contact.name || c.contact.externalId;
    replace(head,
      h('div', { class: 'conv-title-row' },
        h('a', { class: 'back', href: `#/queue/${c.status}` }, '← Queue'),
        h('h2', { id: 'conv-title', tabindex: '-1' }, name),
        h('span', { class: `status status-${c.status.toLowerCase()}` }, statusWords[c.status])),
      h('p', { class: 'conv-sub' },
        h('span', null, c.channel.name), h('span', { class: 'sep', 'aria-hidden': 'true' }, '·'),
        h('span', null, c.contact.externalId), h('span', { class: 'sep', 'aria-hidden': 'true' }, '·'),
        waited(c), h('span', { class: 'sep', 'aria-hidden': 'true' }, '·'),
        h('span', { class: 'version', title: 'Version: every change adds one' }, `v${c.version}`)),
      h('p', { class: 'conv-owner' },
        c.owner && dot(app.agents.get(c.owner.id)?.presence || c.owner.presence, c.owner.id),
        c.ownershipLabel || (c.status === 'RESOLVED' ? 'Resolved: nobody owns it' : 'Unowned'),
        c.boomerangAt && h('span', { class: 'boomerang-at' }, ` · back to New at ${dateTime(c.boomerangAt)}`)));
    renderActions();
    renderMessages();
    renderHistory();
    replyLabel.textContent = `Reply to ${name}`;
    const resolved = c.status === 'RESOLVED';
    text.disabled = resolved;
    replyButtons.forEach((b) => { b.disabled = resolved || busy; });
    replyNote.hidden = !resolved;
  }

  function renderActions() {
    const c = conv;
    renderOwnerButton();
    ownerMenu.element.hidden = c.status === 'RESOLVED';
    toPendingButton.textContent = c.status === 'PENDING' ? 'Set boomerang' : 'Move to Pending';
    pendingForm.hidden = c.status === 'RESOLVED';
    const button = (label, onclick) => h('button', { type: 'button', disabled: busy, onclick }, label);
    replace(moveButtons,
      c.status === 'PENDING' && button('Move to New', () => act(Q.MOVE_TO_NEW, { conversationId: id, expectedVersion: c.version }, 'Moved to New.')),
      c.status === 'RESOLVED' && button('Reopen', () => act(Q.MOVE_TO_NEW, { conversationId: id, expectedVersion: c.version }, 'Reopened: it is in New, unowned.')),
      c.status !== 'RESOLVED' && button('Resolve', () => act(Q.RESOLVE, { conversationId: id, expectedVersion: c.version }, 'Resolved.')));
    toPendingButton.disabled = busy;
    if (!actions.firstChild) {
      actions.append(ownerMenu.element, moveButtons, pendingForm);
    }
  }

  function renderOwnerButton() {
    const owner = conv.owner;
    ownerMenu.setLabel([
      h('span', { class: 'owner-label' }, 'Owner'),
      owner ? [dot(app.agents.get(owner.id)?.presence || owner.presence, owner.id), owner.name] : 'Unowned',
    ]);
    ownerMenu.button.disabled = busy;
    ownerMenu.refresh();
  }

  function ownerItems(close) {
    const current = conv.owner?.id || null;
    const item = (agentId, content, label) => h('button', {
      type: 'button', role: 'menuitemradio', class: 'menu-item', id: `owner-${agentId || 'none'}`,
      'aria-checked': String(current === agentId),
      onclick: () => {
        close();
        if (current === agentId) return;
        act(Q.SET_OWNER, { conversationId: id, ownerId: agentId, expectedVersion: conv.version },
          agentId ? `Assigned to ${label}.` : 'Now unowned.');
      },
    }, content);
    return [
      item(null, h('span', { class: 'menu-name' }, 'Unowned'), 'Unowned'),
      app.agentList().map((a) => item(a.id, [
        dot(a.presence, a.id, true),
        h('span', { class: 'menu-name' }, a.name, a.id === app.me.id && h('span', { class: 'hint' }, ' (me)')),
        h('span', { class: 'menu-presence' }, presenceWords[a.presence]),
      ], a.name)),
    ];
  }

  // deliveryLine says where a reply is on its way to the contact, as the
  // channel's connector reported it.
  function deliveryLine(d) {
    const words = { PENDING: 'Sending…', SENT: 'Sent', FAILED: `Failed: ${d.error || 'no reason given'}` }[d.status] || d.status;
    return h('p', { class: `msg-delivery delivery-${d.status.toLowerCase()}`, title: dateTime(d.at) }, words);
  }

  function renderMessages() {
    const c = conv;
    const nearBottom = messagesWrap.scrollHeight - messagesWrap.scrollTop - messagesWrap.clientHeight < 80;
    replace(messages,
      c.messages.pageInfo.hasPreviousPage && h('li', { class: 'older' }, 'Older messages are not shown.'),
      c.messages.edges.map(({ node: m }) => h('li', { class: `msg msg-${m.direction.toLowerCase()}` },
        h('p', { class: 'msg-meta' },
          h('span', { class: 'msg-author' }, m.direction === 'INBOUND' ? (c.contact.name || c.contact.externalId) : (m.author?.name || 'Agent')),
          h('time', { datetime: m.createdAt }, dateTime(m.createdAt))),
        h('p', { class: 'msg-text' }, m.text || h('em', null, '(no text)')),
        m.delivery && deliveryLine(m.delivery))));
    if (nearBottom || !messages.dataset.shown) messagesWrap.scrollTop = messagesWrap.scrollHeight;
    messages.dataset.shown = 'true';
  }

  // mergeHistory takes in the newest page of a reload. When it reaches back
  // to an entry already shown, the older entries shown stay; otherwise
  // (the first load, or more changes since than one page holds) it
  // starts over from this page.
  function mergeHistory(page) {
    const entries = page.edges.map((e) => e.node);
    const shown = new Set(history.entries.map((e) => e.id));
    if (entries.length > 0 && shown.has(entries[0].id)) {
      const from = entries[0].version;
      history.entries = history.entries.filter((e) => e.version < from).concat(entries);
      return;
    }
    history = { entries, hasOlder: page.pageInfo.hasPreviousPage, before: page.pageInfo.startCursor };
  }

  async function loadOlderHistory() {
    const was = history;
    if (!was.hasOlder || olderHistory.disabled) return;
    olderHistory.disabled = true;
    try {
      const d = await app.api.request(Q.OLDER_HISTORY, { id, before: was.before });
      const page = d.conversation?.history;
      // A reload that started over meanwhile has its own older pages.
      if (!page || was !== history) return;
      history.entries = page.edges.map((e) => e.node).concat(history.entries);
      history.hasOlder = page.pageInfo.hasPreviousPage;
      history.before = page.pageInfo.startCursor;
    } catch (err) {
      if (!err.signedOut) toastError(describe(err));
    } finally {
      olderHistory.disabled = false;
      if (conv) renderHistory();
      // The button goes away with the oldest page: keep the focus in the
      // history rather than losing it to the page.
      if (olderHistory.hidden && document.activeElement === document.body) historySummary.focus();
    }
  }

  function renderHistory() {
    const { entries, hasOlder } = history;
    replace(historySummary, `Ownership history (${entries.length}${hasOlder ? '+' : ''})`);
    replace(historyList, entries.length === 0
      ? h('li', { class: 'hint' }, 'Nobody has owned it yet.')
      : entries.slice().reverse().map((e) => h('li', { dataset: { version: String(e.version) } },
        h('time', { datetime: e.at }, dateTime(e.at)),
        h('span', { class: 'change' }, e.from?.name || 'Unowned', h('span', { 'aria-hidden': 'true' }, ' → '), visuallyHidden(' to '), e.to?.name || 'Unowned'),
        h('span', { class: 'why' }, changeWhy(e)))));
    olderHistory.hidden = !hasOlder;
  }

  function setBusy(on) {
    busy = on;
    if (on) {
      article.setAttribute('aria-busy', 'true');
      for (const b of article.querySelectorAll('.conv-actions button, .reply button')) b.disabled = true;
    } else {
      article.removeAttribute('aria-busy');
      if (conv) render();
    }
  }

  // act runs a mutation on this conversation and shows its result.
  async function act(doc, input, done, onConflict) {
    if (busy) return false;
    const focused = document.activeElement;
    setBusy(true);
    try {
      const d = await app.api.request(doc, { input });
      const payload = Object.values(d)[0];
      show(payload.conversation);
      if (done) toast(done);
      return true;
    } catch (err) {
      if (err.code === 'CONFLICT' && onConflict) {
        await onConflict(err);
      } else if (err.code === 'CONFLICT') {
        toastError(CONFLICT_WORDS);
        await load();
      } else if (!err.signedOut) {
        toastError(describe(err));
      }
      return false;
    } finally {
      setBusy(false);
      // A button that went away with the old state leaves the focus on the
      // conversation, not lost at the top of the page.
      if (focused && focused !== document.body && !focused.isConnected) root.querySelector('#conv-title')?.focus();
    }
  }

  function moveToPending(ev) {
    ev.preventDefault();
    let at = null;
    if (boomerang.value) {
      const when = new Date(boomerang.value);
      if (Number.isNaN(when.getTime()) || when.getTime() <= Date.now()) {
        toastError('Pick a time in the future for it to come back to New.');
        boomerang.focus();
        return;
      }
      at = when.toISOString();
    } else if (conv.status === 'PENDING') {
      toastError('Pick the time it should come back to New.');
      boomerang.focus();
      return;
    }
    act(Q.MOVE_TO_PENDING, { conversationId: id, boomerangAt: at, expectedVersion: conv.version },
      at ? `In Pending until ${dateTime(at)}.` : 'Moved to Pending.').then((ok) => {
      if (ok) boomerang.value = '';
    });
  }

  async function send(thenMoveTo) {
    const body = text.value.trim();
    if (!body || !conv || conv.status === 'RESOLVED') {
      text.focus();
      return;
    }
    // One key per draft: sending the same text again (a retry after a lost
    // answer) is the same reply, never a second one.
    if (draft.text !== body) draft = { text: body, key: newKey(), version: draft.version ?? conv.version, seenIds: draft.seenIds };
    const expectedVersion = draft.version ?? conv.version;
    const seenIds = draft.seenIds || new Set(conv.messages.edges.map((e) => e.node.id));
    const input = { conversationId: id, text: body, clientMessageId: draft.key, thenMoveTo: thenMoveTo || null, expectedVersion };
    const ok = await act(Q.REPLY, input,
      { PENDING: 'Sent, and moved to Pending.', RESOLVED: 'Sent, and resolved.' }[thenMoveTo] || 'Sent.',
      (err) => askSendAnyway(err, thenMoveTo, seenIds));
    if (ok) {
      text.value = '';
      draft = { text: null, key: '', version: null };
      raced.hidden = true;
      // The server ended my typing with the reply.
      typingOn = false;
    }
  }

  // askSendAnyway: the conversation changed since the draft began. Show
  // what came in meanwhile and let the agent send anyway or review.
  async function askSendAnyway(err, thenMoveTo, seenIds) {
    await load();
    const fresh = conv.messages.edges.map((e) => e.node).filter((m) => !seenIds.has(m.id));
    const who = [...new Set(fresh.map((m) => m.direction === 'INBOUND' ? (conv.contact.name || conv.contact.externalId) : (m.author?.name || 'Someone')))];
    const headline = fresh.length === 0
      ? 'Someone else changed this conversation while you were writing.'
      : `${who.join(' and ')} wrote while you were writing:`;
    const current = err.extensions?.currentVersion ?? conv.version;
    replace(raced,
      h('p', { class: 'raced-head' }, headline),
      fresh.length > 0 && h('ol', { class: 'raced-messages' }, fresh.map((m) => h('li', null,
        h('span', { class: 'msg-author' }, m.direction === 'INBOUND' ? (conv.contact.name || conv.contact.externalId) : (m.author?.name || 'Agent')),
        ': ', m.text))),
      h('p', null, 'Send your reply anyway?'),
      h('div', { class: 'raced-buttons' },
        h('button', { type: 'button', class: 'primary', onclick: () => {
          raced.hidden = true;
          draft.version = Math.max(current, conv.version);
          draft.seenIds = new Set(conv.messages.edges.map((e) => e.node.id));
          send(thenMoveTo);
        } }, 'Send anyway'),
        h('button', { type: 'button', onclick: () => {
          raced.hidden = true;
          draft.version = conv.version;
          draft.seenIds = new Set(conv.messages.edges.map((e) => e.node.id));
          text.focus();
        } }, 'Review first')));
    raced.hidden = false;
    raced.querySelector('button')?.focus();
  }

  return {
    id,
    unmount() {
      loadSeq++;
      clearTimeout(reloadTimer);
      if (typingOn) setTyping(false);
      ownerMenu.close(false);
      offs.forEach((off) => off());
    },
  };
}

// newKey is a random idempotency key (crypto.randomUUID needs a secure
// context; this does not).
function newKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return `console-${[...b].map((x) => x.toString(16).padStart(2, '0')).join('')}`;
}
