// Opening the app with no network. While connected, the page keeps a snapshot of what matters
// most in a disaster in IndexedDB (db.js, key "snapshot"): the first page of the safety board
// and our own latest status, the first page of Following and the DM list, with who we are and
// when we were last online. With no network at start-up (or when the connection fails before
// its first ready) app.js draws those views from the snapshot under an "offline since …" note;
// the first ready then replaces it all with fresh reads. The shell's files themselves come from
// the service worker's cache (web/sw.js).
//
// The board is kept current without extra reads: each safety.status and presence event patches
// the saved entry of that friend. Reads the views make while offline (safety.board's first
// page, our safety.history) are answered from the snapshot by session.call (answer()).

import { h, $ } from "./dom.js";
import { t, absoluteTime } from "./i18n.js";
import * as store from "./store.js";
import * as db from "./db.js";

const KEY = "snapshot";
/** Writes are gathered: a busy timeline saves at most this often. */
const SAVE_DELAY_MS = 1500;
const FOLLOWING_KEPT = 30;
/** A board read longer ago than this is read again after a resume (refreshBoard). */
const BOARD_STALE_MS = 10 * 60 * 1000;
const BOARD_PAGE = 50; // as the Safety view reads it

let snapshot = null; // the last one read or written, in memory
let online = false;
let lastOnline = null; // ms
let timer = null;
let shownOffline = false;
/** Set by forget(): nothing is written until a session is online again (a log-out's closing
 * socket must not save the snapshot just deleted). */
let paused = false;

/** The saved snapshot, or null. */
export async function load() {
  try { snapshot = (await db.get("kv", KEY)) ?? null; } catch { snapshot = null; }
  if (snapshot?.online_at) lastOnline = Date.parse(snapshot.online_at);
  return snapshot;
}

/** Log-out, or a session the server no longer knows: nothing of this person stays here. */
export async function forget() {
  paused = true;
  clearTimeout(timer);
  snapshot = null;
  await db.del("kv", KEY).catch(() => {});
}

function collect() {
  const following = [];
  for (const id of store.following.ids.slice(0, FOLLOWING_KEPT)) {
    const post = store.posts.get(id);
    if (post) following.push(post);
  }
  const keep = store.following.loaded;
  return {
    v: 1,
    user: store.state.me,
    online_at: new Date(online ? Date.now() : lastOnline ?? Date.now()).toISOString(),
    incident: store.state.incident,
    following: keep ? following : snapshot?.following ?? [],
    conversations: store.conversations.size ? store.sortedConversations() : snapshot?.conversations ?? [],
    board: snapshot?.board ?? null,
    mine: snapshot?.mine ?? null,
  };
}

function saveSoon(delay = SAVE_DELAY_MS) {
  if (!store.state.me || !online || paused) return; // offline, the snapshot only ever goes stale
  clearTimeout(timer);
  timer = setTimeout(() => {
    snapshot = collect();
    db.put("kv", KEY, snapshot).catch((err) => console.warn("snapshot", err));
  }, delay);
}

/** session.call's answers that belong in the snapshot. */
export function record(op, args, data) {
  if (!snapshot || snapshot.user?.id !== store.state.me?.id) snapshot = { user: store.state.me };
  if (op === "safety.board" && !args?.cursor) snapshot.board = { entries: data.entries, at: Date.now() };
  else if (op === "safety.history" && args?.user_id === store.state.me?.id && data.statuses[0]) snapshot.mine = data.statuses[0];
  else if (op === "safety.set") snapshot.mine = data.status;
  else return;
  saveSoon();
}

/** What a read made while offline is answered with, from the snapshot; undefined: none. */
export function answer(op, args = {}) {
  if (!snapshot || snapshot.user?.id !== store.state.me?.id) return undefined;
  if (op === "safety.board" && !args.cursor && snapshot.board) return { entries: snapshot.board.entries, next: null };
  if (op === "safety.history" && args.user_id === store.state.me?.id) return { statuses: snapshot.mine ? [snapshot.mine] : [], next: null };
  return undefined;
}

/** After a resume: the board is what a disaster needs offline, so it is kept even for someone
 * who has not opened Safety lately (one read, at most every ten minutes of reconnects). */
export function refreshBoard(call) {
  if (snapshot?.board?.at && Date.now() - snapshot.board.at < BOARD_STALE_MS) return;
  call("safety.board", { limit: BOARD_PAGE }).catch(() => {}); // recorded by session.call
}

/** A friend's new status or presence, written into the saved board. */
function patchBoard(userId, change) {
  const entry = snapshot?.board?.entries.find((e) => e.user.id === userId);
  if (!entry) return;
  Object.assign(entry, change(entry));
  saveSoon();
}

/** Fill the store from a snapshot, as the first reads would have (app.js, offline start). */
export function hydrate(snap) {
  store.state.me = snap.user;
  store.state.incident = snap.incident ?? null;
  store.following.reset();
  for (const post of snap.following || []) store.following.add(store.rememberPost(post));
  store.following.loaded = true;
  store.conversations.clear();
  for (const c of snap.conversations || []) store.conversations.set(c.id, c);
}

/** Forget what hydrate() put in the store: the first ready reads everything afresh. */
export function unhydrate() {
  store.following.reset();
  store.posts.clear();
  store.conversations.clear();
  store.histories.clear();
}

/** app.js tells each connection state. Losing the socket in a session shows the note too. */
export function connectionState(state) {
  const was = online;
  online = state === "online";
  if (online) paused = false;
  if (online || was) lastOnline = Date.now();
  if (was && !online && store.state.me && !paused) { snapshot = collect(); db.put("kv", KEY, snapshot).catch((err) => console.warn("snapshot", err)); }
  if (online) shownOffline = false;
  else if (state === "waiting" && store.state.me) shownOffline = true;
  drawNote();
}


/** Show or hide "offline since …" (app.js: shown on an offline start). */
export function showNote(on) {
  shownOffline = on;
  drawNote();
}

function drawNote() {
  const note = $("#offline-note");
  if (!note) return;
  const visible = shownOffline && !online && lastOnline != null;
  note.hidden = !visible;
  if (!visible) { note.replaceChildren(); return; }
  note.replaceChildren(
    h("span", { attrs: { "aria-hidden": "true" } }, "📴 "),
    h("strong", {}, t("offline.since", { time: absoluteTime(new Date(lastOnline).toISOString()) })), " ",
    h("span", {}, t("offline.lastKnown")));
}

export function redrawNote() { drawNote(); }

store.on("following.loaded", () => saveSoon());
store.on("following.new", () => saveSoon());
store.on("post.deleted", () => saveSoon());
store.on("conversations", () => saveSoon());
store.on("incident", () => saveSoon());
store.on("safety.status", (status) => {
  if (status.user.id === store.state.me?.id) { if (snapshot) snapshot.mine = status; saveSoon(); return; }
  patchBoard(status.user.id, () => ({ status }));
});
store.on("presence", (presence) => patchBoard(presence.user_id, () => ({ presence })));
