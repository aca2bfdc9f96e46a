// The notification inbox, live, with the unread badge in the navigation. Opening the inbox
// marks everything read (as Mastodon and Discord do); unread rows stay highlighted until left.

import { h } from "../dom.js";
import { t, getLang } from "../i18n.js";
import { call } from "../session.js";
import * as store from "../store.js";
import { errorText, emptyState, spinner } from "../ui.js";
import { timeEl, userBadges } from "./post.js";
import { avatar, nameOf } from "./face.js";

const ICONS = {
  mention: "💬", reply: "↩", reaction: "😊", follow: "👋", repost: "🔁", quote: "❝",
  announcement: "📢", join_request: "🚪", join_approved: "✅", safety: "🛟",
};

function link(n) {
  if (n.kind === "safety") return "#/safety";
  if (n.post_id) return `#/post/${n.post_id}`;
  if (n.community_id) return `#/c/${n.community_id}`;
  if (n.actor) return `#/u/${n.actor.handle}`;
  return "#/notifications";
}

export function notificationEl(n) {
  const key = `notif.${n.kind}`;
  const known = t(key) !== key;
  return h("li", { class: ["notification", !n.read && "unread"], dataset: { notificationId: n.id } },
    h("a", { href: link(n) },
      h("span", { class: "notif-icon", attrs: { "aria-hidden": "true" } }, ICONS[n.kind] || "•"),
      n.actor ? avatar(n.actor) : null,
      h("span", { class: "notif-text" },
        n.actor ? h("strong", {}, nameOf(n.actor), userBadges(n.actor)) : null, getLang() === "ja" ? "" : " ",
        known ? t(key, { emoji: n.emoji || "" }) : t("notif.other")),
      timeEl(n.created_at)));
}

export function renderNotifications(view) {
  const list = h("ul", { class: "notifications", attrs: { "aria-label": t("nav.notifications") } });
  const more = h("button", { type: "button", class: "more", hidden: true }, t("common.more"));
  view.append(h("h1", { class: "view-title" }, t("nav.notifications")), list, more);

  function draw() {
    list.replaceChildren();
    if (!store.notifications.loaded) { list.append(spinner()); return; }
    for (const n of store.notifications.items) list.append(notificationEl(n));
    if (!store.notifications.items.length) list.append(h("li", {}, emptyState(t("notif.empty"))));
    more.hidden = !store.notifications.next;
  }

  async function readAll() {
    if (!store.state.unreadNotifications) return;
    try {
      const { unread } = await call("notification.read_all");
      store.state.unreadNotifications = unread;
      store.emit("notifications.badge", null);
    } catch { /* stays unread; tried again on the next visit */ }
  }

  more.addEventListener("click", async () => {
    try {
      const page = await call("notification.list", { limit: 30, before: store.notifications.next });
      for (const n of page.notifications) store.notifications.add(n);
      store.notifications.next = page.next;
      draw();
    } catch (err) { more.after(h("p", { class: "error" }, errorText(err))); }
  });

  draw();
  readAll();
  const offs = [
    store.on("notifications", (n) => { draw(); if (n) readAll(); }),
  ];
  return () => {
    for (const n of store.notifications.items) n.read = true;
    offs.forEach((off) => off());
  };
}
