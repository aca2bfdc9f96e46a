// One post as a card: author (verified and bot badges), time, text with its emotext, mention
// links, hashtag and external links (entities), an embedded quote or repost, reactions and actions. Built with DOM calls only.

import { h, $$, byData } from "../dom.js";
import { t, relativeTime, absoluteTime } from "../i18n.js";
import { splitMentions, graphemes, PER_LETTER, EMOTEXT } from "../text.js";
import { call } from "../session.js";
import * as store from "../store.js";
import { toast, errorText } from "../ui.js";
import { avatar, nameOf } from "./face.js";
import { mediaGrid } from "./media.js";
import { openReport } from "./report.js";

const mine = (entry, me) => !!me && entry.author.id === me.id;

/** The text of a post, with its effect (§7.3), mentions as profile links, and, given its
 * `entities` (§7.10), its hashtags and links as links. Entities are ranges of the plain text in
 * UTF-16 code units, which is what String.slice counts: no markup is ever read from the text. */
export function renderText(text, emotext, { tag = "p", entities = [] } = {}) {
  const known = EMOTEXT.includes(emotext) ? emotext : null;
  const el = h(tag, { class: ["post-text", known && `emo emo-${known}`] });
  if (known) el.dataset.emotext = known;
  const plain = (piece) => {
    for (const part of splitMentions(piece)) {
      if (part.handle) {
        el.append(h("a", { class: "mention", href: `#/u/${encodeURIComponent(part.handle)}` }, part.text));
      } else if (known && PER_LETTER.has(known)) {
        graphemes(part.text).forEach((g, i) => el.append(h("span", { class: `l l${i % 4}` }, g)));
      } else {
        el.append(part.text);
      }
    }
  };
  let at = 0;
  for (const entity of entities || []) {
    const link = entity.start >= at ? entityLink(text, entity) : null;
    if (!link) continue; // a kind this client does not know stays text (§12)
    plain(text.slice(at, entity.start));
    el.append(link);
    at = entity.end;
  }
  plain(text.slice(at));
  return el;
}

/** A hashtag opens its live timeline; a link leaves the app, in a new tab, marked as leaving. */
function entityLink(text, entity) {
  const shown = text.slice(entity.start, entity.end);
  if (entity.kind === "tag" && entity.tag) {
    return h("a", { class: "hashtag", href: `#/tag/${encodeURIComponent(entity.tag)}` }, shown);
  }
  if (entity.kind === "url" && /^https?:\/\//i.test(entity.url || "")) {
    return h("a", { class: "link external", href: entity.url, target: "_blank", rel: "noopener noreferrer ugc", title: entity.url },
      shown, h("span", { class: "external-mark", attrs: { "aria-hidden": "true" } }, "↗"),
      h("span", { class: "sr-only" }, ` (${t("post.externalLink")})`));
  }
  return null;
}

export function userBadges(user) {
  return [
    user.verified ? h("span", { class: "badge verified", title: t("badge.verified"), attrs: { "aria-label": t("badge.verified"), role: "img" } }, "✓") : null,
    user.bot ? h("span", { class: "badge bot" }, t("badge.bot")) : null,
  ];
}

export function authorLine(user, { face = false } = {}) {
  return h("a", { class: "author", href: `#/u/${encodeURIComponent(user.handle)}` },
    face ? avatar(user, "tiny") : null,
    nameOf(user),
    userBadges(user),
    // A handle changed since (account.handle, §4.1.10) shows the new one; the link's old
    // handle still leads to the same person.
    h("span", { class: "handle", dataset: { handleOf: user.id } }, `@${store.latest(user).handle}`));
}

export function timeEl(iso) {
  return h("time", { dateTime: iso, title: absoluteTime(iso), dataset: { rel: "1" } }, relativeTime(iso));
}

/** Refresh every relative time on the page (called on a timer and on a language change). */
export function refreshTimes() {
  for (const el of $$("time[data-rel]")) el.textContent = relativeTime(el.dateTime);
}

