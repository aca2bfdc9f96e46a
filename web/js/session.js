// The signed-in session: the Connection, what happens on ready (reload or resume each stream,
// §6.4), and how each event type updates the store. Views call `call()` for requests.

import { Connection, RequestError } from "./ws.js";
import * as store from "./store.js";
import * as offline from "./offline.js";

const PAGE = 30;
let conn = null;
let hooks = {};

/** Requests go through here; rejects with RequestError ("disconnected" when offline). While
 * not connected, the few reads the offline snapshot holds are answered from it (offline.js). */
export function call(op, args) {
  if (!conn?.online) {
    const kept = offline.answer(op, args);
    if (kept) return Promise.resolve(kept);
  }
  const sent = conn ? conn.request(op, args) : Promise.reject(new RequestError("offline"));
  return sent.then((data) => { offline.record(op, args, data); return data; });
}
export const online = () => !!conn && conn.online;
export const connection = () => conn;

/** hooks: onState(info), onReady(ready, first), onTerminal(code), onCaughtUp() */
export function startSession(h) {
  hooks = h;
  conn = new Connection({
    onState: (info) => hooks.onState?.(info),
    onReady: (ready, info) => ready_(ready, info),
    onEvent: (frame) => apply(frame),
    onReplayDone: () => caughtUp(),
    onTerminal: (code) => hooks.onTerminal?.(code),
  });
  conn.start();
}

export function endSession({ forget = true } = {}) {
  if (!conn) return;
  conn.stop();
  if (forget) conn.clearCursors();
  conn = null;
  store.following.reset();
  store.notifications.items = [];
  store.notifications.loaded = false;
  store.conversations.clear();
  store.histories.clear();
  store.posts.clear();
}

/** Which streams need their views read again after this ready (§6.4). */
let reloadAfterReplay = [];

function ready_(ready, { first, sent }) {
  store.state.me = ready.user;
  store.state.limits = conn.hello.limits;
  store.state.incident = ready.incident && !ready.incident.ended_at ? ready.incident : null;
  const stale = new Set(ready.reload);
  for (const stream of ["following", "direct", "notifications"]) {
    // No cursor sent, or the page has no view of it yet: read it afresh.
    if (!sent || !sent[stream] || first) stale.add(stream);
  }
  // The old cursor of a stream too far behind is worthless; keep it from what we read next.
  for (const stream of ready.reload) conn.resetCursor(stream, null);
  reloadAfterReplay = [...stale];
  hooks.onReady?.(ready, first);
  store.emit("incident", store.state.incident);
}

async function caughtUp() {
  const streams = reloadAfterReplay;
  reloadAfterReplay = [];
  const replaced = (s) => streams.includes(s);
  if (replaced("direct") && conn.readyCount > 1) {
    store.histories.clear(); // too far behind to replay: read the open conversation again
    store.emit("direct.reload", null);
  }
  await Promise.allSettled([
    loadFollowing({ replace: replaced("following") && store.following.loaded && conn.readyCount > 1 }),
    replaced("direct") || !store.conversations.size ? loadConversations() : refreshConversations(),
    replaced("notifications") || !store.notifications.loaded ? loadNotifications() : Promise.resolve(),
    loadHides(),
  ]);
  store.emit("resumed", null);
  hooks.onCaughtUp?.();
}

/** The first page of Following: merged into what we hold (reaction counts refreshed), or, for a
 * stream named in ready.reload, replacing it. */
export async function loadFollowing({ replace = false } = {}) {
  const page = await call("timeline.following", { limit: PAGE });
  const fresh = replace || !store.following.loaded;
  if (replace) store.following.reset();
  const added = [];
  for (const post of page.posts) {
    store.rememberPost(post);
    if (store.following.add(post)) added.push(post);
    else store.emit("post.reactions", post.id); // counts are live-only: refresh them (§6.4)
  }
  if (fresh) store.following.next = page.next;
  store.following.loaded = true;
  if (page.posts.length) conn.advance("following", page.posts[0].id, page.posts.map((post) => post.id));
  if (fresh) store.emit("following.loaded", { replace: true });
  else for (const post of added.reverse()) store.emit("following.new", post);
}

