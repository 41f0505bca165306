import type net from 'node:net';
import type tls from 'node:tls';
import path from 'node:path';
import type { Logger } from 'pino';
import {
  PROTOCOL_VERSION,
  type ByeReasonName,
  type HelloMessage,
  type ModeName,
  type ListenChunk,
  type PreviewFrame,
  type ProtocolError,
  type ServerEvent,
  type ServerStatus,
  type EndedSession,
} from '../protocol';
import { AdminServer } from './admin-server';
import { listenTo, previewOf } from './admin-views';
import { helloRefusal } from './admission-checks';
import { candidateListener, isLoopback } from './candidate-listener';
import { CandidateConnection, type Admission, type CandidateSocket, type ConnectionHost, type ConnectionSettings } from './connection';
import { DetachedSessions } from './detached-sessions';
import { EndedSessions } from './ended-sessions';
import { DetectionWatch } from './detection';
import { ServerEvents, nowIso } from './events';
import { checkToken } from './auth';
import { connectionSettings } from './connection-settings';
import { repairOrphans } from './repair';
import { newSessionId } from './ids';
import { PendingHandshakes } from './pending-handshakes';
import { RecordingFailures } from './recording-failures';
import { Session } from './session';
import { sameMedia } from './hello-checks';
import { ServerError, type ServerOptions } from './server-options';
import { serverStatus } from './server-status';
import { TaskQueue } from './task-queue';

export { ServerError, type ServerOptions } from './server-options';
export { isLoopback } from './candidate-listener';

/**
 * The proctoring server: accepts candidates, admits them into sessions, records them and publishes typed events.
 * It never draws and never decides what a face is (see ARCHITECTURE.md).
 */
export class VigilServer implements ConnectionHost {
  readonly events: ServerEvents;
  readonly settings: ConnectionSettings;
  private readonly log: Logger;
  private readonly tcp: net.Server | tls.Server;
  private admin: AdminServer | null = null;
  private readonly connections = new Set<CandidateConnection>();
  /** Candidate id -> its connection, from the moment its HELLO is accepted for admission. */
  private readonly byId = new Map<string, CandidateConnection>();
  /** Connections per address still in their handshake. */
  private readonly pending = new PendingHandshakes();
  /** Sessions whose connection died, kept for a resume until their timer runs out. */
  private readonly detached = new DetachedSessions();
  private readonly endedSessions = new EndedSessions();
  private readonly endings = new Set<Promise<void>>();
  private readonly drops: Partial<Record<ByeReasonName, number>> = {};
  private readonly startedAt = new Date();
  private nextConnId = 1;
  private closing: Promise<void> | null = null;
  private listenAddress = '';

  private readonly secret: Uint8Array | null;
  private readonly detection: DetectionWatch;
  private readonly failures: RecordingFailures;
  /** Subtitle muxes waiting or running; close() waits for all of them (they are in `endings`). */
  readonly muxes: TaskQueue;

  constructor(private readonly opts: ServerOptions) {
    this.log = opts.logger;
    if (opts.auth === 'tokens' && !opts.secret) throw new Error('auth "tokens" needs a secret');
    this.secret = opts.secret ?? null;
    this.events = new ServerEvents((err) => this.log.error({ err }, 'event listener failed'));
    this.failures = new RecordingFailures(this.log, (e) => this.publish(e), (session) => {
      const conn = this.byId.get(session.id);
      return conn && conn.isOpen && conn.session === session ? conn : null;
    });
    this.muxes = new TaskQueue(opts.maxConcurrentMuxes ?? 2);
    this.settings = connectionSettings(opts);
    this.detection = new DetectionWatch(this.settings.analyzer, this.log, (e) => this.publish(e), (reason) => this.detectionLost(reason));
    this.tcp = candidateListener(opts.tls, this.settings.handshakeTimeoutMs, (socket) => this.acceptSocket(socket), (address, message, code) =>
      this.refused(address, 'tls_failed', message, code),
    );
    this.tcp.on('error', (err) => this.log.error({ err }, 'listener error'));
  }

