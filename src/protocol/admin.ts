/**
 * The admin socket's protocol: newline-delimited JSON, one object per line, between the server and local tools
 * (`vigil status`, the console). JSON rather than the binary candidate framing because it carries no media at
 * volume, and a proctor can drive it with `socat - UNIX:recordings/vigil.sock` when a tool is missing.
 * Keys are snake_case because scripts read them (`vigil status --json` prints these objects as they are).
 */
import { StringDecoder } from 'node:string_decoder';
import type { ByeReasonName, ModeName, VerdictName } from './constants';
import type { ProtocolErrorCode } from './errors';

export const ADMIN_PROTOCOL_VERSION = 1;
/** Longest admin line either side accepts; a snapshot of hundreds of candidates fits many times over. */
export const ADMIN_MAX_LINE = 4 * 1024 * 1024;

export interface CandidateStatus {
  id: string;
  session_id: string;
  address: string;
  mode: ModeName;
  connected_s: number;
  /** Video frames received per second over the last 5 s. */
  video_fps: number;
  /** Audio kilobits received per second over the last 5 s. */
  audio_kbps: number;
  bytes_in: number;
  frames_received: number;
  frames_recorded: number;
  audio_s: number;
  face: VerdictName;
  /** Faces in the last analysed frame. */
  faces: number;
  /** Kind of the incident open now, or null. */
  incident: string | null;
  /** Incidents opened in this session so far. */
  incidents: number;
  /** Seconds those incidents have lasted so far, open ones up to now (overlapping incidents each count). */
  incident_s: number;
  /** The video frame rate the client declared in its HELLO, or null without video. */
  declared_fps: number | null;
  /** The candidate is talking now (voice activity on their audio). */
  speech: boolean;
  /** The first failed write to this session's files (the recording is no longer complete), or null. */
  write_error: WriteFailure | null;
  /** Frames the detector analysed in this session. */
  analyses: number;
  /** Frames answered with the previous verdict because they had not changed (a motion gate; 0 without one). */
  analysis_gated: number;
  /** Frames answered by the quick check: the last analysis's one face found again by BlazeFace alone (0 without one). */
  analysis_quick: number;
  /** Frames the latest-frame slot replaced by a newer one before analysis (a busy detector skips, never delays). */
  analysis_skipped: number;
  /** Analyses that failed (detector error, crash, timeout). */
  analysis_failed: number;
  /** Verdicts (analysed, gated and quick) per second over the last 5 s. */
  analysis_rate: number;
  /** From an analysed frame's arrival to its verdict applied and any VERDICT written, over the last 256 verdicts; null before the first. */
  verdict_latency_ms: LatencySummary | null;
  /** From the arrival of the oldest frame no analysis had yet seen to the verdict that covers it: how late a change on camera is reported. */
  change_latency_ms: LatencySummary | null;
}

/** A session waiting in the resume window: its last status, and how long it is kept before it is finalised. */
export interface ReconnectingStatus extends CandidateStatus {
  resume_left_s: number;
}

/** The stable code of a failed write to a session file (recording.mkv, incidents.jsonl/.vtt, session.json). */
export type RecordingFailureCode = 'VIGIL_ERR_RECORDING_WRITE';

/** A failed write to one of a session's files, as status and the `recording_failed` event carry it. */
export interface WriteFailure {
  /** The file's name in the session folder. */
  file: string;
  code: RecordingFailureCode;
  /** The system's error code (ENOSPC, EIO, EFBIG, ...), or null when it was not a system error. */
  errno: string | null;
  message: string;
}

/** Percentiles of a latency in milliseconds over a bounded window of the most recent values. */
export interface LatencySummary {
  p50: number;
  p99: number;
  max: number;
  /** How many values the figures are taken over. */
  n: number;
}

/** One incident on a candidate's timeline, as incidents.jsonl and the event stream carry it. */
export interface IncidentRecord {
  id: number;
  kind: string;
  start_s: number;
  end_s: number | null;
  frames: number;
  peak_confidence: number;
}

