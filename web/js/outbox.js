// Posts never get lost when the network blinks. A post written while offline waits here and goes
// out after the next resume. One whose connection dropped before its answer may or may not be
// stored (v1 has no idempotency key, §4.2): after the resume we look for it among our own posts
// on the Following stream (the replay brings them back) and send it again only if it is missing.

import { call } from "./session.js";
import * as store from "./store.js";

/** How far back (in ms, against our clock) a post of ours may date to count as the lost one. */
const MATCH_WINDOW_MS = 10 * 60 * 1000;
const queue = [];

export const pendingCount = () => queue.length;

/** Send a post.create / community.announce; resolves with the post, or null when queued. */
export async function publish(op, args) {
  try {
    return (await call(op, args)).post;
  } catch (err) {
    if (err.code === "offline" || err.code === "disconnected" || err.code === "timeout") {
      queue.push({ op, args, uncertain: err.code !== "offline", sentAt: Date.now() });
      store.emit("outbox", queue.length);
      return null;
    }
    throw err;
  }
}

function alreadyStored(item) {
  const me = store.state.me?.id;
  for (const id of store.following.ids) {
    const post = store.posts.get(id);
    if (!post || post.author.id !== me) continue;
    if (Date.parse(post.created_at) < item.sentAt - MATCH_WINDOW_MS) break; // newest first
    if (post.text === item.args.text.normalize("NFC") && (post.emotext ?? null) === (item.args.emotext ?? null)) return true;
  }
  return false;
}

store.on("resumed", async () => {
  while (queue.length) {
    const item = queue[0];
    if (!(item.uncertain && alreadyStored(item))) {
      try {
        await call(item.op, item.args);
      } catch (err) {
        if (["offline", "disconnected", "timeout"].includes(err.code)) return; // next resume
        console.warn("queued post refused", err.code);
      }
    }
    queue.shift();
    store.emit("outbox", queue.length);
  }
});