  /** Binds the candidate port and the admin socket; resolves with the bound TCP address. */
  async listen(): Promise<{ host: string; port: number }> {
    await repairOrphans(this.opts.recordDir, this.log);
    if (this.opts.adminSocket) {
      this.admin = new AdminServer(this.opts.adminSocket, this, this.log.child({ part: 'admin' }));
      await this.admin.listen();
    }
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(new ServerError('VIGIL_ERR_LISTEN', `cannot listen on ${this.opts.host}:${this.opts.port}: ${err.code === 'EADDRINUSE' ? 'the port is in use (another vigil serve?)' : err.message}`));
      };
      this.tcp.once('error', onError);
      this.tcp.listen(this.opts.port, this.opts.host, () => {
        this.tcp.off('error', onError);
        resolve();
      });
    }).catch(async (err) => {
      await this.admin?.close();
      throw err;
    });
    const addr = this.tcp.address() as net.AddressInfo;
    this.listenAddress = `${addr.address}:${addr.port}`;
    if (!this.opts.tls && !isLoopback(addr.address)) {
      this.log.warn({ host: addr.address }, 'listening beyond this machine without TLS: candidates\' video, audio and tokens cross the network in clear; pass --tls-cert and --tls-key');
    }
    this.log.info(
      { host: addr.address, port: addr.port, tls: Boolean(this.opts.tls), recordDir: path.resolve(this.opts.recordDir), adminSocket: this.opts.adminSocket, auth: this.opts.auth, protocol: PROTOCOL_VERSION },
      'listening',
    );
    return { host: addr.address, port: addr.port };
  }

  /** A new candidate connection from any transport: the TCP or TLS listener here, or a WebSocket (web-listener.ts). */
  acceptSocket(socket: CandidateSocket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const log = this.log.child({ conn: this.nextConnId++, remote: `${socket.remoteAddress}:${socket.remotePort}` });
    const conn = new CandidateConnection(socket, this, log);
    this.connections.add(conn);
    const ip = socket.remoteAddress ?? '?';
    const pending = this.pending.add(conn, ip);
    log.debug('connected');
    const max = this.opts.maxPendingPerAddress ?? 16;
    if (pending > max) conn.drop('too_many_unauthenticated', null, `${ip} already has ${max} connections that have not finished their handshake`);
  }

  async admit(conn: CandidateConnection, hello: HelloMessage): Promise<Admission> {
    if (this.closing) return { ok: false, reason: 'going_away', text: 'the server is shutting down' };
    const refusal = helloRefusal(hello, { max: this.opts.maxCandidates ?? 200, held: new Set([...this.byId.keys(), ...this.detached.ids()]), detached: this.detached.size });
    if (refusal) return refusal;
    if (this.opts.auth === 'tokens') {
      // Checked before anything else about the id, so a failed login never disturbs a session with that id.
      const check = await checkToken(this.secret!, hello.token, hello.candidateId);
      if (!check.ok) return { ok: false, reason: 'auth_failed', text: check.text };
      if (this.closing) return { ok: false, reason: 'going_away', text: 'the server is shutting down' };
    }
    const holder = this.byId.get(hello.candidateId);
    if (holder && this.opts.auth === 'tokens' && holder.isOpen) {
      // A proven owner of the id replaces a connection it has probably lost (a dead Wi-Fi, a crashed laptop).
      holder.log.info({ id: hello.candidateId, by: conn.remoteAddress }, 'superseded by a new login');
      holder.close('superseded', `a new connection logged in as ${hello.candidateId} from ${conn.remoteAddress}`, 'superseded');
    } else if (holder) {
      return { ok: false, reason: 'id_in_use', text: `candidate ${hello.candidateId} is already connected from ${holder.remoteAddress}` };
    }
    this.byId.set(hello.candidateId, conn);
    const parked = this.detached.take(hello.candidateId);
    if (parked) {
      if (sameMedia(parked.session, hello)) {
        this.publishIncidents(parked.session, parked.session.closeGap());
        return { ok: true, session: parked.session, resumed: true };
      }
      // Different video size or audio format: it cannot continue the same file. That session ends; a new one starts.
      parked.session.closeGap();
      void this.sessionEnded(parked.conn, parked.session, 'disconnected');
    }
    const claim = this.opts.sessions ? await this.opts.sessions.claim(hello) : { kind: 'new' as const, sessionId: newSessionId(), part: null };
    if (claim.kind === 'refused') {
      this.byId.delete(hello.candidateId);
      return { ok: false, reason: 'id_in_use', text: claim.text };
    }
    try {
      const session = await Session.open({
        ...(claim.part ? { part: claim.part } : {}),
        recordDir: this.opts.recordDir,
        candidateId: hello.candidateId,
        sessionId: claim.sessionId,
        remoteAddress: conn.remoteAddress,
        clientVersion: hello.clientVersion,
        video: hello.video,
        audio: hello.audio,
        writingApp: `vigil ${this.opts.version}`,
        incidentAfterS: this.opts.incidentAfterS ?? 1.0,
        speechAfterS: this.opts.speechAfterS ?? 1.0,
      });
      this.failures.watch(session);
      // Continuing another node's session: the time it was away is on the timeline like any disconnection.
      if (claim.kind === 'continue') this.publishIncidents(session, [...session.openGap(claim.part.gapFromS ?? undefined), ...session.closeGap()]);
      this.opts.sessions?.opened(session, () => this.openConnection(session.id)?.session === session, () => this.endParked(session, 'moved'));
      return { ok: true, session, resumed: claim.kind === 'continue' };
    } catch (err) {
      this.byId.delete(hello.candidateId);
      conn.log.error({ err }, 'cannot open a recording');
      return { ok: false, reason: 'recording_failed', text: `the server cannot record this session: ${(err as Error).message}` };
    }
  }

  welcomed(conn: CandidateConnection, session: Session, resumed: boolean): void {
    this.pending.settle(conn);
    conn.log.info(
      { id: session.id, session: session.init.sessionId, video: conn.hello!.video, audio: conn.hello!.audio, client: conn.hello!.clientVersion, resumed },
      resumed ? 'candidate resumed' : 'candidate joined',
    );
    // A candidate who joins during an outage is told at once, like those who were there when it began.
    const detection = this.detection.status;
    if (detection.state === 'down' && conn.hello!.video) conn.alert('detector_down', detectorDownText(detection.reason));
    this.publish({ kind: 'candidate_joined', at: nowIso(), id: session.id, session_id: session.init.sessionId, address: conn.remoteAddress, mode: session.mode });
    this.failures.welcomed(conn, session);
  }

  /** A connection refused before it became one (a failed TLS handshake, a WebSocket from a foreign page): counted like a drop. */
  refused(address: string, reason: ByeReasonName, message: string, code: string | null = null): void {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1;
    this.log.warn({ reason, code, remote: address }, `dropped: ${message}`);
    this.publish({ kind: 'connection_dropped', at: nowIso(), address, id: null, reason, code: null, message });
  }

  dropped(conn: CandidateConnection, reason: ByeReasonName, error: ProtocolError | null, message: string): void {
    if (reason === 'going_away' || reason === 'kicked') return;
    this.drops[reason] = (this.drops[reason] ?? 0) + 1;
    conn.log.warn({ reason, code: error?.code ?? null, id: conn.candidateId }, `dropped: ${message}`);
    this.publish({ kind: 'connection_dropped', at: nowIso(), address: conn.remoteAddress, id: conn.candidateId, reason, code: error?.code ?? null, message });
  }

  /**
   * Finalises a session; resolves once the recording is complete (the candidate's BYE waits for this). The
   * subtitle mux that follows is tracked so that shutdown waits for it too.
   */
  sessionEnded(conn: CandidateConnection, session: Session, ended: string): Promise<void> {
    const finished = session.finish(ended).then(
      (rec) => {
        // rec.ended, not ended: a session whose writes failed ends `recording_failed` whatever closed it.
        conn.log[session.failed ? 'error' : 'info']({ id: session.id, session: session.init.sessionId, ended: rec.ended, cause: ended, frames: rec.frames_written, audio_s: rec.audio_seconds, frames_lost: rec.frames_lost, incidents: rec.incidents, dir: session.dir }, 'recording finalised');
        this.endedSessions.add(session, rec);
        this.publish({ kind: 'candidate_left', at: nowIso(), id: session.id, session_id: session.init.sessionId, ended: rec.ended, frames_recorded: rec.frames_written, audio_s: rec.audio_seconds });
        this.opts.sessions?.ended(session, ended);
      },
      (err: unknown) => {
        conn.log.error({ err, id: session.id, dir: session.dir }, 'recording could not be finalised');
      },
    );
    const released = finished.finally(() => {
      if (this.byId.get(session.id) === conn) this.byId.delete(session.id);
    });
    const tracked = released
      .then(() => this.muxes.run(() => session.addSubtitles()))
      .then(
        (added) => {
          if (added) conn.log.info({ id: session.id, dir: session.dir }, 'incident subtitles added');
        },
        (err: unknown) => conn.log.error({ err, id: session.id }, 'incident subtitles failed'),
      )
      .finally(() => this.endings.delete(tracked));
    this.endings.add(tracked);
    return released;
  }

  private publishIncidents(session: Session, events: ReturnType<Session['openGap']>): void {
    for (const e of events) {
      this.publish({ kind: e.type === 'open' ? 'incident_opened' : 'incident_closed', at: nowIso(), id: session.id, incident: e.incident });
    }
  }

  /** A live session lost its connection: keep it for the resume window, then finalise it. */
  sessionLost(conn: CandidateConnection, session: Session, why: string): void {
    const windowMs = this.opts.resumeWindowMs ?? 30_000;
    if (this.byId.get(session.id) === conn) this.byId.delete(session.id);
    if (this.closing || windowMs <= 0) {
      void this.sessionEnded(conn, session, why);
      return;
    }
    this.publishIncidents(session, session.openGap());
    conn.log.info({ id: session.id, session: session.init.sessionId, why, resumeWindowMs: windowMs }, 'connection lost; session kept for a resume');
    this.detached.park(session, conn, windowMs, () => {
      this.publishIncidents(session, session.closeGap());
      void this.sessionEnded(conn, session, why);
    });
  }

  /** Ends a session kept for a resume that another node has taken over. */
  private endParked(session: Session, why: string): void {
    if (this.detached.peek(session.id)?.session !== session) return;
    this.publishIncidents(session, session.closeGap());
    void this.sessionEnded(this.detached.take(session.id)!.conn, session, why);
  }

  released(conn: CandidateConnection): void {
    this.connections.delete(conn);
    this.pending.settle(conn);
    // A connection refused or dropped before its session opened still holds its id reservation.
    if (!conn.session && conn.candidateId && this.byId.get(conn.candidateId) === conn) this.byId.delete(conn.candidateId);
    conn.log.debug('closed');
  }

  publish(event: ServerEvent): void {
    this.events.publish(event);
  }

  /** No face verdicts until detection is back: faces show `unknown` rather than the last verdict, a stale one. */
  private detectionLost(reason: string): void {
    for (const conn of this.connections) {
      const session = conn.session;
      if (!conn.isOpen || !session || !conn.hello?.video) continue;
      session.face = 'unknown';
      session.faces = 0;
      this.publish({ kind: 'face_status', at: nowIso(), id: session.id, face: 'unknown', faces: 0 });
      conn.alert('detector_down', detectorDownText(reason));
    }
  }

  status(): ServerStatus {
    const { version, recordDir } = this.opts;
    const sources = { version, recordDir, listen: this.listenAddress, startedAt: this.startedAt, connections: this.connections, detached: this.detached, drops: this.drops };
    return serverStatus({ ...sources, detection: this.detection.status, recordingFailures: this.failures.count });
  }

  ended(): EndedSession[] {
    return this.endedSessions.all();
  }

  private openConnection(id: string): CandidateConnection | null {
    const conn = this.byId.get(id);
    return conn && conn.isOpen ? conn : null;
  }

  /** The candidate's latest frame and analysis, for the console's preview; null when there is none yet. */
  preview(id: string): PreviewFrame | null {
    return previewOf(id, this.openConnection(id)?.session);
  }

  /** Streams a candidate's audio to `listener` until the returned function is called; null if no such candidate. */
  listenIn(id: string, listener: (chunk: ListenChunk) => void): (() => void) | null {
    return listenTo(id, this.openConnection(id)?.session, listener);
  }

  setMode(id: string, mode: ModeName): boolean {
    const conn = this.openConnection(id);
    if (!conn) return false;
    conn.setMode(mode);
    conn.log.info({ id, mode }, 'mode changed');
    this.publish({ kind: 'mode_changed', at: nowIso(), id, mode });
    return true;
  }

  kick(id: string, reason: string): boolean {
    const conn = this.openConnection(id);
    if (!conn) return false;
    conn.log.info({ id, reason }, 'kicked');
    this.publish({ kind: 'kicked', at: nowIso(), id, reason });
    conn.close('kicked', reason, 'kicked');
    return true;
  }

  /** Stops accepting, tells every candidate, finalises every recording. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.log.info({ candidates: this.byId.size }, 'shutting down');
      const stopped = new Promise<void>((resolve) => this.tcp.close(() => resolve()));
      for (const conn of this.connections) conn.close('going_away', 'the server is shutting down', 'server_shutdown');
      for (const parked of this.detached.takeAll()) {
        parked.session.closeGap();
        void this.sessionEnded(parked.conn, parked.session, 'server_shutdown');
      }
      while (this.endings.size > 0) await Promise.all([...this.endings]);
      // Sockets still open after their close timeout are destroyed by it; wait for them so the port is free.
      await stopped;
      await this.admin?.close();
      this.detection.close();
      this.log.info('stopped');
    })();
    return this.closing;
  }
}

function detectorDownText(reason: string): string {
  return `face checks are paused on the server (${reason}); your recording continues`;
}
