// The service worker (served at /sw.js by server/webapp.py, which fills in SHELL). It
//  - precaches the app shell in a cache named after the shell's version, serves it cache-first
//    (the page and its files change only with a new worker), and drops older shells on activate;
//  - keeps the operator's disaster page (GET /api/disaster-page) network-first with the last
//    copy as the fallback, so it opens with no network;
//  - shows Web Push messages as notifications, worded in the page's language, and opens the app
//    at the message's place when one is clicked;
//  - wakes open pages for Background Sync: only a page can send the outbox (over its WebSocket).
// What the page keeps for offline use (snapshots, the outbox) it writes to IndexedDB itself
// (web/js/db.js, web/js/offline.js). A classic script, not a module: every browser with service
// workers runs it. See docs/spa.md, "Offline and push".

"use strict";

const SHELL = "__TSUDOI_SHELL__";
const WORKER = "__TSUDOI_WORKER__";
// Served unfilled (as /static/sw.js, or from a file): caches nothing rather than a wrong list.
const shell = typeof SHELL === "object" ? SHELL : { version: "unbuilt", files: [] };
const PREFIX = "tsudoi-shell-";
const SHELL_CACHE = `${PREFIX}${shell.version}-${WORKER}`;
const DATA_CACHE = "tsudoi-data";
const DISASTER_PAGE = "/api/disaster-page";
const SHELL_URLS = new Set(shell.files);
const ICON = "/static/icons/icon-192.png";
const SYNC_TAG = "tsudoi-outbox";

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL_CACHE);
    // "no-cache": each file is revalidated (the server sends ETags), so the cache gets the bytes
    // this version names, yet a file the page has just loaded costs a 304, not a second copy.
    await cache.addAll(shell.files.map((url) => new Request(url, { cache: "no-cache" })));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith(PREFIX) && name !== SHELL_CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname === DISASTER_PAGE) {
    event.respondWith(networkFirst(request));
  } else if (request.mode === "navigate" && (url.pathname === "/" || url.pathname.startsWith("/i/"))) {
    // Every client-side route is the one page (server: spa_route).
    event.respondWith(fromShell("/", request));
  } else if (SHELL_URLS.has(url.pathname) && !url.search) {
    event.respondWith(fromShell(url.pathname, request));
  }
  // Anything else (the API, /ws, pictures) goes to the network untouched.
});

async function fromShell(key, request) {
  const cache = await caches.open(SHELL_CACHE);
  return (await cache.match(key)) || fetch(request);
}

async function networkFirst(request) {
  const cache = await caches.open(DATA_CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(DISASTER_PAGE, response.clone());
    return response;
  } catch (err) {
    const kept = await cache.match(DISASTER_PAGE);
    if (kept) return kept;
    throw err;
  }
}

// -- Background Sync: the network is back; the page sends what waits ----------------------------

self.addEventListener("sync", (event) => {
  if (event.tag === SYNC_TAG) event.waitUntil(tellPages({ type: "outbox.sync" }));
});

async function tellPages(message) {
  for (const client of await self.clients.matchAll({ type: "window" })) client.postMessage(message);
}

// -- push --------------------------------------------------------------------------------------

/** English, for when the page never stored its words (it always does before subscribing). */
const FALLBACK = {
  "push.app": "Tsudoi",
  "push.safety.safe": "{name} is safe",
  "push.safety.need_help": "{name} needs help",
  "push.safety.evacuating": "{name} is evacuating",
  "push.safety.other": "{name} told how they are",
  "push.announcement": "Announcement from {community}",
  "push.announcementBody": "A new announcement",
  "push.dm": "Message from {name}",
  "push.dmHidden": "You have a new message",
  "push.mention": "{name} mentioned you",
  "push.reply": "{name} replied to you",
  "push.incident": "Disaster mode has started",
  "push.other": "Something new on Tsudoi",
};

function openDb() {
  return new Promise((resolve) => {
    const request = indexedDB.open("tsudoi", 1);
    request.onupgradeneeded = () => {
      for (const name of ["kv", "outbox"]) {
        if (!request.result.objectStoreNames.contains(name)) request.result.createObjectStore(name);
      }
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => resolve(null);
  });
}

/** The words the page stored for its language ({lang, strings}; web/js/push.js). */
async function words() {
  try {
    const db = await openDb();
    if (!db) return FALLBACK;
    const saved = await new Promise((resolve) => {
      const request = db.transaction("kv").objectStore("kv").get("push.words");
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => resolve(null);
    });
    db.close();
    return saved?.strings ? { ...FALLBACK, ...saved.strings, lang: saved.lang } : FALLBACK;
  } catch {
    return FALLBACK;
  }
}

const fill = (text, params) => text.replace(/\{(\w+)\}/g, (_, k) => (params[k] == null ? "" : String(params[k])));

/** Only a path of this site (the payload's url is "/#/..."): never another origin. */
const safeUrl = (url) => (typeof url === "string" && url.startsWith("/") && !url.startsWith("//") ? url : "/");

/** The notification for one push payload (see docs/spa.md for its fields). */
function compose(msg, w) {
  if (!msg || typeof msg !== "object") return { title: w["push.app"], options: { body: w["push.other"], icon: ICON, tag: "other" } };
  const params = {
    name: msg.actor?.display_name || (msg.actor?.handle ? `@${msg.actor.handle}` : ""),
    community: msg.community?.name || "",
  };
  const text = typeof msg.text === "string" ? msg.text : "";
  let title;
  let body = text;
  let subject = msg.id;
  switch (msg.kind) {
    case "safety":
      title = fill(w[`push.safety.${msg.status}`] || w["push.safety.other"], params);
      subject = msg.actor?.handle || msg.id;
      break;
    case "announcement":
      title = fill(w["push.announcement"], params);
      body = text || w["push.announcementBody"];
      subject = msg.community?.id || msg.id;
      break;
    case "dm":
      title = fill(w["push.dm"], params);
      body = text || w["push.dmHidden"]; // no text: the person allows no previews
      subject = msg.conversation_id || msg.id;
      break;
    case "mention":
    case "reply":
      title = fill(w[`push.${msg.kind}`], params);
      subject = msg.post_id || msg.id;
      break;
    case "incident":
      title = w["push.incident"];
      break;
    default:
      title = w["push.app"];
      body = text || w["push.other"];
  }
  const urgent = msg.urgent === true;
  const options = {
    body,
    icon: ICON,
    badge: ICON,
    lang: w.lang || undefined,
    // Repeats about the same subject replace the one shown (a friend's newer status, …).
    tag: `${msg.kind || "other"}:${subject ?? ""}`,
    renotify: urgent,
    // A friend asking for help stays on screen until the person acts on it.
    requireInteraction: urgent && msg.kind === "safety" && msg.status === "need_help",
    timestamp: Number.isFinite(msg.at) ? msg.at : Date.now(),
    data: { url: safeUrl(msg.url), kind: msg.kind, id: msg.id },
  };
  return { title, options };
}

self.addEventListener("push", (event) => {
  event.waitUntil((async () => {
    let msg = null;
    try { msg = event.data ? event.data.json() : null; } catch { msg = null; }
    const w = await words();
    const { title, options } = compose(msg, w);
    await self.registration.showNotification(title, options);
  })());
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = new URL(safeUrl(event.notification.data?.url), self.location.origin).href;
  event.waitUntil((async () => {
    const open = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    const client = open.find((c) => new URL(c.url).origin === self.location.origin);
    if (client) {
      await client.focus();
      client.postMessage({ type: "navigate", url }); // the page moves to the hash route
      return;
    }
    await self.clients.openWindow(url);
  })());
});
