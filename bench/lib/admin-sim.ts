/**
 * An admin-socket peer that speaks the real admin protocol (src/protocol/admin.ts) over a real Unix socket for N
 * simulated candidates: status snapshots whose figures move every second, a stream of face and incident events,
 * preview frames from a JPEG, and ok for commands. The console cannot tell it from a server; bench/console and the
 * console's key test use it because 200 real candidates do not fit on this machine next to the console measured.
 */
import net from 'node:net';
import { readFileSync } from 'node:fs';
import {
  LineSplitter,
  encodeAdmin,
  parseAdminRequest,
  type AdminReply,
  type AdminRequest,
  type CandidateStatus,
  type EndedSession,
  type ReconnectingStatus,
  type ServerEvent,
  type ServerStatus,
  type VerdictName,
} from '../../src/protocol';

export interface SimOptions {
  socketPath: string;
  candidates: number;
  /** How many of them are waiting in the resume window. */
  reconnecting?: number;
  /** Face events per second over all candidates (a real exam: a few a second). */
  eventsPerS?: number;
  /** A JPEG for previews. */
  previewJpeg?: string;
  /** What `ended` answers. */
  ended?: EndedSession[];
}

const FACES: VerdictName[] = ['ok', 'ok', 'ok', 'misaligned', 'no_face', 'multiple_faces'];

/** A deterministic candidate number i: its id, fps and incident history, so tests can predict the table. */
export function simCandidate(i: number, atS: number): CandidateStatus {
  const declared = 15;
  // Every 7th candidate streams at half rate, every 11th stalls for 10 s of each 30: the sparklines have shapes.
  const fps = i % 11 === 3 && Math.floor(atS) % 30 < 10 ? 0 : i % 7 === 2 ? 7.5 : 15;
  const face = FACES[(i + Math.floor(atS / 5)) % FACES.length]!;
  return {
    id: `cand-${String(i).padStart(3, '0')}`,
    session_id: `s${i}`,
    address: `10.0.${Math.floor(i / 250)}.${i % 250}:40000`,
    mode: 'both',
    connected_s: 600 - i,
    video_fps: fps,
    audio_kbps: 256,
    bytes_in: i * 1000,
    frames_received: i * 10,
    frames_recorded: i * 10,
    audio_s: 60,
    face,
    faces: face === 'no_face' ? 0 : face === 'multiple_faces' ? 2 : 1,
    incident: face === 'ok' ? null : face,
    incidents: i % 5,
    incident_s: (i % 5) * 7 + (i % 13),
    declared_fps: declared,
    speech: false,
    write_error: null,
    analyses: 0,
    analysis_gated: 0,
    analysis_quick: 0,
    analysis_skipped: 0,
    analysis_failed: 0,
    analysis_rate: 5,
    verdict_latency_ms: null,
    change_latency_ms: null,
  };
}

export class AdminSimulator {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly subscribers = new Set<net.Socket>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly started = performance.now();
  private readonly jpeg: string | null;
  statusRequests = 0;
  /** Every request received, for tests that check what the console asked. */
  readonly requests: AdminRequest[] = [];
  /** Overrides for a candidate's status (by index), applied on top of simCandidate. */
  readonly overrides = new Map<number, Partial<CandidateStatus>>();

  constructor(private readonly opts: SimOptions) {
    this.jpeg = opts.previewJpeg ? readFileSync(opts.previewJpeg).toString('base64') : null;
    this.server = net.createServer((s) => this.onClient(s));
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.socketPath, resolve);
    });
    const perS = this.opts.eventsPerS ?? 20;
    if (perS > 0) this.timers.push(setInterval(() => this.emitEvent(), 1000 / perS));
  }

  private get atS(): number {
    return (performance.now() - this.started) / 1000;
  }

  status(): ServerStatus {
    const total = this.opts.candidates;
    const waiting = Math.min(total, this.opts.reconnecting ?? 0);
    const all = Array.from({ length: total }, (_, i) => ({ ...simCandidate(i, this.atS), ...this.overrides.get(i) }));
    const candidates = all.slice(0, total - waiting);
    const reconnecting: ReconnectingStatus[] = all.slice(total - waiting).map((c, k) => ({ ...c, video_fps: 0, incident: 'disconnected', resume_left_s: 25 - k }));
    return { version: 'sim', listen: '127.0.0.1:7000', record_dir: '/tmp/sim', started_at: new Date().toISOString(), uptime_s: Math.round(this.atS), candidates, reconnecting, drops: {}, detection: { state: 'up' }, recording_failures: 0 };
  }

  private eventNo = 0;

  private emitEvent(): void {
    const i = this.eventNo++ % Math.max(1, this.opts.candidates);
    const c = simCandidate(i, this.atS);
    const event: ServerEvent = { kind: 'face_status', at: new Date().toISOString(), id: c.id, face: c.face, faces: c.faces };
    for (const s of this.subscribers) this.send(s, { type: 'event', event });
  }

  private send(s: net.Socket, msg: AdminReply): void {
    if (!s.destroyed) s.write(encodeAdmin(msg));
  }

  private onClient(socket: net.Socket): void {
    this.sockets.add(socket);
    const lines = new LineSplitter();
    let preview: NodeJS.Timeout | null = null;
    const stopPreview = (): void => {
      if (preview) clearInterval(preview);
      preview = null;
    };
    socket.on('error', () => undefined);
    socket.on('close', () => {
      stopPreview();
      this.sockets.delete(socket);
      this.subscribers.delete(socket);
    });
    socket.on('data', (chunk: Buffer) => {
      for (const line of lines.push(chunk)) {
        const req = parseAdminRequest(line);
        this.requests.push(req);
        switch (req.type) {
          case 'status':
            this.statusRequests++;
            this.send(socket, { type: 'status', req: req.req, status: this.status() });
            break;
          case 'subscribe':
            this.subscribers.add(socket);
            this.send(socket, { type: 'ok', req: req.req });
            break;
          case 'preview': {
            stopPreview();
            const jpeg = this.jpeg;
            if (!jpeg) {
              this.send(socket, { type: 'error', req: req.req, code: 'unknown_candidate', message: 'no preview in this simulation' });
              break;
            }
            const id = req.id;
            let t = 0;
            const tick = (): void => this.send(socket, { type: 'frame', frame: { id, timestamp_ms: (t += 1000 / req.fps), jpeg, face: 'ok', faces: [] } });
            preview = setInterval(tick, 1000 / req.fps);
            this.send(socket, { type: 'ok', req: req.req });
            tick();
            break;
          }
          case 'ended':
            this.send(socket, { type: 'ended', req: req.req, sessions: this.opts.ended ?? [] });
            break;
          case 'preview_stop':
            stopPreview();
            this.send(socket, { type: 'ok', req: req.req });
            break;
          default:
            this.send(socket, { type: 'ok', req: req.req });
        }
      }
    });
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
