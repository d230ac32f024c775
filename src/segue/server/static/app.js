// The page's flow: play or record a phrase, ask the server to continue it, show and play the answer,
// and keep every take in the browser.

import { extendNotes, modelInfo, readMidi, writeMidi } from "./api.js";
import { loadTakes, saveTakes } from "./history.js";
import { MidiPorts } from "./midi.js";
import { Piano } from "./piano.js";
import { noteName, PianoRoll } from "./roll.js";
import { Synth } from "./synth.js";

const COUNTDOWN_SECONDS = 3;
const PLAYBACK_LEAD = 0.06;  // seconds between scheduling and the first sound: room for the audio thread
const MAX_EVENTS = 60;
const KEY_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"];

const $ = (id) => document.getElementById(id);
const synth = new Synth();
const roll = new PianoRoll($("roll"));

// Notes as played, timed in seconds from `origin` (performance.now() / 1000).
class Recorder {
  constructor() { this.reset(); }
  reset() { this.origin = null; this.held = new Map(); this.notes = []; }
  start(origin) { this.reset(); this.origin = origin; }
  get active() { return this.origin !== null; }
  down(pitch, velocity, time) {
    if (!this.active || time < this.origin) return;
    this.up(pitch, time);
    this.held.set(pitch, { start: time - this.origin, velocity });
  }
  up(pitch, time) {
    const held = this.held.get(pitch);
    if (!held) return;
    this.held.delete(pitch);
    const end = time - this.origin;
    if (end > held.start) this.notes.push({ pitch, start: held.start, end, velocity: held.velocity });
  }
  // Close the window at `length` seconds (keys still down end there) and return its notes.
  finish(length) {
    for (const pitch of [...this.held.keys()]) this.up(pitch, this.origin + length);
    const notes = this.notes
      .filter((n) => n.start < length)
      .map((n) => ({ ...n, end: Math.min(n.end, length) }))
      .sort((a, b) => a.start - b.start || a.pitch - b.pitch);
    this.reset();
    return notes;
  }
}

const state = {
  mode: "idle",          // idle | countdown | recording | extending | playing
  takes: loadTakes(),
  current: null,         // the take shown
  free: new Recorder(),  // free play, from its first note
  timed: new Recorder(), // the recording window
  playback: null,        // { frame, at, offset, end, notes, lit }
};

const now = () => performance.now() / 1000;

function setMode(mode) {
  state.mode = mode;
  document.body.dataset.state = mode;
  const busy = mode === "countdown" || mode === "recording" || mode === "extending";
  const take = state.current;
  const extended = Boolean(take && take.extensions.length);
  $("record").disabled = busy;
  $("extend").disabled = busy;
  $("extend-again").disabled = busy || !extended;
  $("play").disabled = busy || !take;
  $("stop").disabled = mode !== "playing";
  $("download").disabled = !extended;
  $("download-all").disabled = !extended;
  $("upload").disabled = busy;
}

function showError(message) {
  $("error-text").textContent = message;
  $("error").hidden = false;
}

function clearError() {
  $("error").hidden = true;
}

// ---- playing the keys -------------------------------------------------------------------------

function noteDown(pitch, velocity) {
  synth.noteOn(pitch, velocity);
  midi.noteOn(pitch, velocity);
  piano.light(pitch, "down", true);
  const time = now();
  if (state.mode === "recording") {
    state.timed.down(pitch, velocity, time);
  } else if (state.mode !== "countdown") {
    if (!state.free.active) state.free.start(time);
    state.free.down(pitch, velocity, time);
  }
  const recorder = state.mode === "recording" ? state.timed : state.free;
  logEvent(`${noteName(pitch).padEnd(4)} vel ${String(velocity).padStart(3)}  ${recorder.active ? (time - recorder.origin).toFixed(2) + " s" : ""}`);
}

function noteUp(pitch) {
  synth.noteOff(pitch);
  midi.noteOff(pitch);
  piano.light(pitch, "down", false);
  state.timed.up(pitch, now());
  state.free.up(pitch, now());
}

