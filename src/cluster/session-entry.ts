// The cluster's session table entry: one per candidate with a live session, in the JetStream KV bucket
// vigil_sessions, owned by exactly one node at a time (every write is a compare-and-swap on the entry's revision).
import type { AudioParams, VideoParams } from '../protocol';
import type { Carried, PartRef, TrackCarry } from '../server/session-part';
import { BusFormatError } from './wire';

export const SESSIONS_BUCKET = 'vigil_sessions';
/** The owner rewrites its entries this often with a fresh checkpoint. */
export const CHECKPOINT_MS = 1_000;
/** An entry not rewritten for this long has lost its owner (a dead node): another node may take the session. */
export const STALE_MS = 2_500;
/** Entries nobody rewrites (an owner died and its candidate never came back) leave the bucket after this. */
export const SESSION_TTL_MS = 10 * 60_000;

export interface SessionEntry {
  candidate_id: string;
  session_id: string;
  /** The owning node; null once its owner shut down cleanly and left it for another node to continue. */
  owner: string | null;
  /** The candidate is connected to the owner now (not waiting to resume). */
  connected: boolean;
  started_at: string;
  part: number;
  parts: PartRef[];
  video: VideoParams | null;
  audio: AudioParams | null;
  /** What the session's parts hold, as of a moment when the owner's recorder had handed everything to the kernel. */
  checkpoint: { at_ms: number; carried: Carried } | null;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail(what: string): never {
  throw new BusFormatError(`session entry: ${what}`);
}

function int(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(`${what} is not a number`);
  return v;
}

function track(v: unknown, what: string): TrackCarry {
  if (!isRecord(v)) fail(`${what} missing`);
  // -Infinity ("nothing yet") travels as null in JSON.
  const lastTs = v['last_ts'] === null ? -Infinity : int(v['last_ts'], `${what}.last_ts`);
  return { first_seq: int(v['first_seq'], what), last_seq: int(v['last_seq'], what), last_ts: lastTs, messages: int(v['messages'], what), samples: int(v['samples'], what) };
}

function media<T>(v: unknown, keys: string[], what: string): T | null {
  if (v === null) return null;
  if (!isRecord(v) || !keys.every((k) => typeof v[k] === 'number')) fail(`${what} malformed`);
  return v as T;
}

export function parseSessionEntry(data: Uint8Array): SessionEntry {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(data).toString('utf8'));
  } catch {
    fail('not JSON');
  }
  if (!isRecord(v)) fail('not an object');
  const s = (k: string): string => (typeof v[k] === 'string' ? (v[k] as string) : fail(`"${k}" is not a string`));
  const parts = Array.isArray(v['parts']) ? v['parts'] : fail('"parts" is not a list');
  const cp = v['checkpoint'];
  return {
    candidate_id: s('candidate_id'),
    session_id: s('session_id'),
    owner: v['owner'] === null ? null : s('owner'),
    connected: v['connected'] === true,
    started_at: s('started_at'),
    part: int(v['part'], 'part'),
    parts: parts.map((p: unknown) => {
      if (!isRecord(p) || typeof p['node'] !== 'string' || typeof p['dir'] !== 'string') fail('a part is malformed');
      return { part: int(p['part'], 'part'), node: p['node'] as string, dir: p['dir'] as string };
    }),
    video: media<VideoParams>(v['video'], ['width', 'height', 'fps'], 'video'),
    audio: media<AudioParams>(v['audio'], ['sampleRate', 'channels'], 'audio'),
    checkpoint:
      cp === null || cp === undefined
        ? null
        : isRecord(cp) && isRecord(cp['carried'])
          ? { at_ms: int(cp['at_ms'], 'checkpoint.at_ms'), carried: { video: track(cp['carried']['video'], 'video'), audio: track(cp['carried']['audio'], 'audio') } }
          : fail('checkpoint malformed'),
  };
}

/** True when the JetStream error is a lost compare-and-swap (someone else wrote the key first). */
export function isCasConflict(err: unknown): boolean {
  return err instanceof Error && /wrong last sequence|key exists/i.test(err.message);
}
