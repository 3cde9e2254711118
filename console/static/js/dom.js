// Building DOM without HTML strings: text is always text, never markup.

// h makes an element. attrs: "class", "dataset", on<event> handlers, the
// properties value/checked/disabled/hidden/selected, and other attributes
// (true: present, false/null: absent). Children: nodes, strings, arrays.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') {
      for (const [k, v] of Object.entries(value)) if (v != null) el.dataset[k] = v;
    }
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (['value', 'checked', 'disabled', 'hidden', 'selected'].includes(key)) el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

// append adds children (nodes, strings, arrays; null and false are skipped).
export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

// replace swaps an element's children.
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// visuallyHidden is text for screen readers only.
export function visuallyHidden(text) {
  return h('span', { class: 'visually-hidden' }, text);
}

// keepFocus re-renders inside root and puts the focus back on the element
// with the same id, if it had it.
export function keepFocus(root, render) {
  const active = document.activeElement;
  const id = active && root.contains(active) ? active.id : '';
  render();
  if (id) document.getElementById(id)?.focus();
}
