// The page's flow: play, record or sing a phrase, ask the server to continue it, show and play the
// answer in time, and keep every take (and every sung recording) in the browser.

import { extendNotes, modelInfo, readMidi, sentence, transcribeRecording, writeMidi } from "./api.js";
import { loadTakes, saveTakes } from "./history.js";
import { MidiPorts } from "./midi.js";
import { Piano, writesText } from "./piano.js";
import { keepRecordings, loadRecording, saveRecording } from "./recordings.js";
import { bySegue, noteName, PianoRoll } from "./roll.js";
import { Synth } from "./synth.js";
import { Microphone, microphoneProblem, pitchOf } from "./voice.js";
import { encodeWav, halve } from "./wav.js";

const COUNTDOWN_SECONDS = 3;
const METRONOME_COUNT_IN = 4;  // beats of count-in when the metronome is on
const PLAYBACK_LEAD = 0.06;  // seconds between scheduling and the first sound: room for the audio thread
const PHRASE_BREAK = 4;  // seconds of silence after which free play starts a new phrase
const DUET_PAUSE = 0.8;  // seconds of silence after which duet mode answers
const DUET_MIN_NOTES = 3;
const UNDO_SECONDS = 15;
const MAX_EVENTS = 60;
const KEY_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"];
// The page's limits, until /api/model says the server's (which may be tighter or looser).
const limits = { seconds: 30, variations: 8, temperature: 2, seed: Number.MAX_SAFE_INTEGER, inputNotes: 2000, topP: 0.95 };

const $ = (id) => document.getElementById(id);
const synth = new Synth();
const roll = new PianoRoll($("roll"));

// Notes as played, timed in seconds from `origin` (performance.now() / 1000).
class Recorder {
  constructor() { this.reset(); }
  reset() { this.origin = null; this.held = new Map(); this.notes = []; }
  start(origin) { this.reset(); this.origin = origin; }
  get active() { return this.origin !== null; }
  get count() { return this.notes.length + this.held.size; }
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
  // Every note so far, a held one ending at `time`: for drawing while the player plays.
  snapshot(time) {
    const held = [...this.held].map(([pitch, h]) => ({ pitch, start: h.start, end: Math.max(time - this.origin, h.start + 0.01), velocity: h.velocity }));
    return [...this.notes, ...held];
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
  loudUntil: 0,          // the "too loud" warning shows until this time (performance.now(), ms)
  mode: "idle",          // idle | countdown | recording | extending | playing
  takes: loadTakes(),
  current: null,         // the take shown
  free: new Recorder(),  // free play, from its first note
  timed: new Recorder(), // the recording window
  lastRelease: 0,        // when the last key was let go (performance seconds)
  playback: null,        // { frame, at, offset, end, notes, lit, loop }
  session: null,         // the count-in or recording in progress: { cancelled, early, wake, length, voice }
  clocks: new Map(),     // take id -> performance time of the take's 0 s, for takes played live this visit
  duetTimer: 0,
  liveFrame: 0,
  deleted: null,         // { take, index }: the last deleted take, while the Undo bar offers it back
  edits: [],             // { id, input, edited } of a take before each note edit, latest last: Ctrl+Z takes it back
  undoBar: null,         // { undo, ended, timer }: what the Undo bar's button takes back while it shows
  voices: new Map(),     // recording id -> promise of its decoded AudioBuffer (null: not in this browser)
};

const now = () => performance.now() / 1000;

function setMode(mode) {
  state.mode = mode;
  document.body.dataset.state = mode;
  const capturing = mode === "countdown" || mode === "recording";
  const busy = capturing || mode === "extending";
  const take = state.current;
  const extended = Boolean(take && take.extensions.length);
  const voice = capturing && Boolean(state.session?.voice);  // singing, not playing keys
  document.body.dataset.capture = capturing ? (voice ? "voice" : "keys") : "";
  const record = $("record");
  record.textContent = capturing && !voice ? (mode === "countdown" ? "✕ Cancel" : "■ Stop recording") : "● Record";
  record.setAttribute("aria-label", capturing && !voice ? (mode === "countdown" ? "Cancel the count-in"
    : "Stop recording and continue what was played") : "Record");
  record.disabled = mode === "extending" || voice;
  const sing = $("sing");
  sing.textContent = voice ? (mode === "countdown" ? "✕ Cancel" : "■ Stop singing") : "♪ Sing";
  sing.setAttribute("aria-label", voice ? (mode === "countdown" ? "Cancel the count-in"
    : "Stop singing and continue what was sung") : "Sing a phrase into the microphone");
  sing.disabled = mode === "extending" || (capturing && !voice);
  $("extend").disabled = busy;
  $("extend-again").disabled = busy || !extended;
  $("play").disabled = busy || !take;
  $("play").textContent = mode === "playing" ? "■ Stop" : "▶ Play";
  $("play").setAttribute("aria-pressed", String(mode === "playing"));
  $("download").disabled = !extended;
  $("download-all").disabled = !extended;
  $("open-file").disabled = busy;
  $("countdown").textContent = mode === "recording" ? "Recording…" : mode === "countdown" ? $("countdown").textContent : "";
}

function showError(message) {
  $("error-text").textContent = message;
  $("error").hidden = false;
}

function clearError() {
  $("error").hidden = true;
}

function phraseStatus(text) {
  $("phrase-status").textContent = text;
}

// ---- playing the keys -------------------------------------------------------------------------

function noteDown(pitch, velocity) {
  synth.noteOn(pitch, velocity);
  midi.noteOn(pitch, velocity);
  piano.light(pitch, "down", true);
  clearTimeout(state.duetTimer);
  const time = now();
  let recorder = null;
  if (state.mode === "recording") {
    recorder = state.timed;
  } else if (collectsFreePlay()) {
    recorder = state.free;
    const paused = recorder.active && !recorder.held.size && time - state.lastRelease > PHRASE_BREAK;
    if (!recorder.active || paused) recorder.start(time);  // a new phrase
  }
  recorder?.down(pitch, velocity, time);
  if (recorder) drawLive();
  logEvent(`${noteName(pitch).padEnd(4)} vel ${String(velocity).padStart(3)}  ${recorder ? (time - recorder.origin).toFixed(2) + " s" : "(not kept)"}`);
}

function noteUp(pitch) {
  synth.noteOff(pitch);
  midi.noteOff(pitch);
  piano.light(pitch, "down", false);
  const time = now();
  state.lastRelease = time;
  state.timed.up(pitch, time);
  state.free.up(pitch, time);
  if (state.mode === "recording" || (state.free.active && collectsFreePlay())) drawLive();
  if ($("duet").checked && state.free.active && !state.free.held.size && state.free.notes.length >= DUET_MIN_NOTES) {
    clearTimeout(state.duetTimer);
    state.duetTimer = setTimeout(() => {
      if (collectsFreePlay() && state.mode !== "extending" && !state.free.held.size) extendFreePlay();
    }, DUET_PAUSE * 1000);
  }
}

// Free play is kept when nothing else is going on; notes played along with a playback are not a
// new phrase, except in duet mode, where playing over the answer is how the next phrase starts.
function collectsFreePlay() {
  return state.mode === "idle" || (state.mode === "playing" && $("duet").checked);
}

// Draw the phrase being played, and keep drawing while a key is held or a recording runs.
function drawLive() {
  cancelAnimationFrame(state.liveFrame);
  const frame = () => {
    const recording = state.mode === "recording";
    const recorder = recording ? state.timed : state.free;
    if (!recorder.active || !(recording || collectsFreePlay())) return;
    const time = now() - recorder.origin;
    roll.showLive(recorder.snapshot(now()), recording ? Number(state.session?.length) : null, time);
    if (!recording) {
      const count = recorder.count;
      phraseStatus(`Free play: ${count} note${count === 1 ? "" : "s"} — ${$("duet").checked
        ? "pause and Segue answers" : "Extend continues them"}; Clear starts over.`);
    }
    if (recording || recorder.held.size) state.liveFrame = requestAnimationFrame(frame);
  };
  frame();
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
  onUnavailable: (reason) => { $("midi-status").textContent = `${reason}. The on-screen and computer keys still play.`; },
});

