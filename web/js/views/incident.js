// The incident banner (§4.9): shown from ready.incident or incident.started until
// incident.ended, with the way to the "during a disaster" page (#/disaster, §11.15) and to the
// safety page. During an incident, decorative motion is shed like the server sheds work.

import { h, $, fill } from "../dom.js";
import { t } from "../i18n.js";
import { timeEl } from "./post.js";
import { announce } from "../ui.js";

let shown = null;

export function renderIncident(incident) {
  const banner = $("#incident");
  document.body.classList.toggle("incident-mode", !!incident);
  if (!incident) {
    if (shown) announce(t("incident.ended"));
    shown = null;
    banner.hidden = true;
    banner.replaceChildren();
    return;
  }
  fill(banner, 
    h("span", { class: "incident-icon", attrs: { "aria-hidden": "true" } }, "⚠"),
    h("div", { class: "incident-text" },
      h("strong", { class: "incident-title" }, incident.title),
      incident.area ? h("span", { class: "incident-area" }, ` — ${incident.area}`) : null,
      h("span", { class: "incident-since" }, " · ", t("incident.since"), " ", timeEl(incident.started_at))),
    h("a", { class: "incident-action incident-guide", href: "#/disaster" }, t("incident.disasterPage")),
    h("a", { class: "incident-action", href: "#/safety" }, t("incident.tellSafety")));
  banner.hidden = false;
  shown = incident.id;
}
