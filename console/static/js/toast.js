// Toasts: short messages in a live region, so screen readers hear them
// too. Errors are alerts and stay until dismissed or replaced.
import { h } from './dom.js';

const INFO_MS = 5000;
const ERROR_MS = 12000;

export function toast(text, kind = 'info') {
  const region = document.getElementById('toasts');
  const close = () => item.remove();
  const item = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : null },
    h('p', null, text),
    h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss', onclick: close }, '×'));
  // At most three at once: the oldest goes.
  while (region.children.length >= 3) region.firstElementChild.remove();
  region.append(item);
  setTimeout(close, kind === 'error' ? ERROR_MS : INFO_MS);
}

export const toastError = (text) => toast(text, 'error');
