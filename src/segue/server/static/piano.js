// The on-screen piano (mouse and touch) and the computer keyboard as a piano.

import { noteName } from "./roll.js";

const BLACK = new Set([1, 3, 6, 8, 10]);
// Physical key codes, so the layout works on any keyboard language: a row of white keys with the
// black keys above it, as on a piano.
const KEY_CODES = ["KeyA", "KeyW", "KeyS", "KeyE", "KeyD", "KeyF", "KeyT", "KeyG", "KeyY", "KeyH", "KeyU",
  "KeyJ", "KeyK", "KeyO", "KeyL", "KeyP", "Semicolon", "Quote"];
const KEYBOARD_VELOCITY = 90;
const MIN_WHITE_KEY_PX = 44;  // a comfortable touch target
// Typing plays the piano everywhere except where typing writes text; a focused select, slider or
// checkbox does not swallow the letters (nor does a number box: letters are not numbers).
const TEXT_ENTRY = "textarea, [contenteditable], input:not([type]), input[type=text], input[type=search], "
  + "input[type=email], input[type=url], input[type=password]";

export function writesText(target) {
  return Boolean(target?.closest?.(TEXT_ENTRY));
}

export class Piano {
  // onDown(pitch, velocity) and onUp(pitch) are called for every key pressed and released.
  constructor(element, { low = 48, high = 84, onDown, onUp, onOctave }) {
    this.element = element;
    this.widest = [low, high];  // the range on a wide screen; a narrow one shows fewer keys, each wide enough to touch
    this.low = low;
    this.high = high;
    this.onDown = onDown;
    this.onUp = onUp;
    this.onOctave = onOctave;
    this.base = 60;              // the pitch under the computer's A key
    this.keys = new Map();       // pitch -> element
    this.pointers = new Map();   // pointerId -> pitch
    this.typed = new Map();      // key code -> pitch, so a release ends the pitch it started
    this.fit();
    this.listen();
    new ResizeObserver(() => this.fit()).observe(element);
  }

  // The whole range where it fits with keys at least MIN_WHITE_KEY_PX wide; on a narrower screen,
  // as many octaves as fit, from the one the computer keyboard plays.
  fit() {
    const [low, high] = this.widest;
    const whites = this.element.clientWidth / MIN_WHITE_KEY_PX;  // an octave is 7 white keys, plus the top one
    const octaves = Math.max(1, Math.floor((whites - 1) / 7));
    const [from, to] = octaves * 12 >= high - low ? [low, high] : [this.base, this.base + octaves * 12];
    if (from === this.low && to === this.high && this.keys.size) return;
    [this.low, this.high] = [from, to];
    this.build();
  }

  build() {
    this.element.replaceChildren();
    this.keys.clear();
    const whites = [];
    for (let pitch = this.low; pitch <= this.high; pitch++) {
      const key = document.createElement("div");
      key.className = `key ${BLACK.has(pitch % 12) ? "black" : "white"}`;
      key.dataset.pitch = String(pitch);
      key.setAttribute("role", "button");
      key.setAttribute("aria-label", noteName(pitch));
      if (!BLACK.has(pitch % 12)) whites.push(key);
      this.keys.set(pitch, key);
      this.element.append(key);
    }
    const whiteWidth = 100 / whites.length;
    let index = 0;
    for (let pitch = this.low; pitch <= this.high; pitch++) {
      if (BLACK.has(pitch % 12)) {
        const key = this.keys.get(pitch);
        key.style.left = `${(index - 0.35) * whiteWidth}%`;
        key.style.width = `${whiteWidth * 0.7}%`;
      } else {
        index++;
      }
    }
    this.label();
  }

  label() {
    for (const key of this.keys.values()) key.textContent = "";
    KEY_CODES.forEach((code, offset) => {
      const key = this.keys.get(this.base + offset);
      if (key) key.textContent = code.replace("Key", "").replace("Semicolon", ";").replace("Quote", "'");
    });
    if (this.onOctave) this.onOctave(noteName(this.base));
  }

  // Move the computer keyboard (and, on a narrow screen, the keys shown) an octave down (-1) or up (+1).
  shift(octaves) {
    this.base = Math.min(Math.max(this.base + 12 * octaves, 24), 96);
    this.fit();
    this.label();
  }

  listen() {
    this.element.addEventListener("pointerdown", (event) => {
      const key = event.target.closest(".key");
      if (!key) return;
      event.preventDefault();
      this.element.setPointerCapture?.(event.pointerId);
      this.press(event.pointerId, key, event);
    });
    this.element.addEventListener("pointermove", (event) => {
      if (!this.pointers.has(event.pointerId)) return;
      const key = document.elementFromPoint(event.clientX, event.clientY)?.closest(".key");
      if (key && Number(key.dataset.pitch) !== this.pointers.get(event.pointerId)) {
        this.lift(event.pointerId);
        this.press(event.pointerId, key, event);  // a glissando across the keys
      }
    });
    for (const type of ["pointerup", "pointercancel"]) {
      this.element.addEventListener(type, (event) => this.lift(event.pointerId));
    }
    window.addEventListener("keydown", (event) => this.keyDown(event));
    window.addEventListener("keyup", (event) => this.keyUp(event));
    window.addEventListener("blur", () => {  // a key released in another window would stick
      for (const code of [...this.typed.keys()]) this.keyUp({ code });
    });
  }

  press(pointerId, key, event) {
    const pitch = Number(key.dataset.pitch);
    const box = key.getBoundingClientRect();
    // Struck lower on the key is louder, as on a real one.
    const depth = Math.min(Math.max((event.clientY - box.top) / box.height, 0), 1);
    this.pointers.set(pointerId, pitch);
    this.onDown(pitch, Math.round(45 + 75 * depth));
  }

  lift(pointerId) {
    const pitch = this.pointers.get(pointerId);
    if (pitch === undefined) return;
    this.pointers.delete(pointerId);
    this.onUp(pitch);
  }

  keyDown(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || writesText(event.target)) return;
    const offset = KEY_CODES.indexOf(event.code);
    if (offset < 0 && event.code !== "KeyZ" && event.code !== "KeyX") return;
    event.preventDefault();  // a focused select would jump to an option starting with the letter
    if (event.repeat) return;
    if (event.code === "KeyZ" || event.code === "KeyX") {
      this.shift(event.code === "KeyZ" ? -1 : 1);
      return;
    }
    if (this.typed.has(event.code)) return;
    const pitch = this.base + offset;
    this.typed.set(event.code, pitch);
    this.onDown(pitch, KEYBOARD_VELOCITY);
  }

  keyUp(event) {
    const pitch = this.typed.get(event.code);
    if (pitch === undefined) return;
    this.typed.delete(event.code);
    this.onUp(pitch);
  }

  // Light a key: "down" while the player holds it, "echo" while playback sounds it.
  light(pitch, how, on) {
    this.keys.get(pitch)?.classList.toggle(how, on);
  }
}
