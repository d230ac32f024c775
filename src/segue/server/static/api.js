// Calls to the Segue server. Every failure becomes an Error whose message a musician can read.

// The server's words as a sentence: a capital first letter and a full stop.
export function sentence(text) {
  const trimmed = String(text).trim();
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

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
  const error = new Error(typeof detail === "string" && detail ? sentence(detail)
    : response.status >= 500 ? `The server failed (${response.status}). Please try again.`
      : `The server refused the request (${response.status}).`);
  error.status = response.status;  // 4xx: what was sent is the problem; sending it again will not help
  throw error;
}

function json(body) {
  return { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
}

// Only the fields the API takes: the page's own marks (who played a note) stay on the page.
export const plainNotes = (notes) => notes.map(({ pitch, start, end, velocity }) => ({ pitch, start, end, velocity }));

export async function extendNotes(request) {
  return (await call("/api/extend", json({ ...request, notes: plainNotes(request.notes) }))).json();
}

// track: the file's track to read the melody from (counting from 1), or null for the one Segue picks
export async function readMidi(file, track = null) {
  const form = new FormData();
  form.append("file", file);
  const query = track === null ? "" : `?track=${track}`;
  return (await call(`/api/read-midi${query}`, { method: "POST", body: form })).json();
}

// A recording (a WAV Blob) as notes: { notes, input_seconds, tuning_cents, estimated_bpm }.
export async function transcribeRecording(wav) {
  const form = new FormData();
  form.append("file", wav, "voice.wav");
  return (await call("/api/transcribe", { method: "POST", body: form })).json();
}

// options: { bpm, time_signature: [n, d], quantize: beats or null }
export async function writeMidi(notes, seconds, options = {}) {
  return (await call("/api/write-midi", json({ notes: plainNotes(notes), seconds, ...options }))).blob();
}

export async function modelInfo() {
  return (await call("/api/model")).json();
}
