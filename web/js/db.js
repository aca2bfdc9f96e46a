// The page's IndexedDB, shared with the service worker (web/sw.js opens the same database):
//   "kv"     — key → value: the offline snapshots ("snapshot"), the language and push strings
//              the worker needs to word a notification ("push.lang"), …
//   "outbox" — what was written while offline, waiting to be sent (outbox.js), by key.
// Where IndexedDB cannot be opened (some private modes) everything falls back to memory for
// this page's life: the app works, it only forgets on reload.

const NAME = "tsudoi";
const VERSION = 1;
let opening = null;
const memory = { kv: new Map(), outbox: new Map() };

function open() {
  opening ??= new Promise((resolve) => {
    let request;
    try { request = indexedDB.open(NAME, VERSION); } catch { resolve(null); return; }
    request.onupgradeneeded = () => {
      const db = request.result;
      if (!db.objectStoreNames.contains("kv")) db.createObjectStore("kv");
      if (!db.objectStoreNames.contains("outbox")) db.createObjectStore("outbox");
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => resolve(null);
    request.onblocked = () => resolve(null);
  });
  return opening;
}

function run(store, mode, work) {
  return open().then((db) => {
    if (!db) return work(null)?.result;
    return new Promise((resolve, reject) => {
      const tx = db.transaction(store, mode);
      const request = work(tx.objectStore(store));
      tx.oncomplete = () => resolve(request?.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  });
}

export const get = (store, key) => run(store, "readonly", (s) => (s ? s.get(key) : { result: memory[store].get(key) }));

export const put = (store, key, value) => run(store, "readwrite", (s) => (s ? s.put(value, key) : void memory[store].set(key, value)));

export const del = (store, key) => run(store, "readwrite", (s) => (s ? s.delete(key) : void memory[store].delete(key)));

/** Every value of a store, in key order. */
export const all = (store) => run(store, "readonly", (s) => (s ? s.getAll() : { result: [...memory[store].entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, v]) => v) }));

export const clear = (store) => run(store, "readwrite", (s) => (s ? s.clear() : void memory[store].clear()));
