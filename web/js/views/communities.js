// Communities: the ones I am in ("my communities", with my role), browse and search by name and
// tag, create, join or ask to join, the community timeline (live for members), announcements in
// certified communities, and moderation tools.

import { h, fill, byData } from "../dom.js";
import { t } from "../i18n.js";
import { call } from "../session.js";
import * as store from "../store.js";
import { errorText, field, spinner, emptyState, toast } from "../ui.js";
import { renderPost, updateReactions, removePost, userBadges } from "./post.js";
import { createComposer } from "./composer.js";
import { feed } from "./timeline.js";
import { avatar, nameOf } from "./face.js";

function tagLinks(tags) {
  return h("span", { class: "tags" }, tags.map((tag) => h("a", { class: "tag", href: `#/communities?tag=${encodeURIComponent(tag)}` }, `#${tag}`)));
}

function roleLabel(c) {
  if (c.my_role) return h("span", { class: "tag role" }, t("community.yourRole", { role: t(`community.role.${c.my_role}`) }));
  if (c.request_pending) return h("span", { class: "tag" }, t("community.pending"));
  return null;
}

function card(c) {
  return h("li", { class: "community-card card", dataset: { communityId: c.id } },
    h("a", { class: "community-name", href: `#/c/${c.id}` }, c.name,
      c.certified ? h("span", { class: "badge verified", title: t("community.certified"), attrs: { role: "img", "aria-label": t("community.certified") } }, "✓") : null),
    h("p", { class: "meta" }, t("community.members", { n: c.member_count }), " · ",
      c.approval_required ? t("community.approval") : t("community.open"), " ", roleLabel(c)),
    c.description ? h("p", { class: "description" }, c.description) : null,
    tagLinks(c.tags));
}