function reactionBar(post) {
  const limits = store.state.limits;
  const bar = h("div", { class: "reactions", attrs: { role: "group", "aria-label": t("post.reactions") } });
  const mine = new Set(post.my_reactions);
  for (const r of post.reactions) {
    bar.append(h("button", {
      type: "button", class: ["chip", mine.has(r.emoji) && "mine"],
      attrs: { "aria-pressed": mine.has(r.emoji) ? "true" : "false", "aria-label": t("post.reactionCount", { emoji: r.emoji, n: r.count }) },
      dataset: { emoji: r.emoji },
      on: { click: () => toggleReaction(post.id, r.emoji) },
    }, h("span", { class: "emoji" }, r.emoji), h("span", { class: "count" }, String(r.count))));
  }
  const picker = h("div", { class: "picker", hidden: true, attrs: { role: "group", "aria-label": t("post.pickReaction") } },
    (limits?.reaction_emoji ?? []).map((emoji) => h("button", {
      type: "button", class: ["pick", mine.has(emoji) && "mine"], dataset: { emoji },
      attrs: { "aria-label": emoji, "aria-pressed": mine.has(emoji) ? "true" : "false" },
      on: { click: () => { picker.hidden = true; toggleReaction(post.id, emoji); } },
    }, emoji)));
  const add = h("button", {
    type: "button", class: "chip add", attrs: { "aria-label": t("post.addReaction"), "aria-expanded": "false" },
    on: {
      click: () => {
        picker.hidden = !picker.hidden;
        add.setAttribute("aria-expanded", String(!picker.hidden));
        if (!picker.hidden) picker.querySelector("button")?.focus();
      },
    },
  }, "＋☺");
  picker.addEventListener("keydown", (e) => { if (e.key === "Escape") { picker.hidden = true; add.focus(); } });
  bar.append(add, picker);
  return bar;
}

async function toggleReaction(postId, emoji) {
  const post = store.posts.get(postId);
  const op = post && post.my_reactions.includes(emoji) ? "post.unreact" : "post.react";
  try {
    const result = await call(op, { post_id: postId, emoji });
    store.setReactions(postId, result.reactions, result.my_reactions);
  } catch (err) {
    toast(errorText(err), "error");
  }
}

/** Re-draw the live parts of a post wherever it is shown: its reaction bar, and its reply,
 * repost and quote counts (post.reactions and post.counts both land here). */
export function updateReactions(postId) {
  const post = store.posts.get(postId);
  if (!post) return;
  for (const el of $$(`.post-body${byData("post-id", postId)} > .reactions`)) el.replaceWith(reactionBar(post));
  for (const el of $$(`.post-body${byData("post-id", postId)} > .actions .tally`)) setTally(el, post[el.dataset.tally]);
}

/** A reply/repost/quote count beside its action: a plain number, hidden at 0 (or from an older
 * server, which sends none). */
function tally(post, field) {
  return setTally(h("span", { class: "tally", dataset: { tally: field } }), post[field]);
}

function setTally(el, n) {
  el.textContent = n ? String(n) : "";
  el.hidden = !n;
  return el;
}

function embedded(post, label) {
  if (!post) return h("div", { class: "embed gone" }, t("post.gone"));
  // The pictures of a quoted post sit beside the link, not in it: each opens the viewer.
  return h("div", { class: "embed-box" },
    h("a", { class: "embed", href: `#/post/${post.id}`, attrs: { "aria-label": label } },
      h("div", { class: "meta" }, authorLine(post.author, { face: true }), " · ", timeEl(post.created_at)),
      renderText(post.text, post.emotext, { tag: "div" })),
    post.media?.length ? mediaGrid(post.media, { compact: true }) : null);
}

/**
 * A post card. options.actions: show reply/repost/quote (default true); options.onQuote(post),
 * options.canModerate (community moderators may delete others' posts).
 */
