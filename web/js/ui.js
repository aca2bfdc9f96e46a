// Small shared pieces of UI: toasts, the screen-reader live region, error messages, copy.

import { h, $ } from "./dom.js";
import { t } from "./i18n.js";

/** A short message at the bottom of the screen (role=status, so it is read out too). */
export function toast(message, kind = "info") {
  const box = $("#toasts");
  const item = h("div", { class: ["toast", kind] }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 6000 : 3500);
}

let announceTimer = null;
/** Say something through the polite ARIA live region (new posts, messages, statuses). */
export function announce(message) {
  const region = $("#announcer");
  clearTimeout(announceTimer);
  // Clearing first makes screen readers read a repeated message again.
  region.textContent = "";
  announceTimer = setTimeout(() => { region.textContent = message; }, 50);
}

/** A human message for a RequestError or an HTTP error body, in the UI's language. */
export function errorText(err) {
  const code = err?.code || "internal";
  const key = `error.${code}`;
  const text = t(key);
  if (text !== key) {
    return err.retryAfterMs ? `${text} ${t("error.retryIn", { s: Math.ceil(err.retryAfterMs / 1000) })}` : text;
  }
  return t("error.generic", { code });
}

export async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    toast(t("common.copied"));
  } catch {
    if (input) { input.focus(); input.select(); }
    toast(t("common.copyManually"));
  }
}

/** A labelled form field. */
export function field(label, input, hint) {
  return h("label", { class: "field" }, h("span", { class: "label" }, label), input, hint ? h("span", { class: "hint" }, hint) : null);
}

export const spinner = () => h("p", { class: "loading", attrs: { role: "status" } }, t("common.loading"));

export function emptyState(text) {
  return h("p", { class: "empty" }, text);
}
