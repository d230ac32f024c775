// Recordings as 16-bit mono WAV files, the one format every server-side reader takes (libsndfile
// cannot read the WebM a MediaRecorder makes).

// A Blob holding `samples` (-1..1, one channel) at `rate` Hz; louder samples are clipped.
export function encodeWav(samples, rate) {
  const bytes = samples.length * 2;
  const view = new DataView(new ArrayBuffer(44 + bytes));
  const text = (offset, value) => { for (let i = 0; i < value.length; i++) view.setUint8(offset + i, value.charCodeAt(i)); };
  text(0, "RIFF");
  view.setUint32(4, 36 + bytes, true);
  text(8, "WAVE");
  text(12, "fmt ");
  view.setUint32(16, 16, true);        // the format chunk's size
  view.setUint16(20, 1, true);         // PCM
  view.setUint16(22, 1, true);         // one channel
  view.setUint32(24, rate, true);
  view.setUint32(28, rate * 2, true);  // bytes a second
  view.setUint16(32, 2, true);         // bytes a frame
  view.setUint16(34, 16, true);        // bits a sample
  text(36, "data");
  view.setUint32(40, bytes, true);
  for (let i = 0; i < samples.length; i++) {
    const value = Math.max(-1, Math.min(1, samples[i]));
    view.setInt16(44 + i * 2, Math.round(value < 0 ? value * 32768 : value * 32767), true);
  }
  return new Blob([view.buffer], { type: "audio/wav" });
}

// Half the rate, through a [1 2 1] / 4 low-pass (nothing left at the new Nyquist frequency): a voice
// has next to nothing above 11 kHz, so 44.1 or 48 kHz becomes 22 or 24 kHz, half the bytes to keep.
export function halve(samples) {
  const out = new Float32Array(samples.length >> 1);
  for (let i = 0; i < out.length; i++) {
    const before = samples[2 * i - 1] ?? samples[0];
    out[i] = 0.25 * before + 0.5 * samples[2 * i] + 0.25 * samples[2 * i + 1];
  }
  return out;
}
