import net from 'node:net';
import tls from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Decoder,
  PROTOCOL_VERSION,
  encodeParts,
  modeIncludesAudio,
  modeIncludesVideo,
  type ByeMessage,
  type Message,
  type ModeName,
  type VerdictName,
  type WelcomeMessage,
} from '../protocol';

/** A source of JPEG frames at a fixed rate (a video file today, a camera later). */
export interface VideoSource {
  readonly fps: number;
  frames(): AsyncIterable<Buffer>;
}

/** A source of s16le PCM in fixed-length chunks (a WAV file today, a microphone later). */
export interface AudioSource {
  readonly format: { sampleRate: number; channels: number };
  chunks(chunkMs: number): AsyncIterable<Buffer>;
}

export interface ClientOptions {
  host: string;
  port: number;
  candidateId: string;
  token: string;
  clientVersion: string;
  video: { source: VideoSource; width: number; height: number } | null;
  audio: AudioSource | null;
  loop: boolean;
  /** Connect with TLS; `ca` replaces the system's certificate store (for a self-signed server). */
  tls?: { ca?: Buffer } | null;
  /** Audio chunk length; 20-50 ms keeps latency low without flooding small messages. Default 40. */
  audioChunkMs?: number;
  connectTimeoutMs?: number;
  /** How long to wait for WELCOME, and for the server's BYE after ours. Default 10000. */
  replyTimeoutMs?: number;
  /** Pause sending while this many bytes wait in the socket; nothing is dropped. Default 4 MiB. */
  maxQueuedBytes?: number;
  /** One line per event a candidate should see. */
  print: (line: string) => void;
  signal?: AbortSignal;
  /** Keep trying to reconnect for this long after losing the server; 0 gives up at once. Default 60000. */
  reconnectForMs?: number;
  /** Media kept for resending after a reconnect, in seconds of capture time. Default 10. */
  bufferSeconds?: number;
}

export const ClientExit = {
  ok: 0,
  connection: 1,
  usage: 2,
  refused: 3,
  closedByServer: 4,
  interrupted: 130,
} as const;

export interface ClientResult {
  exitCode: number;
  /** One line saying why the client stopped. */
  reason: string;
  videoFramesSent: number;
  audioChunksSent: number;
  audioSecondsSent: number;
  warnings: number;
  elapsedS: number;
  /** Connections made after the first. */
  reconnects: number;
  /** Captured messages that never reached the server (outside the buffer, or dropped for a new session). */
  lost: number;
}

const VERDICT_LINES: Record<VerdictName, string> = {
  unknown: 'face status unknown',
  ok: 'OK face visible',
  no_face: 'WARNING no_face: we cannot see your face - look at the camera',
  misaligned: 'WARNING misaligned: your face is at the edge of the picture - move to the centre',
  multiple_faces: 'WARNING multiple_faces: someone else is in the picture - you must be alone',
};

const MODE_LINES: Record<ModeName, string> = {
  audio: 'MODE audio: the proctor switched you to audio only (video paused)',
  video: 'MODE video: the proctor switched you to video only (audio paused)',
  both: 'MODE both: sending video and audio',
};

class ClientStop extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** BYE reasons after which trying again cannot help, or must not: the server or the proctor decided. */
const FINAL_BYES: ReadonlySet<string> = new Set([
  'kicked',
  'auth_failed',
  'invalid_hello',
  'unsupported_version',
  'superseded',
  'protocol_error',
  'message_too_large',
  'id_in_use',
]);

type Kind = 'video' | 'audio';

