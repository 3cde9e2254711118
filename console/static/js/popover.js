// A button that opens a panel below it (a filter menu, an owner menu):
// Escape or a click outside closes it and gives the focus back to the
// button; arrow keys move between the panel's controls.
import { h } from './dom.js';

let count = 0;

export function popover({ label, className = '', render, role = 'group', panelLabel }) {
  const id = `popover-${++count}`;
  const button = h('button', {
    type: 'button', class: `popover-button ${className}`, 'aria-expanded': 'false', 'aria-controls': id,
    'aria-haspopup': role === 'menu' ? 'menu' : 'true',
  });
  const panel = h('div', { id, class: 'popover-panel', role, 'aria-label': panelLabel, hidden: true });
  const wrap = h('div', { class: 'popover' }, button, panel);
  const setLabel = (content) => {
    button.replaceChildren();
    button.append(...[content].flat(Infinity), h('span', { class: 'caret', 'aria-hidden': 'true' }, '▾'));
  };
  setLabel(label);

  const isOpen = () => !panel.hidden;
  const items = () => [...panel.querySelectorAll('button:not([disabled]), input:not([disabled])')];
  const outside = (ev) => {
    if (!wrap.contains(ev.target)) close(false);
  };
  const escape = (ev) => {
    if (ev.key === 'Escape') {
      ev.preventDefault();
      close(wrap.contains(document.activeElement) || document.activeElement === document.body);
    }
  };
  function open() {
    panel.replaceChildren(...[render(close)].flat(Infinity));
    panel.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    document.addEventListener('pointerdown', outside);
    document.addEventListener('keydown', escape);
    (panel.querySelector('[aria-checked="true"], :checked') || items()[0])?.focus();
  }
  function close(focusButton = true) {
    if (!isOpen()) return;
    panel.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    document.removeEventListener('pointerdown', outside);
    document.removeEventListener('keydown', escape);
    if (focusButton) button.focus();
  }
  // refresh re-renders an open panel (new counts, a presence dot changed).
  function refresh() {
    if (!isOpen()) return;
    const focusedId = panel.contains(document.activeElement) ? document.activeElement.id : '';
    panel.replaceChildren(...[render(close)].flat(Infinity));
    if (focusedId) document.getElementById(focusedId)?.focus();
  }
  button.addEventListener('click', () => (isOpen() ? close() : open()));
  wrap.addEventListener('keydown', (ev) => {
    if (!isOpen()) return;
    const list = items();
    const at = list.indexOf(document.activeElement);
    if (at < 0) return;
    const to = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: list.length - 1 }[ev.key];
    if (to !== undefined) {
      ev.preventDefault();
      list[(to + list.length) % list.length].focus();
    }
  });
  return { element: wrap, setLabel, refresh, close, button };
}
