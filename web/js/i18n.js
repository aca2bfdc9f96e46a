// Japanese and English. The language comes from a saved choice, else the browser's languages;
// t(key, params) fills {name} placeholders (the result is always used as text, never as markup).

import { STRINGS } from "./locales.js";

const KEY = "tsudoi.lang";
export const LANGUAGES = ["ja", "en"];
let lang = pick();
const listeners = new Set();

function pick() {
  try {
    const saved = localStorage.getItem(KEY);
    if (LANGUAGES.includes(saved)) return saved;
  } catch { /* no storage */ }
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const base = tag.toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return "en";
}

export const getLang = () => lang;

export function setLang(next) {
  if (!LANGUAGES.includes(next) || next === lang) return;
  lang = next;
  try { localStorage.setItem(KEY, next); } catch { /* ignore */ }
  document.documentElement.lang = next;
  for (const fn of listeners) fn(next);
}

export const onLangChange = (fn) => listeners.add(fn);

export function t(key, params = {}) {
  let text = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
  if (typeof text === "function") text = text(params);
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : `{${name}}`));
}

/** "たった今", "3分前", "2時間前"… / "just now", "3 min ago"…; older than a week: the date. */
export function relativeTime(iso, now = Date.now()) {
  const then = Date.parse(iso);
  if (then - now > 45000) return future(then - now);
  const seconds = Math.max(0, Math.round((now - then) / 1000));
  if (seconds < 45) return t("time.now");
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return t("time.minutes", { n: minutes });
  const hours = Math.round(minutes / 60);
  if (hours < 24) return t("time.hours", { n: hours });
  const days = Math.round(hours / 24);
  if (days < 7) return t("time.days", { n: days });
  return absoluteTime(iso, { dateOnly: true });
}

/** "あと3日" / "in 3 d": for expiry times. */
function future(ms) {
  const minutes = Math.round(ms / 60000);
  if (minutes < 60) return t("time.inMinutes", { n: Math.max(1, minutes) });
  const hours = Math.round(minutes / 60);
  if (hours < 24) return t("time.inHours", { n: hours });
  return t("time.inDays", { n: Math.round(hours / 24) });
}

export function absoluteTime(iso, { dateOnly = false } = {}) {
  const options = dateOnly
    ? { year: "numeric", month: "short", day: "numeric" }
    : { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
  return new Intl.DateTimeFormat(lang === "ja" ? "ja-JP" : "en-GB", options).format(new Date(iso));
}

/** Apply translations to the static shell: [data-i18n] text, [data-i18n-label] aria-label. */
export function translateShell(root = document) {
  document.documentElement.lang = lang;
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
}
