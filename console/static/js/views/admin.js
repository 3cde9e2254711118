// Admin: the remove-ownership-on-logout setting and its grace period,
// routing (its settings, the routing agents of each channel), the channels
// with auto-ownership per agent, and each agent's presence and capacity.
import { describe } from '../api.js';
import { h, replace } from '../dom.js';
import { dot, presenceWords } from '../format.js';
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
  // The presence buttons follow presence live, like the dots.
  const presenceGroups = new Map(); // agent id → re-render
  const stopAgents = app.on('agents', () => presenceGroups.forEach((render) => render()));
  load();

  async function load() {
    try {
      const d = await app.api.request(Q.ADMIN);
      if (alive) render(d);
    } catch (err) {
      if (!err.signedOut) toastError(describe(err));
    }
  }

  async function save(doc, input, done, variables = { input }) {
    try {
      const d = await app.api.request(doc, variables);
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
    presenceGroups.clear();
    replace(body, settingsSection, routingSection(settings.routing, channels, people), channelSection, agentsSection(people));
  }

  // routingSection: the mode and its settings, saved together; an input the
  // server refuses shows its error under the field it names.
  function routingSection(routing, channels, people) {
    const fields = {};
    const field = (name, id, label, control, help) => {
      const error = h('p', { class: 'field-error', id: `${id}-error`, hidden: true, role: 'alert' });
      fields[name] = { control, error, words: label };
      control.setAttribute('aria-describedby', help ? `${id}-help ${id}-error` : `${id}-error`);
      return h('div', { class: 'field' }, h('label', { for: id }, label), control,
        help && h('p', { class: 'help', id: `${id}-help` }, help), error);
    };
    const mode = h('select', { id: 'routing-mode' },
      [['OFF', 'Off'], ['BALANCED', 'Balanced'], ['ROUND_ROBIN', 'Round robin']]
        .map(([value, words]) => h('option', { value, selected: routing.mode === value }, words)));
    const capacity = h('input', { type: 'number', id: 'default-capacity', min: 1, max: 100, step: 1, value: String(routing.defaultCapacity) });
    const unanswered = h('input', { type: 'number', id: 'unanswered-seconds', min: 0, max: 86400, step: 1, value: String(routing.unansweredSeconds) });
    const prefer = h('input', { type: 'checkbox', role: 'switch', id: 'prefer-last-owner', checked: routing.preferLastOwner });
    const clearErrors = () => Object.values(fields).forEach(({ control, error }) => {
      error.hidden = true;
      error.textContent = '';
      control.removeAttribute('aria-invalid');
    });
    const showError = (name, words) => {
      const { control, error } = fields[name];
      error.textContent = words;
      error.hidden = false;
      control.setAttribute('aria-invalid', 'true');
      control.focus();
    };
    const form = h('form', {
      class: 'routing-form', novalidate: true,
      onsubmit: async (ev) => {
        ev.preventDefault();
        clearErrors();
        const input = {
          mode: mode.value, preferLastOwner: prefer.checked,
          defaultCapacity: wholeNumber(capacity.value), unansweredSeconds: wholeNumber(unanswered.value),
        };
        // The ranges are the server's to check; a field that is no whole
        // number is not even sent.
        const notNumber = ['defaultCapacity', 'unansweredSeconds'].find((name) => input[name] == null);
        if (notNumber) {
          showError(notNumber, 'Enter a whole number.');
          return;
        }
        submit.disabled = true;
        try {
          const d = await app.api.request(Q.UPDATE_SETTINGS, { input: { routing: input } });
          const r = d.updateSettings.settings.routing;
          toast(r.mode === 'OFF' ? 'Routing is off.' : `Routing is on: ${r.mode === 'BALANCED' ? 'balanced' : 'round robin'}.`);
          // The default capacity is every agent's without their own.
          app.loadAgents();
        } catch (err) {
          const name = String(err.extensions?.argument || '').split('.').pop();
          if (err.code === 'BAD_USER_INPUT' && fields[name]) showError(name, sentence(err.message, name, fields[name].words));
          else if (!err.signedOut) toastError(describe(err));
        } finally {
          submit.disabled = false;
        }
      },
    },
    field('mode', 'routing-mode', 'Routing mode', mode, 'Balanced: the lowest load first. Round robin: in turns.'),
    field('defaultCapacity', 'default-capacity', 'Default capacity', capacity, '1 to 100 New conversations per agent.'),
    field('unansweredSeconds', 'unanswered-seconds', 'Take back unanswered after (seconds)', unanswered, '0 never, else 5 to 86400.'),
    h('div', { class: 'switch-row' },
      h('label', { class: 'switch', for: 'prefer-last-owner' }, prefer, 'A returning contact goes first to their last agent')),
    h('button', { type: 'submit' }, 'Save routing'));
    const submit = form.querySelector('button[type="submit"]');
    return h('section', { class: 'card', 'aria-labelledby': 'routing-title' },
      h('h2', { id: 'routing-title' }, 'Routing'),
      h('p', { class: 'help' }, 'Routing gives New unowned conversations to the channel\'s routing agents who are online and below their capacity.'),
      form,
      channels.length > 0 && h('table', { class: 'matrix routing-agents' },
        h('caption', { class: 'visually-hidden' }, 'Routing agents per channel'),
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Routing agent'),
          channels.map((c) => h('th', { scope: 'col' }, c.name)))),
        h('tbody', null, people.map((a) => h('tr', null,
          h('th', { scope: 'row' }, dot(a.presence, a.id), a.name),
          channels.map((c) => h('td', null, routingSwitch(c, a))))))));
  }

  // agentsSection: each agent's presence (set for them) and capacity.
  function agentsSection(people) {
    return h('section', { class: 'card', 'aria-labelledby': 'agents-title' },
      h('h2', { id: 'agents-title' }, 'Agents'),
      h('p', { class: 'help' }, 'Set an agent Away to stop routing to them; Offline is a logout. An empty capacity is the workspace default.'),
      h('table', { class: 'matrix agent-controls' },
        h('caption', { class: 'visually-hidden' }, 'Presence and capacity per agent'),
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Agent'), h('th', { scope: 'col' }, 'Presence'), h('th', { scope: 'col' }, 'Capacity'))),
        h('tbody', null, people.map((a) => h('tr', { dataset: { agent: a.id } },
          h('th', { scope: 'row' }, dot(a.presence, a.id), a.name),
          h('td', null, presenceGroup(a)),
          h('td', null, capacityForm(a)))))));
  }

  function presenceGroup(agent) {
    const group = h('div', { class: 'segmented', role: 'group', 'aria-label': `Presence of ${agent.name}` });
    const render = () => {
      const p = app.agents.get(agent.id)?.presence || 'OFFLINE';
      replace(group, ['ONLINE', 'AWAY', 'OFFLINE'].map((value) => h('button', {
        type: 'button', class: 'seg', 'aria-pressed': String(p === value),
        onclick: async () => {
          const r = await save(Q.SET_AGENT_PRESENCE, null, `${agent.name} is ${presenceWords[value]}.`, { agentId: agent.id, presence: value });
          if (r) app.agentChanged({ ...app.agents.get(agent.id), ...r.agent });
        },
      }, dot(value, null, true), presenceWords[value])));
    };
    presenceGroups.set(agent.id, render);
    render();
    return group;
  }

  function capacityForm(agent) {
    const id = `capacity-${agent.id}`;
    const input = h('input', { type: 'number', id, min: 1, max: 100, step: 1, value: String(agent.capacity), 'aria-label': `Capacity of ${agent.name}` });
    return h('form', {
      class: 'inline-form', novalidate: true,
      onsubmit: async (ev) => {
        ev.preventDefault();
        const capacity = wholeNumber(input.value);
        if (capacity == null && input.value.trim() !== '') {
          toastError(`The capacity of ${agent.name} is a whole number from 1 to 100, or empty for the default.`);
          input.focus();
          return;
        }
        const r = await save(Q.UPSERT_AGENT, { id: agent.id, name: agent.name, email: agent.email, role: agent.role, capacity },
          capacity == null ? `${agent.name}: the default capacity.` : `${agent.name}: capacity ${capacity}.`);
        if (r) app.agentChanged({ ...app.agents.get(agent.id), ...r.agent });
      },
    }, input, h('button', { type: 'submit', 'aria-label': `Save the capacity of ${agent.name}` }, 'Save'));
  }

  function autoSwitch(channel, agent) {
    return channelSwitch(channel, agent, 'auto', channel.autoOwnershipAgents, Q.SET_AUTO_OWNERSHIP, 'Auto-ownership');
  }

  function routingSwitch(channel, agent) {
    return channelSwitch(channel, agent, 'routing', channel.routingAgents, Q.SET_ROUTING_AGENT, 'Routing');
  }

  function channelSwitch(channel, agent, kind, agents, doc, words) {
    const on = agents.some((x) => x.id === agent.id);
    const state = h('span', { class: 'switch-state', 'aria-hidden': 'true' }, on ? 'On' : 'Off');
    const input = h('input', {
      type: 'checkbox', role: 'switch', id: `${kind}-${channel.id}-${agent.id}`, checked: on,
      'aria-label': `${words} for ${agent.name} on ${channel.name}`,
      onchange: async () => {
        input.disabled = true;
        const enabled = input.checked;
        const r = await save(doc, { channelId: channel.id, agentId: agent.id, enabled },
          `${words} ${enabled ? 'on' : 'off'} for ${agent.name} on ${channel.name}.`);
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
      stopAgents();
    },
  };
}

// wholeNumber is a field's whole number, or null when it holds none.
function wholeNumber(text) {
  const n = Number(text);
  return text.trim() !== '' && Number.isInteger(n) ? n : null;
}

// sentence is the server's message about a field, with the field's name
// in it said as its label ("Default capacity must be 1 to 100.").
function sentence(s, name, label) {
  s = String(s || 'the server refused it').trim().replace(new RegExp(`^${name}\\b`), label);
  s = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}
