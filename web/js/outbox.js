// Posts, messages and safety statuses never get lost when the network blinks, nor doubled.
// Each post.create and dm.send carries a nonce (§4.3.1, §4.5.4), chosen once per item. One written
// while offline, or whose connection dropped before its answer, waits in IndexedDB (db.js, so it
// survives a reload or a closed tab) and is sent again after the next resume with the same
// nonce: the server stores it once however often it arrives, and answers a retry with the item
// already stored, publishing nothing again.
//
// community.announce and safety.set have no nonce (§4.8.1: every safety.set adds a status). One
// whose answer was lost ("uncertain") is first looked for — an announcement among our own posts
// on the Following stream, a status as our latest in safety.history — and sent again only if
// missing. Of several statuses written offline only the newest is sent: the older ones are no
// longer true, and each would wake every friend (a "need help" already over is a false alarm).
//
// Only a page can send (the protocol runs over its WebSocket): the queue is drained on each
// resume, and Background Sync, where the browser has it, only wakes an open page (web/sw.js). A
// Web Lock keeps two tabs from draining the same items at once.

import { call, connection } from "./session.js";
import * as store from "./store.js";
import * as db from "./db.js";

/** How far back (in ms, against our clock) an item of ours may date to count as the lost one. */
const MATCH_WINDOW_MS = 10 * 60 * 1000;
/** Failures after which the request may or may not have reached the server: keep it queued. */
const LOST = ["offline", "disconnected", "timeout"];
const SYNC_TAG = "tsudoi-outbox";
const NO_NONCE = new Set(["community.announce", "safety.set"]);
let count = 0;
let serial = 0;

export const pendingCount = () => count;

/** 32 random hex digits (a UUID's worth). getRandomValues, unlike randomUUID, also works on a
 * server reached over plain http (not a secure context). */
export function newNonce() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function recount() {
  const me = store.state.me?.id;
  try {
    count = (await db.all("outbox")).filter((item) => !me || item.user === me).length;
  } catch { /* keep the last count */ }
  store.emit("outbox", count);
}

async function enqueue(item) {
  // Keys sort by time of writing: the queue is sent in the order it was written.
  const key = `${Date.now().toString(36).padStart(10, "0")}-${(serial++).toString(36).padStart(4, "0")}-${newNonce().slice(0, 8)}`;
  await db.put("outbox", key, { ...item, key, user: store.state.me?.id ?? null });
  await recount();
  try {
    const registration = await navigator.serviceWorker?.ready;
    await registration?.sync?.register(SYNC_TAG);
  } catch { /* no Background Sync: the next resume sends it */ }
}

async function send(op, args) {
  try {
    return await call(op, args);
  } catch (err) {
    if (LOST.includes(err.code)) {
      await enqueue({ op, args, uncertain: err.code !== "offline", sentAt: Date.now() });
      return null;
    }
    throw err;
  }
}

/** Send a post.create / community.announce; resolves with the post, or null when queued. */
export async function publish(op, args) {
  const answer = await send(op, op === "post.create" ? { ...args, nonce: newNonce() } : args);
  return answer && answer.post;
}

/** Send a dm.send; resolves with the message, or null when queued (it arrives as a dm.message
 * event once sent). */
export async function sendMessage(conversationId, text, media = []) {
  const args = { conversation_id: conversationId, text, nonce: newNonce() };
  if (media.length) args.media = media; // [{id, alt?}]: uploads stay attachable for 24 h
  const answer = await send("dm.send", args);
  return answer && answer.message;
}

/** Send a safety.set; resolves with the status, or null when queued. */
export async function setSafety(args) {
  const answer = await send("safety.set", args);
  return answer && answer.status;
}

/** For an announcement (no nonce): is the one whose answer was lost on our Following stream? */
function alreadyAnnounced(item) {
  const me = store.state.me?.id;
  for (const id of store.following.ids) {
    const post = store.posts.get(id);
    if (!post || post.author.id !== me) continue;
    if (Date.parse(post.created_at) < item.sentAt - MATCH_WINDOW_MS) break; // newest first
    if (post.text === item.args.text.normalize("NFC") && (post.emotext ?? null) === (item.args.emotext ?? null)) return true;
  }
  return false;
}

/** For a status (no nonce): is the one whose answer was lost our latest? */
async function alreadySet(item) {
  const { statuses } = await call("safety.history", { user_id: store.state.me.id, limit: 1 });
  const latest = statuses[0];
  return !!latest && latest.state === item.args.state && Date.parse(latest.created_at) >= item.sentAt - MATCH_WINDOW_MS
    && latest.note === (item.args.note ?? "").trim() && (latest.area ?? null) === (item.args.area ?? null);
}

async function alreadySent(item) {
  if (!item.uncertain || !NO_NONCE.has(item.op)) return false;
  return item.op === "safety.set" ? alreadySet(item) : alreadyAnnounced(item);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Send what waits, oldest first; stops at the first failure that may be the network's. */
async function drainOnce() {
  const me = store.state.me?.id;
  const items = (await db.all("outbox")).filter((item) => item.user === me || item.user === null);
  for (const [i, item] of items.entries()) {
    const superseded = item.op === "safety.set" && items.slice(i + 1).some((later) => later.op === "safety.set");
    while (!superseded) {
      try {
        // The same nonce: stored once, whatever happened before.
        if (!(await alreadySent(item))) await call(item.op, item.args);
        break;
      } catch (err) {
        if (LOST.includes(err.code)) return; // next resume
        if (err.code === "rate_limited") { await sleep(err.retryAfterMs ?? 1000); continue; } // same item, same nonce
        console.warn("queued item refused", item.op, err.code); // e.g. not_found: deleted since
        break;
      }
    }
    await db.del("outbox", item.key);
    await recount();
  }
}

let draining = null;

/** Send the queue now (after a resume); one drain at a time in this page, one per origin with
 * Web Locks. */
export function drain() {
  draining ??= (navigator.locks ? navigator.locks.request("tsudoi-outbox", drainOnce) : drainOnce())
    .catch((err) => console.warn("outbox", err))
    .finally(() => { draining = null; });
  return draining;
}

/** Log-out: nothing of this person waits on this device any longer. */
export async function forget() {
  await db.clear("outbox").catch(() => {});
  count = 0;
  store.emit("outbox", 0);
}

store.on("resumed", () => { drain(); });
// Background Sync fired (web/sw.js): the network may be back before the socket noticed.
navigator.serviceWorker?.addEventListener("message", (event) => {
  const conn = connection();
  if (event.data?.type === "outbox.sync" && conn?.state === "waiting") conn.connectNow();
});
recount();
