// A capture process's raw s16le PCM, however its pipe cuts it, as chunks of exactly `chunkMs`: shared by the
// PortAudio and ffmpeg microphones.
import type { Readable } from 'node:stream';
import type { PcmFormat } from './wav-file';

export async function* pcmChunks(stream: Readable, format: PcmFormat, chunkMs: number): AsyncGenerator<Buffer> {
  const bytes = Math.max(1, Math.round((format.sampleRate * chunkMs) / 1000)) * 2 * format.channels;
  let pending: Buffer = Buffer.alloc(0);
  for await (const chunk of stream) {
    pending = pending.length ? Buffer.concat([pending, chunk as Buffer]) : (chunk as Buffer);
    while (pending.length >= bytes) {
      yield pending.subarray(0, bytes);
      pending = pending.subarray(bytes);
    }
  }
}
