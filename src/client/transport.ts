import net from 'node:net';
import tls from 'node:tls';
import { ClientExit, ClientStop } from './exit';

export interface SocketTarget {
  host: string;
  port: number;
  /** Connect with TLS; `ca` replaces the system's certificate store (for a self-signed server). */
  tls: { ca?: Buffer } | null;
  timeoutMs: number;
}

export interface SocketEvents {
  /** The socket exists (before it is connected), so a caller can tell its own socket from an older one. */
  created(socket: net.Socket): void;
  data(socket: net.Socket, chunk: Buffer): void;
  /** The connection, once up, went away; `why` is a sentence for the candidate. */
  lost(socket: net.Socket, why: string): void;
}

/** Opens the TCP or TLS connection to the server; rejects with a ClientStop a candidate can act on. */
export function openSocket(target: SocketTarget, on: SocketEvents): Promise<net.Socket> {
  const { host, port, timeoutMs } = target;
  const useTls = target.tls;
  return new Promise((resolve, reject) => {
    const socket = useTls
      ? tls.connect({ host, port, ...(useTls.ca ? { ca: useTls.ca } : {}), ...(net.isIP(host) ? {} : { servername: host }), minVersion: 'TLSv1.2' })
      : net.connect({ host, port });
    on.created(socket);
    let up = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ClientStop(ClientExit.connection, `cannot connect to ${host}:${port}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once(useTls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      up = true;
      socket.setNoDelay(true);
      resolve(socket);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why =
        err.code === 'ECONNREFUSED'
          ? 'connection refused (is `vigil serve` running there?)'
          : /certificate|self[- ]signed|CERT_|UNABLE_TO_VERIFY/i.test(`${err.code} ${err.message}`)
            ? `the server's TLS certificate is not trusted (${err.message}); pass its CA with --tls-ca`
            : err.message;
      if (!up) reject(new ClientStop(ClientExit.connection, `cannot connect to ${host}:${port}: ${why}`));
      else on.lost(socket, `the server went away (${err.message})`);
    });
    socket.on('data', (chunk: Buffer) => on.data(socket, chunk));
    socket.on('close', () => {
      clearTimeout(timer);
      if (up) on.lost(socket, 'the server went away (it closed the connection without a BYE)');
    });
  });
}

/** Resolves once the socket's queue is at most `maxBytes` (or it closed, or the signal fired). */
export async function untilWritable(socket: net.Socket, maxBytes: number, signal: AbortSignal): Promise<void> {
  while (socket.writableLength > maxBytes && !socket.destroyed && !signal.aborted) {
    await new Promise<void>((resolve) => {
      const done = (): void => {
        socket.off('drain', done);
        socket.off('close', done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      socket.once('drain', done);
      socket.once('close', done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
