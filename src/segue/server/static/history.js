// Takes kept in the browser's storage, newest first, so a reload or a crash loses nothing.

const STORAGE_KEY = "segue.takes.v1";
const MAX_TAKES = 200;  // a take is a few kilobytes; browsers allow about 5 MB per site

export function loadTakes() {
  try {
    const takes = JSON.parse(localStorage.getItem(STORAGE_KEY) || "[]");
    return Array.isArray(takes) ? takes : [];
  } catch {
    return [];
  }
}

// Returns false when the browser refused to store (full, or private mode).
export function saveTakes(takes) {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(takes.slice(0, MAX_TAKES)));
    return true;
  } catch {
    return false;
  }
}
