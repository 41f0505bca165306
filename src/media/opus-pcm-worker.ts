// The thread behind OpusPcmPool: it owns the decoders. The voice-activity ones decode here (WebAssembly), beside the
// server's event loop; a listening one is an ffmpeg child, whose spawn (a fork of this big process, milliseconds and
// far longer on a loaded machine) must not stall that loop either.
import { parentPort } from 'node:worker_threads';
import { OpusPcmDecoder } from './opus-pcm';
import { OpusWasmDecoder, type OpusRate } from './opus-wasm';

export type ToWorker =
  | { type: 'open'; id: number; head: Uint8Array; rate: number; mono: boolean; live: boolean }
  | { type: 'push'; id: number; timestampMs: number; packet: Uint8Array; samples: number }
  | { type: 'drain'; id: number }
  | { type: 'close'; id: number };

export type FromWorker =
  | { type: 'pcm'; id: number; timestampMs: number; pcm: Uint8Array }
  | { type: 'error'; id: number; message: string }
  | { type: 'drained'; id: number };

const decoders = new Map<number, OpusPcmDecoder | OpusWasmDecoder>();
const isOpusRate = (r: number): r is OpusRate => r === 8000 || r === 12000 || r === 16000 || r === 24000 || r === 48000;
const port = parentPort!;
const post = (m: FromWorker): void => port.postMessage(m);

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'open':
      try {
        // A copy of just these bytes: cloning a view would copy the whole pooled buffer behind it.
        const onPcm = (timestampMs: number, pcm: Buffer): void => post({ type: 'pcm', id: m.id, timestampMs, pcm: new Uint8Array(pcm) });
        const onError = (err: Error): void => post({ type: 'error', id: m.id, message: err.message });
        // Voice activity (mono, batched) decodes in this thread; listening keeps ffmpeg, which flushes every packet.
        const d =
          !m.live && m.mono && isOpusRate(m.rate)
            ? new OpusWasmDecoder(Buffer.from(m.head), onPcm, onError, m.rate)
            : new OpusPcmDecoder(Buffer.from(m.head), onPcm, onError, m.rate, m.mono, m.live);
        decoders.set(m.id, d);
      } catch (err) {
        post({ type: 'error', id: m.id, message: (err as Error).message });
      }
      return;
    case 'push':
      decoders.get(m.id)?.push(m.timestampMs, Buffer.from(m.packet.buffer, m.packet.byteOffset, m.packet.byteLength), m.samples);
      return;
    case 'drain': {
      const d = decoders.get(m.id);
      decoders.delete(m.id);
      void (d ? d.drain() : Promise.resolve()).then(() => post({ type: 'drained', id: m.id }));
      return;
    }
    case 'close':
      decoders.get(m.id)?.close();
      decoders.delete(m.id);
      return;
  }
});
