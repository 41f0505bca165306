/**
 * The page's connection to the server: protocol 2 frames over a WebSocket, with the resend buffer and the
 * reconnects of the headless client. Everything said on the wire comes from src/protocol; this only decides
 * when to say it. A connection lost without the server's BYE is retried with backoff, and each new connection
 * resumes the same session: codec configurations again, then video from the last keyframe the server may lack,
 * then audio after the last packet it recorded.
 */
import {
  Decoder,
  RESUMABLE_BYES,
  encode,
  type ByeMessage,
  type H264FrameMessage,
  type HelloMessage,
  type Message,
  type OpusPacketMessage,
  type SnapshotMessage,
  type WelcomeMessage,
} from '../protocol/candidate-wire';

export type LinkState =
  | { kind: 'connecting'; attempt: number }
  | { kind: 'open'; welcome: WelcomeMessage }
  | { kind: 'waiting'; retryAt: number; why: string; giveUpAt: number }
  | { kind: 'ended'; by: 'server' | 'candidate' | 'network'; bye: ByeMessage | null; why: string };

export interface LinkOptions {
  url: string;
  hello: HelloMessage;
  /** Media kept for a resend after a reconnect. */
  bufferMs: number;
  /** How long to keep trying after the connection is lost. */
  reconnectMs: number;
  onState(state: LinkState): void;
  /** Every message from the server (VERDICT, MODE, ALERT, RECEIPT, BYE, ...), after the link has acted on it. */
  onMessage(msg: Message): void;
}

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 8_000;

export class Link {
  private ws: WebSocket | null = null;
  private state: LinkState = { kind: 'connecting', attempt: 1 };
  private readonly video: H264FrameMessage[] = [];
  private readonly audio: OpusPacketMessage[] = [];
  private readonly configs: { video?: Buffer; audio?: Buffer } = {};
  private attempt = 0;
  private lostAt: number | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private finishing: ((bye: ByeMessage | null) => void) | null = null;
  private keepalive: ReturnType<typeof setInterval> | null = null;
  private nonce = 0;

  constructor(private readonly opts: LinkOptions) {}

  get current(): LinkState {
    return this.state;
  }

  get isOpen(): boolean {
    return this.state.kind === 'open';
  }

  start(): void {
    this.connect();
  }

  setConfig(track: 'video' | 'audio', data: Buffer): void {
    const old = this.configs[track];
    if (old?.equals(data)) return;
    this.configs[track] = data;
    this.send({ type: 'codec_config', track, data });
  }

  sendVideo(frame: H264FrameMessage): void {
    this.video.push(frame);
    this.prune();
    this.send(frame);
  }

  sendAudio(packet: OpusPacketMessage): void {
    this.audio.push(packet);
    this.prune();
    this.send(packet);
  }

  /** Snapshots are for the detector's present: never buffered, never resent. */
  sendSnapshot(snapshot: SnapshotMessage): void {
    this.send(snapshot);
  }

