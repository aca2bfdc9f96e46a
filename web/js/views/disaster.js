// The "during a disaster" page (#/disaster, PROTOCOL.md 11.15): what to do and where to turn,
// written by the operator (or the server's built-in page), linked from the incident banner and
// the safety page. Fetched from GET /api/disaster-page, which needs no session and which the
// service worker keeps for offline; its HTML enters the page only through setPageHtml.

import { h, fill } from "../dom.js";
import { t } from "../i18n.js";
import * as store from "../store.js";
import { setPageHtml } from "../safehtml.js";
import { spinner } from "../ui.js";
import { timeEl } from "./post.js";

export const DISASTER_PAGE_URL = "/api/disaster-page";

/** The last page fetched in this tab: shown at once next time, while the fetch revalidates. */
let last = null;

export function renderDisaster(view) {
  const body = h("div", { class: "disaster-body" });
  const about = h("p", { class: "hint disaster-about" });
  const incident = store.state.incident;
  view.append(
    h("h1", { class: "view-title" }, t("disaster.title")),
    incident ? h("p", { class: "disaster-incident" }, "⚠ ", incident.title, incident.area ? ` — ${incident.area}` : "") : null,
    h("article", { class: "card disaster-page" }, body, about),
    h("p", {}, h("a", { class: "disaster-safety", href: "#/safety" }, t("incident.tellSafety"))));
  return load(body, about);
}

/** The page folded under the log-in form: someone who cannot sign in still reaches it. */
export function disasterDetails() {
  const body = h("div", { class: "disaster-body" });
  const about = h("p", { class: "hint disaster-about" });
  const details = h("details", { class: "card disaster-page disaster-details" },
    h("summary", {}, "⚠ ", t("disaster.link")), body, about);
  details.addEventListener("toggle", () => { if (details.open && !body.childNodes.length) load(body, about); });
  return details;
}

/** Fetch the page into `body` (and what it is into `about`); the returned function stops it. */
function load(body, about) {
  let gone = false;
  function show(page) {
    setPageHtml(body, page.html);
    fill(about, page.default ? t("disaster.builtIn") : [t("disaster.updated"), " ", timeEl(page.updated_at)]);
  }
  if (last) show(last);
  else body.append(spinner());
  fetch(DISASTER_PAGE_URL, { credentials: "same-origin" })
    .then((response) => {
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return response.json();
    })
    .then((page) => {
      last = page;
      if (!gone) show(page);
    })
    .catch(() => {
      if (gone || last) return; // the page shown stays; only a tab that never had one says so
      fill(body, h("p", { class: "error", attrs: { role: "alert" } }, t("disaster.loadFailed")));
    });
  return () => { gone = true; };
}