interface Captured {
  kind: Kind;
  seq: number;
  timestampMs: number;
  data: Buffer;
  sent: boolean;
}

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
  private readonly seq: Record<Kind, number> = { video: 0, audio: 0 };
  private readonly sentCount: Record<Kind, number> = { video: 0, audio: 0 };
  private audioSamplesSent = 0;
  /** Captured media, oldest first, kept `bufferSeconds` back for resending after a reconnect. */
  private buffer: Captured[] = [];
  private bufferedBytes = 0;
  private lost = 0;
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

  constructor(private readonly opts: ClientOptions) {}

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

  private result(exitCode: number, reason: string): ClientResult {
    const audio = this.opts.audio;
    return {
      exitCode,
      reason,
      videoFramesSent: this.sentCount.video,
      audioChunksSent: this.sentCount.audio,
      audioSecondsSent: audio ? this.audioSamplesSent / audio.format.sampleRate : 0,
      warnings: this.warnings,
      elapsedS: (performance.now() - this.started) / 1000,
      reconnects: this.reconnects,
      lost: this.lost + this.buffer.filter((c) => !c.sent).length,
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
      this.lost += this.buffer.filter((c) => !c.sent).length;
      this.buffer = [];
      this.bufferedBytes = 0;
      this.seq.video = 0;
      this.seq.audio = 0;
      this.tsOffsetMs = this.lastCaptureMs;
    }
    this.mode = welcome.mode;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.startPings(welcome.idleTimeoutMs);
    if (welcome.resumed && isReconnect) {
      const last: Record<Kind, number> = { video: welcome.lastVideoSeq, audio: welcome.lastAudioSeq };
      for (const c of this.buffer) {
        if (c.seq > last[c.kind]) this.transmit(c);
      }
    }
    this.connected = true;
  }

  private connect(): Promise<void> {
    const { host, port } = this.opts;
    const timeoutMs = this.opts.connectTimeoutMs ?? 5_000;
    const useTls = this.opts.tls ?? null;
    this.decoder = new Decoder();
    return new Promise((resolve, reject) => {
      const socket = useTls
        ? tls.connect({ host, port, ...(useTls.ca ? { ca: useTls.ca } : {}), ...(net.isIP(host) ? {} : { servername: host }), minVersion: 'TLSv1.2' })
        : net.connect({ host, port });
      this.socket = socket;
      let up = false;
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ClientStop(ClientExit.connection, `cannot connect to ${host}:${port}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once(useTls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        up = true;
        socket.setNoDelay(true);
        resolve();
      });
      socket.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const why =
          err.code === 'ECONNREFUSED'
            ? 'connection refused (is `vigil serve` running there?)'
            : /certificate|self[- ]signed|CERT_|UNABLE_TO_VERIFY/i.test(`${err.code} ${err.message}`)
              ? `the server's TLS certificate is not trusted (${err.message}); pass its CA with --tls-ca`
              : err.message;
        if (!up) reject(new ClientStop(ClientExit.connection, `cannot connect to ${host}:${port}: ${why}`));
        else this.onLost(socket, `the server went away (${err.message})`);
      });
      socket.on('data', (chunk: Buffer) => {
        if (this.socket === socket) this.onData(chunk);
      });
      socket.on('close', () => {
        clearTimeout(timer);
        if (up) this.onLost(socket, 'the server went away (it closed the connection without a BYE)');
      });
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
    const { video, audio } = this.opts;
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
      this.send({
        type: 'hello',
        version: PROTOCOL_VERSION,
        candidateId: this.opts.candidateId,
        token: this.opts.token,
        clientVersion: this.opts.clientVersion,
        video: video ? { codec: 'jpeg', width: video.width, height: video.height, fps: video.source.fps } : null,
        audio: audio ? { codec: 'pcm_s16le', sampleRate: audio.format.sampleRate, channels: audio.format.channels } : null,
      });
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
      case 'bye': {
        if (this.finalBye) {
          this.finalBye(m);
          return;
        }
        this.opts.print(`BYE ${m.reason}: ${m.text}`);
        const refused = this.welcome !== null;
        if (!FINAL_BYES.has(m.reason) && this.welcomed && (this.opts.reconnectForMs ?? 60_000) > 0) {
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
  private async writable(): Promise<void> {
    const socket = this.socket;
    const max = this.opts.maxQueuedBytes ?? 4 * 1024 * 1024;
    while (socket && this.connected && socket.writableLength > max && !socket.destroyed) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          socket.off('drain', done);
          socket.off('close', done);
          this.streaming.signal.removeEventListener('abort', done);
          resolve();
        };
        socket.once('drain', done);
        socket.once('close', done);
        this.streaming.signal.addEventListener('abort', done, { once: true });
      });
      if (this.streaming.signal.aborted) return;
    }
  }

  /** Sleeps until `origin + ms`; resolves false if streaming was stopped meanwhile. */
  private async until(origin: number, ms: number): Promise<boolean> {
    const wait = origin + ms - performance.now();
    if (wait > 1) {
      try {
        await sleep(wait, undefined, { signal: this.streaming.signal });
      } catch {
        return false;
      }
    }
    return !this.streaming.signal.aborted;
  }

  /** Sends one captured message, if connected. */
  private transmit(c: Captured): void {
    if (!this.connected && !this.socket) return;
    if (c.kind === 'video') this.send({ type: 'video_frame', seq: c.seq, timestampMs: c.timestampMs, jpeg: c.data });
    else this.send({ type: 'audio_chunk', seq: c.seq, timestampMs: c.timestampMs, pcm: c.data });
    if (!c.sent) {
      c.sent = true;
      this.sentCount[c.kind]++;
      if (c.kind === 'audio' && this.opts.audio) this.audioSamplesSent += c.data.length / 2 / this.opts.audio.format.channels;
    }
  }

  /** Takes one captured item: numbers it, keeps it in the resend buffer, sends it now if the link is up. */
  private capture(kind: Kind, captureMs: number, data: Buffer): void {
    this.lastCaptureMs = Math.max(this.lastCaptureMs, captureMs);
    const c: Captured = { kind, seq: this.seq[kind]++, timestampMs: Math.max(0, captureMs - this.tsOffsetMs), data, sent: false };
    this.buffer.push(c);
    this.bufferedBytes += data.length;
    const keepFrom = captureMs - this.tsOffsetMs - (this.opts.bufferSeconds ?? 10) * 1000;
    while (this.buffer.length > 0 && (this.buffer[0]!.timestampMs < keepFrom || this.bufferedBytes > 64 * 1024 * 1024)) {
      const old = this.buffer.shift()!;
      this.bufferedBytes -= old.data.length;
      if (!old.sent) this.lost++;
    }
    if (this.connected) this.transmit(c);
  }

  private async stream(): Promise<void> {
    const origin = performance.now();
    const { video, audio } = this.opts;
    const frameMs = video ? 1000 / video.source.fps : 0;
    const samplesOf = (pcm: Buffer): number => (audio ? pcm.length / 2 / audio.format.channels : 0);
    await Promise.all([
      video &&
        this.pace(origin, () => video.source.frames(), (index) => index * frameMs, () => modeIncludesVideo(this.mode), (jpeg, ts) => {
          // 12 bytes of seq and timestamp precede the JPEG in the payload.
          if (this.limits && jpeg.length + 12 > this.limits.video) {
            this.stop(new ClientStop(ClientExit.usage, `a ${jpeg.length}-byte JPEG exceeds the server's limit of ${this.limits.video - 12} bytes; lower --quality, --width or --height`));
            return;
          }
          this.capture('video', ts, jpeg);
        }),
      audio &&
        this.pace(origin, () => audio.chunks(this.opts.audioChunkMs ?? 40), (_, before) => (before * 1000) / audio.format.sampleRate,
          () => modeIncludesAudio(this.mode),
          (pcm, ts) => this.capture('audio', ts, pcm),
          samplesOf,
        ),
    ]);
  }

  /**
   * Sends one stream paced at real time: item i goes at `origin + timeOf(i)`. Time keeps running while the mode
   * excludes the stream (items are read and skipped), as a live camera keeps running when not sent.
   * `units` measures an item in the stream's own clock units (samples for audio), passed to `timeOf` as `before`.
   */
  private async pace(
    origin: number,
    pass: () => AsyncIterable<Buffer>,
    timeOf: (index: number, before: number) => number,
    enabled: () => boolean,
    send: (item: Buffer, ts: number) => void,
    units: (item: Buffer) => number = () => 1,
  ): Promise<void> {
    let index = 0;
    let before = 0;
    do {
      for await (const item of pass()) {
        const ts = timeOf(index, before);
        index++;
        before += units(item);
        if (!(await this.until(origin, ts))) return;
        if (!enabled()) continue;
        await this.writable();
        if (this.streaming.signal.aborted) return;
        send(item, ts);
      }
    } while (this.opts.loop && !this.streaming.signal.aborted);
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
