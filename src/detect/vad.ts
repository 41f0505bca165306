/*
 * Voice activity detection by frame energy against an adaptive noise floor, written by hand: the WebRTC VAD
 * bindings on npm (node-vad, webrtcvad) are unmaintained native builds, and the Silero-based packages pull in
 * onnxruntime (tens of MB) for what a candidate's microphone needs: "is someone talking". Speech here is
 * 20 ms frames louder than both an absolute floor and the tracked background noise by a margin. A pause shorter
 * than the hangover between two voiced frames counts as speech, so a sentence stays one stretch; to know
 * whether a pause is short, quiet frames after speech are held back until the voice returns or the hangover
 * passes, which delays decisions by at most the hangover and keeps the end of speech where it really is.
 */

export interface VadOptions {
  /** Frames quieter than this are never speech, whatever the background. Default -45 dBFS. */
  minDbfs: number;
  /** Speech must stand this far above the tracked noise floor. Default 12 dB. */
  marginDb: number;
  /** Speech continues through pauses shorter than this. Default 0.5 s (the sample speech pauses up to 0.44 s). */
  hangoverS: number;
}

export const DEFAULT_VAD: Readonly<VadOptions> = Object.freeze({ minDbfs: -45, marginDb: 12, hangoverS: 0.5 });

const FRAME_S = 0.02;
const SILENCE_DBFS = -120;

export interface VadFrame {
  /** Start of the frame in seconds of the stream. */
  t: number;
  dbfs: number;
  speech: boolean;
}

/** Whether an Int16Array reads s16le samples as they are (it reads in the machine's byte order). */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const NO_PCM = Buffer.alloc(0);

/** RMS level of interleaved s16le samples (all channels together), in dBFS. */
export function levelDbfs(pcm: Buffer, offset: number, samples: number): number {
  let sum = 0;
  if (LITTLE_ENDIAN && (pcm.byteOffset + offset) % 2 === 0) {
    // The same samples, summed in the same order, without a bounds-checked readInt16LE call per sample (the
    // server runs this over every candidate's audio).
    const s16 = new Int16Array(pcm.buffer, pcm.byteOffset + offset, samples);
    for (let i = 0; i < samples; i++) {
      const v = s16[i]! / 32768;
      sum += v * v;
    }
  } else {
    for (let i = 0; i < samples; i++) {
      const v = pcm.readInt16LE(offset + i * 2) / 32768;
      sum += v * v;
    }
  }
  const rms = Math.sqrt(sum / Math.max(1, samples));
  return rms > 0 ? Math.max(SILENCE_DBFS, 20 * Math.log10(rms)) : SILENCE_DBFS;
}

/**
 * Streams PCM in, 20 ms speech decisions out. The noise floor follows quiet frames quickly and loud ones
 * slowly, so it settles on the background, not on the voice.
 */
export class VoiceActivityDetector {
  private readonly frameBytes: number;
  private pending: Buffer = NO_PCM;
  private t = 0;
  private noiseDb = -90;
  private lastVoiceT = -Infinity;
  /** Quiet frames after voice, not yet known to be a pause (speech) or the end of it (silence). */
  private held: VadFrame[] = [];

  constructor(
    private readonly sampleRate: number,
    private readonly channels: number,
    private readonly opts: VadOptions = DEFAULT_VAD,
  ) {
    this.frameBytes = Math.max(1, Math.round(sampleRate * FRAME_S)) * channels * 2;
  }

  /** Feeds PCM whose first sample is at `startS` (gaps in time are respected; overlaps are not expected). */
  push(pcm: Buffer, startS?: number): VadFrame[] {
    if (startS !== undefined && this.pending.length === 0) this.t = startS;
    this.pending = this.pending.length ? Buffer.concat([this.pending, pcm]) : pcm;
    const out: VadFrame[] = [];
    const frameS = this.frameBytes / 2 / this.channels / this.sampleRate;
    let at = 0;
    while (this.pending.length - at >= this.frameBytes) {
      const dbfs = levelDbfs(this.pending, at, this.frameBytes / 2);
      at += this.frameBytes;
      // Asymmetric tracking: down fast (background revealed), up slowly (a voice should not raise the floor).
      this.noiseDb += (dbfs - this.noiseDb) * (dbfs < this.noiseDb ? 0.3 : 0.005);
      const voiced = dbfs > this.opts.minDbfs && dbfs > this.noiseDb + this.opts.marginDb;
      const frame: VadFrame = { t: this.t, dbfs, speech: voiced };
      if (voiced) {
        // The voice came back within the hangover: the held pause was part of the speech.
        for (const h of this.held) out.push({ ...h, speech: true });
        this.held = [];
        this.lastVoiceT = this.t;
        out.push(frame);
      } else if (this.t - this.lastVoiceT <= this.opts.hangoverS) {
        this.held.push(frame);
      } else {
        for (const h of this.held) out.push(h);
        this.held = [];
        out.push(frame);
      }
      this.t += frameS;
    }
    // Chunks are usually whole frames: keep no empty view of the last one.
    this.pending = at === this.pending.length ? NO_PCM : at > 0 ? this.pending.subarray(at) : this.pending;
    return out;
  }

  /** The stream ended: frames still held are a trailing pause, so silence. */
  flush(): VadFrame[] {
    const out = this.held;
    this.held = [];
    return out;
  }
}
