import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import {
  Decoder,
  ProtocolError,
  RESUMABLE_BYES,
  encodeParts,
  type AlertCodeName,
  type ByeReasonName,
  type HelloMessage,
  type Message,
  type ModeName,
  type OptionalKind,
} from '../protocol';
import type { IncidentEvent } from '../detect/incidents';
import type { FrameAnalysis, LatestFrameSlot } from './frame-slot';
import { analysisSlot, VerdictNotices } from './connection-analysis';
import { MessageRate } from './message-rate';
import { welcomeFor } from './welcome-message';
import { receiptOf } from './media-ledger';
import { ReplyWatchdog } from './reply-watchdog';
import type { Session } from './session';
import type { ConnectionHost } from './connection-host';
import { recordAudioChunk, recordVideoFrame } from './media-intake';
import { applyCodecConfig, newH264Intake, recordH264Frame, recordOpusPacket, takeSnapshot } from './media-intake-v2';

export type { Admission, ConnectionHost, ConnectionSettings } from './connection-host';

type State = 'handshake' | 'open' | 'closing' | 'closed';

/**
 * What a connection reads and writes: a TCP or TLS socket, or a WebSocket's byte stream. Protocol frames are
 * self-delimiting, so how the transport cuts the bytes into chunks or messages does not matter here.
 */
export type CandidateSocket = Duplex & {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  setNoDelay?(noDelay?: boolean): unknown;
};

/**
 * One candidate's TCP connection: the handshake, the message dispatch, keepalive and the close. The frame
 * decoder turns bytes into messages; this turns messages into session calls and replies.
 */
export class CandidateConnection {
  readonly remoteAddress: string;
  hello: HelloMessage | null = null;
  session: Session | null = null;
  private state: State = 'handshake';
  private readonly decoder: Decoder;
  private inbox: Message[] = [];
  private admitting = false;
  private recorderPaused = false;
  private deadline: NodeJS.Timeout;
  private closeTimer: NodeJS.Timeout | null = null;
  private slot: LatestFrameSlot | null = null;
  private ended: Promise<void> | null = null;
  private readonly verdicts: VerdictNotices;
  /** Token bucket for the message rate limit. */
  private readonly rate: MessageRate;
  private readonly replies: ReplyWatchdog;
  /** Decoding restarts with each connection: its first H.264 frame must be a keyframe. */
  private readonly h264 = newH264Intake();
  /** Reads that brought whole messages (and re-armed the deadline): a timeout that finds this grown is stale. */
  private messagesSeen = 0;

  constructor(
    readonly socket: CandidateSocket,
    private readonly host: ConnectionHost,
    readonly log: Logger,
  ) {
    this.remoteAddress = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    const s = host.settings;
    this.decoder = new Decoder(s.limits);
    socket.setNoDelay?.(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.log.debug({ err: err.message }, 'socket error'));
    socket.on('close', () => this.onClose());
    this.deadline = setTimeout(() => this.onDeadline(), s.handshakeTimeoutMs);
    this.rate = new MessageRate(s.maxMessagesPerSecond);
    this.verdicts = new VerdictNotices(s.verdictRepeatMs);
    this.replies = new ReplyWatchdog({ get queuedBytes() { return socket.writableLength; } }, s.drainTimeoutMs, (queued) => {
      this.drop('slow_consumer', null, `the client has left ${queued} bytes of replies unread for ${s.drainTimeoutMs} ms`);
      this.socket.destroy();
    });
  }

