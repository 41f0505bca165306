import type { ByeReasonName, ModeName, VerdictName } from './constants';

/** What a candidate will send, declared once in HELLO; the recorder builds its tracks from it. */
export interface VideoParams {
  codec: 'jpeg';
  width: number;
  height: number;
  fps: number;
}

export interface AudioParams {
  codec: 'pcm_s16le';
  sampleRate: number;
  channels: number;
}

export interface HelloMessage {
  type: 'hello';
  version: number;
  candidateId: string;
  /** Empty when the client has none; checked by the server's auth mode. */
  token: string;
  clientVersion: string;
  video: VideoParams | null;
  audio: AudioParams | null;
}

export interface WireLimits {
  video: number;
  audio: number;
  control: number;
}

export interface WelcomeMessage {
  type: 'welcome';
  sessionId: string;
  mode: ModeName;
  limits: WireLimits;
  /** The server closes a connection that sends nothing for this long; clients PING well inside it. */
  idleTimeoutMs: number;
  /** True when this connection continues an earlier session (same session id, same recording). */
  resumed: boolean;
  /** On resume: the last sequence numbers the server recorded, so the client resends what came after. -1: none. */
  lastVideoSeq: number;
  lastAudioSeq: number;
  /**
   * On resume: the session's clock in ms. A client process that did not start the session (a new login that
   * took it over) numbers its timestamps from here so the recording's timeline runs on.
   */
  resumeAtMs: number;
}

export interface VideoFrameMessage {
  type: 'video_frame';
  seq: number;
  /** Capture time in ms since the client's stream began (the client's monotonic clock). */
  timestampMs: number;
  jpeg: Buffer;
}

export interface AudioChunkMessage {
  type: 'audio_chunk';
  seq: number;
  /** Time of the chunk's first sample in ms since the client's stream began. */
  timestampMs: number;
  /** Interleaved signed 16-bit little-endian samples. */
  pcm: Buffer;
}

export interface ModeMessage {
  type: 'mode';
  mode: ModeName;
}

export interface VerdictMessage {
  type: 'verdict';
  verdict: VerdictName;
  faces: number;
  /** Capture timestamp of the frame the verdict is about. */
  timestampMs: number;
  text: string;
}

export interface PingMessage {
  type: 'ping';
  nonce: number;
}

export interface PongMessage {
  type: 'pong';
  nonce: number;
}

export interface ByeMessage {
  type: 'bye';
  /** `unknown` when a newer peer sent a code this end does not know; `code` keeps the number. */
  reason: ByeReasonName | 'unknown';
  code: number;
  text: string;
}

export type Message =
  | HelloMessage
  | WelcomeMessage
  | VideoFrameMessage
  | AudioChunkMessage
  | ModeMessage
  | VerdictMessage
  | PingMessage
  | PongMessage
  | ByeMessage;

export type MessageType = Message['type'];
