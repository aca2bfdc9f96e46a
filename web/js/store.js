// What the app knows, kept up to date from events whatever view is on screen: the posts seen, the
// Following timeline, notifications, conversations, typing, read markers and the incident.
// Views read from here and subscribe with on(); every model applies events idempotently (§5).

const listeners = new Map();

/** Subscribe to a store topic; returns the unsubscribe function. */
export function on(topic, fn) {
  if (!listeners.has(topic)) listeners.set(topic, new Set());
  listeners.get(topic).add(fn);
  return () => listeners.get(topic)?.delete(fn);
}

export function emit(topic, data) {
  for (const fn of [...(listeners.get(topic) || [])]) {
    try { fn(data); } catch (err) { console.error(topic, err); }
  }
}

export const state = {
  me: null,
  limits: null,
  incident: null,
  unreadNotifications: 0,
  muted: new Set(),
  blocked: new Set(),
};

// -- posts -----------------------------------------------------------------------------------

/** The latest copy of every post seen, embedded originals included. */
export const posts = new Map();

export function rememberPost(post) {
  if (!post) return post;
  const known = posts.get(post.id);
  // Events carry my_reactions: [] (§3.4): keep what reads and our own reacts told us.
  if (known && post.my_reactions.length === 0 && known.my_reactions.length) {
    post = { ...post, my_reactions: known.my_reactions };
  }
  posts.set(post.id, post);
  if (post.repost_of) rememberPost(post.repost_of);
  if (post.quote_of) rememberPost(post.quote_of);
  return post;
}

export function setReactions(postId, reactions, myReactions) {
  const post = posts.get(postId);
  if (post) posts.set(postId, { ...post, reactions, my_reactions: myReactions ?? post.my_reactions });
  emit("post.reactions", postId);
}

/** A post's reply, repost and quote counts changed (post.counts): redrawn with its reactions. */
export function setCounts(postId, counts) {
  const post = posts.get(postId);
  if (post) posts.set(postId, { ...post, ...counts });
  emit("post.reactions", postId);
}

// -- people -----------------------------------------------------------------------------------

/** The newest card (User) known for people whose name, face or handle changed while the page was open
 * (user.updated, our own profile.update): cards already drawn, and posts kept from earlier reads,
 * are drawn with these. */
export const users = new Map();

export function rememberUser(user) {
  if (!user?.id) return;
  users.set(user.id, user);
  if (state.me && state.me.id === user.id) {
    state.me = { ...state.me, handle: user.handle, display_name: user.display_name, avatar: user.avatar ?? null, verified: user.verified, bot: user.bot };
  }
}

/** A user as last known: what a post or message carried, with a newer name and face if any. */
export function latest(user) {
  const newer = user && users.get(user.id);
  if (!newer || newer === user) return user;
  return { ...user, handle: newer.handle, display_name: newer.display_name, avatar: newer.avatar ?? null, verified: newer.verified, bot: newer.bot };
}

/** Hide what the user mutes or blocks even in events that embed it (§4.2). */
export const hidden = (user) => !!user && (state.muted.has(user.id) || state.blocked.has(user.id));

// -- the Following timeline --------------------------------------------------------------------

export const following = {
  ids: [], // newest first
  next: null, // `before` for the next older page, or null
  loaded: false,
  has(id) { return this.ids.includes(id); },
  add(post) {
    if (this.has(post.id)) return false;
    // Ids are time-ordered: keep the list sorted, newest first, wherever the post falls.
    let i = 0;
    while (i < this.ids.length && this.ids[i] > post.id) i++;
    this.ids.splice(i, 0, post.id);
    return true;
  },
  remove(id) {
    const i = this.ids.indexOf(id);
    if (i >= 0) this.ids.splice(i, 1);
    return i >= 0;
  },
  reset() { this.ids = []; this.next = null; this.loaded = false; },
};

// -- notifications -----------------------------------------------------------------------------

export const notifications = {
  items: [], // newest first
  next: null,
  loaded: false,
  add(n) {
    if (this.items.some((x) => x.id === n.id)) return false;
    let i = 0;
    while (i < this.items.length && this.items[i].id > n.id) i++;
    this.items.splice(i, 0, n);
    return true;
  },
};

// -- direct messages -----------------------------------------------------------------------------

/** id → Conversation (with last_message, unread, last_read). */
export const conversations = new Map();
/** id → { messages: Map id→Message, next, loaded } for the conversations opened in this page. */
export const histories = new Map();
/** conversation id → Map user id → { user, until } */
export const typing = new Map();
/** conversation id → Map user id → message id: how far each member has read. */
export const readMarkers = new Map();
/** The conversation on screen, if any: its messages count as read. */
export const viewing = { conversation: null };

export function sortedConversations() {
  const key = (c) => (c.last_message ? c.last_message.id : c.created_at);
  return [...conversations.values()].sort((a, b) => (key(a) < key(b) ? 1 : -1));
}

export const totalUnreadDms = () => [...conversations.values()].reduce((n, c) => n + (c.unread || 0), 0);

export function addMessage(message) {
  const history = histories.get(message.conversation_id);
  if (!history || history.messages.has(message.id)) return false;
  history.messages.set(message.id, message);
  return true;
}

export function setReadMarker(conversationId, userId, messageId) {
  if (!readMarkers.has(conversationId)) readMarkers.set(conversationId, new Map());
  const markers = readMarkers.get(conversationId);
  if (!markers.has(userId) || markers.get(userId) < messageId) markers.set(userId, messageId);
}
