import assert from 'node:assert/strict';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import pino from 'pino';
import { WebSocket, createWebSocketStream } from 'ws';
import { Decoder, encode, type ByeMessage, type HelloMessage, type Message, type OptionalKind, type ServerEvent } from '../src/protocol';
import { VigilServer, type ServerOptions } from '../src/server';
import type { CandidateConnection } from '../src/server/connection';

/** The real server in this process (no detector, no admin socket), with every event it publishes collected. */
export async function inProcessServer(t: { after(fn: () => Promise<void>): void }, dir: string, extra: Partial<ServerOptions> = {}): Promise<{ server: VigilServer; port: number; events: ServerEvent[] }> {
  const server = new VigilServer({ host: '127.0.0.1', port: 0, recordDir: dir, adminSocket: null, auth: 'none', logger: pino({ level: 'silent' }), version: 'test', ...extra });
  const events: ServerEvent[] = [];
  server.events.subscribe((e) => events.push(e));
  const { port } = await server.listen();
  t.after(() => server.close());
  return { server, port, events };
}

/** The live connection of a candidate, for calling what other parts of the server will call (alert()). */
export function connectionOf(server: VigilServer, id: string): CandidateConnection {
  const conn = (server['byId'] as Map<string, CandidateConnection>).get(id);
  assert.ok(conn, `no connection for ${id}`);
  return conn;
}


/**
 * A candidate written straight on the wire format, for tests that need to do what the real client never does
 * (skip sequence numbers, stop reading, speak as an older release).
 */
export class WirePeer<S extends Duplex = net.Socket> {
  readonly received: Message[] = [];
  private readonly decoder = new Decoder();
  private readonly waiters = new Set<() => void>();
  readonly closed: Promise<void>;

  private constructor(readonly socket: S) {
    socket.on('data', (chunk: Buffer) => {
      const r = this.decoder.push(chunk);
      this.received.push(...r.messages);
      for (const w of this.waiters) w();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static connect(port: number, opts: { tlsCa?: Buffer } = {}): Promise<WirePeer<net.Socket>> {
    return new Promise((resolve, reject) => {
      const socket = opts.tlsCa
        ? tls.connect({ host: '127.0.0.1', port, ca: opts.tlsCa, minVersion: 'TLSv1.2' })
        : net.connect({ host: '127.0.0.1', port });
      socket.once(opts.tlsCa ? 'secureConnect' : 'connect', () => resolve(new WirePeer(socket)));
      socket.once('error', reject);
    });
  }

  /**
   * The same peer over the candidate page's WebSocket (`ws://127.0.0.1:PORT/ws`); `origin` as a browser would send
   * it. Rejects with the HTTP status when the upgrade is refused.
   */
  static connectWs(port: number, opts: { origin?: string; path?: string } = {}): Promise<WirePeer<Duplex>> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}${opts.path ?? '/ws'}`, { ...(opts.origin ? { origin: opts.origin } : {}) });
      ws.once('open', () => {
        const stream = createWebSocketStream(ws);
        stream.once('end', () => stream.destroy()); // closed by the server: nothing more to write either
        resolve(new WirePeer(stream));
      });
      ws.once('unexpected-response', (_req, res) => {
        reject(new Error(`HTTP ${res.statusCode}`));
        ws.terminate();
      });
      ws.once('error', reject);
    });
  }

  /** Sends a message, or raw bytes for what the real client never sends (floods, torn frames). */
  send(msg: Message | Buffer): boolean {
    return this.socket.write(Buffer.isBuffer(msg) ? msg : encode(msg));
  }

  hello(id: string, opts: { accepts?: OptionalKind[]; video?: boolean; audio?: boolean } = {}): void {
    const hello: HelloMessage = {
      type: 'hello',
      version: 1,
      candidateId: id,
      token: '',
      clientVersion: 'wire-peer',
      video: opts.video === false ? null : { codec: 'jpeg', width: 64, height: 48, fps: 10 },
      audio: opts.audio === false ? null : { codec: 'pcm_s16le', sampleRate: 16000, channels: 1 },
      ...(opts.accepts ? { accepts: opts.accepts } : {}),
    };
    this.send(hello);
  }

  /**
   * Resolves with the first received message of `type` (already received or still to come); fails after the
   * timeout, or at once when the server closes without sending one.
   */
  waitFor<T extends Message['type']>(type: T, timeoutMs = 10_000): Promise<Extract<Message, { type: T }>> {
    return new Promise((resolve, reject) => {
      const got = (): string => this.received.map((x) => x.type).join(',') || 'nothing';
      const done = (): void => {
        this.waiters.delete(check);
        this.socket.off('close', onClose);
        clearTimeout(timer);
      };
      const check = (): boolean => {
        const m = this.received.find((x) => x.type === type);
        if (!m) return false;
        done();
        resolve(m as Extract<Message, { type: T }>);
        return true;
      };
      const onClose = (): void => {
        if (check()) return;
        done();
        reject(new Error(`connection closed without a ${type}; received ${got()}`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${type} within ${timeoutMs} ms; received ${got()}`));
      }, timeoutMs);
      if (check()) return;
      this.waiters.add(check);
      if (this.socket.destroyed) onClose();
      else this.socket.once('close', onClose);
    });
  }

  bye(timeoutMs?: number): Promise<ByeMessage> {
    return this.waitFor('bye', timeoutMs);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A 3-byte-payload JPEG as the server checks it (SOI marker first); the recorder keeps it byte for byte. */
export const TINY_JPEG = Buffer.from('ffd8ffe000104a46494600010100000100010000ffd9', 'hex');

/** `ms` of 16 kHz mono silence-ish PCM with a marker value, so chunks differ. */
export function pcmChunk(ms: number, marker: number): Buffer {
  const b = Buffer.alloc((16000 * ms) / 1000 * 2);
  for (let i = 0; i < b.length; i += 2) b.writeInt16LE(((i / 2 + marker) % 200) - 100, i);
  return b;
}
