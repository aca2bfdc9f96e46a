// Log-in and the invite landing (/i/CODE): who invited you, sign-up with the 18+ check and the
// terms, then straight into the timeline, already following the inviter (§11.3).
// These are plain HTTP; the session cookie they set is HttpOnly, and the token in the answer's
// body is dropped unread: the page never holds it, and it never goes into a URL.

import { h, fill } from "../dom.js";
import { t, getLang } from "../i18n.js";
import { errorText, field } from "../ui.js";
import { userBadges } from "./post.js";
import { avatar } from "./face.js";
import { disasterDetails } from "./disaster.js";

async function postJson(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = data.error || { code: "internal" };
    throw Object.assign(new Error(error.message), { code: error.code, path: error.path, retryAfterMs: error.retry_after_ms });
  }
  return { user: data.user }; // not the token
}

export const logout = () => postJson("/api/logout");
/** Delete the account (§11.14): its sessions end, its connections close (4501). */
export const deleteAccount = (password) => postJson("/api/account/delete", { password });

/** Change the password (§11.6): every session is revoked, this page's too, and the answer
 * sets the new session's cookie. */
export const changePassword = (oldPassword, newPassword) =>
  postJson("/api/password", { old_password: oldPassword, new_password: newPassword });

function errorBox() {
  return h("p", { class: "form-error", attrs: { role: "alert" } });
}

export function renderLogin(view, { onSignedIn, message } = {}) {
  const handle = h("input", { name: "handle", required: true, autocomplete: "username", pattern: "[A-Za-z0-9_]{3,20}", attrs: { autocapitalize: "off", spellcheck: "false" } });
  const password = h("input", { name: "password", type: "password", required: true, autocomplete: "current-password" });
  const error = errorBox();
  if (message) error.textContent = message;
  const submit = h("button", { type: "submit", class: "primary wide" }, t("auth.login"));
  const form = h("form", { class: "card auth-form", attrs: { "aria-labelledby": "login-title" } },
    h("h1", { id: "login-title" }, t("auth.loginTitle")),
    h("p", { class: "lead" }, t("auth.tagline")),
    field(t("auth.handle"), handle),
    field(t("auth.password"), password),
    error, submit,
    h("p", { class: "hint" }, t("auth.inviteOnly")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    submit.disabled = true;
    error.textContent = "";
    try {
      await postJson("/api/login", { handle: handle.value.trim(), password: password.value });
      onSignedIn();
    } catch (err) {
      error.textContent = errorText(err);
      submit.disabled = false;
    }
  });
  view.replaceChildren(h("div", { class: "auth" }, form, disasterDetails()));
  handle.focus();
}

/** Today as YYYY-MM-DD: the latest date the picker offers. The age rule itself is the
 * server's (its date decides), and its answer is shown in words. */
const today = () => new Date().toISOString().slice(0, 10);

export async function renderInvite(view, code, { onSignedIn }) {
  const intro = h("div", { class: "invite-intro" }, h("p", { class: "loading" }, t("common.loading")));
  const card = h("div", { class: "card auth-form" }, h("h1", {}, t("auth.joinTitle")), intro);
  view.replaceChildren(h("div", { class: "auth" }, card));
  let info;
  try {
    const response = await fetch(`/api/invites/${encodeURIComponent(code)}`, { credentials: "same-origin" });
    info = await response.json();
    if (!response.ok) throw Object.assign(new Error(), { code: info.error?.code });
  } catch (err) {
    fill(intro, h("p", { class: "form-error", attrs: { role: "alert" } }, errorText(err)),
      h("p", {}, h("a", { href: "/" }, t("auth.toLogin"))));
    return;
  }
  const inviter = info.inviter;
  fill(intro, 
    inviter
      ? h("p", { class: "invited-by" }, avatar(inviter),
        h("span", {}, h("strong", {}, t("auth.invitedYou", { name: inviter.display_name })), userBadges(inviter),
          h("br"), h("span", { class: "handle" }, `@${inviter.handle}`)))
      : h("p", { class: "invited-by" }, t("auth.invitedByOperator")),
    h("p", { class: "lead" }, inviter ? t("auth.followAndStart", { name: inviter.display_name }) : t("auth.tagline")));

  const handle = h("input", { name: "handle", required: true, pattern: "[A-Za-z0-9_]{3,20}", autocomplete: "username", attrs: { autocapitalize: "off", spellcheck: "false" } });
  const displayName = h("input", { name: "display_name", required: true, maxLength: 50, autocomplete: "nickname" });
  const password = h("input", { name: "password", type: "password", required: true, minLength: 10, autocomplete: "new-password" });
  // In the page's language (the form is drawn again when it changes), for browsers that take
  // the date format from the field's language.
  const birth = h("input", { name: "birth_date", type: "date", required: true, min: "1900-01-01", max: today(), autocomplete: "bday", attrs: { lang: getLang() } });
  const adult = h("input", { name: "adult", type: "checkbox", required: true });
  const terms = h("input", { name: "accept_terms", type: "checkbox", required: true });
  const error = errorBox();
  const submit = h("button", { type: "submit", class: "primary wide" }, t("auth.signup"));
  const form = h("form", { class: "signup" },
    field(t("auth.handle"), handle, t("auth.handleHint")),
    field(t("auth.displayName"), displayName),
    field(t("auth.password"), password, t("auth.passwordHint")),
    field(t("auth.birthDate"), birth, t("auth.birthHint")),
    h("label", { class: "check" }, adult, h("span", {}, t("auth.adult"))),
    h("label", { class: "check" }, terms, h("span", {}, t("auth.terms"))),
    error, submit);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    submit.disabled = true;
    try {
      await postJson("/api/signup", {
        invite_code: code,
        handle: handle.value.trim(),
        display_name: displayName.value.trim(),
        password: password.value,
        birth_date: birth.value,
        accept_terms: terms.checked && adult.checked,
      });
      location.hash = "#/welcome"; // the profile picture step, which may be skipped

      onSignedIn();
    } catch (err) {
      error.textContent = errorText(err);
      submit.disabled = false;
      const target = { "$.handle": handle, "$.display_name": displayName, "$.password": password, "$.birth_date": birth }[err.path];
      target?.focus();
    }
  });
  card.append(form, h("p", { class: "hint" }, t("auth.haveAccount"), " ", h("a", { href: "/" }, t("auth.toLogin"))));
}
