// Building DOM without markup strings. Every string becomes a Text node or a textContent, so
// user text can never turn into HTML (the server's CSP forbids inline script as a second guard).

/**
 * h("button", {class: "x", on: {click: fn}, attrs: {"aria-label": "…"}}, "text", node, [more])
 * Props: class, text, id, title, type, href, value, hidden, disabled, dataset, attrs, on.
 * Children: strings (as text), numbers, nodes, arrays of those; null/undefined/false are skipped.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "on") for (const [type, fn] of Object.entries(value)) el.addEventListener(type, fn);
    else if (key === "attrs") for (const [name, v] of Object.entries(value)) {
      if (v !== undefined && v !== null && v !== false) el.setAttribute(name, v === true ? "" : String(v));
    }
    else if (key in el) el[key] = value;
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

/** A CSS.escape'd attribute selector for an id. */
export const byData = (name, value) => `[data-${name}="${CSS.escape(value)}"]`;