function logEvent(text) {
  const item = document.createElement("li");
  item.textContent = text;
  const list = $("events");
  list.prepend(item);
  while (list.children.length > MAX_EVENTS) list.lastChild.remove();
}

const piano = new Piano($("piano"), {
  onDown: noteDown,
  onUp: noteUp,
  onOctave: (name) => { $("octave-label").textContent = name; },
});
const midi = new MidiPorts($("midi-in"), $("midi-out"), {
  onDown: noteDown,
  onUp: noteUp,
  onStatus: (text) => { if (text) logEvent(text); },
});

// ---- recording --------------------------------------------------------------------------------

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function record() {
  clearError();
  stop();
  synth.start();
  const length = numberSetting("record-seconds", 1, 30, 5);
  setMode("countdown");
  for (let count = COUNTDOWN_SECONDS; count > 0; count--) {
    $("countdown").textContent = String(count);
    tick(count === COUNTDOWN_SECONDS ? 84 : 79);
    await sleep(1000);
  }
  $("countdown").textContent = "";
  state.timed.start(now());
  state.free.reset();
  setMode("recording");
  const bar = $("progress-bar");
  const origin = state.timed.origin;
  await new Promise((resolve) => {
    const frame = () => {
      const done = Math.min((now() - origin) / length, 1);
      bar.style.width = `${done * 100}%`;
      bar.setAttribute("aria-valuenow", String(Math.round(done * 100)));
      if (done < 1) requestAnimationFrame(frame); else resolve();
    };
    requestAnimationFrame(frame);
    setTimeout(resolve, length * 1000 + 250);  // a hidden tab gets no animation frames
  });
  const notes = state.timed.finish(length);
  bar.style.width = "0%";
  if (!notes.length) {
    setMode("idle");
    showError("Nothing was played during the recording. Press Record and play while the bar fills.");
    return;
  }
  await extendTake(newTake(notes, length, "recording"));
}

function tick(pitch) {
  const at = synth.now();
  synth.release(synth.voice(pitch, 50, at), at + 0.05);
}

async function extendFreePlay() {
  clearError();
  stop();
  if (state.free.active && (state.free.notes.length || state.free.held.size)) {
    const time = now() - state.free.origin;
    const notes = state.free.finish(time);
    const end = Math.max(...notes.map((n) => n.end));
    await extendTake(newTake(notes, end, "free play"));
  } else if (state.current) {
    const take = state.current;  // nothing new played: more ideas for the phrase on screen
    await extendTake(newTake(take.input, take.inputSeconds, take.source));
  } else {
    showError("Play something first: click the keys, type A S D F…, or use a MIDI keyboard.");
  }
}

async function extendAgain() {
  const take = state.current;
  if (!take || !take.extensions.length) return;
  const continuation = take.extensions[take.chosen].map((n) => shift(n, take.inputSeconds));
  await extendTake(newTake([...take.input, ...continuation], take.inputSeconds + take.seconds, "extend again"));
}

async function uploadFile(file) {
  clearError();
  stop();
  try {
    const melody = await readMidi(file);
    await extendTake(newTake(melody.notes, melody.input_seconds, file.name));
  } catch (error) {
    showError(`Could not open ${file.name}: ${error.message}`);
  }
}

function shift(note, seconds) {
  return { ...note, start: note.start + seconds, end: note.end + seconds };
}

function numberSetting(id, low, high, fallback) {
  const value = Number($(id).value);
  return Number.isFinite(value) && $(id).value !== "" ? Math.min(Math.max(value, low), high) : fallback;
}

// ---- takes ------------------------------------------------------------------------------------

function newTake(notes, inputSeconds, source) {
  const created = new Date();
  return {
    id: `${created.getTime().toString(36)}-${Math.random().toString(36).slice(2, 6)}`,
    created: created.toISOString(),
    source,
    input: notes,
    inputSeconds,
    extensions: [],
    chosen: 0,
    seconds: 0,
  };
}