export async function loadOlderFollowing() {
  if (!store.following.next) return 0;
  const page = await call("timeline.following", { limit: PAGE, before: store.following.next });
  const added = page.posts.filter((post) => store.following.add(store.rememberPost(post)));
  store.following.next = page.next;
  store.emit("following.older", added);
  return page.posts.length;
}

export async function loadNotifications() {
  const page = await call("notification.list", { limit: PAGE });
  store.notifications.items = [];
  for (const n of page.notifications) store.notifications.add(n);
  store.notifications.next = page.next;
  store.notifications.loaded = true;
  store.state.unreadNotifications = page.unread;
  if (page.notifications.length) {
    conn.advance("notifications", page.notifications[0].id, page.notifications.map((n) => n.id));
  }
  store.emit("notifications", null);
}

export async function loadConversations() {
  const page = await call("dm.list", { limit: 50 });
  store.conversations.clear();
  for (const c of page.conversations) store.conversations.set(c.id, c);
  const newest = page.conversations.map((c) => c.last_message?.id).filter(Boolean).sort().pop();
  if (newest) conn.advance("direct", newest);
  store.emit("conversations", null);
}

/** After a resume: unread counts and markers are live-only, so read the list again. */
const refreshConversations = loadConversations;

/** Mute, unmute, block or unblock someone (`op`: "mute.add", "block.remove", …; §4.2) and
 * make the Following tab agree at once, as the server's reads already do: their posts leave it
 * when they become hidden, and the first page is read again when they no longer are. */
export async function setHidden(op, userId) {
  const result = await call(op, { user_id: userId });
  const who = { id: userId };
  const before = store.hidden(who);
  const set = op.startsWith("block.") ? store.state.blocked : store.state.muted;
  if (op.endsWith(".add")) set.add(userId); else set.delete(userId);
  if (!before && store.hidden(who)) {
    const theirs = store.following.ids.filter((id) => {
      const post = store.posts.get(id);
      return post && (post.author.id === userId || post.repost_of?.author.id === userId);
    });
    for (const id of theirs) store.following.remove(id);
    if (theirs.length) store.emit("following.loaded", { replace: true });
  } else if (before && !store.hidden(who) && store.following.loaded) {
    loadFollowing({ replace: true }).catch(() => {}); // the next resume reads it anyway
  }
  return result;
}

async function loadHides() {
  const [blocks, mutes] = await Promise.all([call("block.list"), call("mute.list")]);
  store.state.blocked = new Set(blocks.users.map((u) => u.id));
  store.state.muted = new Set(mutes.users.map((u) => u.id));
}

export async function ensureConversation(id) {
  if (!store.conversations.has(id)) {
    const { conversation } = await call("dm.get", { conversation_id: id });
    store.conversations.set(id, conversation);
    store.emit("conversations", null);
  }
  return store.conversations.get(id);
}

// -- events ----------------------------------------------------------------------------------

