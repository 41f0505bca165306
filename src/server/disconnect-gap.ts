// The `disconnected` incident of a session whose candidate is away: opened when the connection is lost (or when
// another node's part ended), closed when the candidate is back or the resume window runs out. Apart from
// session.ts, which puts its events on the timeline like any other incident's.
import type { IncidentEvent } from '../detect/incidents';
import { round } from './session-record';

export class DisconnectGap {
  private gap: { id: number; startS: number } | null = null;

  /** When the open gap started (session clock, seconds); null while the candidate is connected. */
  get startS(): number | null {
    return this.gap?.startS ?? null;
  }

  /** Opens the incident at `startS` with an id from `allocateId`; nothing if one is already open. */
  open(allocateId: () => number, startS: number): IncidentEvent[] {
    if (this.gap) return [];
    this.gap = { id: allocateId(), startS: round(startS, 3) };
    return [{ type: 'open', incident: { id: this.gap.id, kind: 'disconnected', start_s: this.gap.startS, end_s: null, frames: 0, peak_confidence: 1 } }];
  }

  /** Closes the open incident at `endS`; nothing if none is open. */
  close(endS: number): IncidentEvent[] {
    if (!this.gap) return [];
    const { id, startS } = this.gap;
    this.gap = null;
    return [{ type: 'close', incident: { id, kind: 'disconnected', start_s: startS, end_s: round(endS, 3), frames: 0, peak_confidence: 1 } }];
  }
}
