// The thread behind OpusPcmPool: it owns the ffmpeg decoders, so spawning one (a fork of this big process, which
// takes milliseconds, and far longer on a loaded machine) never stalls the server's event loop.
import { parentPort } from 'node:worker_threads';
import { OpusPcmDecoder } from './opus-pcm';

export type ToWorker =
  | { type: 'open'; id: number; head: Uint8Array; rate: number; mono: boolean; live: boolean }
  | { type: 'push'; id: number; timestampMs: number; packet: Uint8Array; samples: number }
  | { type: 'drain'; id: number }
  | { type: 'close'; id: number };

export type FromWorker =
  | { type: 'pcm'; id: number; timestampMs: number; pcm: Uint8Array }
  | { type: 'error'; id: number; message: string }
  | { type: 'drained'; id: number };

const decoders = new Map<number, OpusPcmDecoder>();
const port = parentPort!;
const post = (m: FromWorker): void => port.postMessage(m);

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'open':
      try {
        const d = new OpusPcmDecoder(
          Buffer.from(m.head),
          // A copy of just these bytes: cloning a view would copy the whole pooled buffer behind it.
          (timestampMs, pcm) => post({ type: 'pcm', id: m.id, timestampMs, pcm: new Uint8Array(pcm) }),
          (err) => post({ type: 'error', id: m.id, message: err.message }),
          m.rate,
          m.mono,
          m.live,
        );
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
