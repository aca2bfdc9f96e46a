// The Following and Discover tabs. Following is live: new posts are added at the top while the
// reader is at the top, and otherwise wait behind an "N new posts" pill, so the reading position
// never jumps. Every arrival is announced through the ARIA live region.

import { h, $, $$, byData } from "../dom.js";
import { t } from "../i18n.js";
import * as store from "../store.js";
import { call, loadOlderFollowing } from "../session.js";
import { announce, errorText, spinner, emptyState } from "../ui.js";
import { renderPost, updateReactions, removePost } from "./post.js";
import { createComposer } from "./composer.js";
import { renderGuide } from "./guide.js";

/** The reader counts as "at the top" this close to it (px): new posts go straight in. */
const TOP_SLACK_PX = 4;

/** The Following/Discover tabs, after the screen's level-one heading: the current tab's name,
 * for screen readers only (the tabs already show it on screen). */
export function tabs(current) {
  const screen = document.createDocumentFragment();
  screen.append(
    h("h1", { class: "sr-only" }, t(current === "following" ? "nav.following" : "nav.discover")),
    h("nav", { class: "tabs", attrs: { "aria-label": t("timeline.tabs") } },
      h("a", { href: "#/", attrs: { "aria-current": current === "following" ? "page" : null } }, t("nav.following")),
      h("a", { href: "#/discover", attrs: { "aria-current": current === "discover" ? "page" : null } }, t("nav.discover"))));
  return screen;
}

/** A feed with j/k keyboard movement between its posts. It is a role="feed" only while it
 * holds posts: a feed may contain articles alone, so while it shows a loading or "nothing
 * here" note it is a plain block (without the label, which a plain block may not carry). */
export function feed(label) {
  const el = h("div", { class: "feed" });
  const sync = () => {
    const posts = el.querySelector(":scope > article") !== null;
    if (posts) { el.setAttribute("role", "feed"); el.setAttribute("aria-label", label); }
    else { el.removeAttribute("role"); el.removeAttribute("aria-label"); }
  };
  new MutationObserver(sync).observe(el, { childList: true });
  el.addEventListener("keydown", (e) => {
    if (e.target.tagName === "TEXTAREA" || e.target.tagName === "INPUT") return;
    const cards = $$(":scope > article", el);
    const current = e.target.closest("article");
    const i = cards.indexOf(current);
    if (e.key === "j" || e.key === "k") {
      e.preventDefault();
      const next = cards[Math.max(0, Math.min(cards.length - 1, i + (e.key === "j" ? 1 : -1)))];
      next?.focus();
    }
  });
  return el;
}

export function renderFollowing(view) {
  const pending = new Set();
  let quoteComposer = null;
  const options = { onQuote: (post) => { quoteComposer.setQuote(post); window.scrollTo({ top: 0 }); } };
  const composer = createComposer({
    onPosted: (post) => {
      if (store.following.add(post)) insert(post, { force: true });
      else if (!$(`article${byData("entry-id", post.id)}`, list)) insert(post, { force: true });
    },
  });
  quoteComposer = composer;
  const pill = h("button", { type: "button", class: "pill", hidden: true, on: { click: reveal } });
  const list = feed(t("nav.following"));
  const more = h("button", { type: "button", class: "more", hidden: true, on: { click: older } }, t("timeline.older"));
  // The pill floats in a slot of no height, so showing it moves nothing under the reader.
  // The first-run guide, outside the feed (a feed holds posts only), while Following is empty.
  const guide = h("div", { class: "guide-slot" });
  view.append(tabs("following"), composer, h("div", { class: "pill-slot" }, pill), guide, list, more);

  function drawAll() {
    pending.clear();
    pill.hidden = true;
    list.replaceChildren();
    if (!store.following.loaded) { list.append(spinner()); return; }
    for (const id of store.following.ids) {
      const post = store.posts.get(id);
      if (post) list.append(renderPost(post, options));
    }
    if (!store.following.ids.length) list.append(emptyState(t("timeline.empty")));
    if (!store.following.ids.length) { if (!guide.firstChild) guide.append(renderGuide()); } else guide.replaceChildren();
    more.hidden = !store.following.next;
  }

  function insert(post, { force = false } = {}) {
    list.querySelector(".empty, .loading")?.remove();
    const card = renderPost(post, options);
    const after = $$(":scope > article", list).find((a) => a.dataset.entryId < post.id);
    const atTop = window.scrollY <= TOP_SLACK_PX;
    if (!force && !after) { list.append(card); return; } // an older post, below what is shown
    if (!force && (!atTop || pending.size)) {
      pending.add(post.id);
      updatePill();
      return;
    }
    list.insertBefore(card, after || null);
    card.classList.add("arrived");
  }

  function updatePill() {
    pill.hidden = pending.size === 0;
    pill.textContent = t("timeline.newPosts", { n: pending.size });
  }

  function reveal() {
    const ids = [...pending].sort().reverse();
    pending.clear();
    updatePill();
    for (const id of ids.reverse()) {
      const post = store.posts.get(id);
      if (post && store.following.has(id)) insert(post, { force: true });
    }
    window.scrollTo({ top: 0 });
    list.querySelector("article")?.focus({ preventScroll: true });
  }

  async function older() {
    more.disabled = true;
    try {
      await loadOlderFollowing();
    } catch (err) {
      more.after(h("p", { class: "error" }, errorText(err)));
    } finally {
      more.disabled = false;
    }
  }

  const offs = [
    store.on("following.new", (post) => {
      insert(post);
      if (post.author.id !== store.state.me?.id) {
        announce(t("live.newPost", { name: post.author.display_name, text: post.repost_of ? t("post.repostShort") : post.text }));
      }
    }),
    store.on("following.loaded", drawAll),
    store.on("following.older", (posts) => {
      for (const post of posts) list.append(renderPost(post, options));
      more.hidden = !store.following.next;
    }),
    store.on("post.deleted", (id) => { pending.delete(id); updatePill(); removePost(id); }),
    store.on("post.reactions", updateReactions),
  ];
  drawAll();
  return () => offs.forEach((off) => off());
}

export function renderDiscover(view) {
  const list = feed(t("nav.discover"));
  const more = h("button", { type: "button", class: "more", hidden: true }, t("timeline.older"));
  const seen = new Set();
  let cursor = null;
  view.append(tabs("discover"), h("p", { class: "hint" }, t("discover.hint")), list, more);
  list.append(spinner());

  async function page() {
    more.disabled = true;
    try {
      const result = await call("timeline.discover", { limit: 20, cursor: cursor || undefined });
      list.querySelector(".loading")?.remove();
      for (const post of result.posts) {
        if (seen.has(post.id) || store.hidden(post.author)) continue; // pages may repeat (§4.3.10)
        seen.add(post.id);
        list.append(renderPost(store.rememberPost(post)));
      }
      if (!seen.size) list.append(emptyState(t("discover.empty")));
      cursor = result.next;
      more.hidden = !cursor;
    } catch (err) {
      list.querySelector(".loading")?.remove();
      list.append(h("p", { class: err.code === "shed" ? "notice" : "error" }, err.code === "shed" ? t("discover.shed") : errorText(err)));
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener("click", page);
  page();
  const off = store.on("post.reactions", updateReactions);
  return off;
}
