// Sung recordings kept in the browser (IndexedDB: localStorage holds a few megabytes, a recording is
// a few hundred kilobytes), keyed by the id of the take they were made for. Every call rejects with
// an Error when the browser refuses (private mode, storage full, IndexedDB missing).

const DATABASE = "segue";
const STORE = "recordings";

let opened = null;

function database() {
  opened ??= new Promise((resolve, reject) => {
    if (!globalThis.indexedDB) throw new Error("this browser keeps no recordings (no IndexedDB)");
    const request = indexedDB.open(DATABASE, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error("IndexedDB would not open"));
    request.onblocked = () => reject(new Error("IndexedDB is blocked by another tab of this page"));
  });
  opened.catch(() => { opened = null; });  // try again next time
  return opened;
}

// Run `work(store)` in one transaction; resolves with the result of the request it returns, once
// the transaction has committed.
async function transaction(mode, work) {
  const db = await database();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const request = work(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(request?.result);
    tx.onerror = () => reject(tx.error ?? new Error("IndexedDB failed"));
    tx.onabort = () => reject(tx.error ?? new Error("IndexedDB gave up"));
  });
}

// The WAV file's bytes are stored (an ArrayBuffer: every browser stores those, even in private mode).
export async function saveRecording(id, blob) {
  const bytes = await blob.arrayBuffer();
  await transaction("readwrite", (store) => store.put(bytes, id));
}

// The recording as a Blob, or null when this browser does not have it.
export async function loadRecording(id) {
  const bytes = await transaction("readonly", (store) => store.get(id));
  return bytes ? new Blob([bytes], { type: "audio/wav" }) : null;
}

// Drop every recording whose id is not in `ids` (a Set): those of deleted or forgotten takes.
export async function keepRecordings(ids) {
  const keys = await transaction("readonly", (store) => store.getAllKeys());
  const unused = keys.filter((key) => !ids.has(key));
  if (unused.length) await transaction("readwrite", (store) => { for (const key of unused) store.delete(key); });
  return unused.length;
}
