// The piano roll: time across, pitch up; your notes and Segue's in two colours (through every
// "Extend again", so you can always tell who played what), a line where the phrase ends, a
// playhead during playback, and, while you play, your notes as they are played with the
// recording window marked.

const NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
const LABEL = "#4a4f5a";  // 8:1 on white: axis labels stay readable

export function noteName(pitch) {
  return `${NAMES[pitch % 12]}${Math.floor(pitch / 12) - 1}`;
}

// Notes Segue wrote carry by: "segue"; notes without it are the player's.
export const bySegue = (note) => note.by === "segue";

function describe(notes) {
  if (!notes.length) return "no notes";
  const pitches = notes.map((n) => n.pitch);
  return `${notes.length} note${notes.length > 1 ? "s" : ""} from ${noteName(Math.min(...pitches))} to ${noteName(Math.max(...pitches))}`;
}

export class PianoRoll {
  constructor(canvas) {
    this.canvas = canvas;
    this.input = [];
    this.continuation = [];
    this.inputSeconds = 0;
    this.seconds = 0;
    this.playhead = null;
    this.live = null;  // { window, now } while notes are being played into the roll
    this.colours = getComputedStyle(document.documentElement);
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  // input: notes from 0; continuation: notes from 0 where the input ends.
  show(input, inputSeconds, continuation, seconds) {
    this.input = input;
    this.inputSeconds = inputSeconds;
    this.continuation = continuation;
    this.seconds = seconds;
    this.live = null;
    this.canvas.dataset.inputNotes = String(input.length);
    this.canvas.dataset.continuationNotes = String(continuation.length);
    this.canvas.dataset.live = "";
    const yours = input.filter((n) => !bySegue(n));
    const earlier = input.length - yours.length;
    this.canvas.setAttribute("aria-label", input.length || continuation.length
      ? `Piano roll: your phrase, ${describe(yours)}${earlier ? `, with ${earlier} notes Segue wrote before` : ""}, `
        + `over ${inputSeconds.toFixed(1)} s; Segue's continuation, ${describe(continuation)}, over ${seconds.toFixed(1)} s`
      : "Piano roll: empty");
    this.draw();
  }

  // Notes being played (held ones end at `now`), timed from the phrase's start; `window` marks a
  // recording's length (null in free play).
  showLive(notes, window, now) {
    this.input = notes;
    this.continuation = [];
    this.inputSeconds = window ?? now;
    this.seconds = 0;
    this.live = { window, now };
    this.canvas.dataset.inputNotes = String(notes.length);
    this.canvas.dataset.continuationNotes = "0";
    this.canvas.dataset.live = window === null ? "free" : "recording";
    this.canvas.setAttribute("aria-label", `Piano roll: playing, ${describe(notes)} so far`);
    this.draw();
  }

  setPlayhead(time) {
    this.playhead = time;
    this.canvas.dataset.playhead = time === null ? "" : time.toFixed(2);
    this.draw();
  }

  draw() {
    const canvas = this.canvas;
    const scale = window.devicePixelRatio || 1;
    const width = canvas.clientWidth, height = canvas.clientHeight;
    if (canvas.width !== Math.round(width * scale)) canvas.width = Math.round(width * scale);
    if (canvas.height !== Math.round(height * scale)) canvas.height = Math.round(height * scale);
    const g = canvas.getContext("2d");
    g.setTransform(scale, 0, 0, scale, 0, 0);
    g.clearRect(0, 0, width, height);

    const all = [...this.input, ...this.continuation];
    const live = this.live;
    const total = Math.max(this.inputSeconds + this.seconds, live ? Math.max(live.window ?? 0, live.now + 1) : 0, 5);
    let low = Math.min(...all.map((n) => n.pitch), 60) - 2;
    let high = Math.max(...all.map((n) => n.pitch), 72) + 2;
    if (high - low < 24) { const pad = (24 - (high - low)) / 2; low -= Math.ceil(pad); high += Math.floor(pad); }
    const left = 34;
    const x = (t) => left + (t / total) * (width - left - 6);
    const row = (height - 16) / (high - low + 1);
    const y = (pitch) => 4 + (high - pitch) * row;

    if (live && live.window !== null) {  // the recording window
      g.fillStyle = "#fdecea";
      g.fillRect(x(0), 0, x(live.window) - x(0), height - 12);
    }
    g.font = "11px system-ui, sans-serif";
    for (let pitch = low; pitch <= high; pitch++) {
      if (pitch % 12 === 0) {
        g.fillStyle = "#eeeae2";
        g.fillRect(left, y(pitch), width - left, row);
        g.fillStyle = LABEL;
        g.fillText(noteName(pitch), 2, y(pitch) + row - 1);
      }
    }
    g.strokeStyle = "#e4e1da";
    g.fillStyle = LABEL;
    const step = total > 40 ? 5 : total > 20 ? 2 : 1;
    for (let second = 0; second <= total; second += step) {
      g.beginPath(); g.moveTo(x(second), 0); g.lineTo(x(second), height - 12); g.stroke();
      if (x(second) + 24 < width) g.fillText(`${second}s`, x(second) + 2, height - 2);
    }
    if (this.continuation.length || this.seconds) {
      g.strokeStyle = "#6b6f78";
      g.setLineDash([4, 3]);
      g.beginPath(); g.moveTo(x(this.inputSeconds), 0); g.lineTo(x(this.inputSeconds), height - 12); g.stroke();
      g.setLineDash([]);
    }
    const yours = this.colours.getPropertyValue("--input").trim() || "#2f6fc6";
    const segues = this.colours.getPropertyValue("--continuation").trim() || "#b35f00";
    const paint = (notes, offset, colour) => {
      for (const n of notes) {
        g.fillStyle = colour(n);
        const w = Math.max(x(n.end + offset) - x(n.start + offset) - 1, 2);
        g.globalAlpha = 0.55 + 0.45 * (n.velocity / 127);
        g.fillRect(x(n.start + offset), y(n.pitch) + 0.5, w, Math.max(row - 1, 2));
      }
      g.globalAlpha = 1;
    };
    paint(this.input, 0, (n) => (bySegue(n) ? segues : yours));
    paint(this.continuation, this.inputSeconds, () => segues);
    const line = this.playhead ?? live?.now ?? null;
    if (line !== null) {
      g.strokeStyle = "#c8372d";
      g.lineWidth = 2;
      g.beginPath(); g.moveTo(x(line), 0); g.lineTo(x(line), height - 12); g.stroke();
      g.lineWidth = 1;
    }
  }
}
