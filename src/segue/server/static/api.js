// Calls to the Segue server. Every failure becomes an Error whose message a musician can read.

async function call(path, options) {
  let response;
  try {
    response = await fetch(path, options);
  } catch {
    throw new Error("Cannot reach the Segue server. Is `segue serve` still running?");
  }
  if (response.ok) return response;
  let detail = "";
  try {
    detail = (await response.json()).detail;
  } catch { /* not JSON: say what we know */ }
  if (response.status >= 500) throw new Error(`The server failed (${response.status}). Please try again.`);
  throw new Error(typeof detail === "string" && detail ? detail : `The server refused the request (${response.status}).`);
}

function json(body) {
  return { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
}

export async function extendNotes(request) {
  return (await call("/api/extend", json(request))).json();
}

export async function readMidi(file) {
  const form = new FormData();
  form.append("file", file);
  return (await call("/api/read-midi", { method: "POST", body: form })).json();
}

export async function writeMidi(notes, seconds) {
  return (await call("/api/write-midi", json({ notes, seconds }))).blob();
}

export async function modelInfo() {
  return (await call("/api/model")).json();
}
