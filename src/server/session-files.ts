import { appendFile, rename, rm, writeFile } from 'node:fs/promises';
import type { IncidentEvent } from '../detect/incidents';
import { vttCue } from '../media/webvtt';
import { RecordingWriteError } from '../media/write-error';

export const RECORDING_FILE = 'recording.mkv';
export const SESSION_FILE = 'session.json';
export const INCIDENTS_FILE = 'incidents.jsonl';
export const SUBTITLES_FILE = 'incidents.vtt';

/** One failed write to a session file, as session.json keeps it. */
export interface WriteErrorRecord {
  file: string;
  code: RecordingWriteError['code'];
  /** ENOSPC, EIO, EFBIG, ... or null when the failure was not a system error (a failed ffmpeg mux). */
  errno: string | null;
  message: string;
  offset: number | null;
  lost: string;
  at: string;
}

/** session.json as written beside every recording; `ended` is `in_progress` until the session is finalised. */
export interface SessionRecord {
  candidate_id: string;
  session_id: string;
  remote_address: string;
  client_version: string;
  started_at: string;
  ended_at: string | null;
  /**
   * How the session ended: `client_bye`, `kicked`, a drop reason, ... or `recording_failed` whenever any write
   * to a session file failed, so a failed recording never reads as a clean one (`end_cause` then says how).
   */
  ended: string;
  /** How the connection ended (equal to `ended` unless a write failed); null while in progress. */
  end_cause: string | null;
  video: { codec: 'jpeg' | 'h264'; width: number; height: number; fps: number } | null;
  audio: { codec: 'pcm_s16le' | 'opus'; sample_rate: number; channels: number } | null;
  bytes_received: number;
  frames_received: number;
  /** Frames whose bytes reached the file (see MkvWriter: handed to a write that succeeded). */
  frames_written: number;
  audio_chunks_received: number;
  /** Seconds of audio whose bytes reached the file. */
  audio_seconds: number;
  /** JPEG and PCM bytes that reached the file. */
  bytes_written: number;
  /** Received but not in the file because a write failed (0 when none did). */
  frames_lost: number;
  audio_seconds_lost: number;
  recording: string;
  /** The first failed write to recording.mkv, in words; null when none failed. */
  recording_error: string | null;
  /** Every failed write to any session file (the first few dozen). */
  write_errors: WriteErrorRecord[];
  incidents: number;
  /** True once the incidents are muxed into the recording as a subtitle track. */
  subtitle_track: boolean;
  subtitle_error: string | null;
}

const MAX_KEPT = 32;

/**
 * A session's write failures: all are kept for session.json; the owner hears of the first one per file (a full
 * disk fails every refresh of session.json, and one alarm per file says all there is to say).
 */
export class WriteFailures {
  readonly records: WriteErrorRecord[] = [];
  private readonly reported = new Set<string>();
  private unheard: RecordingWriteError[] = [];
  private listener: ((err: RecordingWriteError) => void) | null = null;
  private firstRecording: RecordingWriteError | null = null;

  add(err: RecordingWriteError): void {
    if (this.records.length < MAX_KEPT) {
      this.records.push({ file: err.file, code: err.code, errno: err.errno, message: err.message, offset: err.offset, lost: err.lost, at: new Date().toISOString() });
    }
    if (err.file === RECORDING_FILE) this.firstRecording ??= err;
    if (this.reported.has(err.file)) return;
    this.reported.add(err.file);
    if (this.listener) this.listener(err);
    else this.unheard.push(err);
  }

  /** Sets who hears of failures; failures before this are delivered at once. */
  listen(listener: (err: RecordingWriteError) => void): void {
    this.listener = listener;
    const unheard = this.unheard;
    this.unheard = [];
    for (const err of unheard) listener(err);
  }

  get any(): boolean {
    return this.records.length > 0;
  }

  get first(): WriteErrorRecord | null {
    return this.records[0] ?? null;
  }

  get recording(): RecordingWriteError | null {
    return this.firstRecording;
  }
}

/** Atomic replace, so a reader (or a crash) never sees half a file; a failed write leaves the old file and no temporary. */
export async function replaceFile(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, text, { mode: 0o640 });
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw new RecordingWriteError(file, err, null, 'this update (the previous version stays)');
  }
}

/** Appends to a timeline file; a failure says what did not get in. */
export async function appendTo(file: string, text: string, what: string): Promise<void> {
  try {
    await appendFile(file, text);
  } catch (err) {
    throw new RecordingWriteError(file, err, null, what);
  }
}

/** Creates an empty (or headed) file that must not exist yet. */
export async function createFile(file: string, text: string): Promise<void> {
  try {
    await writeFile(file, text, { flag: 'wx', mode: 0o640 });
  } catch (err) {
    throw new RecordingWriteError(file, err, 0, 'the whole session (it could not start)');
  }
}

const INCIDENT_TEXT: Record<string, string> = {
  no_face: 'NO FACE - the candidate is not visible',
  misaligned: 'MISALIGNED - face at the edge, too far or too close',
  multiple_faces: 'MULTIPLE FACES - someone else is in the picture',
  speech: 'SPEECH',
  disconnected: 'DISCONNECTED',
};

/** incidents.jsonl gets a line when an incident opens and when it closes; incidents.vtt a cue when it closes. */
export function timelineText(events: IncidentEvent[]): { lines: string; cues: string } {
  let lines = '';
  let cues = '';
  for (const e of events) {
    lines += JSON.stringify({ event: e.type, ...e.incident, at: new Date().toISOString() }) + '\n';
    if (e.type === 'close') {
      const i = e.incident;
      cues += vttCue(i.id, i.start_s, i.end_s ?? i.start_s, INCIDENT_TEXT[i.kind] ?? i.kind.toUpperCase());
    }
  }
  return { lines, cues };
}
