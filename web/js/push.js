// The service worker's registration and Web Push, from the page's side. The worker (web/sw.js)
// shows each push as a notification worded in the page's language: the page stores the words
// ("push.*" strings of web/js/locales/) in IndexedDB whenever its language is set or changes.
// Settings → Notifications turns push on for this device (permission, PushManager.subscribe
// with the server's VAPID key from push.config, then push.subscribe), off again, and chooses
// what is pushed and whether message previews may be. A server without these ops (unknown_op)
// gets a note instead of the switches.

import { h } from "./dom.js";
import { t, getLang, onLangChange } from "./i18n.js";
import { STRINGS } from "./locales.js";
import { call } from "./session.js";
import * as db from "./db.js";
import { errorText, toast, emptyState } from "./ui.js";
import { timeEl } from "./views/post.js";

const KINDS = ["safety", "announcement", "dm", "mention", "incident"];
const SUBSCRIPTION_KEY = "push.subscription"; // {id, endpoint} of this device's subscription

/** Register /sw.js (scope "/") and follow its messages; quietly nothing where unsupported. */
export function startWorker() {
  storeWords();
  onLangChange(storeWords);
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch((err) => console.warn("service worker", err));
  navigator.serviceWorker.addEventListener("message", (event) => {
    // A notification was clicked while this page was open (sw.js, notificationclick).
    if (event.data?.type !== "navigate") return;
    const url = new URL(event.data.url, location.origin);
    if (url.origin === location.origin && url.hash) location.hash = url.hash;
  });
}

function storeWords() {
  const lang = getLang();
  const strings = {};
  for (const [key, text] of Object.entries({ ...STRINGS.en, ...STRINGS[lang] })) {
    if (key.startsWith("push.") && typeof text === "string") strings[key] = text;
  }
  db.put("kv", "push.words", { lang, strings }).catch(() => {});
}

/** The VAPID public key (base64url) as PushManager.subscribe wants it. */
function keyBytes(base64url) {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(base64url.length / 4) * 4, "=");
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

const supported = () => "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;

/** Send this browser's subscription to the server (push.subscribe) and remember its id. */
async function register(sub) {
  const json = sub.toJSON();
  const { id } = await call("push.subscribe", {
    endpoint: sub.endpoint, keys: { p256dh: json.keys.p256dh, auth: json.keys.auth }, expiration_time: sub.expirationTime ?? null,
  });
  await db.put("kv", SUBSCRIPTION_KEY, { id, endpoint: sub.endpoint });
  return id;
}

/** After the first ready: a browser may replace or drop a push subscription on its own
 * (pushsubscriptionchange, cleared site data). If push was turned on here and the browser's
 * subscription is no longer the one the server knows, subscribe again and retire the old one.
 * Costs no request when nothing changed. */
export async function reconcile() {
  if (!supported() || Notification.permission !== "granted") return;
  try {
    const saved = await db.get("kv", SUBSCRIPTION_KEY);
    if (!saved?.id) return; // never turned on on this device
    const registration = await navigator.serviceWorker.ready;
    let sub = await registration.pushManager.getSubscription();
    if (sub?.endpoint === saved.endpoint) return;
    const config = await call("push.config");
    sub ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(config.public_key) });
    await register(sub);
    await call("push.unsubscribe", { subscription_id: saved.id }).catch(() => {}); // gone already, perhaps
  } catch (err) {
    console.warn("push subscription not renewed", err);
  }
}

