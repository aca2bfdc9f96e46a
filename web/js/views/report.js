// The report dialog: what kind of wrong (spam, harassment, misinformation, other), an optional
// note for the operators, and "also block" — one modal <dialog>, for a person or a post
// (report.create, PROTOCOL.md 4.10.1). Only the operators read a report; nobody else is told.

import { h } from "../dom.js";
import { t } from "../i18n.js";
import { call, setHidden } from "../session.js";
import { toast, errorText } from "../ui.js";

const CATEGORIES = ["spam", "harassment", "misinformation", "other"];

/**
 * Open the dialog for `user` (a User) or `post` (a Post: its author may be blocked too).
 * Resolves to { reported, blocked } once it is closed.
 */
export function openReport({ user = null, post = null }) {
  const target = user || post.author;
  const title = h("h2", { id: "report-title" }, user ? t("report.titleUser", { name: target.display_name }) : t("report.titlePost"));
  const choices = h("fieldset", { class: "report-kinds" },
    h("legend", {}, t("report.kind")),
    CATEGORIES.map((kind) => h("label", { class: "choice" },
      h("input", { type: "radio", name: "category", value: kind, required: true }),
      h("span", {}, t(`report.kind.${kind}`)),
      h("small", { class: "hint" }, t(`report.kindHint.${kind}`)))));
  const note = h("textarea", { name: "reason", rows: 3, maxLength: 1000, attrs: { "aria-describedby": "report-note-hint" } });
  const block = h("input", { type: "checkbox", name: "block" });
  const cancel = h("button", { type: "button" }, t("report.cancel"));
  const send = h("button", { type: "submit", class: "danger" }, t("report.send"));
  const form = h("form", { method: "dialog", class: "report-form" },
    title,
    choices,
    h("label", { class: "field" }, h("span", {}, t("report.note")), note),
    h("p", { class: "hint", id: "report-note-hint" }, t("report.noteHint")),
    h("label", { class: "choice" }, block, h("span", {}, t("report.alsoBlock", { handle: target.handle }))),
    h("div", { class: "dialog-actions" }, cancel, send));
  const dialog = h("dialog", { class: "report-dialog", attrs: { "aria-labelledby": "report-title" } }, form);
  document.body.append(dialog);

  return new Promise((resolve) => {
    let outcome = { reported: false, blocked: false };
    dialog.addEventListener("close", () => { dialog.remove(); resolve(outcome); });
    cancel.addEventListener("click", () => dialog.close());
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const category = form.elements.category.value;
      if (!category) return;
      send.disabled = true;
      const reason = note.value.trim();
      try {
        await call("report.create", {
          ...(user ? { user_id: user.id } : { post_id: post.id }),
          category,
          ...(reason ? { reason } : {}),
        });
        outcome = { reported: true, blocked: false };
        if (block.checked) {
          await setHidden("block.add", target.id);
          outcome.blocked = true;
        }
        toast(outcome.blocked ? t("report.doneBlocked") : t("report.done"));
        dialog.close();
      } catch (err) {
        toast(errorText(err), "error");
        send.disabled = false;
      }
    });
    dialog.showModal();
    form.querySelector("input[name=category]").focus();
  });
}
