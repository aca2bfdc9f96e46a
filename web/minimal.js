// A deliberately small page for the foundation: sign-up through an invite, log-in, post, and a
// live Following timeline. The full SPA replaces it. User text is only ever set as textContent.
const $ = (id) => document.getElementById(id);
const segmenter = new Intl.Segmenter(undefined, { granularity: "grapheme" });
const clusters = (text) => [...segmenter.segment(text.normalize("NFC"))].length;
let socket = null;
let nextId = 1;
let cursor = null; // the greatest stream position seen: sent back on reconnect
let attempts = 0; // consecutive failed connections, for the back-off
const pending = new Map();

function show(section) {
  for (const id of ["signup", "login", "home"]) $(id).hidden = id !== section;
}

function fail(message) { $("error").textContent = message || ""; }

async function postJson(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const data = await response.json();
  if (!response.ok) throw new Error(data.error.message);
  return data;
}

function request(op, args = {}) {
  const id = String(nextId++);
  socket.send(JSON.stringify({ op, id, ...args }));
  return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
}

function renderPost(post, atTop) {
  const item = document.createElement("li");
  item.id = `post-${post.id}`;
  const who = document.createElement("strong");
  who.textContent = `${post.author.display_name} @${post.author.handle}`;
  const text = document.createElement("div");
  text.textContent = post.text;
  if (post.emotext) text.dataset.emotext = post.emotext;
  item.append(who, text);
  if (atTop) $("timeline").prepend(item); else $("timeline").append(item);
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws`, ["tsudoi.v1"]);
  let heartbeat = null;
  socket.onmessage = async (message) => {
    const frame = JSON.parse(message.data);
    if (frame.op === "hello") {
      // The session cookie (HttpOnly) authenticates; the token never touches this script.
      socket.send(JSON.stringify({ op: "auth", cursors: cursor ? { following: cursor } : null }));
      // A random first beat spreads the heartbeats of clients that reconnected together.
      const every = frame.heartbeat_interval_ms;
      heartbeat = setTimeout(function beat() {
        request("heartbeat").catch(() => {});
        heartbeat = setTimeout(beat, every);
      }, Math.random() * every);
    } else if (frame.op === "ready") {
      attempts = 0;
      $("status").textContent = `online as @${frame.user.handle}`;
      show("home");
      if (!frame.recovered) {
        const page = await request("timeline.following", { limit: 50 });
        $("timeline").replaceChildren();
        page.posts.forEach((post) => renderPost(post, false));
        // The old cursor is useless now; the newest post reloaded is a valid one.
        cursor = page.posts.length ? page.posts[0].id : null;
      }
    } else if (frame.op === "ok" || frame.op === "error") {
      const waiter = pending.get(frame.id);
      pending.delete(frame.id);
      if (waiter && frame.op === "ok") waiter.resolve(frame.data);
      else if (waiter) waiter.reject(new Error(frame.message));
    } else if (frame.op === "event") {
      if (frame.stream === "following" && (!cursor || frame.pos > cursor)) cursor = frame.pos;
      if (frame.type === "post.created" && !$(`post-${frame.data.post.id}`)) renderPost(frame.data.post, true);
      if (frame.type === "post.deleted") $(`post-${frame.data.post_id}`)?.remove();
    }
  };
  socket.onclose = (event) => {
    clearTimeout(heartbeat);
    $("status").textContent = "offline";
    if (event.code >= 4500) { show("login"); return; } // terminal: log in again
    // Reconnect with jittered exponential back-off: 1 s, 2 s, 4 s ... up to a minute.
    const delay = Math.min(60000, 1000 * 2 ** attempts++) * (0.5 + Math.random() / 2);
    setTimeout(connect, delay);
  };
}

$("signup-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  try {
    await postJson("/api/signup", {
      invite_code: location.pathname.split("/")[2],
      handle: form.get("handle"),
      display_name: form.get("display_name"),
      password: form.get("password"),
      birth_date: form.get("birth_date"),
      accept_terms: form.get("accept_terms") === "on",
    });
    history.replaceState(null, "", "/");
    fail();
    connect();
  } catch (error) { fail(error.message); }
});

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  try {
    await postJson("/api/login", { handle: form.get("handle"), password: form.get("password") });
    fail();
    connect();
  } catch (error) { fail(error.message); }
});

$("composer").addEventListener("input", () => {
  $("counter").textContent = `${clusters($("composer").text.value)} / 149`;
});

$("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await request("post.create", { text: $("composer").text.value });
    $("composer").reset();
    fail();
  } catch (error) { fail(error.message); }
});

$("logout").addEventListener("click", async () => {
  await postJson("/api/logout", {});
  socket.close();
  show("login");
});

const invite = location.pathname.match(/^\/i\/([A-Za-z0-9_-]+)$/);
if (invite) {
  show("signup");
  fetch(`/api/invites/${invite[1]}`).then((r) => r.json()).then((info) => {
    if (info.error) fail(info.error.message);
    else $("invited-by").textContent = info.inviter
      ? `${info.inviter.display_name} (@${info.inviter.handle}) invited you.` : "An operator invited you.";
  });
} else {
  show("login");
  connect();
}
