// Posts and messages never get lost when the network blinks, nor doubled. Each post.create and
// dm.send carries a nonce (§4.3.1, §4.5.4), chosen once per item. One written while offline, or
// whose connection dropped before its answer, waits here and is sent again after the next resume
// with the same nonce: the server stores it once however often it arrives, and answers a retry
// with the item already stored, publishing nothing again.
//
// community.announce has no nonce: an announcement whose answer was lost is looked for among our
// own posts on the Following stream (the replay brings them back) and sent again only if missing.

import { call } from "./session.js";
import * as store from "./store.js";

/** How far back (in ms, against our clock) a post of ours may date to count as the lost one. */
const MATCH_WINDOW_MS = 10 * 60 * 1000;
/** Failures after which the request may or may not have reached the server: keep it queued. */
const LOST = ["offline", "disconnected", "timeout"];
const queue = [];

export const pendingCount = () => queue.length;

/** 32 random hex digits (a UUID's worth). getRandomValues, unlike randomUUID, also works on a
 * server reached over plain http (not a secure context). */
export function newNonce() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function send(op, args) {
  try {
    return await call(op, args);
  } catch (err) {
    if (LOST.includes(err.code)) {
      queue.push({ op, args, uncertain: err.code !== "offline", sentAt: Date.now() });
      store.emit("outbox", queue.length);
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

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let draining = false;

store.on("resumed", async () => {
  if (draining) return; // the loop already running sends everything, in order
  draining = true;
  try {
    while (queue.length) {
      const item = queue[0];
      if (!(item.uncertain && !item.args.nonce && alreadyAnnounced(item))) {
        try {
          await call(item.op, item.args); // the same nonce: stored once, whatever happened before
        } catch (err) {
          if (LOST.includes(err.code)) return; // next resume
          if (err.code === "rate_limited") {
            await sleep(err.retryAfterMs ?? 1000);
            continue; // the same item again, same nonce
          }
          console.warn("queued item refused", item.op, err.code); // e.g. not_found: deleted since
        }
      }
      queue.shift();
      store.emit("outbox", queue.length);
    }
  } finally {
    draining = false;
  }
});
