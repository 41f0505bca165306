// The candidates' TCP or TLS listener; apart from server.ts, which only takes the sockets it accepts. A TLS
// handshake that fails never becomes a connection, so it is handed back here as a refusal to count and log.
import net from 'node:net';
import tls from 'node:tls';
import type { ServerOptions } from './server-options';

export function candidateListener(
  tlsFiles: ServerOptions['tls'],
  handshakeTimeoutMs: number,
  accept: (socket: net.Socket) => void,
  tlsFailed: (address: string, message: string, code: string | null) => void,
): net.Server | tls.Server {
  if (!tlsFiles) return net.createServer({ pauseOnConnect: false }, accept);
  const server = tls.createServer({ cert: tlsFiles.cert, key: tlsFiles.key, minVersion: 'TLSv1.2', handshakeTimeout: handshakeTimeoutMs }, accept);
  // A failed or stalled TLS handshake never reaches a connection object: count and log it here.
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
    // With a listener here Node leaves the socket open: close it, or a silent peer holds it forever.
    socket.destroy();
    tlsFailed(`${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`, `TLS handshake failed: ${err.message}`, err.code ?? null);
  });
  return server;
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.') || host === '::ffff:127.0.0.1';
}