// ---- recording --------------------------------------------------------------------------------

// A pause that ends early when the session is cancelled or stopped.
function pause(session, seconds) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, seconds * 1000);
    session.wake = () => { clearTimeout(timer); resolve(); };
  });
}

function endSession(how) {
  const session = state.session;
  if (!session) return;
  session[how] = true;
  session.wake?.();
}

// The count-in: 3 s, or 4 beats when the metronome is on. False when it was cancelled.
async function countIn(session, metronome) {
  const beat = metronome ? 60 / metronome : 1;
  const counts = metronome ? METRONOME_COUNT_IN : COUNTDOWN_SECONDS;
  for (let count = counts; count > 0 && !session.cancelled; count--) {
    $("countdown").textContent = String(count);
    tick(count === counts ? 84 : 79);
    await pause(session, beat);
  }
  if (session.cancelled) return false;
  $("countdown").textContent = "";
  return true;
}

// The recording window from `origin` (performance seconds): the metronome's ticks through it, the
// progress bar filling, and `draw()` every frame. Resolves when it ends, is stopped or cancelled.
async function recordingWindow(session, origin, metronome, draw) {
  const seconds = session.length;
  if (metronome) {
    const beat = 60 / metronome;
    for (let t = 0; t < seconds - 1e-6; t += beat) tick(t % (beat * 4) < 1e-6 ? 84 : 79, t);
  }
  const bar = $("progress-bar");
  let frame = 0;
  const progress = () => {
    const done = Math.min((now() - origin) / seconds, 1);
    bar.style.width = `${done * 100}%`;
    bar.setAttribute("aria-valuenow", String(Math.round(done * 100)));
    draw?.();
    if (done < 1 && state.session === session) frame = requestAnimationFrame(progress);
  };
  progress();
  await pause(session, seconds);
  cancelAnimationFrame(frame);
  bar.style.width = "0%";
  bar.setAttribute("aria-valuenow", "0");
}

function endOrStop() {  // Record and Sing, pressed again, cancel a count-in or stop a recording early
  endSession(state.mode === "countdown" ? "cancelled" : "early");
}

// What Record and Sing do first: check the settings, then clear the stage. Returns the settings
// and the metronome's tempo (null: off), or null when a setting is bad (the page says which).
function startTake() {
  const settings = readSettings();
  if (!settings) return null;
  clearError();
  stop();
  synth.start();
  clearTimeout(state.duetTimer);
  return { settings, metronome: $("metronome").checked ? settings.bpm : null };
}

