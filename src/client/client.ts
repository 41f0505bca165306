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

/**
 * The headless candidate: one TCP connection, HELLO, then video and audio paced at real time on independent
 * clocks sharing one origin, never waiting for the server between frames.
 */
export class CandidateClient {
  private socket: net.Socket | null = null;
  private readonly decoder = new Decoder();
  private mode: ModeName = 'both';
  private videoSeq = 0;
  private audioSeq = 0;
  private audioSamples = 0;
  private warnings = 0;
  private readonly streaming = new AbortController();
  private welcome: { resolve: (m: WelcomeMessage) => void; reject: (e: Error) => void } | null = null;
  private finalBye: ((m: ByeMessage) => void) | null = null;
  private stopReason: ClientStop | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private readonly started = performance.now();

  constructor(private readonly opts: ClientOptions) {}

  async run(): Promise<ClientResult> {
    const onAbort = (): void => this.stop(new ClientStop(ClientExit.interrupted, 'interrupted'));
    this.opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await this.connect();
      const welcome = await this.handshake();
      this.welcomed = true;
      this.opts.print(`WELCOME session ${welcome.sessionId} (mode ${welcome.mode})`);
      this.mode = welcome.mode;
      this.limits = welcome.limits;
      this.startPings(welcome.idleTimeoutMs);
      await this.stream();
      if (this.stopReason) throw this.stopReason;
      const bye = await this.goodbye('normal', 'all media sent');
      return this.result(ClientExit.ok, `done: server ${bye.text || 'confirmed'}`);
    } catch (err) {
      const stop = err instanceof ClientStop ? err : new ClientStop(ClientExit.connection, (err as Error).message);
      // Stopped on this side with the connection still up: say goodbye so the server finalises the recording now.
      const ownStop = stop.exitCode === ClientExit.interrupted || stop.exitCode === ClientExit.usage;
      if (ownStop && this.welcomed && this.socket && !this.socket.destroyed) {
        const bye = await this.goodbye('normal', stop.message).catch(() => null);
        return this.result(stop.exitCode, bye ? `${stop.message}; server ${bye.text}` : stop.message);
      }
      return this.result(stop.exitCode, stop.message);
    } finally {
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
      videoFramesSent: this.videoSeq,
      audioChunksSent: this.audioSeq,
      audioSecondsSent: audio ? this.audioSamples / audio.format.sampleRate : 0,
      warnings: this.warnings,
      elapsedS: (performance.now() - this.started) / 1000,
    };
  }

  /** The server's per-kind limits from WELCOME; checked before sending so an oversized frame is explained here. */
  private limits: WelcomeMessage['limits'] | null = null;
  private welcomed = false;
  private verdict: VerdictName = 'unknown';

  private stop(reason: ClientStop): void {
    this.stopReason ??= reason;
    this.streaming.abort();
    this.welcome?.reject(reason);
    this.welcome = null;
  }

  private connect(): Promise<void> {
    const { host, port } = this.opts;
    const timeoutMs = this.opts.connectTimeoutMs ?? 5_000;
    const useTls = this.opts.tls ?? null;
    return new Promise((resolve, reject) => {
      const socket = useTls
        ? tls.connect({ host, port, ...(useTls.ca ? { ca: useTls.ca } : {}), ...(net.isIP(host) ? {} : { servername: host }), minVersion: 'TLSv1.2' })
        : net.connect({ host, port });
      this.socket = socket;
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ClientStop(ClientExit.connection, `cannot connect to ${host}:${port}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once(useTls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
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
        reject(new ClientStop(ClientExit.connection, `cannot connect to ${host}:${port}: ${why}`));
        this.stop(new ClientStop(ClientExit.connection, `the server went away (${err.message})`));
      });
      socket.on('data', (chunk: Buffer) => this.onData(chunk));
      socket.on('close', () => this.stop(new ClientStop(ClientExit.connection, 'the server went away (it closed the connection without a BYE)')));
    });
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
        const code = refused ? ClientExit.refused : ClientExit.closedByServer;
        this.stop(new ClientStop(code, refused ? `refused by the server (${m.reason}): ${m.text}` : `closed by the server (${m.reason}): ${m.text}`));
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
    this.pingTimer = setInterval(() => this.send({ type: 'ping', nonce: nonce++ >>> 0 }), Math.max(500, idleTimeoutMs / 3));
    this.pingTimer.unref();
  }

  /** Waits until the socket's queue is short again, so a stalled server slows us instead of filling memory. */
  private async writable(): Promise<void> {
    const socket = this.socket!;
    const max = this.opts.maxQueuedBytes ?? 4 * 1024 * 1024;
    while (socket.writableLength > max && !socket.destroyed) {
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
          this.send({ type: 'video_frame', seq: this.videoSeq++, timestampMs: ts, jpeg });
        }),
      audio &&
        this.pace(origin, () => audio.chunks(this.opts.audioChunkMs ?? 40), (_, before) => (before * 1000) / audio.format.sampleRate,
          () => modeIncludesAudio(this.mode),
          (pcm, ts) => {
            this.send({ type: 'audio_chunk', seq: this.audioSeq++, timestampMs: ts, pcm });
            this.audioSamples += samplesOf(pcm);
          },
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
