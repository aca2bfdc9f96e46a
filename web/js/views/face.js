// Faces: a person's profile picture (or, without one, the coloured initial), and the live update
// of every face and name on screen when someone changes theirs (user.updated, §5.15).

import { h, $$, byData } from "../dom.js";
import * as store from "../store.js";
import { t } from "../i18n.js";

/** A person's name as shown: a deleted account has the empty display name (§11.14). */
export const shownName = (user) => user.display_name || t("user.deleted");

const COLOUR = /^#[0-9a-f]{6}$/i;

/** Paint an element with a picture's placeholder colour while the picture loads. The CSP's
 * style-src governs style attributes and <style> in markup, not the CSSOM, so this one checked
 * property is set through it (a class per colour is impossible: there are 16 million). */
export function paint(el, colour) {
  if (typeof colour === "string" && COLOUR.test(colour)) el.style.setProperty("--placeholder", colour);
  return el;
}

/** A stable colour bucket per user, drawn from CSS classes. */
function hue(id) {
  let sum = 0;
  for (const ch of id) sum = (sum * 31 + ch.charCodeAt(0)) % 8;
  return sum;
}

/**
 * A face: size "" (lists, cards), "small", "tiny" or "large" (a profile page, which shows the
 * 400 px picture; every other size the 96 px thumbnail, as does every size during an incident).
 * Decorative (aria-hidden): the person's name is always beside it.
 */
export function avatar(user, size = "") {
  const u = store.latest(user);
  const picture = u.avatar;
  const el = h("span", {
    class: ["avatar", size, picture && "has-picture"],
    attrs: { "aria-hidden": "true" },
    dataset: { hue: String(hue(u.id)), faceOf: u.id, size },
  });
  if (picture) {
    paint(el, picture.placeholder);
    const src = size === "large" && !store.state.incident ? picture.url : picture.thumbnail_url;
    el.append(h("img", { src, alt: "", decoding: "async", loading: size === "large" ? "eager" : "lazy", draggable: false }));
  } else {
    el.append([...u.display_name][0] || "?");
  }
  return el;
}

/** A display name that follows changes live. */
export function nameOf(user, props = {}) {
  const u = store.latest(user);
  return h("span", { class: ["display-name", !u.display_name && "deleted-account"], ...props, dataset: { nameOf: u.id } }, shownName(u));
}

/** Redraw every face, name and handle of this person on the page (called on user.updated). */
export function refreshPerson(user) {
  for (const el of $$(byData("face-of", user.id))) {
    el.replaceWith(avatar(user, el.dataset.size || ""));
  }
  for (const el of $$(byData("name-of", user.id))) el.textContent = user.display_name;
  for (const el of $$(byData("handle-of", user.id))) el.textContent = `@${user.handle}`;
}