export interface ServerStatus {
  version: string;
  listen: string;
  record_dir: string;
  started_at: string;
  uptime_s: number;
  candidates: CandidateStatus[];
  /** Sessions whose connection died, kept for a resume; absent from servers before this field existed. */
  reconnecting?: ReconnectingStatus[];
  /** Connections dropped since start, by BYE reason. */
  drops: Partial<Record<ByeReasonName, number>>;
  /** Face detection: off (--detector none), up, or down (faces show `unknown` until it is back). */
  detection: DetectionStatus;
  /** `recording_failed` events since start (one per session and file that failed). */
  recording_failures: number;
}

export type DetectionStatus = { state: 'off' } | { state: 'up' } | { state: 'down'; reason: string; since: string };

export type ServerEvent =
  | { kind: 'candidate_joined'; at: string; id: string; session_id: string; address: string; mode: ModeName }
  | {
      kind: 'candidate_left';
      at: string;
      id: string;
      session_id: string;
      ended: string;
      frames_recorded: number;
      audio_s: number;
    }
  | {
      kind: 'connection_dropped';
      at: string;
      address: string;
      id: string | null;
      reason: ByeReasonName;
      code: ProtocolErrorCode | null;
      message: string;
    }
  | { kind: 'mode_changed'; at: string; id: string; mode: ModeName }
  | { kind: 'face_status'; at: string; id: string; face: VerdictName; faces: number }
  | { kind: 'incident_opened' | 'incident_closed'; at: string; id: string; incident: IncidentRecord }
  | { kind: 'kicked'; at: string; id: string; reason: string }
  /** Face detection stopped working (every detector process failing); the server keeps recording. */
  | { kind: 'detector_down'; at: string; reason: string; retry_in_s: number | null }
  | { kind: 'detector_up'; at: string; down_s: number }
  | ({ kind: 'recording_failed'; at: string; id: string; session_id: string } & WriteFailure);

/** A session this server finalised since it started: where its files are and what the review score needs. */
export interface EndedSession {
  id: string;
  session_id: string;
  /** Absolute paths of the session folder, its recording and its incident timeline. */
  dir: string;
  recording: string;
  incidents_file: string;
  started_at: string;
  ended_at: string | null;
  /** As session.json's `ended`: client_bye, disconnected, kicked, server_shutdown, recording_failed, ... */
  ended: string;
  declared_fps: number | null;
  frames_lost: number;
  audio_seconds_lost: number;
  /** Failed writes to the session's files. */
  write_errors: number;
  /** Its incidents, all closed. */
  incidents: IncidentRecord[];
}

export type AdminRequest =
  | { type: 'status'; req: number }
  | { type: 'ended'; req: number }
  | { type: 'subscribe'; req: number }
  | { type: 'preview'; req: number; id: string; fps: number }
  | { type: 'preview_stop'; req: number }
  | { type: 'listen'; req: number; id: string }
  | { type: 'listen_stop'; req: number }
  | { type: 'set_mode'; req: number; id: string; mode: ModeName }
  | { type: 'kick'; req: number; id: string; reason: string };

export type AdminErrorCode = 'bad_request' | 'unknown_candidate' | 'line_too_long';

/** One preview frame: the candidate's latest JPEG as received, with the boxes of the latest analysis. */
export interface PreviewFrame {
  id: string;
  timestamp_ms: number;
  /** Base64 JPEG, exactly as the candidate sent it. */
  jpeg: string;
  face: VerdictName;
  /** Boxes in pixels of the frame, from the most recent analysis (which may be a frame or two older). */
  faces: Array<{ x: number; y: number; w: number; h: number; score: number }>;
}

/** A candidate's audio as it arrives, for `vigil listen`. */
export interface ListenChunk {
  id: string;
  timestamp_ms: number;
  sample_rate: number;
  channels: number;
  /** Base64 s16le PCM, exactly as the candidate sent it. */
  pcm: string;
}

/** Most preview frames per second the server sends one admin client. */
export const MAX_PREVIEW_FPS = 15;

export type AdminReply =
  | { type: 'status'; req: number; status: ServerStatus }
  | { type: 'ended'; req: number; sessions: EndedSession[] }
  | { type: 'frame'; frame: PreviewFrame }
  | { type: 'audio'; audio: ListenChunk }
  | { type: 'ok'; req: number }
  | { type: 'error'; req: number | null; code: AdminErrorCode; message: string }
  | { type: 'event'; event: ServerEvent };

