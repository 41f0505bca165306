// The sessions this server has finalised since it started, for the console's list of ended sessions (`e`); apart
// from server.ts, which only adds to it.
import path from 'node:path';
import type { EndedSession } from '../protocol';
import type { Session, SessionRecord } from './session';
import { INCIDENTS_FILE, RECORDING_FILE } from './session';

/** The newest kept; older ones are in the record dir for `vigil report`. */
const KEEP = 1_000;

export class EndedSessions {
  private readonly list: EndedSession[] = [];

  add(session: Session, rec: SessionRecord): void {
    const dir = path.resolve(session.dir);
    this.list.push({
      id: rec.candidate_id,
      session_id: rec.session_id,
      dir,
      recording: path.join(dir, RECORDING_FILE),
      incidents_file: path.join(dir, INCIDENTS_FILE),
      started_at: rec.started_at,
      ended_at: rec.ended_at,
      ended: rec.ended,
      declared_fps: rec.video?.fps ?? null,
      frames_lost: rec.frames_lost,
      audio_seconds_lost: rec.audio_seconds_lost,
      write_errors: rec.write_errors.length,
      incidents: session.incidentLog.records(),
    });
    if (this.list.length > KEEP) this.list.splice(0, this.list.length - KEEP);
  }

  /** Newest last. */
  all(): EndedSession[] {
    return [...this.list];
  }
}
