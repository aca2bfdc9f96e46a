// Settings: language, presence visibility, who may message you, invites with copyable links,
// the block and mute lists, the password, the handle, the signed-in sessions, and log-out.

import { h } from "../dom.js";
import { t, getLang, setLang, LANGUAGES } from "../i18n.js";
import { call, endSession, setHidden } from "../session.js";
import * as store from "../store.js";
import { copyText, errorText, emptyState, field, toast } from "../ui.js";
import { timeEl } from "./post.js";
import { logout, changePassword, deleteAccount } from "./auth.js";
import { signedOut, renewAfter } from "../app.js";
import { avatar, nameOf } from "./face.js";
import { notificationsCard, forgetDevice } from "../push.js";
import * as offline from "../offline.js";
import * as outbox from "../outbox.js";

/** Nothing of this person stays on this device: its push subscription, the offline snapshot
 * and what waits in the outbox (the session's socket is still up to tell the server). */
async function forgetHere() {
  await forgetDevice();
  await Promise.all([offline.forget(), outbox.forget()]);
}

function radioGroup(name, legend, values, current, onChange) {
  return h("fieldset", { class: "radios" }, h("legend", {}, legend),
    values.map((value) => {
      const input = h("input", { type: "radio", name, value, checked: value === current, on: { change: () => onChange(value) } });
      return h("label", { class: "check" }, input, h("span", {}, t(`settings.${name}.${value}`)));
    }));
}

