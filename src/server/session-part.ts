// A session recorded in parts: when a cluster node dies, another continues its sessions as new parts (each in its
// own folder on its own node). A lone server only ever writes part 1 and never sets any of this.
import type { HelloMessage } from '../protocol';
import type { MediaLedger } from './media-ledger';

/** Where one part of a session is recorded. */
export interface PartRef {
  part: number;
  node: string;
  /** The part's folder under <record-dir>/<candidate>/ on that node. */
  dir: string;
}

/** What earlier parts hold of one track, up to the checkpoint a new part continues from. */
export interface TrackCarry {
  first_seq: number;
  last_seq: number;
  /** Capture time of last_seq, on the session's timeline (ms). */
  last_ts: number;
  /** Messages recorded (each sequence number once). */
  messages: number;
  /** Audio sample frames recorded (0 for video). */
  samples: number;
}

export interface Carried {
  video: TrackCarry;
  audio: TrackCarry;
}

export interface SessionPart {
  /** 1 for the session's first part. */
  n: number;
  /** Every part so far, this one last. */
  parts: PartRef[];
  /** The session clock when this part opens, in ms (0 for the first part). */
  clockMs: number;
  /** What earlier parts hold; null for the first part. */
  carried: Carried | null;
  /** Session time (s) up to which the earlier part is known to have recorded: the `disconnected` incident starts there. */
  gapFromS: number | null;
}

/** The folder of part n of a session: part 1 keeps the folder name a lone server uses. */
export function partDirName(sessionId: string, n: number): string {
  return n <= 1 ? sessionId : `${sessionId}.part${n}`;
}

export const NO_CARRY: Carried = {
  video: { first_seq: -1, last_seq: -1, last_ts: -Infinity, messages: 0, samples: 0 },
  audio: { first_seq: -1, last_seq: -1, last_ts: -Infinity, messages: 0, samples: 0 },
};

/** A continued part starts where the carry ends: the client resends what comes after, the receipt counts both. */
export function seedLedger(ledger: MediaLedger, carried: Carried): void {
  ledger.video.seed(carried.video.first_seq, carried.video.last_seq, carried.video.last_ts, carried.video.messages);
  ledger.audio.seed(carried.audio.first_seq, carried.audio.last_seq, carried.audio.last_ts, carried.audio.messages);
}

/** What a session's owner reports to the cluster so another node can continue it. */
export interface OwnedSession {
  readonly id: string;
  readonly init: { readonly sessionId: string; readonly video: HelloMessage['video']; readonly audio: HelloMessage['audio']; readonly part?: SessionPart };
  readonly ledger: MediaLedger;
  readonly ageMs: number;
  readonly lastVideoTs: number;
  readonly lastAudioTs: number;
  /** Bytes accepted for the recording but not yet handed to the kernel. */
  readonly recorderBacklog: number;
  /** Audio seconds in this part's file. */
  readonly audioSeconds: number;
  readonly carried: Carried;
}

export type SessionClaim =
  /** Start a new session with this id (registered as this node's). */
  | { kind: 'new'; sessionId: string; part: SessionPart | null }
  /** Continue a session another node recorded (its owner is gone): same id, a new part. */
  | { kind: 'continue'; sessionId: string; part: SessionPart }
  /** Another connection owns this candidate's session. */
  | { kind: 'refused'; text: string };

/**
 * Where a server learns whether a candidate's session lives on elsewhere: the cluster's session table. A lone
 * server has none and opens every session itself.
 */
export interface SessionDirectory {
  /** Before opening a session for a candidate this server holds none of. */
  claim(hello: HelloMessage): Promise<SessionClaim>;
  /**
   * The session is recording here now (new or continued). `connected` says whether its candidate is online;
   * `release` ends it here if it waits for a resume (another node has taken it over).
   */
  opened(session: OwnedSession, connected: () => boolean, release: () => void): void;
  /** The session was finalised here (`cause`: how it ended, `server_shutdown` leaves it for another node to continue). */
  ended(session: OwnedSession, cause: string): void;
}
