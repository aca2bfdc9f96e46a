// Editing one's own profile (#/me/edit): display name, a short bio, interests and the profile
// picture (framed square in the browser, uploaded as kind=avatar, then profile.update {avatar});
// and the profile-picture step that follows sign-up (#/welcome), which may be skipped.

import { h, fill } from "../dom.js";
import { t } from "../i18n.js";
import { call } from "../session.js";
import * as store from "../store.js";
import { countClusters } from "../text.js";
import { errorText, field, spinner, toast, announce } from "../ui.js";
import { avatar } from "./face.js";
import { avatarPicker } from "./crop.js";

const BIO_MAX = 160;
const NAME_MAX = 50;
const INTERESTS_MAX = 10;

/** profile.update, then the page agrees at once: our card everywhere, as user.updated would. */
export async function updateProfile(args) {
  const { user } = await call("profile.update", args);
  store.rememberUser(user);
  store.emit("user.updated", user);
  return user;
}

/** "sendai, 防災 #running" → ["sendai", "防災", "running"]: split as community tags are. */
export const parseInterests = (text) => [...new Set(text.split(/[\s,、，]+/).map((x) => x.replace(/^[#＃]/, "")).filter(Boolean))];

function pictureSection(onChanged) {
  const face = h("div", { class: "edit-face" }, avatar(store.state.me, "large"));
  const remove = h("button", { type: "button", class: "danger remove-picture", on: { click: removePicture } }, t("avatar.remove"));
  const picker = avatarPicker({
    label: t("avatar.change"),
    onUploaded: async (media) => {
      const user = await updateProfile({ avatar: media.id });
      redraw(user);
      toast(t("avatar.saved"));
      announce(t("avatar.saved"));
      onChanged?.(user);
    },
  });

  function redraw(user) {
    fill(face, avatar(user, "large"));
    remove.hidden = !user.avatar;
  }

  async function removePicture() {
    remove.disabled = true;
    try {
      const user = await updateProfile({ remove_avatar: true });
      redraw(user);
      toast(t("avatar.removed"));
      onChanged?.(user);
      picker.querySelector(".choose-picture")?.focus();
    } catch (err) {
      toast(errorText(err), "error");
    } finally {
      remove.disabled = false;
    }
  }

  remove.hidden = !store.state.me.avatar;
  return h("section", { class: "card edit-picture", attrs: { "aria-labelledby": "edit-picture-title" } },
    h("h2", { id: "edit-picture-title" }, t("avatar.title")),
    h("div", { class: "edit-picture-row" }, face, h("div", { class: "edit-picture-actions" }, picker, remove)));
}

function counted(input, max, counter) {
  const update = () => {
    const n = countClusters(input.value);
    counter.textContent = `${n} / ${max}`;
    counter.classList.toggle("over", n > max);
    return n <= max;
  };
  input.addEventListener("input", update);
  update();
  return update;
}

export function renderProfileEdit(view) {
  const box = h("div", { class: "profile-edit" }, spinner());
  view.append(h("h1", { class: "view-title" },
    h("a", { href: "#/me", class: "back", attrs: { "aria-label": t("common.back") } }, "←"), " ", t("profile.edit")), box);

  async function load() {
    let profile;
    try {
      profile = (await call("user.get", { handle: store.state.me.handle })).user;
    } catch (err) {
      fill(box, h("p", { class: "error" }, errorText(err)));
      return;
    }
    const name = h("input", { name: "display_name", required: true, value: profile.display_name, autocomplete: "nickname" });
    const nameCount = h("span", { class: "counter" });
    const bio = h("textarea", { name: "bio", rows: 3, value: profile.bio || "", placeholder: t("profile.bioPlaceholder") });
    const bioCount = h("span", { class: "counter" });
    const interests = h("input", { name: "interests", value: (profile.interests || []).join(", "), placeholder: t("profile.interestsPlaceholder"), attrs: { autocapitalize: "off" } });
    const error = h("p", { class: "form-error", attrs: { role: "alert" } });
    const save = h("button", { type: "submit", class: "primary" }, t("profile.save"));
    const form = h("form", { class: "card edit-details", attrs: { "aria-labelledby": "edit-details-title" } },
      h("h2", { id: "edit-details-title" }, t("profile.details")),
      field(t("auth.displayName"), name), nameCount,
      field(t("profile.bio"), bio, t("profile.bioHint")), bioCount,
      field(t("profile.interests"), interests, t("profile.interestsHint", { n: INTERESTS_MAX })),
      error, save);
    const nameOk = counted(name, NAME_MAX, nameCount);
    const bioOk = counted(bio, BIO_MAX, bioCount);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      error.textContent = "";
      const tags = parseInterests(interests.value);
      if (!name.value.trim() || !nameOk()) { error.textContent = t("error.display_name_invalid"); name.focus(); return; }
      if (!bioOk()) { error.textContent = t("error.text_too_long"); bio.focus(); return; }
      if (tags.length > INTERESTS_MAX) { error.textContent = t("profile.interestsTooMany", { n: INTERESTS_MAX }); interests.focus(); return; }
      save.disabled = true;
      try {
        const user = await updateProfile({ display_name: name.value.trim(), bio: bio.value.trim(), interests: tags });
        interests.value = (user.interests || tags).join(", ");
        toast(t("settings.saved"));
      } catch (err) {
        error.textContent = errorText(err);
        ({ "$.display_name": name, "$.bio": bio }[err.path] || (String(err.path).startsWith("$.interests") ? interests : null))?.focus();
      } finally {
        save.disabled = false;
      }
    });
    fill(box, pictureSection(), form, h("p", {}, h("a", { href: `#/u/${encodeURIComponent(store.state.me.handle)}` }, t("profile.view"))));
  }

  load();
}

/** After sign-up: a profile picture, as mixi2 asks for one; "skip" goes straight on. */
export function renderWelcome(view) {
  const me = store.state.me;
  const next = h("a", { class: "button primary welcome-next", href: "#/" }, t("welcome.start"));
  const skip = h("a", { class: "button welcome-skip", href: "#/" }, t("welcome.skip"));
  const actions = h("div", { class: "welcome-actions" }, skip);
  const section = pictureSection(() => { skip.replaceWith(next); next.focus(); });
  view.append(h("div", { class: "welcome" },
    h("h1", { class: "view-title" }, t("welcome.title", { name: me.display_name })),
    h("p", { class: "lead" }, t("welcome.lead")),
    section, actions));
}
