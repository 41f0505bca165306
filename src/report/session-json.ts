// session.json as the report reads it: checked field by field, since the file may come from another machine, an
// older server, or a crash. The report keeps its own type (it never imports src/server) and names what is missing.

/** What the report uses of session.json; fields the file lacks are null. */
export interface SessionFacts {
  candidateId: string | null;
  sessionId: string | null;
  remoteAddress: string | null;
  startedAt: Date | null;
  endedAt: Date | null;
  /** `client_bye`, `disconnected`, `in_progress`, ... as written. */
  ended: string | null;
  endCause: string | null;
  videoFps: number | null;
  videoSize: { width: number; height: number } | null;
  audioRate: number | null;
  framesReceived: number | null;
  framesWritten: number | null;
  audioSeconds: number | null;
  bytesWritten: number | null;
  framesLost: number;
  audioSecondsLost: number;
  recordingError: string | null;
  /** Failed writes, as session.json lists them. */
  writeErrors: Array<{ file: string; message: string }>;
  subtitleTrack: boolean | null;
  subtitleError: string | null;
}

export type ParsedSession = { ok: true; facts: SessionFacts; missing: string[] } | { ok: false; why: string };

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (o: Obj, k: string): string | null => (typeof o[k] === 'string' ? (o[k] as string) : null);
const num = (o: Obj, k: string): number | null => (typeof o[k] === 'number' && Number.isFinite(o[k]) ? (o[k] as number) : null);
const bool = (o: Obj, k: string): boolean | null => (typeof o[k] === 'boolean' ? (o[k] as boolean) : null);

function date(o: Obj, k: string): Date | null {
  const s = str(o, k);
  if (s === null) return null;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** Fields every server version has written; their absence (or a wrong type) is worth saying. */
const REQUIRED = ['candidate_id', 'session_id', 'started_at', 'ended', 'frames_written', 'audio_seconds'] as const;

export function parseSessionJson(text: string): ParsedSession {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, why: `not valid JSON (${(err as Error).message})` };
  }
  if (!isObj(raw)) return { ok: false, why: 'not a JSON object' };
  const o = raw;
  const video = isObj(o['video']) ? o['video'] : null;
  const audio = isObj(o['audio']) ? o['audio'] : null;
  const width = video ? num(video, 'width') : null;
  const height = video ? num(video, 'height') : null;
  const writeErrors = Array.isArray(o['write_errors'])
    ? (o['write_errors'] as unknown[]).map((e) => (isObj(e) ? { file: str(e, 'file') ?? '?', message: str(e, 'message') ?? str(e, 'code') ?? 'write failed' } : { file: '?', message: 'write failed' }))
    : [];
  const facts: SessionFacts = {
    candidateId: str(o, 'candidate_id'),
    sessionId: str(o, 'session_id'),
    remoteAddress: str(o, 'remote_address'),
    startedAt: date(o, 'started_at'),
    endedAt: date(o, 'ended_at'),
    ended: str(o, 'ended'),
    endCause: str(o, 'end_cause'),
    videoFps: video ? num(video, 'fps') : null,
    videoSize: width !== null && height !== null ? { width, height } : null,
    audioRate: audio ? num(audio, 'sample_rate') : null,
    framesReceived: num(o, 'frames_received'),
    framesWritten: num(o, 'frames_written'),
    audioSeconds: num(o, 'audio_seconds'),
    bytesWritten: num(o, 'bytes_written'),
    framesLost: num(o, 'frames_lost') ?? 0,
    audioSecondsLost: num(o, 'audio_seconds_lost') ?? 0,
    recordingError: str(o, 'recording_error'),
    writeErrors,
    subtitleTrack: bool(o, 'subtitle_track'),
    subtitleError: str(o, 'subtitle_error'),
  };
  const parsedRequired: Record<(typeof REQUIRED)[number], unknown> = {
    candidate_id: facts.candidateId,
    session_id: facts.sessionId,
    started_at: facts.startedAt,
    ended: facts.ended,
    frames_written: facts.framesWritten,
    audio_seconds: facts.audioSeconds,
  };
  // Absent, or of a type this reader cannot use: either way the report cannot rely on it.
  const missing = REQUIRED.filter((k) => parsedRequired[k] === null);
  return { ok: true, facts, missing };
}

/** Session ids start with their UTC start time (20261127T093124Z-cc779b): the fallback when session.json is gone. */
export function startFromSessionId(id: string): Date | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(id);
  if (!m) return null;
  const d = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`);
  return Number.isNaN(d.getTime()) ? null : d;
}
