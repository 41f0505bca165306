import type { AlertCodeName, AudioCodecName, ByeReasonName, ModeName, OptionalKind, VerdictName, VideoCodecName } from './constants';

/**
 * What a candidate will send, declared once in HELLO; the recorder builds its tracks from it. Version 1 knows
 * only JPEG and PCM; version 2 adds H.264 (sent as H264_FRAME) and Opus (OPUS_PACKET, always 48 kHz).
 */
export interface VideoParams {
  codec: VideoCodecName;
  width: number;
  height: number;
  fps: number;
}

export interface AudioParams {
  codec: AudioCodecName;
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
  /**
   * Server -> client kinds this client understands beyond the first release's. Absent (an older client): the
   * server never sends them.
   */
  accepts?: OptionalKind[];
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
  /**
   * Version 2 only (a version-1 WELCOME has no such field): how often the server wants a SNAPSHOT of an H.264
   * camera for face detection, in ms; 0 when it wants none.
   */
  snapshotIntervalMs?: number;
}

/** Version 2: a track's codec configuration, before its first frame and again whenever it changes. */
export interface CodecConfigMessage {
  type: 'codec_config';
  track: 'video' | 'audio';
  /** avcC record (4-byte NAL lengths) for H.264; OpusHead for Opus. */
  data: Buffer;
}

/** Version 2: one H.264 access unit. */
export interface H264FrameMessage {
  type: 'h264_frame';
  seq: number;
  timestampMs: number;
  /** True for an IDR picture: decoding can start here. */
  keyframe: boolean;
  /** Length-prefixed (4-byte) NAL units, without parameter sets; recorded as they are. */
  data: Buffer;
}

/** Version 2: one Opus packet. */
export interface OpusPacketMessage {
  type: 'opus_packet';
  seq: number;
  timestampMs: number;
  /** Duration in 48 kHz samples (must match the packet's TOC byte). */
  samples: number;
  data: Buffer;
}

/** Version 2: a small JPEG of what the H.264 track shows, for face detection only; never recorded. */
export interface SnapshotMessage {
  type: 'snapshot';
  timestampMs: number;
  jpeg: Buffer;
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

/** A stretch of sequence numbers the server never received, with the capture times around it. */
export interface ReceiptGap {
  fromSeq: number;
  toSeq: number;
  /** Timestamp of the last message recorded before the gap and of the first after it (ms, session clock). */
  afterMs: number;
  beforeMs: number;
}

export interface TrackReceipt {
  /** Frames or chunks the recording holds. */
  messages: number;
  /** Audio: sample frames (one per channel set) the recording holds. Video: 0. */
  samples: number;
  /** First and last sequence numbers recorded in this session; -1 when none. */
  firstSeq: number;
  lastSeq: number;
  /** Holes between firstSeq and lastSeq, oldest first. */
  gaps: ReceiptGap[];
}

/**
 * The server's account of a session that ended with the client's BYE, sent just before its final BYE: what the
 * finalised recording actually holds, so the client can tell whether everything it captured is there.
 */
export interface ReceiptMessage {
  type: 'receipt';
  sessionId: string;
  /** False when the recorder failed: the counts are what reached the disk, and the file may be damaged. */
  intact: boolean;
  /** True when there were more gaps than a RECEIPT carries; the counts still cover them. */
  gapsTruncated: boolean;
  video: TrackReceipt;
  audio: TrackReceipt;
}

export interface AlertMessage {
  type: 'alert';
  /** `unknown` when a newer server sent a code this end does not know; `wireCode` keeps the number. */
  code: AlertCodeName | 'unknown';
  text: string;
  wireCode?: number;
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
  | ByeMessage
  | ReceiptMessage
  | AlertMessage
  | CodecConfigMessage
  | H264FrameMessage
  | OpusPacketMessage
  | SnapshotMessage;

export type MessageType = Message['type'];
