// Pictures on posts and messages: a grid of one to four, each box shaped from the picture's
// width and height and painted its placeholder colour before a byte arrives (so a timeline never
// jumps), the alt text as the image's alt and title, animations marked; a click opens the viewer.
//
// Low-bandwidth mode: while an incident is active (phone networks are congested in a disaster),
// grids load the small still thumbnail only, and each picture offers "load full image".

import { h, $$ } from "../dom.js";
import { t } from "../i18n.js";
import * as store from "../store.js";
import { paint } from "./face.js";

/** Pictures whose full size the reader asked for during an incident (by media id). */
const fullAsked = new Set();
/** The media list each grid on the page was drawn from, to draw it again when the mode changes. */
const drawn = new WeakMap();

export const lowBandwidth = () => !!store.state.incident;
const reducedMotion = () => matchMedia("(prefers-reduced-motion: reduce)").matches;

/** Which variant a grid shows: the thumbnail in low-bandwidth mode unless asked for more. */
function showFull(m) {
  return !lowBandwidth() || fullAsked.has(m.id);
}

function setSource(img, m, { sizes, viewer = false } = {}) {
  img.removeAttribute("srcset");
  if (!showFull(m)) { img.src = m.thumbnail.url; return; }
  if (m.animated) {
    // The thumbnail of an animation is its first frame: the still look under reduced motion.
    img.src = reducedMotion() && !viewer ? m.thumbnail.url : m.display.url;
    return;
  }
  if (!viewer && sizes) {
    // Let the browser take the 400 px variant where it is enough (small cells, 1x screens).
    img.srcset = `${m.thumbnail.url} ${m.thumbnail.width}w, ${m.display.url} ${m.display.width}w`;
    img.sizes = sizes;
  }
  img.src = m.display.url;
}

function tile(m, i, items, options) {
  const alt = m.alt || "";
  const img = h("img", { alt, width: m.width, height: m.height, decoding: "async", loading: "lazy", draggable: false });
  if (alt) img.title = alt;
  const single = items.length === 1;
  setSource(img, m, { sizes: single ? "(max-width: 760px) 100vw, 40rem" : "(max-width: 760px) 50vw, 20rem" });
  const open = h("button", {
    type: "button", class: "media-open",
    attrs: { "aria-label": alt ? null : t("media.picture", { n: i + 1, total: items.length }), "aria-haspopup": "dialog" },
    on: { click: () => openViewer(items, i, open) },
  }, img);
  paint(open, m.placeholder);
  const marks = h("span", { class: "media-marks", attrs: { "aria-hidden": "true" } },
    m.animated ? h("span", { class: "media-mark" }, t("media.animated")) : null,
    alt ? h("span", { class: "media-mark" }, "ALT") : null);
  const box = h("div", { class: ["media-tile", m.animated && "animated"], dataset: { mediaId: m.id } }, open, marks);
  if (m.animated) box.append(h("span", { class: "sr-only" }, t("media.animatedLong")));
  if (!showFull(m)) {
    box.append(h("button", {
      type: "button", class: "load-full",
      on: { click: () => { fullAsked.add(m.id); refreshMedia(); } }, // the focus moves to the picture
    }, t("media.loadFull")));
    box.classList.add("thumb-only");
  }
  return box;
}

/** A grid of a post's or a message's pictures (at most 4, in the author's order). */
export function mediaGrid(list, options = {}) {
  const items = (list || []).slice(0, 4);
  const grid = h("div", {
    class: ["media-grid", `n${items.length}`, options.compact && "compact", lowBandwidth() && "low"],
    attrs: { role: "group", "aria-label": t("media.group", { n: items.length }) },
  });
  items.forEach((m, i) => grid.append(tile(m, i, items, options)));
  drawn.set(grid, { items, options });
  return grid;
}

/** Draw every grid on the page again: the incident began or ended, or a full size was asked. */
export function refreshMedia() {
  const focused = document.activeElement?.closest?.(".media-tile")?.dataset.mediaId;
  for (const grid of $$(".media-grid")) {
    const known = drawn.get(grid);
    if (!known) continue;
    const fresh = mediaGrid(known.items, known.options);
    grid.replaceWith(fresh);
    if (focused) fresh.querySelector(`.media-tile[data-media-id="${CSS.escape(focused)}"] .media-open`)?.focus();
  }
}

// -- the viewer --------------------------------------------------------------------------------

/**
 * A modal dialog showing one picture large with its alt text: Esc closes, ←/→ move, Tab stays
 * inside, and the focus returns to the picture it was opened from.
 */
export function openViewer(items, start, opener) {
  let index = start;
  const img = h("img", { class: "viewer-img", alt: "" });
  const frame = h("div", { class: "viewer-frame" }, img);
  const caption = h("p", { class: "viewer-alt" });
  const counter = h("span", { class: "viewer-count", attrs: { "aria-live": "polite" } });
  const loadFull = h("button", { type: "button", class: "load-full", on: { click: () => { fullAsked.add(items[index].id); show(); refreshMedia(); } } }, t("media.loadFull"));
  const prev = h("button", { type: "button", class: "viewer-prev", attrs: { "aria-label": t("media.previous") }, on: { click: () => move(-1) } }, "←");
  const next = h("button", { type: "button", class: "viewer-next", attrs: { "aria-label": t("media.next") }, on: { click: () => move(1) } }, "→");
  const close = h("button", { type: "button", class: "viewer-close", attrs: { "aria-label": t("media.close") }, on: { click: () => dialog.close() } }, "✕");
  const dialog = h("dialog", { class: "viewer", attrs: { "aria-label": t("media.viewer") } },
    h("div", { class: "viewer-top" }, counter, close),
    frame,
    h("div", { class: "viewer-bottom" }, prev, h("div", { class: "viewer-text" }, caption, loadFull), next));

  function show() {
    const m = items[index];
    paint(frame, m.placeholder);
    img.width = m.width;
    img.height = m.height;
    img.alt = m.alt || t("media.picture", { n: index + 1, total: items.length });
    img.title = m.alt || "";
    setSource(img, m, { viewer: true });
    caption.textContent = m.alt || t("media.noAlt");
    caption.classList.toggle("none", !m.alt);
    counter.textContent = t("media.count", { n: index + 1, total: items.length });
    loadFull.hidden = showFull(m);
    prev.hidden = next.hidden = items.length < 2;
  }

  function move(step) {
    index = (index + step + items.length) % items.length;
    show();
  }

  function focusable() {
    return $$("button, [href], input, textarea, select, [tabindex]:not([tabindex='-1'])", dialog)
      .filter((el) => !el.hidden && !el.disabled && el.offsetParent !== null);
  }

  dialog.addEventListener("keydown", (e) => {
    if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
      e.preventDefault();
      move(e.key === "ArrowLeft" ? -1 : 1);
    } else if (e.key === "Tab") {
      // showModal makes the page inert, but Tab may still leave for the browser's own UI: keep
      // it going round the dialog.
      const stops = focusable();
      if (!stops.length) return;
      const first = stops[0];
      const last = stops[stops.length - 1];
      if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
      else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
    }
  });
  dialog.addEventListener("click", (e) => { if (e.target === dialog) dialog.close(); }); // the backdrop
  dialog.addEventListener("close", () => {
    dialog.remove();
    const target = opener?.isConnected ? opener : document.querySelector(`.media-tile[data-media-id="${CSS.escape(items[index].id)}"] .media-open`);
    target?.focus();
  });
  document.body.append(dialog);
  show();
  dialog.showModal();
  close.focus();
  return dialog;
}

store.on("incident", () => refreshMedia());
