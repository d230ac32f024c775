// The piano roll: time across, pitch up; your notes and Segue's in two colours (through every
// "Extend again", so you can always tell who played what), a line where the phrase ends, a
// playhead during playback, and, while you play, your notes as they are played with the
// recording window marked (or, while you sing, the pitch heard, as a line). Your notes can be
// edited: click one to select it, Delete removes it, dragging it (or the arrow keys) changes its
// pitch by semitones.

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
    this.trace = [];   // [{ time, pitch }] heard while singing (pitch null: nothing pitched)
    this.selected = null;  // index in `input` of the note picked for editing
    this.drag = null;      // { pointer, index, y, row, from, pitch } while a note is dragged
    this.layout = null;    // the geometry of the last drawing, for finding notes under the pointer
    this.editing = null;
    this.colours = getComputedStyle(document.documentElement);
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  // Let the player edit their notes: `allowed()` says whether they may now; `onSelect(note|null)`
  // hears of every selection; `onEdit({ kind: "delete" | "pitch", index, pitch })` of every change,
  // which it makes (and then shows the notes again).
  enableEditing({ allowed, onSelect, onEdit }) {
    this.editing = { allowed, onSelect, onEdit };
    const canvas = this.canvas;
    const point = (event) => {
      const box = canvas.getBoundingClientRect();
      return [event.clientX - box.left, event.clientY - box.top];
    };
    canvas.addEventListener("pointerdown", (event) => {
      if (event.button !== 0 || !this.editable()) return;
      const [px, py] = point(event);
      const index = this.noteAt(px, py);
      this.select(index);
      if (index === null) return;
      event.preventDefault();  // no text selection or scrolling; the canvas takes the keys instead
      canvas.focus({ preventScroll: true });
      canvas.setPointerCapture(event.pointerId);
      const pitch = this.input[index].pitch;
      this.drag = { pointer: event.pointerId, index, y: py, row: this.layout.row, from: pitch, pitch };
    });
    canvas.addEventListener("pointermove", (event) => {
      const drag = this.drag;
      if (!drag || event.pointerId !== drag.pointer) return;
      const steps = Math.round((drag.y - point(event)[1]) / drag.row);
      const pitch = Math.min(Math.max(drag.from + steps, 0), 127);
      if (pitch !== drag.pitch) { drag.pitch = pitch; this.draw(); }
    });
    const release = (event, done) => {
      const drag = this.drag;
      if (!drag || event.pointerId !== drag.pointer) return;
      this.drag = null;
      if (done && drag.pitch !== drag.from && this.editable()) onEdit({ kind: "pitch", index: drag.index, pitch: drag.pitch });
      else this.draw();
    };
    canvas.addEventListener("pointerup", (event) => release(event, true));
    canvas.addEventListener("pointercancel", (event) => release(event, false));
    canvas.addEventListener("keydown", (event) => {
      if (!this.editable() || event.altKey || event.ctrlKey || event.metaKey) return;
      const index = this.selected;
      const mine = this.editableIndexes();
      if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
        if (!mine.length) return;
        const at = mine.indexOf(index);
        const next = at === -1 ? (event.key === "ArrowRight" ? 0 : mine.length - 1)
          : Math.min(Math.max(at + (event.key === "ArrowRight" ? 1 : -1), 0), mine.length - 1);
        this.select(mine[next]);
      } else if (index === null) {
        return;
      } else if (event.key === "Delete" || event.key === "Backspace") {
        onEdit({ kind: "delete", index });
      } else if (event.key === "ArrowUp" || event.key === "ArrowDown") {
        const step = (event.key === "ArrowUp" ? 1 : -1) * (event.shiftKey ? 12 : 1);
        const pitch = Math.min(Math.max(this.input[index].pitch + step, 0), 127);
        if (pitch !== this.input[index].pitch) onEdit({ kind: "pitch", index, pitch });
      } else if (event.key === "Escape") {
        this.select(null);
        return;  // the page's Escape (stop playing) still happens
      } else {
        return;
      }
      event.preventDefault();
      event.stopPropagation();
    });
  }

  editable() {
    return Boolean(this.editing?.allowed()) && !this.live;
  }

  // The indexes of the notes that may be edited: the player's, in time order.
  editableIndexes() {
    return this.input.map((n, i) => [n, i]).filter(([n]) => !bySegue(n))
      .sort(([a], [b]) => a.start - b.start || a.pitch - b.pitch).map(([, i]) => i);
  }

  select(index) {
    this.selected = index;
    this.canvas.dataset.selected = index === null ? "" : String(index);
    this.draw();
    this.editing?.onSelect(index === null ? null : this.input[index]);
  }

  // Where a note of the input is drawn, in CSS pixels from the canvas's top left; null when it is not.
  noteBox(index) {
    const layout = this.layout;
    const note = this.input[index];
    if (!layout || !note) return null;
    const left = layout.x(note.start);
    return { x: left, y: layout.y(note.pitch) + 0.5, width: Math.max(layout.x(note.end) - left - 1, 2),
      height: Math.max(layout.row - 1, 2) };
  }

  // The player's note under a point (CSS pixels), a little leeway around small notes; null if none.
  noteAt(px, py) {
    let found = null;
    for (const index of this.editableIndexes()) {
      const box = this.noteBox(index);
      const pad = Math.max(0, (8 - box.height) / 2);
      if (px >= box.x - 2 && px <= box.x + box.width + 2 && py >= box.y - pad && py <= box.y + box.height + pad) found = index;
    }
    return found;
  }

  // input: notes from 0; continuation: notes from 0 where the input ends.
  show(input, inputSeconds, continuation, seconds) {
    this.input = input;
    this.inputSeconds = inputSeconds;
    this.continuation = continuation;
    this.seconds = seconds;
    this.live = null;
    this.trace = [];
    this.drag = null;
    this.selected = null;
    this.canvas.dataset.selected = "";
    this.canvas.dataset.trace = "0";
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
  // recording's length (null in free play); `trace`, the pitch heard while singing.
  showLive(notes, window, now, trace = null) {
    this.input = notes;
    this.continuation = [];
    this.inputSeconds = window ?? now;
    this.seconds = 0;
    this.live = { window, now };
    this.trace = trace ?? [];
    this.drag = null;
    this.selected = null;
    const pitched = this.trace.filter((p) => p.pitch !== null).length;
    this.canvas.dataset.trace = String(pitched);
    this.canvas.dataset.inputNotes = String(notes.length);
    this.canvas.dataset.continuationNotes = "0";
    this.canvas.dataset.live = window === null ? "free" : "recording";
    this.canvas.setAttribute("aria-label", trace ? `Piano roll: singing, pitch heard in ${pitched} moments so far`
      : `Piano roll: playing, ${describe(notes)} so far`);
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

    const drag = this.drag;
    const input = drag ? this.input.map((n, i) => (i === drag.index ? { ...n, pitch: drag.pitch } : n)) : this.input;
    const all = [...input, ...this.continuation, ...this.trace.filter((p) => p.pitch !== null)];
    const live = this.live;
    const total = Math.max(this.inputSeconds + this.seconds, live ? Math.max(live.window ?? 0, live.now + 1) : 0, 5);
    let low = Math.floor(Math.min(...all.map((n) => n.pitch), 60)) - 2;
    let high = Math.ceil(Math.max(...all.map((n) => n.pitch), 72)) + 2;
    if (high - low < 24) { const pad = (24 - (high - low)) / 2; low -= Math.ceil(pad); high += Math.floor(pad); }
    const left = 34;
    const x = (t) => left + (t / total) * (width - left - 6);
    const row = (height - 16) / (high - low + 1);
    const y = (pitch) => 4 + (high - pitch) * row;
    this.layout = { x, y, row };

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
    paint(input, 0, (n) => (bySegue(n) ? segues : yours));
    paint(this.continuation, this.inputSeconds, () => segues);
    if (this.selected !== null && input[this.selected]) {
      const box = this.noteBox(this.selected);
      const pitch = input[this.selected].pitch;
      const top = y(pitch) + 0.5;
      g.strokeStyle = this.colours.getPropertyValue("--ink").trim() || "#1d2330";
      g.lineWidth = 2;
      g.strokeRect(box.x - 1.5, top - 1.5, box.width + 3, box.height + 3);
      g.lineWidth = 1;
      g.fillStyle = LABEL;
      g.fillText(noteName(pitch), Math.min(box.x + box.width + 4, width - 30), top + row - 1);
    }
    if (this.trace.length) {  // the pitch heard while singing, as a line broken where nothing is pitched
      g.strokeStyle = yours;
      g.lineWidth = 2.5;
      g.lineJoin = "round";
      g.beginPath();
      let drawing = false;
      let last = null;
      for (const point of this.trace) {
        const fresh = point.pitch === null || last === null || point.time - last.time > 0.12 || Math.abs(point.pitch - last.pitch) > 7;
        if (point.pitch !== null) {
          const py = y(point.pitch) + row / 2;
          if (fresh || !drawing) g.moveTo(x(point.time), py); else g.lineTo(x(point.time), py);
          if (fresh) g.lineTo(x(point.time) + 1.5, py);  // a lone frame still shows as a dot
          drawing = true;
        } else {
          drawing = false;
        }
        last = point.pitch === null ? null : point;
      }
      g.stroke();
      g.lineWidth = 1;
    }
    const line = this.playhead ?? live?.now ?? null;
    if (line !== null) {
      g.strokeStyle = "#c8372d";
      g.lineWidth = 2;
      g.beginPath(); g.moveTo(x(line), 0); g.lineTo(x(line), height - 12); g.stroke();
      g.lineWidth = 1;
    }
  }
}
