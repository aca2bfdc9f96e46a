// The one WebSocket of the app: hello → auth (the HttpOnly cookie authenticates; the script never
// holds the token), heartbeats with a random first beat, a watchdog for a silent server, and
// reconnection by the close code's range (protocol §2, §10) with per-stream resume cursors (§6)
// and, for a 1.8 server, the positions held just behind them (auth.recent, §6.5). It asks for
// compact events when the server offers them (auth.compact, §3.5) and reads them back whole.

import { EVENT_SHAPES, SHAPES } from "./shapes.js";

const STREAMS = ["following", "direct", "notifications"];
const CURSOR_KEY = "tsudoi.cursors";
/** How far behind a cursor positions are kept when the server names no resume_window_ms (§6.2). */
const RESUME_WINDOW_MS = 5000;
/** auth.recent carries at most this many (limits.resume_recent_max). */
const RESUME_RECENT_MAX = 1000;
const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** The millisecond a position was made at: its first 10 characters, Crockford base32 (§1). */
export function msOf(pos) {
  let ms = 0;
  for (const c of pos.slice(0, 10)) ms = ms * 32 + CROCKFORD.indexOf(c);
  return ms;
}

/** A compact event's data (§3.5) made whole again, in place: each field it left out is set to
 * what §12 reads it as (null, false or []), at every depth (web/js/shapes.js). */
export function expand(shape, value) {
  if (!shape || !value || typeof value !== "object") return;
  if (Array.isArray(value)) {
    for (const item of value) expand(shape, item);
    return;
  }
  const { fill, nested } = SHAPES[shape];
  for (const key in fill) if (!(key in value)) value[key] = Array.isArray(fill[key]) ? [] : fill[key];
  for (const key in nested) expand(nested[key], value[key]);
}

/** Back-off: a random wait in [0, d], d doubling from 1 s up to a minute (full jitter, §10). */
const BACKOFF_START_MS = 1000;
const BACKOFF_MAX_MS = 60000;
/** 4000 going_away: the server restarts; come back within 0–5 s so it is not stampeded (§10). */
const GOING_AWAY_SPREAD_MS = 5000;
/** A connection that stayed up this long has "worked": the back-off starts afresh. */
const WORKED_MS = 10000;
/** Requests wait this long for their answer before giving up (the socket is then suspect). */
const REQUEST_TIMEOUT_MS = 20000;

export class RequestError extends Error {
  constructor(code, message, extra = {}) {
    super(message || code);
    this.code = code;
    this.path = extra.path ?? null;
    this.retryAfterMs = extra.retry_after_ms ?? null;
  }
}

/** Close codes after which reconnecting the same way fails again (§10). */
export const isTerminal = (code) => (code >= 4500 && code <= 4999) || code === 1007 || code === 1009;