  get candidateId(): string | null {
    return this.hello?.candidateId ?? null;
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  private onDeadline(): void {
    // After a long stall of the event loop (a loaded machine), timers run before the socket reads that were
    // waiting: let those reads in first, and only time out if none of them was this peer's.
    const seen = this.messagesSeen;
    setImmediate(() => {
      if (this.messagesSeen === seen) this.timedOut();
    });
  }

  private timedOut(): void {
    if (this.state === 'handshake') {
      this.drop('handshake_timeout', null, `no HELLO within ${this.host.settings.handshakeTimeoutMs} ms`);
    } else if (this.state === 'open') {
      this.drop('idle_timeout', null, `nothing received for ${this.host.settings.idleTimeoutMs} ms`);
    }
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.session?.countBytes(chunk.length);
    const { messages, error } = this.decoder.push(chunk);
    if (messages.length > 0) {
      this.deadline.refresh();
      this.messagesSeen++;
    }
    if (!this.rate.take(messages.length)) {
      this.drop('rate_limited', null, `more than ${this.host.settings.maxMessagesPerSecond} messages a second`);
      return;
    }
    for (const m of messages) this.inbox.push(m);
    this.pump();
    if (error) this.drop(error.bye, error, error.message);
  }

  /** Handles queued messages in order; stops while a HELLO is being admitted. */
  private pump(): void {
    while (this.inbox.length > 0 && !this.admitting && (this.state === 'handshake' || this.state === 'open')) {
      const msg = this.inbox.shift()!;
      try {
        this.handle(msg);
      } catch (err) {
        if (err instanceof ProtocolError) this.drop(err.bye, err, err.message);
        else {
          this.log.error({ err }, 'internal error while handling a message');
          this.drop('internal_error', null, 'the server failed to handle a message');
        }
      }
    }
    this.applyBackpressure();
  }

  private handle(msg: Message): void {
    if (this.state === 'handshake') {
      if (msg.type !== 'hello') throw new ProtocolError('VIGIL_ERR_MALFORMED', `expected HELLO first, got ${msg.type.toUpperCase()}`);
      this.startAdmission(msg);
      return;
    }
    const session = this.session!;
    const hello = this.hello!;
    const lead = this.host.settings.maxClockLeadMs;
    if (hello.version < 2 && (msg.type === 'codec_config' || msg.type === 'h264_frame' || msg.type === 'opus_packet' || msg.type === 'snapshot')) {
      throw new ProtocolError('VIGIL_ERR_MALFORMED', `${msg.type.toUpperCase()} is a protocol version 2 message; this client said version ${hello.version}`);
    }
    switch (msg.type) {
      case 'codec_config':
        applyCodecConfig(hello, session, msg, this.h264);
        return;
      case 'h264_frame':
        recordH264Frame(hello, session, msg, this.h264, lead);
        return;
      case 'opus_packet':
        recordOpusPacket(hello, session, msg, lead);
        return;
      case 'snapshot':
        if (takeSnapshot(hello, session, msg)) this.slot?.offer(msg.jpeg, msg.timestampMs);
        return;
      case 'video_frame':
        if (recordVideoFrame(this.hello!, session, msg, this.host.settings.maxClockLeadMs)) this.slot?.offer(msg.jpeg, msg.timestampMs);
        return;
      case 'audio_chunk':
        this.publishIncidents(recordAudioChunk(this.hello!, session, msg, this.host.settings.maxClockLeadMs));
        return;
      case 'ping':
        this.send({ type: 'pong', nonce: msg.nonce });
        return;
      case 'pong':
        return;
      case 'bye':
        this.onClientBye(msg.reason === 'normal' ? 'client_bye' : `client_bye:${msg.reason}`);
        return;
      default:
        throw new ProtocolError('VIGIL_ERR_MALFORMED', `a client does not send ${msg.type.toUpperCase()} after the handshake`);
    }
  }

  private startAdmission(hello: HelloMessage): void {
    this.hello = hello;
    this.admitting = true;
    this.socket.pause();
    this.host.admit(this, hello).then(
      (admission) => {
        this.admitting = false;
        if (this.state !== 'handshake') {
          // The socket went away while the session was being opened: close what was opened.
          if (admission.ok) void this.endSession(admission.session, 'disconnected');
          return;
        }
        if (!admission.ok) {
          this.reject(admission.reason, admission.text);
          return;
        }
        this.session = admission.session;
        this.state = 'open';
        admission.session.codecs.hooks = {
          events: (e) => this.publishIncidents(e),
          failed: (err) => this.log.error({ err }, 'speech detection stopped for this candidate: its Opus decoder failed'),
        };
        const s = this.host.settings;
        this.slot = analysisSlot(s, hello, admission.session, this.log, (r, ts) => this.onAnalysis(r, ts));
        this.send(welcomeFor(hello, admission.session, admission.resumed, s));
        // refresh() would re-arm the handshake timer's delay: the idle timeout needs a timer of its own.
        clearTimeout(this.deadline);
        this.deadline = setTimeout(() => this.onDeadline(), s.idleTimeoutMs);
        this.host.welcomed(this, admission.session, admission.resumed);
        this.socket.resume();
        this.pump();
      },
      (err: unknown) => {
        this.admitting = false;
        this.log.error({ err }, 'admission failed');
        this.reject('internal_error', 'the server could not open a session');
      },
    );
  }

  private onAnalysis(result: FrameAnalysis, timestampMs: number): void {
    const session = this.session;
    if (!session || this.state !== 'open') return;
    const face = session.face;
    const faces = session.faces;
    const events = session.applyAnalysis(result, timestampMs);
    // Tell the candidate at once when the verdict changes, and keep reminding while it is not ok.
    if (this.verdicts.due(result.verdict)) this.send({ type: 'verdict', verdict: result.verdict, faces: result.faces.length, timestampMs, text: result.why });
    if (face !== session.face || faces !== session.faces) {
      this.host.publish({ kind: 'face_status', at: new Date().toISOString(), id: session.id, face: session.face, faces: session.faces });
    }
    this.publishIncidents(events);
  }

  private publishIncidents(events: IncidentEvent[]): void {
    const session = this.session;
    if (!session || events.length === 0) return;
    const at = new Date().toISOString();
    for (const e of events) {
      this.log.info({ id: session.id, incident: e.incident }, e.type === 'open' ? 'incident opened' : 'incident closed');
      this.host.publish({ kind: e.type === 'open' ? 'incident_opened' : 'incident_closed', at, id: session.id, incident: e.incident });
    }
  }

  /** Pauses reading while the recorder is behind, so a fast client is slowed by TCP instead of by our memory. */
  private applyBackpressure(): void {
    const session = this.session;
    if (!session || this.recorderPaused || session.recorderBacklog <= this.host.settings.recorderHighWaterBytes) return;
    this.recorderPaused = true;
    this.socket.pause();
    void session.recorderDrained().then(() => {
      this.recorderPaused = false;
      if (this.state === 'open' && !this.admitting) this.socket.resume();
    });
  }

  send(msg: Message): boolean {
    const socket = this.socket;
    if (socket.destroyed || !socket.writable) return false;
    if (socket.writableLength > this.host.settings.maxOutboundBytes) {
      this.drop('slow_consumer', null, `the client has not read ${socket.writableLength} bytes of replies`);
      return false;
    }
    let bytes = 0;
    socket.cork();
    for (const part of encodeParts(msg)) {
      socket.write(part);
      bytes += part.length;
    }
    socket.uncork();
    // Replies still queued: the peer has drainTimeoutMs to make progress reading them.
    if (this.state !== 'closing') this.replies.wrote(bytes);
    return true;
  }

  /** True when this client's HELLO said it understands `kind` (an older client would fail on it). */
  accepts(kind: OptionalKind): boolean {
    return this.hello?.accepts?.includes(kind) ?? false;
  }

  /**
   * Tells the candidate something went wrong on the server's side (the recorder failed, detection is down).
   * An older client that cannot decode ALERT is not sent one; false then, or when the connection is not open.
   */
  alert(code: AlertCodeName, text: string): boolean {
    if (this.state !== 'open' || !this.accepts('alert')) return false;
    return this.send({ type: 'alert', code, text });
  }

  setMode(mode: ModeName): void {
    if (!this.session || this.state !== 'open') return;
    this.session.mode = mode;
    this.send({ type: 'mode', mode });
  }

  /** Closes for a protocol or policy reason: logged, counted, published, and the candidate told why. */
  drop(reason: ByeReasonName, error: ProtocolError | null, message: string): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.host.dropped(this, reason, error, message);
    this.close(reason, message, reason);
  }

