/**
 * Wire constants shared by both ends. Numbers here are part of the protocol: never renumber, only add.
 */

/**
 * Protocol version carried in HELLO. Bump on any incompatible change to a payload layout. Version 2 adds
 * H.264/Opus media (CODEC_CONFIG, H264_FRAME, OPUS_PACKET, SNAPSHOT) and the snapshot rate in WELCOME; a
 * server speaks both, and answers each client in the version its HELLO declared.
 */
export const PROTOCOL_VERSION = 2;
export const SUPPORTED_VERSIONS: readonly number[] = [1, 2];

/** First byte of every frame header: catches a peer that is not speaking vigil (HTTP, TLS, noise) at once. */
export const MAGIC = 0x56; // 'V'

/** Frame header: magic u8, kind u8, payload length u32 big-endian. */
export const HEADER_SIZE = 6;

export const Kind = {
  HELLO: 1,
  WELCOME: 2,
  VIDEO_FRAME: 3,
  AUDIO_CHUNK: 4,
  MODE: 5,
  VERDICT: 6,
  PING: 7,
  PONG: 8,
  BYE: 9,
  /** Server -> client, only to a client whose HELLO accepts it: what the recording holds, before the final BYE. */
  RECEIPT: 10,
  /** Server -> client, only to a client whose HELLO accepts it: something the candidate must know went wrong. */
  ALERT: 11,
  /** Client -> server, version 2: a track's codec configuration (avcC for H.264, OpusHead for Opus). */
  CODEC_CONFIG: 12,
  /** Client -> server, version 2: one H.264 access unit, length-prefixed NAL units. */
  H264_FRAME: 13,
  /** Client -> server, version 2: one Opus packet with its duration. */
  OPUS_PACKET: 14,
  /** Client -> server, version 2: a small JPEG of the camera for face detection (not recorded). */
  SNAPSHOT: 15,
} as const;
export type KindName = keyof typeof Kind;
export type KindCode = (typeof Kind)[KindName];

/** The reverse of a name -> number table: the name a number stands for, if any. */
function namesByNumber<K extends string>(table: Readonly<Record<K, number>>): (code: number) => K | undefined {
  const names = new Map<number, K>((Object.keys(table) as K[]).map((name) => [table[name], name]));
  return (code) => names.get(code);
}

const kindNames = namesByNumber(Kind);

export function kindName(code: number): KindName | undefined {
  return kindNames(code);
}

/** Per-kind payload ceilings. A decoder enforces them from the header, before buffering any payload. */
export interface PayloadLimits {
  /** Largest VIDEO_FRAME payload (a JPEG plus 12 bytes of header fields). */
  video: number;
  /** Largest AUDIO_CHUNK payload. */
  audio: number;
  /** Largest payload of every other kind. */
  control: number;
}

/** Largest Opus packet (RFC 6716 §3.4: 1275 bytes a frame, 3 frames of 40/60 ms in one packet). */
export const MAX_OPUS_PACKET = 3 * 1275 + 3;
/** OPUS_PACKET fields before the packet: seq u32, timestamp f64, samples u16. */
export const OPUS_PACKET_FIELDS = 14;
/** Largest codec configuration: an avcC or OpusHead far beyond any encoder's, and small enough for the recorder. */
export const MAX_CODEC_CONFIG = 400;

export const DEFAULT_LIMITS: Readonly<PayloadLimits> = Object.freeze({
  // A 1920x1080 JPEG at high quality is ~500 KB; 2 MiB leaves room without letting one frame hog memory.
  video: 2 * 1024 * 1024,
  // 100 ms of 48 kHz stereo s16 is 19.2 KB; 256 KiB allows long chunks from odd devices.
  audio: 256 * 1024,
  control: 16 * 1024,
});

/** The hard cap on any payload, whatever limits a peer configures: keeps u32 lengths from meaning 4 GB. */
export const ABSOLUTE_MAX_PAYLOAD = 64 * 1024 * 1024;

