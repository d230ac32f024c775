// Web MIDI: any connected keyboard as input, and an optional output to a synth. Devices can be
// plugged in and out while the page is open.

export class MidiPorts {
  // onUnavailable(reason) is called once if the browser gives no MIDI access, so the page can say why.
  constructor(inputSelect, outputSelect, { onDown, onUp, onStatus, onUnavailable }) {
    this.inputSelect = inputSelect;
    this.outputSelect = outputSelect;
    this.onDown = onDown;
    this.onUp = onUp;
    this.onStatus = onStatus;
    this.onUnavailable = onUnavailable;
    this.access = null;
  }

  async open() {
    if (!navigator.requestMIDIAccess) {
      this.disable("Web MIDI is not available in this browser (Chrome and Edge have it)");
      return;
    }
    try {
      this.access = await navigator.requestMIDIAccess();
    } catch (error) {
      this.disable(`MIDI devices are not available: ${error.message || error.name}`);
      return;
    }
    this.access.onstatechange = () => this.refresh();
    this.inputSelect.addEventListener("change", () => this.connect());
    this.outputSelect.addEventListener("change", () => this.allNotesOff());
    this.refresh();
  }

  disable(reason) {
    for (const select of [this.inputSelect, this.outputSelect]) {
      select.disabled = true;
      select.title = reason;
    }
    this.onUnavailable?.(reason);
  }

  refresh() {
    fill(this.inputSelect, this.access.inputs, "any keyboard");
    fill(this.outputSelect, this.access.outputs, "none");
    this.connect();
    const count = this.access.inputs.size;
    this.onStatus?.(count ? `${count} MIDI input${count > 1 ? "s" : ""} connected` : "");
  }

  connect() {
    const chosen = this.inputSelect.value;
    for (const input of this.access.inputs.values()) {
      input.onmidimessage = !chosen || input.id === chosen ? (message) => this.receive(message) : null;
    }
  }

  receive({ data }) {
    const [status, pitch, velocity] = data;
    const type = status & 0xf0;
    if ((status & 0x0f) === 9) return;  // the drum channel plays no melody
    if (type === 0x90 && velocity > 0) this.onDown(pitch, velocity);
    else if (type === 0x80 || type === 0x90) this.onUp(pitch);
  }

  output() {
    return this.access && this.outputSelect.value ? this.access.outputs.get(this.outputSelect.value) : null;
  }

  // Send notes (seconds from now) to the chosen output, timed by the MIDI clock.
  play(notes, delaySeconds = 0) {
    const out = this.output();
    if (!out) return;
    const start = performance.now() + delaySeconds * 1000;
    for (const note of notes) {
      out.send([0x90, note.pitch, note.velocity], start + note.start * 1000);
      out.send([0x80, note.pitch, 0], start + note.end * 1000);
    }
  }

  noteOn(pitch, velocity) {
    const out = this.output();
    if (out) out.send([0x90, pitch, velocity]);
  }

  noteOff(pitch) {
    const out = this.output();
    if (out) out.send([0x80, pitch, 0]);
  }

  // Silence the output: drop queued notes and send all-notes-off, so nothing sticks.
  allNotesOff() {
    if (!this.access) return;
    for (const out of this.access.outputs.values()) {
      out.clear?.();
      out.send([0xb0, 123, 0]);
    }
  }
}

function fill(select, ports, noneLabel) {
  const chosen = select.value;
  select.replaceChildren(new Option(noneLabel, ""));
  for (const port of ports.values()) select.append(new Option(port.name || port.id, port.id));
  if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
}
