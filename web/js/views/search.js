// Search: people (handle and display name) and posts (text), found by substring, so Japanese
// written without spaces is found; width, case and katakana/hiragana do not matter (PROTOCOL.md
// 4.11). The query lives in the route (#/search?q=…), so a search can be shared and gone back to.
// Nothing about a search is recorded, by the server or here.

import { h, byData } from "../dom.js";
import { t } from "../i18n.js";
import { call } from "../session.js";
import * as store from "../store.js";
import { errorText, spinner, emptyState } from "../ui.js";
import { renderPost, updateReactions, userBadges } from "./post.js";
import { feed } from "./timeline.js";
import { avatar, nameOf } from "./face.js";

/**
 * One result list (people or posts) with its own "more" button and cursor. The list holds
 * results only: the spinner, the empty note and errors sit beside it, so that a list or a feed
 * is never a container of anything else (axe: list, aria-required-children).
 */
function results(op, key, draw, emptyText, list) {
  const more = h("button", { type: "button", class: "more", hidden: true }, t("common.more"));
  const note = h("div", { class: "search-note" });
  let cursor = null;
  let query = "";
  let generation = 0;
  async function load(reset) {
    const mine = reset ? ++generation : generation;
    if (reset) { cursor = null; list.replaceChildren(); list.hidden = more.hidden = true; note.replaceChildren(spinner()); }
    more.disabled = true;
    try {
      const page = await call(op, { query, limit: 20, cursor: cursor || undefined });
      if (mine !== generation) return; // a newer search is on its way
      note.replaceChildren();
      for (const item of page[key]) {
        if (list.querySelector(byData("result-id", item.id))) continue;
        const el = draw(item);
        if (el) list.append(el);
      }
      // A page may be short and still have a next (§4.11.2): the button stays.
      // An empty list or feed is hidden rather than left empty (a feed must hold articles).
      list.hidden = !list.children.length;
      if (list.hidden && !page.next) note.replaceChildren(emptyState(emptyText));
      cursor = page.next;
      more.hidden = !cursor;
    } catch (err) {
      if (mine === generation) note.replaceChildren(h("p", { class: "error" }, errorText(err)));
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener("click", () => load(false));
  return { note, more, search(q) { query = q; load(true); } };
}

function person(user) {
  if (store.hidden(user)) return null;
  return h("li", { dataset: { resultId: user.id } },
    h("a", { href: `#/u/${encodeURIComponent(user.handle)}` }, avatar(user, "small"), nameOf(user), userBadges(user),
      h("span", { class: "handle" }, `@${user.handle}`)));
}

function post(entry) {
  const card = renderPost(store.rememberPost(entry));
  card.dataset.resultId = entry.id;
  return card;
}

export function renderSearch(view, query) {
  const initial = (query?.get("q") || "").trim();
  const input = h("input", {
    type: "search", name: "q", value: initial, maxLength: 100, placeholder: t("search.placeholder"),
    attrs: { "aria-label": t("search.label") },
  });
  const form = h("form", { class: "search-bar search-everything", attrs: { role: "search" } },
    input, h("button", { type: "submit", class: "primary" }, t("search.submit")));
  const peopleList = h("ul", { class: "member-list search-people" });
  const postList = feed(t("search.posts"));
  const people = results("search.users", "users", person, t("search.noPeople"), peopleList);
  const posts = results("search.posts", "posts", post, t("search.noPosts"), postList);
  const found = h("div", { class: "search-results", hidden: !initial },
    h("section", { attrs: { "aria-labelledby": "search-people-title" } },
      h("h2", { id: "search-people-title" }, t("search.people")), peopleList, people.note, people.more),
    h("section", { attrs: { "aria-labelledby": "search-posts-title" } },
      h("h2", { id: "search-posts-title" }, t("search.posts")), postList, posts.note, posts.more));
  view.append(h("h1", { class: "view-title" }, t("nav.search")), form,
    h("p", { class: "hint" }, t("search.hint")), found);

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = input.value.trim();
    if (!q) return;
    const target = `#/search?${new URLSearchParams({ q })}`;
    if (location.hash === target) searchBoth(q); else location.hash = target;
  });
  // "@taro" means the person: people are searched without the "@", posts with it as written.
  function searchBoth(q) { found.hidden = false; people.search(q.replace(/^@/, "") || q); posts.search(q); }
  if (initial) searchBoth(initial); else input.focus();
  return store.on("post.reactions", updateReactions);
}