async function record() {
  if (state.mode === "countdown" || state.mode === "recording") return endOrStop();
  const started = startTake();
  if (!started) return;
  const { settings, metronome } = started;
  const session = state.session = { cancelled: false, early: false, length: settings.recordSeconds };
  setMode("countdown");
  if (!(await countIn(session, metronome))) return cancelled("The count-in was cancelled.");
  const origin = now();
  state.timed.start(origin);
  state.free.reset();  // what was played before the recording is not part of it, nor of the next free phrase
  setMode("recording");
  drawLive();
  await recordingWindow(session, origin, metronome);
  if (session.cancelled) return cancelled("The recording was cancelled; nothing was kept.");
  const length = session.early ? Math.max(now() - origin, 0.1) : settings.recordSeconds;
  state.session = null;
  const notes = state.timed.finish(length);
  if (!notes.length) {
    setMode("idle");
    showTake(state.current);
    showError("Nothing was played during the recording. Press Record and play while the bar fills.");
    return;
  }
  const take = newTake(notes, length, "recording");
  if (metronome) take.bpm = metronome;
  state.clocks.set(take.id, origin);
  await extendTake(take, { fresh: true });
}

function cancelled(message) {
  state.session?.microphone?.close();
  state.session = null;
  state.timed.reset();
  synth.stopAll();
  showLevel(null);
  setMode("idle");
  showTake(state.current);
  phraseStatus(message);
}

// ---- singing ----------------------------------------------------------------------------------

const PITCH_FLOOR = 36, PITCH_CEILING = 96;  // what the live trace shows: C2 to C7

const CLIPPING = 0.99;  // a block peaking this close to full scale is clipped: the input is set too loud

// The microphone's level on the meter (null: the microphone is closed, the meter hidden), and a
// warning while the peaks reach full scale, when the singer can still back off.
function showLevel(value, peak = 0) {
  const meter = $("level");
  meter.value = value ?? 0;
  $("level-box").hidden = value === null;
  const loud = value !== null && peak >= CLIPPING;
  if (loud) state.loudUntil = performance.now() + 1000;  // held a second, so it can be read
  $("too-loud").hidden = value === null || performance.now() > (state.loudUntil ?? 0);
}

// Sing a phrase: the microphone, a count-in (the meter already shows the level, so the singer can
// check it), the recording window with the pitch heard drawn in the roll; then the recording is
// kept (before anything is asked of the server), heard as notes and continued like played ones.
async function sing() {
  if (state.mode === "countdown" || state.mode === "recording") return endOrStop();
  const started = startTake();
  if (!started) return;
  const { settings, metronome } = started;
  const context = synth.start();
  const session = state.session = { cancelled: false, early: false, length: settings.recordSeconds, voice: true, trace: [], start: null };
  setMode("countdown");
  $("countdown").textContent = "♪";
  phraseStatus("Waiting for the microphone…");
  const heard = ({ time, samples, rate, level, peak }) => {
    if (state.session !== session) return;
    showLevel(level, peak);
    if (session.start === null || time < session.start) return;
    const pitch = pitchOf(samples, rate);
    const usable = pitch !== null && pitch >= PITCH_FLOOR && pitch <= PITCH_CEILING;
    session.trace.push({ time: time - session.start + samples.length / rate / 2, pitch: usable ? pitch : null });
  };
  const opening = Microphone.open(context, heard);
  const answer = await Promise.race([opening, new Promise((resolve) => { session.wake = () => resolve(null); })]).catch((error) => error);
  if (session.cancelled || answer === null) {
    opening.then((microphone) => microphone.close(), () => {});
    return cancelled("Singing was cancelled.");
  }
  if (!(answer instanceof Microphone)) {
    state.session = null;
    showLevel(null);
    setMode("idle");
    showTake(state.current);
    phraseStatus("");
    showError(microphoneProblem(answer));
    return;
  }
  const microphone = session.microphone = answer;
  showLevel(0);
  phraseStatus("Sing, hum or whistle after the count-in.");
  if (!(await countIn(session, metronome))) return cancelled("The count-in was cancelled.");
  const origin = now();
  session.start = context.currentTime;
  microphone.keep(session.start);
  state.free.reset();
  setMode("recording");
  phraseStatus("");
  await recordingWindow(session, origin, metronome, () => {
    roll.showLive([], session.length, now() - origin, session.trace);
  });
  if (session.cancelled) return cancelled("The recording was cancelled; nothing was kept.");
  const length = session.early ? Math.max(now() - origin, 0.1) : session.length;
  setMode("extending");  // nothing to press while the recording is gathered
  let samples = await microphone.finish(session.start, session.start + length);
  state.session = null;
  showLevel(null);
  let rate = context.sampleRate;
  while (rate > 32000 && rate % 2 === 0) { samples = halve(samples); rate /= 2; }
  const take = newTake([], length, "voice");
  take.audio = take.id;
  take.bpm = metronome;
  state.clocks.set(take.id, origin);
  await hearTake(take, encodeWav(samples, rate));
}