export const Mode = { audio: 1, video: 2, both: 3 } as const;
export type ModeName = keyof typeof Mode;

export const Verdict = { unknown: 0, ok: 1, no_face: 2, misaligned: 3, multiple_faces: 4 } as const;
export type VerdictName = keyof typeof Verdict;

export const VideoCodec = { jpeg: 1, h264: 2 } as const;
export const AudioCodec = { pcm_s16le: 1, opus: 2 } as const;
export type VideoCodecName = keyof typeof VideoCodec;
export type AudioCodecName = keyof typeof AudioCodec;
export const videoCodecName = namesByNumber(VideoCodec);
export const audioCodecName = namesByNumber(AudioCodec);

/**
 * BYE reason codes. The name is the stable identifier logs, status and scripts use; the number is what travels.
 */
export const ByeReason = {
  normal: 1000,
  going_away: 1001,
  protocol_error: 1002,
  message_too_large: 1003,
  handshake_timeout: 1004,
  idle_timeout: 1005,
  unsupported_version: 1006,
  invalid_hello: 1007,
  auth_failed: 1008,
  kicked: 1009,
  server_full: 1010,
  internal_error: 1011,
  superseded: 1012,
  slow_consumer: 1013,
  rate_limited: 1014,
  id_in_use: 1015,
  recording_failed: 1016,
  too_many_unauthenticated: 1017,
  /** Never sent (there is no channel yet): the reason logged and counted for a failed TLS handshake. */
  tls_failed: 1018,
  /** Version 2: a codec configuration is missing (media before it) or malformed. */
  bad_codec_config: 1019,
  /** Version 2: the first H.264 frame after a (re)configuration or a resume is not a keyframe. */
  keyframe_required: 1020,
  /** Version 2: an H.264 access unit or Opus packet that is not what its codec allows. */
  bad_media: 1021,
  /** Never sent (the WebSocket upgrade is refused over HTTP): a page on a foreign origin tried to connect. */
  origin_refused: 1022,
} as const;
export type ByeReasonName = keyof typeof ByeReason;

const byeName = namesByNumber(ByeReason);

/** Unknown numbers from a newer peer map to `protocol_error` rather than failing the decode. */
export function byeReasonName(code: number): ByeReasonName | undefined {
  return byeName(code);
}

/**
 * Server -> client kinds added after the first release. An older client's decoder fails on a kind it does not
 * know, so the server sends each only to a client whose HELLO lists it (HELLO flag bits, see codec.ts).
 */
export type OptionalKind = 'receipt' | 'alert';

/**
 * ALERT codes: something the candidate must know went wrong on the server's side. Name <-> number like BYE
 * reasons; never renumber, only add.
 */
export const AlertCode = {
  /** The server could not write this candidate's recording (disk full, I/O error): media is being lost. */
  recording_failed: 1,
  /** Face detection is not running for this candidate; the recording goes on. */
  detector_down: 2,
} as const;
export type AlertCodeName = keyof typeof AlertCode;

const alertName = namesByNumber(AlertCode);

/** Unknown numbers from a newer peer decode as `unknown` (keeping the number) rather than failing. */
export function alertCodeName(code: number): AlertCodeName | undefined {
  return alertName(code);
}

/**
 * BYE reasons that are the server's own judgement of the link, not of the candidate: the session stays open for
 * a resume and the client comes back into it.
 */
export const RESUMABLE_BYES: ReadonlySet<ByeReasonName> = new Set<ByeReasonName>(['idle_timeout', 'slow_consumer']);

const modeNames = namesByNumber(Mode);
export function modeName(code: number): ModeName | undefined {
  return modeNames(code);
}

const verdictNames = namesByNumber(Verdict);
export function verdictName(code: number): VerdictName | undefined {
  return verdictNames(code);
}

export function modeIncludesVideo(mode: ModeName): boolean {
  return mode !== 'audio';
}

export function modeIncludesAudio(mode: ModeName): boolean {
  return mode !== 'video';
}
