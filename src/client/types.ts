import type { HelloMessage } from '../protocol';
import type { Encoders } from './streams';

/** A source of JPEG frames at a fixed rate (a video file today, a camera later). */
export interface VideoSource {
  readonly fps: number;
  frames(): AsyncIterable<Buffer>;
  /** ffmpeg input arguments, for the H.264 encoder that reads the source itself. */
  readonly ffmpegInput?: string[];
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
  /** `h264`: H.264 + Opus (protocol version 2, with snapshots for detection). `mjpeg` (default): JPEG + PCM, version 1. */
  codec?: 'h264' | 'mjpeg';
  /** The H.264 path's encoders; default: libx264 and libopus in ffmpeg children. */
  encoders?: Encoders;
  /** Snapshot size for the server's face detection (H.264 only). Default 320x240. */
  snapshotSize?: { width: number; height: number };
}

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
  /** What was lost or left unconfirmed, and where in capture time; empty when the recording holds everything. */
  mediaLines: string[];
}

/** The HELLO this client sends: what it will stream, and that it understands RECEIPT and ALERT. */
export function helloFor(opts: ClientOptions): HelloMessage {
  const { video, audio } = opts;
  if (opts.codec === 'h264') {
    return {
      type: 'hello',
      version: 2,
      candidateId: opts.candidateId,
      token: opts.token,
      clientVersion: opts.clientVersion,
      video: video ? { codec: 'h264', width: video.width, height: video.height, fps: video.source.fps } : null,
      // Opus runs at 48 kHz whatever the microphone's rate; the encoder mixes to mono.
      audio: audio ? { codec: 'opus', sampleRate: 48000, channels: 1 } : null,
      accepts: ['receipt', 'alert'],
    };
  }
  return {
    type: 'hello',
    // Version 1 while the client sends JPEG + PCM: unchanged for servers that predate H.264.
    version: 1,
    candidateId: opts.candidateId,
    token: opts.token,
    clientVersion: opts.clientVersion,
    video: video ? { codec: 'jpeg', width: video.width, height: video.height, fps: video.source.fps } : null,
    audio: audio ? { codec: 'pcm_s16le', sampleRate: audio.format.sampleRate, channels: audio.format.channels } : null,
    accepts: ['receipt', 'alert'],
  };
}
