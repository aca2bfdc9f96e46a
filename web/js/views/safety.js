// Safety: say how you are in one tap (with an optional note and a coarse area: a prefecture
// from the list and/or a place typed, never a position, §7.11), and the board of your friends — need-help first, then those heard from least recently (the server's order, §4.8.2) —
// with their last-seen time as a relative time. Updated live from safety.status and presence.

import { h, fill, byData } from "../dom.js";
import { t, getLang } from "../i18n.js";
import { PREFECTURES, composeArea } from "../prefectures.js";
import { call } from "../session.js";
import { setSafety } from "../outbox.js";
import * as store from "../store.js";
import { countClusters } from "../text.js";
import { announce, errorText, field, spinner, emptyState, toast } from "../ui.js";
import { timeEl, userBadges } from "./post.js";
import { avatar, nameOf } from "./face.js";

const STATES = [["safe", "✅"], ["need_help", "🚨"], ["evacuating", "🏃"]];

export function statusBadge(status) {
  const icon = Object.fromEntries(STATES)[status.state] || "•";
  return h("div", { class: ["status", `state-${status.state}`] },
    h("span", { class: "state" }, icon, " ", t(`safety.state.${status.state}`)),
    status.area ? h("span", { class: "area" }, "📍 ", status.area) : null,
    status.note ? h("p", { class: "note" }, status.note) : null,
    h("span", { class: "when" }, timeEl(status.created_at)));
}

export function presenceLine(presence) {
  if (!presence) return h("span", { class: "presence unknown" }, t("presence.hidden"));
  const seen = presence.last_seen_at ? [t("presence.lastSeen"), " ", timeEl(presence.last_seen_at)] : [t("presence.never")];
  return h("span", { class: ["presence", `p-${presence.state}`] },
    h("span", { class: "pdot", attrs: { "aria-hidden": "true" } }),
    presence.state === "offline" ? seen : [t(`presence.${presence.state}`), " · ", ...seen]);
}