// Keep a sung take and its recording, then have the server hear it as notes and continue them.
// `wav` is the recording when it was just made; without it, it is read back from the browser.
async function hearTake(take, wav = null) {
  setMode("extending");
  if (wav) {
    state.voices.set(take.audio, decodeVoice(wav));
    try {
      await saveRecording(take.audio, wav);
    } catch {
      showError("This browser refused to keep the recording (storage full or private mode): a reload will lose it.");
    }
    remember(take);
    showTake(take);
  } else {
    wav = await loadRecording(take.audio).catch(() => null);
    if (!wav) {
      setMode("idle");
      showError("This take's recording is not kept in this browser any more, so it cannot be heard again. Sing it again.");
      return;
    }
  }
  $("model-status").textContent = "Listening to your recording…";
  phraseStatus("");
  let heard;
  try {
    heard = await transcribeRecording(wav);
  } catch (error) {
    setMode("idle");
    $("model-status").textContent = "";
    showTake(take);
    // A recording the server could not hear (silent, noise, clipped) will not be heard on a second
    // try: sing it again. One that never reached the server can be sent again with Extend.
    const advice = error.status >= 400 && error.status < 500 ? "Press Sing to try again (the recording is kept in Takes)."
      : "Your recording is kept in Takes: press Extend to try it again.";
    showError(`${error.message} ${advice}`);
    return;
  }
  if (!heard.notes.length) {
    setMode("idle");
    $("model-status").textContent = "";
    showError("No notes were heard in the recording. Sing a little louder or closer to the microphone, and try again.");
    return;
  }
  Object.assign(take, {
    input: heard.notes,
    inputSeconds: heard.input_seconds,
    tuningCents: heard.tuning_cents,
    bpm: take.bpm ?? heard.estimated_bpm ?? null,
  });
  await extendTake(take, { fresh: true });
}

// A recording's sound for playback: decoded once, then kept for this visit.
function decodeVoice(wav) {
  return wav.arrayBuffer().then((bytes) => synth.start().decodeAudioData(bytes)).catch(() => null);
}

function voiceOf(take) {
  if (!state.voices.has(take.audio)) {
    const loading = loadRecording(take.audio).catch(() => null).then((wav) => (wav ? decodeVoice(wav) : null));
    state.voices.set(take.audio, loading);
    loading.then((buffer) => { if (!buffer) state.voices.delete(take.audio); });  // try the store again next time
  }
  return state.voices.get(take.audio);
}

// Recordings no take uses any more (deleted, or past the history's limit) are dropped.
function forgetUnusedRecordings() {
  // The stored takes too: another tab of the page may have kept a recording since this one loaded.
  const used = new Set([...state.takes, ...loadTakes(), state.deleted?.take].filter((t) => t?.audio).map((t) => t.audio));
  keepRecordings(used).catch(() => {});
}

// A click of the count-in (or the metronome), `delay` seconds from now.
function tick(pitch, delay = 0) {
  const at = synth.now() + delay;
  const voice = synth.voice(pitch, 50, at);
  synth.release(voice, at + 0.05);
  synth.scheduled.add(voice);
}

async function extendFreePlay() {
  clearTimeout(state.duetTimer);
  if (!readSettings()) return;
  clearError();
  if (!$("duet").checked) stop();
  const free = state.free;
  if (free.active && free.count) {
    const origin = free.origin;
    const notes = free.finish(now() - origin);
    const end = Math.max(...notes.map((n) => n.end));
    const take = newTake(notes, end, $("duet").checked ? "duet" : "free play");
    state.clocks.set(take.id, origin);
    await extendTake(take, { fresh: true });
  } else if (state.current && !state.current.input.length) {
    const take = state.current;
    if (take.audio && !take.edited) await hearTake(take);  // a recording the server did not hear: try again
    else showError("This take has no notes left: sing or play a phrase, or choose another take.");
  } else if (state.current) {
    const take = state.current;  // nothing new played: more ideas for the phrase on screen (edited or not)
    if (!take.extensions.length) await extendTake(take, { fresh: false });  // a take that failed before: try it again
    else await extendTake(newTake(take.input, take.inputSeconds, take.source, take), { fresh: false });
  } else {
    showError("Play something first: click the keys, type A S D F…, or use a MIDI keyboard.");
  }
}

async function extendAgain() {
  const take = state.current;
  if (!take || !take.extensions.length || !readSettings()) return;
  const continuation = take.extensions[take.chosen].map((n) => ({ ...shift(n, take.inputSeconds), by: "segue" }));
  const next = newTake([...take.input, ...continuation], take.inputSeconds + take.seconds, "extend again", take);
  await extendTake(next, { fresh: false });
}

// The last file opened, so that another of its tracks can be read as the melody.
let openedFile = null;

async function uploadFile(file, track = null) {
  if (!readSettings()) return;
  clearError();
  stop();
  if (!/\.(mid|midi)$/i.test(file.name) && file.type !== "audio/midi") {
    showError(`${file.name} is not a MIDI file: choose one saved as a Standard MIDI File (.mid or .midi).`);
    return;
  }
  try {
    const melody = await readMidi(file, track);
    openedFile = file;
    showTracks(melody.tracks, melody.track);
    const take = newTake(melody.notes, melody.input_seconds, track === null ? file.name : `${file.name}, track ${track}`);
    take.bpm = melody.bpm ?? melody.estimated_bpm ?? null;
    take.timeSignature = melody.time_signature ?? null;
    await extendTake(take, { fresh: true });
  } catch (error) {
    showError(`Could not open ${file.name}: ${error.message}`);
  }
}

// A file of several tracks: which one the melody came from, and a choice of the others.
function showTracks(tracks, chosen) {
  const select = $("track");
  select.replaceChildren(...tracks.map((number) => new Option(`track ${number}`, String(number), false, number === chosen)));
  $("track-choice").hidden = tracks.length < 2;
}