export class AdminProtocolError extends Error {
  constructor(
    readonly code: AdminErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'AdminProtocolError';
  }
}

export function encodeAdmin(msg: AdminRequest | AdminReply): string {
  return JSON.stringify(msg) + '\n';
}

/**
 * Splits a byte stream into lines with a hard cap, so a peer that never sends a newline cannot grow the buffer.
 */
export class LineSplitter {
  private pending = '';
  // Keeps the bytes of a character cut between two chunks until the rest arrives, instead of two U+FFFDs.
  private readonly utf8 = new StringDecoder('utf8');

  constructor(private readonly maxLine = ADMIN_MAX_LINE) {}

  push(chunk: Buffer | string): string[] {
    this.pending += typeof chunk === 'string' ? chunk : this.utf8.write(chunk);
    const lines = this.pending.split('\n');
    this.pending = lines.pop() ?? '';
    if (this.pending.length > this.maxLine) {
      this.pending = '';
      throw new AdminProtocolError('line_too_long', `admin line exceeds ${this.maxLine} bytes`);
    }
    return lines.filter((l) => l.length > 0);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const MODES: readonly string[] = ['audio', 'video', 'both'];

/** Parses one request line; any shape it does not know is a `bad_request`, never an exception of another kind. */
export function parseAdminRequest(line: string): AdminRequest {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new AdminProtocolError('bad_request', 'request is not JSON');
  }
  if (!isRecord(v)) throw new AdminProtocolError('bad_request', 'request must be a JSON object');
  const req = v['req'];
  if (typeof req !== 'number' || !Number.isSafeInteger(req)) {
    throw new AdminProtocolError('bad_request', 'request needs an integer "req"');
  }
  const id = v['id'];
  switch (v['type']) {
    case 'status':
    case 'ended':
    case 'subscribe':
    case 'preview_stop':
    case 'listen_stop':
      return { type: v['type'], req };
    case 'listen':
      if (typeof id !== 'string') throw new AdminProtocolError('bad_request', 'listen needs a string "id"');
      return { type: 'listen', req, id };
    case 'preview': {
      const fps = v['fps'] ?? 5;
      if (typeof id !== 'string') throw new AdminProtocolError('bad_request', 'preview needs a string "id"');
      if (typeof fps !== 'number' || !(fps > 0 && fps <= MAX_PREVIEW_FPS)) {
        throw new AdminProtocolError('bad_request', `preview "fps" must be a number in (0, ${MAX_PREVIEW_FPS}]`);
      }
      return { type: 'preview', req, id, fps };
    }
    case 'set_mode': {
      const mode = v['mode'];
      if (typeof id !== 'string') throw new AdminProtocolError('bad_request', 'set_mode needs a string "id"');
      if (typeof mode !== 'string' || !MODES.includes(mode)) {
        throw new AdminProtocolError('bad_request', 'set_mode needs "mode": audio, video or both');
      }
      return { type: 'set_mode', req, id, mode: mode as ModeName };
    }
    case 'kick': {
      const reason = v['reason'];
      if (typeof id !== 'string') throw new AdminProtocolError('bad_request', 'kick needs a string "id"');
      return { type: 'kick', req, id, reason: typeof reason === 'string' ? reason : 'removed by the proctor' };
    }
    default:
      throw new AdminProtocolError('bad_request', `unknown request type ${JSON.stringify(v['type'])}`);
  }
}

/** Parses one reply line from a server this tool trusts to speak the protocol; a broken line is reported, not guessed. */
export function parseAdminReply(line: string): AdminReply {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new AdminProtocolError('bad_request', 'server sent a line that is not JSON');
  }
  if (!isRecord(v) || typeof v['type'] !== 'string') {
    throw new AdminProtocolError('bad_request', 'server sent a reply without a type');
  }
  if (!['status', 'ended', 'ok', 'error', 'event', 'frame', 'audio'].includes(v['type'])) {
    throw new AdminProtocolError('bad_request', `server sent an unknown reply type ${JSON.stringify(v['type'])}`);
  }
  return v as unknown as AdminReply;
}
