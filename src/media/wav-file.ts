import { createReadStream } from 'node:fs';
import { PassThrough } from 'node:stream';
import * as wav from 'wav';
import { MediaProbeError } from './probe';

export interface PcmFormat {
  sampleRate: number;
  channels: number;
}

const HEADER_TIMEOUT_MS = 5_000;

interface OpenWav {
  /** The PCM samples as a modern stream (the `wav` package is built on readable-stream 1, which has no async iterator). */
  samples: PassThrough;
  format: Promise<wav.Format>;
  close(): void;
}

function openReader(path: string): OpenWav {
  const file = createReadStream(path);
  const reader = new wav.Reader();
  const samples = new PassThrough();
  file.once('error', (err) => reader.emit('error', new MediaProbeError(`cannot read ${path}: ${err.message}`)));
  // `on`, not `once`: the old stream-parser inside `wav` can emit several errors for one bad file.
  reader.on('error', (err: Error) => samples.destroy(err));
  // Consumers see the error through `format` or the async iterator; this keeps it from being "unhandled".
  samples.on('error', () => undefined);
  file.pipe(reader);
  reader.pipe(samples);
  const format = new Promise<wav.Format>((resolve, reject) => {
    const timer = setTimeout(() => reject(new MediaProbeError(`${path}: no WAV header within ${HEADER_TIMEOUT_MS} ms`)), HEADER_TIMEOUT_MS);
    reader.once('format', (f: wav.Format) => {
      clearTimeout(timer);
      resolve(f);
    });
    reader.once('error', (err: Error) => {
      clearTimeout(timer);
      reject(err instanceof MediaProbeError ? err : new MediaProbeError(`${path} is not a readable WAV file: ${err.message}`));
    });
    reader.once('end', () => {
      clearTimeout(timer);
      reject(new MediaProbeError(`${path} ended before its WAV header`));
    });
  });
  format.catch(() => undefined); // observed through `format` by the caller; never an unhandled rejection
  const close = (): void => {
    file.unpipe(reader);
    reader.unpipe(samples);
    file.destroy();
    samples.destroy();
  };
  return { samples, format, close };
}

/** A 16-bit PCM WAV file (any rate, mono or stereo), read with the `wav` package and cut into fixed-length chunks. */
export class WavFileSource {
  private constructor(
    readonly path: string,
    readonly format: PcmFormat,
  ) {}

  static async open(path: string): Promise<WavFileSource> {
    const { format, close } = openReader(path);
    try {
      const f = await format;
      if (f.audioFormat !== 1 || f.bitDepth !== 16 || f.endianness !== 'LE') {
        throw new MediaProbeError(`${path} is not 16-bit PCM (format ${f.audioFormat}, ${f.bitDepth}-bit); convert it with: sox in.wav -b 16 out.wav`);
      }
      if (f.channels < 1 || f.channels > 2) throw new MediaProbeError(`${path} has ${f.channels} channels; only mono or stereo is sent`);
      if (f.sampleRate < 8000 || f.sampleRate > 96000) throw new MediaProbeError(`${path} has sample rate ${f.sampleRate}; 8000-96000 Hz is supported`);
      return new WavFileSource(path, { sampleRate: f.sampleRate, channels: f.channels });
    } finally {
      close();
    }
  }

  /** One pass over the samples in chunks of `chunkMs` (the last one shorter). */
  async *chunks(chunkMs: number): AsyncGenerator<Buffer> {
    const frameBytes = 2 * this.format.channels;
    const chunkBytes = Math.max(1, Math.round((this.format.sampleRate * chunkMs) / 1000)) * frameBytes;
    const { samples, format, close } = openReader(this.path);
    try {
      await format;
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      for await (const data of samples as AsyncIterable<Buffer>) {
        pending.push(data);
        pendingBytes += data.length;
        if (pendingBytes < chunkBytes) continue;
        let all = Buffer.concat(pending);
        while (all.length >= chunkBytes) {
          yield all.subarray(0, chunkBytes);
          all = all.subarray(chunkBytes);
        }
        pending = all.length ? [all] : [];
        pendingBytes = all.length;
      }
      const rest = Buffer.concat(pending);
      const whole = rest.length - (rest.length % frameBytes);
      if (whole > 0) yield rest.subarray(0, whole);
    } finally {
      close();
    }
  }
}

