// Who follows someone, and whom they follow: the lists behind a profile's counts
// (user.followers, user.following), newest follow first, page by page. People we hide are left
// out by the server; a block either way answers not_found, shown as such.

import { h, fill } from "../dom.js";
import { t } from "../i18n.js";
import { call } from "../session.js";
import * as store from "../store.js";
import { errorText, spinner, emptyState } from "../ui.js";
import { userBadges } from "./post.js";
import { avatar, nameOf } from "./face.js";

const PAGE = 50;

export function renderPeople(view, handle, which) {
  const op = which === "followers" ? "user.followers" : "user.following";
  const heading = h("h1", {}, t(which === "followers" ? "people.followersTitle" : "people.followingTitle", { handle }));
  const back = h("a", { class: "back", href: `#/u/${encodeURIComponent(handle)}` }, "← ", t("people.back", { handle }));
  const list = h("ul", { class: "people-list", attrs: { "aria-labelledby": "people-title" } });
  heading.id = "people-title";
  const more = h("button", { type: "button", class: "more", hidden: true }, t("timeline.older"));
  const body = h("div", { class: "card people" }, spinner());
  view.append(back, heading, body);
  let user = null;
  let cursor = null;

  async function page() {
    more.disabled = true;
    try {
      const result = await call(op, { user_id: user.id, limit: PAGE, ...(cursor ? { cursor } : {}) });
      for (const person of result.users) {
        store.rememberUser(person);
        list.append(h("li", { class: "person" },
          h("a", { class: "author", href: `#/u/${encodeURIComponent(person.handle)}` },
            avatar(person, "small"), nameOf(person), userBadges(person), h("span", { class: "handle" }, `@${person.handle}`))));
      }
      cursor = result.next;
      more.hidden = !cursor;
      if (!list.children.length && !cursor) fill(body, emptyState(t(which === "followers" ? "people.noFollowers" : "people.noFollowing")));
    } catch (err) {
      fill(body, h("p", { class: "error" }, errorText(err)));
    } finally {
      more.disabled = false;
    }
  }

  async function load() {
    try {
      user = (await call("user.get", { handle })).user;
      fill(body, list, more);
      await page();
    } catch (err) {
      fill(body, h("p", { class: "error" }, errorText(err)));
    }
  }
  more.addEventListener("click", page);
  load();
}