function shift(note, seconds) {
  return { ...note, start: note.start + seconds, end: note.end + seconds };
}

// ---- settings ---------------------------------------------------------------------------------

const FIELD_LABELS = { seconds: "Continue (s)", variations: "Variations", seed: "Seed", "record-seconds": "Record (s)", bpm: "Tempo (bpm)" };

// Every setting, checked against the server's limits; null (and the reason shown by the field)
// when one is not usable, so nothing is sent.
function readSettings() {
  const problems = [];
  const number = (id, low, high, { whole = false } = {}) => {
    const field = $(id);
    const text = field.value.trim();
    const value = Number(text);
    const ok = text !== "" && Number.isFinite(value) && value >= low && value <= high && (!whole || Number.isInteger(value));
    field.setAttribute("aria-invalid", String(!ok));
    if (!ok) problems.push(`${FIELD_LABELS[id]} must be ${whole ? "a whole number" : "a number"} from ${low} to ${high}`);
    return value;
  };
  const seedField = $("seed");
  const seedText = seedField.value.trim();
  const seedMax = Math.min(limits.seed, Number.MAX_SAFE_INTEGER);  // larger ones would not survive a JavaScript number
  const seedOk = seedText === "" || (/^\d+$/.test(seedText) && BigInt(seedText) <= BigInt(seedMax));
  seedField.setAttribute("aria-invalid", String(!seedOk));
  if (!seedOk) problems.push(`Seed must be empty (random) or a whole number from 0 to ${seedMax}`);
  const settings = {
    seconds: number("seconds", 1, Math.min(limits.seconds, 60)),
    variations: number("variations", 1, limits.variations, { whole: true }),
    recordSeconds: number("record-seconds", 1, 30),
    bpm: number("bpm", 40, 220),
    seed: seedOk && seedText !== "" ? Number(seedText) : null,
    temperature: Number($("temperature").value),
    key: $("key").value || null,
  };
  const box = $("settings-error");
  box.hidden = !problems.length;
  box.textContent = problems.map((p) => `${p}.`).join(" ");
  return problems.length ? null : settings;
}

function applyLimits(server) {
  if (!server) return;
  limits.seconds = server.seconds;
  limits.variations = server.variations;
  limits.seed = server.seed;
  limits.inputNotes = server.input_notes;
  $("seconds").max = String(Math.min(server.seconds, 60));
  $("variations").max = String(server.variations);
  $("temperature").max = String(Math.min(server.temperature, 2));
  limits.topP = server.defaults.top_p;
  if (!state.current) {  // a take brought back keeps its own settings
    $("seconds").value = String(server.defaults.seconds);
    $("variations").value = String(server.defaults.variations);
    $("temperature").value = String(server.defaults.temperature);
    $("temperature-value").textContent = Number(server.defaults.temperature).toFixed(1);
  }
}

// ---- takes ------------------------------------------------------------------------------------

function newTake(notes, inputSeconds, source, from = null) {
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
    bpm: from?.bpm ?? null,
    timeSignature: from?.timeSignature ?? null,
    audio: from?.audio ?? null,  // the id of the sung recording the phrase starts with, if any
    tuningCents: from?.tuningCents ?? null,  // how far from A440 it was sung
    edited: from?.edited ?? false,  // notes changed by hand: the recording no longer sings them
  };
}

// A take of new notes is saved before its continuation is asked for: if the server fails, it is
// kept. A take made from one already kept (more ideas, extend again) is saved only once answered,
// and a failure leaves the last continuation on screen.
async function extendTake(take, { fresh }) {
  const settings = readSettings();
  if (!settings) return;
  const before = state.current;
  if (fresh) remember(take);
  showTake(take);
  setMode("extending");
  $("model-status").textContent = "Writing the continuation…";
  try {
    const answer = await extendNotes({
      notes: take.input,
      input_seconds: take.inputSeconds,
      seconds: settings.seconds,
      temperature: settings.temperature,
      top_p: limits.topP,
      seed: settings.seed,
      variations: settings.variations,
      key: settings.key,
    });
    Object.assign(take, {
      extensions: answer.extensions.map((e) => e.notes),
      chosen: 0,
      inputSeconds: answer.input_seconds,
      seconds: answer.seconds,
      seed: answer.seed,
      temperature: settings.temperature,
      key: settings.key,
      bpm: take.bpm ?? answer.bpm ?? null,
      model: `${answer.model.name} ${answer.model.version}`,
      elapsedMs: answer.elapsed_ms,
    });
    remember(take);
    showTake(take);
    phraseStatus("");
    $("model-status").textContent = `Continued in ${Math.round(answer.elapsed_ms)} ms (seed ${answer.seed})`;
    setMode("idle");
    play(true);
  } catch (error) {
    setMode("idle");
    $("model-status").textContent = "";
    if (!fresh) showTake(before);
    showError(`${error.message}${fresh ? " Your phrase is kept in Takes." : ""}`);
  }
}

function remember(take) {
  state.takes = [take, ...state.takes.filter((t) => t.id !== take.id)];
  if (!saveTakes(state.takes)) showError("This browser refused to store the take (storage full or private mode); download it to keep it.");
  renderHistory();
}

