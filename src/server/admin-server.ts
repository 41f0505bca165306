import { mkdir, unlink, chmod } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import {
  AdminProtocolError,
  LineSplitter,
  encodeAdmin,
  parseAdminRequest,
  type AdminReply,
  type AdminRequest,
  type EndedSession,
  type ListenChunk,
  type ModeName,
  type PreviewFrame,
  type ServerEvent,
  type ServerStatus,
} from '../protocol';

/** What the admin socket may ask of the server. */
export interface AdminTarget {
  readonly events: { subscribe(listener: (e: ServerEvent) => void): () => void };
  status(): ServerStatus;
  /** Sessions finalised since the server started, newest last (a target without them answers an empty list). */
  ended?(): EndedSession[];
  preview(id: string): PreviewFrame | null;
  listenIn(id: string, listener: (chunk: ListenChunk) => void): (() => void) | null;
  setMode(id: string, mode: ModeName): boolean;
  kick(id: string, reason: string): boolean;
}

/** Unread bytes at which an admin subscriber is dropped: a stalled console must never slow the server. */
const MAX_SUBSCRIBER_BACKLOG = 1024 * 1024;
const PROBE_TIMEOUT_MS = 1_000;

export class AdminSocketError extends Error {
  readonly code = 'VIGIL_ERR_ADMIN_SOCKET';
}

/** Is a server answering on this socket path? A refused or missing socket means a stale file, safe to remove. */
function socketInUse(file: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(file);
    const timer = setTimeout(() => {
      probe.destroy();
      resolve(true);
    }, PROBE_TIMEOUT_MS);
    probe.once('connect', () => {
      clearTimeout(timer);
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

/**
 * The local admin socket (Unix, mode 0600): status snapshots, the live event stream, mode switches and kicks.
 * Only processes of the server's own user can connect; a proctor elsewhere reaches it over SSH.
 */
export class AdminServer {
  private readonly server: net.Server;
  private readonly clients = new Set<net.Socket>();

  constructor(
    readonly file: string,
    private readonly target: AdminTarget,
    private readonly log: Logger,
  ) {
    this.server = net.createServer((socket) => this.onClient(socket));
  }

  async listen(): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true, mode: 0o750 });
    if (await socketInUse(this.file)) {
      throw new AdminSocketError(`another vigil server is answering on ${this.file}; stop it or pass --admin-socket`);
    }
    await unlink(this.file).catch(() => undefined);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', (err) => reject(new AdminSocketError(`cannot create admin socket ${this.file}: ${err.message}`)));
      // The umask makes the socket 0600 from the moment it exists; chmod below is belt and braces.
      const old = process.umask(0o177);
      try {
        this.server.listen(this.file, () => resolve());
      } finally {
        process.umask(old);
      }
    });
    await chmod(this.file, 0o600);
  }

  private onClient(socket: net.Socket): void {
    this.clients.add(socket);
    const lines = new LineSplitter();
    let unsubscribe: (() => void) | null = null;
    let previewTimer: NodeJS.Timeout | null = null;
    let stopListening: (() => void) | null = null;
    const stopPreview = (): void => {
      if (previewTimer) clearInterval(previewTimer);
      previewTimer = null;
    };
    const reply = (msg: AdminReply): void => {
      if (socket.destroyed) return;
      if (socket.writableLength > MAX_SUBSCRIBER_BACKLOG) {
        this.log.warn({ backlog: socket.writableLength }, 'admin client not reading; dropped');
        socket.destroy();
        return;
      }
      socket.write(encodeAdmin(msg));
    };
    socket.on('data', (chunk: Buffer) => {
      let requests: string[];
      try {
        requests = lines.push(chunk);
      } catch (err) {
        const e = err as AdminProtocolError;
        reply({ type: 'error', req: null, code: e.code, message: e.message });
        socket.end();
        return;
      }
      for (const line of requests) {
        let req: AdminRequest;
        try {
          req = parseAdminRequest(line);
        } catch (err) {
          const e = err as AdminProtocolError;
          reply({ type: 'error', req: null, code: e.code, message: e.message });
          continue;
        }
        switch (req.type) {
          case 'status':
            reply({ type: 'status', req: req.req, status: this.target.status() });
            break;
          case 'ended':
            reply({ type: 'ended', req: req.req, sessions: this.target.ended?.() ?? [] });
            break;
          case 'subscribe':
            unsubscribe ??= this.target.events.subscribe((event) => reply({ type: 'event', event }));
            reply({ type: 'ok', req: req.req });
            break;
          case 'preview': {
            // One preview per admin client: a new request replaces the old. Only frames newer than the last sent go out.
            stopPreview();
            const id = req.id;
            let lastTs = -1;
            const tick = (): void => {
              const frame = this.target.preview(id);
              if (!frame || frame.timestamp_ms === lastTs) return;
              lastTs = frame.timestamp_ms;
              reply({ type: 'frame', frame });
            };
            previewTimer = setInterval(tick, 1000 / req.fps);
            tick();
            reply({ type: 'ok', req: req.req });
            break;
          }
          case 'preview_stop':
            stopPreview();
            reply({ type: 'ok', req: req.req });
            break;
          case 'listen': {
            stopListening?.();
            stopListening = this.target.listenIn(req.id, (audio) => reply({ type: 'audio', audio }));
            reply(stopListening ? { type: 'ok', req: req.req } : { type: 'error', req: req.req, code: 'unknown_candidate', message: `no connected candidate ${JSON.stringify(req.id)} with audio` });
            break;
          }
          case 'listen_stop':
            stopListening?.();
            stopListening = null;
            reply({ type: 'ok', req: req.req });
            break;
          case 'set_mode':
          case 'kick': {
            const found = req.type === 'kick' ? this.target.kick(req.id, req.reason) : this.target.setMode(req.id, req.mode);
            reply(found ? { type: 'ok', req: req.req } : { type: 'error', req: req.req, code: 'unknown_candidate', message: `no connected candidate ${JSON.stringify(req.id)}` });
            break;
          }
        }
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      stopPreview();
      stopListening?.();
      unsubscribe?.();
      this.clients.delete(socket);
    });
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await unlink(this.file).catch(() => undefined);
  }
}
