import net from 'node:net';
import { Decoder, encode, type ByeMessage, type Message } from '../src/protocol';

/** A raw candidate connection that reads everything the server says. */
export class Peer {
  readonly socket: net.Socket;
  readonly messages: Message[] = [];
  readonly closed: Promise<number>;
  private readonly decoder = new Decoder();
  private readonly waiters = new Set<() => void>();
  private readonly t0 = performance.now();

  constructor(port: number) {
    this.socket = net.connect({ host: '127.0.0.1', port });
    this.socket.on('data', (d: Buffer) => {
      this.messages.push(...this.decoder.push(d).messages);
      for (const w of this.waiters) w();
    });
    this.socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve(performance.now() - this.t0)));
  }

  send(msg: Message | Buffer): boolean {
    return this.socket.write(Buffer.isBuffer(msg) ? msg : encode(msg));
  }

  /** The first message of that type; fails after the timeout (or if the server closed without sending it). */
  waitFor<T extends Message['type']>(type: T, timeoutMs = 10_000): Promise<Extract<Message, { type: T }>> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const m = this.messages.find((x) => x.type === type);
        if (!m) return false;
        this.waiters.delete(onData);
        clearTimeout(timer);
        this.socket.off('close', onClose);
        resolve(m as Extract<Message, { type: T }>);
        return true;
      };
      const onData = (): void => void check();
      const onClose = (): void => {
        if (check()) return;
        this.waiters.delete(onData);
        clearTimeout(timer);
        reject(new Error(`connection closed without a ${type}; got ${this.messages.map((x) => x.type).join(', ') || 'nothing'}`));
      };
      const timer = setTimeout(() => {
        this.waiters.delete(onData);
        this.socket.off('close', onClose);
        reject(new Error(`no ${type} within ${timeoutMs} ms; got ${this.messages.map((x) => x.type).join(', ') || 'nothing'}`));
      }, timeoutMs);
      if (check()) return;
      this.waiters.add(onData);
      this.socket.once('close', onClose);
    });
  }

  bye(timeoutMs?: number): Promise<ByeMessage> {
    return this.waitFor('bye', timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }
}