function showTake(take) {
  // A sung take plays its voice first, unless its notes were edited away from what was sung.
  if (take?.id !== state.current?.id) $("play-voice").checked = !take?.edited;
  $("play-voice-toggle").hidden = !take?.audio;
  state.current = take;
  cancelAnimationFrame(state.liveFrame);
  if (!take) {
    roll.show([], 0, [], 0);
  } else {
    roll.show(take.input, take.inputSeconds, take.extensions[take.chosen] || [], take.seconds);
  }
  const picker = $("variation-picker");
  picker.replaceChildren();
  if (take && take.extensions.length > 1) {
    take.extensions.forEach((_, index) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = String(index + 1);
      button.setAttribute("aria-label", `Variation ${index + 1}`);
      button.setAttribute("aria-pressed", String(index === take.chosen));
      button.addEventListener("click", () => {
        take.chosen = index;
        remember(take);
        showTake(take);
        play(true);
      });
      picker.append(button);
    });
  }
  $("tempo").textContent = take?.bpm ? `≈ ${Math.round(take.bpm)} bpm` : "";
  renderHistory();
  setMode(state.mode);
}

function describeTake(take, number) {
  const time = new Date(take.created).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const continuation = take.extensions.length ? `${take.extensions[take.chosen].length} notes` : "not continued";
  const settings = take.extensions.length
    ? ` · T ${Number(take.temperature ?? 1).toFixed(1)} · seed ${take.seed} · key ${take.key ?? "off"}` : "";
  const input = take.input.length || !take.audio ? String(take.input.length) : `${take.inputSeconds.toFixed(1)} s recording`;
  return `#${number} ${time} · ${take.source}${take.edited ? " (edited)" : ""} · ${input} → ${continuation}${settings}`;
}

function renderHistory() {
  const list = $("history");
  list.replaceChildren();
  state.takes.forEach((take, index) => {
    const number = state.takes.length - index;
    const item = document.createElement("li");
    item.dataset.id = take.id;
    const open = document.createElement("button");
    open.type = "button";
    open.className = "take";
    open.textContent = describeTake(take, number);
    open.setAttribute("aria-current", String(take.id === state.current?.id));
    open.addEventListener("click", () => openTake(take));
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "delete";
    remove.textContent = "×";
    remove.setAttribute("aria-label", `Delete take #${number}`);
    remove.addEventListener("click", () => deleteTake(take, number));
    item.append(open, remove);
    list.append(item);
  });
}

// Bring a take back: on screen, with the settings it was made with.
function openTake(take) {
  stop();
  showTake(take);
  if (take.extensions.length) {
    $("temperature").value = String(take.temperature ?? 1);
    $("temperature-value").textContent = Number(take.temperature ?? 1).toFixed(1);
    $("seed").value = take.seed === undefined || take.seed === null ? "" : String(take.seed);
    $("key").value = take.key ?? "";
    $("seconds").value = String(take.seconds);
    $("variations").value = String(take.extensions.length);
    readSettings();
  }
  if (take.audio && !take.input.length && !take.edited) phraseStatus("This recording was not heard as notes yet: press Extend to try again.");
  $("roll").scrollIntoView({ block: "nearest", behavior: "smooth" });
}

function deleteTake(take, number) {
  const index = state.takes.findIndex((t) => t.id === take.id);
  state.takes.splice(index, 1);
  saveTakes(state.takes);
  if (state.current?.id === take.id) {
    stop();
    showTake(null);
  }
  renderHistory();
  state.deleted = { take, index };
  offerUndo(`Take #${number} deleted.`, undoDelete, () => forgetDeleted(take));
}

// The Undo bar takes back the last deletion or note edit, for UNDO_SECONDS; `ended` runs when
// the offer goes (taken up, replaced by the next or timed out).
function offerUndo(text, undo, ended = () => {}) {
  hideUndo();
  state.undoBar = { undo, ended, timer: setTimeout(hideUndo, UNDO_SECONDS * 1000) };
  $("undo-text").textContent = text;
  $("undo-bar").hidden = false;
}

function hideUndo() {
  const offer = state.undoBar;
  state.undoBar = null;
  $("undo-bar").hidden = true;
  if (!offer) return;
  clearTimeout(offer.timer);
  offer.ended();
}

function undoDelete() {
  const deleted = state.deleted;
  if (!deleted) return;
  state.deleted = null;
  state.takes.splice(Math.min(deleted.index, state.takes.length), 0, deleted.take);
  saveTakes(state.takes);
  hideUndo();
  showTake(deleted.take);
}

// A deleted take that can no longer be brought back (or has been): its recording may go unless used.
function forgetDeleted(take) {
  if (state.deleted?.take === take) state.deleted = null;
  if (take.audio) forgetUnusedRecordings();
}

// ---- playback ---------------------------------------------------------------------------------

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor(sorted.length / 2)] : null;
}

// When a continuation answered live should start (performance seconds): where the phrase ends, or,
// when the answer came later than that, on the next beat of the phrase's pulse.
function inTime(take) {
  const clock = state.clocks.get(take.id);
  if (clock === undefined) return null;
  const onsets = take.input.map((n) => n.start);
  const pulse = take.bpm ? 60 / take.bpm : median(onsets.slice(1).map((t, i) => t - onsets[i]).filter((g) => g > 0.05)) || 0.5;
  const end = clock + take.inputSeconds;
  const earliest = now() + PLAYBACK_LEAD;
  const beats = end >= earliest ? 0 : Math.ceil((earliest - end) / pulse);
  Object.assign(document.body.dataset, { phraseEnd: String(end), pulse: String(pulse), startBeats: String(beats) });
  return end + beats * pulse;
}

