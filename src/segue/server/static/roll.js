// The piano roll: time across, pitch up; the phrase and its continuation in two colours, a line
// where the phrase ends, and a playhead during playback.

const NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];

export function noteName(pitch) {
  return `${NAMES[pitch % 12]}${Math.floor(pitch / 12) - 1}`;
}

export class PianoRoll {
  constructor(canvas) {
    this.canvas = canvas;
    this.input = [];
    this.continuation = [];
    this.inputSeconds = 0;
    this.seconds = 0;
    this.playhead = null;
    this.colours = getComputedStyle(document.documentElement);
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  // input: notes from 0; continuation: notes from 0 where the input ends.
  show(input, inputSeconds, continuation, seconds) {
    this.input = input;
    this.inputSeconds = inputSeconds;
    this.continuation = continuation;
    this.seconds = seconds;
    this.canvas.dataset.inputNotes = String(input.length);
    this.canvas.dataset.continuationNotes = String(continuation.length);
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
    const total = Math.max(this.inputSeconds + this.seconds, 5);
    let low = Math.min(...all.map((n) => n.pitch), 60) - 2;
    let high = Math.max(...all.map((n) => n.pitch), 72) + 2;
    if (high - low < 24) { const pad = (24 - (high - low)) / 2; low -= Math.ceil(pad); high += Math.floor(pad); }
    const left = 34;
    const x = (t) => left + (t / total) * (width - left - 6);
    const row = (height - 16) / (high - low + 1);
    const y = (pitch) => 4 + (high - pitch) * row;

    g.font = "10px system-ui, sans-serif";
    for (let pitch = low; pitch <= high; pitch++) {
      if (pitch % 12 === 0) {
        g.fillStyle = "#eeeae2";
        g.fillRect(left, y(pitch), width - left, row);
        g.fillStyle = "#888";
        g.fillText(noteName(pitch), 2, y(pitch) + row - 1);
      }
    }
    g.strokeStyle = "#e4e1da";
    g.fillStyle = "#999";
    for (let second = 0; second <= total; second++) {
      g.beginPath(); g.moveTo(x(second), 0); g.lineTo(x(second), height - 12); g.stroke();
      if (x(second) + 24 < width) g.fillText(`${second}s`, x(second) + 2, height - 2);
    }
    if (this.continuation.length || this.seconds) {
      g.strokeStyle = "#888";
      g.setLineDash([4, 3]);
      g.beginPath(); g.moveTo(x(this.inputSeconds), 0); g.lineTo(x(this.inputSeconds), height - 12); g.stroke();
      g.setLineDash([]);
    }
    const paint = (notes, offset, colour) => {
      g.fillStyle = colour;
      for (const n of notes) {
        const w = Math.max(x(n.end + offset) - x(n.start + offset) - 1, 2);
        g.globalAlpha = 0.45 + 0.55 * (n.velocity / 127);
        g.fillRect(x(n.start + offset), y(n.pitch) + 0.5, w, Math.max(row - 1, 2));
      }
      g.globalAlpha = 1;
    };
    paint(this.input, 0, this.colours.getPropertyValue("--input").trim() || "#3d7dd8");
    paint(this.continuation, this.inputSeconds, this.colours.getPropertyValue("--continuation").trim() || "#ee8a1f");
    if (this.playhead !== null) {
      g.strokeStyle = "#c8372d";
      g.lineWidth = 2;
      g.beginPath(); g.moveTo(x(this.playhead), 0); g.lineTo(x(this.playhead), height - 12); g.stroke();
      g.lineWidth = 1;
    }
  }
}
