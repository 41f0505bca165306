/**
 * The microphone's samples, out of the audio thread: each 128-frame block of the first channel goes to the
 * page, which cuts them into Opus frames. Built as its own file (an AudioWorklet loads a module by URL).
 */
declare class AudioWorkletProcessor {
  readonly port: MessagePort;
}
declare function registerProcessor(name: string, processor: new () => AudioWorkletProcessor): void;

class MicCapture extends AudioWorkletProcessor {
  process(inputs: Float32Array[][]): boolean {
    const channel = inputs[0]?.[0];
    if (channel && channel.length) this.port.postMessage(channel.slice(0));
    return true;
  }
}

registerProcessor('mic-capture', MicCapture);
