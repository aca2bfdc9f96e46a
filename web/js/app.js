// Start-up and routing. The invite landing (/i/CODE) and log-in run on plain HTTP; everything
// else over the one WebSocket (session.js). Client-side routes live in the hash (#/dm/ID, …),
// since the server serves the page only at / and /i/CODE.

import { h, $, $$ } from "./dom.js";
import { t, getLang, setLang, onLangChange, translateShell } from "./i18n.js";
import * as store from "./store.js";
import { startSession, endSession, connection, call } from "./session.js";
import { renderLogin, renderInvite } from "./views/auth.js";
import { renderFollowing, renderDiscover } from "./views/timeline.js";
import { renderThread } from "./views/thread.js";
import { renderTag } from "./views/tag.js";
import { renderProfile } from "./views/profile.js";
import { renderPeople } from "./views/people.js";
import { renderDmList, renderConversation } from "./views/dm.js";
import { renderNotifications } from "./views/notifications.js";
import { renderSafety } from "./views/safety.js";
import { renderDisaster } from "./views/disaster.js";
import { renderCommunities, renderCommunity } from "./views/communities.js";
import { renderSettings } from "./views/settings.js";
import { renderSearch } from "./views/search.js";
import { refreshTimes } from "./views/post.js";
import { renderIncident } from "./views/incident.js";
import { renderProfileEdit, renderWelcome } from "./views/profile_edit.js";
import { refreshPerson } from "./views/face.js";
import { toast, announce } from "./ui.js";
import * as offline from "./offline.js";
import { startWorker, reconcile } from "./push.js";

const routes = [
  [/^\/?$/, "following", () => renderFollowing],
  [/^\/discover$/, "following", () => renderDiscover],
  [/^\/post\/([0-9A-Z]{26})$/, "following", () => renderThread],
  [/^\/tag\/([^/]+)$/, "following", () => renderTag],
  [/^\/u\/([A-Za-z0-9_]{3,20})$/, "profile", () => renderProfile],
  [/^\/u\/([A-Za-z0-9_]{3,20})\/(followers|following)$/, "profile", () => renderPeople],
  [/^\/me$/, "me", () => (view) => renderProfile(view, store.state.me.handle)],
  [/^\/me\/edit$/, "me", () => renderProfileEdit],
  [/^\/welcome$/, "me", () => renderWelcome],
  [/^\/dm$/, "dm", () => renderDmList],
  [/^\/dm\/([0-9A-Z]{26})$/, "dm", () => renderConversation],
  [/^\/notifications$/, "notifications", () => renderNotifications],
  [/^\/safety$/, "safety", () => renderSafety],
  [/^\/disaster$/, "safety", () => renderDisaster],
  [/^\/communities$/, "communities", () => renderCommunities],
  [/^\/c\/([0-9A-Z]{26})$/, "communities", () => renderCommunity],
  [/^\/settings$/, "settings", () => renderSettings],
  [/^\/search$/, "search", () => renderSearch],
];

let cleanup = null;
let signedIn = false;
/** Drawn from the offline snapshot (offline.js) until the first ready. */
let offlineStart = false;

/** Parse "#/path?x=1" into { path, query }. */
function currentRoute() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, search = ""] = raw.split("?");
  return { path, query: new URLSearchParams(search) };
}

