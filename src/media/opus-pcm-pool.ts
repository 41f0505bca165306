import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { parseOpusHead } from './ogg-opus';
import type { FromWorker, ToWorker } from './opus-pcm-worker';

/** One decoder in the pool's thread, as OpusPcmDecoder is one in this thread. */
export interface RemoteOpusDecoder {
  readonly channels: number;
  push(timestampMs: number, packet: Buffer, samples: number): void;
  drain(): Promise<void>;
  close(): void;
}

interface Entry {
  onPcm: (timestampMs: number, pcm: Buffer) => void;
  onError: (err: Error) => void;
  drained?: () => void;
}

/**
 * Opus decoders run in a worker thread, beside the server's event loop: the voice-activity decoders (one per
 * candidate, libopus in WebAssembly, opus-wasm.ts) decode there, and a listening decoder is an ffmpeg child, whose
 * spawn forks the whole process and blocks the thread that does it. The thread is started with the first decoder and does not keep the process alive.
 */
export class OpusPcmPool {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly entries = new Map<number, Entry>();

  private send(m: ToWorker): void {
    if (!this.worker) {
      const w = new Worker(path.join(__dirname, 'opus-pcm-worker.js'));
      w.on('message', (r: FromWorker) => this.onMessage(r));
      // A dead thread takes every decoder with it: each owner hears of it.
      w.on('error', (err) => this.fail(err));
      w.on('exit', (code) => this.fail(new Error(`the Opus decoder thread exited with code ${code}`)));
      // After the listeners (adding one refs the worker again): the thread alone does not keep the process alive.
      w.unref();
      this.worker = w;
    }
    this.worker.postMessage(m);
  }

  private fail(err: Error): void {
    this.worker = null;
    const entries = [...this.entries.values()];
    this.entries.clear();
    for (const e of entries) {
      e.onError(err);
      e.drained?.();
    }
  }

  private onMessage(r: FromWorker): void {
    const e = this.entries.get(r.id);
    if (!e) return;
    if (r.type === 'pcm') e.onPcm(r.timestampMs, Buffer.from(r.pcm.buffer, r.pcm.byteOffset, r.pcm.byteLength));
    else if (r.type === 'error') e.onError(new Error(r.message));
    else {
      this.entries.delete(r.id);
      e.drained?.();
    }
  }

  open(opusHead: Buffer, onPcm: (timestampMs: number, pcm: Buffer) => void, onError: (err: Error) => void, rate: number, mono: boolean, live: boolean): RemoteOpusDecoder {
    const id = this.nextId++;
    const channels = mono ? 1 : parseOpusHead(opusHead).channels;
    this.entries.set(id, { onPcm, onError });
    this.send({ type: 'open', id, head: new Uint8Array(opusHead), rate, mono, live });
    let open = true;
    return {
      channels,
      // Copies of just the packet's bytes: it is a view into a socket chunk, which cloning would copy whole.
      push: (timestampMs, packet, samples) => open && this.send({ type: 'push', id, timestampMs, packet: new Uint8Array(packet), samples }),
      drain: () =>
        new Promise<void>((resolve) => {
          const e = this.entries.get(id);
          if (!open || !e) return resolve();
          open = false;
          e.drained = resolve;
          this.send({ type: 'drain', id });
        }),
      close: () => {
        if (!open) return;
        open = false;
        this.entries.delete(id);
        this.send({ type: 'close', id });
      },
    };
  }
}

/** The server's one pool (a module-level thread, started on first use). */
export const opusPcmPool = new OpusPcmPool();