export function renderSettings(view) {
  const privacy = h("section", { class: "card", attrs: { "aria-labelledby": "privacy-title" } }, h("h2", { id: "privacy-title" }, t("settings.privacy")));
  const invites = h("ul", { class: "invites" });
  const blocks = h("ul", { class: "user-list" });
  const mutes = h("ul", { class: "user-list" });
  const sessions = h("ul", { class: "sessions" });
  const language = h("select", { name: "language", on: { change: (e) => setLang(e.target.value) } },
    LANGUAGES.map((l) => h("option", { value: l, selected: l === getLang() }, l === "ja" ? "日本語" : "English")));
  view.append(
    h("h1", { class: "view-title" }, t("nav.settings")),
    h("section", { class: "card" }, h("h2", {}, t("settings.language")), h("label", { class: "field" }, h("span", { class: "label" }, t("settings.language")), language)),
    notificationsCard(),
    privacy,
    h("section", { class: "card", attrs: { "aria-labelledby": "invites-title" } },
      h("h2", { id: "invites-title" }, t("settings.invites")),
      h("p", { class: "hint" }, t("settings.invitesHint")),
      h("button", { type: "button", class: "primary", on: { click: newInvite } }, t("settings.newInvite")),
      invites),
    h("section", { class: "card" }, h("h2", {}, t("settings.blocked")), blocks),
    h("section", { class: "card" }, h("h2", {}, t("settings.muted")), mutes),
    passwordCard(),
    handleCard(),
    h("section", { class: "card", attrs: { "aria-labelledby": "sessions-title" } },
      h("h2", { id: "sessions-title" }, t("settings.sessions")),
      h("p", { class: "hint" }, t("settings.sessionsHint")),
      sessions),
    h("section", { class: "card" }, h("h2", {}, t("settings.account")),
      h("p", { class: "signed-in-as" }, t("settings.signedInAs", { handle: store.state.me.handle })),
      // A plain link: the browser downloads the archive with the session cookie (§11.13).
      h("p", {}, h("a", { href: "/api/export", class: "export-link", attrs: { download: "" } }, t("settings.export"))),
      h("p", { class: "hint" }, t("settings.exportHint")),
      deleteForm(),
      h("button", { type: "button", class: "danger", on: { click: signOut } }, t("settings.logout"))));

  async function update(args) {
    try {
      await call("settings.update", args);
      toast(t("settings.saved"));
    } catch (err) { toast(errorText(err), "error"); }
  }

  async function loadSettings() {
    try {
      const { settings } = await call("settings.get");
      privacy.append(
        radioGroup("presence_visibility", t("settings.presence"), ["friends", "nobody"], settings.presence_visibility, (v) => update({ presence_visibility: v })),
        radioGroup("dm_policy", t("settings.dmPolicy"), ["everyone", "following", "nobody"], settings.dm_policy, (v) => update({ dm_policy: v })));
    } catch (err) { privacy.append(h("p", { class: "error" }, errorText(err))); }
  }

  // The server gives an invite's link only in invite.create's answer: it keeps a hash of the
  // code, so invite.list has no link (§4.1.3). Links made while this view is open stay here,
  // keyed as the list tells invites apart, so they can still be copied.
  const made = new Map();
  const inviteKey = (invite) => `${invite.code_prefix}/${invite.created_at}`;

  function inviteEl(invite) {
    const expired = !invite.used_by && Date.parse(invite.expires_at) < Date.now();
    const link = invite.url || made.get(inviteKey(invite));
    let state;
    if (invite.used_by) state = h("span", {}, t("settings.usedBy"), " ", h("a", { href: `#/u/${invite.used_by.handle}` }, invite.used_by.display_name));
    else if (expired) state = h("span", { class: "muted" }, t("settings.expired"));
    else state = h("span", {}, t("settings.expires"), " ", timeEl(invite.expires_at));
    let top = null;
    if (!invite.used_by && !expired && link) {
      const url = h("input", { class: "invite-url", readOnly: true, value: link, attrs: { "aria-label": t("settings.inviteLink") } });
      top = h("div", { class: "copy-row" }, url, h("button", { type: "button", on: { click: () => copyText(link, url) } }, t("settings.copy")));
    } else if (!invite.used_by && !expired) {
      top = h("p", { class: "hint" }, t("settings.linkShownOnce"));
    }
    return h("li", { class: ["invite", (invite.used_by || expired) && "spent"], dataset: { prefix: invite.code_prefix || "" } },
      h("p", { class: "invite-prefix" }, t("settings.inviteStartsWith", { prefix: invite.code_prefix || "" })),
      top,
      h("p", { class: "meta" }, state));
  }

  async function loadInvites() {
    try {
      const { invites: all } = await call("invite.list");
      invites.replaceChildren(...all.map(inviteEl));
      if (!all.length) invites.append(h("li", {}, emptyState(t("settings.noInvites"))));
    } catch (err) { invites.replaceChildren(h("li", { class: "error" }, errorText(err))); }
  }

  async function newInvite() {
    try {
      const { invite } = await call("invite.create");
      made.set(inviteKey(invite), invite.url);
      await loadInvites();
    } catch (err) { toast(errorText(err), "error"); }
  }

  async function loadLists() {
    const lift = async (op, user) => {
      try { await setHidden(op, user.id); } catch (err) { toast(errorText(err), "error"); }
      loadLists();
    };
    const fill = (el, users, op) => {
      el.replaceChildren(...users.map((u) => h("li", {},
        avatar(u, "small"), h("a", { href: `#/u/${u.handle}` }, nameOf(u)), ` @${u.handle} `,
        h("button", { type: "button", on: { click: () => lift(op, u) } }, op === "block.remove" ? t("profile.unblock") : t("profile.unmute")))));
      if (!users.length) el.append(h("li", {}, emptyState(t("settings.nobody"))));
    };
    try {
      const [b, m] = await Promise.all([call("block.list"), call("mute.list")]);
      fill(blocks, b.users, "block.remove");
      fill(mutes, m.users, "mute.remove");
    } catch (err) { blocks.replaceChildren(h("li", { class: "error" }, errorText(err))); }
  }

  async function signOut() {
    await forgetHere();
    try { await logout(); } catch { /* the cookie is cleared anyway on the next log-in */ }
    endSession();
    signedOut();
  }

  // The password (§11.6): changing it signs every session out, this page's too, which then
  // reconnects with the new session the answer's cookie holds (app.js, renewAfter).
  function passwordCard() {
    const current = h("input", { type: "password", name: "current-password", autocomplete: "current-password", required: true });
    const fresh = h("input", { type: "password", name: "new-password", autocomplete: "new-password", required: true, minLength: 10 });
    const problem = h("p", { class: "form-error", attrs: { role: "alert" } });
    const form = h("form", { class: "password-form", on: { submit: submit } },
      field(t("settings.currentPassword"), current),
      field(t("settings.newPassword"), fresh, t("settings.newPasswordHint")),
      problem,
      h("button", { type: "submit", class: "primary" }, t("settings.changePassword")));
    async function submit(event) {
      event.preventDefault();
      problem.textContent = "";
      const change = changePassword(current.value, fresh.value);
      renewAfter(change);
      try {
        await change;
        form.reset();
        toast(t("settings.passwordChanged"));
      } catch (err) {
        problem.textContent = err.code === "invalid_credentials" ? t("settings.passwordWrong") : errorText(err);
      }
    }
    return h("section", { class: "card", attrs: { "aria-labelledby": "password-title" } },
      h("h2", { id: "password-title" }, t("settings.password")), form);
  }

  // The handle (§4.1.10): with the password, once per limits.handle_change_interval_ms; the
  // handle left stays ours, so links and mentions with it still lead here.
  function handleCard() {
    const me = store.state.me;
    const handle = h("input", { type: "text", name: "new-handle", value: me.handle, required: true, minLength: 3, maxLength: 20,
      autocomplete: "username", spellcheck: false, attrs: { pattern: "[A-Za-z0-9_]{3,20}", autocapitalize: "none" } });
    const password = h("input", { type: "password", name: "handle-password", autocomplete: "current-password", required: true });
    const problem = h("p", { class: "form-error", attrs: { role: "alert" } });
    const days = Math.round((store.state.limits?.handle_change_interval_ms ?? 30 * 86_400_000) / 86_400_000);
    const form = h("form", { class: "handle-form", on: { submit } },
      field(t("settings.newHandle"), handle, t("settings.handleRules")),
      field(t("settings.currentPassword"), password),
      problem,
      h("button", { type: "submit", class: "primary" }, t("settings.changeHandle")));
    async function submit(event) {
      event.preventDefault();
      problem.textContent = "";
      try {
        const { user } = await call("account.handle", { handle: handle.value.trim().replace(/^@/, ""), password: password.value });
        store.rememberUser(user);
        store.emit("user.updated", user);
        password.value = "";
        handle.value = user.handle;
        for (const el of view.querySelectorAll(".signed-in-as")) el.textContent = t("settings.signedInAs", { handle: user.handle });
        toast(t("settings.handleChanged", { handle: user.handle }));
      } catch (err) {
        if (err.code === "invalid_credentials") problem.textContent = t("settings.passwordWrong");
        else if (err.code === "rate_limited" && err.path === "$.handle" && err.retryAfterMs) {
          const when = new Date(Date.now() + err.retryAfterMs).toLocaleDateString(getLang());
          problem.textContent = t("settings.handleTooSoon", { date: when });
        } else problem.textContent = errorText(err);
      }
    }
    return h("section", { class: "card", attrs: { "aria-labelledby": "handle-title" } },
      h("h2", { id: "handle-title" }, t("settings.handle")),
      h("p", { class: "hint" }, t("settings.handleHint", { days })),
      form);
  }

  // Signed-in sessions (§4.1.8): sign any other out (its connections close at once); this
  // one is signed out as "Log out" does.
  function sessionEl(session) {
    const device = session.device || t("settings.unknownDevice");
    const used = session.last_used_at
      ? h("span", {}, t("settings.lastUsed"), " ", timeEl(session.last_used_at))
      : null;
    const out = session.current
      ? h("button", { type: "button", on: { click: signOut } }, t("settings.logout"))
      : h("button", { type: "button", on: { click: () => revoke(session) } }, t("settings.signOutSession"));
    return h("li", { class: ["session", session.current && "current"], dataset: { id: session.id } },
      h("p", { class: "session-device" }, device, session.current ? h("span", { class: "badge-this" }, ` (${t("settings.thisDevice")})`) : null),
      h("p", { class: "meta" }, h("span", {}, t("settings.signedInAt"), " ", timeEl(session.created_at)), used ? " · " : null, used),
      out);
  }

  async function loadSessions() {
    try {
      const { sessions: all } = await call("session.list");
      sessions.replaceChildren(...all.map(sessionEl));
    } catch (err) { sessions.replaceChildren(h("li", { class: "error" }, errorText(err))); }
  }

  async function revoke(session) {
    try {
      await call("session.revoke", { session_id: session.id });
      toast(t("settings.sessionSignedOut"));
    } catch (err) { toast(errorText(err), "error"); }
    loadSessions();
  }

  // Deleting the account (§11.14), with its password and a second thought.
  function deleteForm() {
    const password = h("input", { type: "password", name: "delete-password", autocomplete: "current-password", required: true });
    const sure = h("input", { type: "checkbox", name: "delete-sure", required: true });
    const problem = h("p", { class: "form-error", attrs: { role: "alert" } });
    async function submit(event) {
      event.preventDefault();
      problem.textContent = "";
      try {
        await deleteAccount(password.value);
      } catch (err) {
        problem.textContent = err.code === "invalid_credentials" ? t("settings.passwordWrong") : errorText(err);
        return;
      }
      await forgetHere(); // the server dropped the account's push subscriptions with it
      endSession();
      signedOut();
      toast(t("settings.accountDeleted"));
    }
    return h("details", { class: "delete-account" },
      h("summary", {}, t("settings.deleteAccount")),
      h("p", { class: "hint" }, t("settings.deleteHint")),
      h("form", { class: "delete-form", on: { submit } },
        field(t("settings.currentPassword"), password),
        h("label", { class: "check" }, sure, h("span", {}, t("settings.deleteSure"))),
        problem,
        h("button", { type: "submit", class: "danger" }, t("settings.deleteAccount"))));
  }

  loadSettings();
  loadInvites();
  loadLists();
  loadSessions();
  // Someone signing up with one of our invites follows us at once ("follow and start").
  return store.on("follow", (data) => { if (data.followee.id === store.state.me.id) loadInvites(); });
}
