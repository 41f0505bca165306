import type { Logger } from 'pino';
import type { RecordingWriteError } from '../media/write-error';
import type { ServerEvent } from '../protocol';
import type { CandidateConnection } from './connection';
import { nowIso } from './events';
import type { Session } from './session';

/**
 * Makes a failed write loud: logged at error, published as `recording_failed` (the console shows the candidate
 * in red, `vigil status` counts it), and told to the candidate on its connection.
 *
 * The session is not ended by a failed write: detection, warnings and the proctor's live view go on, and the
 * proctor decides (kick, or let the exam finish on the live view). What stops is any pretence: the counters
 * freeze at what reached the disk, session.json ends `recording_failed`, and the final BYE says so.
 */
export class RecordingFailures {
  private total = 0;

  constructor(
    private readonly log: Logger,
    private readonly publish: (event: ServerEvent) => void,
    /** The live connection of a session, if it has one now. */
    private readonly connectionOf: (session: Session) => CandidateConnection | null,
  ) {}

  /** `recording_failed` events so far. */
  get count(): number {
    return this.total;
  }

  watch(session: Session): void {
    session.onWriteFailure((err) => this.report(session, err));
  }

  /**
   * A candidate (re)joining a session whose recording already failed hears it now: on a resume, or when the
   * failure came between opening the session and the WELCOME, before there was a connection to tell.
   */
  welcomed(conn: CandidateConnection, session: Session): void {
    const f = session.writeFailure;
    if (f) tellCandidate(conn, f.message);
  }

  private report(session: Session, err: RecordingWriteError): void {
    this.total++;
    const id = session.id;
    const sessionId = session.init.sessionId;
    this.log.error(
      { id, session: sessionId, file: err.file, code: err.code, errno: err.errno, offset: err.offset, lost: err.lost, dir: session.dir },
      `recording write failed: ${err.message}`,
    );
    this.publish({ kind: 'recording_failed', at: nowIso(), id, session_id: sessionId, file: err.file, code: err.code, errno: err.errno, message: err.message });
    const conn = this.connectionOf(session);
    if (conn) tellCandidate(conn, err.message);
  }
}

function tellCandidate(conn: CandidateConnection, why: string): void {
  const text = `the server cannot record your exam (${why}); the proctor has been told: contact them`;
  // A client too old for ALERT still learns it from its final BYE (reason recording_failed, and the receipt text).
  const sent = conn.alert('recording_failed', text);
  conn.log.warn({ id: conn.candidateId, alerted: sent }, sent ? 'candidate alerted: recording failed' : 'candidate cannot take an ALERT; its final BYE will say the recording failed');
}
