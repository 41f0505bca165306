// A session's incidents kept in memory for the admin stream: the seconds they have lasted so far, and the closed
// ones for the console's list of ended sessions; apart from session.ts, which only feeds it its incident events.
import type { IncidentEvent } from '../detect/incidents';
import type { IncidentRecord } from '../protocol';

/** Closed incidents kept per session; a pathological session cannot grow the server's memory past this. */
const MAX_KEPT = 2_000;

export class IncidentLedger {
  private closedS = 0;
  private readonly closed: IncidentRecord[] = [];

  add(events: readonly IncidentEvent[]): void {
    for (const e of events) {
      if (e.type !== 'close' || e.incident.end_s === null) continue;
      this.closedS += Math.max(0, e.incident.end_s - e.incident.start_s);
      if (this.closed.length < MAX_KEPT) this.closed.push({ ...e.incident });
    }
  }

  /**
   * Seconds of incidents so far: the closed ones plus those open now, each measured on its own clock (face
   * incidents on the video's timeline, speech on the audio's, a disconnection on the session's), since an open
   * incident's start is only meaningful on the clock that opened it. Overlapping incidents count once each.
   */
  seconds(open: ReadonlyArray<{ start_s: number; now_s: number }>): number {
    let s = this.closedS;
    for (const o of open) s += Math.max(0, o.now_s - o.start_s);
    return Math.round(s * 10) / 10;
  }

  /** The closed incidents, oldest first (at most MAX_KEPT). */
  records(): IncidentRecord[] {
    return [...this.closed];
  }
}
