// Admin: the remove-ownership-on-logout setting and its grace period, and
// the channels with auto-ownership per agent.
import { describe } from '../api.js';
import { h, replace } from '../dom.js';
import { dot } from '../format.js';
import * as Q from '../queries.js';
import { toast, toastError } from '../toast.js';

export function mountAdmin(root, app) {
  let alive = true;
  const body = h('div', { class: 'admin-body', 'aria-busy': 'true' }, h('p', { class: 'hint' }, 'Loading…'));
  replace(root, h('div', { class: 'admin' }, h('h1', null, 'Admin'), body));
  if (!app.isAdmin) {
    replace(body, h('p', { class: 'notice notice-error', role: 'alert' }, 'Only admins can change settings and channels.'));
    return { name: 'admin', unmount() {} };
  }
  const stop = app.on('caught-up', () => alive && load());
  load();

  async function load() {
    try {
      const d = await app.api.request(Q.ADMIN);
      if (alive) render(d);
    } catch (err) {
      if (!err.signedOut) toastError(describe(err));
    }
  }

  async function save(doc, input, done) {
    try {
      const d = await app.api.request(doc, { input });
      toast(done);
      return Object.values(d)[0];
    } catch (err) {
      if (!err.signedOut) toastError(describe(err));
      return null;
    }
  }

  function render({ settings, channels, agents }) {
    body.removeAttribute('aria-busy');
    const remove = h('input', {
      type: 'checkbox', role: 'switch', id: 'remove-ownership', checked: settings.removeOwnershipOnLogout,
      onchange: async () => {
        remove.disabled = true;
        const on = remove.checked;
        const r = await save(Q.UPDATE_SETTINGS, { removeOwnershipOnLogout: on },
          on ? 'Ownership is now removed when an agent logs out.' : 'Ownership is now kept when an agent logs out.');
        if (!r) remove.checked = !on;
        remove.disabled = false;
      },
    });
    const grace = h('input', {
      type: 'number', id: 'grace', min: 0, max: 60, step: 1, required: true, value: String(settings.logoutGraceSeconds),
      'aria-describedby': 'grace-help',
    });
    const settingsSection = h('section', { class: 'card', 'aria-labelledby': 'logout-title' },
      h('h2', { id: 'logout-title' }, 'When an agent logs out'),
      h('div', { class: 'switch-row' },
        h('label', { class: 'switch', for: 'remove-ownership' }, remove, 'Remove their ownership of New conversations')),
      h('p', { class: 'help' }, 'Pending conversations keep their owner. Conversations assigned to an agent while offline are left alone.'),
      h('form', {
        class: 'inline-form',
        onsubmit: async (ev) => {
          ev.preventDefault();
          const seconds = Number(grace.value);
          if (!Number.isInteger(seconds) || seconds < 0 || seconds > 60) {
            toastError('The grace period is a whole number of seconds from 0 to 60.');
            grace.focus();
            return;
          }
          await save(Q.UPDATE_SETTINGS, { logoutGraceSeconds: seconds }, `Grace period: ${seconds} s.`);
        },
      },
      h('label', { for: 'grace' }, 'Grace period (seconds)'), grace, h('button', { type: 'submit' }, 'Save'),
      h('p', { id: 'grace-help', class: 'help' }, 'How long after going offline the cleanup runs; coming back before then cancels it.')));

    const people = agents.filter((a) => a.role !== 'INTEGRATION');
    const table = channels.length === 0
      ? h('p', { class: 'hint' }, 'No channels yet.')
      : h('table', { class: 'matrix' },
        h('caption', { class: 'visually-hidden' }, 'Auto-ownership per channel and agent'),
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Agent'),
          channels.map((c) => h('th', { scope: 'col' }, c.name)))),
        h('tbody', null, people.map((a) => h('tr', null,
          h('th', { scope: 'row' }, dot(a.presence, a.id), a.name),
          channels.map((c) => h('td', null, autoSwitch(c, a)))))));
    const channelName = h('input', { id: 'channel-name', required: true, maxlength: 100, autocomplete: 'off' });
    const channelSection = h('section', { class: 'card', 'aria-labelledby': 'channels-title' },
      h('h2', { id: 'channels-title' }, 'Channels and auto-ownership'),
      h('p', { class: 'help' }, 'With auto-ownership on, an agent who replies to an unowned conversation of the channel becomes its owner.'),
      table,
      channels.length > 0 && h('ul', { class: 'deliveries', 'aria-label': 'Replies waiting for their connector' },
        channels.map((c) => h('li', { dataset: { channel: c.id } },
          h('strong', null, c.name), ': ',
          c.deliveries.pending === 0 ? 'every reply delivered'
            : `${c.deliveries.pending} ${c.deliveries.pending === 1 ? 'reply' : 'replies'} waiting for the connector`
              + (c.deliveries.stalled > 0 ? ` (${c.deliveries.stalled} for more than 5 minutes)` : '')))),
      h('form', {
        class: 'inline-form',
        onsubmit: async (ev) => {
          ev.preventDefault();
          const r = await save(Q.CREATE_CHANNEL, { name: channelName.value.trim() }, `Channel ${channelName.value.trim()} created.`);
          if (r) {
            channelName.value = '';
            load();
          }
        },
      }, h('label', { for: 'channel-name' }, 'New channel'), channelName, h('button', { type: 'submit' }, 'Add channel')));
    replace(body, settingsSection, channelSection);
  }

  function autoSwitch(channel, agent) {
    const on = channel.autoOwnershipAgents.some((x) => x.id === agent.id);
    const state = h('span', { class: 'switch-state', 'aria-hidden': 'true' }, on ? 'On' : 'Off');
    const input = h('input', {
      type: 'checkbox', role: 'switch', id: `auto-${channel.id}-${agent.id}`, checked: on,
      'aria-label': `Auto-ownership for ${agent.name} on ${channel.name}`,
      onchange: async () => {
        input.disabled = true;
        const enabled = input.checked;
        const r = await save(Q.SET_AUTO_OWNERSHIP, { channelId: channel.id, agentId: agent.id, enabled },
          `Auto-ownership ${enabled ? 'on' : 'off'} for ${agent.name} on ${channel.name}.`);
        if (!r) input.checked = !enabled;
        state.textContent = input.checked ? 'On' : 'Off';
        input.disabled = false;
      },
    });
    return h('label', { class: 'switch', for: input.id }, input, state);
  }

  return {
    name: 'admin',
    unmount() {
      alive = false;
      stop();
    },
  };
}
