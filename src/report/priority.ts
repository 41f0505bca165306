// Review priority: which finished session a human should look at first. Pure (no files, no clock), so the report
// and the console give the same number for the same session.

/** Incident kinds the score knows; any other kind a newer server writes counts with OTHER_WEIGHT. */
export type PriorityKind = 'no_face' | 'misaligned' | 'multiple_faces' | 'speech' | 'disconnected';

/**
 * Points per incident of a kind (and per minute of it, and per 30 s of its longest stretch). Someone else in the
 * picture is the strongest sign of help; an empty seat next; talking (to someone) after that; a face at the edge is
 * most often a badly placed camera.
 */
export const KIND_WEIGHTS: Readonly<Record<PriorityKind, number>> = {
  multiple_faces: 4,
  no_face: 3,
  speech: 2,
  disconnected: 2,
  misaligned: 1,
};
export const OTHER_WEIGHT = 1;

/** One kind's incidents in a session. */
export interface KindStats {
  count: number;
  /** Sum of their durations, seconds. */
  totalS: number;
  /** The longest one, seconds. */
  longestS: number;
}

/** What the score is computed from; everything a finished session's files (or the admin stream) tell. */
export interface PriorityFacts {
  /** Per incident kind (kinds with no incident may be absent). */
  incidents: Readonly<Record<string, KindStats>>;
  /**
   * How the session ended, as session.json's `ended` says: `client_bye`, `disconnected`, `kicked`,
   * `server_shutdown`, `server_crashed`, `recording_failed`, `in_progress` (never finalised), or null when unknown
   * (no readable session.json).
   */
  ended: string | null;
  /** Seconds of media received but not recorded: the longer of lost audio and lost video (frames / fps). */
  lostMediaS: number;
  /** Failed writes to the session's files (session.json's `write_errors`). */
  recordingErrors: number;
  /** Things wrong with the session's files found when reading them (unreadable lines, a cut recording, ...). */
  damage: number;
}

/** One term of the score, for showing why a session ranks where it does. */
export interface PriorityPart {
  what: string;
  points: number;
}

/** Ends that leave the recording's completeness in doubt or the exam unfinished. */
const END_POINTS: Readonly<Record<string, number>> = {
  in_progress: 5,
  server_crashed: 5,
  disconnected: 3,
  recording_failed: 10,
  kicked: 2,
};
const UNKNOWN_END_POINTS = 5;
const LOST_MEDIA_POINTS = 10;
const LOST_MEDIA_PER_S = 1 / 6;
const RECORDING_ERROR_POINTS = 10;
const PER_RECORDING_ERROR = 2;
const MAX_COUNTED_ERRORS = 5;
const PER_DAMAGE = 5;
const MAX_COUNTED_DAMAGE = 4;

/**
 * The score's terms, largest first. The score is their sum:
 *
 *   for each incident kind k:  w_k * (n_k + total_s_k / 60 + longest_s_k / 30)
 *   + the end:                 in_progress / server_crashed 5, disconnected 3, recording_failed 10, kicked 2,
 *                              unknown (no session.json) 5, anything else 0
 *   + lost media:              10 + lost_s / 6            (when anything was lost)
 *   + recording errors:        10 + 2 * min(errors, 5)    (when any write failed)
 *   + damage found in files:   5 * min(problems, 4)
 *
 * with w = multiple_faces 4, no_face 3, speech 2, disconnected 2, misaligned 1, other kinds 1. So each incident
 * weighs its kind's weight, a minute of it as much again, and a long unbroken one more than the same time in short
 * pieces; lost evidence and damaged files put a session near the top whatever happened on camera.
 */
export function priorityParts(f: PriorityFacts): PriorityPart[] {
  const parts: PriorityPart[] = [];
  for (const [kind, s] of Object.entries(f.incidents)) {
    if (s.count <= 0) continue;
    const w = kind in KIND_WEIGHTS ? KIND_WEIGHTS[kind as PriorityKind] : OTHER_WEIGHT;
    parts.push({ what: `${s.count} ${kind} (${fmtS(s.totalS)} in all, longest ${fmtS(s.longestS)})`, points: w * (s.count + nonNeg(s.totalS) / 60 + nonNeg(s.longestS) / 30) });
  }
  const end = f.ended === null ? UNKNOWN_END_POINTS : (END_POINTS[f.ended] ?? 0);
  if (end > 0) parts.push({ what: f.ended === null ? 'end unknown' : `ended ${f.ended}`, points: end });
  if (f.lostMediaS > 0) parts.push({ what: `${fmtS(f.lostMediaS)} of media lost`, points: LOST_MEDIA_POINTS + f.lostMediaS * LOST_MEDIA_PER_S });
  if (f.recordingErrors > 0) {
    parts.push({ what: `${f.recordingErrors} failed write(s)`, points: RECORDING_ERROR_POINTS + PER_RECORDING_ERROR * Math.min(f.recordingErrors, MAX_COUNTED_ERRORS) });
  }
  if (f.damage > 0) parts.push({ what: `${f.damage} problem(s) in its files`, points: PER_DAMAGE * Math.min(f.damage, MAX_COUNTED_DAMAGE) });
  return parts.sort((a, b) => b.points - a.points);
}

/** The review priority: 0 for a clean session, higher means look sooner. Rounded to one decimal. */
export function priorityScore(f: PriorityFacts): number {
  const sum = priorityParts(f).reduce((acc, p) => acc + p.points, 0);
  return Math.round(sum * 10) / 10;
}

/** Per-kind statistics from incidents (open ones, end_s null, are counted from start to `endS`, default start). */
export function kindStats(incidents: ReadonlyArray<{ kind: string; start_s: number; end_s: number | null }>, endS?: number): Record<string, KindStats> {
  const out: Record<string, KindStats> = {};
  for (const i of incidents) {
    const d = Math.max(0, (i.end_s ?? endS ?? i.start_s) - i.start_s);
    const s = (out[i.kind] ??= { count: 0, totalS: 0, longestS: 0 });
    s.count++;
    s.totalS += d;
    s.longestS = Math.max(s.longestS, d);
  }
  return out;
}

function nonNeg(v: number): number {
  return Number.isFinite(v) && v > 0 ? v : 0;
}

function fmtS(s: number): string {
  if (s < 60) return `${s.toFixed(1)} s`;
  const whole = Math.round(s);
  return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
}