// Save the phrase before asking for its continuation: if the server fails, the take is kept.
async function extendTake(take) {
  remember(take);
  show(take);
  setMode("extending");
  $("model-status").textContent = "Writing the continuation…";
  const seed = $("seed").value === "" ? null : Number($("seed").value);
  try {
    const answer = await extendNotes({
      notes: take.input,
      input_seconds: take.inputSeconds,
      seconds: numberSetting("seconds", 1, 30, 5),
      temperature: Number($("temperature").value),
      top_p: 0.95,
      seed,
      variations: Math.round(numberSetting("variations", 1, 8, 1)),
      key: $("key").value || null,
    });
    Object.assign(take, {
      extensions: answer.extensions.map((e) => e.notes),
      inputSeconds: answer.input_seconds,
      seconds: answer.seconds,
      seed: answer.seed,
      temperature: Number($("temperature").value),
      key: $("key").value || null,
      model: `${answer.model.name} ${answer.model.version}`,
      elapsedMs: answer.elapsed_ms,
    });
    remember(take);
    show(take);
    $("model-status").textContent = `Continued in ${Math.round(answer.elapsed_ms)} ms (seed ${answer.seed})`;
    setMode("idle");
    play(true);
  } catch (error) {
    setMode("idle");
    $("model-status").textContent = "";
    showError(`${error.message} Your phrase is kept in Takes.`);
  }
}

function remember(take) {
  state.takes = [take, ...state.takes.filter((t) => t.id !== take.id)];
  if (!saveTakes(state.takes)) showError("This browser refused to store the take (storage full or private mode); download it to keep it.");
  renderHistory();
}

function show(take) {
  state.current = take;
  const continuation = take.extensions[take.chosen] || [];
  roll.show(take.input, take.inputSeconds, continuation, take.seconds);
  const picker = $("variation-picker");
  picker.replaceChildren();
  if (take.extensions.length > 1) {
    take.extensions.forEach((_, index) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = String(index + 1);
      button.title = `Variation ${index + 1}`;
      button.setAttribute("aria-pressed", String(index === take.chosen));
      button.addEventListener("click", () => {
        take.chosen = index;
        remember(take);
        show(take);
        play(true);
      });
      picker.append(button);
    });
  }
  renderHistory();
  setMode(state.mode);
}

function renderHistory() {
  const list = $("history");
  list.replaceChildren();
  state.takes.forEach((take, index) => {
    const item = document.createElement("li");
    item.dataset.id = take.id;
    item.setAttribute("aria-current", String(take === state.current || take.id === state.current?.id));
    const when = document.createElement("span");
    when.className = "when";
    const time = new Date(take.created).toLocaleTimeString();
    const continuation = take.extensions.length ? `${take.extensions[take.chosen].length} notes` : "not continued";
    when.textContent = `#${state.takes.length - index} ${time} · ${take.source} · ${take.input.length} → ${continuation}`;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "×";
    remove.title = "Delete this take";
    remove.addEventListener("click", (event) => {
      event.stopPropagation();
      state.takes = state.takes.filter((t) => t.id !== take.id);
      saveTakes(state.takes);
      renderHistory();
    });
    item.append(when, remove);
    item.addEventListener("click", () => { stop(); show(take); });
    list.append(item);
  });
}

// ---- playback ---------------------------------------------------------------------------------

