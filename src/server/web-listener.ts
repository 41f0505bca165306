/**
 * The candidate page's port: static files over HTTP(S) and, at /ws, a WebSocket whose bytes go to the very
 * connection handler TCP candidates use (same decoder, limits, auth, counters). Only the upgrade itself is
 * judged here: a page on a foreign origin is refused before any candidate code runs, and counted like a drop.
 */
import { createReadStream, statSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import path from 'node:path';
import type { Logger } from 'pino';
import { WebSocketServer, createWebSocketStream, type WebSocket } from 'ws';
import { HEADER_SIZE, type ByeReasonName } from '../protocol';
import type { CandidateSocket } from './connection';
import { ServerError } from './server-options';

/** The path of the WebSocket on the page's origin. */
export const WEB_SOCKET_PATH = '/ws';

export interface WebListenerOptions {
  host: string;
  port: number;
  tls?: { cert: Buffer; key: Buffer } | null;
  /** Folder of the candidate page's files; null serves no page (only the WebSocket). */
  staticDir: string | null;
  /** The largest payload of any kind the server accepts; a bigger WebSocket message is refused unread. */
  maxPayload: number;
  /** Origins besides the page's own that may open the WebSocket (`https://exam.example.org`). */
  allowedOrigins?: readonly string[];
  /** Seconds a browser has to send the upgrade request's headers. */
  headersTimeoutMs: number;
  log: Logger;
  accept(socket: CandidateSocket): void;
  refuse(address: string, reason: ByeReasonName, message: string): void;
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
};

/**
 * The page may talk only to its own origin and use only its own scripts; the token in the link's fragment never
 * leaves the browser in a Referer.
 */
const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': "default-src 'self'; connect-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; style-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Permissions-Policy': 'camera=(self), microphone=(self)',
  'Cache-Control': 'no-cache',
};

export class WebListener {
  private readonly http: http.Server | https.Server;
  private readonly wss: WebSocketServer;
  private readonly sockets = new Set<Duplex>();
  private address: { host: string; port: number } | null = null;

  constructor(private readonly opts: WebListenerOptions) {
    this.http = opts.tls ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key, minVersion: 'TLSv1.2' }) : http.createServer();
    this.http.headersTimeout = opts.headersTimeoutMs;
    this.http.requestTimeout = Math.max(opts.headersTimeoutMs, 10_000);
    this.http.on('request', (req, res) => this.onRequest(req, res));
    this.http.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    this.http.on('connection', (s: Duplex) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    this.http.on('clientError', (err, socket) => {
      opts.log.debug({ err: err.message }, 'bad HTTP request');
      socket.destroy();
    });
    // One frame per message from the page; the protocol decoder enforces each kind's own limit on what passes.
    this.wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxPayload + HEADER_SIZE, perMessageDeflate: false });
  }

  async listen(): Promise<{ host: string; port: number }> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void =>
        reject(new ServerError('VIGIL_ERR_LISTEN', `cannot listen on ${this.opts.host}:${this.opts.port} for the candidate page: ${err.code === 'EADDRINUSE' ? 'the port is in use' : err.message}`));
      this.http.once('error', onError);
      this.http.listen(this.opts.port, this.opts.host, () => {
        this.http.off('error', onError);
        resolve();
      });
    });
    const a = this.http.address() as AddressInfo;
    this.address = { host: a.address, port: a.port };
    this.opts.log.info({ host: a.address, port: a.port, tls: Boolean(this.opts.tls), page: this.opts.staticDir !== null }, 'web listening');
    return this.address;
  }

  /** Stops accepting; the WebSocket candidates themselves are closed by the server like any other. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    // Idle keep-alive HTTP connections would hold the port; WebSocket streams end with their candidate.
    this.http.closeIdleConnections();
    await closed;
    this.wss.close();
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const address = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0}`;
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== WEB_SOCKET_PATH) {
      refuseUpgrade(socket, 404, 'Not Found');
      return;
    }
    const origin = req.headers.origin;
    const problem = originProblem(origin, req.headers.host, Boolean(this.opts.tls), this.opts.allowedOrigins ?? []);
    if (problem) {
      refuseUpgrade(socket, 403, 'Forbidden');
      this.opts.refuse(address, 'origin_refused', problem);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      // ws refuses a message over maxPayload (or a broken WebSocket frame) itself and closes the socket; the
      // connection only sees the stream end, so the reason is counted here, with the TCP candidates' names.
      ws.on('error', (err: Error & { code?: string }) => {
        const reason: ByeReasonName = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'message_too_large' : 'protocol_error';
        this.opts.refuse(address, reason, `WebSocket closed: ${err.message}`);
      });
      this.opts.accept(streamOf(ws, req));
    });
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    const file = this.staticDir === null ? null : staticFile(this.staticDir, new URL(req.url ?? '/', 'http://x').pathname);
    if (!file) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file.path)] ?? 'application/octet-stream', 'Content-Length': file.size, ...PAGE_HEADERS });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    createReadStream(file.path)
      .on('error', () => res.destroy())
      .pipe(res);
  }

  private get staticDir(): string | null {
    return this.opts.staticDir;
  }
}

/** Why a WebSocket upgrade from `origin` is refused, or null. Browsers always send Origin; other clients may not. */
export function originProblem(origin: string | undefined, host: string | undefined, tls: boolean, allowed: readonly string[]): string | null {
  if (origin === undefined) return null;
  if (allowed.includes(origin)) return null;
  const own = host ? `${tls ? 'https' : 'http'}://${host}` : null;
  if (own !== null && origin.toLowerCase() === own.toLowerCase()) return null;
  return `WebSocket from a page on another origin (${origin.slice(0, 200)}), not this server's (${own ?? 'no Host header'})`;
}

/** The file a URL path names inside `root`, or null: no dot-files, nothing outside the folder, no directories. */
export function staticFile(root: string, urlPath: string): { path: string; size: number } | null {
  let rel: string;
  try {
    rel = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (rel.endsWith('/')) rel += 'index.html';
  if (rel.includes('\0') || rel.split('/').some((part) => part.startsWith('.'))) return null;
  const full = path.resolve(root, '.' + path.posix.normalize('/' + rel));
  if (!full.startsWith(path.resolve(root) + path.sep)) return null;
  try {
    const st = statSync(full);
    return st.isFile() ? { path: full, size: st.size } : null;
  } catch {
    return null;
  }
}

function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/** A WebSocket as the byte stream a candidate connection reads, with the browser's address. */
function streamOf(ws: WebSocket, req: http.IncomingMessage): CandidateSocket {
  const stream: CandidateSocket = createWebSocketStream(ws);
  Object.defineProperty(stream, 'remoteAddress', { value: req.socket.remoteAddress });
  Object.defineProperty(stream, 'remotePort', { value: req.socket.remotePort });
  // ws's stream is half-open: the browser's close only ends the reading side. A closed WebSocket cannot take
  // replies, so once everything it sent has been read, the stream is done, as a TCP socket would be.
  stream.once('end', () => stream.destroy());
  return stream;
}
