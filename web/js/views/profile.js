// A profile: name with the verified badge, counts, follow / unfollow, message, mute, block,
// report; presence and the latest safety status where the viewer may see them.

import { h, fill } from "../dom.js";
import { t, absoluteTime } from "../i18n.js";
import { call } from "../session.js";
import * as store from "../store.js";
import { errorText, spinner, toast } from "../ui.js";
import { userBadges } from "./post.js";
import { presenceLine, statusBadge } from "./safety.js";

export function avatar(user, size = "") {
  return h("span", { class: ["avatar", size], attrs: { "aria-hidden": "true" }, dataset: { hue: String(hue(user.id)) } }, [...user.display_name][0] || "?");
}

/** A stable colour bucket per user, drawn from CSS classes (no inline styles under the CSP). */
function hue(id) {
  let sum = 0;
  for (const ch of id) sum = (sum * 31 + ch.charCodeAt(0)) % 8;
  return sum;
}

export function renderProfile(view, handle) {
  const box = h("div", { class: "profile" }, spinner());
  view.append(box);
  let user = null;

  async function load() {
    try {
      user = (await call("user.get", { handle })).user;
      draw();
      extras();
    } catch (err) {
      fill(box, h("p", { class: "error" }, errorText(err)));
    }
  }

  async function act(op, after) {
    try {
      const result = await call(op, { user_id: user.id });
      if (result.user) user = result.user;
      after?.();
      if (op.startsWith("block") || op.startsWith("mute")) {
        const set = op.startsWith("block") ? store.state.blocked : store.state.muted;
        if (op.endsWith(".add")) set.add(user.id); else set.delete(user.id);
      }
      draw();
      extras();
    } catch (err) {
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
    const reason = prompt(t("profile.reportReason"));
    if (!reason || !reason.trim()) return;
    try {
      await call("report.create", { user_id: user.id, reason: reason.trim() });
      toast(t("profile.reported"));
    } catch (err) { toast(errorText(err), "error"); }
  }

  const extra = h("div", { class: "profile-extra" });

  function draw() {
    const me = store.state.me;
    const self = me && me.id === user.id;
    const buttons = self ? [h("a", { class: "button", href: "#/settings" }, t("nav.settings"))] : [
      user.following
        ? h("button", { type: "button", class: "follow following", on: { click: () => act("unfollow") } }, t("profile.unfollow"))
        : h("button", { type: "button", class: "follow primary", disabled: user.blocking, on: { click: () => act("follow") } }, t("profile.follow")),
      h("button", { type: "button", on: { click: message } }, t("profile.message")),
      h("button", { type: "button", on: { click: () => act(user.muting ? "mute.remove" : "mute.add") } }, user.muting ? t("profile.unmute") : t("profile.mute")),
      h("button", { type: "button", class: "danger", on: { click: () => act(user.blocking ? "block.remove" : "block.add") } }, user.blocking ? t("profile.unblock") : t("profile.block")),
      h("button", { type: "button", class: "link", on: { click: report } }, t("profile.report")),
    ];
    fill(box, 
      h("div", { class: "profile-head card" },
        avatar(user, "large"),
        h("div", { class: "profile-names" },
          h("h1", {}, h("span", { class: "display-name" }, user.display_name), userBadges(user)),
          h("p", { class: "handle" }, `@${user.handle}`, user.followed_by ? h("span", { class: "tag" }, t("profile.followsYou")) : null),
          h("p", { class: "counts" },
            h("span", {}, h("strong", {}, String(user.following_count)), " ", t("profile.following")),
            h("span", {}, h("strong", {}, String(user.followers_count)), " ", t("profile.followers")),
            h("span", { class: "joined" }, t("profile.joined", { date: absoluteTime(user.created_at, { dateOnly: true }) }))),
          h("div", { class: "profile-actions" }, buttons))),
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
  ];
  return () => offs.forEach((off) => off());
}
