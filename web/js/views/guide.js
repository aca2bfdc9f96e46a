// The first-run guide on an empty Following timeline (onboarding.get, §4.12): who invited you
// and whether you follow each other, people from your inviter's follows and your communities,
// communities by your interests and your inviter's, and an invite link to bring friends. The
// server builds it from your own circle only (never popularity) and records nothing.

import { h, fill } from "../dom.js";
import { t } from "../i18n.js";
import { call } from "../session.js";
import * as store from "../store.js";
import { copyText, errorText, spinner } from "../ui.js";
import { userBadges } from "./post.js";
import { avatar, nameOf } from "./face.js";

const LIMIT = 8;

function personLink(user) {
  store.rememberUser(user);
  return h("a", { class: "author", href: `#/u/${encodeURIComponent(user.handle)}` },
    avatar(user, "small"), nameOf(user), userBadges(user), h("span", { class: "handle" }, `@${user.handle}`));
}

/** A Follow button that becomes "Following" (and back on a second press), with aria-pressed. */
function followButton(user, following, onChange) {
  const button = h("button", { type: "button", class: "follow" });
  function draw() {
    button.textContent = following ? t("guide.following") : t("profile.follow");
    button.classList.toggle("primary", !following);
    button.setAttribute("aria-pressed", String(following));
    button.setAttribute("aria-label", t(following ? "guide.followingName" : "guide.followName", { name: user.display_name }));
  }
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await call(following ? "unfollow" : "follow", { user_id: user.id });
      following = !following;
      draw();
      onChange?.(following);
    } catch (err) {
      button.after(h("p", { class: "error" }, errorText(err)));
    } finally {
      button.disabled = false;
    }
  });
  draw();
  return button;
}

function inviterCard(result) {
  const inviter = result.inviter;
  const state = h("p", { class: "meta" });
  const drawState = (following) => fill(state, following
    ? (result.inviter_follows_you ? t("guide.friends") : t("guide.youFollow"))
    : (result.inviter_follows_you ? t("profile.followsYou") : t("guide.notFollowing")));
  drawState(result.following_inviter);
  return h("section", { class: "guide-inviter", attrs: { "aria-labelledby": "guide-inviter-title" } },
    h("h3", { id: "guide-inviter-title" }, t("guide.invitedBy")),
    h("div", { class: "person" }, personLink(inviter), followButton(inviter, result.following_inviter, drawState)),
    state);
}

function reasonsOfPerson(p, inviter) {
  const reasons = [];
  if (p.inviter_follows && inviter) reasons.push(t("guide.followedByInviter", { name: inviter.display_name }));
  if (p.shared_communities) reasons.push(t("guide.sharedCommunities", { n: p.shared_communities }));
  return reasons.join(" · ");
}

function reasonsOfCommunity(c, inviter) {
  const reasons = c.interests.map((tag) => t("guide.interest", { tag }));
  if (c.inviter_member && inviter) reasons.push(t("guide.inviterMember", { name: inviter.display_name }));
  return reasons.join(" · ");
}

function joinButton(community) {
  const button = h("button", { type: "button" });
  let state = community.request_pending ? "requested" : "none";
  function draw() {
    button.textContent = state === "joined" ? t("guide.joined") : state === "requested" ? t("guide.requested")
      : community.approval_required ? t("community.request") : t("community.join");
    button.classList.toggle("primary", state === "none");
    button.disabled = state !== "none";
  }
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const result = await call("community.join", { community_id: community.id });
      state = result.community?.my_role ? "joined" : "requested";
    } catch (err) {
      button.after(h("p", { class: "error" }, errorText(err)));
    }
    draw();
  });
  draw();
  return button;
}

function inviteBox() {
  const out = h("div", { class: "copy-row", hidden: true });
  const make = h("button", { type: "button", class: "primary" }, t("guide.makeInvite"));
  make.addEventListener("click", async () => {
    make.disabled = true;
    try {
      const { invite } = await call("invite.create");
      const url = h("input", { class: "invite-url", readOnly: true, value: invite.url, attrs: { "aria-label": t("settings.inviteLink") } });
      fill(out, url, h("button", { type: "button", on: { click: () => copyText(invite.url, url) } }, t("settings.copy")));
      out.hidden = false;
      url.focus();
      url.select();
    } catch (err) {
      fill(out, h("p", { class: "error" }, errorText(err)));
      out.hidden = false;
    } finally {
      make.disabled = false;
    }
  });
  return h("section", { class: "guide-invite", attrs: { "aria-labelledby": "guide-invite-title" } },
    h("h3", { id: "guide-invite-title" }, t("guide.inviteTitle")),
    h("p", { class: "hint" }, t("guide.inviteHint")), make, out);
}

/** The guide, as an element that fills itself in once onboarding.get answers. */
export function renderGuide() {
  const body = h("div", {}, spinner());
  const el = h("section", { class: "card guide", attrs: { "aria-labelledby": "guide-title" } },
    h("h2", { id: "guide-title" }, t("guide.title")),
    h("p", { class: "hint" }, t("guide.lead")), body);

  (async () => {
    try {
      const result = await call("onboarding.get", { limit: LIMIT });
      const parts = [];
      if (result.inviter) parts.push(inviterCard(result));
      const people = h("ul", { class: "people-list guide-people" });
      for (const p of result.people) {
        people.append(h("li", { class: "person" },
          personLink(p.user), followButton(p.user, false),
          h("p", { class: "meta" }, reasonsOfPerson(p, result.inviter))));
      }
      parts.push(h("section", { attrs: { "aria-labelledby": "guide-people-title" } },
        h("h3", { id: "guide-people-title" }, t("guide.people")),
        result.people.length ? people : h("p", { class: "hint" }, t("guide.noPeople"))));
      const communities = h("ul", { class: "guide-communities" });
      for (const c of result.communities) {
        const community = c.community;
        communities.append(h("li", { class: "guide-community" },
          h("a", { href: `#/c/${community.id}` }, h("strong", {}, community.name)),
          joinButton(community),
          community.description ? h("p", {}, community.description) : null,
          h("p", { class: "meta" }, reasonsOfCommunity(c, result.inviter))));
      }
      parts.push(h("section", { attrs: { "aria-labelledby": "guide-communities-title" } },
        h("h3", { id: "guide-communities-title" }, t("guide.communities")),
        result.communities.length ? communities
          : h("p", { class: "hint" }, t("guide.noCommunities"), " ", h("a", { href: "#/me/edit" }, t("guide.addInterests")))));
      parts.push(inviteBox());
      fill(body, ...parts);
    } catch (err) {
      // Shed or offline: the invite link still works when the request does.
      fill(body, h("p", { class: err.code === "shed" ? "notice" : "error" }, errorText(err)), inviteBox());
    }
  })();
  return el;
}
