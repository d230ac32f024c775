// On the audio thread: the microphone's samples, mixed to one channel, handed to the page in blocks
// of 2048 (about 45 ms, one frame of the live pitch trace), each with the audio-clock time of its
// first sample. "flush" sends the part-filled block at once, then "flushed"; "close" ends it.

const BLOCK = 2048;

class Capture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.block = new Float32Array(BLOCK);
    this.filled = 0;
    this.time = 0;
    this.open = true;
    this.port.onmessage = ({ data }) => {
      if (data === "flush") {
        if (this.filled) this.send(this.block.slice(0, this.filled));
        this.filled = 0;
        this.port.postMessage("flushed");
      } else if (data === "close") {
        this.open = false;
      }
    };
  }

  send(samples) {
    this.port.postMessage({ time: this.time, samples }, [samples.buffer]);
  }

  process(inputs) {
    const channels = inputs[0];
    if (channels && channels.length) {
      const length = channels[0].length;
      for (let i = 0; i < length; i++) {
        if (this.filled === 0) this.time = (currentFrame + i) / sampleRate;
        let sum = 0;
        for (const channel of channels) sum += channel[i];
        this.block[this.filled++] = sum / channels.length;
        if (this.filled === BLOCK) {
          this.send(this.block);
          this.block = new Float32Array(BLOCK);
          this.filled = 0;
        }
      }
    }
    return this.open;
  }
}

registerProcessor("segue-capture", Capture);
