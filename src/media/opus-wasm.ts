import type { OpusDecoder } from 'opus-decoder' with { 'resolution-mode': 'import' };
import { parseOpusHead } from './ogg-opus';

/** The sample rates libopus decodes to natively. */
export type OpusRate = 8000 | 12000 | 16000 | 24000 | 48000;

/** opus-decoder is an ES module: loaded once, on first use, from this CommonJS build. */
let loading: Promise<typeof OpusDecoder> | null = null;
const loadDecoder = (): Promise<typeof OpusDecoder> => (loading ??= import('opus-decoder').then((m) => m.OpusDecoder));

/**
 * Opus packets in, mono s16le PCM out, decoded by libopus compiled to WebAssembly (npm opus-decoder) in this
 * thread. Voice activity needs one decoder per candidate: as an ffmpeg child each cost about 0.3 % of a core
 * (a process, two pipes, Ogg framing), 30 % at 100 candidates; here one costs about 0.15 % and 0.15 MB (bench/codec).
 * PCM chunks are timed as OpusPcmDecoder's are: the first packet's capture time plus the samples decoded so far
 * (the encoder's pre-skip removed), and go out in chunks of `batchMs`, as ffmpeg's writes did, so that a hundred
 * decoders do not wake the server's event loop for every packet.
 */
export class OpusWasmDecoder {
  readonly channels = 1;
  private decoder: OpusDecoder<OpusRate> | null = null;
  /** Packets pushed before the WebAssembly module was ready. */
  private early: Buffer[] | null = [];
  private readonly ready: Promise<void>;
  private startMs: number | null = null;
  private samplesOut = 0;
  private chunk: Int16Array;
  private filled = 0;
  /** Samples still to drop from the start: the encoder's pre-skip, at this rate. */
  private skip: number;
  private closed = false;

  constructor(
    opusHead: Buffer,
    private readonly onPcm: (timestampMs: number, pcm: Buffer) => void,
    private readonly onError: (err: Error) => void,
    readonly rate: OpusRate = 16000,
    batchMs = 500,
  ) {
    // Throws for a head this decoder cannot take (the server refused such a head at HELLO anyway).
    const head = parseOpusHead(opusHead);
    this.chunk = new Int16Array(Math.round((rate * batchMs) / 1000));
    this.skip = Math.round((head.preSkip * rate) / 48000);
    this.ready = loadDecoder()
      .then(async (Decoder) => {
        // Mono out whatever the stream's channels: libopus downmixes a stereo stream itself.
        // The pre-skip is trimmed here: opus-decoder 0.7 would trim OpusHead's count (48 kHz samples) at the output rate.
        const d = new Decoder({ sampleRate: this.rate, channels: 1, streamCount: 1, coupledStreamCount: 0, channelMappingTable: [0], preSkip: 0 });
        await d.ready;
        if (this.closed) return d.free();
        this.decoder = d;
        const early = this.early ?? [];
        this.early = null;
        for (const p of early) this.decode(p);
      })
      // Loading or starting it failed: this candidate's voice activity stops, loudly (SpeechHooks.failed).
      .catch((err: unknown) => this.fail(new Error(`cannot start the Opus decoder (opus-decoder): ${err instanceof Error ? err.message : String(err)}`)));
  }

  /** libopus reads the packet's length in samples from the packet itself. */
  push(timestampMs: number, packet: Buffer): void {
    if (this.closed) return;
    this.startMs ??= timestampMs;
    if (this.early) this.early.push(Buffer.from(packet));
    else this.decode(packet);
  }

  private decode(packet: Buffer): void {
    let samples: Float32Array;
    try {
      // A packet libopus refuses gives no samples (opus-decoder logs it to stderr) and the stream goes on: the
      // recording keeps the packet as it came, only voice activity misses its 20-60 ms.
      samples = this.decoder!.decodeFrame(packet).channelData[0] ?? new Float32Array(0);
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    const skipped = Math.min(this.skip, samples.length);
    this.skip -= skipped;
    for (let i = skipped; i < samples.length; i++) {
      const v = samples[i]!;
      this.chunk[this.filled++] = v >= 1 ? 32767 : v <= -1 ? -32768 : Math.round(v * 32767);
      if (this.filled === this.chunk.length) this.emit();
    }
  }

  private emit(): void {
    if (this.filled === 0) return;
    const ts = (this.startMs ?? 0) + (this.samplesOut * 1000) / this.rate;
    this.samplesOut += this.filled;
    // A copy of just the filled part: the chunk buffer is reused.
    this.onPcm(ts, Buffer.from(this.chunk.buffer.slice(0, this.filled * 2)));
    this.filled = 0;
  }

  /** Decodes what was pushed, hands out the last partial chunk and frees the decoder. */
  async drain(): Promise<void> {
    if (this.closed) return;
    await this.ready;
    if (this.closed) return;
    this.emit();
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.early = null;
    this.decoder?.free();
    this.decoder = null;
  }

  private fail(err: Error): void {
    if (this.closed) return;
    this.close();
    this.onError(err);
  }
}
