// Direct messages: the list with unread counts, 1:1 and group conversations, the typing
// indicator (dm.typing at most once per typing interval while typing) and read markers.

import { h, fill, byData } from "../dom.js";
import { t } from "../i18n.js";
import { sendMessage } from "../outbox.js";
import { call, ensureConversation } from "../session.js";
import * as store from "../store.js";
import { cleanText, countClusters } from "../text.js";
import { announce, errorText, field, spinner, emptyState, toast } from "../ui.js";
import { timeEl, userBadges } from "./post.js";
import { avatar, nameOf, shownName } from "./face.js";
import { mediaGrid } from "./media.js";
import { attachments } from "./attach.js";

export function conversationTitle(c) {
  if (c.title) return c.title;
  const me = store.state.me?.id;
  const others = c.members.filter((m) => m.id !== me).map(shownName);
  const extra = c.member_count - 1 - others.length;
  return others.join("、") + (extra > 0 ? t("dm.andMore", { n: extra }) : "") || t("dm.justYou");
}

function systemLine(m) {
  const who = shownName(m.author);
  const subject = m.subject?.display_name || "";
  const key = { created: "dm.sys.created", added: "dm.sys.added", removed: "dm.sys.removed", left: "dm.sys.left" }[m.kind];
  return key ? t(key, { who, subject }) : t("dm.sys.other");
}

/** A message in a line of text: its text, or for pictures only, how many. */
export function messageText(m) {
  return m.text || (m.media?.length ? t("dm.pictures", { n: m.media.length }) : "");
}

function preview(m) {
  if (!m) return "";
  return m.kind === "text" ? `${shownName(store.latest(m.author))}: ${messageText(m)}` : systemLine(m);
}

export function renderDmList(view) {
  const list = h("ul", { class: "conversations", attrs: { "aria-label": t("dm.title") } });
  const handles = h("input", { name: "handles", required: true, placeholder: t("dm.toPlaceholder"), attrs: { autocapitalize: "off", spellcheck: "false" } });
  const title = h("input", { name: "title", maxLength: 50, placeholder: t("dm.groupTitlePlaceholder") });
  const start = h("form", { class: "card new-dm" },
    h("h2", {}, t("dm.new")), field(t("dm.to"), handles, t("dm.toHint")), field(t("dm.groupTitle"), title),
    h("button", { type: "submit", class: "primary" }, t("dm.start")));
  start.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const names = handles.value.split(/[\s,、]+/).map((s) => s.replace(/^@/, "")).filter(Boolean);
      const users = await Promise.all(names.map((handle) => call("user.get", { handle }).then((r) => r.user)));
      const { conversation } = await call("dm.open", { user_ids: users.map((u) => u.id), title: title.value.trim() || undefined });
      store.conversations.set(conversation.id, conversation);
      location.hash = `#/dm/${conversation.id}`;
    } catch (err) {
      toast(errorText(err), "error");
    }
  });
  view.append(h("h1", { class: "view-title" }, t("dm.title")), list, start);

  function draw() {
    list.replaceChildren();
    const all = store.sortedConversations();
    if (!all.length) list.append(h("li", {}, emptyState(t("dm.empty"))));
    for (const c of all) {
      const others = c.members.filter((m) => m.id !== store.state.me.id);
      list.append(h("li", { class: ["conversation", c.unread && "unread"], dataset: { conversationId: c.id } },
        h("a", { href: `#/dm/${c.id}` },
          others[0] ? avatar(others[0]) : avatar(store.state.me),
          h("span", { class: "conv-main" },
            h("span", { class: "conv-title" }, conversationTitle(c), c.kind === "group" ? h("span", { class: "tag" }, t("dm.group", { n: c.member_count })) : null),
            h("span", { class: "conv-last" }, preview(c.last_message))),
          h("span", { class: "conv-side" },
            c.last_message ? timeEl(c.last_message.created_at) : null,
            c.unread ? h("span", { class: "count", attrs: { "aria-label": t("nav.unread", { n: c.unread }) } }, String(c.unread)) : null))));
    }
  }
  draw();
  return store.on("conversations", draw);
}

