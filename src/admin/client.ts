import net from 'node:net';
import {
  LineSplitter,
  encodeAdmin,
  parseAdminReply,
  type AdminReply,
  type AdminRequest,
  type EndedSession,
  type ListenChunk,
  type PreviewFrame,
  type ServerEvent,
  type ServerStatus,
} from '../protocol';
import type { AdminLink, RequestBody } from './link';

export class AdminClientError extends Error {
  constructor(
    readonly code: 'VIGIL_ERR_NO_SERVER' | 'VIGIL_ERR_ADMIN_TIMEOUT' | 'VIGIL_ERR_ADMIN_CLOSED' | 'VIGIL_ERR_ADMIN_REFUSED',
    message: string,
  ) {
    super(message);
    this.name = 'AdminClientError';
  }
}

type Pending = { resolve: (r: AdminReply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

/** A connection to a server's admin socket, shared by `vigil status` and the console. */
export class AdminClient implements AdminLink {
  private nextReq = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly lines = new LineSplitter();
  private readonly eventListeners = new Set<(e: ServerEvent) => void>();
  private readonly frameListeners = new Set<(f: PreviewFrame) => void>();
  private readonly audioListeners = new Set<(a: ListenChunk) => void>();
  private readonly closeListeners = new Set<(why: string) => void>();
  private closed = false;
  readonly where: string;

  private constructor(
    private readonly socket: net.Socket,
    readonly path: string,
    private readonly timeoutMs: number,
  ) {
    this.where = path;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => this.onClose('the server closed the admin connection'));
  }

  static connect(path: string, timeoutMs = 3_000): Promise<AdminClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(path);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new AdminClientError('VIGIL_ERR_ADMIN_TIMEOUT', `no answer from the admin socket ${path} within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new AdminClient(socket, path, timeoutMs));
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const missing = err.code === 'ENOENT' || err.code === 'ECONNREFUSED';
        reject(
          missing
            ? new AdminClientError('VIGIL_ERR_NO_SERVER', `no vigil server is running at ${path} (start one with \`vigil serve\`, or pass --admin-socket)`)
            : new AdminClientError('VIGIL_ERR_ADMIN_REFUSED', `cannot open the admin socket ${path}: ${err.message}`),
        );
      });
    });
  }

  private onData(chunk: Buffer): void {
    let lines: string[];
    try {
      lines = this.lines.push(chunk);
    } catch (err) {
      this.onClose((err as Error).message);
      this.socket.destroy();
      return;
    }
    for (const line of lines) {
      let reply: AdminReply;
      try {
        reply = parseAdminReply(line);
      } catch {
        continue;
      }
      if (reply.type === 'event') {
        for (const l of this.eventListeners) l(reply.event);
        continue;
      }
      if (reply.type === 'frame') {
        for (const l of this.frameListeners) l(reply.frame);
        continue;
      }
      if (reply.type === 'audio') {
        for (const l of this.audioListeners) l(reply.audio);
        continue;
      }
      const p = reply.req === null ? undefined : this.pending.get(reply.req);
      if (!p || reply.req === null) continue;
      this.pending.delete(reply.req);
      clearTimeout(p.timer);
      p.resolve(reply);
    }
  }

  private onClose(why: string): void {
    if (this.closed) return;
    this.closed = true;
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new AdminClientError('VIGIL_ERR_ADMIN_CLOSED', why));
    }
    this.pending.clear();
    for (const l of this.closeListeners) l(why);
  }

  request(body: RequestBody): Promise<AdminReply> {
    if (this.closed) return Promise.reject(new AdminClientError('VIGIL_ERR_ADMIN_CLOSED', 'the admin connection is closed'));
    const req = this.nextReq++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(req);
        reject(new AdminClientError('VIGIL_ERR_ADMIN_TIMEOUT', `the server did not answer "${body.type}" within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(req, { resolve, reject, timer });
      this.socket.write(encodeAdmin({ ...body, req } as AdminRequest));
    });
  }

  async status(): Promise<ServerStatus> {
    const reply = await this.request({ type: 'status' });
    if (reply.type !== 'status') throw new AdminClientError('VIGIL_ERR_ADMIN_REFUSED', `unexpected reply ${reply.type} to status`);
    return reply.status;
  }

  /** Sessions the server finalised since it started, newest last. */
  async ended(): Promise<EndedSession[]> {
    const reply = await this.request({ type: 'ended' });
    if (reply.type !== 'ended') throw new AdminClientError('VIGIL_ERR_ADMIN_REFUSED', `unexpected reply ${reply.type} to ended`);
    return reply.sessions;
  }

  /** Runs `body` and throws the server's error message if it refused. */
  async command(body: RequestBody): Promise<void> {
    const reply = await this.request(body);
    if (reply.type === 'error') throw new AdminClientError('VIGIL_ERR_ADMIN_REFUSED', reply.message);
  }

  async subscribe(listener: (e: ServerEvent) => void): Promise<void> {
    this.eventListeners.add(listener);
    await this.command({ type: 'subscribe' });
  }

  /** Preview frames arrive here after `command({ type: 'preview', id, fps })`. */
  onFrame(listener: (f: PreviewFrame) => void): () => void {
    this.frameListeners.add(listener);
    return () => this.frameListeners.delete(listener);
  }

  /** Live audio arrives here after `command({ type: 'listen', id })`. */
  onAudio(listener: (a: ListenChunk) => void): () => void {
    this.audioListeners.add(listener);
    return () => this.audioListeners.delete(listener);
  }

  onClosed(listener: (why: string) => void): void {
    this.closeListeners.add(listener);
  }

  close(): void {
    this.onClose('closed by this end');
    this.socket.destroy();
  }
}
