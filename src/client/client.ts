import type net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Decoder,
  encodeParts,
  type ByeMessage,
  type Message,
  type ModeName,
  type VerdictName,
  type WelcomeMessage,
} from '../protocol';
import { ClientExit, ClientStop, isFinalBye, judgeMedia } from './exit';
import { MODE_LINES, VERDICT_LINES, alertLine, receiptLine } from './lines';
import { MediaAccount } from './media-account';
import { ResendBuffer, type Captured, type Track } from './resend-buffer';
import { streamMedia } from './streams';
import { openSocket, untilWritable } from './transport';
import { helloFor, type ClientOptions, type ClientResult } from './types';

export { ClientExit } from './exit';
export type { AudioSource, ClientOptions, ClientResult, VideoSource } from './types';

/**
 * The headless candidate: HELLO, then video and audio paced at real time on independent clocks sharing one
 * origin, never waiting for the server between frames. When the connection drops for any reason but a final one
 * (a kick, a refused token), it reconnects with exponential backoff and jitter, resumes the same session and
 * resends from what the server says it last recorded; capture goes on meanwhile into a bounded buffer.
 */
export class CandidateClient {
  private socket: net.Socket | null = null;
  private decoder = new Decoder();
  private mode: ModeName = 'both';
  private connected = false;
  private readonly seq: Record<Track, number> = { video: 0, audio: 0 };
  private readonly sentCount: Record<Track, number> = { video: 0, audio: 0 };
  private audioSamplesSent = 0;
  private readonly buffer: ResendBuffer;
  /** Every item captured, lost, and confirmed by a RECEIPT: decides whether the exit code may be 0. */
  private readonly account = new MediaAccount();
  /** Capture time subtracted from timestamps: non-zero after a reconnect had to start a new session. */
  private tsOffsetMs = 0;
  private lastCaptureMs = 0;
  private warnings = 0;
  private reconnects = 0;
  private readonly streaming = new AbortController();
  private welcome: { resolve: (m: WelcomeMessage) => void; reject: (e: Error) => void } | null = null;
  private finalBye: ((m: ByeMessage) => void) | null = null;
  private stopReason: ClientStop | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private readonly started = performance.now();
  /** The server's per-kind limits from WELCOME; checked before sending so an oversized frame is explained here. */
  private limits: WelcomeMessage['limits'] | null = null;
  private welcomed = false;
  private verdict: VerdictName = 'unknown';
  private reconnecting: Promise<void> | null = null;
  private closingDown = false;
  /** H.264/Opus: the codec configurations sent at every (re)connect, and the snapshot rate the server asked for. */
  private readonly configs: Map<Track, Buffer> = new Map();
  private snapshotMs = 0;
  /** H.264: each connection's video starts at a keyframe; frames before one cannot be decoded by the server. */
  private awaitingKeyframe = true;

  constructor(private readonly opts: ClientOptions) {
    this.buffer = new ResendBuffer((opts.bufferSeconds ?? 10) * 1000);
  }