// Play the take shown: only its continuation (as right after extending), or the phrase and then it.
function play(continuationOnly = false) {
  const take = state.current;
  if (!take) return;
  stop();
  const continuation = (take.extensions[take.chosen] || []).map((n) => shift(n, take.inputSeconds));
  const notes = continuationOnly ? continuation : [...take.input, ...continuation];
  const offset = continuationOnly ? take.inputSeconds : 0;
  const end = take.inputSeconds + take.seconds;
  const at = synth.now() + PLAYBACK_LEAD;
  const relative = notes.map((n) => shift(n, -offset));
  document.body.dataset.scheduled = String(synth.schedule(relative, at));
  midi.play(relative, PLAYBACK_LEAD);
  state.playback = { at, offset, end, notes, lit: new Set(), frame: 0 };
  setMode("playing");
  const frame = () => {
    const playback = state.playback;
    if (!playback) return;
    const time = synth.context.currentTime - playback.at + playback.offset;
    const sounding = new Set(playback.notes.filter((n) => n.start <= time && time < n.end).map((n) => n.pitch));
    for (const pitch of playback.lit) if (!sounding.has(pitch)) piano.light(pitch, "echo", false);
    for (const pitch of sounding) piano.light(pitch, "echo", true);
    playback.lit = sounding;
    roll.setPlayhead(Math.max(time, playback.offset));
    if (time >= playback.end) stop(); else playback.frame = requestAnimationFrame(frame);
  };
  state.playback.frame = requestAnimationFrame(frame);
}

function stop() {
  const playback = state.playback;
  if (!playback) return;
  cancelAnimationFrame(playback.frame);
  for (const pitch of playback.lit) piano.light(pitch, "echo", false);
  state.playback = null;
  synth.stopAll();
  midi.allNotesOff();
  roll.setPlayhead(null);
  if (state.mode === "playing") setMode("idle");
}

// ---- files ------------------------------------------------------------------------------------

async function download(withInput) {
  const take = state.current;
  if (!take || !take.extensions.length) return;
  const continuation = take.extensions[take.chosen];
  const [notes, seconds] = withInput
    ? [[...take.input, ...continuation.map((n) => shift(n, take.inputSeconds))], take.inputSeconds + take.seconds]
    : [continuation, take.seconds];
  try {
    const blob = await writeMidi(notes, seconds);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `segue-${take.id}-${withInput ? "phrase-and-continuation" : "continuation"}.mid`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  } catch (error) {
    showError(`Could not make the MIDI file: ${error.message}`);
  }
}

// ---- start ------------------------------------------------------------------------------------

function fillKeys() {
  const select = $("key");
  for (const mode of ["major", "minor"]) {
    for (const tonic of KEY_NAMES) select.append(new Option(`${tonic} ${mode}`, `${tonic} ${mode}`));
  }
}

function bind() {
  $("record").addEventListener("click", record);
  $("extend").addEventListener("click", extendFreePlay);
  $("extend-again").addEventListener("click", extendAgain);
  $("play").addEventListener("click", () => play(false));
  $("stop").addEventListener("click", stop);
  $("clear").addEventListener("click", () => {
    stop();
    state.free.reset();
    state.current = null;
    roll.show([], 0, [], 0);
    renderHistory();
    setMode("idle");
  });
  $("download").addEventListener("click", () => download(false));
  $("download-all").addEventListener("click", () => download(true));
  $("upload").addEventListener("change", (event) => {
    const [file] = event.target.files;
    event.target.value = "";
    if (file) uploadFile(file);
  });
  $("temperature").addEventListener("input", (event) => { $("temperature-value").textContent = Number(event.target.value).toFixed(1); });
  $("error-close").addEventListener("click", clearError);
  window.addEventListener("keydown", (event) => {
    if (event.code === "Space" && !event.target.closest?.("input, select, textarea, button")) {
      event.preventDefault();
      if (state.mode === "playing") stop(); else play(false);
    }
  });
}

async function main() {
  fillKeys();
  bind();
  if (state.takes.length) show(state.takes[0]); else roll.show([], 0, [], 0);
  setMode("idle");
  midi.open();
  try {
    const model = await modelInfo();
    $("model-status").textContent = `Model ${model.name} (${model.cell.toUpperCase()}, ${(model.parameters / 1e6).toFixed(2)} M parameters) ready`;
  } catch (error) {
    $("model-status").textContent = "";
    showError(error.message);
  }
}

main();
