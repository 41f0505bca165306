/**
 * Turns control requests from the bus into the calls the admin socket makes (status, kick, mode, preview,
 * listen-in). Preview frames and audio go to the watcher's own subject over core NATS (never a JetStream stream)
 * and only while the watcher renews its lease: a console that vanished stops the flow within WATCH_LEASE_MS.
 */
import type { Logger } from 'pino';
import { AdminProtocolError, type AdminReply } from '../protocol';
import type { AdminTarget } from '../server/admin-server';
import { WATCH_LEASE_MS, parseControl } from './wire';

interface Watch {
  stop(): void;
  lease: NodeJS.Timeout;
  /** The candidate and rate it was asked for: a renewal with the same ones keeps the stream as it is. */
  key: string;
}

export class ControlHandler {
  /** Previews and listen-ins by watcher subject. */
  private readonly previews = new Map<string, Watch>();
  private readonly listens = new Map<string, Watch>();

  constructor(
    private readonly target: AdminTarget,
    private readonly send: (subject: string, reply: AdminReply) => void,
    private readonly log: Logger,
  ) {}

  get watching(): number {
    return this.previews.size + this.listens.size;
  }

  handle(data: Uint8Array): AdminReply {
    let to: string | null;
    let request;
    try {
      ({ request, to } = parseControl(data));
    } catch (err) {
      const code = err instanceof AdminProtocolError ? err.code : 'bad_request';
      return { type: 'error', req: null, code, message: (err as Error).message };
    }
    const req = request.req;
    const unknown = (id: string): AdminReply => ({ type: 'error', req, code: 'unknown_candidate', message: `no connected candidate ${JSON.stringify(id)}` });
    switch (request.type) {
      case 'status':
        return { type: 'status', req, status: this.target.status() };
      case 'subscribe':
        return { type: 'error', req, code: 'bad_request', message: 'events are on vigil.events.>; subscribe to the subject' };
      case 'ended':
        return { type: 'ended', req, sessions: this.target.ended?.() ?? [] };
      case 'kick':
        this.log.info({ id: request.id, via: 'nats' }, 'kick requested over the bus');
        return this.target.kick(request.id, request.reason) ? { type: 'ok', req } : unknown(request.id);
      case 'set_mode':
        return this.target.setMode(request.id, request.mode) ? { type: 'ok', req } : unknown(request.id);
      case 'preview': {
        if (!to) return { type: 'error', req, code: 'bad_request', message: 'preview over the bus needs "to"' };
        const { id, fps } = request;
        this.watch(this.previews, to, `${id}@${fps}`, () => {
          let lastTs = -1;
          const tick = (): void => {
            const frame = this.target.preview(id);
            if (!frame || frame.timestamp_ms === lastTs) return;
            lastTs = frame.timestamp_ms;
            this.send(to, { type: 'frame', frame });
          };
          const timer = setInterval(tick, 1000 / fps);
          tick();
          return () => clearInterval(timer);
        });
        return { type: 'ok', req };
      }
      case 'listen': {
        if (!to) return { type: 'error', req, code: 'bad_request', message: 'listen over the bus needs "to"' };
        const id = request.id;
        let found = true;
        this.watch(this.listens, to, id, () => {
          const stop = this.target.listenIn(id, (audio) => this.send(to, { type: 'audio', audio }));
          found = stop !== null;
          return stop ?? (() => undefined);
        });
        if (!found) this.unwatch(this.listens, to);
        return found ? { type: 'ok', req } : { type: 'error', req, code: 'unknown_candidate', message: `no connected candidate ${JSON.stringify(id)} with audio` };
      }
      case 'preview_stop':
        if (to) this.unwatch(this.previews, to);
        return { type: 'ok', req };
      case 'listen_stop':
        if (to) this.unwatch(this.listens, to);
        return { type: 'ok', req };
    }
  }

  /** Starts (or renews) the watcher's stream; a renewal of the same stream only extends its lease. */
  private watch(map: Map<string, Watch>, to: string, key: string, start: () => () => void): void {
    const old = map.get(to);
    if (old && old.key === key) {
      old.lease.refresh();
      return;
    }
    this.unwatch(map, to);
    const stop = start();
    const lease = setTimeout(() => this.unwatch(map, to), WATCH_LEASE_MS);
    map.set(to, { stop, lease, key });
  }

  private unwatch(map: Map<string, Watch>, to: string): void {
    const w = map.get(to);
    if (!w) return;
    map.delete(to);
    clearTimeout(w.lease);
    w.stop();
  }

  close(): void {
    for (const to of [...this.previews.keys()]) this.unwatch(this.previews, to);
    for (const to of [...this.listens.keys()]) this.unwatch(this.listens, to);
  }
}