/** "My communities": those I am a member of, in the order I joined, page by page (community.mine). */
function myCommunities() {
  const list = h("ul", { class: "communities mine" });
  const more = h("button", { type: "button", class: "more", hidden: true }, t("common.more"));
  const section = h("section", { class: "my-communities", attrs: { "aria-labelledby": "my-communities-title" } },
    h("h2", { id: "my-communities-title" }, t("community.mine")), list, more);
  let cursor = null;
  let generation = 0;

  async function load(reset) {
    const mine = reset ? ++generation : generation;
    more.disabled = true;
    try {
      const page = await call("community.mine", { limit: 20, cursor: reset ? undefined : cursor || undefined });
      if (mine !== generation) return; // a newer first page is on its way
      if (reset) list.replaceChildren();
      for (const c of page.communities) if (!list.querySelector(byData("community-id", c.id))) list.append(card(c));
      if (!list.children.length) list.append(h("li", {}, emptyState(t("community.mineNone"))));
      cursor = page.next;
      more.hidden = !cursor;
    } catch (err) {
      if (mine === generation) list.replaceChildren(h("li", { class: "error" }, errorText(err)));
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener("click", () => load(false));
  load(true);
  // Joined, left, approved, banned, a new role (here or on another device): read the list afresh.
  const off = store.on("community.membership", () => load(true));
  return { section, off };
}

export function renderCommunities(view, query) {
  const q = h("input", { type: "search", name: "q", value: query?.get("q") || "", placeholder: t("community.searchPlaceholder"), attrs: { "aria-label": t("community.search") } });
  const tag = h("input", { name: "tag", value: query?.get("tag") || "", placeholder: t("community.tagPlaceholder"), attrs: { "aria-label": t("community.tag") } });
  const search = h("form", { class: "search-bar", attrs: { role: "search" } }, q, tag, h("button", { type: "submit" }, t("community.search")));
  const results = h("ul", { class: "communities" });
  const more = h("button", { type: "button", class: "more", hidden: true }, t("common.more"));
  let cursor = null;

  const name = h("input", { name: "name", required: true, maxLength: 50 });
  const description = h("textarea", { name: "description", rows: 2 });
  const tags = h("input", { name: "tags", placeholder: t("community.tagsPlaceholder") });
  const approval = h("input", { type: "checkbox", name: "approval_required" });
  const create = h("form", { class: "card create-community" },
    h("h2", {}, t("community.create")),
    field(t("community.name"), name), field(t("community.description"), description),
    field(t("community.tags"), tags, t("community.tagsHint")),
    h("label", { class: "check" }, approval, h("span", {}, t("community.approvalRequired"))),
    h("button", { type: "submit", class: "primary" }, t("community.createButton")));

  const mine = myCommunities();
  view.append(h("h1", { class: "view-title" }, t("nav.communities")), mine.section,
    h("h2", { class: "find-title" }, t("community.find")), search, results, more,
    h("details", { class: "create-details" }, h("summary", {}, t("community.create")), create));

  async function load(reset) {
    if (reset) { cursor = null; results.replaceChildren(spinner()); }
    try {
      const page = await call("community.search", {
        query: q.value.trim() || undefined, tag: tag.value.trim().replace(/^#/, "") || undefined, limit: 20, cursor: cursor || undefined,
      });
      if (reset) results.replaceChildren();
      for (const c of page.communities) if (!results.querySelector(byData("community-id", c.id))) results.append(card(c));
      if (!results.children.length) results.append(h("li", {}, emptyState(t("community.none"))));
      cursor = page.next;
      more.hidden = !cursor;
    } catch (err) {
      results.replaceChildren(h("li", { class: "error" }, errorText(err)));
    }
  }
  search.addEventListener("submit", (e) => {
    e.preventDefault();
    const params = new URLSearchParams();
    if (q.value.trim()) params.set("q", q.value.trim());
    if (tag.value.trim()) params.set("tag", tag.value.trim().replace(/^#/, ""));
    const target = `#/communities${params.size ? `?${params}` : ""}`;
    if (location.hash === target) load(true); else location.hash = target;
  });
  more.addEventListener("click", () => load(false));
  create.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const { community } = await call("community.create", {
        name: name.value.trim(), description: description.value.trim(),
        tags: tags.value.split(/[\s,、]+/).map((x) => x.replace(/^#/, "")).filter(Boolean),
        approval_required: approval.checked,
      });
      location.hash = `#/c/${community.id}`;
    } catch (err) { toast(errorText(err), "error"); }
  });
  load(true);
  return mine.off;
}

export function renderCommunity(view, id) {
  const head = h("div", { class: "community-head card" }, spinner());
  const tools = h("div", { class: "community-tools" });
  const list = feed(t("community.timeline"));
  const more = h("button", { type: "button", class: "more", hidden: true }, t("timeline.older"));
  view.append(head, tools, list, more);
  let community = null;
  let next = null;
  let reloadMod = null; // the moderation panel's reader, while it is drawn
  const isMod = () => community && ["owner", "moderator"].includes(community.my_role);
  const postOptions = () => ({ inCommunity: true, canModerate: isMod(), privateCommunity: community?.approval_required });

  async function membership(op) {
    try {
      community = (await call(op, { community_id: id })).community;
      drawHead();
      if (op === "community.join" && community.my_role) loadTimeline();
    } catch (err) { toast(errorText(err), "error"); }
  }

  function drawHead() {
    const c = community;
    let action = null;
    if (!c.my_role && !c.request_pending) {
      action = h("button", { type: "button", class: "primary", on: { click: () => membership("community.join") } }, c.approval_required ? t("community.request") : t("community.join"));
    } else if (c.request_pending) {
      action = h("button", { type: "button", on: { click: () => membership("community.leave") } }, t("community.withdraw"));
    } else if (c.my_role !== "owner") {
      action = h("button", { type: "button", on: { click: () => membership("community.leave") } }, t("community.leave"));
    }
    fill(head, 
      h("h1", {}, c.name, c.certified ? h("span", { class: "badge verified", title: t("community.certified"), attrs: { role: "img", "aria-label": t("community.certified") } }, "✓") : null),
      h("p", { class: "meta" }, t("community.members", { n: c.member_count }), " · ", c.approval_required ? t("community.approval") : t("community.open"), " ", roleLabel(c),
        " · ", t("community.ownedBy"), h("a", { class: "owner", href: `#/u/${c.owner.handle}` }, avatar(c.owner, "tiny"), nameOf(c.owner)), userBadges(c.owner)),
      c.description ? h("p", { class: "description" }, c.description) : null,
      tagLinks(c.tags),
      c.approval_required && !c.my_role ? null : memberList(),
      h("div", { class: "community-actions" }, action));
    tools.replaceChildren();
    reloadMod = null;
    if (c.my_role) {
      tools.append(createComposer({ communityId: id, placeholder: t("community.postPlaceholder", { name: c.name }), onPosted: addPost }));
      if (c.certified && isMod()) {
        tools.append(h("details", { class: "announce-box" }, h("summary", {}, "📢 ", t("community.announceTitle")),
          createComposer({ communityId: id, announce: true, placeholder: t("community.announcePlaceholder"), onPosted: addPost })));
      }
    }
    if (isMod()) tools.append(moderation());
  }

  /** Who is in it, with faces: read when opened, page by page (community.members). */
  function memberList() {
    const list = h("ul", { class: "member-list" });
    const more = h("button", { type: "button", class: "more", hidden: true }, t("common.more"));
    const box = h("details", { class: "members-box" }, h("summary", {}, t("community.memberList")), list, more);
    let cursor = null;
    let started = false;
    async function page() {
      more.disabled = true;
      try {
        const r = await call("community.members", { community_id: id, limit: 50, cursor: cursor || undefined });
        for (const mem of r.members) {
          list.append(h("li", {}, h("a", { href: `#/u/${mem.user.handle}` }, avatar(mem.user, "small"), nameOf(mem.user), userBadges(mem.user)),
            mem.role !== "member" ? h("span", { class: "tag role" }, t(`community.role.${mem.role}`)) : null));
        }
        cursor = r.next;
        more.hidden = !cursor;
      } catch (err) { list.append(h("li", { class: "error" }, errorText(err))); }
      finally { more.disabled = false; }
    }
    box.addEventListener("toggle", () => { if (box.open && !started) { started = true; page(); } });
    more.addEventListener("click", page);
    return box;
  }

  function moderation() {
    const requests = h("ul", { class: "mod-list" });
    const members = h("ul", { class: "mod-list" });
    const banHandle = h("input", { name: "handle", placeholder: "@handle", attrs: { autocapitalize: "off", "aria-label": t("community.handleToBan") } });
    const banForm = h("form", { class: "inline-form" }, banHandle,
      h("button", { type: "submit", class: "danger", value: "ban" }, t("community.ban")),
      h("button", { type: "submit", value: "unban" }, t("community.unban")));
    banForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      const op = e.submitter?.value === "unban" ? "community.unban" : "community.ban";
      try {
        const { user } = await call("user.get", { handle: banHandle.value.trim().replace(/^@/, "") });
        await call(op, { community_id: id, user_id: user.id });
        toast(t("community.done"));
        banHandle.value = "";
        loadMod();
      } catch (err) { toast(errorText(err), "error"); }
    });
    const act = async (op, args) => {
      try { await call(op, { community_id: id, ...args }); loadMod(); } catch (err) { toast(errorText(err), "error"); }
    };
    async function loadMod() {
      try {
        const [r, m] = await Promise.all([call("community.requests", { community_id: id }), call("community.members", { community_id: id, limit: 100 })]);
        requests.replaceChildren(...r.requests.map((req) => h("li", {},
          avatar(req.user, "small"), h("a", { href: `#/u/${req.user.handle}` }, nameOf(req.user)), ` @${req.user.handle} `,
          h("button", { type: "button", class: "primary", on: { click: () => act("community.approve", { user_id: req.user.id }) } }, t("community.approve")),
          h("button", { type: "button", on: { click: () => act("community.decline", { user_id: req.user.id }) } }, t("community.decline")))));
        if (!r.requests.length) requests.append(h("li", { class: "empty" }, t("community.noRequests")));
        members.replaceChildren(...m.members.map((mem) => h("li", {},
          avatar(mem.user, "small"), h("a", { href: `#/u/${mem.user.handle}` }, nameOf(mem.user)), ` @${mem.user.handle} `, h("span", { class: "tag role" }, t(`community.role.${mem.role}`)),
          community.my_role === "owner" && mem.role !== "owner"
            ? h("button", { type: "button", on: { click: () => act("community.set_role", { user_id: mem.user.id, role: mem.role === "moderator" ? "member" : "moderator" }) } },
              mem.role === "moderator" ? t("community.demote") : t("community.promote"))
            : null,
          mem.role !== "owner" && (community.my_role === "owner" || mem.role === "member")
            ? h("button", { type: "button", class: "danger", on: { click: () => act("community.ban", { user_id: mem.user.id }) } }, t("community.ban"))
            : null)));
      } catch (err) { requests.replaceChildren(h("li", { class: "error" }, errorText(err))); }
    }
    loadMod();
    reloadMod = loadMod;
    return h("details", { class: "card moderation" }, h("summary", {}, "🛡 ", t("community.moderation")),
      h("h3", {}, t("community.requests")), requests,
      h("h3", {}, t("community.memberList")), members,
      h("h3", {}, t("community.banTitle")), banForm);
  }

  function addPost(post) {
    if (list.querySelector(`[data-entry-id="${post.id}"]`)) return;
    list.querySelector(".empty")?.remove();
    const after = [...list.querySelectorAll(":scope > article")].find((a) => a.dataset.entryId < post.id);
    list.insertBefore(renderPost(post, postOptions()), after || null);
  }

  async function loadTimeline(older = false) {
    try {
      const page = await call("community.timeline", { community_id: id, limit: 30, before: older ? next : undefined });
      if (!older) list.replaceChildren();
      for (const post of page.posts) list.append(renderPost(store.rememberPost(post), postOptions()));
      if (!list.children.length) list.append(emptyState(t("community.noPosts")));
      next = page.next;
      more.hidden = !next;
    } catch (err) {
      list.replaceChildren(h("p", { class: err.code === "forbidden" ? "notice" : "error" }, err.code === "forbidden" ? t("community.membersOnly") : errorText(err)));
    }
  }
  more.addEventListener("click", () => loadTimeline(true));

  async function load() {
    try {
      community = (await call("community.get", { community_id: id })).community;
      drawHead();
      loadTimeline();
    } catch (err) {
      fill(head, h("p", { class: "error" }, errorText(err)));
    }
  }
  load();
  const offs = [
    store.on("post.created", (post) => { if (post.community_id === id) addPost(post); }),
    store.on("post.deleted", removePost),
    store.on("post.reactions", updateReactions),
    // A join request made, withdrawn or decided elsewhere: the staff's open list follows live.
    store.on("community.join_request", (data) => { if (data.community_id === id) reloadMod?.(); }),
    store.on("community.membership", ({ community: c }) => {
      if (c.id !== id) return;
      const joined = !community?.my_role && c.my_role;
      community = c;
      drawHead();
      if (joined) loadTimeline(); // approved: the posts are readable now
    }),
  ];
  return () => offs.forEach((off) => off());
}