export function route() {
  if (!signedIn) return;
  const { path, query } = currentRoute();
  const view = $("#view");
  cleanup?.();
  cleanup = null;
  view.replaceChildren();
  for (const [pattern, section, get] of routes) {
    const match = pattern.exec(path);
    if (!match) continue;
    const here = section === "profile" && match[1].toLowerCase() === store.state.me.handle.toLowerCase() ? "me" : section;
    for (const link of $$("#nav a")) {
      if (link.dataset.route === here) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    const result = get()(view, ...match.slice(1).map(decodeURIComponent), query);
    cleanup = typeof result === "function" ? result : null;
    return;
  }
  view.append(h("p", { class: "empty" }, t("common.notFound")));
}

function showConnection(info) {
  const box = $("#conn");
  box.dataset.state = info.state;
  const label = {
    idle: "",
    connecting: t("conn.connecting"),
    online: t("conn.online"),
    waiting: t("conn.reconnecting"),
    offline: t("conn.offline"),
  }[info.state];
  $(".conn-label", box).textContent = label;
  document.body.classList.toggle("disconnected", info.state !== "online");
  offline.connectionState(info.state);
}

function badges() {
  const set = (el, n) => { el.hidden = !n; el.textContent = n > 99 ? "99+" : String(n); el.setAttribute("aria-label", t("nav.unread", { n })); };
  set($("#notif-badge"), store.state.unreadNotifications);
  set($("#dm-badge"), store.totalUnreadDms());
  const total = store.state.unreadNotifications + store.totalUnreadDms();
  document.title = total ? `(${total}) Tsudoi 集い` : "Tsudoi 集い";
}

function signIn() {
  // The invite code must not linger in the address bar or history once it is used.
  // The route in the hash stays (after sign-up: the profile picture step).
  if (location.pathname !== "/") history.replaceState(null, "", `/${location.hash}`);
  $("#view").replaceChildren(h("p", { class: "loading", attrs: { role: "status" } }, t("conn.connecting")));
  // No network (the browser says so, or the first connection failed): draw the last known
  // views from the snapshot while the connection keeps trying.
  let snapshot = null;
  offline.load().then((saved) => {
    snapshot = saved;
    if (!navigator.onLine || connection()?.state === "waiting") startOffline(snapshot);
  });
  startSession({
    onState(info) {
      showConnection(info);
      if (info.state === "waiting" && !signedIn) startOffline(snapshot);
    },
    onReady(ready, first) {
      if (offlineStart) {
        // The snapshot's views give way to fresh reads (session.js, caughtUp).
        offlineStart = false;
        offline.unhydrate();
        offline.showNote(false);
        if (snapshot?.user?.id !== ready.user.id) offline.forget();
      }
      if (first) {
        reconcile();
        signedIn = true;
        $("#nav").hidden = false;
        route();
      }
    },
    onCaughtUp() { offline.refreshBoard(call); },
    onTerminal(code) {
      signedIn = false;
      $("#nav").hidden = true;
      cleanup?.();
      cleanup = null;
      if (code === 4501 && renewing) {
        // Our own password change revoked this session: reconnect with the new cookie.
        const change = renewing;
        renewing = null;
        endSession({ forget: false });
        change.then(() => signIn(), () => showLogin(t("auth.signedOutElsewhere")));
        return;
      }
      if (code === 4500 || code === 4501) {
        if (offlineStart) { offlineStart = false; offline.unhydrate(); offline.showNote(false); }
        offline.forget(); // signed out: this person's snapshot is not shown to whoever comes next
        connection()?.clearCursors();
        showLogin(code === 4501 ? t("auth.signedOutElsewhere") : null);
      } else {
        toast(t("conn.terminal", { code }), "error");
      }
    },
  });
}

function startOffline(snapshot) {
  if (signedIn || !snapshot?.user) return;
  offline.hydrate(snapshot);
  offlineStart = true;
  signedIn = true;
  $("#nav").hidden = false;
  offline.showNote(true);
  renderIncident(store.state.incident);
  badges();
  route();
}

/** A password change (`change`, its request) revokes every session, this page's too (4501),
 * and its answer sets a new cookie: the page then reconnects instead of showing the log-in. */
let renewing = null;
export function renewAfter(change) {
  renewing = change;
  change.catch(() => { if (renewing === change) renewing = null; });
}

export function showLogin(message) {
  signedIn = false;
  $("#nav").hidden = true;
  showConnection({ state: "idle" });
  renderLogin($("#view"), { onSignedIn: signIn, message });
}

export function signedOut() {
  signedIn = false;
  cleanup?.();
  cleanup = null;
  showLogin();
}

function languageButton() {
  const button = $("#lang-switch");
  const other = getLang() === "ja" ? "en" : "ja";
  // The name read out holds the visible label (the other language's own name, in that
  // language), after what the button does, said in the page's language.
  button.replaceChildren(
    h("span", { class: "sr-only" }, `${t("shell.switchLanguage")}: `),
    h("span", { attrs: { lang: other } }, other === "ja" ? "日本語" : "English"));
}

/** The floating button of phones: to the composer of this screen, else to Home's. Added after
 * the router's hashchange listener, the focus lands once Home is drawn (and the view focused). */
function openComposer() {
  const text = $("#view form.composer textarea");
  if (text) { text.focus({ preventScroll: true }); text.scrollIntoView({ block: "center" }); return; }
  window.addEventListener("hashchange", () => $("#view form.composer textarea")?.focus(), { once: true });
  location.hash = "#/";
}

function boot() {
  startWorker();
  translateShell();
  languageButton();
  $("#lang-switch").addEventListener("click", () => setLang(getLang() === "ja" ? "en" : "ja"));
  onLangChange(() => {
    translateShell();
    languageButton();
    showConnection({ state: connection()?.state || "idle" });
    badges();
    renderIncident(store.state.incident);
    offline.redrawNote();
    if (signedIn) route();
    else if (!location.pathname.startsWith("/i/")) renderLogin($("#view"), { onSignedIn: signIn });
    else renderInvite($("#view"), location.pathname.split("/")[2], { onSignedIn: signIn });
  });
  // Routes live in the hash, so the skip link's own "#view" would be taken for one (a page not
  // found): it moves the focus itself and leaves the address alone.
  // Focus without the browser's own scroll, which centres a view taller than the window (a long
  // timeline, the first-run guide) and hides its top; the content starts at the page's top.
  $(".skip-link").addEventListener("click", (e) => { e.preventDefault(); $("#view").focus({ preventScroll: true }); window.scrollTo({ top: 0 }); });
  $("#fab").addEventListener("click", openComposer);
  window.addEventListener("hashchange", () => { route(); $("#view").focus({ preventScroll: true }); window.scrollTo({ top: 0 }); });
  store.on("notifications", badges);
  store.on("notifications.badge", badges);
  store.on("conversations", badges);
  store.on("incident", renderIncident);
  // A new name or face (user.updated, or our own profile.update) shows wherever it is drawn.
  store.on("user.updated", refreshPerson);
  store.on("safety.status", (status) => {
    // A friend's word on their safety reaches the reader wherever they are in the app.
    if (status.user.id === store.state.me?.id || location.hash.startsWith("#/safety")) return;
    const message = t("live.safety", { name: status.user.display_name, state: t(`safety.state.${status.state}`) });
    announce(message);
    if (status.state === "need_help") toast(message, "error");
  });
  store.on("follow", (data) => {
    if (data.followee.id !== store.state.me?.id) return;
    const message = t("live.followed", { name: data.follower.display_name });
    toast(message);
    announce(message);
  });
  setInterval(refreshTimes, 30000);
  document.addEventListener("keydown", (e) => {
    // "n" writes a new post, as in other timelines; not while typing.
    if (e.key === "n" && !e.ctrlKey && !e.metaKey && !/^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement?.tagName || "") && signedIn) {
      const text = $("#view textarea");
      if (text) { e.preventDefault(); text.focus(); }
    }
  });
  const invite = /^\/i\/([A-Za-z0-9_-]+)$/.exec(location.pathname);
  if (invite) renderInvite($("#view"), invite[1], { onSignedIn: signIn });
  else signIn();
}

boot();
