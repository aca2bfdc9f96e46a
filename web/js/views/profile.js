// A profile: name with the verified badge, counts, follow / unfollow, message, mute, block,
// report; presence and the latest safety status where the viewer may see them; the person's own
// posts and reposts, newest first, page by page (timeline.user).

import { h, fill, byData } from "../dom.js";
import { t, absoluteTime } from "../i18n.js";
import { call, setHidden } from "../session.js";
import * as store from "../store.js";
import { errorText, spinner, emptyState, toast } from "../ui.js";
import { userBadges, renderPost, updateReactions, removePost } from "./post.js";
import { presenceLine, statusBadge } from "./safety.js";
import { feed } from "./timeline.js";
import { avatar, nameOf } from "./face.js";
import { openReport } from "./report.js";

export { avatar } from "./face.js";

export function renderProfile(view, handle) {
  const box = h("div", { class: "profile" }, spinner());
  const list = feed(t("profile.posts"));
  const more = h("button", { type: "button", class: "more", hidden: true, on: { click: () => loadPosts(true) } }, t("timeline.older"));
  const posts = h("section", { class: "profile-posts", hidden: true, attrs: { "aria-label": t("profile.posts") } },
    h("h2", {}, t("profile.posts")), list, more);
  view.append(box, posts);
  let user = null;
  let next = null;
  // One of us blocks the other and it is not us (the Profile says whether *we* block): a Profile
  // never says so (PROTOCOL.md 4.2), but their posts answer not_found and following answers
  // `blocked`. Then neither Follow nor Message is offered, and nothing says who blocks whom.
  let unavailable = false;

  async function load() {
    try {
      user = (await call("user.get", { handle })).user;
      store.rememberUser(user);
      await loadPosts(false); // first: it tells whether Follow and Message can be offered
      draw();
      extras();
    } catch (err) {
      fill(box, h("p", { class: "error" }, errorText(err)));
    }
  }

  let postsGeneration = 0;
  async function loadPosts(older) {
    const mine = older ? postsGeneration : ++postsGeneration;
    posts.hidden = false;
    more.disabled = true;
    if (!older) list.replaceChildren(spinner());
    try {
      const page = await call("timeline.user", { user_id: user.id, limit: 20, before: older ? next || undefined : undefined });
      if (mine !== postsGeneration) return; // a newer first page is on its way
      if (!older) { list.replaceChildren(); unavailable = false; }
      for (const post of page.posts) {
        if (!list.querySelector(`article${byData("entry-id", post.id)}`)) list.append(renderPost(store.rememberPost(post)));
      }
      if (!list.querySelector("article")) list.replaceChildren(emptyState(t("profile.noPosts")));
      next = page.next;
      more.hidden = !next;
    } catch (err) {
      if (mine !== postsGeneration) return;
      // A block either way answers not_found: the person's posts are simply not shown.
      posts.hidden = err.code === "not_found";
      if (err.code === "not_found" && !older) unavailable = !user.blocking;
      list.replaceChildren(h("p", { class: "error" }, errorText(err)));
      more.hidden = true;
    } finally {
      more.disabled = false;
    }
  }

  /** A post of theirs arriving live (we follow them, or share the community): on top. */
  function arrived(post) {
    if (!user || post.author.id !== user.id || posts.hidden) return;
    if (list.querySelector(`article${byData("entry-id", post.id)}`)) return;
    list.querySelector(".empty")?.remove();
    const after = [...list.querySelectorAll(":scope > article")].find((a) => a.dataset.entryId < post.id);
    if (!after && next) return; // older than what is shown: a later page brings it
    list.insertBefore(renderPost(post), after || null);
  }

  async function act(op) {
    try {
      const hides = op.startsWith("block.") || op.startsWith("mute.");
      const result = hides ? await setHidden(op, user.id) : await call(op, { user_id: user.id });
      if (result.user) user = result.user;
      if (op.startsWith("block")) await loadPosts(false);
      draw();
      extras();
    } catch (err) {
      if (err.code === "blocked" && !user.blocking) { unavailable = true; draw(); }
      toast(errorText(err), "error");
    }
  }

  async function message() {
    try {
      const { conversation } = await call("dm.open", { user_ids: [user.id] });
      store.conversations.set(conversation.id, conversation);
      location.hash = `#/dm/${conversation.id}`;
    } catch (err) {
      toast(errorText(err), "error");
    }
  }

  async function report() {
    const { blocked } = await openReport({ user });
    if (!blocked) return;
    user = { ...user, blocking: true, following: false, followed_by: false };
    await loadPosts(false);
    draw();
  }

  const extra = h("div", { class: "profile-extra" });

  function draw() {
    const me = store.state.me;
    const self = me && me.id === user.id;
    const buttons = self ? [
      h("a", { class: "button primary", href: "#/me/edit" }, t("profile.edit")),
      h("a", { class: "button", href: "#/settings" }, t("nav.settings")),
    ] : [
      // Someone who blocks us can be neither followed nor messaged: not offered. Someone we block
      // keeps a disabled Follow (our block ended the follow; unblocking brings it back).
      unavailable && !user.blocking ? null : user.following
        ? h("button", { type: "button", class: "follow following", on: { click: () => act("unfollow") } }, t("profile.unfollow"))
        : h("button", { type: "button", class: "follow primary", disabled: user.blocking, on: { click: () => act("follow") } }, t("profile.follow")),
      user.blocking || unavailable ? null : h("button", { type: "button", class: "message", on: { click: message } }, t("profile.message")),
      h("button", { type: "button", on: { click: () => act(user.muting ? "mute.remove" : "mute.add") } }, user.muting ? t("profile.unmute") : t("profile.mute")),
      h("button", { type: "button", class: "danger", on: { click: () => act(user.blocking ? "block.remove" : "block.add") } }, user.blocking ? t("profile.unblock") : t("profile.block")),
      h("button", { type: "button", class: "link", on: { click: report } }, t("profile.report")),
    ];
    fill(box, 
      h("div", { class: "profile-head card" },
        avatar(user, "large"),
        h("div", { class: "profile-names" },
          h("h1", {}, nameOf(user), userBadges(user)),
          h("p", { class: "handle" }, `@${user.handle}`, user.followed_by ? h("span", { class: "tag" }, t("profile.followsYou")) : null),
          user.bio ? h("p", { class: "bio" }, user.bio) : null,
          user.interests?.length
            ? h("p", { class: "interests" }, h("span", { class: "sr-only" }, t("profile.interests")),
              user.interests.map((tag) => h("a", { class: "tag", href: `#/communities?tag=${encodeURIComponent(tag)}` }, `#${tag}`)))
            : null,
          h("p", { class: "counts" },
            h("a", { class: "count-link", href: `#/u/${encodeURIComponent(user.handle)}/following` }, h("strong", {}, String(user.following_count)), " ", t("profile.following")),
            h("a", { class: "count-link", href: `#/u/${encodeURIComponent(user.handle)}/followers` }, h("strong", {}, String(user.followers_count)), " ", t("profile.followers")),
            h("span", { class: "joined" }, t("profile.joined", { date: absoluteTime(user.created_at, { dateOnly: true }) }))),
          h("div", { class: "profile-actions" }, buttons),
          unavailable && !user.blocking ? h("p", { class: "notice unavailable" }, t("profile.unavailable")) : null)),
      extra);
  }

  let generation = 0;
  async function extras() {
    const mine = ++generation;
    const [presence, history] = await Promise.allSettled([
      call("presence.get", { user_ids: [user.id] }),
      call("safety.history", { user_id: user.id, limit: 1 }),
    ]);
    const p = presence.status === "fulfilled" ? presence.value.presences[0] : null;
    const s = history.status === "fulfilled" ? history.value.statuses[0] : null;
    if (mine !== generation) return; // a newer read is on its way
    extra.replaceChildren();
    if (p) extra.append(h("p", { class: "presence-line" }, presenceLine(p)));
    if (s) extra.append(h("div", { class: "card latest-status" }, h("h2", {}, t("safety.latest")), statusBadge(s)));
  }

  load();
  const offs = [
    store.on("follow", (data) => { if (user && (data.followee.id === user.id || data.follower.id === user.id)) load(); }),
    store.on("post.created", arrived),
    store.on("post.deleted", removePost),
    store.on("post.reactions", updateReactions),
  ];
  return () => offs.forEach((off) => off());
}