  /** Says goodbye and waits (at most `timeoutMs`) for the server's BYE, which comes once the recording is final. */
  finish(timeoutMs = 15_000): Promise<ByeMessage | null> {
    if (this.state.kind !== 'open') {
      this.end('candidate', null, 'the candidate finished while offline');
      return Promise.resolve(null);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(null), timeoutMs);
      const done = (bye: ByeMessage | null): void => {
        clearTimeout(timer);
        this.finishing = null;
        resolve(bye);
      };
      this.finishing = done;
      this.send({ type: 'bye', reason: 'normal', code: 1000, text: 'the candidate finished' });
    });
  }

  private connect(): void {
    this.attempt++;
    this.setState({ kind: 'connecting', attempt: this.attempt });
    const ws = new WebSocket(this.opts.url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    const decoder = new Decoder();
    ws.onopen = () => ws.send(encode(this.opts.hello));
    ws.onmessage = (ev: MessageEvent<ArrayBuffer | string>) => {
      if (typeof ev.data === 'string') return;
      const r = decoder.push(Buffer.from(ev.data));
      for (const m of r.messages) this.onMessage(m);
      if (r.error) ws.close(4000, 'protocol error');
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.state.kind === 'ended') return;
      if (this.finishing) {
        this.end('candidate', null, 'the connection closed before the server confirmed the recording');
        return;
      }
      this.retry('the connection was lost');
    };
  }

  private onMessage(m: Message): void {
    switch (m.type) {
      case 'welcome':
        this.lostAt = null;
        this.attempt = 0;
        this.setState({ kind: 'open', welcome: m });
        this.resume(m);
        // Media keeps the server's idle timer quiet; a PING covers a camera and microphone that both stall.
        if (this.keepalive) clearInterval(this.keepalive);
        this.keepalive = setInterval(() => this.send({ type: 'ping', nonce: ++this.nonce }), Math.max(1000, m.idleTimeoutMs / 3));
        break;
      case 'ping':
        this.send({ type: 'pong', nonce: m.nonce });
        break;
      case 'bye':
        if (this.finishing) {
          const done = this.finishing;
          this.end('candidate', m, m.text);
          done(m);
        } else if (m.reason !== 'unknown' && RESUMABLE_BYES.has(m.reason)) {
          this.ws?.close();
          this.retry(m.text);
        } else {
          this.end('server', m, m.text);
        }
        break;
      default:
        break;
    }
    this.opts.onMessage(m);
  }

  /** What a new connection sends before live media: configurations, then what the server may not have. */
  private resume(w: WelcomeMessage): void {
    if (this.configs.video) this.send({ type: 'codec_config', track: 'video', data: this.configs.video });
    if (this.configs.audio) this.send({ type: 'codec_config', track: 'audio', data: this.configs.audio });
    // A decoder restarts at a keyframe: from the newest one at or before the first frame the server lacks (it
    // skips what it already has), or the oldest one after it when the buffer no longer reaches back that far.
    const need = w.lastVideoSeq + 1;
    let from = -1;
    for (let i = 0; i < this.video.length; i++) {
      const f = this.video[i]!;
      if (f.keyframe && (f.seq <= need || from === -1)) from = i;
      if (f.seq >= need && from !== -1) break;
    }
    if (from >= 0) for (const f of this.video.slice(from)) this.send(f);
    for (const p of this.audio) if (p.seq > w.lastAudioSeq) this.send(p);
  }

  private retry(why: string): void {
    const now = Date.now();
    this.lostAt ??= now;
    const giveUpAt = this.lostAt + this.opts.reconnectMs;
    if (now >= giveUpAt) {
      this.end('network', null, `${why}; gave up after ${Math.round(this.opts.reconnectMs / 1000)} s`);
      return;
    }
    const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(this.attempt, 5)) * (0.8 + Math.random() * 0.4);
    this.setState({ kind: 'waiting', retryAt: now + delay, why, giveUpAt });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  private end(by: 'server' | 'candidate' | 'network', bye: ByeMessage | null, why: string): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.setState({ kind: 'ended', by, bye, why });
    const ws = this.ws;
    this.ws = null;
    ws?.close();
  }

  private send(msg: Message): void {
    if (this.ws?.readyState !== WebSocket.OPEN) return;
    if (this.state.kind !== 'open' && msg.type !== 'hello') return;
    this.ws.send(encode(msg));
  }

  /** Keeps `bufferMs` of media; the video buffer always starts at a keyframe. */
  private prune(): void {
    const newest = Math.max(this.video.at(-1)?.timestampMs ?? 0, this.audio.at(-1)?.timestampMs ?? 0);
    const oldest = newest - this.opts.bufferMs;
    while (this.audio.length && this.audio[0]!.timestampMs < oldest) this.audio.shift();
    while (this.video.length && this.video[0]!.timestampMs < oldest) this.video.shift();
    while (this.video.length && !this.video[0]!.keyframe) this.video.shift();
  }

  private setState(s: LinkState): void {
    if (s.kind !== 'open' && this.keepalive) {
      clearInterval(this.keepalive);
      this.keepalive = null;
    }
    this.state = s;
    this.opts.onState(s);
  }
}