// Play the take shown: only its continuation (right after extending: in time with the phrase where
// it was played live), or the phrase and then it. A sung phrase is heard as it was sung (unless
// "Play my voice" is off), with Segue's notes on the synth from where the recording ends.
async function play(continuationOnly = false) {
  const take = state.current;
  if (!take) return;
  stop();
  let voice = null;
  if (!continuationOnly && take.audio && $("play-voice").checked) {
    voice = await voiceOf(take);
    if (state.current !== take || state.playback || !(state.mode === "idle" || state.mode === "playing")) return;
    if (!voice) phraseStatus("This take's recording is not kept in this browser any more: playing its notes instead.");
  }
  const continuation = (take.extensions[take.chosen] || []).map((n) => shift(n, take.inputSeconds));
  const shown = continuationOnly ? continuation : [...take.input, ...continuation];
  const notes = voice ? [...take.input.filter(bySegue), ...continuation] : shown;  // the voice sings the player's part
  const offset = continuationOnly ? take.inputSeconds : 0;
  const end = take.inputSeconds + take.seconds;
  const startAt = continuationOnly ? inTime(take) : null;
  const delay = startAt === null ? PLAYBACK_LEAD : startAt - now();
  const at = synth.now() + delay;
  document.body.dataset.startedAt = String(startAt === null ? "" : startAt);
  const relative = notes.map((n) => shift(n, -offset));
  // With the voice, Segue's notes are tuned to the singer: a phrase sung 30 cents flat is answered 30 cents flat.
  const cents = voice ? take.tuningCents ?? 0 : 0;
  Object.assign(document.body.dataset, { scheduled: String(synth.schedule(relative, at, cents)), cents: String(cents) });
  midi.play(relative, delay);
  let source = null;
  if (voice) {
    source = synth.context.createBufferSource();
    source.buffer = voice;
    source.connect(synth.context.destination);
    source.start(at);
  }
  document.body.dataset.voice = source ? "playing" : "";
  state.playback = { at, offset, end, notes: shown, lit: new Set(), frame: 0, voice: source };
  setMode("playing");
  const frame = () => {
    const playback = state.playback;
    if (!playback) return;
    const time = synth.context.currentTime - playback.at + playback.offset;
    const sounding = new Set(playback.notes.filter((n) => n.start <= time && time < n.end).map((n) => n.pitch));
    for (const pitch of playback.lit) if (!sounding.has(pitch)) piano.light(pitch, "echo", false);
    for (const pitch of sounding) piano.light(pitch, "echo", true);
    playback.lit = sounding;
    if (!(state.free.active && $("duet").checked && state.free.count)) roll.setPlayhead(Math.max(time, playback.offset));
    if (time < playback.end) playback.frame = requestAnimationFrame(frame);
    else if ($("loop").checked && state.current === take) play(false);
    else stop();
  };
  state.playback.frame = requestAnimationFrame(frame);
}

function stop() {
  const playback = state.playback;
  if (!playback) return;
  cancelAnimationFrame(playback.frame);
  for (const pitch of playback.lit) piano.light(pitch, "echo", false);
  state.playback = null;
  try { playback.voice?.stop(); } catch { /* not started */ }
  delete document.body.dataset.voice;
  synth.stopAll();
  midi.allNotesOff();
  roll.setPlayhead(null);
  if (state.mode === "playing") setMode("idle");
}

function togglePlay() {
  if (state.mode === "playing") stop(); else play(false);
}

// ---- editing the phrase -----------------------------------------------------------------------

// The player's notes of the take shown can be edited in the roll (a transcription is rarely
// perfect): the take is changed and saved, and Extend continues the edited phrase.
function editNote({ kind, index, pitch }) {
  const take = state.current;
  if (!take || !take.input[index] || bySegue(take.input[index])) return;
  stop();
  const input = [...take.input];
  const name = noteName(input[index].pitch);
  if (kind === "delete") input.splice(index, 1);
  else input[index] = { ...input[index], pitch };
  state.edits = [...state.edits.filter((edit) => edit.id === take.id), { id: take.id, input: take.input, edited: take.edited }];
  Object.assign(take, { input, edited: true });
  remember(take);
  showTake(take);
  if (kind === "pitch") roll.select(index);
  // The recording no longer sings what the roll shows: Play plays the edited notes instead.
  const voiceOff = take.audio && $("play-voice").checked;
  if (voiceOff) $("play-voice").checked = false;
  const what = kind === "delete" ? `${name} removed` : `${name} is now ${noteName(pitch)}`;
  phraseStatus(`${what}. Press Extend to continue the edited phrase.`
    + (voiceOff ? " Play now plays your edited notes (tick “Play my voice” to hear the recording)." : ""));
  offerUndo(`${what}.`, undoEdit);
}

// Take back the last note edit of the take shown (Ctrl+Z, or Undo while the bar shows): its
// notes as they were, and once every edit is undone, the recording plays again as it was sung.
function undoEdit() {
  const take = state.current;
  const last = state.edits.at(-1);
  if (!(state.mode === "idle" || state.mode === "playing")) return;
  if (!take || last?.id !== take.id) {  // another take is shown: its edits are not the ones offered
    if (state.undoBar?.undo === undoEdit) hideUndo();
    return;
  }
  state.edits.pop();
  stop();
  Object.assign(take, { input: last.input, edited: last.edited });
  remember(take);
  showTake(take);
  if (take.audio && !take.edited) $("play-voice").checked = true;
  hideUndo();
  phraseStatus(take.edited ? "Edit undone." : `Edit undone: the notes are as ${take.audio ? "Segue heard them" : "you played them"}.`);
}