  /** Refuses a HELLO: the candidate never had a session. */
  private reject(reason: ByeReasonName, text: string): void {
    this.drop(reason, null, text);
  }

  /**
   * Two-phase close (after ws): send BYE, half-close, and destroy if the peer has not closed within the close
   * timeout. The session, if any, is finalised at once; nothing already received is dropped.
   */
  close(reason: ByeReasonName, text: string, ended: string): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.state = 'closing';
    this.inbox = [];
    this.send({ type: 'bye', reason, code: 0, text });
    this.socket.end();
    this.armCloseTimer();
    if (!this.session) return;
    // The server's own judgement of the link (quiet, or not reading), or a new login replacing it: keep the session.
    if (RESUMABLE_BYES.has(reason) || reason === 'superseded') this.loseSession(ended);
    else void this.endSession(this.session, ended);
  }

  private lost = false;

  private loseSession(why: string): void {
    if (this.lost || this.ended || !this.session) return;
    this.lost = true;
    this.slot?.close();
    this.host.sessionLost(this, this.session, why);
  }

  private armCloseTimer(): void {
    this.closeTimer ??= setTimeout(() => this.socket.destroy(), this.host.settings.closeTimeoutMs);
  }

  private onClientBye(ended: string): void {
    if (this.state !== 'open') return;
    this.state = 'closing';
    this.inbox = [];
    const session = this.session!;
    void this.endSession(session, ended).then(() => {
      // What the file really holds (never what was received), and a failed recording says so in its reason.
      if (this.accepts('receipt')) this.send(receiptOf(session, session.status(this.remoteAddress).frames_recorded));
      this.send({ type: 'bye', reason: session.failed ? 'recording_failed' : 'normal', code: 0, text: session.receipt() });
      this.socket.end();
      this.armCloseTimer();
    });
  }

  private endSession(session: Session, ended: string): Promise<void> {
    this.slot?.close();
    this.ended ??= this.host.sessionEnded(this, session, ended);
    return this.ended;
  }

  private onClose(): void {
    const wasOpen = this.state === 'open';
    this.state = 'closed';
    clearTimeout(this.deadline);
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.replies.close();
    this.slot?.close();
    if (wasOpen && this.session) this.loseSession('disconnected');
    this.host.released(this);
  }
}