export class Connection {
  /**
   * handlers: onState({state, code, retryInMs}), onReady(ready, {first}), onEvent(frame),
   * onReplayDone(), onTerminal(code).
   * state is one of "connecting", "online", "waiting" (to reconnect), "offline" (terminal).
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.socket = null;
    this.hello = null;
    /** Whether this connection asked for compact events (§3.5). */
    this.compact = false;
    this.user = null;
    this.state = "idle";
    this.pending = new Map();
    this.nextId = 1;
    this.delay = BACKOFF_START_MS;
    this.readyCount = 0;
    this.timers = {};
    this.stopped = false;
    this.cursors = { following: null, direct: null, notifications: null };
    // Per stream, the positions processed within the window behind the cursor, and from where
    // that list is complete (nothing before it was seen here: the first event, a view read).
    this.recent = { following: new Set(), direct: new Set(), notifications: new Set() };
    this.since = { following: null, direct: null, notifications: null };
    this.prunedAt = { following: 0, direct: 0, notifications: 0 };
    this.cursorOwner = null;
    this.replayLeft = 0;
    this.loadCursors();
    window.addEventListener("online", () => { if (this.state === "waiting") this.connectNow(); });
  }

  // -- cursors ---------------------------------------------------------------------------------

  loadCursors() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(CURSOR_KEY) || "null");
      if (saved && saved.cursors) {
        this.cursorOwner = saved.user;
        for (const s of STREAMS) {
          const cursor = saved.cursors[s] || null;
          const held = saved.recent?.[s];
          this.cursors[s] = cursor;
          // Saved by an older page (no recent): nothing behind the cursor is known.
          this.since[s] = Array.isArray(held) && saved.since?.[s] ? saved.since[s] : cursor;
          this.recent[s] = new Set(Array.isArray(held) ? held : cursor ? [cursor] : []);
        }
      }
    } catch { /* storage unavailable or garbled: start without cursors */ }
  }

  saveCursors() {
    try {
      const recent = {};
      for (const s of STREAMS) recent[s] = this.window(s);
      sessionStorage.setItem(CURSOR_KEY, JSON.stringify({
        user: this.cursorOwner, cursors: this.cursors, since: this.since, recent,
      }));
    } catch { /* private mode: memory only */ }
  }

  /** Keep the greatest position per stream (events of a stream may come out of order, §6.2),
   * and the positions processed within the resume window behind it (§6.5): `pos`, and `held`,
   * the other positions of a page read (its ids), if any. */
  advance(stream, pos, held = []) {
    if (!STREAMS.includes(stream) || !pos) return;
    if (!this.cursors[stream]) this.since[stream] = held.length ? held.reduce((a, b) => (a < b ? a : b)) : pos;
    this.hold(stream, pos);
    for (const p of held) this.hold(stream, p);
    if (!this.cursors[stream] || pos > this.cursors[stream]) this.cursors[stream] = pos;
    this.saveCursors();
  }

  /** A position of the stream is processed: remember it while it is within the window. */
  hold(stream, pos) {
    const held = this.recent[stream];
    held.add(pos);
    // Prune when the set has doubled since the last time: O(1) per event on average.
    if (held.size > Math.max(64, 2 * this.prunedAt[stream])) {
      this.recent[stream] = new Set(this.window(stream));
      this.prunedAt[stream] = this.recent[stream].size;
    }
  }

  windowMs() {
    return this.hello?.limits?.resume_window_ms ?? RESUME_WINDOW_MS;
  }

  /** The positions held within the window behind the stream's cursor, from `since` on. */
  window(stream) {
    const cursor = this.cursors[stream];
    if (!cursor) return [];
    const low = msOf(cursor) - this.windowMs();
    const since = this.since[stream] || cursor;
    return [...this.recent[stream]].filter((p) => p >= since && p <= cursor && msOf(p) >= low).sort();
  }

  /** auth.recent: every stream's window, nearest its cursor first, at most the server's limit;
   * null when no stream knows anything behind its cursor (the look-back would only resend). */
  recentForAuth() {
    const limits = this.hello?.limits;
    if (limits?.resume_window_ms === undefined) return null; // a server before 1.8 refuses it (§2.3)
    const ranked = [];
    let known = false;
    for (const s of STREAMS) {
      const cursor = this.cursors[s];
      if (!cursor) continue;
      const held = this.window(s);
      if (held.length && held[0] < cursor) known = true;
      for (const p of held) ranked.push([msOf(cursor) - msOf(p), p]);
    }
    if (!known) return null;
    ranked.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : 1));
    const limit = Math.min(limits.resume_recent_max ?? RESUME_RECENT_MAX, RESUME_RECENT_MAX);
    return ranked.slice(0, limit).map(([, p]) => p);
  }

  /** After reloading a view: its newest item is a valid cursor (§6.4), or none for an empty view;
   * `held`, the positions the view read (the same ids), are processed. */
  resetCursor(stream, pos, held = []) {
    this.cursors[stream] = pos || null;
    this.since[stream] = pos || null;
    this.recent[stream] = new Set(pos ? [pos] : []);
    for (const p of held) if (pos && p <= pos) this.hold(stream, p);
    this.saveCursors();
  }

  clearCursors() {
    for (const s of STREAMS) {
      this.cursors[s] = null;
      this.since[s] = null;
      this.recent[s] = new Set();
    }
    this.cursorOwner = null;
    try { sessionStorage.removeItem(CURSOR_KEY); } catch { /* ignore */ }
  }

  // -- lifecycle -------------------------------------------------------------------------------

  start() {
    this.stopped = false;
    this.connectNow();
  }

  /** Close for good (log-out): no reconnect. */
  stop() {
    this.stopped = true;
    this.clearTimers();
    if (this.socket) {
      this.detach(this.socket);
      this.socket.close(1000);
      this.socket = null;
    }
    this.failPending("disconnected");
    this.setState("offline", {});
  }

  connectNow() {
    if (this.stopped) return;
    clearTimeout(this.timers.retry);
    if (this.socket) { this.detach(this.socket); this.socket.close(1000); }
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    // No token in the URL, ever: the cookie goes with the upgrade request (§2.3).
    const socket = new WebSocket(`${scheme}://${location.host}/ws`, ["tsudoi.v1"]);
    this.socket = socket;
    this.openedAt = Date.now();
    this.setState("connecting", {});
    socket.onmessage = (message) => this.receive(socket, message);
    socket.onclose = (event) => this.closed(socket, event.code, event.reason);
  }

  detach(socket) {
    socket.onmessage = null;
    socket.onclose = null;
  }

  receive(socket, message) {
    if (socket !== this.socket) return;
    this.lastFrameAt = Date.now();
    let frame;
    try { frame = JSON.parse(message.data); } catch { return; }
    switch (frame.op) {
      case "hello": return this.onHello(frame);
      case "ready": return this.onReady(frame);
      case "ok":
      case "error": return this.answer(frame);
      case "event": return this.onEvent(frame);
      default: return undefined; // unknown frames are ignored (§12)
    }
  }

  onHello(hello) {
    this.hello = hello;
    const cursors = {};
    for (const s of STREAMS) if (this.cursors[s]) cursors[s] = this.cursors[s];
    this.sentCursors = Object.keys(cursors).length ? cursors : null;
    const auth = { op: "auth", cursors: this.sentCursors };
    const recent = this.sentCursors ? this.recentForAuth() : null;
    if (recent) auth.recent = recent; // left out, not null, unless the server looks back
    // Compact events only from a server that offers them (1.15.0; an older one closes with 4502).
    this.compact = Array.isArray(hello.features) && hello.features.includes("compact");
    if (this.compact) auth.compact = true;
    this.socket.send(JSON.stringify(auth));
  }

  onReady(ready) {
    const first = this.readyCount++ === 0;
    if (this.cursorOwner && this.cursorOwner !== ready.user.id) {
      // Cursors of another account (a different log-in in this tab): worthless here.
      for (const s of STREAMS) {
        this.cursors[s] = null;
        this.since[s] = null;
        this.recent[s] = new Set();
      }
    }
    this.cursorOwner = ready.user.id;
    this.user = ready.user;
    this.saveCursors();
    this.startHeartbeat();
    this.replayLeft = ready.replayed;
    this.setState("online", {});
    this.handlers.onReady?.(ready, { first, sent: this.sentCursors });
    if (this.replayLeft === 0) this.handlers.onReplayDone?.();
  }

  onEvent(frame) {
    // A position processed already is dropped: a resume may send again one left out of
    // auth.recent, or one a view read meanwhile (§6.5).
    const repeated = frame.pos && STREAMS.includes(frame.stream) && this.recent[frame.stream].has(frame.pos);
    if (frame.pos && frame.stream) this.advance(frame.stream, frame.pos);
    if (this.compact) expand(EVENT_SHAPES[frame.type], frame.data);
    try {
      if (!repeated) this.handlers.onEvent?.(frame);
    } catch (err) {
      console.error("event handler failed", frame.type, err);
    }
    if (this.replayLeft > 0 && --this.replayLeft === 0) this.handlers.onReplayDone?.();
  }

  answer(frame) {
    const waiter = this.pending.get(frame.id);
    if (!waiter) return;
    this.pending.delete(frame.id);
    clearTimeout(waiter.timer);
    if (frame.op === "ok") waiter.resolve(frame.data);
    else waiter.reject(new RequestError(frame.code, frame.message, frame));
  }

  /** Send a request; resolves with the ok frame's data, rejects with a RequestError. */
  request(op, args = {}) {
    if (!this.socket || this.state !== "online") {
      // Not sent at all: safe to send again later (unlike "disconnected", below).
      return Promise.reject(new RequestError("offline", "not connected"));
    }
    const id = String(this.nextId++);
    const frame = { op, id };
    for (const [key, value] of Object.entries(args)) if (value !== undefined) frame[key] = value;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RequestError("timeout", `no answer to ${op}`));
        // A request unanswered this long means a broken path: start afresh and resume.
        if (this.socket) this.closed(this.socket, 1006, "request timeout");
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      this.socket.send(JSON.stringify(frame));
    });
  }

  get online() { return this.state === "online"; }

  // -- liveness --------------------------------------------------------------------------------

  startHeartbeat() {
    const every = this.hello.heartbeat_interval_ms;
    const timeout = this.hello.heartbeat_timeout_ms;
    const beat = () => {
      this.request("heartbeat").catch(() => {});
      this.timers.beat = setTimeout(beat, every);
    };
    // A random first beat, so clients that reconnected together do not beat in lockstep (§2.5).
    this.timers.beat = setTimeout(beat, Math.random() * every);
    // The server sends nothing of its own; silence while our beats go out means a dead path.
    clearInterval(this.timers.watch);
    this.timers.watch = setInterval(() => {
      if (Date.now() - this.lastFrameAt > timeout) this.closed(this.socket, 1006, "silent server");
    }, Math.min(5000, every));
  }

  clearTimers() {
    clearTimeout(this.timers.beat);
    clearInterval(this.timers.watch);
    clearTimeout(this.timers.retry);
  }

  failPending(code) {
    for (const waiter of this.pending.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(new RequestError(code, "the connection closed"));
    }
    this.pending.clear();
  }

  closed(socket, code, reason) {
    if (socket !== this.socket) return;
    this.detach(socket);
    if (socket.readyState !== WebSocket.CLOSED) socket.close(1000);
    this.socket = null;
    this.clearTimers();
    this.failPending("disconnected");
    if (this.stopped) return;
    if (isTerminal(code)) {
      this.setState("offline", { code });
      this.handlers.onTerminal?.(code);
      return;
    }
    if (Date.now() - this.openedAt > WORKED_MS && this.readyCount > 0) this.delay = BACKOFF_START_MS;
    let wait;
    const told = code === 4007 ? /^retry_after_ms=(\d+)$/.exec(reason || "") : null;
    if (told) {
      wait = Number(told[1]); // already spread by the server: wait exactly that (§8.5)
    } else if (code === 4000 || code === 1001 || code === 1012) {
      wait = Math.random() * Math.min(GOING_AWAY_SPREAD_MS, this.delay * 5);
      this.delay = Math.min(this.delay * 2, BACKOFF_MAX_MS);
    } else {
      wait = Math.random() * this.delay;
      this.delay = Math.min(this.delay * 2, BACKOFF_MAX_MS);
    }
    this.setState("waiting", { code, retryInMs: wait });
    this.timers.retry = setTimeout(() => this.connectNow(), wait);
  }

  setState(state, info) {
    this.state = state;
    this.handlers.onState?.({ state, ...info });
  }
}