export function renderConversation(view, id) {
  const me = store.state.me;
  const titleEl = h("span", { class: "conv-title" });
  const header = h("h1", { class: "view-title" }, h("a", { href: "#/dm", class: "back", attrs: { "aria-label": t("common.back") } }, "←"), " ", titleEl);
  // The log role sits on a wrapper: on the <ol> itself it would replace the list's role, and
  // its <li> items would lose theirs.
  const log = h("ol", { class: "messages" });
  const logBox = h("div", { class: "messages-log", attrs: { role: "log", "aria-label": t("dm.messages") } }, log);
  const typingLine = h("p", { class: "typing", attrs: { "aria-live": "polite" } });
  // A touch keyboard's Enter makes a new line (it has no Shift+Enter), and Send sends: the box
  // promises "Enter sends" only where a keyboard and a fine pointer are likely.
  const touch = matchMedia("(pointer: coarse)").matches;
  const prompt = t(touch ? "dm.placeholderTouch" : "dm.placeholder");
  const input = h("textarea", { rows: 2, name: "message", placeholder: prompt, attrs: { "aria-label": prompt, enterkeyhint: touch ? "enter" : "send" } });
  const send = h("button", { type: "submit", class: "primary" }, t("dm.send"));
  const pictures = attachments({ onChange: () => { send.disabled = pictures.busy() || pictures.failed(); } });
  const form = h("form", { class: "dm-composer" },
    h("div", { class: "dm-attach" }, pictures.tray, pictures.note, pictures.input),
    h("div", { class: "dm-row" }, pictures.button, input, send));
  pictures.wire(form, input);
  const olderButton = h("button", { type: "button", class: "more", hidden: true }, t("dm.older"));
  view.append(header, olderButton, logBox, typingLine, form);
  store.viewing.conversation = id;
  let conversation = null;
  let lastTypingSent = 0;

  function messageEl(m) {
    if (m.kind !== "text") {
      return h("li", { class: "system", dataset: { messageId: m.id } }, systemLine(m), " · ", timeEl(m.created_at));
    }
    const mineMsg = m.author.id === me.id;
    return h("li", { class: ["message", mineMsg ? "mine" : "theirs"], dataset: { messageId: m.id } },
      mineMsg ? null : avatar(m.author, "small"),
      h("div", { class: "message-main" },
        mineMsg ? null : h("span", { class: "from" }, nameOf(m.author), userBadges(m.author)),
        m.media?.length ? mediaGrid(m.media, { compact: true }) : null,
        m.text ? h("p", { class: "bubble" }, m.text) : null,
        h("span", { class: "meta" }, timeEl(m.created_at), h("span", { class: "read-mark" }))));
  }

  function history() {
    if (!store.histories.has(id)) store.histories.set(id, { messages: new Map(), next: null, loaded: false });
    return store.histories.get(id);
  }

  function draw() {
    const msgs = [...history().messages.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
    log.replaceChildren(...msgs.map(messageEl));
    olderButton.hidden = !history().next;
    marks();
  }

  function insert(m) {
    if (log.querySelector(byData("message-id", m.id))) return;
    const el = messageEl(m);
    const after = [...log.children].find((li) => li.dataset.messageId > m.id);
    log.insertBefore(el, after || null);
    marks();
  }

  /** "Read" under my newest message that another member has read up to. */
  function marks() {
    for (const el of log.querySelectorAll(".read-mark")) el.textContent = "";
    const markers = store.readMarkers.get(id);
    if (!markers || !conversation) return;
    const readers = [...markers.entries()].filter(([user]) => user !== me.id);
    const mine = [...log.querySelectorAll(".message.mine")];
    for (let i = mine.length - 1; i >= 0; i--) {
      const mid = mine[i].dataset.messageId;
      const n = readers.filter(([, upTo]) => upTo >= mid).length;
      if (n) {
        mine[i].querySelector(".read-mark").textContent = conversation.kind === "direct" ? ` · ${t("dm.read")}` : ` · ${t("dm.readBy", { n })}`;
        break;
      }
    }
  }

  function typingNow() {
    const typers = store.typing.get(id);
    const now = Date.now();
    const names = typers ? [...typers.values()].filter((x) => x.until > now).map((x) => x.user.display_name) : [];
    typingLine.textContent = names.length ? t("dm.typing", { names: names.join("、") }) : "";
  }

  async function markRead() {
    const newest = [...history().messages.keys()].sort().pop();
    if (!newest || document.visibilityState !== "visible") return;
    if (conversation.last_read && conversation.last_read >= newest) return;
    conversation.last_read = newest;
    conversation.unread = 0;
    store.emit("conversations", null);
    call("dm.read", { conversation_id: id, message_id: newest }).catch(() => {});
  }

  async function load() {
    log.replaceChildren(h("li", {}, spinner()));
    try {
      conversation = await ensureConversation(id);
      fill(titleEl, conversationTitle(conversation),
        conversation.kind === "group" ? h("span", { class: "tag" }, t("dm.group", { n: conversation.member_count })) : null);
      const page = await call("dm.history", { conversation_id: id, limit: 50 });
      const hist = history();
      for (const m of page.messages) hist.messages.set(m.id, m);
      if (!hist.loaded) hist.next = page.next;
      hist.loaded = true;
      draw();
      scrollDown();
      markRead();
      input.focus();
    } catch (err) {
      log.replaceChildren(h("li", { class: "error" }, errorText(err)));
    }
  }

  function scrollDown() { window.scrollTo({ top: document.body.scrollHeight }); }

  olderButton.addEventListener("click", async () => {
    const hist = history();
    const page = await call("dm.history", { conversation_id: id, limit: 50, before: hist.next });
    for (const m of page.messages) hist.messages.set(m.id, m);
    hist.next = page.next;
    draw();
  });

  input.addEventListener("input", () => {
    const every = store.state.limits?.typing_interval_ms ?? 3000;
    if (input.value && Date.now() - lastTypingSent > every) {
      lastTypingSent = Date.now();
      call("dm.typing", { conversation_id: id }).catch(() => {});
    }
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && !touch) { e.preventDefault(); form.requestSubmit(); }
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = cleanText(input.value);
    if (pictures.busy() || pictures.failed()) return;
    const media = pictures.media();
    if (!text.trim() && !media.length) return; // a message may be pictures only
    if (countClusters(text) > (store.state.limits?.message_max_clusters ?? 1000)) { toast(t("error.text_too_long"), "error"); return; }
    send.disabled = true;
    try {
      const message = await sendMessage(id, text.trim() ? text : "", media);
      input.value = "";
      pictures.clear();
      lastTypingSent = 0;
      if (message) {
        store.addMessage(message);
        insert(message);
        scrollDown();
      } else {
        toast(t("dm.queuedToast")); // sent after the resume; its dm.message event shows it
      }
    } catch (err) {
      toast(errorText(err), "error");
    } finally {
      send.disabled = pictures.busy() || pictures.failed();
      input.focus();
    }
  });

  load();
  const offs = [
    store.on("dm.message", (m) => {
      if (m.conversation_id !== id || !history().loaded) return;
      const nearBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;
      insert(m);
      if (m.author.id !== me.id && m.kind === "text") announce(t("live.message", { name: m.author.display_name, text: messageText(m) }));
      if (nearBottom) scrollDown();
      markRead();
      typingNow();
    }),
    store.on("dm.typing", (cid) => { if (cid === id) typingNow(); }),
    store.on("dm.read", (r) => { if (r.conversation_id === id) marks(); }),
    store.on("direct.reload", load),
    store.on("resumed", () => { draw(); markRead(); }),
  ];
  const visible = () => markRead();
  document.addEventListener("visibilitychange", visible);
  return () => {
    store.viewing.conversation = null;
    document.removeEventListener("visibilitychange", visible);
    offs.forEach((off) => off());
  };
}
