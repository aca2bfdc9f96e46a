// A hashtag's timeline (#/tag/<normalised tag>), live: the newest posts with the tag that the
// reader may see, and each new one as it is written (timeline.tag with live: true, §4.3.11).
// During an incident this is how people follow local information (#給水, #炊き出し), so new
// posts go straight in at the top and are announced. Watching is per connection and not
// replayed: after a reconnect the page is asked for again, which also watches anew.

import { h, $$ } from "../dom.js";
import { t } from "../i18n.js";
import * as store from "../store.js";
import { call } from "../session.js";
import { announce, errorText, spinner, emptyState } from "../ui.js";
import { renderPost, updateReactions, removePost } from "./post.js";
import { feed } from "./timeline.js";

const PAGE = 20;

/** Whether a post's own text carries the (normalised) tag. */
const carries = (post, tag) => (post.entities || []).some((e) => e.kind === "tag" && e.tag === tag);

export function renderTag(view, tag) {
  const list = feed(t("tag.label", { tag }));
  const more = h("button", { type: "button", class: "more", hidden: true }, t("timeline.older"));
  const status = h("p", { class: "hint live-hint" }, t("tag.live"));
  // Loading, empty and error notes sit beside the feed, not in it: a feed holds articles only.
  const note = h("div", { class: "feed-note" }, spinner());
  view.append(
    h("h1", { class: "view-title" },
      h("a", { href: "#/", class: "back", attrs: { "aria-label": t("common.back") } }, "←"), " ",
      h("span", { class: "hashtag-title" }, `#${tag}`)),
    status, note, list, more);
  let next = null;
  let closed = false;

  const shown = () => new Set($$(":scope > article", list).map((a) => a.dataset.entryId));

  function add(post, { top = false } = {}) {
    if (store.hidden(post.author) || shown().has(post.id)) return false;
    note.replaceChildren();
    const card = renderPost(store.rememberPost(post));
    if (!top) { list.append(card); return true; }
    // Newest first: in before the first card older than it.
    const after = $$(":scope > article", list).find((a) => a.dataset.entryId < post.id);
    list.insertBefore(card, after || null);
    card.classList.add("arrived");
    return true;
  }

  /** The first page, watching the tag; again after a reconnect, merged into what is shown. */
  async function first() {
    try {
      const page = await call("timeline.tag", { tag, limit: PAGE, live: true });
      if (closed) return;
      note.replaceChildren();
      const fresh = !list.querySelector("article");
      for (const post of page.posts) add(post, { top: !fresh });
      if (fresh) next = page.next;
      if (!list.querySelector("article")) note.append(emptyState(t("tag.empty")));
      more.hidden = !next;
    } catch (err) {
      note.replaceChildren(h("p", { class: "error" }, errorText(err)));
    }
  }

  async function older() {
    more.disabled = true;
    try {
      const page = await call("timeline.tag", { tag, limit: PAGE, before: next });
      for (const post of page.posts) add(post);
      next = page.next;
      more.hidden = !next;
    } catch (err) {
      more.after(h("p", { class: "error" }, errorText(err)));
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener("click", older);

  function arrived(post) {
    if (!add(post, { top: true })) return;
    if (post.author.id !== store.state.me?.id) {
      announce(t("live.newTagged", { tag, name: post.author.display_name, text: post.text }));
    }
  }

  const offs = [
    store.on("tag.post", (data) => { if (data.tag === tag) arrived(data.post); }),
    // A post of a community that requires approval reaches its members as post.created only.
    store.on("post.created", (post) => { if (carries(post, tag)) arrived(post); }),
    store.on("post.deleted", removePost),
    store.on("post.reactions", updateReactions),
    store.on("resumed", first),
  ];
  first();
  return () => {
    closed = true;
    offs.forEach((off) => off());
    call("tag.unwatch", { tag }).catch(() => {}); // the connection may be gone: nothing to undo
  };
}

