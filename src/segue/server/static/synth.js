// A small electric-piano voice in Web Audio: three partials through a velocity-bright low-pass that
// closes as the note decays, a piano-like fading sustain, and a soft synthetic room reverb.

const ATTACK = 0.004;   // seconds: fast enough to feel like a hammer, slow enough not to click
const DECAY = 0.9;      // time constant of the fall from the attack peak towards the sustain level
const RELEASE = 0.12;   // time constant after the key lets go
const PARTIALS = [      // [frequency ratio, level, waveform]
  [1, 1.0, "triangle"],
  [2, 0.22, "sine"],
  [3, 0.06, "sine"],
];

export function frequency(pitch) {
  return 440 * Math.pow(2, (pitch - 69) / 12);
}

export class Synth {
  // `context` is made on first use; pass an OfflineAudioContext to render to a buffer instead.
  constructor(context = null) {
    this.context = context;
    this.live = new Map();      // pitch -> voice held by a key
    this.scheduled = new Set(); // voices of a playback, so Stop can silence them
  }

  // Browsers start audio only after a user gesture: call this from one.
  start() {
    if (!this.output) {
      this.context ??= new AudioContext({ latencyHint: "interactive" });
      this.output = this.context.createDynamicsCompressor();
      this.output.connect(this.context.destination);
      const reverb = this.context.createConvolver();
      reverb.buffer = roomImpulse(this.context, 1.8);
      this.send = this.context.createGain();
      this.send.gain.value = 0.18;
      this.send.connect(reverb).connect(this.output);
    }
    if (this.context.state === "suspended" && this.context instanceof AudioContext) this.context.resume();
    return this.context;
  }

  now() {
    return this.start().currentTime;
  }

  voice(pitch, velocity, when) {
    const ctx = this.start();
    const level = 0.05 + 0.22 * (velocity / 127);
    const envelope = ctx.createGain();
    envelope.gain.setValueAtTime(0, when);
    envelope.gain.linearRampToValueAtTime(level, when + ATTACK);
    envelope.gain.setTargetAtTime(level * 0.25, when + ATTACK, DECAY);
    const tone = ctx.createBiquadFilter();
    tone.type = "lowpass";
    const bright = 900 + 45 * velocity + 2 * frequency(pitch);
    tone.frequency.setValueAtTime(bright, when);
    tone.frequency.setTargetAtTime(bright * 0.35, when + ATTACK, 0.6);
    tone.connect(envelope);
    envelope.connect(this.output);
    envelope.connect(this.send);
    const oscillators = PARTIALS.map(([ratio, amount, type]) => {
      const osc = ctx.createOscillator();
      osc.type = type;
      osc.frequency.value = frequency(pitch) * ratio;
      const gain = ctx.createGain();
      gain.gain.value = amount;
      osc.connect(gain).connect(tone);
      osc.start(when);
      return osc;
    });
    return { envelope, oscillators, released: false };
  }

  release(voice, when) {
    if (voice.released) return;
    voice.released = true;
    voice.envelope.gain.cancelScheduledValues(when);
    voice.envelope.gain.setTargetAtTime(0, when, RELEASE);
    for (const osc of voice.oscillators) osc.stop(when + RELEASE * 8);
  }

  noteOn(pitch, velocity) {
    this.noteOff(pitch);
    this.live.set(pitch, this.voice(pitch, velocity, this.now()));
  }

  noteOff(pitch) {
    const voice = this.live.get(pitch);
    if (voice) {
      this.release(voice, this.now());
      this.live.delete(pitch);
    }
  }

  // Play notes (seconds, from `at` in the audio clock), `cents` off A440 (to play along with a
  // singer's own tuning); returns how many were scheduled.
  schedule(notes, at, cents = 0) {
    for (const note of notes) {
      const voice = this.voice(note.pitch + cents / 100, note.velocity, at + note.start);
      this.release(voice, at + note.end);
      this.scheduled.add(voice);
      voice.oscillators[0].onended = () => this.scheduled.delete(voice);
    }
    return notes.length;
  }

  stopAll() {
    const now = this.context ? this.context.currentTime : 0;
    for (const voice of this.scheduled) {
      voice.envelope.gain.cancelScheduledValues(now);
      voice.envelope.gain.setTargetAtTime(0, now, 0.02);
      for (const osc of voice.oscillators) {
        try { osc.stop(now + 0.2); } catch { /* already stopped */ }
      }
    }
    this.scheduled.clear();
  }
}

// Stereo decaying noise: the impulse response of a small, soft room.
function roomImpulse(ctx, seconds) {
  const length = Math.floor(ctx.sampleRate * seconds);
  const buffer = ctx.createBuffer(2, length, ctx.sampleRate);
  for (let channel = 0; channel < 2; channel++) {
    const data = buffer.getChannelData(channel);
    for (let i = 0; i < length; i++) {
      data[i] = (Math.random() * 2 - 1) * Math.pow(1 - i / length, 3);
    }
  }
  return buffer;
}
