// `vigil serve --web-port`: the candidate page's listener, wired to the server's connection handler.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { WebListener, type VigilServer } from '../server';

/** The candidate page, built by `make` into dist/web (see src/web). */
const PAGE_DIR = path.resolve(__dirname, '..', '..', 'web');

export interface WebFlags {
  host: string;
  webPort?: number;
  webOrigin?: string[];
  maxVideoBytes: number;
  maxAudioBytes: number;
  handshakeTimeout: number;
}

export async function startWebListener(flags: WebFlags & { webPort: number }, server: VigilServer, tls: { cert: Buffer; key: Buffer } | null, log: Logger): Promise<WebListener> {
  const page = existsSync(path.join(PAGE_DIR, 'index.html')) ? PAGE_DIR : null;
  if (!page) log.warn({ dir: PAGE_DIR }, 'the candidate page is not built (run make); serving only its WebSocket');
  const web = new WebListener({
    host: flags.host,
    port: flags.webPort,
    tls,
    staticDir: page,
    maxPayload: Math.max(flags.maxVideoBytes, flags.maxAudioBytes),
    allowedOrigins: flags.webOrigin ?? [],
    headersTimeoutMs: flags.handshakeTimeout * 1000,
    log: log.child({ part: 'web' }),
    accept: (socket) => server.acceptSocket(socket),
    refuse: (address, reason, message) => server.refused(address, reason, message),
  });
  await web.listen();
  return web;
}
