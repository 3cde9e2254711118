// Missed assignments: conversations assigned to me while I was offline,
// shown when I sign in (or come back online) until I acknowledge them.
import { describe } from '../api.js';
import { h, replace } from '../dom.js';
import { dateTime, statusWords } from '../format.js';
import * as Q from '../queries.js';
import { toast, toastError } from '../toast.js';

let checking = false;

export async function checkMissed(app) {
  if (checking) return;
  checking = true;
  try {
    const { missedAssignments: missed } = await app.api.request(Q.MISSED);
    show(app, missed);
  } catch (err) {
    if (!err.signedOut) toastError(describe(err));
  } finally {
    checking = false;
  }
}

function show(app, missed) {
  app.notices.querySelector('.missed')?.remove();
  if (missed.length === 0) return;
  const n = missed.length;
  const ack = h('button', { type: 'button', class: 'primary' }, 'Got it');
  const panel = h('section', { class: 'missed', role: 'region', 'aria-labelledby': 'missed-title' },
    h('h2', { id: 'missed-title', tabindex: '-1' },
      n === 1 ? 'While you were offline, a conversation was assigned to you'
        : `While you were offline, ${n} conversations were assigned to you`),
    h('ul', null, missed.map(({ conversation: c, change }) => h('li', null,
      h('a', { href: `#/queue/${c.status}/${encodeURIComponent(c.id)}` }, c.contact.name || c.id),
      h('span', { class: 'hint' },
        ` · ${c.channel.name} · ${statusWords[c.status]} · assigned ${change.actor ? `by ${change.actor.name} ` : ''}at ${dateTime(change.at)}`)))),
    ack);
  ack.addEventListener('click', async () => {
    ack.disabled = true;
    try {
      await app.api.request(Q.ACKNOWLEDGE, { ids: missed.map((m) => m.conversation.id) });
      panel.remove();
      toast(n === 1 ? 'Acknowledged.' : `Acknowledged all ${n}.`);
    } catch (err) {
      ack.disabled = false;
      if (!err.signedOut) toastError(describe(err));
    }
  });
  replace(app.notices, panel);
  panel.querySelector('h2').focus();
}