/** Settings → Notifications. */
export function notificationsCard() {
  const body = h("div", { class: "push-body" }, h("p", { class: "loading" }, t("common.loading")));
  const card = h("section", { class: "card push-settings", attrs: { "aria-labelledby": "push-title" } },
    h("h2", { id: "push-title" }, t("push.settings.title")), body);
  load();
  return card;

  async function load() {
    let config;
    try {
      config = await call("push.config");
    } catch (err) {
      // An older server: no push ops at all. Say so, and offer nothing to switch.
      body.replaceChildren(h("p", { class: "hint push-unavailable" },
        err.code === "unknown_op" ? t("push.settings.serverLacks") : errorText(err)));
      return;
    }
    draw(config);
  }

  async function mySubscription() {
    if (!supported()) return null;
    const registration = await navigator.serviceWorker.ready;
    const sub = await registration.pushManager.getSubscription();
    const saved = await db.get("kv", SUBSCRIPTION_KEY).catch(() => null);
    return sub && saved?.endpoint === sub.endpoint ? { sub, id: saved.id } : sub ? { sub, id: null } : null;
  }

  async function draw(config) {
    const mine = await mySubscription().catch(() => null);
    const on = !!mine?.id && config.subscriptions.some((s) => s.id === mine.id);
    const state = h("p", { class: "push-state" }, t(on ? "push.settings.on" : "push.settings.off"));
    let toggle;
    if (!supported()) toggle = h("p", { class: "hint" }, t("push.settings.browserLacks"));
    else if (Notification.permission === "denied") toggle = h("p", { class: "hint" }, t("push.settings.blocked"));
    else toggle = h("button", { type: "button", class: on ? "" : "primary", on: { click: () => (on ? turnOff(mine) : turnOn(config)) } },
      t(on ? "push.settings.turnOff" : "push.settings.turnOn"));
    const kinds = h("fieldset", { class: "checks push-kinds" }, h("legend", {}, t("push.settings.what")),
      KINDS.map((kind) => h("label", { class: "check" },
        h("input", { type: "checkbox", name: `push-${kind}`, checked: config.kinds?.[kind] !== false,
          on: { change: (e) => save({ kinds: { ...config.kinds, [kind]: e.target.checked } }) } }),
        h("span", {}, t(`push.kind.${kind}`)))));
    const previews = h("label", { class: "check" },
      h("input", { type: "checkbox", name: "push-previews", checked: !!config.previews, on: { change: (e) => save({ previews: e.target.checked }) } }),
      h("span", {}, t("push.settings.previews")));
    const devices = h("ul", { class: "push-devices", attrs: { "aria-label": t("push.settings.devices") } },
      config.subscriptions.length
        ? config.subscriptions.map((s) => h("li", { dataset: { id: s.id } }, s.device || s.origin || t("settings.unknownDevice"),
          s.id === mine?.id ? ` (${t("settings.thisDevice")})` : null, " · ", timeEl(s.created_at)))
        : h("li", {}, emptyState(t("push.settings.noDevices"))));
    body.replaceChildren(h("p", { class: "hint" }, t("push.settings.hint")), state, toggle, kinds, previews,
      h("h3", {}, t("push.settings.devices")), devices);
  }

  async function save(change) {
    try {
      draw(await call("push.preferences", change));
      toast(t("settings.saved"));
    } catch (err) { toast(errorText(err), "error"); }
  }

  async function turnOn(config) {
    try {
      if ((await Notification.requestPermission()) !== "granted") { toast(t("push.settings.blocked"), "error"); load(); return; }
      const registration = await navigator.serviceWorker.ready;
      let sub = await registration.pushManager.getSubscription();
      sub ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(config.public_key) });
      await register(sub);
      toast(t("push.settings.turnedOn"));
    } catch (err) {
      toast(err.code ? errorText(err) : t("push.settings.failed"), "error");
    }
    load();
  }

  async function turnOff(mine) {
    try {
      if (mine.id) await call("push.unsubscribe", { subscription_id: mine.id });
      await mine.sub.unsubscribe();
      await db.del("kv", SUBSCRIPTION_KEY);
    } catch (err) { toast(err.code ? errorText(err) : t("push.settings.failed"), "error"); }
    load();
  }
}

/** Log-out: this device stops receiving this person's pushes. The server forgets the
 * subscription when the push service answers 410 for it, or at once if we can still say so. */
export async function forgetDevice() {
  try {
    const saved = await db.get("kv", SUBSCRIPTION_KEY);
    if (saved?.id) await call("push.unsubscribe", { subscription_id: saved.id }).catch(() => {});
    const registration = await navigator.serviceWorker?.getRegistration();
    await (await registration?.pushManager.getSubscription())?.unsubscribe();
    await db.del("kv", SUBSCRIPTION_KEY);
  } catch { /* nothing subscribed */ }
}
