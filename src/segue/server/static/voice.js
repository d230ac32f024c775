// The microphone, for singing a phrase: its samples through an AudioWorklet (capture-worklet.js),
// a level for the meter, and a quick pitch estimate for the live trace. The server does the real
// transcription; the pitch here is only a preview while the singer sings.

const worklets = new WeakMap();  // AudioContext -> the promise of its capture module

// A problem with the microphone, in words a singer can act on.
export function microphoneProblem(error) {
  switch (error?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "The browser was not allowed to use the microphone. Allow it for this page (the icon by the address) and press Sing again.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No microphone was found. Plug one in or choose one in your system's sound settings, then press Sing again.";
    case "NotReadableError":
    case "AbortError":
      return "The microphone could not be started: another program may be using it. Close that, then press Sing again.";
    default:
      return error?.message ? `The microphone could not be opened: ${error.message}` : "The microphone could not be opened.";
  }
}

export class Microphone {
  // Ask for the microphone and start listening; `onBlock({ time, samples, level, peak, rate })` is called
  // for every block of about 45 ms. Rejects with the browser's error (see microphoneProblem).
  static async open(context, onBlock) {
    if (!navigator.mediaDevices?.getUserMedia) {
      const error = new Error("this page can use a microphone only when opened at http://localhost or over https");
      error.name = "InsecureContext";
      throw error;
    }
    // No echo cancelling, noise suppression or automatic gain: they bend a sung pitch and its level.
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
    try {
      if (!worklets.has(context)) worklets.set(context, context.audioWorklet.addModule("/static/capture-worklet.js"));
      await worklets.get(context);
      return new Microphone(context, stream, onBlock);
    } catch (error) {
      worklets.delete(context);
      for (const track of stream.getTracks()) track.stop();
      throw error;
    }
  }

  constructor(context, stream, onBlock) {
    this.context = context;
    this.stream = stream;
    this.blocks = [];
    this.keepFrom = Infinity;  // audio-clock time from which blocks are kept (set by keep())
    this.source = context.createMediaStreamSource(stream);
    this.node = new AudioWorkletNode(context, "segue-capture");
    this.node.port.onmessage = ({ data }) => {
      if (data === "flushed") { this.flushed?.(); return; }
      const { time, samples } = data;
      const rate = context.sampleRate;
      if (time + samples.length / rate > this.keepFrom) this.blocks.push(data);
      onBlock({ time, samples, rate, level: level(samples), peak: peak(samples) });
    };
    this.source.connect(this.node);
  }

  // Keep what is heard from `time` (audio clock) on.
  keep(time) {
    this.keepFrom = time;
    this.blocks = this.blocks.filter((b) => b.time + b.samples.length / this.context.sampleRate > time);
  }

  // Wait until the audio clock passes `end`, close the microphone and return the samples heard
  // from `start` to `end` (one channel, at the context's rate; silence where a block went missing).
  async finish(start, end) {
    const rate = this.context.sampleRate;
    const wait = Math.max(end - this.context.currentTime, 0) + 0.06;
    await new Promise((resolve) => setTimeout(resolve, wait * 1000));
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, 500);
      this.flushed = () => { clearTimeout(timer); resolve(); };
      this.node.port.postMessage("flush");
    });
    this.close();
    const out = new Float32Array(Math.max(Math.round((end - start) * rate), 0));
    for (const { time, samples } of this.blocks) {
      const at = Math.round((time - start) * rate);
      for (let i = Math.max(0, -at); i < samples.length && at + i < out.length; i++) out[at + i] = samples[i];
    }
    this.blocks = [];
    return out;
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.node.port.postMessage("close");
    this.node.port.onmessage = null;
    this.source.disconnect();
    for (const track of this.stream.getTracks()) track.stop();
  }
}

// The block's loudness for a meter: 0 at -60 dBFS (RMS) or below, 1 at full scale.
// The block's largest sample, 1 at full scale: at the top, the take is clipping.
export function peak(samples) {
  let largest = 0;
  for (const value of samples) largest = Math.max(largest, Math.abs(value));
  return largest;
}

export function level(samples) {
  let sum = 0;
  for (const value of samples) sum += value * value;
  const rms = Math.sqrt(sum / Math.max(samples.length, 1));
  return rms > 0 ? Math.min(Math.max((20 * Math.log10(rms) + 60) / 60, 0), 1) : 0;
}

// The pitch of one frame as a MIDI number with a fraction (69 = A 440 Hz), or null where nothing
// clearly pitched is heard: the normalised autocorrelation (McLeod's NSDF), its first peak after
// it turns negative that comes near the highest, refined by a parabola. Fine for a preview.
export function pitchOf(frame, rate, { low = 65, high = 1100, clarity = 0.75, quiet = 0.15 } = {}) {
  let x = frame;
  let r = rate;
  while (r > 24000) {  // half the rate (a running mean of two) until 24 kHz or less: a quarter of the work
    const half = new Float32Array(x.length >> 1);
    for (let i = 0; i < half.length; i++) half[i] = 0.5 * (x[2 * i] + x[2 * i + 1]);
    x = half;
    r /= 2;
  }
  if (level(x) < quiet) return null;
  const n = x.length;
  let mean = 0;
  for (const value of x) mean += value;
  mean /= n;
  const y = x.map((value) => value - mean);
  const minLag = Math.max(Math.floor(r / high), 2);
  const maxLag = Math.min(Math.ceil(r / low), Math.floor(n / 2));
  const nsdf = new Float32Array(maxLag + 2);
  for (let lag = 1; lag <= maxLag + 1; lag++) {
    let product = 0, energy = 0;
    for (let i = 0; i + lag < n; i++) {
      product += y[i] * y[i + lag];
      energy += y[i] * y[i] + y[i + lag] * y[i + lag];
    }
    nsdf[lag] = energy > 0 ? (2 * product) / energy : 0;
  }
  let start = 1;
  while (start <= maxLag && nsdf[start] > 0) start++;  // past the peak at lag 0
  start = Math.max(start, minLag);
  let best = 0;
  for (let lag = start; lag <= maxLag; lag++) best = Math.max(best, nsdf[lag]);
  if (best < clarity) return null;
  for (let lag = start; lag <= maxLag; lag++) {
    if (nsdf[lag] >= 0.9 * best && nsdf[lag] >= nsdf[lag - 1] && nsdf[lag] >= nsdf[lag + 1]) {
      const [a, b, c] = [nsdf[lag - 1], nsdf[lag], nsdf[lag + 1]];
      const bend = a - 2 * b + c;
      const period = lag + (bend < 0 ? (0.5 * (a - c)) / bend : 0);
      return 69 + 12 * Math.log2(r / period / 440);
    }
  }
  return null;
}