export function renderPost(entry, options = {}) {
  const me = store.state.me;
  const isRepost = !!entry.repost_of || (entry.text === "" && entry.repost_of === null);
  const post = entry.repost_of || entry;
  const article = h("article", {
    class: ["post", post.announcement && "announcement"],
    tabIndex: 0,
    dataset: { entryId: entry.id },
    attrs: { "aria-label": t("post.label", { name: post.author.display_name, text: post.text }) },
  });
  if (isRepost) {
    article.append(h("div", { class: "context" }, "🔁 ", t("post.reposted", { name: entry.author.display_name })));
    if (!entry.repost_of) {
      article.append(h("div", { class: "embed gone" }, t("post.gone")));
      return article;
    }
  }
  const body = h("div", { class: "post-body", dataset: { postId: post.id } });
  body.append(h("header", { class: "meta" },
    authorLine(post.author), " · ",
    h("a", { class: "permalink", href: `#/post/${post.id}` }, timeEl(post.created_at)),
    post.announcement ? h("span", { class: "tag announce" }, t("post.announcement")) : null,
    post.community_id && !options.inCommunity ? h("a", { class: "tag", href: `#/c/${post.community_id}` }, t("post.inCommunity")) : null));
  if (post.reply_to) {
    body.append(h("a", { class: "context reply-to", href: `#/post/${post.reply_to}` }, "↩ ", t("post.replyTo")));
  }
  body.append(renderText(post.text, post.emotext, { entities: post.entities }));
  if (post.media?.length) body.append(mediaGrid(post.media));
  if (post.quote_of) body.append(embedded(post.quote_of, t("post.quoted")));
  body.append(reactionBar(post));
  if (options.actions !== false) body.append(actions(entry, post, options, me));
  const face = h("a", { class: "face-link", href: `#/u/${encodeURIComponent(post.author.handle)}`, tabIndex: -1, attrs: { "aria-hidden": "true" } }, avatar(post.author));
  article.append(h("div", { class: "post-row" }, face, body));
  return article;
}

function actions(entry, post, options, me) {
  const bar = h("div", { class: "actions" });
  bar.append(h("a", { class: "action", href: `#/post/${post.id}?reply=1` }, "↩ ", t("post.reply"), " ", tally(post, "replies_count")));
  const canShare = !(post.community_id && options.privateCommunity);
  if (canShare) {
    bar.append(h("button", {
      type: "button", class: "action",
      on: {
        click: async () => {
          try {
            await call("post.repost", { post_id: post.id });
            toast(t("post.repostedToast"));
          } catch (err) { toast(errorText(err), "error"); }
        },
      },
    }, "🔁 ", t("post.repost"), " ", tally(post, "reposts_count")));
    if (options.onQuote) {
      bar.append(h("button", { type: "button", class: "action", on: { click: () => options.onQuote(post) } }, "❝ ", t("post.quote"), " ", tally(post, "quotes_count")));
    }
  }
  if (!mine(post, me)) {
    bar.append(h("button", { type: "button", class: "action subtle", on: { click: () => openReport({ post }) } }, t("post.report")));
  }
  if (mine(entry, me) || options.canModerate) {
    bar.append(h("button", {
      type: "button", class: "action danger",
      on: {
        click: async () => {
          if (!confirm(entry.repost_of ? t("post.confirmUndoRepost") : t("post.confirmDelete"))) return;
          try {
            await call("post.delete", { post_id: entry.id });
            store.following.remove(entry.id);
            store.emit("post.deleted", entry.id);
          } catch (err) { toast(errorText(err), "error"); }
        },
      },
    }, entry.repost_of ? t("post.undoRepost") : t("post.delete")));
  }
  return bar;
}

/** Remove a deleted post's cards and blank its embeds. */
export function removePost(postId) {
  for (const el of $$(`article${byData("entry-id", postId)}`)) el.remove();
  for (const el of $$(`.post-body${byData("post-id", postId)}`)) {
    const article = el.closest("article");
    if (article) article.remove();
  }
}
