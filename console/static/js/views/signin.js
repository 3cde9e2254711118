// Sign-in: paste a token. Under `switchboard dev` the server lists the demo
// workspace's tokens, and they are offered as buttons.
import { h, replace } from '../dom.js';

export function mountSignIn(root, { message, kind, signIn }) {
  const problem = h('p', { class: `notice notice-${kind || 'error'}`, role: kind === 'info' ? 'status' : 'alert', hidden: !message }, message || '');
  const field = h('textarea', {
    id: 'token', name: 'token', rows: 4, required: true, autocomplete: 'off', spellcheck: 'false',
    'aria-describedby': 'token-help', placeholder: 'eyJhbGciOiJIUzI1NiIs…',
  });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const attempt = async (token) => {
    submit.disabled = true;
    problem.hidden = true;
    const why = await signIn(token);
    submit.disabled = false;
    if (why) {
      problem.className = 'notice notice-error';
      problem.setAttribute('role', 'alert');
      problem.textContent = why;
      problem.hidden = false;
      field.focus();
    }
  };
  const form = h('form', {
    class: 'signin-form',
    onsubmit: (ev) => {
      ev.preventDefault();
      attempt(field.value);
    },
  },
  h('label', { for: 'token' }, 'Access token'),
  field,
  h('p', { id: 'token-help', class: 'help' }, 'A JWT from your identity provider, or one that ', h('code', null, 'switchboard token'), ' minted.'),
  submit);
  const devList = h('ul', { class: 'dev-tokens' });
  const dev = h('section', { class: 'dev', 'aria-labelledby': 'dev-title', hidden: true },
    h('h2', { id: 'dev-title' }, 'Demo workspace'),
    h('p', { class: 'help' }, 'This dev server offers its demo tokens. Sign in as:'),
    devList);
  replace(root, h('div', { class: 'signin' },
    h('div', { class: 'signin-card' },
      h('h1', null, h('span', { class: 'logo', 'aria-hidden': 'true' }), 'Switchboard'),
      h('p', { class: 'tagline' }, 'Agent console'),
      problem, form, dev)));
  field.focus();

  fetch('/console/dev-tokens').then((res) => (res.ok ? res.json() : [])).then((tokens) => {
    if (!Array.isArray(tokens) || tokens.length === 0) return;
    replace(devList, tokens.map((t) => h('li', null,
      h('button', { type: 'button', class: 'dev-token', onclick: () => attempt(t.token) },
        h('span', { class: 'dev-name' }, t.label.replace(/\s*\(.*\)$/, '')),
        h('span', { class: `role role-${t.role}` }, t.role)))));
    dev.hidden = false;
  }).catch(() => {});
}