const handlers = {
  "post.created"({ post }) {
    if (store.hidden(post.author)) return;
    store.rememberPost(post);
    if (store.following.add(post)) store.emit("following.new", post);
    store.emit("post.created", post);
  },
  "post.deleted"({ post_id }) {
    store.following.remove(post_id);
    store.posts.delete(post_id);
    store.emit("post.deleted", post_id);
  },
  // A hashtag watched by the tag view (§4.3.11): live only, never a cursor.
  "tag.post_created"({ tag, post }) {
    if (store.hidden(post.author)) return;
    store.emit("tag.post", { tag, post: store.rememberPost(post) });
  },
  "tag.post_deleted"({ post_id }) {
    store.following.remove(post_id);
    store.posts.delete(post_id);
    store.emit("post.deleted", post_id);
  },
  "post.reactions"(data) {
    const me = store.state.me?.id;
    let mine;
    const known = store.posts.get(data.post_id);
    if (data.user_id === me && known) {
      const set = new Set(known.my_reactions);
      if (data.added) set.add(data.emoji); else set.delete(data.emoji);
      mine = [...set];
    }
    store.setReactions(data.post_id, data.reactions, mine);
  },
  "post.counts"({ post_id, replies_count, reposts_count, quotes_count }) {
    store.setCounts(post_id, { replies_count, reposts_count, quotes_count });
  },
  "community.join_request"(data) { store.emit("community.join_request", data); },
  follow(data) { store.emit("follow", data); },
  unfollow(data) { store.emit("unfollow", data); },
  "community.membership"(data) { store.emit("community.membership", data); },
  "dm.message"({ message }) {
    const me = store.state.me?.id;
    const known = store.conversations.get(message.conversation_id);
    const isNew = store.addMessage(message) || !known || !known.last_message || known.last_message.id < message.id;
    if (known && (!known.last_message || known.last_message.id <= message.id)) {
      known.last_message = message;
      const reading = store.viewing.conversation === message.conversation_id && document.visibilityState === "visible";
      if (isNew && message.kind === "text" && message.author.id !== me && !reading) known.unread = (known.unread || 0) + 1;
    } else if (!known) {
      ensureConversation(message.conversation_id).catch(() => {});
    }
    const typers = store.typing.get(message.conversation_id);
    if (typers?.delete(message.author.id)) store.emit("dm.typing", message.conversation_id);
    store.emit("dm.message", message);
    store.emit("conversations", null);
  },
  "dm.typing"({ conversation_id, user }) {
    if (user.id === store.state.me?.id) return;
    if (!store.typing.has(conversation_id)) store.typing.set(conversation_id, new Map());
    // Shown a little longer than the interval at which the server forwards typing (§5.8).
    const until = Date.now() + (store.state.limits?.typing_interval_ms ?? 3000) + 2000;
    store.typing.get(conversation_id).set(user.id, { user, until });
    store.emit("dm.typing", conversation_id);
    setTimeout(() => store.emit("dm.typing", conversation_id), until - Date.now() + 50);
  },
  "dm.read"({ conversation_id, user_id, message_id }) {
    store.setReadMarker(conversation_id, user_id, message_id);
    if (user_id === store.state.me?.id) {
      const c = store.conversations.get(conversation_id);
      if (c && (!c.last_read || c.last_read < message_id)) {
        c.last_read = message_id;
        if (!c.last_message || c.last_message.id <= message_id) c.unread = 0;
      }
      store.emit("conversations", null);
    }
    store.emit("dm.read", { conversation_id, user_id, message_id });
  },
  notification({ notification }) {
    if (store.notifications.add(notification) && !notification.read) store.state.unreadNotifications++;
    store.emit("notifications", notification);
  },
  presence({ presence }) { store.emit("presence", presence); },
  "safety.status"({ status }) { store.emit("safety.status", status); },
  "user.updated"({ user }) {
    store.rememberUser(user);
    // Conversations list their members: a new name or face shows there too.
    for (const c of store.conversations.values()) {
      c.members = c.members.map((m) => (m.id === user.id ? { ...m, ...pick(user) } : m));
    }
    store.emit("user.updated", user);
    if (store.conversations.size) store.emit("conversations", null);
  },
  "incident.started"({ incident }) {
    store.state.incident = incident;
    store.emit("incident", incident);
  },
  "incident.ended"({ incident }) {
    if (!store.state.incident || store.state.incident.id === incident.id) store.state.incident = null;
    store.emit("incident", null);
  },
};

const pick = (user) => ({ display_name: user.display_name, avatar: user.avatar ?? null, verified: user.verified, bot: user.bot });

function apply(frame) {
  handlers[frame.type]?.(frame.data); // unknown event types are ignored (§3.3)
}
