// The one WebSocket of the app: hello → auth (the HttpOnly cookie authenticates; the script never
// holds the token), heartbeats with a random first beat, a watchdog for a silent server, and
// reconnection by the close code's range (protocol §2, §10) with per-stream resume cursors (§6).

const STREAMS = ["following", "direct", "notifications"];
const CURSOR_KEY = "tsudoi.cursors";
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
    this.user = null;
    this.state = "idle";
    this.pending = new Map();
    this.nextId = 1;
    this.delay = BACKOFF_START_MS;
    this.readyCount = 0;
    this.timers = {};
    this.stopped = false;
    this.cursors = { following: null, direct: null, notifications: null };
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
        for (const s of STREAMS) this.cursors[s] = saved.cursors[s] || null;
      }
    } catch { /* storage unavailable or garbled: start without cursors */ }
  }

  saveCursors() {
    try {
      sessionStorage.setItem(CURSOR_KEY, JSON.stringify({ user: this.cursorOwner, cursors: this.cursors }));
    } catch { /* private mode: memory only */ }
  }

  /** Keep the greatest position per stream (events of a stream may come out of order, §6.2). */
  advance(stream, pos) {
    if (!STREAMS.includes(stream) || !pos) return;
    if (!this.cursors[stream] || pos > this.cursors[stream]) {
      this.cursors[stream] = pos;
      this.saveCursors();
    }
  }

  /** After reloading a view: its newest item is a valid cursor (§6.4), or none for an empty view. */
  resetCursor(stream, pos) {
    this.cursors[stream] = pos || null;
    this.saveCursors();
  }

  clearCursors() {
    for (const s of STREAMS) this.cursors[s] = null;
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
    this.socket.send(JSON.stringify({ op: "auth", cursors: this.sentCursors }));
  }

  onReady(ready) {
    const first = this.readyCount++ === 0;
    if (this.cursorOwner && this.cursorOwner !== ready.user.id) {
      // Cursors of another account (a different log-in in this tab): worthless here.
      for (const s of STREAMS) this.cursors[s] = null;
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
    if (frame.pos && frame.stream) this.advance(frame.stream, frame.pos);
    try {
      this.handlers.onEvent?.(frame);
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
      wait = Number(told[1]); // already jittered by the server: wait exactly that (§8.5)
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