  async run(): Promise<ClientResult> {
    const onAbort = (): void => this.stop(new ClientStop(ClientExit.interrupted, 'interrupted'));
    this.opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await this.open(false);
      await this.stream();
      if (this.stopReason) throw this.stopReason;
      // Media done; if the link is down, wait for the reconnect (and its resend) before saying goodbye.
      if (this.reconnecting) await this.reconnecting;
      if (this.stopReason) throw this.stopReason;
      const bye = await this.goodbye('normal', 'all media sent');
      return this.result(ClientExit.ok, `done: server ${bye.text || 'confirmed'}`);
    } catch (err) {
      const stop = err instanceof ClientStop ? err : new ClientStop(ClientExit.connection, (err as Error).message);
      // Stopped on this side with the connection still up: say goodbye so the server finalises the recording now.
      const ownStop = stop.exitCode === ClientExit.interrupted || stop.exitCode === ClientExit.usage;
      if (ownStop && this.connected && this.socket && !this.socket.destroyed) {
        const bye = await this.goodbye('normal', stop.message).catch(() => null);
        return this.result(stop.exitCode, bye ? `${stop.message}; server ${bye.text}` : stop.message);
      }
      return this.result(stop.exitCode, stop.message);
    } finally {
      this.closingDown = true;
      this.opts.signal?.removeEventListener('abort', onAbort);
      if (this.pingTimer) clearInterval(this.pingTimer);
      this.socket?.destroy();
    }
  }

  /** The run's outcome; a run that would exit 0 does so only if the server confirmed every captured item. */
  private result(exitCode: number, reason: string): ClientResult {
    const audio = this.opts.audio;
    for (const c of this.buffer.clear()) this.account.lost(c);
    const verdict = this.account.settle(this.audioRate);
    const judged = exitCode === ClientExit.ok ? judgeMedia(verdict, reason) : { exitCode, reason };
    return {
      ...judged,
      videoFramesSent: this.sentCount.video,
      audioChunksSent: this.sentCount.audio,
      audioSecondsSent: audio ? this.audioSamplesSent / this.audioRate : 0,
      warnings: this.warnings,
      elapsedS: (performance.now() - this.started) / 1000,
      reconnects: this.reconnects,
      lost: this.account.lostCount,
      mediaLines: verdict.lines,
    };
  }

  /** A final stop: streaming ends and the client exits with this reason. */
  private stop(reason: ClientStop): void {
    this.stopReason ??= reason;
    this.streaming.abort();
    this.welcome?.reject(reason);
    this.welcome = null;
  }

  /** Connects and shakes hands; on a resume, resends what the server did not get. */
  private async open(isReconnect: boolean): Promise<void> {
    await this.connect();
    const welcome = await this.handshake();
    this.welcomed = true;
    this.limits = welcome.limits;
    if (!isReconnect) {
      this.snapshotMs = welcome.snapshotIntervalMs ?? 0;
      this.opts.print(`WELCOME session ${welcome.sessionId} (mode ${welcome.mode}${welcome.resumed ? ', continuing an earlier connection' : ''})`);
      if (welcome.resumed) {
        // This process takes over a session another connection started: continue its numbering and timeline.
        this.seq.video = welcome.lastVideoSeq + 1;
        this.seq.audio = welcome.lastAudioSeq + 1;
        this.tsOffsetMs = -welcome.resumeAtMs;
      }
    } else if (welcome.resumed) {
      this.opts.print(`RESUMED session ${welcome.sessionId}`);
    } else {
      // The old session is gone (the server restarted, or the window ran out): start a new timeline.
      this.opts.print(`WELCOME session ${welcome.sessionId} (a new session: the previous one could not be resumed)`);
      for (const c of this.buffer.clear()) this.account.lost(c);
      this.seq.video = 0;
      this.seq.audio = 0;
      this.tsOffsetMs = this.lastCaptureMs;
    }
    this.account.begin(welcome.sessionId, this.tsOffsetMs, this.lastCaptureMs);
    this.mode = welcome.mode;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.startPings(welcome.idleTimeoutMs);
    this.awaitingKeyframe = true;
    for (const [track, data] of this.configs) this.send({ type: 'codec_config', track, data });
    if (welcome.resumed && isReconnect) {
      for (const c of this.buffer.after({ video: welcome.lastVideoSeq, audio: welcome.lastAudioSeq })) this.transmit(c);
    }
    this.connected = true;
  }

  private async connect(): Promise<void> {
    this.decoder = new Decoder();
    const { host, port } = this.opts;
    this.socket = await openSocket({ host, port, tls: this.opts.tls ?? null, timeoutMs: this.opts.connectTimeoutMs ?? 5_000 }, {
      created: (socket) => (this.socket = socket),
      data: (socket, chunk) => {
        if (this.socket === socket) this.onData(chunk);
      },
      lost: (socket, why) => this.onLost(socket, why),
    });
  }

  /** The connection died without a final BYE: reconnect if allowed, else stop. */
  private onLost(socket: net.Socket, why: string): void {
    if (socket !== this.socket || this.stopReason || this.closingDown) return;
    if (this.finalBye) return; // goodbye() reports its own failure
    this.connected = false;
    this.welcome?.reject(new ClientStop(ClientExit.connection, why));
    this.welcome = null;
    if (!this.welcomed || (this.opts.reconnectForMs ?? 60_000) <= 0) {
      this.stop(new ClientStop(ClientExit.connection, why));
      return;
    }
    this.reconnecting ??= this.reconnect(why).finally(() => (this.reconnecting = null));
  }

  /** Exponential backoff with full jitter, capped at 10 s, for at most `reconnectForMs`. */
  private async reconnect(why: string): Promise<void> {
    const deadline = performance.now() + (this.opts.reconnectForMs ?? 60_000);
    this.opts.print(`DISCONNECTED ${why}; reconnecting`);
    for (let attempt = 1; !this.stopReason; attempt++) {
      const base = Math.min(10_000, 250 * 2 ** (attempt - 1));
      const delay = Math.round(base / 2 + Math.random() * (base / 2));
      if (performance.now() + delay > deadline) {
        this.stop(new ClientStop(ClientExit.connection, `${why}; gave up reconnecting after ${Math.round((this.opts.reconnectForMs ?? 60_000) / 1000)} s`));
        return;
      }
      this.opts.print(`RECONNECT attempt ${attempt} in ${(delay / 1000).toFixed(1)} s`);
      try {
        await sleep(delay, undefined, { signal: this.streaming.signal });
      } catch {
        return;
      }
      try {
        await this.open(true);
        this.reconnects++;
        return;
      } catch (err) {
        if (err instanceof ClientStop && err.exitCode === ClientExit.refused) {
          this.stop(err);
          return;
        }
        this.socket?.destroy();
      }
    }
  }

  private handshake(): Promise<WelcomeMessage> {
    const timeoutMs = this.opts.replyTimeoutMs ?? 10_000;
    return new Promise<WelcomeMessage>((resolve, reject) => {
      const timer = setTimeout(() => reject(new ClientStop(ClientExit.connection, `no WELCOME from the server within ${timeoutMs} ms`)), timeoutMs);
      this.welcome = {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.send(helloFor(this.opts));
    });
  }

  private onData(chunk: Buffer): void {
    const { messages, error } = this.decoder.push(chunk);
    for (const m of messages) this.onMessage(m);
    if (error) {
      this.stop(new ClientStop(ClientExit.connection, `the server broke the protocol: ${error.message}`));
      this.socket?.destroy();
    }
  }

  private onMessage(m: Message): void {
    switch (m.type) {
      case 'welcome':
        this.welcome?.resolve(m);
        this.welcome = null;
        return;
      case 'mode':
        if (m.mode !== this.mode) this.opts.print(MODE_LINES[m.mode]);
        this.mode = m.mode;
        return;
      case 'verdict':
        // The server repeats a warning every few seconds; a person needs one line per change.
        if (m.verdict === this.verdict) return;
        this.verdict = m.verdict;
        if (m.verdict !== 'ok' && m.verdict !== 'unknown') this.warnings++;
        this.opts.print(m.text && m.verdict !== 'ok' ? `${VERDICT_LINES[m.verdict]} (${m.text})` : VERDICT_LINES[m.verdict]);
        return;
      case 'ping':
        this.send({ type: 'pong', nonce: m.nonce });
        return;
      case 'alert':
        this.opts.print(alertLine(m));
        this.account.alert(m);
        return;
      case 'receipt':
        this.opts.print(receiptLine(m, this.audioRate));
        this.account.receipt(m);
        return;
      case 'bye': {
        if (this.finalBye) {
          this.finalBye(m);
          return;
        }
        this.opts.print(`BYE ${m.reason}: ${m.text}`);
        const refused = this.welcome !== null;
        if (!isFinalBye(m.reason) && this.welcomed && (this.opts.reconnectForMs ?? 60_000) > 0) {
          // The server asked us to go for now (shutting down, idle, full): the close that follows reconnects.
          return;
        }
        const code = refused ? ClientExit.refused : ClientExit.closedByServer;
        const stop = new ClientStop(code, refused ? `refused by the server (${m.reason}): ${m.text}` : `closed by the server (${m.reason}): ${m.text}`);
        this.welcome?.reject(stop);
        this.welcome = null;
        this.stop(stop);
        return;
      }
      default:
        return;
    }
  }

  private send(msg: Message): void {
    const socket = this.socket;
    if (!socket || socket.destroyed) return;
    socket.cork();
    for (const part of encodeParts(msg)) socket.write(part);
    socket.uncork();
  }

  private startPings(idleTimeoutMs: number): void {
    let nonce = 0;
    this.pingTimer = setInterval(() => {
      if (this.connected) this.send({ type: 'ping', nonce: nonce++ >>> 0 });
    }, Math.max(500, idleTimeoutMs / 3));
    this.pingTimer.unref();
  }

  /** Waits until the socket's queue is short again, so a stalled server slows us instead of filling memory. */
  private writable(): Promise<void> {
    const socket = this.socket;
    if (!socket || !this.connected) return Promise.resolve();
    return untilWritable(socket, this.opts.maxQueuedBytes ?? 4 * 1024 * 1024, this.streaming.signal);
  }

  /** Samples a second of the audio as numbered on the wire: Opus always counts at 48 kHz. */
  private get audioRate(): number {
    return this.opts.codec === 'h264' ? 48000 : (this.opts.audio?.format.sampleRate ?? 0);
  }

  /** Sends one captured message, if connected. */
  private transmit(c: Captured): void {
    if (!this.connected && !this.socket) return;
    const { seq, timestampMs, data } = c;
    if (c.kind === 'video' && c.keyframe !== undefined) {
      if (this.awaitingKeyframe && !c.keyframe) return;
      this.awaitingKeyframe = false;
      this.send({ type: 'h264_frame', seq, timestampMs, keyframe: c.keyframe, data });
    } else if (c.kind === 'video') this.send({ type: 'video_frame', seq, timestampMs, jpeg: data });
    else if (this.opts.codec === 'h264') this.send({ type: 'opus_packet', seq, timestampMs, samples: c.samples, data });
    else this.send({ type: 'audio_chunk', seq, timestampMs, pcm: data });
    if (!c.sent) {
      c.sent = true;
      this.sentCount[c.kind]++;
      this.audioSamplesSent += c.samples;
    }
  }

  /** Takes one captured item: numbers it, keeps it in the resend buffer, sends it now if the link is up. */
  private capture(kind: Track, captureMs: number, data: Buffer, meta: { keyframe?: boolean; samples?: number } = {}): void {
    this.lastCaptureMs = Math.max(this.lastCaptureMs, captureMs);
    const audio = this.opts.audio;
    const samples = kind === 'audio' && audio ? (meta.samples ?? data.length / 2 / audio.format.channels) : 0;
    const durationMs = kind === 'video' ? 1000 / (this.opts.video?.source.fps ?? 1) : audio ? (samples * 1000) / this.audioRate : 0;
    const c: Captured = {
      kind, seq: this.seq[kind]++, timestampMs: Math.max(0, captureMs - this.tsOffsetMs), captureMs, durationMs, samples, data, sent: false,
      session: this.account.current, ...(meta.keyframe !== undefined ? { keyframe: meta.keyframe } : {}),
    };
    this.account.captured(c);
    for (const old of this.buffer.add(c)) this.account.lost(old);
    if (this.connected) this.transmit(c);
  }

  private stream(): Promise<void> {
    return streamMedia({
      opts: this.opts,
      signal: this.streaming.signal,
      mode: () => this.mode,
      limits: () => this.limits,
      snapshotIntervalMs: () => this.snapshotMs,
      ready: () => this.writable(),
      capture: (kind, ts, data, meta) => this.capture(kind, ts, data, meta),
      configure: (track, data) => {
        this.configs.set(track, data);
        if (this.connected) this.send({ type: 'codec_config', track, data });
      },
      snapshot: (ts, jpeg) => this.connected && this.send({ type: 'snapshot', timestampMs: Math.max(0, ts - this.tsOffsetMs), jpeg }),
      stop: (reason) => this.stop(reason),
    });
  }

  /** Sends BYE and waits for the server's, which comes once our recording is finalised. */
  private goodbye(reason: 'normal', text: string): Promise<ByeMessage> {
    const timeoutMs = this.opts.replyTimeoutMs ?? 10_000;
    const socket = this.socket!;
    return new Promise<ByeMessage>((resolve, reject) => {
      const timer = setTimeout(() => reject(new ClientStop(ClientExit.connection, `the server did not confirm within ${timeoutMs} ms`)), timeoutMs);
      const onClose = (): void => {
        clearTimeout(timer);
        reject(new ClientStop(ClientExit.connection, 'the server closed the connection before confirming the recording'));
      };
      socket.once('close', onClose);
      this.finalBye = (m) => {
        clearTimeout(timer);
        socket.off('close', onClose);
        resolve(m);
      };
      this.send({ type: 'bye', reason, code: 0, text });
    });
  }
}