roll.enableEditing({
  allowed: () => Boolean(state.current) && (state.mode === "idle" || state.mode === "playing"),
  onSelect: (note) => {
    if (note) phraseStatus(`${noteName(note.pitch)} at ${note.start.toFixed(2)} s selected: Delete removes it; drag it up or down, or press ↑ ↓, to change its pitch.`);
  },
  onEdit: editNote,
});

// ---- files ------------------------------------------------------------------------------------

const pad = (n) => String(n).padStart(2, "0");

function fileName(take, what) {
  const at = new Date(take.created);
  return `segue-${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}-${pad(at.getHours())}${pad(at.getMinutes())}-${what}.mid`;
}

async function download(withInput) {
  const take = state.current;
  if (!take || !take.extensions.length) return;
  const continuation = take.extensions[take.chosen];
  const [notes, seconds] = withInput
    ? [[...take.input, ...continuation.map((n) => shift(n, take.inputSeconds))], take.inputSeconds + take.seconds]
    : [continuation, take.seconds];
  try {
    const blob = await writeMidi(notes, seconds, {
      bpm: take.bpm ?? 120,
      time_signature: take.timeSignature ?? [4, 4],
      quantize: $("quantize").checked ? 0.25 : null,
    });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = fileName(take, withInput ? "phrase-and-continuation" : "continuation");
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

function clearAll() {
  stop();
  endSession("cancelled");
  clearTimeout(state.duetTimer);
  state.free.reset();
  showTake(null);
  phraseStatus("");
  setMode("idle");
}

function bind() {
  $("record").addEventListener("click", record);
  $("sing").addEventListener("click", sing);
  $("play-voice").addEventListener("change", () => { if (state.mode === "playing") play(false); });
  $("extend").addEventListener("click", extendFreePlay);
  $("extend-again").addEventListener("click", extendAgain);
  $("play").addEventListener("click", togglePlay);
  $("clear").addEventListener("click", clearAll);
  $("download").addEventListener("click", () => download(false));
  $("download-all").addEventListener("click", () => download(true));
  $("open-file").addEventListener("click", () => $("upload").click());
  $("upload").addEventListener("change", (event) => {
    const [file] = event.target.files;
    event.target.value = "";
    if (file) uploadFile(file);
  });
  $("track").addEventListener("change", (event) => { if (openedFile) uploadFile(openedFile, Number(event.target.value)); });
  $("undo").addEventListener("click", () => state.undoBar?.undo());
  $("octave-down").addEventListener("click", () => piano.shift(-1));
  $("octave-up").addEventListener("click", () => piano.shift(1));
  $("temperature").addEventListener("input", (event) => { $("temperature-value").textContent = Number(event.target.value).toFixed(1); });
  for (const id of ["seconds", "variations", "seed", "record-seconds", "bpm"]) $(id).addEventListener("change", readSettings);
  $("duet").addEventListener("change", () => { if (!$("duet").checked) clearTimeout(state.duetTimer); });
  $("error-close").addEventListener("click", clearError);
  // While counting in or recording, Space does nothing at all, even on a focused button: a player
  // reaching for it must not stop the take.
  for (const type of ["keydown", "keyup"]) {
    window.addEventListener(type, (event) => {
      if (event.code === "Space" && (state.mode === "countdown" || state.mode === "recording") && !writesText(event.target)) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    }, { capture: true });
  }
  window.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && !event.shiftKey && event.key.toLowerCase() === "z" && !writesText(event.target)) {
      event.preventDefault();
      undoEdit();
      return;
    }
    if (event.key === "Escape") {
      if (state.mode === "countdown" || state.mode === "recording") endSession("cancelled");
      else if (state.mode === "playing") stop();
      return;
    }
    // Space plays and stops, unless a control has focus: then it presses that control, as it
    // should (the Play button itself plays and stops). Counting in or recording, it does nothing.
    if (event.code !== "Space" || event.repeat || event.target.closest?.("input, select, textarea, button, a, [contenteditable]")) return;
    event.preventDefault();
    if (state.mode === "idle" || state.mode === "playing") togglePlay();
  });
  document.addEventListener("dragover", (event) => {
    if ([...event.dataTransfer.types].includes("Files")) {
      event.preventDefault();
      document.body.dataset.dropping = "true";
    }
  });
  document.addEventListener("dragleave", () => { delete document.body.dataset.dropping; });
  document.addEventListener("drop", (event) => {
    delete document.body.dataset.dropping;
    const [file] = event.dataTransfer?.files ?? [];
    if (!file) return;
    event.preventDefault();
    if (state.mode === "idle" || state.mode === "playing") uploadFile(file);
  });
}

async function main() {
  fillKeys();
  bind();
  showTake(state.takes[0] ?? null);
  setMode("idle");
  midi.open();
  forgetUnusedRecordings();
  try {
    const model = await modelInfo();
    applyLimits(model.limits);
    $("model-status").textContent = `Model ${model.name} (${model.cell.toUpperCase()}, ${(model.parameters / 1e6).toFixed(2)} M parameters) ready`;
  } catch (error) {
    $("model-status").textContent = "";
    showError(sentence(error.message));
  }
}

main();

export { roll };  // for the page's tests: where a note is drawn
