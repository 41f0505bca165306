import { RESUMABLE_BYES, type ByeReasonName } from '../protocol';
import type { MediaVerdict } from './media-account';

/** The client's exit codes (README, "vigil client"). Numbers are a contract with scripts: never renumber. */
export const ClientExit = {
  ok: 0,
  connection: 1,
  usage: 2,
  refused: 3,
  closedByServer: 4,
  /** Media the client captured is not (or not provably) in the recording. */
  mediaLost: 5,
  /** The server said it could not record (ALERT recording_failed, or a RECEIPT saying the file is damaged). */
  recordingFailed: 6,
  interrupted: 130,
} as const;
export type ClientExitCode = (typeof ClientExit)[keyof typeof ClientExit];

/** A final stop: streaming ends and the client exits with this code and reason. */
export class ClientStop extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** A run that would end well ends well only if its media is all confirmed; otherwise 6 or 5, with the reason. */
export function judgeMedia(v: MediaVerdict, reason: string): { exitCode: ClientExitCode; reason: string } {
  if (v.recordingFailed) return { exitCode: ClientExit.recordingFailed, reason: `the server could not record everything (${reason})` };
  if (!v.complete) return { exitCode: ClientExit.mediaLost, reason: `media lost: the recording does not hold everything captured (${reason})` };
  return { exitCode: ClientExit.ok, reason };
}

/**
 * BYE reasons after which trying again cannot help, or must not: the server or the proctor decided. The server's
 * judgement of the link (RESUMABLE_BYES: idle, not reading) is never final: the session waits for us.
 */
const FINAL_BYES: ReadonlySet<ByeReasonName> = new Set<ByeReasonName>([
  'kicked',
  'auth_failed',
  'invalid_hello',
  'unsupported_version',
  'superseded',
  'protocol_error',
  'message_too_large',
  'id_in_use',
]);

/** True when a BYE ends the run; any other BYE (and one with a reason from a newer server) is followed by a reconnect. */
export function isFinalBye(reason: ByeReasonName | 'unknown'): boolean {
  return reason !== 'unknown' && FINAL_BYES.has(reason) && !RESUMABLE_BYES.has(reason);
}
