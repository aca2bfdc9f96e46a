// A post in its conversation: the chain it answers, the post, its replies, and a reply box.

import { h, fill } from "../dom.js";
import { t } from "../i18n.js";
import { call } from "../session.js";
import * as store from "../store.js";
import { errorText, spinner, emptyState } from "../ui.js";
import { renderPost, updateReactions, removePost } from "./post.js";
import { createComposer } from "./composer.js";
import { feed } from "./timeline.js";

export function renderThread(view, postId, query) {
  const box = h("div", { class: "thread" }, spinner());
  view.append(h("h1", { class: "view-title" }, h("a", { href: "#/", class: "back", attrs: { "aria-label": t("common.back") } }, "←"), " ", t("thread.title")), box);
  const replies = feed(t("thread.replies"));
  let next = null;

  async function load() {
    try {
      const data = await call("post.thread", { post_id: postId, limit: 50 });
      const main = store.rememberPost(data.post);
      const composer = createComposer({
        replyTo: main.id, compact: true, placeholder: t("composer.replyPlaceholder", { name: main.author.display_name }),
        onPosted: addReply,
      });
      const focused = renderPost(main);
      focused.classList.add("focused");
      fill(box, 
        ...data.ancestors.map((p) => { const el = renderPost(store.rememberPost(p)); el.classList.add("ancestor"); return el; }),
        focused, composer, h("h2", { class: "section-title" }, t("thread.replies")), replies);
      for (const reply of data.replies) replies.append(renderPost(store.rememberPost(reply)));
      if (!data.replies.length) replies.append(emptyState(t("thread.noReplies")));
      next = data.next;
      if (next) box.append(h("button", { type: "button", class: "more", on: { click: more } }, t("thread.moreReplies")));
      if (query?.get("reply")) composer.focusText();
    } catch (err) {
      fill(box, h("p", { class: "error" }, errorText(err)));
    }
  }

  function addReply(post) {
    if (replies.querySelector(`[data-entry-id="${post.id}"]`)) return;
    replies.querySelector(".empty")?.remove();
    replies.append(renderPost(post));
  }

  async function more(e) {
    const data = await call("post.thread", { post_id: postId, limit: 50, after: next });
    for (const reply of data.replies) replies.append(renderPost(store.rememberPost(reply)));
    next = data.next;
    if (!next) e.target.remove();
  }

  load();
  const offs = [
    store.on("post.reactions", updateReactions),
    store.on("post.deleted", removePost),
    store.on("post.created", (post) => { if (post.reply_to === postId) addReply(post); }),
  ];
  return () => offs.forEach((off) => off());
}