export function renderSafety(view) {
  const note = h("textarea", { rows: 2, name: "note", placeholder: t("safety.notePlaceholder"), attrs: { "aria-label": t("safety.note") } });
  const noteCount = h("span", { class: "counter" });
  const lang = getLang();
  const prefecture = h("select", { name: "prefecture" },
    h("option", { value: "" }, t("safety.prefectureNone")),
    PREFECTURES.map(([ja, en]) => h("option", { value: lang === "ja" ? ja : en }, lang === "ja" ? ja : en)));
  const area = h("input", { name: "area", maxLength: 38, placeholder: t("safety.areaPlaceholder") });
  const audience = h("select", { name: "audience" },
    ["friends", "followers", "everyone"].map((a) => h("option", { value: a }, t(`safety.audience.${a}`))));
  const mine = h("div", { class: "my-status" });
  // The way to the "during a disaster" page, prominent while an incident lasts.
  const guide = h("p", { class: "disaster-link" }, h("a", { href: "#/disaster" }, "⚠ ", t("disaster.link")));
  const markGuide = (incident) => guide.classList.toggle("during-incident", !!incident);
  markGuide(store.state.incident);
  const buttons = STATES.map(([state, icon]) => h("button", {
    type: "button", class: ["status-button", `state-${state}`], dataset: { state },
    on: { click: () => send(state) },
  }, h("span", { class: "big-icon", attrs: { "aria-hidden": "true" } }, icon), t(`safety.state.${state}`)));
  const board = h("ul", { class: "board", attrs: { "aria-label": t("safety.board") } });
  const more = h("button", { type: "button", class: "more", hidden: true }, t("common.more"));

  view.append(
    h("h1", { class: "view-title" }, t("safety.title")),
    guide,
    h("section", { class: "card safety-set", attrs: { "aria-labelledby": "safety-set-title" } },
      h("h2", { id: "safety-set-title" }, t("safety.tellTitle")),
      h("p", { class: "hint" }, t("safety.tellHint")),
      h("div", { class: "status-buttons" }, buttons),
      h("details", { class: "safety-details" },
        h("summary", {}, t("safety.addDetails")),
        field(t("safety.note"), note), noteCount,
        h("fieldset", { class: "safety-area" },
          h("legend", {}, t("safety.area")),
          field(t("safety.prefecture"), prefecture),
          field(t("safety.place"), area, t("safety.areaHint"))),
        field(t("safety.audienceLabel"), audience)),
      mine),
    h("section", { class: "safety-board", attrs: { "aria-labelledby": "board-title" } },
      h("h2", { id: "board-title" }, t("safety.board")),
      h("p", { class: "hint" }, t("safety.boardHint")),
      board, more));

  note.addEventListener("input", () => {
    const n = countClusters(note.value);
    noteCount.textContent = `${n} / 149`;
    noteCount.classList.toggle("over", n > 149);
  });

  async function send(state) {
    buttons.forEach((b) => { b.disabled = true; });
    try {
      // Through the outbox: written offline, it waits and is sent when the network returns.
      const status = await setSafety({
        state,
        note: note.value.trim() || undefined,
        area: composeArea(prefecture.value, area.value.trim(), lang) || undefined,
        audience: audience.value,
      });
      if (status) showMine(status);
      toast(t(status ? "safety.sent" : "safety.queuedToast"));
      note.value = "";
      note.dispatchEvent(new Event("input"));
    } catch (err) {
      toast(errorText(err), "error");
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  function showMine(status) {
    fill(mine, status ? h("div", {}, h("h3", {}, t("safety.yourLatest")), statusBadge(status)) : null);
  }

  let cursor = null;
  const seen = new Set();
  function entryEl(entry) {
    const u = entry.user;
    return h("li", { class: ["board-entry", entry.status && `state-${entry.status.state}`], dataset: { userId: u.id } },
      avatar(u),
      h("div", { class: "board-main" },
        h("a", { class: "author", href: `#/u/${u.handle}` }, nameOf(u), userBadges(u), h("span", { class: "handle" }, `@${u.handle}`)),
        entry.status ? statusBadge(entry.status) : h("p", { class: "status none" }, t("safety.noStatus")),
        h("p", { class: "presence-line" }, presenceLine(entry.presence))));
  }

  async function load(reset = true) {
    if (reset) { cursor = null; seen.clear(); board.replaceChildren(spinner()); }
    try {
      const page = await call("safety.board", { limit: 50, cursor: cursor || undefined });
      if (reset) board.replaceChildren();
      for (const entry of page.entries) {
        if (seen.has(entry.user.id)) continue; // pages may repeat a friend (§4.8.2)
        seen.add(entry.user.id);
        board.append(entryEl(entry));
      }
      if (!seen.size) board.append(emptyState(t("safety.noFriends")));
      cursor = page.next;
      more.hidden = !cursor;
    } catch (err) {
      board.replaceChildren(h("p", { class: "error" }, errorText(err)));
    }
  }
  more.addEventListener("click", () => load(false));

  let reloadTimer = null;
  const reloadSoon = () => { clearTimeout(reloadTimer); reloadTimer = setTimeout(() => load(true), 250); };

  load();
  call("safety.history", { user_id: store.state.me.id, limit: 1 }).then((r) => showMine(r.statuses[0])).catch(() => {});
  const offs = [
    store.on("safety.status", (status) => {
      if (status.user.id === store.state.me.id) { showMine(status); return; }
      announce(t("live.safety", { name: status.user.display_name, state: t(`safety.state.${status.state}`) }));
      reloadSoon();
    }),
    store.on("presence", (presence) => {
      const line = board.querySelector(`${byData("user-id", presence.user_id)} .presence-line`);
      line?.replaceChildren(presenceLine(presence));
    }),
    store.on("resumed", reloadSoon),
    store.on("incident", markGuide),
  ];
  return () => { clearTimeout(reloadTimer); offs.forEach((off) => off()); };
}
